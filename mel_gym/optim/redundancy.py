"""Planning under predicted failures: the expected-value task allocation and redundant (backup) tasks.

Each learner k fails in the coming cycle (its result never reaches the orchestrator) with a predicted
probability p_k (:attr:`mel_gym.envs.observation.DecodedObservation.failure_probability`). With a common tau and
tasks d_k, the expected local work that reaches the orchestrator is

    W = tau * sum_k d_k (1 - p_k p_b(k)),

where b(k) is k's backup (a learner that runs a copy of k's task and stands in if k fails; p_b(k) = 1 without
one). Backups and failures are taken as independent. All functions work on one instance (arrays of length K)
unless they say otherwise.

Expected-value allocation without backups: for each integer tau the best split maximises sum_k (1 - p_k) d_k
over 0 <= d_k <= cap_k(tau) (integer capacities of :func:`mel_gym.optim.task_sizing.integer_capacity`) with
sum_k d_k = d, a fractional knapsack with unit weights: filling the most reliable learners first up to their
capacity is optimal (and integral); the plan is the best over tau = 1 .. max_local_iterations.
tests/test_reliable.py checks it against scipy's MILP solver on random instances.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from mel_gym.optim.task_sizing import integer_capacity
from mel_gym.world.costs import CycleCoefficients, EnergyBudget, EnergyCoefficients, feasible_iterations


def fill_most_reliable(capacity: np.ndarray, success: np.ndarray, total: int) -> np.ndarray:
    """Integer d_k <= capacity_k summing to ``total`` (<= sum of capacities), the most reliable learners (largest
    ``success``; ties by index) filled first: the maximiser of sum_k success_k d_k."""
    task_sizes = np.zeros(capacity.shape, dtype=np.int64)
    left = int(total)
    for k in np.argsort(-success, kind="stable"):
        take = int(min(capacity[k], left))
        task_sizes[k] = take
        left -= take
        if left == 0:
            break
    return task_sizes


def expected_value_plan(coeffs: CycleCoefficients, cycle_deadline_s: float, samples_per_cycle: int,
                        max_local_iterations: int, failure: np.ndarray, task_caps: np.ndarray | None = None,
                        energy: EnergyBudget | None = None) -> tuple[int, np.ndarray, float]:
    """(tau, d_k, expected work) maximising tau sum_k (1 - p_k) d_k with sum_k d_k = d; (0, zeros, 0.0) when no
    tau >= 1 can place d."""
    success = 1.0 - np.asarray(failure, dtype=np.float64)
    best = (0, np.zeros(success.shape, dtype=np.int64), 0.0)
    for tau in range(1, max_local_iterations + 1):
        capacity = integer_capacity(coeffs, cycle_deadline_s, tau, task_caps, energy)
        if capacity.sum() < samples_per_cycle:
            break  # capacities do not grow with tau: no larger tau fits either
        task_sizes = fill_most_reliable(capacity, success, samples_per_cycle)
        value = float(tau * np.dot(success, task_sizes))
        if value >= best[2]:
            best = (tau, task_sizes, value)
    return best


def expected_work(tau: float, task_sizes: np.ndarray, failure: np.ndarray, backup_of: np.ndarray | None = None,
                  ) -> float:
    """tau sum_k d_k (1 - p_k p_b(k)) over the primaries (learners that are nobody's backup)."""
    failure = np.asarray(failure, dtype=np.float64)
    lost = failure.copy()
    primary = np.ones(failure.shape, dtype=bool)
    if backup_of is not None:
        for j in np.flatnonzero(backup_of >= 0):
            lost[backup_of[j]] *= failure[j]
            primary[j] = False
    return float(tau * np.sum(np.where(primary, task_sizes, 0) * (1.0 - lost)))


def backup_capable(coeffs: CycleCoefficients, task_sizes: np.ndarray, tau: np.ndarray | int, cycle_deadline_s: float,
                   max_local_iterations: int, energy: EnergyBudget | None = None) -> np.ndarray:
    """(..., K candidates, K primaries) bool: candidate j can run primary k's task (d_k samples, ``tau``
    iterations) within the deadline and its energy limit. Batched over leading axes."""
    column = lambda a: np.asarray(a)[..., :, None]  # noqa: E731 - the candidate axis
    c = CycleCoefficients(column(coeffs.c0), column(coeffs.c1), column(coeffs.c2))
    budget = None
    if energy is not None:
        budget = EnergyBudget(column(energy.limit_j), EnergyCoefficients(
            column(energy.coefficients.fixed_j), column(energy.coefficients.per_sample_iteration_j)))
    d = np.asarray(task_sizes)[..., None, :]
    limits = feasible_iterations(c, d, cycle_deadline_s, max_local_iterations, budget)
    return (limits >= np.asarray(tau)[..., None, None]) & (d > 0)


def pair_backups(order: Sequence[int], capable: np.ndarray, free: np.ndarray, failure: np.ndarray) -> np.ndarray:
    """(K,) int ``backup_of``: primaries in ``order`` each get the free learner that can run their task
    (``capable[j, k]``) with the lowest failure probability (ties by index), one backup each, while any is left;
    -1 = not a backup."""
    backup_of = np.full(free.shape, -1, dtype=np.int64)
    left = np.asarray(free, dtype=bool).copy()
    for k in order:
        candidates = np.flatnonzero(left & capable[:, k])
        if candidates.size:
            j = candidates[np.argmin(failure[candidates])]
            backup_of[j] = k
            left[j] = False
    return backup_of
