"""Ray RLlib over the multi-agent view (mel_gym.integrations.rllib_multiagent): the registered creator's env works with random
actions, and PPO with one policy shared by every agent trains for 2 iterations.

Ray RLlib 2.60 pins gymnasium==1.2.2, so these run only where Ray is installed (the Makefile's compatibility venv,
``make test-compat``); elsewhere the module is skipped."""

from __future__ import annotations

import math

import numpy as np
import pytest

ray = pytest.importorskip(
    "ray", reason="Ray RLlib is not installed (pip install 'mel_gym[ray]'; RLlib 2.60 pins gymnasium==1.2.2, so it "
                  "lives in the compatibility venv .venv-gym1.2.2)")
pytest.importorskip("ray.rllib", reason="ray is installed without RLlib (pip install 'ray[rllib]==2.60.0')")

from ray.rllib.env.multi_agent_env import MultiAgentEnv  # noqa: E402
from ray.rllib.utils.pre_checks.env import check_multiagent_environments  # noqa: E402
from ray.tune.registry import ENV_CREATOR, _global_registry  # noqa: E402

from mel_gym.integrations.rllib_multiagent import (  # noqa: E402
    SHARED_POLICY_ID,
    make_rllib_env,
    register_rllib_env,
    shared_policy_config,
)

ENV_ID = "mel_gym/TaskAllocation-v0"
K = 3
TINY = {"scenario": "default", "num_learners": K, "horizon_cycles": 4, "samples_per_cycle": 400}


def _creator(name: str):
    """The creator RLlib itself looks up for ``config.environment(name)``."""
    return _global_registry.get(ENV_CREATOR, name)


@pytest.fixture(scope="module")
def ray_session():
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    if started:
        ray.shutdown()


def test_the_registered_creator_builds_a_multi_agent_env_that_runs_random_episodes():
    name = register_rllib_env(ENV_ID, name="mel_gym_test_creator", **TINY)
    assert name == "mel_gym_test_creator"
    # env_config (what RLlib passes) overrides the registration's kwargs.
    env = _creator(name)({"horizon_cycles": 3})
    assert isinstance(env, MultiAgentEnv)
    agents = [f"learner_{k}" for k in range(K)]
    assert sorted(env.possible_agents) == agents
    check_multiagent_environments(env)  # RLlib's own checks (spaces, reset/step dicts)

    for seed in (0, 1):
        obs, infos = env.reset(seed=seed)
        assert sorted(obs) == agents and set(infos) <= set(agents)
        for agent, o in obs.items():
            assert env.get_observation_space(agent).contains(o)
        steps = 0
        while True:
            actions = {agent: env.get_action_space(agent).sample() for agent in obs}
            obs, rewards, terminateds, truncateds, infos = env.step(actions)
            steps += 1
            assert sorted(rewards) == agents and all(math.isfinite(r) for r in rewards.values())
            # every agent gets the team's reward
            assert len(set(rewards.values())) == 1
            assert "__all__" in terminateds and "__all__" in truncateds
            if terminateds["__all__"] or truncateds["__all__"]:
                break
            assert steps < 10
        assert steps == 3
    env.close()


def test_default_name_and_mismatched_spaces(monkeypatch):
    assert register_rllib_env(ENV_ID, **TINY) == "mel_gym_TaskAllocation-v0_multiagent"

    from gymnasium import spaces

    from mel_gym import multiagent

    class Uneven:
        """A parallel env whose second agent has another action space."""

        def __init__(self):
            self.possible_agents = ["a", "b"]

        def observation_space(self, agent):
            return spaces.Box(0.0, 1.0, (2,), np.float32)

        def action_space(self, agent):
            return spaces.Discrete(2 if agent == "a" else 3)

    monkeypatch.setattr(multiagent, "parallel_env", lambda env_id, **kwargs: Uneven())
    with pytest.raises(ValueError, match="share one observation space and one action space"):
        make_rllib_env(ENV_ID)


def _weights(algo) -> dict[str, np.ndarray]:
    state = algo.learner_group.get_weights(module_ids=[SHARED_POLICY_ID])[SHARED_POLICY_ID]
    return {key: np.array(value, copy=True) for key, value in state.items()}


#: MultiJob-v0 on a tiny world: K learners choose idle or one of two jobs.
MULTIJOB_TINY = {"scenario": "multijob", "num_learners": K, "horizon_cycles": 4,
                 "jobs": [{"labels": [0, 1, 2]}, {"labels": [3, 4, 5], "weight": 2.0}]}


#: MultiHop-v0 on a tiny world: K learners each choose a next hop (masked Discrete).
MULTIHOP_TINY = {"scenario": "multihop", "num_learners": K, "horizon_cycles": 4, "samples_per_cycle": 300}


@pytest.mark.parametrize("env_id, kwargs", [(ENV_ID, TINY), ("mel_gym/MultiJob-v0", MULTIJOB_TINY),
                                            ("mel_gym/MultiHop-v0", MULTIHOP_TINY)])
def test_ppo_with_a_shared_policy_trains_two_iterations(ray_session, env_id, kwargs):
    name = register_rllib_env(env_id, name=f"mel_gym_test_ppo_{env_id.split('/')[1]}", **kwargs)
    config = shared_policy_config(name, seed=0, train_batch_size=64, minibatch_size=32, num_epochs=2)

    # One policy, and every agent of the env maps to it.
    env = _creator(name)({})
    assert set(config.policies) == {SHARED_POLICY_ID}
    assert sorted(env.possible_agents) == [f"learner_{k}" for k in range(K)]
    assert all(config.policy_mapping_fn(agent, None) == SHARED_POLICY_ID for agent in env.possible_agents)
    env.close()

    algo = config.build_algo()
    try:
        assert list(algo.env_runner.module.keys()) == [SHARED_POLICY_ID]
        before = _weights(algo)
        results = [algo.train() for _ in range(2)]
        after = _weights(algo)
    finally:
        algo.stop()

    sampled = 0
    for i, result in enumerate(results, start=1):
        assert result["training_iteration"] == i
        runners = result["env_runners"]
        env_steps = runners["num_env_steps_sampled"]
        assert env_steps >= 64
        sampled += env_steps
        # all of the agents' steps went to the one shared module
        assert sorted(runners["num_agent_steps_sampled"]) == [f"learner_{k}" for k in range(K)]
        assert dict(runners["num_module_steps_sampled"]) == {SHARED_POLICY_ID: K * env_steps}
        assert runners["num_episodes"] > 0
        assert math.isfinite(runners["episode_return_mean"])
        # RLlib's episode return sums the agents' returns; each agent got the team reward
        agent_returns = list(runners["agent_episode_returns_mean"].values())
        assert runners["episode_return_mean"] == pytest.approx(sum(agent_returns))
        learner = result["learners"][SHARED_POLICY_ID]
        for key in ("total_loss", "policy_loss", "vf_loss", "entropy"):
            assert math.isfinite(float(learner[key])), (key, learner[key])
    assert results[-1]["num_env_steps_sampled_lifetime"] == sampled

    # Training changed the shared policy's weights.
    assert before.keys() == after.keys() and before
    assert all(np.all(np.isfinite(w)) for w in after.values())
    assert any(not np.array_equal(before[key], after[key]) for key in before)


def test_single_agent_ppo_trains_two_iterations_with_one_torch_thread(ray_session):
    import torch

    from mel_gym.integrations.rllib import register_single_agent_env, single_agent_ppo_config

    name = register_single_agent_env(ENV_ID, num_learners=K, horizon_cycles=4, samples_per_cycle=400)
    assert name == "mel_gym_TaskAllocation-v0"
    torch.set_num_threads(2)
    env = _creator(name)({"horizon_cycles": 3})  # env_config overrides the registration's kwargs
    assert torch.get_num_threads() == 1 and env.unwrapped.params.horizon_cycles == 3
    algo = single_agent_ppo_config(name, seed=0, train_batch_size=64, minibatch_size=32, num_epochs=2).build_algo()
    try:
        results = [algo.train() for _ in range(2)]
    finally:
        algo.stop()
    assert [r["training_iteration"] for r in results] == [1, 2]
    assert all(r["env_runners"]["num_env_steps_sampled"] >= 64 for r in results)
    assert all(math.isfinite(r["env_runners"]["episode_return_mean"]) for r in results)
