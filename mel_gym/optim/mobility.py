"""Where to fly or move next: the geometry searches of the drone and relocation baselines.

The objective of every search is a score of candidate points evaluated many at a time (a callable
(M, 2) -> (M,), e.g. HA-Sync's relaxed tau* with the orchestrator there,
:meth:`mel_gym.envs.problem.AllocationProblem.relaxed_tau_at`):

- :func:`best_point`: the best point of a disc: a grid, then scipy's Nelder-Mead from the best grid points
  (a point outside the disc is scored where it is pulled onto the disc's edge);
- :class:`HorizonPlanner`: the best sequence of H waypoints, each within ``reach`` of the one before, maximising
  sum_h score_h(q_h) - weight x sum_h cost(|q_h - q_{h-1}|), by dynamic programming over a grid of the area
  (exact on the grid: the tests compare it with enumerating every sequence).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from scipy.optimize import minimize

from mel_gym.world.geometry import clip_to_disc

Score = Callable[[np.ndarray], np.ndarray]


def disc_grid(centre: np.ndarray, radius: float, spacing: float) -> np.ndarray:
    """(M, 2) points of a square lattice of ``spacing`` (m) within the disc, plus the centre itself."""
    n = int(np.floor(radius / spacing))
    offsets = np.arange(-n, n + 1) * spacing
    xx, yy = np.meshgrid(offsets, offsets, indexing="ij")
    grid = np.stack([xx.ravel(), yy.ravel()], axis=-1)
    grid = grid[np.hypot(grid[:, 0], grid[:, 1]) <= radius * (1 + 1e-12)]
    return np.asarray(centre, dtype=np.float64) + np.vstack([np.zeros((1, 2)), grid[np.any(grid != 0, axis=1)]])


def best_point(score: Score, centre: np.ndarray, radius: float, area_radius: float, spacing: float,
               refine: int = 3) -> tuple[np.ndarray, float]:
    """The point of the disc (``centre``, ``radius``) within the area disc (origin, ``area_radius``) with the
    highest score: the best of a grid of ``spacing`` m, improved by Nelder-Mead from the ``refine`` best grid points.
    Returns (point (2,), score)."""
    centre = np.asarray(centre, dtype=np.float64)

    def inside(x: np.ndarray) -> np.ndarray:
        return clip_to_disc(centre + clip_to_disc(np.asarray(x, dtype=np.float64) - centre, radius), area_radius)

    grid = inside(disc_grid(centre, radius, spacing))
    values = score(grid)
    best = int(np.argmax(values))
    point, value = grid[best], float(values[best])
    if refine and radius > 0:
        for start in grid[np.argsort(-values, kind="stable")[:refine]]:
            result = minimize(lambda x: -float(score(inside(x)[None])[0]), start, method="Nelder-Mead",
                              options={"initial_simplex": start + np.array([[0, 0], [spacing, 0], [0, spacing]]),
                                       "xatol": 0.5, "fatol": 1e-6, "maxfev": 200})
            if -result.fun > value + 1e-12:
                point, value = inside(result.x), -float(result.fun)
    return point, value


class HorizonPlanner:
    """The best H-step plan over a fixed ``grid`` (M, 2) of the area: waypoints q_1 .. q_H, each at most ``reach``
    m from the one before (q_0 = the start), maximising sum_h scores[h](q_h) - weight x sum_h
    step_cost(|q_h - q_{h-1}|) (``step_cost`` maps step lengths in m to costs), by dynamic programming (the
    grid-to-grid step costs are computed once)."""

    def __init__(self, grid: np.ndarray, reach: float, step_cost: Callable[[np.ndarray], np.ndarray]):
        self.grid, self.reach, self.step_cost = np.asarray(grid, dtype=np.float64), reach, step_cost
        steps = np.hypot(*np.moveaxis(self.grid[:, None, :] - self.grid[None, :, :], -1, 0))
        self._reachable = steps <= reach * (1 + 1e-12)
        self._cost = np.where(self._reachable, step_cost(steps), 0.0)

    def plan(self, scores: Sequence[Score], start: np.ndarray, weight: float) -> tuple[np.ndarray, float]:
        """(first waypoint (2,), the plan's value) from ``start`` (2,), which is itself a candidate waypoint of
        every step (staying put)."""
        start = np.asarray(start, dtype=np.float64)
        nodes = np.vstack([start[None], self.grid])
        to_start = np.hypot(*(self.grid - start).T)
        m = len(nodes)
        reachable = np.empty((m, m), dtype=bool)
        cost = np.empty((m, m))
        reachable[1:, 1:], cost[1:, 1:] = self._reachable, self._cost
        reachable[0, 1:] = reachable[1:, 0] = to_start <= self.reach * (1 + 1e-12)
        cost[0, 1:] = cost[1:, 0] = self.step_cost(to_start)
        reachable[0, 0], cost[0, 0] = True, float(self.step_cost(np.zeros(1))[0])
        edge = np.where(reachable, -weight * cost, -np.inf)
        value = scores[-1](nodes)  # value-to-go at the last step
        for score in reversed(scores[:-1]):
            value = score(nodes) + np.max(edge + value[None, :], axis=1)
        first = edge[0] + value
        best = int(np.argmax(first))
        return nodes[best], float(first[best])
