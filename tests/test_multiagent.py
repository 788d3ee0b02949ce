"""The multi-agent view (mel_gym.multiagent): PettingZoo's own API and seed tests, agreement with the single-agent
env, and a shared policy trained with SB3 on every learner's experience."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from mel_gym.agents import make_policy
from mel_gym.multiagent import SharedPolicyVecEnv, parallel_env

ENV_ID = "mel_gym/TaskAllocation-v0"
SMALL = {"num_learners": 4, "samples_per_cycle": 400, "horizon_cycles": 5}


@pytest.mark.parametrize("env_id, extra", [
    (ENV_ID, {}),
    ("mel_gym/JointAllocation-v0", {}),
    ("mel_gym/LearnerRelocation-v0", {"relocation": {"controllable": 2}}),
    ("mel_gym/SplitChain-v0", {}),
    ("mel_gym/MultiHop-v0", {}),
])
def test_pettingzoo_parallel_api_and_seed_tests_pass(env_id, extra):
    parallel_api_test(parallel_env(env_id, **SMALL, **extra), num_cycles=8)
    parallel_seed_test(lambda: parallel_env(env_id, **SMALL, **extra), num_cycles=8)


def test_each_agent_sees_its_row_and_the_team_gets_the_env_s_step():
    par = parallel_env(ENV_ID, **SMALL)
    single = gym.make(ENV_ID, **SMALL)
    obs, infos = par.reset(seed=7)
    flat, _ = single.reset(seed=7)
    assert np.array_equal(par.state(), flat) and set(infos) == set(par.agents)
    K, F = 4, 14
    for k, agent in enumerate(par.possible_agents):
        assert np.array_equal(obs[agent], np.r_[flat[k : F * K : K], flat[F * K :]].astype(np.float32))
        assert par.observation_space(agent).contains(obs[agent])
    rng = np.random.default_rng(0)
    for _ in range(3):
        joint = rng.uniform(-0.5, 0.5, K).astype(np.float32)
        obs, rewards, terminated, truncated, infos = par.step({a: joint[k:k + 1] for k, a in enumerate(par.agents)})
        flat, reward, *_, info = single.step(joint)
        assert np.array_equal(par.state(), flat)
        assert all(r == pytest.approx(reward) for r in rewards.values())
        assert [infos[a]["task_sizes"] for a in par.possible_agents] == list(info["task_sizes"])
        assert all(i["tau"] == info["tau"] for i in infos.values())


def test_bad_agent_actions_name_the_agent():
    par = parallel_env(ENV_ID, **SMALL)
    par.reset(seed=0)
    with pytest.raises(ValueError, match="not live"):
        par.step({"learner_9": np.zeros(1)})
    with pytest.raises(ValueError, match="action of learner_1 has shape"):
        par.step({"learner_1": np.zeros(3)})
    with pytest.raises(ValueError, match="blocks of K values"):
        parallel_env("mel_gym/DroneOrchestrator-v0", **SMALL)


@pytest.mark.learning
def test_a_shared_policy_learns_from_every_learner():
    """PPO with one MLP shared by the 4 agents (parameter sharing through SharedPolicyVecEnv), a small budget:
    the team's return beats random's on held-out seeds."""
    from stable_baselines3 import PPO

    venv = SharedPolicyVecEnv(parallel_env(ENV_ID, **SMALL), seed=0)
    model = PPO("MlpPolicy", venv, n_steps=128, batch_size=128, learning_rate=1e-3, seed=0,
                policy_kwargs={"log_std_init": -1.0})
    model.learn(6144)
    par = parallel_env(ENV_ID, **SMALL)
    random_policy = make_policy("random", par.env.problem, par.env.action_space)

    def team_return(act):
        total = 0.0
        for seed in (500, 501, 502):
            obs, _ = par.reset(seed=seed)
            while par.agents:
                obs, rewards, *_ = par.step(act(obs))
                total += next(iter(rewards.values()))
        return total / 3

    learned = team_return(lambda obs: {a: model.predict(o, deterministic=True)[0] for a, o in obs.items()})
    randomly = team_return(lambda obs: dict(zip(par.possible_agents,
                                                 random_policy.predict(par.state())[0].reshape(1, -1).T)))
    assert learned > randomly + 0.2
