"""Ray RLlib registration helpers for mel_gym's single-agent envs and its multi-agent views.

- :func:`register_single_agent_env` registers ``gym.make(env_id, **kwargs)`` under a name RLlib's
  ``AlgorithmConfig.environment(name)`` understands; :func:`single_agent_ppo_config` builds a small ``PPOConfig`` on
  it.
- :func:`register_multi_agent_env` and :func:`shared_policy_config` (from :mod:`mel_gym.integrations.rllib_multiagent`) do the same
  for the multi-agent view, every learner an agent, with one policy shared by all of them.
- :func:`train_iteration` runs ``algo.train()`` and turns an iteration whose env runners returned no samples (slow
  env steps on a busy machine) into a clear error; both configs size RLlib's sample timeouts for mel_gym's slow steps
  (:func:`sample_timeout_s`).

Every creator sets torch to one intra-op thread in the process that builds the env (an RLlib env runner), so many
runners on one machine do not oversubscribe its cores with the embedded trainer's threads. The envs pickle (Ray
ships them between processes when it must). Ray is imported only when these functions run: ``pip install
'mel_gym[ray]'``; Ray RLlib 2.60 pins ``gymnasium==1.2.2``.

Example (``examples/rllib_multiagent.py`` runs the multi-agent one)::

    import ray
    from mel_gym.integrations.rllib import register_single_agent_env, single_agent_ppo_config

    ray.init(num_cpus=2)
    name = register_single_agent_env("mel_gym/TaskAllocation-v0", num_learners=4, horizon_cycles=5)
    algo = single_agent_ppo_config(name, seed=0).build_algo()
    print(train_iteration(algo)["env_runners"]["episode_return_mean"])
"""

from __future__ import annotations

import re
from typing import Any

from mel_gym.integrations.rllib_multiagent import (STEP_SECONDS, _require_ray, env_runner_results, ppo_config,
                                                   register_rllib_env, sample_timeout_s, shared_policy_config,
                                                   train_iteration)


def default_single_agent_name(env_id: str) -> str:
    """``mel_gym/TaskAllocation-v0`` -> ``mel_gym_TaskAllocation-v0``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", env_id)


def make_single_agent_env(env_id: str, **env_kwargs: Any):
    """``gym.make(env_id, **env_kwargs)`` after setting torch to one thread in this process."""
    import gymnasium as gym
    import torch

    import mel_gym  # noqa: F401 - registers the IDs in a fresh worker process

    torch.set_num_threads(1)
    return gym.make(env_id, **env_kwargs)


def register_single_agent_env(env_id: str = "mel_gym/TaskAllocation-v0", name: str | None = None,
                              **env_kwargs: Any) -> str:
    """Register ``env_id`` with Ray Tune's env registry; the creator builds :func:`make_single_agent_env`
    ``(env_id, **{**env_kwargs, **env_config})`` (RLlib's ``env_config`` overrides these defaults). Returns the name
    (default :func:`default_single_agent_name`)."""
    _require_ray()
    from ray.tune.registry import register_env

    name = name or default_single_agent_name(env_id)
    defaults = dict(env_kwargs)
    register_env(name, lambda env_config=None: make_single_agent_env(env_id, **{**defaults, **dict(env_config or {})}))
    return name


def single_agent_ppo_config(name: str, *, env_config: dict | None = None, seed: int | None = None,
                            train_batch_size: int = 128, minibatch_size: int = 64, num_epochs: int = 4,
                            lr: float = 3e-4, gamma: float = 0.99, hidden: tuple[int, ...] = (64, 64),
                            num_env_runners: int = 0, step_seconds: float = STEP_SECONDS):
    """A small ``PPOConfig`` (RLlib's new API stack) on the env registered as ``name``: ``train_batch_size`` env
    steps per iteration, ``num_env_runners`` remote samplers (0: sample in the driver), sampling timeouts sized for
    env steps of up to ``step_seconds`` (:func:`mel_gym.integrations.rllib_multiagent.sample_timeout_s`). Change
    anything with RLlib's own methods before ``build_algo()``."""
    return ppo_config(name, env_config=env_config, seed=seed, train_batch_size=train_batch_size,
                      minibatch_size=minibatch_size, num_epochs=num_epochs, lr=lr, gamma=gamma, hidden=hidden,
                      num_env_runners=num_env_runners, step_seconds=step_seconds)


#: The multi-agent view's registration (every learner an agent), under this module's naming.
register_multi_agent_env = register_rllib_env

__all__ = ["STEP_SECONDS", "default_single_agent_name", "env_runner_results", "make_single_agent_env",
           "register_multi_agent_env", "register_single_agent_env", "sample_timeout_s", "shared_policy_config",
           "single_agent_ppo_config", "train_iteration"]
