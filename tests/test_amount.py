"""The amount (how many of the cycle's samples a plan processes), the fraction baselines and planner-level actions."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from conftest import BATCH_ATOL
from mel_gym import ENV_IDS, make_sb3_vec_env
from mel_gym.agents import make_policy, policies_for
from mel_gym.agents.planners import Knob, grid_settings, knob
from mel_gym.envs.action_maps import (action_from_fraction, action_from_level, fraction_from_action,
                                      level_from_fraction, samples_from_fraction)
from mel_gym.experiments.episodes import play
from mel_gym.experiments.evaluate import evaluate

SMALL = {"num_learners": 4, "samples_per_cycle": 400, "horizon_cycles": 3}
ENV = "mel_gym/TaskAllocation-v0"


def small(env_id: str) -> dict:
    """Tiny settings of every env (MultiJob-v0: its own jobs; LearnerRelocation-v0: 2 movable learners)."""
    if "MultiJob" in env_id:
        return {"num_learners": 5, "horizon_cycles": 3}
    kwargs = dict(SMALL)
    if "Relocation" in env_id:
        kwargs["relocation"] = {"controllable": 2}
    return kwargs


def fraction_policy(name: str, fraction: float):
    def make(problem, space):
        policy = make_policy(name, problem, space)
        policy.set_knobs({"fraction": fraction})
        return policy
    return make


def test_the_amount_maps_hand_values():
    """f = f_min + (1 - f_min)(a + 1)/2; n = max(1, round(f d)); levels evenly spaced; the maps invert."""
    assert fraction_from_action(-1.0, 0.05) == pytest.approx(0.05)
    assert fraction_from_action(0.0, 0.05) == pytest.approx(0.525)
    assert fraction_from_action(1.0, 0.05) == pytest.approx(1.0)
    assert fraction_from_action(7.0, 0.05) == pytest.approx(1.0)  # clipped
    assert samples_from_fraction(0.4, 1000) == 400 and samples_from_fraction(0.0001, 1000) == 1
    assert samples_from_fraction(np.array([0.5, 0.5]), np.array([300, 61])).tolist() == [150, 30]  # 30.5 -> even
    for f in (0.05, 0.1, 0.4, 0.77, 1.0):
        assert fraction_from_action(action_from_fraction(f, 0.05), 0.05) == pytest.approx(f, abs=1e-6)
    levels = 20
    assert [level_from_fraction(f, 0.05, levels) for f in (0.05, 0.4, 1.0)] == [0, 7, 19]
    assert fraction_from_action(action_from_level(7, levels), 0.05) == pytest.approx(0.4)


@pytest.mark.parametrize("env_id", list(ENV_IDS))
def test_every_env_has_the_amount_and_reports_planned_and_processed_samples(env_id):
    """With amount_action the raw action ends with the amount (a Box value, or levels in the discrete envs); both
    checkers pass; the info has samples_planned / samples_processed per learner and the fraction asked for; a = -1
    plans max(1, round(f_min d)) samples. Without it the -v0 action is unchanged."""
    kwargs = small(env_id)
    plain = gym.make(env_id, **kwargs)
    env = gym.make(env_id, amount_action=True, **kwargs)
    space, old = env.action_space, plain.action_space
    multijob = "MultiJob" in env_id
    if isinstance(space, gym.spaces.Box):
        assert space.shape == (old.shape[0] + 1,)
    else:
        extra = env.unwrapped.problem.num_jobs if multijob else 1
        assert len(space.nvec) == (len(old.nvec) if hasattr(old, "nvec") else old.n) + extra
        assert np.all(space.nvec[-extra:] == 20)
    gym_check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(env.unwrapped, warn=False)
    problem = env.unwrapped.problem
    names = [n for n in policies_for(problem) if n.endswith("-fraction")]
    assert names, env_id
    policy = make_policy(names[0], problem, space)
    policy.set_knobs({"fraction": 0.05})
    obs, _ = env.reset(seed=3)
    action, _ = policy.predict(obs)
    _, _, _, _, info = env.step(action)
    planned, processed = info["samples_planned"], info["samples_processed"]
    K = kwargs["num_learners"]
    assert planned.shape == (K,) and processed.shape == (K,) and np.all(processed <= planned)
    assert processed.sum() == info["samples_trained"]
    if multijob:
        d = np.array([job.samples_per_cycle for job in problem.jobs])
        assert info["job_sample_fraction"] == pytest.approx(np.maximum(np.rint(0.05 * d), 1) / d)
    else:
        assert info["sample_fraction"] == pytest.approx(20 / 400)
        assert planned.sum() <= 20 + (planned > 0).sum() * ("Reliable" in env_id)  # backups copy their primary's


def test_the_amount_changes_what_is_trained_not_the_world():
    """Same seed, different amounts: the same channels, positions and data draws (the world's randomness never
    depends on the actions)."""
    envs = [gym.make(ENV, amount_action=True, **SMALL) for _ in range(2)]
    for env in envs:
        env.reset(seed=11)
    for _ in range(3):
        for env, amount in zip(envs, (-1.0, 1.0)):
            env.step(np.array([0.0, 0.0, 0.0, 0.0, amount], np.float32))
    worlds = [env.unwrapped.simulator.world.state for env in envs]
    assert np.array_equal(worlds[0].fading_power, worlds[1].fading_power)
    assert np.array_equal(worlds[0].position_m, worlds[1].position_m)
    sims = [env.unwrapped.simulator for env in envs]
    assert sims[0]._rng_data[0].bit_generator.state == sims[1]._rng_data[0].bit_generator.state


def test_fewer_samples_raise_the_loss_part_and_the_tau_bonus_cannot_be_gamed():
    """HA-Sync for a fifth of the samples learns more per cycle than for all of them (loss part and final accuracy,
    not just the tau bonus); processing almost nothing runs the most iterations (tau at its cap) but earns less tau
    bonus, loss decrease and return than a moderate fraction: the bonus pays for local work, which tiny tasks lack."""
    kwargs = dict(SMALL, horizon_cycles=8, max_local_iterations=40, amount_action=True)
    seeds = [500, 501, 502]

    def measure(f):
        results = play(fraction_policy("ha-sync-fraction", f), ENV, seeds, f"f={f}", kwargs)
        return {key: np.mean([getattr(r, key) for r in results])
                for key in ("episode_return", "lql_return", "final_accuracy", "mean_tau")}

    tiny, fifth, everything = measure(0.05), measure(0.2), measure(1.0)
    assert fifth["lql_return"] > everything["lql_return"] + 0.5
    assert fifth["final_accuracy"] > everything["final_accuracy"] + 0.05
    assert tiny["mean_tau"] == 40 and tiny["mean_tau"] > fifth["mean_tau"]
    bonus = lambda m: m["episode_return"] - m["lql_return"]  # noqa: E731 - no penalties in this world
    assert bonus(tiny) < bonus(fifth)
    assert tiny["lql_return"] < fifth["lql_return"] and tiny["episode_return"] < fifth["episode_return"]


def test_the_tuned_fraction_is_the_best_of_a_brute_force_sweep_on_training_seeds():
    """evaluate tunes ha-sync-fraction on training seeds only: its choice is the best of its grid there, replayed
    independently, and within 3% of the best of a finer sweep (every 0.05) on the same seeds."""
    kwargs = dict(SMALL, horizon_cycles=8, max_local_iterations=40, amount_action=True)
    tuned = {}
    results = evaluate(["ha-sync-fraction"], ENV, episodes=1, seed=10_000, env_kwargs=kwargs, tuned=tuned,
                       tune_seeds=[0, 1])
    assert [r.seed for r in results] == [10_000]
    chosen = tuned["ha-sync-fraction"]["fraction"]
    sweep = {}
    for f in np.round(np.arange(0.05, 1.0001, 0.05), 2):
        episodes = play(fraction_policy("ha-sync-fraction", float(f)), ENV, [0, 1], "sweep", kwargs)
        sweep[float(f)] = np.mean([r.episode_return for r in episodes])
    grid = {row["fraction"]: row["mean_return"] for row in tuned["ha-sync-fraction"]["scores"]}
    assert grid[chosen] == max(grid.values())
    for f, score in grid.items():
        if round(f, 2) in sweep:
            assert score == pytest.approx(sweep[round(f, 2)], abs=BATCH_ATOL)
    assert grid[chosen] >= max(sweep.values()) * 0.97


def test_a_tuned_baseline_is_never_evaluated_on_its_tuning_seeds():
    kwargs = dict(SMALL, amount_action=True)
    with pytest.raises(ValueError, match=r"seed=1, episodes=2: the evaluation seeds 1..2 include the tuning seeds 1..2"):
        evaluate(["ha-sync-fraction"], ENV, episodes=2, seed=1, env_kwargs=kwargs, tune_seeds=range(8))
    assert len(evaluate(["ha-sync"], ENV, episodes=1, seed=1, env_kwargs=kwargs)) == 1  # nothing tuned: any seeds


def test_a_fraction_baseline_needs_the_amount():
    env = gym.make(ENV, **SMALL)
    assert "ha-sync-fraction" not in policies_for(env.unwrapped.problem)
    with pytest.raises(ValueError, match="amount_action=True"):
        make_policy("ha-sync-fraction", env.unwrapped.problem, env.action_space)


# ---------------------------------------------------------------------------------------------------- planner


def test_knob_maps():
    linear, log = Knob("fraction", 0.05, 1.0), Knob("energy_weight", 0.1, 100.0, log=True)
    assert linear.value(-1) == pytest.approx(0.05) and linear.value(1) == pytest.approx(1.0)
    assert log.value(0.0) == pytest.approx(np.sqrt(0.1 * 100.0))  # geometric middle
    for k, v in ((linear, 0.4), (log, 3.0)):
        assert k.value(k.action(v)) == pytest.approx(v)
    assert grid_settings({"a": (1, 2), "b": (3,)}) == [{"a": 1.0, "b": 3.0}, {"a": 2.0, "b": 3.0}]
    with pytest.raises(ValueError, match="unknown planner knob"):
        knob("nope", None)


@pytest.mark.parametrize("env_id, knobs", [
    ("mel_gym/TaskAllocation-v0", ["fraction"]),
    ("mel_gym/AsyncTaskAllocation-v0", ["fraction"]),
    ("mel_gym/JointAllocation-v0", ["fraction"]),
    ("mel_gym/LearnerSelection-v0", ["fraction"]),
    ("mel_gym/ReliableTaskAllocation-v0", ["fraction", "threshold", "pacing"]),
    ("mel_gym/DroneOrchestrator-v0", ["fraction", "energy_weight"]),
    ("mel_gym/LearnerRelocation-v0", ["fraction", "value_per_tau"]),
    ("mel_gym/MultiJob-v0", ["fraction_0", "fraction_1", "fraction_2", "weight_0", "weight_1", "weight_2"]),
])
def test_planner_actions_are_the_planners_knobs_and_play_its_plan(env_id, knobs):
    """action_mode='planner': a Box(-1, 1) of the planner's knobs; a knob action plays exactly what the planner
    baseline plays on the raw env with those knob values (same reward, same tasks); both checkers pass."""
    kwargs = small(env_id)
    env = gym.make(env_id, action_mode="planner", **kwargs)
    planner = env.unwrapped.core.planner
    assert [k.name for k in planner.knobs] == knobs
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (len(knobs),), np.float32)
    gym_check_env(env.unwrapped, skip_render_check=True)
    raw = gym.make(env_id, amount_action=True, **kwargs)
    policy = make_policy(planner.name, raw.unwrapped.problem, raw.action_space)
    obs, _ = env.reset(seed=5)
    raw_obs, _ = raw.reset(seed=5)
    rng = np.random.default_rng(0)
    for _ in range(2):
        action = rng.uniform(-1, 1, len(knobs)).astype(np.float32)
        policy.set_knobs(planner.values(action))
        obs, reward, _, _, info = env.step(action)
        raw_obs, raw_reward, _, _, raw_info = raw.step(policy.act(raw_obs))
        assert reward == pytest.approx(raw_reward, abs=BATCH_ATOL)
        assert np.array_equal(info["task_sizes"], raw_info["task_sizes"])


def test_planner_actions_in_the_vector_env_and_the_sb3_adapter():
    kwargs = dict(SMALL, action_mode="planner")
    vec = gym.make_vec(ENV, num_envs=2, vectorization_mode="vector_entry_point", **kwargs)
    single = gym.make(ENV, **kwargs)
    assert vec.single_action_space == single.action_space
    vec.reset(seed=[8, 3])
    single.reset(seed=3)
    for a in (-0.5, 0.5, 1.0):
        action = np.array([[0.0], [a]], np.float32)
        _, reward, _, _, _ = vec.step(action)
        _, single_reward, *_ = single.step(action[1])
        assert reward[1] == pytest.approx(single_reward, abs=BATCH_ATOL)
    sb3 = make_sb3_vec_env(ENV, n_envs=2, seed=0, **kwargs)
    sb3.reset()
    for _ in range(SMALL["horizon_cycles"] + 1):  # through an autoreset (the ended sub-env plays the middle knobs)
        _, rewards, _, _ = sb3.step(np.zeros((2, 1), np.float32))
        assert np.all(np.isfinite(rewards))


def test_bad_knob_values_are_named_and_change_nothing():
    env = gym.make("mel_gym/ReliableTaskAllocation-v0", action_mode="planner", **SMALL)
    env.reset(seed=0)
    before = env.unwrapped.simulator.world.state.cycle.copy()
    with pytest.raises(ValueError, match=r"nan at index \[1\] \(knob 'threshold'\)"):
        env.step(np.array([0.0, np.nan, 0.0], np.float32))
    with pytest.raises(ValueError, match=r"action has shape \(2,\), expected \(3,\)"):
        env.step(np.zeros(2, np.float32))
    assert np.array_equal(env.unwrapped.simulator.world.state.cycle, before)
    _, _, _, _, info = env.step(np.full(3, 5.0, np.float32))  # out of range: clipped to the range's top
    assert info["sample_fraction"] == pytest.approx(1.0)


def test_baselines_refuse_a_planner_env_and_the_multiagent_view_refuses_amounts():
    env = gym.make(ENV, action_mode="planner", **SMALL)
    assert policies_for(env.unwrapped.problem) == ["random"]
    with pytest.raises(ValueError, match="planner"):
        make_policy("ha-sync", env.unwrapped.problem, env.action_space)
    pytest.importorskip("pettingzoo")
    from mel_gym.multiagent import parallel_env

    for kwargs in ({"amount_action": True}, {"action_mode": "planner"}):
        with pytest.raises(ValueError, match="amount"):
            parallel_env(ENV, **SMALL, **kwargs)
    with pytest.raises(ValueError, match="amount"):
        parallel_env("mel_gym/MultiJob-v0", **small("mel_gym/MultiJob-v0"), amount_action=True)


def test_multijob_amount_levels_and_masks():
    """MultiJob-v0 with the amount: J levels after the K choices; the masks cover them (all allowed); milp-fraction
    plans every job for its fraction."""
    env = gym.make("mel_gym/MultiJob-v0", amount_action=True, **small("mel_gym/MultiJob-v0"))
    problem = env.unwrapped.problem
    env.reset(seed=1)
    masks = env.unwrapped.action_masks()
    K, J, L = 5, problem.num_jobs, 20
    assert masks.shape == (K * (J + 1) + J * L,) and masks[K * (J + 1):].all()
    policy = make_policy("milp-fraction", problem, env.action_space)
    policy.set_knobs({"fraction": 0.4})
    obs, _ = env.reset(seed=1)
    action, _ = policy.predict(obs)
    assert action[K:].tolist() == [7, 7, 7]
    _, _, _, _, info = env.step(action)
    d = np.array([job.samples_per_cycle for job in problem.jobs])
    assert info["job_sample_fraction"] == pytest.approx(np.rint(0.4 * d) / d)
    with pytest.raises(ValueError, match=r"index \[5\]: it must be an amount level"):
        env.step(np.array([0, 0, 0, 0, 0, 20, 0, 0]))


@pytest.mark.parametrize("name, env_id", [
    ("ha-async-fraction", "mel_gym/AsyncTaskAllocation-v0"),  # joint-fraction: the same tuning, a slow solver
    ("all-fraction", "mel_gym/LearnerSelection-v0"),
    ("greedy-fraction", "mel_gym/LearnerSelection-v0"),
    ("expected-value-fraction", "mel_gym/ReliableTaskAllocation-v0"),
    ("receding-horizon-fraction", "mel_gym/DroneOrchestrator-v0"),
    ("relocate-fraction", "mel_gym/LearnerRelocation-v0"),
    ("milp-fraction", "mel_gym/MultiJob-v0"),
])
def test_every_fraction_baseline_is_tuned_to_its_best_setting_on_training_seeds(name, env_id):
    """Each fraction baseline's tuning (the product of its knob grids, on a training seed) keeps its best setting,
    which scores as tuned when replayed on its own, and no fraction of a sweep (0.1 .. 1, the other knobs at their
    tuned values) beats it by more than 3%."""
    kwargs = dict(small(env_id), amount_action=True)
    tuned = {}
    evaluate([name], env_id, episodes=1, seed=10_000, env_kwargs=kwargs, tuned=tuned, tune_seeds=[0])
    record = tuned[name]
    best = {k: v for k, v in record.items() if k != "scores"}
    assert max(row["mean_return"] for row in record["scores"]) == next(
        row["mean_return"] for row in record["scores"] if all(row[k] == v for k, v in best.items()))

    def replay(setting):
        def make(problem, space):
            policy = make_policy(name, problem, space)
            policy.set_knobs(setting)
            return policy
        return play(make, env_id, [0], name, kwargs)[0].episode_return

    tuned_return = replay(best)
    assert tuned_return == pytest.approx(max(row["mean_return"] for row in record["scores"]), abs=BATCH_ATOL)
    sweep = [replay({**best, "fraction": f}) for f in (0.1, 0.2, 0.3, 0.5, 0.7, 0.85, 1.0)]
    assert tuned_return >= max(sweep) - 0.03 * abs(max(sweep))
