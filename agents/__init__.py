"""Policies that drive mel_gym envs: optimisation baselines and SB3 agents, all answering ``predict``."""

from agents.baselines import EqualAllocation, HASync, RandomPolicy
from agents.policy import Policy, make_policy

__all__ = ["EqualAllocation", "HASync", "Policy", "RandomPolicy", "make_policy"]
