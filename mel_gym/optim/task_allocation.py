"""Task allocation in synchronous MEL: maximise the common number of local iterations tau (MEL_MODEL.md §2).

    max tau   s.t.   C2_k tau d_k + C1_k d_k + C0_k <= T   for every k with d_k > 0,
                     sum_k d_k = d,   0 <= d_k <= cap_k,   (tau, d_k integers)

Relaxed, every active deadline is tight, so d_k(tau) = min(cap_k, (T - C0_k) / (C2_k tau + C1_k)) and tau*
solves sum_k d_k(tau) = d, a single decreasing equation: closed form in FL without binding caps
(C1 = 0: tau* = sum_k (T - C0_k) / C2_k / d, i.e. d_k proportional to f_k (T - C0_k)), Brent's method
otherwise. Learners with T <= C0_k cannot take part.

Integer recovery: for integer tau, learner k can take at most floor((T - C0_k) / (C2_k tau + C1_k)) samples,
so tau is feasible exactly when these capacities sum to at least d. Starting from the relaxed suggestion
ceil(tau*), tau is lowered until feasible (this finds the integer optimum), then the d samples are handed
out in proportion to the capacities, which spreads the remaining slack over all learners.
All functions work on one instance: 1-D arrays of length K.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.optimize import brentq

from mel_gym.optim.rounding import apportion
from mel_gym.world.timing import CycleCoefficients, max_sync_iterations

#: Relative margin under the deadline for integer plans, so that observation rounding cannot make them miss it.
PLAN_DEADLINE_MARGIN = 1e-6


@dataclass(frozen=True)
class EnergyBudget:
    """Per-learner energy of one cycle, arrays (K,): what it may spend (J), the fixed part (the upload, J) and
    the joules per sample and local iteration (kappa f^2 C_m)."""

    limit_j: np.ndarray
    fixed_j: np.ndarray
    per_sample_iteration_j: np.ndarray

    def max_samples(self, tau: float, margin: float = 0.0) -> np.ndarray:
        """The most samples each learner can afford at ``tau`` iterations (inf where energy does not bind)."""
        budget = self.limit_j * (1.0 - margin) - self.fixed_j
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(budget >= 0, budget / (self.per_sample_iteration_j * tau), 0.0)
        return np.where(np.isnan(d), np.inf, d)


def relaxed_task_sizes(coeffs: CycleCoefficients, deadline_s: float, tau: float, caps: np.ndarray | None = None,
                       energy: EnergyBudget | None = None) -> np.ndarray:
    """d_k(tau) = min(cap_k, (T - C0_k) / (C2_k tau + C1_k), energy bound), 0 for learners with T <= C0_k."""
    slack = deadline_s - coeffs.c0
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(slack > 0, slack / (coeffs.c2 * tau + coeffs.c1), 0.0)
    if energy is not None:
        d = np.minimum(d, energy.max_samples(tau))
    return np.minimum(d, caps) if caps is not None else d


def relaxed_max_tau(
    coeffs: CycleCoefficients, deadline_s: float, total_samples: int, caps: np.ndarray | None = None,
    energy: EnergyBudget | None = None,
) -> float:
    """tau* of the relaxed problem (0 when even tau = 0 cannot place all ``total_samples`` in time)."""
    excess = lambda tau: relaxed_task_sizes(coeffs, deadline_s, tau, caps, energy).sum() - total_samples  # noqa: E731
    return solve_max_tau(excess, closed_form=_fl_closed_form(coeffs, deadline_s, total_samples)
                         if caps is None and energy is None else None)


def _fl_closed_form(coeffs: CycleCoefficients, deadline_s: float, total_samples: int) -> float | None:
    """FL (C1 = 0) without caps or energy: tau* = sum_k (T - C0_k) / C2_k / d."""
    if not np.all(coeffs.c1 == 0):
        return None
    slack = np.maximum(deadline_s - coeffs.c0, 0.0)
    return float(np.sum(slack / coeffs.c2) / total_samples)


def solve_max_tau(excess: Callable[[float], float], closed_form: float | None = None) -> float:
    """The largest tau with excess(tau) >= 0 for a decreasing ``excess`` (placeable minus needed samples):
    0 if even tau = 0 falls short, inf if it never does, else the root by Brent's method."""
    if excess(0.0) < 0:
        return 0.0
    if closed_form is not None:
        return closed_form
    hi = 1.0
    while excess(hi) > 0:
        hi *= 2.0
        if hi > 1e12:
            return math.inf  # caps never bind below d: tau is unbounded (no learner has work)
    return float(brentq(excess, 0.0, hi, xtol=1e-12, rtol=1e-12))


def integer_capacity(
    coeffs: CycleCoefficients, deadline_s: float, tau: int, caps: np.ndarray | None = None,
    energy: EnergyBudget | None = None,
) -> np.ndarray:
    """Largest integer d_k each learner can finish with ``tau`` iterations inside the (margined) deadline and
    energy budget."""
    slack = deadline_s * (1.0 - PLAN_DEADLINE_MARGIN) - coeffs.c0
    per_sample = coeffs.c2 * tau + coeffs.c1
    with np.errstate(divide="ignore", invalid="ignore"):
        cap = np.where(slack > 0, slack / per_sample, 0.0)
    if energy is not None:
        cap = np.minimum(cap, energy.max_samples(tau, PLAN_DEADLINE_MARGIN))
    limit = caps if caps is not None else np.inf
    cap = np.minimum(np.where(np.isfinite(cap), cap, limit), limit)
    return np.floor(np.minimum(cap, np.iinfo(np.int64).max / 4)).astype(np.int64)


def integer_plan(capacity_at: Callable[[int], np.ndarray], total_samples: int, max_tau: int,
                 tau_hint: float) -> tuple[int, np.ndarray]:
    """Integer recovery: the largest integer tau <= min(max_tau, ceil(tau_hint)) whose integer capacities
    cover ``total_samples``, and d_k handed out in proportion to them; (0, zeros) if no tau >= 1 fits."""
    tau = int(min(max_tau, math.ceil(tau_hint) if math.isfinite(tau_hint) else max_tau))
    while tau >= 1:
        capacity = capacity_at(tau)
        if capacity.sum() >= total_samples:
            return tau, _proportional_fill(capacity, total_samples)
        tau -= 1
    return 0, np.zeros_like(capacity_at(1), dtype=np.int64)


def integer_max_tau(
    coeffs: CycleCoefficients, deadline_s: float, total_samples: int, max_tau: int, caps: np.ndarray | None = None,
    energy: EnergyBudget | None = None,
) -> tuple[int, np.ndarray]:
    """The integer optimum: (tau, d_k) with sum d_k = d, or (0, zeros) when no tau >= 1 is feasible."""
    tau_star = relaxed_max_tau(coeffs, deadline_s, total_samples, caps, energy)
    return integer_plan(lambda tau: integer_capacity(coeffs, deadline_s, tau, caps, energy), total_samples, max_tau,
                        tau_star)


def _proportional_fill(capacity: np.ndarray, total: int) -> np.ndarray:
    """Integers d_k <= capacity_k summing to ``total`` (<= sum of capacities), proportional to capacity."""
    return np.minimum(apportion(capacity / capacity.sum(), total), capacity)


def relaxed_min_staleness(
    coeffs: CycleCoefficients, deadline_s: float, total_samples: int, caps: np.ndarray | None = None,
    energy: EnergyBudget | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Relaxed asynchronous allocation (every learner works the whole cycle) with the least staleness
    max_k tau_k - min_k tau_k: (d_k, tau_k). The optimum is 0: all tau_k equal tau*, HA-Sync's relaxed
    solution, the only split where every deadline is tight at one common tau."""
    tau = relaxed_max_tau(coeffs, deadline_s, total_samples, caps, energy)
    task_sizes = relaxed_task_sizes(coeffs, deadline_s, tau, caps, energy)
    return task_sizes, np.where(task_sizes > 0, tau, 0.0)


def equal_allocation_tau(
    coeffs: CycleCoefficients, deadline_s: float, total_samples: int, max_tau: int, available: np.ndarray,
) -> int:
    """tau that equal allocation (d/K to every available learner) reaches: set by the slowest learner."""
    shares = available / max(available.sum(), 1)
    return int(max_sync_iterations(coeffs, apportion(shares, total_samples), deadline_s, max_tau))
