"""SB3 agents built from YAML: config errors, the per-learner policy, and real (tiny) training."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.env_util import make_vec_env

from mel_gym.agents import make_policy
from mel_gym.agents.networks import PerLearnerPolicy
from mel_gym.agents.sb3 import build_agent, load_agent, load_agent_config
from conftest import ENV_ID, play_steps
from mel_gym import make_sb3_vec_env
from mel_gym.config import ConfigError

TINY = {"num_learners": 4, "samples_per_cycle": 400, "horizon_cycles": 10}


def _vec(n_envs=2, **kw):
    return make_vec_env(ENV_ID, n_envs=n_envs, seed=0, env_kwargs={**TINY, **kw})


def _mean_tau(policy, env, seeds):
    return float(np.mean([info["tau"] for _, info in play_steps(env, policy, seeds)]))


@pytest.mark.parametrize("name", ["ppo", "ppo-mlp", "a2c", "sac", "td3"])
def test_shipped_agent_configs_build(name):
    model = build_agent(name, _vec(n_envs=1), seed=0)
    obs = model.get_env().reset()
    action, _ = model.predict(obs, deterministic=True)
    assert action.shape == (1, TINY["num_learners"])


def test_agent_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="unknown ppo hyperparameter 'hyperparams.learning_rat'"):
        load_agent_config({"algo": "ppo", "hyperparams": {"learning_rat": 1e-3}})
    with pytest.raises(ConfigError, match="'algo' = 'dqn' is not one of"):
        load_agent_config({"algo": "dqn"})
    with pytest.raises(ConfigError, match="unknown agent config key 'steps'"):
        load_agent_config({"steps": 10})
    with pytest.raises(ConfigError, match="'n_envs' = 0 must be an integer >= 1"):
        load_agent_config({"n_envs": 0})
    with pytest.raises(ConfigError, match="activation_fn = 'swish'"):
        build_agent({"hyperparams": {"policy_kwargs": {"activation_fn": "swish"}}}, _vec(n_envs=1))
    with pytest.raises(ConfigError, match="not sac"):
        build_agent({"algo": "sac", "policy": "PerLearnerPolicy"}, _vec(n_envs=1))
    broken = tmp_path / "agent.yaml"
    broken.write_text("algo: [ppo\n")
    with pytest.raises(ConfigError, match="could not parse YAML"):
        load_agent_config(broken)


def test_per_learner_policy_is_permutation_equivariant():
    model = build_agent("ppo", _vec(n_envs=1), seed=0)
    policy = model.policy
    assert isinstance(policy, PerLearnerPolicy)
    K, F = TINY["num_learners"], 14
    obs = torch.rand(3, F * K + 3)
    perm = torch.tensor([2, 0, 3, 1])
    blocks = obs[:, : F * K].reshape(3, F, K)[:, :, perm].reshape(3, F * K)
    permuted = torch.cat([blocks, obs[:, F * K :]], dim=1)
    with torch.no_grad():
        mean = policy.get_distribution(obs).distribution.mean
        mean_p = policy.get_distribution(permuted).distribution.mean
        value, value_p = policy.predict_values(obs), policy.predict_values(permuted)
    assert torch.allclose(mean[:, perm], mean_p, atol=1e-6)
    assert torch.allclose(value, value_p, atol=1e-6)
    with pytest.raises(ValueError, match="PerLearnerPolicy"):
        PerLearnerPolicy(gym.spaces.Box(0, 1, (10,)), gym.spaces.Box(-1, 1, (4,)), lambda _: 1e-3,
                         num_learners=4, num_features=9, num_globals=3)


def test_per_learner_policy_on_the_joint_action_layout():
    env = make_sb3_vec_env("mel_gym/JointAllocation-v0", n_envs=1, seed=0, **TINY)
    model = build_agent("ppo", env, seed=0)
    K = TINY["num_learners"]
    obs = torch.rand(2, 14 * K + 3)
    perm = torch.tensor([1, 0, 3, 2])
    permuted = torch.cat([obs[:, : 14 * K].reshape(2, 14, K)[:, :, perm].reshape(2, 14 * K), obs[:, 14 * K :]], dim=1)
    with torch.no_grad():
        mean = model.policy.get_distribution(obs).distribution.mean.reshape(2, 4, K)
        mean_p = model.policy.get_distribution(permuted).distribution.mean.reshape(2, 4, K)
    assert mean.shape == (2, 4, K) and torch.allclose(mean[:, :, perm], mean_p, atol=1e-6)  # every block follows
    model.learn(64)


def test_per_learner_policy_selects_learners_with_a_multibinary_action():
    env = make_sb3_vec_env("mel_gym/LearnerSelection-v0", n_envs=2, seed=0, **TINY)
    model = build_agent("ppo", env, seed=0)
    assert isinstance(model.policy, PerLearnerPolicy)
    action, _ = model.predict(env.reset(), deterministic=True)
    assert action.shape == (2, TINY["num_learners"]) and set(np.unique(action)) <= {0, 1}
    model.learn(64)


def test_normalisation_statistics_travel_with_the_agent(tmp_path):
    config = {**load_agent_config("ppo"), "normalize": {"norm_obs": True, "norm_reward": False}}
    from mel_gym.agents.sb3 import NORMALIZE_FILE, NormalizedAgent, wrap_normalize

    env = wrap_normalize(make_sb3_vec_env(ENV_ID, n_envs=2, seed=0, **TINY), load_agent_config(config))
    model = build_agent(config, env, seed=0)
    model.learn(64)
    model.save(tmp_path / "model.zip")
    env.save(str(tmp_path / NORMALIZE_FILE))
    loaded = load_agent(tmp_path / "model.zip")
    assert isinstance(loaded, NormalizedAgent)
    obs = make_sb3_vec_env(ENV_ID, n_envs=1, seed=3, **TINY).reset()
    assert np.allclose(loaded.predict(obs)[0], model.predict(env.normalize_obs(obs), deterministic=True)[0])
    with pytest.raises(ConfigError, match="unknown VecNormalize argument 'normalize.norm_rewards'"):
        load_agent_config({"normalize": {"norm_rewards": True}})


@pytest.mark.learning
def test_ppo_learns_to_beat_equal_allocation_and_random(tmp_path):
    """A few thousand steps of real training on the native batched env through the SB3 adapter: the learned
    split beats equal allocation's tau."""
    torch.set_num_threads(1)
    model = build_agent("ppo", make_sb3_vec_env(ENV_ID, n_envs=4, seed=0, **TINY), seed=0)
    env = gym.make(ENV_ID, **TINY)
    seeds = range(500, 512)
    untrained = _mean_tau(model, env, seeds)
    model.learn(5000)
    trained = _mean_tau(model, env, seeds)
    equal = _mean_tau(make_policy("equal", env.unwrapped.problem, env.action_space), env, seeds)
    random = _mean_tau(make_policy("random", env.unwrapped.problem, env.action_space, seed=1), env, seeds)
    assert trained > 1.2 * equal and trained > 1.2 * untrained and trained > 2 * random, (trained, equal, random)
    model.save(tmp_path / "model.zip")
    loaded = load_agent(tmp_path / "model.zip")
    obs, _ = env.reset(seed=1)
    assert np.allclose(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])


def test_a_residual_agent_starts_at_its_baseline_and_is_saved_as_one(tmp_path):
    from mel_gym.experiments.train import train

    kwargs = {"num_learners": 4, "samples_per_cycle": 400, "horizon_cycles": 4, "amount_action": True}
    with pytest.raises(ConfigError, match="residual.base"):
        load_agent_config({"algo": "ppo", "residual": {"base": "oracle"}})
    with pytest.raises(ConfigError, match="residual.scale"):
        load_agent_config({"algo": "ppo", "residual": {"base": "ha-sync", "scale": 0}})
    result = train("mel_gym/ReliableTaskAllocation-v0", agent="ppo-residual", scenario="dynamic", env_kwargs=kwargs,
                   timesteps=128, n_envs=2, runs_dir=tmp_path, name="resid", progress_bar=False)
    env = gym.make("mel_gym/ReliableTaskAllocation-v0", scenario="dynamic", **kwargs)
    problem = env.unwrapped.problem
    agent = make_policy(str(result.model_path), problem, env.action_space)
    base = make_policy("expected-value-fraction", problem, env.action_space)  # the shipped agent's base, as tuned
    base.set_knobs(load_agent_config("ppo-residual")["residual"]["base_parameters"])
    with pytest.raises(ValueError, match="residual agent"):
        load_agent(result.model_path)
    obs, _ = env.reset(seed=3)
    for _ in range(3):
        action, _ = agent.predict(obs)
        expected, _ = base.predict(obs)
        assert env.action_space.contains(action)
        assert np.abs(action - expected).max() < 0.2  # barely trained: close to the optimiser's action
        obs, *_ = env.step(action)
