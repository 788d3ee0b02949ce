"""Policies that drive mel_gym envs: optimisation baselines and SB3 agents, all answering ``predict``.

Names are loaded on first use: ``mel_gym.agents.policy`` (the names and the factory) imports no torch.
"""

from mel_gym.lazy import lazy_getattr

_EXPORTS = {
    "AllLearners": ".baselines", "EqualAllocation": ".baselines", "GreedySelection": ".baselines",
    "ExpectedValue": ".baselines", "HASyncThreshold": ".baselines", "RedundancyRule": ".baselines",
    "HAAsync": ".baselines", "HASync": ".baselines", "Joint": ".baselines", "RandomPolicy": ".baselines",
    "ResourceOnly": ".baselines", "TaskOnly": ".baselines", "BASELINES": ".policy", "BASELINE_NAMES": ".policy",
    "Policy": ".policy", "make_policy": ".policy", "policies_for": ".policy", "Knob": ".planners",
    "Planner": ".planners", "PlannerAgent": ".planners",
}
__getattr__ = lazy_getattr(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
