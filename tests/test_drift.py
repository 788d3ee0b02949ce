"""Concept drift (scenario section ``drift``), the effort action and the baselines that set it (docs/drift.md)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import mel_gym  # noqa: F401  (registers the envs)
from mel_gym.agents.registry import make_policy
from mel_gym.config import DriftConfig, load_scenario
from mel_gym.learning.drift import DriftProcess
from mel_gym.learning.model import MLPSpec, forward_logits, stack_models
from mel_gym.schema import ConfigError

ENV = "mel_gym/TaskAllocation-v0"
PRICED = {"reward": {"tau_bonus": 0.0, "energy_penalty_per_j": 0.5}}


def drift_env(**kwargs):
    settings = dict(scenario="drift", horizon_cycles=12, amount_action=True, effort_action=True, **PRICED)
    settings.update(kwargs)
    return gym.make(ENV, **settings)


def play(env, policy, seed):
    """(rewards, infos, observations) of one episode."""
    obs, _ = env.reset(seed=seed)
    rewards, infos, observations = [], [], [obs]
    done = False
    while not done:
        obs, reward, terminated, truncated, info = env.step(policy(obs))
        rewards.append(reward)
        infos.append(info)
        observations.append(obs)
        done = terminated or truncated
    return np.array(rewards), infos, observations


def baseline(env, name, **knobs):
    policy = make_policy(name, env.unwrapped.problem, env.action_space)
    policy.set_knobs(knobs)
    return lambda obs: policy.predict(obs)[0]


def expected_drifts(config: DriftConfig, horizon: int) -> float:
    """The mean number of drifts before cycles 1 .. horizon - 1, by dynamic programming over the cycles since the last
    drift (the process of docs/drift.md, computed independently of mel_gym's)."""
    p, gap = config.probability, config.min_gap_cycles
    dist = {0: 1.0}  # cycle of the last drift -> probability
    expected = 0.0
    for cycle in range(1, horizon):
        new: dict[int, float] = {}
        for last, prob in dist.items():
            if cycle >= config.start_cycle and cycle - last >= gap:
                expected += prob * p
                new[cycle] = new.get(cycle, 0.0) + prob * p
                new[last] = new.get(last, 0.0) + prob * (1 - p)
            else:
                new[last] = new.get(last, 0.0) + prob
        dist = new
    return expected


def test_drift_rate_matches_the_process_computed_by_hand():
    config = DriftConfig(model="permutation", probability=0.2, start_cycle=2, min_gap_cycles=3)
    episodes, horizon = 4000, 30
    process = DriftProcess(config, episodes)
    rngs = [np.random.default_rng(s) for s in range(episodes)]
    gaps = []
    last = np.zeros(episodes, dtype=int)
    for cycle in range(1, horizon):
        drifted = process.draw(rngs, np.full(episodes, cycle))
        gaps += (cycle - last[drifted & (last > 0)]).tolist()
        last[drifted] = cycle
    want = expected_drifts(config, horizon)
    assert process.count.mean() == pytest.approx(want, abs=4 * process.count.std() / np.sqrt(episodes))
    assert min(gaps) >= config.min_gap_cycles
    assert process.last_drift.min() == 0 or process.last_drift[process.count > 0].min() >= config.start_cycle


def test_drifts_do_not_depend_on_the_actions_nor_on_the_drift_model():
    times = []
    for model, name, knobs in [("permutation", "ha-sync", {}), ("permutation", "ha-sync-effort",
                                                                  {"fraction": 0.1, "effort": 0.0}),
                               ("reinit", "ha-sync-effort", {"fraction": 0.2, "effort": 1.0})]:
        env = drift_env(horizon_cycles=30, drift={"model": model, "probability": 0.3})
        _, infos, _ = play(env, baseline(env, name, **knobs), seed=7)
        times.append([i for i, info in enumerate(infos) if info["drifted"]])
    assert times[0] and times[0] == times[1] == times[2]


def test_effort_zero_costs_nothing_and_learns_nothing():
    env = drift_env(drift={"model": "permutation", "probability": 0.0})
    rewards, infos, observations = play(env, baseline(env, "ha-sync-effort", fraction=0.2, effort=0.0), seed=3)
    assert all(info["energy_j"].sum() == 0.0 for info in infos)
    assert all(info["reward_lql"] == 0.0 and info["samples_trained"] == 0 for info in infos)
    assert np.all(rewards == 0.0)
    decoded = env.unwrapped.problem.decode(observations[-1])
    first = env.unwrapped.problem.decode(observations[0])
    assert decoded.val_loss == pytest.approx(first.val_loss)  # no drift, no training: the same model


def test_full_effort_is_the_plan_as_it_is():
    """With effort 1 an env with the effort action plays exactly what the env without it plays."""
    kwargs = dict(horizon_cycles=6, amount_action=True, **PRICED)
    plain = gym.make(ENV, **kwargs)
    with_effort = gym.make(ENV, effort_action=True, **kwargs)
    a = play(plain, baseline(plain, "ha-sync-fraction", fraction=0.3), seed=11)
    b = play(with_effort, baseline(with_effort, "ha-sync-fraction", fraction=0.3), seed=11)
    np.testing.assert_array_equal(a[0], b[0])
    for x, y in zip(a[2], b[2]):
        np.testing.assert_array_equal(x, y)
    assert all(info["effort"] == 1.0 for info in b[1])


def test_half_effort_halves_the_local_iterations():
    env = drift_env(horizon_cycles=3)
    full = play(env, baseline(env, "ha-sync-effort", fraction=0.2, effort=1.0), seed=5)[1]
    half = play(env, baseline(env, "ha-sync-effort", fraction=0.2, effort=0.5), seed=5)[1]
    for f, h in zip(full, half):
        assert h["tau"] == np.floor(0.5 * f["tau"])
        assert h["energy_j"].sum() < f["energy_j"].sum()


def test_observation_holds_the_loss_history_and_the_loss_jumps_at_a_drift():
    env = drift_env(horizon_cycles=30, drift={"model": "permutation", "probability": 0.5})
    _, infos, observations = play(env, baseline(env, "ha-sync-effort", fraction=0.2, effort=1.0), seed=1)
    decode = env.unwrapped.problem.decode
    decoded = [decode(o) for o in observations]
    for t in range(3, len(decoded)):
        np.testing.assert_allclose(decoded[t].loss_history, [decoded[t - h].val_loss for h in (1, 2, 3)], rtol=1e-5)
    drift = next(i for i, info in enumerate(infos) if info["drifted"] and i > 3)
    # the cycle's own test loss is on the old concept; the next observation shows the model on the new one
    assert decoded[drift + 1].val_loss > infos[drift]["val_loss"] + 0.5
    assert decoded[drift + 1].cycles_since_drift is None  # not revealed: a causal observation
    oracle = drift_env(horizon_cycles=30, drift={"model": "permutation", "probability": 0.5, "reveal": True})
    _, _, revealed = play(oracle, baseline(oracle, "ha-sync-effort", fraction=0.2, effort=1.0), seed=1)
    assert oracle.unwrapped.problem.decode(revealed[drift + 1]).cycles_since_drift == 0
    assert oracle.observation_space.shape[0] == env.observation_space.shape[0] + 1


@pytest.mark.parametrize("model", ["permutation", "labels"])
def test_a_drift_on_the_model_is_the_drift_on_the_data(model):
    """Permuting the first layer's rows (the output layer's columns) computes on the stored data what the old model
    computes on the permuted inputs (labels), so the stored data can stay as they are."""
    spec = MLPSpec((6, 5, 4))
    weights = stack_models([spec.init_numpy(np.random.default_rng(0))], torch.device("cpu"))
    old = [(w.clone(), b.clone()) for w, b in weights]
    seed = np.random.default_rng(3)
    DriftProcess(DriftConfig(model=model), 1).apply(weights, np.array([0]), [seed], spec)
    perm = np.random.default_rng(np.random.default_rng(3).integers(2**63)).permutation(6 if model == "permutation"
                                                                                        else 4)
    x = torch.from_numpy(np.random.default_rng(1).normal(size=(7, 6)).astype(np.float32))
    new_logits = forward_logits(weights, x)[0]
    if model == "permutation":
        x_old = torch.zeros_like(x)
        x_old[:, perm] = x  # the data as the old concept saw them
        np.testing.assert_allclose(new_logits.numpy(), forward_logits(old, x_old)[0].numpy(), rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_allclose(new_logits.numpy(), forward_logits(old, x)[0][:, perm].numpy(), rtol=1e-5,
                                   atol=1e-6)


def test_loss_rule_beats_the_best_constant_effort_on_a_tiny_drift_world():
    """With a price on energy, training only while the loss is high beats every constant effort (same fraction)."""
    env = drift_env(horizon_cycles=16, reward={"tau_bonus": 0.0, "energy_penalty_per_j": 1.0})
    seeds = [0, 1, 2]
    rule = np.mean([play(env, baseline(env, "ha-sync-loss-rule", fraction=0.1, loss_threshold=0.3), s)[0].sum()
                    for s in seeds])
    constants = [np.mean([play(env, baseline(env, "ha-sync-effort", fraction=0.1, effort=u), s)[0].sum()
                          for s in seeds]) for u in (0.5, 0.75, 1.0)]
    assert rule > max(constants)


def test_planner_action_over_the_effort_knobs():
    env = drift_env(action_mode="planner", planner="ha-sync-loss-rule")
    assert env.action_space.shape == (3,)  # fraction, loss threshold, effort
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([-1.0, 1.0, 1.0], dtype=np.float32))  # threshold 2.5 nats: idle
    assert info["effort"] == 0.0 and info["energy_j"].sum() == 0.0


def test_bad_settings_name_the_key():
    with pytest.raises(ConfigError, match="drift.model"):
        load_scenario("multijob", {"drift": {"model": "permutation"}})
    with pytest.raises(ConfigError, match="effort_action"):
        gym.make("mel_gym/LearnerSelection-v0", effort_action=True)
    with pytest.raises(ConfigError, match="drift.probability"):
        load_scenario("drift", {"drift": {"probability": 1.5}})
    env = gym.make(ENV, amount_action=True)
    with pytest.raises(ValueError, match="effort_action=True"):
        make_policy("ha-sync-loss-rule", env.unwrapped.problem, env.action_space)


LEVELS = {"fraction": [0.05, 0.1, 0.2, 0.4], "effort": [0.0, 0.25, 0.5, 1.0]}


def test_planner_levels_make_a_discrete_action_with_an_exact_idle():
    env = drift_env(action_mode="planner", planner="ha-sync-effort", planner_levels=LEVELS)
    assert isinstance(env.action_space, gym.spaces.MultiDiscrete) and env.action_space.nvec.tolist() == [4, 4]
    env.reset(seed=0)
    _, reward, _, _, info = env.step(np.array([1, 0]))  # fraction 0.1, effort 0: idle
    assert info["effort"] == 0.0 and info["energy_j"].sum() == 0.0 and reward == 0.0
    _, _, _, _, info = env.step(np.array([3, 3]))  # fraction 0.4, full effort
    assert info["effort"] == 1.0 and info["energy_j"].sum() > 0
    with pytest.raises(ValueError, match="knob 'effort'"):
        env.step(np.array([0, 4]))
    with pytest.raises(ConfigError, match=r"planner_levels.effort\[0\]"):
        drift_env(action_mode="planner", planner="ha-sync-effort", planner_levels={**LEVELS, "effort": [1.5]})
    with pytest.raises(ConfigError, match="missing \\['effort'\\]"):
        drift_env(action_mode="planner", planner="ha-sync-effort", planner_levels={"fraction": [0.1]})
    with pytest.raises(ConfigError, match="needs action_mode 'planner'"):
        drift_env(planner_levels=LEVELS)


def test_ppo_on_the_levels_beats_random_on_a_tiny_drift_world():
    """The shipped levels agent (configs/agents/ppo-drift-levels.yaml) learns in a few thousand steps what a uniform
    choice of the same levels does not: train little and rarely when energy has a price."""
    from mel_gym import make_sb3_vec_env
    from mel_gym.agents.sb3 import build_agent

    settings = dict(scenario="drift", horizon_cycles=12, amount_action=True, effort_action=True, action_mode="planner",
                    planner="ha-sync-effort", planner_levels=LEVELS, **PRICED)
    model = build_agent("ppo-drift-levels", make_sb3_vec_env(ENV, n_envs=4, seed=0, **settings), seed=0)
    model.learn(4096)
    env = gym.make(ENV, **settings)
    seeds = [500, 501, 502, 503]
    learned = np.mean([play(env, lambda obs: model.predict(obs, deterministic=True)[0], s)[0].sum() for s in seeds])
    env.action_space.seed(0)
    uniform = np.mean([play(env, lambda obs: env.action_space.sample(), s)[0].sum() for s in seeds])
    assert learned > uniform + 0.5
