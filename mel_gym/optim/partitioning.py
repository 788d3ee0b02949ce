"""Partitioning learners between jobs (MultiJob-v0's problem, docs/multijob.md §3).

Learner k serving job j adds a_kj = (T_j - C0_kj)^+ / C2_kj sample-iterations per cycle to it (what it computes in
the time T_j leaves after the model exchange); the job's relaxed tau is the work of its learners over its
samples, tau_j = min(tau_max, sum_k x_kj a_kj / d_j) (HA-Sync's relaxed tau* in FL without data caps). The relaxed
per-job progress is v_j g(tau_j) with v_j the job's value (importance) and g(tau) = ln(1 + tau), concave: local
iterations have diminishing returns, so spreading learners over jobs can beat piling them on the most important.

    max  sum_j v_j G(tau_j)   s.t.  sum_j x_kj <= 1,  x_kj = 0 where learner k cannot serve job j,  x binary

G is g's piecewise-linear interpolation on integer-spaced breakpoints (exact at them), so the problem is a mixed-
integer linear program: t_j <= sum_k x_kj a_kj / d_j, t_j <= tau_max, y_j <= G's segments (epigraph of a concave
function), solved exactly by HiGHS (:func:`best_partition`, ``scipy.optimize.milp``). :func:`partition_value` is
the same objective for one assignment, which :func:`brute_force_partition` enumerates on small instances (the
check of the MILP), :func:`greedy_partition` climbs and :func:`matching_partition` approximates by a balanced
assignment (``scipy.optimize.linear_sum_assignment``). All functions take one instance: work (J, K) a_kj / d_j
(iterations each learner adds to each job), allowed (J, K) bool, values (J,); assignments are (K,) int, -1 idle.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linear_sum_assignment, milp

#: Breakpoints of the piecewise-linear progress G (tau), beyond tau_max cut at tau_max.
BREAKPOINTS = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0)


def progress_breakpoints(max_local_iterations: int) -> np.ndarray:
    """Breakpoints of G up to tau_max (which is one)."""
    points = [b for b in BREAKPOINTS if b < max_local_iterations]
    return np.array(points + [float(max_local_iterations)])


def progress(tau: np.ndarray, max_local_iterations: int) -> np.ndarray:
    """G(tau): ln(1 + tau) interpolated linearly between the breakpoints, flat beyond tau_max."""
    points = progress_breakpoints(max_local_iterations)
    return np.interp(np.minimum(tau, max_local_iterations), points, np.log1p(points))


def partition_value(assignment: np.ndarray, work: np.ndarray, values: np.ndarray, max_local_iterations: int) -> float:
    """sum_j v_j G(tau_j) of an assignment (K,) (-1 idle), tau_j = min(tau_max, sum of its learners' work)."""
    J = work.shape[0]
    tau = np.array([work[j, assignment == j].sum() for j in range(J)])
    return float(values @ progress(tau, max_local_iterations))


def best_partition(work: np.ndarray, allowed: np.ndarray, values: np.ndarray, max_local_iterations: int) -> np.ndarray:
    """The assignment that maximises :func:`partition_value`, by mixed-integer programming (HiGHS)."""
    J, K = work.shape
    points = progress_breakpoints(max_local_iterations)
    slopes = np.diff(np.log1p(points)) / np.diff(points)
    intercepts = np.log1p(points[:-1]) - slopes * points[:-1]
    S = len(slopes)
    # variables: x (J K, binary) | t (J) | y (J)
    n = 2 * J + J * K
    c = np.zeros(n)
    c[J * K + J :] = -values
    rows, lower, upper = [], [], []
    for k in range(K):  # each learner serves at most one job
        row = np.zeros(n)
        row[np.arange(J) * K + k] = 1.0
        rows.append(row), lower.append(-np.inf), upper.append(1.0)
    for j in range(J):  # t_j <= its learners' work
        row = np.zeros(n)
        row[j * K : (j + 1) * K] = -work[j]
        row[J * K + j] = 1.0
        rows.append(row), lower.append(-np.inf), upper.append(0.0)
        for s in range(S):  # y_j <= slope_s t_j + intercept_s
            row = np.zeros(n)
            row[J * K + J + j] = 1.0
            row[J * K + j] = -slopes[s]
            rows.append(row), lower.append(-np.inf), upper.append(intercepts[s])
    bounds_low = np.zeros(n)
    bounds_high = np.concatenate([allowed.reshape(-1).astype(float), np.full(J, float(max_local_iterations)),
                                  np.full(J, np.log1p(max_local_iterations))])
    integrality = np.concatenate([np.ones(J * K), np.zeros(2 * J)])
    result = milp(c, constraints=LinearConstraint(np.array(rows), lower, upper), integrality=integrality,
                  bounds=Bounds(bounds_low, bounds_high), options={"mip_rel_gap": 1e-9})
    if result.x is None:  # pragma: no cover - the all-idle assignment is always feasible
        raise RuntimeError(f"best_partition: HiGHS found no solution ({result.message})")
    x = np.round(result.x[: J * K]).reshape(J, K) > 0.5
    assignment = np.where(x.any(axis=0), x.argmax(axis=0), -1)
    # a learner that adds nothing (no work, or its job already at tau_max) costs energy for no progress: idle it
    value = partition_value(assignment, work, values, max_local_iterations)
    for k in np.flatnonzero(assignment >= 0):
        trial = assignment.copy()
        trial[k] = -1
        if partition_value(trial, work, values, max_local_iterations) >= value - 1e-12:
            assignment = trial
    return assignment


def brute_force_partition(work: np.ndarray, allowed: np.ndarray, values: np.ndarray,
                          max_local_iterations: int) -> np.ndarray:
    """The best assignment by enumerating all (J + 1)^K of them (small instances only: the MILP's check)."""
    J, K = work.shape
    options = [[-1] + [j for j in range(J) if allowed[j, k]] for k in range(K)]
    best, best_value = np.full(K, -1), -np.inf
    for combo in itertools.product(*options):
        assignment = np.array(combo)
        value = partition_value(assignment, work, values, max_local_iterations)
        if value > best_value + 1e-12:
            best, best_value = assignment, value
    return best


def greedy_partition(work: np.ndarray, allowed: np.ndarray, values: np.ndarray, max_local_iterations: int) -> np.ndarray:
    """The most capable learners first, each to the job whose progress it raises most (ties: the more important
    job); then single moves while one raises the value."""
    J, K = work.shape
    assignment = np.full(K, -1)
    tau = np.zeros(J)
    for k in np.argsort(-np.where(allowed, work, 0.0).max(axis=0), kind="stable"):
        gains = np.where(allowed[:, k], values * (progress(tau + work[:, k], max_local_iterations)
                                                  - progress(tau, max_local_iterations)), -np.inf)
        j = int(np.lexsort((-values, -gains))[0])
        if gains[j] > 0:
            assignment[k], tau[j] = j, tau[j] + work[j, k]
    best = partition_value(assignment, work, values, max_local_iterations)
    improved = True
    while improved:
        improved = False
        for k, j in itertools.product(range(K), range(-1, J)):
            if j == assignment[k] or (j >= 0 and not allowed[j, k]):
                continue
            trial = assignment.copy()
            trial[k] = j
            value = partition_value(trial, work, values, max_local_iterations)
            if value > best + 1e-12:
                assignment, best, improved = trial, value, True
    return assignment


def matching_partition(work: np.ndarray, allowed: np.ndarray, values: np.ndarray,
                       max_local_iterations: int) -> np.ndarray:
    """A balanced assignment: every job gets up to ceil(K / J) learners, chosen to maximise sum v_j (work added)
    G'(its expected share) with the Hungarian method (``linear_sum_assignment`` over learners x job slots), where
    the slot's marginal value is G's slope at the job's tau after as many average learners."""
    J, K = work.shape
    slots = int(np.ceil(K / J))
    mean_work = np.array([work[j, allowed[j]].mean() if allowed[j].any() else 0.0 for j in range(J)])
    gain = np.zeros((K, J * slots))
    for j in range(J):
        for s in range(slots):
            level = mean_work[j] * s
            # the value of learner k as the (s+1)-th of job j: the progress it adds on top of s average learners
            added = values[j] * (progress(level + work[j], max_local_iterations) - progress(level, max_local_iterations))
            gain[:, j * slots + s] = np.where(allowed[j], added, -1e9)
    rows, cols = linear_sum_assignment(gain, maximize=True)
    assignment = np.full(K, -1)
    keep = gain[rows, cols] > 0
    assignment[rows[keep]] = cols[keep] // slots
    return assignment
