"""The Policy protocol (SB3's ``predict`` signature) and a factory from a name or a saved agent."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np


@runtime_checkable
class Policy(Protocol):
    """Anything with SB3's predict: obs (obs_dim,) or (n, obs_dim) -> (action(s), state)."""

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]: ...


#: Baseline names accepted by :func:`make_policy` and ``mel-gym evaluate --policy``.
BASELINE_NAMES = ("equal", "ha-sync", "ha-async", "task-only", "resource-only", "joint", "random")


def make_policy(spec: str, env: gym.Env, seed: int = 0, device: str = "cpu") -> Policy:
    """A policy from a baseline name (see ``BASELINE_NAMES``) or a saved SB3 agent (``.zip`` path).

    Baselines are built from ``env.unwrapped.problem`` (public constants) and decide from observations only.
    """
    from mel_gym.agents import baselines

    problem = env.unwrapped.problem
    planners = {"equal": baselines.EqualAllocation, "ha-sync": baselines.HASync, "ha-async": baselines.HAAsync,
                "task-only": baselines.TaskOnly, "resource-only": baselines.ResourceOnly, "joint": baselines.Joint}
    if spec in planners:
        if spec in ("resource-only", "joint") and problem.action_blocks != 4:
            raise ValueError(f"policy {spec!r} sets power, bandwidth and CPU: use it with JointAllocation-v0")
        return planners[spec](problem)
    if spec == "random":
        return baselines.RandomPolicy(env.action_space, seed=seed)
    path = Path(spec)
    if path.suffix == ".zip" or path.is_file():
        from mel_gym.agents.sb3 import load_agent

        return load_agent(path, device=device)
    raise ValueError(f"unknown policy {spec!r}: use one of {list(BASELINE_NAMES)} or a path to a saved agent (.zip)")
