"""Redistributing samples between learners before training, toward less non-IID data (TaskAllocation-v0's
redistribution phase; docs/redistribution.md, docs/model.md §3.3).

Learner k holds n_k(c) samples of class c (N_k in all); the population's label distribution is p(c). Its imbalance is
the earth mover's distance of its labels to the population's, EMD_k = sum_c |n_k(c) / N_k - p(c)| (Zhao et al.,
arXiv 1806.00582). A plan x[k, m, c] >= 0 sends samples of class c from learner k to its m-th D2D neighbour, within

- what k holds of each class, and a cap on what may leave k (privacy / consent): sum_{m,c} x[k, m, c] <= cap_k;
- a time budget per sender: sum_{m,c} x[k, m, c] S_d / r_{k -> m} <= tau_redis (S_d bits per sample).

:func:`min_imbalance_plan` is the min-cost transport that minimises sum_k sum_c |n'_k(c) - N_k p(c)|, the distance
of every learner's new counts n' to the population's shape at its original size (the linear form of the EMD: with
sizes kept, it is sum_k N_k EMD_k), by linear programming (scipy's HiGHS). :func:`shared_pool_plan` is Zhao et al.'s
baseline: every learner sends alpha of its data to everyone, in proportion. :func:`phase_plan` is what the env runs
for its action (each learner's allowance and whether it goes into the shared pool or into the transport plan):
whole samples, within every limit.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import lil_matrix


def emd(counts: np.ndarray) -> np.ndarray:
    """(K,) each learner's EMD_k to the population's label distribution; ``counts`` (K, C) samples (0 where k holds
    nothing)."""
    counts = np.asarray(counts, dtype=np.float64)
    p = counts.sum(axis=0) / counts.sum()
    size = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, size, out=np.zeros_like(counts), where=size > 0)
    return np.where(size[:, 0] > 0, np.abs(share - p).sum(axis=1), 0.0)


def apply_plan(counts: np.ndarray, neighbours: np.ndarray, plan: np.ndarray) -> np.ndarray:
    """(K, C) counts after ``plan`` (K, M, C): each learner loses what it sends and gains what it receives."""
    new = np.asarray(counts, dtype=np.float64) - plan.sum(axis=1)
    for k, row in enumerate(neighbours):
        for m, j in enumerate(row):
            if j >= 0:
                new[j] += plan[k, m]
    return new


def min_imbalance_plan(counts: np.ndarray, neighbours: np.ndarray, rate_bps: np.ndarray, sample_bits: float,
                       budget_s: float, cap: np.ndarray) -> np.ndarray:
    """(K, M, C) samples to send, minimising sum_k sum_c |n'_k(c) - N_k p(c)| within the holdings, the caps (K,)
    and the time budget (module docstring); fractional (a relaxation: round down to apply it)."""
    counts = np.asarray(counts, dtype=np.float64)
    K, C = counts.shape
    M = neighbours.shape[1]
    p = counts.sum(axis=0) / counts.sum()
    target = counts.sum(axis=1, keepdims=True) * p  # N_k p(c)
    links = [(k, m, int(j)) for k in range(K) for m, j in enumerate(neighbours[k]) if j >= 0 and rate_bps[k, m] > 0]
    nx, nt = len(links) * C, K * C  # x per (link, class), t per (learner, class)
    x_index = {(k, m): i for i, (k, m, _) in enumerate(links)}
    cost = np.concatenate([np.zeros(nx), np.ones(nt)])
    rows: list[tuple[dict[int, float], float]] = []
    for k in range(K):  # |n'_k(c) - target| <= t_kc, both ways
        for c in range(C):
            flow: dict[int, float] = {}
            for i, (s, m, j) in enumerate(links):
                if s == k:
                    flow[i * C + c] = flow.get(i * C + c, 0.0) - 1.0
                if j == k:
                    flow[i * C + c] = flow.get(i * C + c, 0.0) + 1.0
            base = counts[k, c] - target[k, c]
            t = nx + k * C + c
            rows.append(({**flow, t: -1.0}, -base))  # n' - target <= t
            rows.append(({**{v: -w for v, w in flow.items()}, t: -1.0}, base))  # target - n' <= t
        sent = {i * C + c: 1.0 for i, (s, _, _) in enumerate(links) if s == k for c in range(C)}
        rows.append((sent, float(cap[k])))
        time = {i * C + c: sample_bits / rate_bps[s, m] for i, (s, m, _) in enumerate(links) if s == k
                for c in range(C)}
        rows.append((time, float(budget_s)))
        for c in range(C):  # no more of a class than k holds
            rows.append(({i * C + c: 1.0 for i, (s, _, _) in enumerate(links) if s == k}, counts[k, c]))
    A = lil_matrix((len(rows), nx + nt))
    b = np.zeros(len(rows))
    for r, (coefs, rhs) in enumerate(rows):
        for v, w in coefs.items():
            A[r, v] = w
        b[r] = rhs
    res = linprog(cost, A_ub=A.tocsr(), b_ub=b, bounds=(0, None), method="highs")
    if res.status != 0:  # pragma: no cover - the empty plan is always feasible
        raise RuntimeError(f"redistribution LP: {res.message}")
    plan = np.zeros((K, M, C))
    for (k, m), i in x_index.items():
        plan[k, m] = res.x[i * C : (i + 1) * C]
    return np.maximum(plan, 0.0)


def shared_pool_plan(counts: np.ndarray, neighbours: np.ndarray, alpha: float) -> np.ndarray:
    """Zhao et al.'s shared pool: every learner sends the fraction ``alpha`` of each class it holds, split equally
    among its neighbours ((K, M, C))."""
    counts = np.asarray(counts, dtype=np.float64)
    K, C = counts.shape
    plan = np.zeros((K, neighbours.shape[1], C))
    for k in range(K):
        valid = neighbours[k] >= 0
        if valid.any():
            plan[k, valid] = alpha * counts[k] / valid.sum()
    return plan


def send_times_s(plan: np.ndarray, rate_bps: np.ndarray, sample_bits: float) -> np.ndarray:
    """(K,) each sender's time, s: sum over its links of the samples it sends x S_d / r (links used one after the
    other; 0 for a learner that sends nothing)."""
    samples = np.asarray(plan, dtype=np.float64).sum(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_link = np.where(samples > 0, samples * sample_bits / rate_bps, 0.0)
    return per_link.sum(axis=1)


def fit_budget(plan: np.ndarray, rate_bps: np.ndarray, sample_bits: float, budget_s: float) -> np.ndarray:
    """``plan`` (K, M, C) with each sender's part scaled down (all its links alike) so that it sends within
    ``budget_s``; links of rate 0 carry nothing."""
    plan = np.where((rate_bps > 0)[..., None], np.asarray(plan, dtype=np.float64), 0.0)
    time = send_times_s(plan, rate_bps, sample_bits)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(time > budget_s, budget_s / time, 1.0)
    return plan * scale[:, None, None]


def whole_samples(plan: np.ndarray) -> np.ndarray:
    """(K, M, C) int: a fractional plan rounded down (never more than it allowed: every limit still holds)."""
    return np.floor(np.asarray(plan, dtype=np.float64) + 1e-9).astype(np.int64)


def phase_plan(counts: np.ndarray, neighbours: np.ndarray, rate_bps: np.ndarray, sample_bits: float, budget_s: float,
               allowed: np.ndarray, pooled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pool, transport), each (K, M, C) int: one phase of the env's redistribution, run in that order. Each learner k
    may send ``allowed[k]`` samples; those with ``pooled[k]`` put them into the shared pool (:func:`shared_pool_plan`'s
    split: every class in proportion to what k holds, equally between its neighbours, scaled to fit ``budget_s``),
    the others offer them to the orchestrator's transport plan (:func:`min_imbalance_plan` on the counts after the
    pool, with caps ``allowed``), which sends only what lowers the imbalance. Whole samples (rounded down)."""
    counts = np.asarray(counts, dtype=np.float64)
    allowed = np.asarray(allowed, dtype=np.float64)
    pooled = np.asarray(pooled, dtype=bool)
    size = counts.sum(axis=1)
    share = np.divide(np.where(pooled, allowed, 0.0), size, out=np.zeros_like(size), where=size > 0)
    pool = whole_samples(fit_budget(shared_pool_plan(counts, neighbours, 1.0) * share[:, None, None], rate_bps,
                                    sample_bits, budget_s))
    transport_cap = np.where(pooled, 0.0, allowed)
    if not np.any(transport_cap >= 1):
        return pool, np.zeros_like(pool)
    after_pool = apply_plan(counts, neighbours, pool)
    transport = whole_samples(min_imbalance_plan(after_pool, neighbours, rate_bps, sample_bits, budget_s,
                                                 transport_cap))
    return pool, transport
