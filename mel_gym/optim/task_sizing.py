"""Task allocation in synchronous MEL: maximise the common number of local iterations tau (docs/model.md §2).

    max tau   s.t.   C2_k tau d_k + C1_k d_k + C0_k <= T          for every k with d_k > 0,
                     E0_k + E1_k tau d_k <= E_k                    (when there is an energy cap or battery),
                     sum_k d_k = d,   0 <= d_k <= cap_k,   (tau, d_k integers)

The coefficients come from :class:`mel_gym.world.costs.CostModel`, the same model the simulator charges.
Relaxed, every active constraint is tight, so d_k(tau) = min(cap_k, (T - C0_k) / (C2_k tau + C1_k), energy
bound) and tau* is the largest tau with sum_k d_k(tau) >= d, a non-increasing function of tau: closed form in FL
without caps or energy limits (C1 = 0: tau* = sum_k (T - C0_k) / C2_k / d, i.e. d_k proportional to
f_k (T - C0_k)), bisection on the predicate otherwise. The predicate, not a root of sum - d, is what is
searched: where the caps add up to exactly d the sum equals d on a whole interval of tau, and only its right
end is the optimum. Learners with T <= C0_k cannot take part.

Integer recovery: for integer tau, learner k can take at most floor of its relaxed capacity (under a tiny
margin), and these integer capacities do not grow with tau, so the largest feasible integer tau is found by
bisection on "capacities sum to at least d"; the d samples are then handed out in proportion to the
capacities, which spreads the remaining slack over all learners. All functions work on one instance: 1-D
arrays of length K.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from mel_gym.optim.rounding import apportion
from mel_gym.world.costs import CycleCoefficients, EnergyBudget, feasible_sync_iterations

#: Relative margin under the deadline for integer plans, so that observation rounding cannot make them miss it.
PLAN_DEADLINE_MARGIN = 1e-6
#: Relative precision of the relaxed tau*.
TAU_RTOL = 1e-12


def relaxed_task_sizes(coeffs: CycleCoefficients, cycle_deadline_s: float, tau: float, task_caps: np.ndarray | None = None,
                       energy: EnergyBudget | None = None, margin: float = 0.0) -> np.ndarray:
    """d_k(tau) = min(cap_k, (T (1 - margin) - C0_k) / (C2_k tau + C1_k), energy bound); 0 where T <= C0_k."""
    slack = cycle_deadline_s * (1.0 - margin) - coeffs.c0
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(slack > 0, slack / (coeffs.c2 * tau + coeffs.c1), 0.0)
    if energy is not None:
        d = np.minimum(d, energy.max_samples(tau, margin))
    return np.minimum(d, task_caps) if task_caps is not None else d


def relaxed_max_tau(
    coeffs: CycleCoefficients, cycle_deadline_s: float, samples_per_cycle: int, task_caps: np.ndarray | None = None,
    energy: EnergyBudget | None = None,
) -> float:
    """tau* of the relaxed problem (0 when even tau = 0 cannot place all ``samples_per_cycle`` in time)."""
    covers = lambda tau: relaxed_task_sizes(coeffs, cycle_deadline_s, tau, task_caps, energy).sum() >= samples_per_cycle  # noqa: E731
    closed = _fl_closed_form(coeffs, cycle_deadline_s, samples_per_cycle) if task_caps is None and energy is None else None
    return solve_max_tau(covers, closed_form=closed)


def relaxed_max_tau_batch(coeffs: CycleCoefficients, cycle_deadline_s: float, samples_per_cycle: int,
                          task_caps: np.ndarray, energy: EnergyBudget | None, upper: float,
                          steps: int = 40) -> np.ndarray:
    """tau* of many relaxed instances at once, capped at ``upper``: arrays (M, K) -> (M,), by a bisection of
    ``steps`` halvings of [0, upper] (precision upper / 2^steps); 0 where not even tau = 0 places the d samples."""
    covers = lambda tau: relaxed_task_sizes(coeffs, cycle_deadline_s, tau[:, None], task_caps,  # noqa: E731
                                            energy).sum(axis=-1) >= samples_per_cycle
    m = np.shape(task_caps)[0]
    lo, hi = np.zeros(m), np.full(m, float(upper))
    top = covers(hi)
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        ok = covers(mid)
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
    return np.where(top, float(upper), np.where(covers(np.zeros(m)), lo, 0.0))


def _fl_closed_form(coeffs: CycleCoefficients, cycle_deadline_s: float, samples_per_cycle: int) -> float | None:
    """FL (C1 = 0) without caps or energy: tau* = sum_k (T - C0_k) / C2_k / d."""
    if not np.all(coeffs.c1 == 0):
        return None
    slack = np.maximum(cycle_deadline_s - coeffs.c0, 0.0)
    return float(np.sum(slack / coeffs.c2) / samples_per_cycle)


def solve_max_tau(covers: Callable[[float], bool], closed_form: float | None = None, rtol: float = TAU_RTOL) -> float:
    """The largest tau >= 0 with ``covers(tau)`` for a predicate that holds on [0, tau*] and fails above:
    0 if it fails already at 0, inf if it never fails, else tau* by bisection to relative precision ``rtol``
    (``closed_form`` is returned as is when given and covers(0) holds)."""
    if not covers(0.0):
        return 0.0
    if closed_form is not None:
        return closed_form
    lo, hi = 0.0, 1.0
    while covers(hi):
        lo, hi = hi, hi * 2.0
        if hi > 1e12:
            return math.inf  # nothing ever binds: tau is unbounded (no learner has work)
    while hi - lo > rtol * hi:
        mid = 0.5 * (lo + hi)
        if covers(mid):
            lo = mid
        else:
            hi = mid
    return lo


def integer_capacity(
    coeffs: CycleCoefficients, cycle_deadline_s: float, tau: int, task_caps: np.ndarray | None = None,
    energy: EnergyBudget | None = None,
) -> np.ndarray:
    """Largest integer d_k each learner can finish with ``tau`` iterations inside the (margined) deadline and
    energy budget."""
    d = relaxed_task_sizes(coeffs, cycle_deadline_s, tau, None, energy, PLAN_DEADLINE_MARGIN)
    limit = task_caps if task_caps is not None else np.inf
    d = np.minimum(np.where(np.isfinite(d), d, limit), limit)
    return np.floor(np.minimum(d, np.iinfo(np.int64).max / 4)).astype(np.int64)


def integer_plan(capacity_at: Callable[[int], np.ndarray], samples_per_cycle: int,
                 max_local_iterations: int) -> tuple[int, np.ndarray]:
    """Integer recovery: the largest integer tau in 1..max_local_iterations whose integer capacities (non-increasing
    in tau) cover ``samples_per_cycle``, by bisection, and d_k handed out in proportion to them; (0, zeros) if no
    tau >= 1 fits."""
    covers = lambda tau: capacity_at(tau).sum() >= samples_per_cycle  # noqa: E731
    if not covers(1):
        return 0, np.zeros_like(capacity_at(1), dtype=np.int64)
    lo, hi = 1, max_local_iterations
    while lo < hi:  # covers(lo) holds; the answer lies in [lo, hi]
        mid = (lo + hi + 1) // 2
        if covers(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo, _proportional_fill(capacity_at(lo), samples_per_cycle)


def integer_max_tau(
    coeffs: CycleCoefficients, cycle_deadline_s: float, samples_per_cycle: int, max_local_iterations: int,
    task_caps: np.ndarray | None = None, energy: EnergyBudget | None = None,
) -> tuple[int, np.ndarray]:
    """The integer optimum: (tau, d_k) with sum d_k = d, or (0, zeros) when no tau >= 1 is feasible."""
    return integer_plan(lambda tau: integer_capacity(coeffs, cycle_deadline_s, tau, task_caps, energy), samples_per_cycle,
                        max_local_iterations)


def _proportional_fill(capacity: np.ndarray, total: int) -> np.ndarray:
    """Integers d_k <= capacity_k summing to ``total`` (<= sum of capacities), proportional to capacity."""
    return np.minimum(apportion(capacity / capacity.sum(), total), capacity)


def relaxed_min_staleness(
    coeffs: CycleCoefficients, cycle_deadline_s: float, samples_per_cycle: int, task_caps: np.ndarray | None = None,
    energy: EnergyBudget | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Relaxed asynchronous allocation (every learner works the whole cycle) with the least staleness
    max_k tau_k - min_k tau_k: (d_k, tau_k). The optimum is 0: all tau_k equal tau*, HA-Sync's relaxed
    solution, the only split where every deadline is tight at one common tau."""
    tau = relaxed_max_tau(coeffs, cycle_deadline_s, samples_per_cycle, task_caps, energy)
    task_sizes = relaxed_task_sizes(coeffs, cycle_deadline_s, tau, task_caps, energy)
    return task_sizes, np.where(task_sizes > 0, tau, 0.0)


def equal_allocation_tau(
    coeffs: CycleCoefficients, cycle_deadline_s: float, samples_per_cycle: int, max_local_iterations: int,
    available: np.ndarray,
) -> int:
    """tau that equal allocation (d/K to every available learner) reaches: set by the slowest learner."""
    shares = available / max(available.sum(), 1)
    return int(feasible_sync_iterations(coeffs, apportion(shares, samples_per_cycle), cycle_deadline_s,
                                   max_local_iterations))
