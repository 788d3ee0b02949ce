"""Policies that drive mel_gym envs: optimisation baselines and SB3 agents, all answering ``predict``.

Names are loaded on first use: ``mel_gym.agents.policy`` (the names and the factory) imports no torch.
"""

_EXPORTS = {
    "AllLearners": "baselines", "EqualAllocation": "baselines", "GreedySelection": "baselines", "HAAsync": "baselines",
    "HASync": "baselines", "Joint": "baselines", "RandomPolicy": "baselines", "ResourceOnly": "baselines",
    "TaskOnly": "baselines", "BASELINES": "policy", "BASELINE_NAMES": "policy", "Policy": "policy",
    "make_policy": "policy", "policies_for": "policy",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"mel_gym.agents.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'mel_gym.agents' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
