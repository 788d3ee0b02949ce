"""Shared fixtures: small scenarios that keep the suite fast."""

from __future__ import annotations

import signal
from contextlib import contextmanager

import numpy as np
import pytest
import torch

import mel_gym  # noqa: F401 - registers the env IDs

torch.set_num_threads(1)

ENV_ID = "mel_gym/TaskAllocation-v0"

#: Tolerance when a vector env's sub-env is compared with the single env of its seed (or one batch composition
#: with another): the physics and data draws are exact per env, but the float32 training of a batch of models
#: rounds differently with what else is in the batch and with the CPU's BLAS kernels (a fuzz measured up to
#: 2.4e-7 in observations and 1.2e-6 in rewards). The data draws themselves are compared exactly.
BATCH_ATOL = 1e-5

#: Keyword arguments of gym.make for a tiny, fast env: scenario overrides (4 learners) and 5 cycles.
SMALL = {
    "num_learners": 4,
    "samples_per_cycle": 400,
    "horizon_cycles": 5,
    "max_local_iterations": 20,
}


@pytest.fixture
def small_overrides() -> dict:
    return dict(SMALL)


def make_world(scenario, n_envs: int = 3, seed: int = 0):
    """A reset :class:`mel_gym.world.state.World` of ``n_envs`` and its (world, dynamics) generators, all from
    ``seed``: (world, rngs, dynamics_rngs)."""
    from mel_gym.world.state import World

    world = World(scenario, n_envs)
    root = np.random.SeedSequence(seed).spawn(2 * n_envs)
    rngs = [np.random.default_rng(s) for s in root[:n_envs]]
    dyn = [np.random.default_rng(s) for s in root[n_envs:]]
    world.reset(list(range(n_envs)), rngs, dyn)
    return world, rngs, dyn


def play_steps(env, policy, seeds):
    """(reward, info) of every step of one episode of ``env`` per seed, ``policy`` (SB3's predict) deterministic."""
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            action, _ = policy.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, info = env.step(action)
            yield reward, info
            done = terminated or truncated


def mean_return(env, policy, seeds=(500, 501, 502)) -> float:
    """Mean return of ``policy`` (SB3's predict, deterministic) over one episode of ``env`` per seed."""
    return sum(reward for reward, _ in play_steps(env, policy, seeds)) / len(seeds)


def ppo_and_random_returns(env_id: str, kwargs: dict, timesteps: int) -> tuple[float, float]:
    """Train the shipped PPO (``configs/agents/ppo.yaml``) on ``env_id`` for ``timesteps`` steps (2 envs, seed 0),
    then (its mean return, the random policy's) over seeds 500-502 of a single env."""
    import gymnasium as gym

    from mel_gym import make_sb3_vec_env
    from mel_gym.agents import make_policy
    from mel_gym.agents.sb3 import build_agent

    model = build_agent("ppo", make_sb3_vec_env(env_id, n_envs=2, seed=0, **kwargs), seed=0)
    model.learn(timesteps)
    single = gym.make(env_id, **kwargs)
    random_policy = make_policy("random", single.unwrapped.problem, single.action_space)
    return mean_return(single, model), mean_return(single, random_policy)


@contextmanager
def time_limit(seconds: int):
    """Fail with TimeoutError (instead of hanging) when the block runs longer than ``seconds`` (a guard against a
    hang, not a speed test: the limit is many times what the block needs)."""
    def fail(signum, frame):
        raise TimeoutError(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
