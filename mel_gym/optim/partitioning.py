"""Partitioning learners between jobs (MultiJob-v0's problem, docs/multijob.md §4).

Two objectives score an assignment x (each learner serves at most one job, only where it may). Both are
sum_j v_j G(tau_j) with v_j the job's value (importance) and G ln(1 + tau) interpolated between
:data:`BREAKPOINTS`, concave: local iterations have diminishing returns, so spreading learners over jobs can beat
piling them on the most important. They differ in the tau_j they give a job.

**Relaxed** (:func:`best_partition`, :func:`partition_value`, :func:`greedy_partition`, :func:`matching_partition`).
Learner k serving job j adds a_kj = (T_j - C0_kj)^+ / C2_kj sample-iterations per cycle to it (what it computes in
the time T_j leaves after the model exchange); the job's relaxed tau is the work of its learners over its
samples, tau_j = min(tau_max, sum_k x_kj a_kj / d_j) (HA-Sync's relaxed tau* in FL without data caps).

    max  sum_j v_j G(tau_j)   s.t.  sum_j x_kj <= 1,  x_kj = 0 where learner k cannot serve job j,  x binary

G is ln(1 + tau)'s piecewise-linear interpolation on integer breakpoints (exact at them), so the problem is a mixed-
integer linear program: t_j <= sum_k x_kj a_kj / d_j, t_j <= tau_max, y_j <= G's segments (epigraph of a concave
function), solved exactly by HiGHS (:func:`best_partition`, ``scipy.optimize.milp``). :func:`partition_value` is
the same objective for one assignment, which :func:`brute_force_partition` enumerates on small instances (the
check of the MILP), :func:`greedy_partition` climbs and :func:`matching_partition` approximates by a balanced
assignment (``scipy.optimize.linear_sum_assignment``). These functions take work (J, K) a_kj / d_j (iterations
each learner adds to each job), allowed (J, K) bool, values (J,).

**The env's integer rule** (:func:`exact_partition`, :func:`env_rule_tau`, :func:`env_rule_value`). MultiJob-v0
gives job j with learners S the integer tau of HA-Sync's integer plan
(:func:`mel_gym.optim.selection.selected_plan`): with n_j the samples it hands out and h_kj what learner k holds
of the job (its data in FL, d_j in PL), the largest t in 1..tau_max with

    sum_{k in S} cap_kj(t) >= min(n_j, sum_{k in S} h_kj),      0 if t = 1 fails or S holds nothing,

cap_kj(t) <= h_kj the whole samples learner k finishes with t iterations within T_j and its energy limit
(:func:`capacity_table`; non-increasing in t). :func:`exact_partition` maximises sum_j v_j G(tau_j) of this tau
exactly by a MILP, checked by :func:`brute_force_exact_partition`. G scores iterations, not samples: a job whose
learners hold fewer than n_j samples runs them all, often at a large tau, and scores as if it trained n_j; with
``partial_jobs=False`` such a job scores 0 (docs/multijob.md §4 measures both). These functions take capacity
(J, K, T) int cap_kj(t) for t = 1..T (T = tau_max), holding (J, K) int h_kj, samples (J,) int n_j, allowed (J, K)
bool and values (J,). All functions take one instance; assignments are (K,) int, -1 idle.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linear_sum_assignment, milp
from scipy.sparse import csr_array

from mel_gym.optim.task_sizing import integer_capacity
from mel_gym.world.costs import CycleCoefficients, EnergyBudget

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


# ---------------------------------------------------------------------------------------------------- the env's rule
def progress_increments(max_local_iterations: int) -> np.ndarray:
    """(T,) G(t) - G(t - 1) for t = 1..T, T = tau_max: what a job's t-th local iteration adds to its progress
    (positive, non-increasing: G is concave and increasing)."""
    return np.diff(progress(np.arange(max_local_iterations + 1, dtype=np.float64), max_local_iterations))


def capacity_table(coeffs: CycleCoefficients, cycle_deadline_s: float, holding: np.ndarray, max_local_iterations: int,
                   energy: EnergyBudget | None = None) -> np.ndarray:
    """(K, T) int64: cap_k(t) for t = 1..T, the whole samples each learner finishes with t local iterations within
    the deadline (s) and its energy limit (J), at most its ``holding`` (K,) int samples: the capacities MultiJob-v0's
    plan compares for one job (:func:`mel_gym.optim.task_sizing.integer_capacity`, with the job's coefficients
    (K,) and energy budget (K,), or None)."""
    holding = np.asarray(holding)
    return np.stack([integer_capacity(coeffs, cycle_deadline_s, t, holding, energy)
                     for t in range(1, max_local_iterations + 1)], axis=-1)


def _check_rule_instance(capacity: np.ndarray, holding: np.ndarray, samples: np.ndarray,
                         max_local_iterations: int) -> None:
    """Raise ValueError unless capacity (J, K, T = tau_max) is non-negative, non-increasing in t and within the
    holdings (J, K), and samples is (J,): the env rule's premises."""
    J, K = holding.shape
    if capacity.shape != (J, K, max_local_iterations) or np.shape(samples) != (J,):
        raise ValueError(f"capacity {capacity.shape}, holding {holding.shape} and samples {np.shape(samples)} must be "
                         f"(J, K, tau_max = {max_local_iterations}), (J, K) and (J,)")
    if np.any(capacity < 0) or np.any(capacity > holding[..., None]) or np.any(np.diff(capacity, axis=-1) > 0):
        raise ValueError("capacity must lie in [0, holding] and not grow with the iterations t")


def env_rule_tau(assignment: np.ndarray, capacity: np.ndarray, holding: np.ndarray, samples: np.ndarray,
                 max_local_iterations: int, *, partial_jobs: bool = True) -> np.ndarray:
    """(J,) int64: the tau MultiJob-v0 gives each job for an assignment (K,) (-1 idle): the largest t in 1..tau_max
    whose capacities of the job's learners cover min(n_j, their holdings), 0 if t = 1 does not or they hold
    nothing. capacity (J, K, tau_max) int cap_kj(t) (non-increasing in t, at most h_kj), holding (J, K) int h_kj,
    samples (J,) int n_j. With ``partial_jobs`` False a job whose learners hold fewer than n_j samples scores 0
    (the env runs it, on all they hold): only jobs that train their n_j samples count."""
    assignment, capacity, holding = np.asarray(assignment), np.asarray(capacity), np.asarray(holding)
    _check_rule_instance(capacity, holding, samples, max_local_iterations)
    J = holding.shape[0]
    tau = np.zeros(J, dtype=np.int64)
    for j in range(J):
        serves = assignment == j
        held = int(holding[j, serves].sum())
        total = min(int(samples[j]), held)
        if total <= 0 or (not partial_jobs and held < samples[j]):
            continue
        covers = capacity[j, serves].sum(axis=0) >= total  # (T,), True on 1..tau_j, then False
        tau[j] = max_local_iterations if covers.all() else int(np.argmin(covers))
    return tau


def env_rule_value(assignment: np.ndarray, capacity: np.ndarray, holding: np.ndarray, samples: np.ndarray,
                   values: np.ndarray, max_local_iterations: int, *, partial_jobs: bool = True) -> float:
    """sum_j v_j G(tau_j) of an assignment (K,) with the env's tau (:func:`env_rule_tau`), values (J,)."""
    tau = env_rule_tau(assignment, capacity, holding, samples, max_local_iterations, partial_jobs=partial_jobs)
    return float(values @ progress(tau.astype(np.float64), max_local_iterations))


def exact_partition(capacity: np.ndarray, holding: np.ndarray, samples: np.ndarray, allowed: np.ndarray,
                    values: np.ndarray, max_local_iterations: int, *, partial_jobs: bool = True,
                    time_limit: float | None = None, node_limit: int | None = None) -> np.ndarray:
    """The assignment (K,) (-1 idle) that maximises :func:`env_rule_value`, by mixed-integer programming (HiGHS).

    capacity (J, K, T = tau_max) int cap_kj(t), holding (J, K) int h_kj, samples (J,) int n_j, allowed (J, K) bool,
    values (J,). Binary variables: x_kj (learner k serves job j; 0 where not allowed), z_jt (tau_j >= t) and u_jt
    (job j reaches t with every learner at its full holding), t = 1..T:

        max  sum_j v_j sum_t (G(t) - G(t - 1)) z_jt
        s.t. sum_j x_kj <= 1                                                      (one job per learner)
             sum_k min(cap_kj(t), n_j) x_kj >= n_j z_jt - (n_j - 1) u_jt          (reach t: cover n_j, or >= 1 sample)
             x_kj + u_jt <= 1   where cap_kj(t) < h_kj                            (full: no learner short of h_kj)
             u_jt <= z_jt,  z_jt <= z_j,t-1,  u_jt <= u_j,t-1;  z_jt = u_jt = 0 where n_j < 1.

    Job j reaches t when its learners' capacities cover min(n_j, H_j), H_j their holdings: as cap <= h, either they
    cover n_j (u = 0) or each is at its full holding, sum cap = H_j, with H_j >= 1 (u = 1; the env runs nothing when
    the learners hold no sample). Both do not grow with t, so z (and the canonical u) are monotone; G's increments
    are positive, so z_jt = 1 exactly up to the env's tau at the optimum. A learner whose removal keeps the value
    (it adds nothing, yet would spend energy) idles afterwards. With ``partial_jobs`` False, u = 0: a job counts
    only where its learners cover n_j (:func:`env_rule_tau`'s option). ``node_limit`` (branch-and-bound nodes, the
    same on every machine) or ``time_limit`` (s, depends on the machine's speed and load): HiGHS stops there with
    the best assignment it has found, not proven optimal (None: solve to optimality).
    """
    capacity, holding = np.asarray(capacity, dtype=np.int64), np.asarray(holding, dtype=np.int64)
    samples, allowed = np.asarray(samples, dtype=np.int64), np.asarray(allowed, dtype=bool)
    _check_rule_instance(capacity, holding, samples, max_local_iterations)
    J, K, T = capacity.shape
    nx, nz = J * K, J * T  # variables: x (J K, index j K + k) | z (J T, index j T + t - 1) | u (J T)
    n = nx + 2 * nz
    c = np.zeros(n)
    c[nx : nx + nz] = -np.outer(values, progress_increments(T)).reshape(-1)
    rows, cols, coefs, lower, upper = [], [], [], [], []

    def constraint(columns, coefficients, low: float, high: float) -> None:
        rows.extend([len(lower)] * len(columns)), cols.extend(columns), coefs.extend(coefficients)
        lower.append(low), upper.append(high)

    x_at = lambda j, k: j * K + k  # noqa: E731
    z_at = lambda j, t: nx + j * T + t  # noqa: E731 - t = 0..T-1 stands for t + 1 iterations
    u_at = lambda j, t: nx + nz + j * T + t  # noqa: E731
    for k in range(K):
        constraint([x_at(j, k) for j in range(J)], [1.0] * J, -np.inf, 1.0)
    for j in range(J):
        ks = np.flatnonzero(allowed[j])
        n_j = float(samples[j])
        for t in range(T):
            constraint([x_at(j, k) for k in ks] + [z_at(j, t), u_at(j, t)],
                       list(np.minimum(capacity[j, ks, t], samples[j]).astype(float)) + [-n_j, n_j - 1.0], 0.0, np.inf)
            for k in ks[capacity[j, ks, t] < holding[j, ks]]:
                constraint([x_at(j, k), u_at(j, t)], [1.0, 1.0], -np.inf, 1.0)
            constraint([z_at(j, t), u_at(j, t)], [1.0, -1.0], 0.0, np.inf)
            if t > 0:
                constraint([z_at(j, t), z_at(j, t - 1)], [1.0, -1.0], -np.inf, 0.0)
                constraint([u_at(j, t), u_at(j, t - 1)], [1.0, -1.0], -np.inf, 0.0)
    matrix = csr_array((coefs, (rows, cols)), shape=(len(lower), n))
    reaches = np.repeat((samples >= 1).astype(float), T)
    full = reaches if partial_jobs else np.zeros(nz)
    bounds = Bounds(np.zeros(n), np.concatenate([allowed.reshape(-1).astype(float), reaches, full]))
    options: dict[str, float] = {"mip_rel_gap": 1e-9}
    options.update({} if time_limit is None else {"time_limit": float(time_limit)})
    options.update({} if node_limit is None else {"node_limit": int(node_limit)})
    result = milp(c, constraints=LinearConstraint(matrix, lower, upper), integrality=np.ones(n), bounds=bounds,
                  options=options)
    if result.x is None:  # pragma: no cover - the all-idle assignment is feasible, and HiGHS tries it first
        raise RuntimeError(f"exact_partition: HiGHS found no solution ({result.message})")
    x = np.round(result.x[:nx]).reshape(J, K) > 0.5
    assignment = np.where(x.any(axis=0), x.argmax(axis=0), -1)
    return _idle_surplus(assignment, lambda a: env_rule_value(a, capacity, holding, samples, values,
                                                              max_local_iterations, partial_jobs=partial_jobs))


def _idle_surplus(assignment: np.ndarray, value) -> np.ndarray:
    """Idle, one by one in learner order, every assigned learner whose removal does not lower ``value`` (a function
    of an assignment (K,)): it adds nothing to the progress and would spend energy."""
    assignment = assignment.copy()
    current = value(assignment)
    for k in np.flatnonzero(assignment >= 0):
        trial = assignment.copy()
        trial[k] = -1
        trial_value = value(trial)
        if trial_value >= current - 1e-12:
            assignment, current = trial, max(current, trial_value)
    return assignment


def brute_force_exact_partition(capacity: np.ndarray, holding: np.ndarray, samples: np.ndarray, allowed: np.ndarray,
                                values: np.ndarray, max_local_iterations: int, *,
                                partial_jobs: bool = True) -> np.ndarray:
    """The assignment (K,) with the largest :func:`env_rule_value` by enumerating all (J + 1)^K of them (small
    instances only: the check of :func:`exact_partition`; ties: the first found). Arguments as
    :func:`exact_partition`'s."""
    J, K = holding.shape
    options = [[-1] + [j for j in range(J) if allowed[j, k]] for k in range(K)]
    best, best_value = np.full(K, -1), -np.inf
    for combo in itertools.product(*options):
        assignment = np.array(combo)
        value = env_rule_value(assignment, capacity, holding, samples, values, max_local_iterations,
                               partial_jobs=partial_jobs)
        if value > best_value + 1e-12:
            best, best_value = assignment, value
    return best
