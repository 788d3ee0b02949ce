"""Gymnasium views of the MEL simulator: one module per env (its core and env class), the shared core, the
generic single and vector envs, the observation codec, action maps, parameters and rendering.

Names are loaded on first use: importing ``mel_gym.envs.params`` does not import torch.
"""

from mel_gym.lazy import lazy_getattr

_EXPORTS = {
    "BaseCore": ".core", "EnvCore": ".core", "ShareCore": ".core", "MELEnv": ".env", "MELVectorEnv": ".vector", "AllocationProblem": ".problem",
    "TaskAllocationCore": ".task_allocation", "TaskAllocationEnv": ".task_allocation",
    "AsyncTaskAllocationCore": ".async_allocation", "AsyncTaskAllocationEnv": ".async_allocation",
    "JointAllocationCore": ".joint_allocation", "JointAllocationEnv": ".joint_allocation",
    "LearnerSelectionCore": ".learner_selection", "LearnerSelectionEnv": ".learner_selection",
    "ReliableTaskAllocationCore": ".reliable_allocation", "ReliableTaskAllocationEnv": ".reliable_allocation",
}
__getattr__ = lazy_getattr(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
