"""Gymnasium views of the MEL simulator."""

from mel_gym.envs.async_allocation import AsyncTaskAllocationCore, AsyncTaskAllocationEnv
from mel_gym.envs.core import AllocationCore, AllocationProblem, MELEnv
from mel_gym.envs.joint_allocation import JointAllocationCore, JointAllocationEnv
from mel_gym.envs.task_allocation import TaskAllocationCore, TaskAllocationEnv, TaskAllocationProblem

__all__ = ["AllocationCore", "AllocationProblem", "AsyncTaskAllocationCore", "AsyncTaskAllocationEnv",
           "JointAllocationCore", "JointAllocationEnv", "MELEnv", "TaskAllocationCore", "TaskAllocationEnv",
           "TaskAllocationProblem"]
