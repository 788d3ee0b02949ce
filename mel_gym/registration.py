"""Registers mel_gym's env IDs with Gymnasium (namespace ``mel_gym``) when ``mel_gym`` is imported.

Gymnasium 1.x has no plugin entry points: ``import mel_gym`` (or ``gym.make("mel_gym:mel_gym/<Env>")``,
which imports it) is what makes the IDs known.
"""

from __future__ import annotations

import importlib

import gymnasium as gym

#: env ID -> "module:EnvClass"; the module also defines the native vector env, named "<Name>VectorEnv"
#: (see :func:`mel_gym.envs.vector.vector_env_class`).
ENV_IDS = {
    "mel_gym/TaskAllocation-v0": "mel_gym.envs.task_allocation:TaskAllocationEnv",
    "mel_gym/AsyncTaskAllocation-v0": "mel_gym.envs.async_allocation:AsyncTaskAllocationEnv",
    "mel_gym/JointAllocation-v0": "mel_gym.envs.joint_allocation:JointAllocationEnv",
    "mel_gym/LearnerSelection-v0": "mel_gym.envs.learner_selection:LearnerSelectionEnv",
    "mel_gym/ReliableTaskAllocation-v0": "mel_gym.envs.reliable_allocation:ReliableTaskAllocationEnv",
    "mel_gym/DroneOrchestrator-v0": "mel_gym.envs.drone:DroneOrchestratorEnv",
    "mel_gym/LearnerRelocation-v0": "mel_gym.envs.relocation:LearnerRelocationEnv",
    "mel_gym/MultiJob-v0": "mel_gym.envs.multijob:MultiJobEnv",
    "mel_gym/SplitChain-v0": "mel_gym.envs.split_chain:SplitChainEnv",
    "mel_gym/MultiHop-v0": "mel_gym.envs.multihop:MultiHopEnv",
}


def vector_entry_point(entry_point: str) -> str:
    """``module:NameEnv`` -> ``module:NameVectorEnv``."""
    module, _, name = entry_point.partition(":")
    return f"{module}:{name.removesuffix('Env')}VectorEnv"


def env_class(env_id: str) -> type:
    """The env class of a mel_gym env ID (imports its module); KeyError for an ID that is not in :data:`ENV_IDS`."""
    module, _, name = ENV_IDS[env_id].partition(":")
    return getattr(importlib.import_module(module), name)


def register_envs() -> None:
    """Register every mel_gym env ID with its native vector env (idempotent)."""
    for env_id, entry_point in ENV_IDS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, vector_entry_point=vector_entry_point(entry_point))
