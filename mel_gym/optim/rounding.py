"""Rounding shares to integer sample counts."""

from __future__ import annotations

import numpy as np


def apportion(shares: np.ndarray, total: int | np.ndarray) -> np.ndarray:
    """Integers (..., K) proportional to ``shares`` that sum to ``total`` (all 0 where all shares are 0).

    ``total`` is one integer or one per row (shape (...)). Largest-remainder (Hamilton) rounding along the last
    axis; ties go to the lower index. A learner with share 0 always gets 0.
    """
    shares = np.asarray(shares, dtype=np.float64)
    total = np.asarray(total, dtype=np.int64)
    raw = shares * total[..., None]
    base = np.floor(raw + 1e-9)  # 1e-9: a share that float noise left just below an integer keeps it
    has_share = shares.sum(axis=-1) > 0
    leftover = np.where(has_share, total - base.sum(axis=-1), 0).astype(np.int64)
    frac = np.where(shares > 0, raw - base, -np.inf)
    order = np.argsort(-frac, axis=-1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(shares.shape[-1]), order.shape).copy(), axis=-1)
    return (base + (rank < leftover[..., None])).astype(np.int64)
