"""Gymnasium views of the MEL simulator."""

from mel_gym.envs.task_allocation import TaskAllocationCore, TaskAllocationEnv, TaskAllocationProblem

__all__ = ["TaskAllocationCore", "TaskAllocationEnv", "TaskAllocationProblem"]
