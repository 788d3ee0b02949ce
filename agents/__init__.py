"""Policies that drive mel_gym envs: optimisation baselines and SB3 agents, all answering ``predict``."""

from mel_gym.agents.baselines import EqualAllocation, HAAsync, HASync, Joint, RandomPolicy, ResourceOnly, TaskOnly
from mel_gym.agents.policy import BASELINE_NAMES, Policy, make_policy

__all__ = ["BASELINE_NAMES", "EqualAllocation", "HAAsync", "HASync", "Joint", "Policy", "RandomPolicy",
           "ResourceOnly", "TaskOnly", "make_policy"]
