"""Data redistribution (groundwork): EMD by hand, the min-imbalance transport within holdings, caps and the time
budget, and that it lowers the imbalance where links allow (against the shared pool and no redistribution)."""

from __future__ import annotations

import numpy as np
import pytest

from mel_gym.optim.redistribution import apply_plan, emd, min_imbalance_plan, shared_pool_plan


def test_emd_by_hand():
    counts = np.array([[10, 0], [0, 10], [5, 5]])  # population p = (0.5, 0.5)
    assert emd(counts).tolist() == [1.0, 1.0, 0.0]  # |1 - 0.5| + |0 - 0.5| = 1


def test_the_plan_keeps_every_limit_and_lowers_the_imbalance():
    rng = np.random.default_rng(0)
    K, C = 6, 4
    counts = np.zeros((K, C))
    for k in range(K):  # two classes per learner: strongly non-IID
        counts[k, rng.choice(C, 2, replace=False)] = rng.integers(20, 60, 2)
    neighbours = np.array([[j for j in range(K) if j != k] for k in range(K)])
    rate = rng.uniform(1e4, 1e5, size=(K, K - 1))
    bits, budget, cap = 1000.0, 0.5, np.full(K, 15.0)
    plan = min_imbalance_plan(counts, neighbours, rate, bits, budget, cap)
    assert np.all(plan >= 0)
    assert np.all(plan.sum(axis=1) <= counts + 1e-6)  # never more of a class than the sender holds
    assert np.all(plan.sum(axis=(1, 2)) <= cap + 1e-6)
    assert np.all((plan.sum(axis=2) * bits / rate).sum(axis=1) <= budget + 1e-9)
    after = apply_plan(counts, neighbours, plan)
    assert after.sum() == pytest.approx(counts.sum())  # nothing lost
    target = counts.sum(axis=1, keepdims=True) * counts.sum(axis=0) / counts.sum()
    deviation = lambda n: np.abs(n - target).sum()  # noqa: E731 - the LP's objective
    assert deviation(after) < deviation(counts)
    for alpha in (0.02, 0.05, 0.1):  # the shared pool, wherever it keeps the same limits, is no better than the LP
        pool = shared_pool_plan(counts, neighbours, alpha)
        feasible = (np.all(pool.sum(axis=(1, 2)) <= cap)
                    and np.all((pool.sum(axis=2) * bits / rate).sum(axis=1) <= budget))
        if feasible:
            assert deviation(after) <= deviation(apply_plan(counts, neighbours, pool)) + 1e-6
    # no budget: nothing moves
    assert min_imbalance_plan(counts, neighbours, rate, bits, 0.0, cap).sum() == pytest.approx(0.0, abs=1e-9)
