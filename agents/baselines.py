"""Optimisation baselines for the task-allocation envs; each decides from the observation alone.

They read the observation through the env's documented decoder (``problem.decode``) and use only the
scenario's public constants (``problem``: T, d, S_m, S_d, C_m, ...), never hidden simulator state.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from mel_gym.envs.action_maps import action_from_shares, representable
from mel_gym.envs.task_allocation import TaskAllocationProblem
from mel_gym.optim.task_allocation import integer_max_tau


class _ObservationPolicy:
    """Shared ``predict``: batch the observation, call ``_act`` per row, unbatch."""

    def predict(
        self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        obs = np.asarray(observation)
        batch = obs.reshape(-1, obs.shape[-1])
        actions = np.stack([self._act(row) for row in batch]).astype(np.float32)
        return (actions[0] if obs.ndim == 1 else actions), state

    def _act(self, obs: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class EqualAllocation(_ObservationPolicy):
    """Heterogeneity-unaware allocation (HU/ETA): d_k = d / K for every learner still in the game."""

    def __init__(self, problem: TaskAllocationProblem):
        self.problem = problem

    def _act(self, obs: np.ndarray) -> np.ndarray:
        # a = 0 for everyone: equal weights; the env gives nothing to learners whose battery is empty.
        return np.zeros(self.problem.num_learners, dtype=np.float32)


class HASync(_ObservationPolicy):
    """Heterogeneity-aware synchronous allocation (HA-Sync): the integer optimum of max tau.

    Rates and CPU frequencies come from the observation; see :mod:`mel_gym.optim.task_allocation` for the
    solver (bisection in PL, closed form in FL, exact integer recovery). Learners whose optimal share is too
    small for the action map to express (below max share x exp(-2 beta)) are left out and the problem is
    solved again without them.
    """

    def __init__(self, problem: TaskAllocationProblem):
        self.problem = problem

    def plan(self, obs: np.ndarray) -> tuple[int, np.ndarray]:
        """(tau, integer task sizes d_k) for one observation."""
        p = self.problem
        decoded = p.decode(obs)
        coeffs = p.coefficients(decoded)
        caps = np.where(decoded.available, decoded.task_cap, 0.0)
        while True:
            tau, task_sizes = integer_max_tau(coeffs, p.deadline_s, p.samples_per_cycle, p.max_local_iterations, caps)
            shares = task_sizes / max(task_sizes.sum(), 1)
            tiny = (shares > 0) & ~representable(shares, p.action_beta)
            if not np.any(tiny):
                return tau, task_sizes
            caps = np.where(tiny, 0.0, caps)

    def _act(self, obs: np.ndarray) -> np.ndarray:
        tau, task_sizes = self.plan(obs)
        if task_sizes.sum() == 0:
            return np.full(self.problem.num_learners, -1.0, dtype=np.float32)
        return action_from_shares(task_sizes / task_sizes.sum(), self.problem.action_beta)


class RandomPolicy:
    """Uniform random actions from the action space, seeded."""

    def __init__(self, action_space: gym.spaces.Box, seed: int = 0):
        self.action_space = action_space
        self.rng = np.random.default_rng(seed)

    def predict(
        self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        obs = np.asarray(observation)
        n = 1 if obs.ndim == 1 else obs.shape[0]
        low, high = self.action_space.low, self.action_space.high
        actions = self.rng.uniform(low, high, size=(n, *self.action_space.shape)).astype(np.float32)
        return (actions[0] if obs.ndim == 1 else actions), state


__all__ = ["EqualAllocation", "HASync", "RandomPolicy"]
