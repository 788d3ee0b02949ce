"""Policies that drive mel_gym envs: optimisation baselines and SB3 agents, all answering ``predict``.

Names are loaded on first use: ``mel_gym.agents.registry`` (the names and the factory) imports no torch.
"""

from mel_gym.lazy import lazy_getattr

_EXPORTS = {
    "AllLearners": ".baselines", "EqualAllocation": ".baselines", "GreedySelection": ".baselines",
    "ExpectedValue": ".baselines", "HASyncThreshold": ".baselines", "RedundancyRule": ".baselines",
    "HAAsync": ".baselines", "HASync": ".baselines", "Joint": ".baselines", "RandomPolicy": ".baselines",
    "ResourceOnly": ".baselines", "TaskOnly": ".baselines", "BASELINES": ".registry", "BASELINE_NAMES": ".registry",
    "Policy": ".registry", "make_policy": ".registry", "policies_for": ".registry", "Knob": ".planners",
    "Planner": ".planners", "PlannerAgent": ".planners",
}
__getattr__ = lazy_getattr(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
