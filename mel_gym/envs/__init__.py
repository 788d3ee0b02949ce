"""Gymnasium views of the MEL simulator: one module per env (its core and env class), the shared core, the
generic single and vector envs, the observation codec, action maps, parameters and rendering."""

_EXPORTS = {
    "EnvCore": "core", "ShareCore": "core", "MELEnv": "env", "MELVectorEnv": "vector", "AllocationProblem": "problem",
    "TaskAllocationCore": "task_allocation", "TaskAllocationEnv": "task_allocation",
    "AsyncTaskAllocationCore": "async_allocation", "AsyncTaskAllocationEnv": "async_allocation",
    "JointAllocationCore": "joint_allocation", "JointAllocationEnv": "joint_allocation",
    "LearnerSelectionCore": "learner_selection", "LearnerSelectionEnv": "learner_selection",
}


def __getattr__(name: str):
    # Loaded on first use: importing mel_gym.envs (e.g. for its parameter classes) does not import torch.
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"mel_gym.envs.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'mel_gym.envs' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
