"""MultiJob-v0: jobs sharing learners, the job-batched trainer, action masks, the partition baselines, MaskablePPO."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from mel_gym.agents import make_policy
from mel_gym.config import load_scenario
from mel_gym.learning.datasets import FASHION_MNIST_DEBIAN_DIR
from mel_gym.learning.model import forward_logits
from mel_gym.simulation.jobs import MultiJobSimulator
from mel_gym.optim.partitioning import (best_partition, brute_force_partition, greedy_partition, matching_partition,
                                        partition_value, progress)
from mel_gym.schema import ConfigError

from conftest import BATCH_ATOL, mean_return

ENV = "mel_gym/MultiJob-v0"
#: A tiny multi-job world: 4 learners, 2 jobs on different classes, every learner holding both jobs' data.
TINY = {"num_learners": 4, "horizon_cycles": 5, "max_local_iterations": 20,
        "jobs": [{"name": "a", "labels": [0, 1, 2], "weight": 2.0, "target_accuracy": 0.99},
                 {"name": "b", "labels": [3, 4, 5], "weight": 1.0, "cycle_deadline_s": 0.05}]}


def tiny_sim(n_envs=3, **overrides):
    scenario = load_scenario("multijob", {**{k: v for k, v in TINY.items() if k != "horizon_cycles"}, **overrides})
    sim = MultiJobSimulator(scenario, n_envs=n_envs)
    sim.reset(list(range(n_envs)))
    return sim


def test_config_errors_name_the_job_key():
    with pytest.raises(ConfigError, match=r"jobs\[0\].labelz"):
        load_scenario("multijob", {"jobs": [{"labelz": [0]}]})
    with pytest.raises(ConfigError, match=r"jobs\[1\].weight"):
        load_scenario("multijob", {"jobs": [{}, {"weight": 0}]})
    with pytest.raises(ConfigError, match=r"jobs\[0\].cycle_deadline_s"):
        load_scenario("multijob", {"jobs": [{"cycle_deadline_s": 1.0}]})
    with pytest.raises(ConfigError, match="must differ"):
        load_scenario("multijob", {"jobs": [{"name": "x"}, {"name": "x"}]})
    with pytest.raises(ConfigError, match=r"jobs\[0\].labels.*classes 0..9"):
        MultiJobSimulator(load_scenario("multijob", {"jobs": [{"labels": [3, 12]}]}))
    with pytest.raises(ConfigError, match="'jobs' is empty"):
        gym.make(ENV, scenario="default")
    with pytest.raises(ConfigError, match="terminate_on_target"):
        gym.make(ENV, jobs=[{"labels": [0, 1]}], terminate_on_target=True)
    with pytest.raises(TypeError, match="unexpected keyword argument 'foo'"):
        gym.make(ENV, foo=1)


def test_each_job_holds_trains_on_and_is_scored_on_its_own_classes():
    sim = tiny_sim(jobs=[{"labels": [0, 1, 2], "data_fraction": 0.5}, {"labels": [3, 4, 5]}])
    group = sim.groups[0]
    assert len(sim.groups) == 1 and group.jobs == [0, 1]  # same data set, model and step size: one stack
    labels = group.trainer.y_train.numpy()
    for j, classes in enumerate(([0, 1, 2], [3, 4, 5])):
        held = sim.pools.size[:, j] > 0
        assert (held.sum(axis=1) == (2 if j == 0 else 4)).all()  # data_fraction 0.5 of 4 learners
        for i, k in zip(*np.nonzero(held)):
            pool = sim.pools.index[i, j, k, : sim.pools.size[i, j, k]]
            assert set(labels[pool]) <= set(classes)
        # the pools of a job split its training samples
        assert sim.pools.size[0, j].sum() == np.isin(labels, classes).sum()
    # job b is scored on its classes only: its accuracies are the hand-computed ones on those validation and
    # test samples
    assignment = np.array([[-1, -1, -1, -1], [-1, -1, -1, -1], [1, 1, -1, -1]])
    sizes = np.where(assignment == 1, np.minimum(sim.task_caps[:, 1], 50), 0)
    out = sim.step(assignment, sizes, np.where(sizes > 0, 3, 0))
    row = 2 * 2 + 1  # env 2, job b's position in its group of 2 jobs
    tr = group.trainer
    assert tr.num_validation > 0
    for after, x, y in ((out.accuracy_after, tr.x_val, tr.y_val), (out.test_accuracy_after, tr.x_test, tr.y_test)):
        logits = forward_logits([(w[row : row + 1], b[row : row + 1]) for w, b in group.weights], x)
        mine = np.isin(y.numpy(), [3, 4, 5])
        hand = (logits[0].argmax(-1).numpy() == y.numpy())[mine].mean()
        assert after[2, 1] == pytest.approx(hand, abs=1e-6)
    # nobody served job a (env 2) or any job (envs 0, 1): those models and scores did not change
    assert out.loss_after[2, 0] == out.loss_before[2, 0] and np.array_equal(out.loss_after[:2], out.loss_before[:2])
    assert out.loss_after[2, 1] != out.loss_before[2, 1]


def test_a_learner_is_charged_for_its_own_jobs_model_and_deadline():
    sim = tiny_sim(jobs=[{"hidden_layers": [32]}, {"hidden_layers": [4], "cycle_deadline_s": 0.03}])
    assert len(sim.groups) == 2 and sim.costs[0].model_bits > sim.costs[1].model_bits
    c = [sim.coefficients(j) for j in range(2)]
    assignment = np.array([[0, 1, 0, 1], [1, 1, 0, -1], [-1, 0, 0, 0]])
    sizes = np.where(assignment >= 0, 5, 0)
    taus = np.where(assignment >= 0, 2, 0)
    out = sim.step(assignment, sizes, taus)
    for i, k in zip(*np.nonzero(assignment >= 0)):
        cj = c[assignment[i, k]]
        planned = cj.c2[i, k] * 2 * 5 + cj.c1[i, k] * 5 + cj.c0[i, k]
        if out.finished[i, k]:
            assert out.time_s[i, k] == pytest.approx(planned, rel=1e-9)
        deadline = (0.06, 0.03)[assignment[i, k]]
        assert out.finished[i, k] == (planned <= deadline)
    assert out.time_s[1, 3] == 0 and out.energy_j[1, 3] == 0  # idle


def test_data_draws_do_not_depend_on_the_assignment_nor_on_the_other_envs():
    """Same seed, different partitions: the same data generator states; sub-env i of a vector env equals the single
    env of its seed whichever seeds are batched with it (FL pools of different sizes: Dirichlet label skew)."""
    sims = [tiny_sim(n_envs=1, learning={"partition": "dirichlet", "dirichlet_alpha": 0.3}) for _ in range(2)]
    for step, sim in enumerate(sims):
        assignment = np.array([[0, 0, 1, 1]]) if step == 0 else np.array([[1, -1, 0, -1]])
        sizes = np.where(assignment >= 0, np.minimum(np.take_along_axis(sim.task_caps[0], np.maximum(assignment, 0),
                                                                        axis=0)[0], 20), 0)
        sim.step(assignment, sizes, np.where(sizes > 0, 2, 0))
    assert sims[0]._rng_data[0].bit_generator.state == sims[1]._rng_data[0].bit_generator.state
    for env_id, kwargs in ((ENV, {}), ("mel_gym/TaskAllocation-v0", {"mode": "fl", "num_learners": 4,
                                                                     "learning": {"partition": "dirichlet",
                                                                                  "dirichlet_alpha": 0.1}})):
        kwargs = kwargs or {"horizon_cycles": 4}
        vec = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point", **kwargs)
        single = gym.make(env_id, **kwargs)
        vec.reset(seed=[91, 7])
        single.reset(seed=7)
        vec.action_space.seed(0)
        for _ in range(3):
            action = vec.action_space.sample()
            _, reward, *_ = vec.step(action)
            _, single_reward, *_ = single.step(action[1])
            assert reward[1] == pytest.approx(single_reward, abs=BATCH_ATOL), env_id
            # the data draws themselves are exact: sub-env 1 and the single env hold the same generator states
            vec_sim, single_sim = vec.unwrapped.core.sim, single.unwrapped.core.sim
            assert vec_sim._rng_data[1].bit_generator.state == single_sim._rng_data[0].bit_generator.state


def test_pl_jobs_and_diverging_models():
    sim = tiny_sim(mode="pl", samples_per_cycle=60)
    assert (sim.task_caps == 60).all()
    with pytest.raises(ValueError, match="sum to 90 .* d_j = 60"):
        sim.step(np.array([[0, 0, 0, -1]] * 3), np.array([[30, 30, 30, 0]] * 3), np.full((3, 4), 2))
    out = sim.step(np.array([[0, 0, 1, 1]] * 3), np.array([[30, 30, 20, 20]] * 3), np.full((3, 4), 2))
    assert (out.loss_after != out.loss_before).all()
    env = gym.make(ENV, **{**TINY, "jobs": [{"labels": [0, 1], "learning_rate": 100.0}, {"labels": [2, 3]}]})
    env.reset(seed=0)
    flags = []
    for _ in range(3):  # job 0's step size blows its model up; job 1's is sane
        _, reward, _, _, info = env.step(np.array([1, 1, 2, 2]))
        assert np.isfinite(reward) and info["model_diverged"] == info["job_model_diverged"].any()
        np.testing.assert_array_equal(info["job_model_diverged"], info["job_loss"] >= 10 * np.log(10) - 1e-9)
        flags.append(info["job_model_diverged"])
    assert np.any(flags, axis=0).tolist() == [True, False]


def test_the_world_does_not_depend_on_the_assignment():
    """Same seed, two different partitions: the same channels, CPUs and positions, cycle after cycle."""
    env_a, env_b = gym.make(ENV, **TINY), gym.make(ENV, **TINY)
    obs_a, _ = env_a.reset(seed=4)
    obs_b, _ = env_b.reset(seed=4)
    blocks = slice(0, 3 * 4)  # uplink, downlink, CPU
    for step in range(4):
        assert np.array_equal(obs_a[blocks], obs_b[blocks])
        assert np.array_equal(env_a.unwrapped.core.sim.task_caps, env_b.unwrapped.core.sim.task_caps)
        obs_a, *_ = env_a.step(np.array([1, 1, 2, 2]))
        obs_b, *_ = env_b.step(np.array([2, 0, 1, 1]) if step % 2 else np.zeros(4, np.int64))


def test_action_masks_and_masked_choices_idle():
    env = gym.make(ENV, **{**TINY, "jobs": [{"labels": [0, 1], "data_fraction": 0.5}, {"labels": [2, 3]}]})
    env.reset(seed=0)
    masks = env.unwrapped.action_masks().reshape(4, 3)
    holding = env.unwrapped.core.sim.task_caps[0]
    assert masks[:, 0].all()  # idle is always allowed
    np.testing.assert_array_equal(masks[:, 1:], (holding > 0).T)
    without = int(np.flatnonzero(holding[0] == 0)[0])  # a learner without job 0's data
    action = np.zeros(4, np.int64)
    action[without] = 1
    _, _, _, _, info = env.step(action)
    assert info["assignment"][without] == -1 and not info["participants"].any()
    # a done job is masked for everyone
    core = env.unwrapped.core
    core.done[0, 1] = True
    core.observe()
    assert not env.unwrapped.action_masks().reshape(4, 3)[:, 2].any()
    vec = gym.make_vec(ENV, num_envs=2, vectorization_mode="vector_entry_point", **TINY)
    vec.reset(seed=[0, 1])
    single = gym.make(ENV, **TINY)
    single.reset(seed=1)
    np.testing.assert_array_equal(vec.unwrapped.action_masks()[1], single.unwrapped.action_masks())
    with pytest.raises(ValueError, match=r"integer in \[0, 2\]"):
        env.step(np.array([0, 3, 0, 0]))


def test_milp_is_the_brute_force_optimum_and_the_heuristics_are_feasible():
    rng = np.random.default_rng(7)
    for _ in range(60):
        J, K = int(rng.integers(1, 4)), int(rng.integers(1, 7))
        work = rng.uniform(0.0, 10.0, (J, K))
        allowed = rng.random((J, K)) < 0.7
        values = rng.uniform(0.5, 3.0, J)
        best = partition_value(brute_force_partition(work, allowed, values, 40), work, values, 40)
        for solve in (best_partition, greedy_partition, matching_partition):
            assignment = solve(work, allowed, values, 40)
            assert all(allowed[assignment[k], k] for k in range(K) if assignment[k] >= 0), solve.__name__
            value = partition_value(assignment, work, values, 40)
            assert value <= best + 1e-9
            if solve is best_partition:
                assert value == pytest.approx(best, rel=1e-9)
    # the progress is ln(1 + tau) at the breakpoints, concave and flat beyond tau_max
    np.testing.assert_allclose(progress(np.array([0.0, 1.0, 4.0, 16.0, 40.0, 99.0]), 40),
                               np.log1p([0.0, 1.0, 4.0, 16.0, 40.0, 40.0]))
    # concavity makes the MILP spread learners: two equal jobs, two equal learners -> one each
    assert sorted(best_partition(np.full((2, 2), 4.0), np.ones((2, 2), bool), np.ones(2), 40)) == [0, 1]


def test_partition_baselines_decide_from_the_observation_and_beat_random():
    env = gym.make(ENV, **{**TINY, "jobs": [{**job, "data_fraction": 0.5} for job in TINY["jobs"]]})
    problem = env.unwrapped.problem
    random_policy = make_policy("random", problem, env.action_space)
    for name in ("milp", "matching", "greedy-jobs"):
        policy = make_policy(name, problem, env.action_space)
        obs, _ = env.reset(seed=2)
        action, _ = policy.predict(obs)
        allowed = env.unwrapped.action_masks().reshape(4, 3)
        assert not allowed.all() and allowed[np.arange(4), action].all() and (action > 0).any(), name
    assert mean_return(env, make_policy("milp", problem, env.action_space)) > mean_return(env, random_policy)


def test_maskable_ppo_learns_to_beat_random_on_a_tiny_budget():
    from mel_gym import make_sb3_vec_env
    from mel_gym.agents.sb3 import MaskedAgent, build_agent

    venv = make_sb3_vec_env(ENV, n_envs=2, seed=0, **TINY)
    venv.reset()
    masks = venv.env_method("action_masks")
    assert len(masks) == 2 and masks[0].shape == (4 * 3,)
    model = build_agent("maskable-ppo", venv, seed=0)
    model.learn(3072)
    env = gym.make(ENV, **TINY)
    agent = MaskedAgent(model, env.unwrapped.problem)
    random_policy = make_policy("random", env.unwrapped.problem, env.action_space)
    assert mean_return(env, agent) > mean_return(env, random_policy) + 0.2  # measured: 4.41 against 3.98


def test_the_multi_agent_view_of_multijob():
    from pettingzoo.test import parallel_api_test, parallel_seed_test

    from mel_gym.multiagent import parallel_env

    parallel_api_test(parallel_env(ENV, **TINY), num_cycles=6)
    parallel_seed_test(lambda: parallel_env(ENV, **TINY))
    par = parallel_env(ENV, **TINY)
    single = gym.make(ENV, **TINY)
    obs, infos = par.reset(seed=3)
    single_obs, _ = single.reset(seed=3)
    assert par.action_space("learner_0") == gym.spaces.Discrete(3)
    assert obs["learner_0"].shape == (17 + 6 * 2,)
    np.testing.assert_array_equal(np.concatenate([infos[a]["action_mask"] for a in par.agents]),
                                  single.unwrapped.action_masks())
    choice = {a: int(np.flatnonzero(infos[a]["action_mask"])[-1]) for a in par.agents}
    _, rewards, _, _, infos = par.step(choice)
    single_obs, reward, _, _, info = single.step(np.array([choice[a] for a in par.possible_agents]))
    assert rewards["learner_0"] == pytest.approx(reward) and np.array_equal(par.state(), single_obs)
    assert [infos[a]["assignment"] for a in par.possible_agents] == info["assignment"].tolist()
    assert (info["assignment"] >= 0).any()


@pytest.mark.skipif(not FASHION_MNIST_DEBIAN_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_the_mixed_preset_trains_one_stack_per_data_set():
    env = gym.make(ENV, scenario="multijob-mixed", num_learners=4, horizon_cycles=3)
    sim = env.unwrapped.core.sim
    assert [g.trainer.spec.layer_sizes[0] for g in sim.groups] == [64, 784, 784]
    assert sim.costs[1].model_bits > 10 * sim.costs[0].model_bits  # the 784-input models are ten times larger
    obs, _ = env.reset(seed=0)
    policy = make_policy("greedy-jobs", env.unwrapped.problem, env.action_space)
    for _ in range(3):
        obs, reward, *_, info = env.step(policy.predict(obs)[0])
    assert (info["job_learners"] > 0).sum() >= 2 and np.isfinite(reward)


def test_a_policy_shared_by_every_learner_learns_to_pick_jobs():
    """Parameter sharing on the multi-agent view: one SB3 PPO policy acts for every learner (Discrete(J + 1) each)
    and beats every learner picking at random."""
    from stable_baselines3 import PPO

    from mel_gym.multiagent import SharedPolicyVecEnv, parallel_env

    venv = SharedPolicyVecEnv(parallel_env(ENV, **TINY), seed=0)
    model = PPO("MlpPolicy", venv, n_steps=128, batch_size=64, learning_rate=1e-3, seed=0)
    model.learn(3072)

    def team_return(choose) -> float:
        env = parallel_env(ENV, **TINY)
        total = 0.0
        for seed in (500, 501, 502):
            obs, _ = env.reset(seed=seed)
            while env.agents:
                obs, rewards, *_ = env.step({a: choose(a, obs[a]) for a in env.agents})
                total += rewards["learner_0"] if rewards else 0.0
        return total / 3

    rng = np.random.default_rng(0)
    learned = team_return(lambda agent, o: int(model.predict(o, deterministic=True)[0]))
    assert learned > team_return(lambda agent, o: int(rng.integers(3))) + 0.1
