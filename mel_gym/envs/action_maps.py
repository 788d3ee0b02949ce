"""Maps from a Box(-1, 1)^K action to task shares on the simplex and integer task sizes, and back.

Share map (``beta`` = scenario ``action_beta``, 3 by default): learner k gets weight exp(beta * a_k) when
-1 < a_k and it is available (battery not empty), and weight 0 when a_k = -1 (the lower bound, so a clipped
Gaussian action can drop a learner) or it is unavailable; shares are the weights normalised to sum 1
(all zero when every weight is zero: nobody takes part). a = 0 is equal allocation. Positive shares can
differ by at most a factor exp(2 beta) (403 for beta = 3).

Task sizes: d_k = share_k * d rounded by largest remainders so that they sum to d exactly, then capped at
the learner's task cap (FL: its local data; samples over a cap are not used).
"""

from __future__ import annotations

import numpy as np

from mel_gym.optim.rounding import apportion

#: The largest action value below -1's "drop" meaning that still gives a positive share.
SMALLEST_POSITIVE_ACTION = float(np.nextafter(np.float32(-1.0), np.float32(0.0)))


def validate_action(action: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Check an action's shape and finiteness; return it as float64 clipped to [-1, 1].

    Raises:
        ValueError: wrong shape, or NaN/inf entries (naming them); the caller's state is untouched.
    """
    a = np.asarray(action, dtype=np.float64)
    if a.shape != shape:
        raise ValueError(f"action has shape {a.shape}, expected {shape}: one value in [-1, 1] per learner")
    bad = ~np.isfinite(a)
    if np.any(bad):
        where = np.argwhere(bad).tolist()
        raise ValueError(f"action holds NaN or inf at index {where}: every entry must be a finite number in [-1, 1]")
    return np.clip(a, -1.0, 1.0)


def shares_from_action(action: np.ndarray, available: np.ndarray, beta: float) -> np.ndarray:
    """Task shares (..., K), float64, summing to 1 (or all 0) along the last axis."""
    weight = np.where((action > -1.0) & available, np.exp(beta * (np.minimum(action, 1.0) - 1.0)), 0.0)
    total = weight.sum(axis=-1, keepdims=True)
    return np.divide(weight, total, out=np.zeros_like(weight), where=total > 0)


def task_sizes_from_action(
    action: np.ndarray, available: np.ndarray, beta: float, samples_per_cycle: int, caps: np.ndarray
) -> np.ndarray:
    """The whole map: action -> shares -> integer task sizes d_k, capped at ``caps``; shape (..., K)."""
    shares = shares_from_action(action, available, beta)
    return np.minimum(apportion(shares, samples_per_cycle), caps)


def action_from_shares(shares: np.ndarray, beta: float) -> np.ndarray:
    """An action (float32) whose share map gives ``shares`` (up to the exp(2 beta) range of positive shares).

    Zero shares map to -1; positive shares below max_share * exp(-2 beta) are raised to that floor.
    """
    shares = np.asarray(shares, dtype=np.float64)
    top = shares.max(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = 1.0 + np.log(shares / top) / beta
    a = np.where(shares > 0, np.clip(a, SMALLEST_POSITIVE_ACTION, 1.0), -1.0)
    return a.astype(np.float32)


def representable(shares: np.ndarray, beta: float) -> np.ndarray:
    """(..., K) bool: positive shares the action map can express exactly (>= max share * exp(-2 beta))."""
    top = np.max(shares, axis=-1, keepdims=True)
    return (shares > 0) & (shares >= top * np.exp(-2.0 * beta) * (1 + 1e-9))


def power_from_action(action: np.ndarray, max_power_w: float, range_db: float) -> np.ndarray:
    """Transmit power in W on a dB scale: a = 1 is P_max, a = -1 is P_max - range_db."""
    return max_power_w * np.power(10.0, (np.clip(action, -1.0, 1.0) - 1.0) / 2.0 * range_db / 10.0)


def action_from_power(power_w: np.ndarray, max_power_w: float, range_db: float) -> np.ndarray:
    """Inverse of :func:`power_from_action` (clipped to [-1, 1])."""
    with np.errstate(divide="ignore"):
        a = 1.0 + 2.0 * 10.0 * np.log10(np.maximum(power_w, 1e-300) / max_power_w) / max(range_db, 1e-12)
    return np.clip(a, -1.0, 1.0).astype(np.float32)


def cpu_from_action(action: np.ndarray, min_cpu_hz: float, max_cpu_hz: np.ndarray) -> np.ndarray:
    """CPU frequency in Hz, linear: a = -1 is f_min, a = 1 the learner's own top frequency."""
    low = np.minimum(min_cpu_hz, max_cpu_hz)
    return low + (np.clip(action, -1.0, 1.0) + 1.0) / 2.0 * (max_cpu_hz - low)


def action_from_cpu(cpu_hz: np.ndarray, min_cpu_hz: float, max_cpu_hz: np.ndarray) -> np.ndarray:
    """Inverse of :func:`cpu_from_action` (clipped to [-1, 1])."""
    low = np.minimum(min_cpu_hz, max_cpu_hz)
    span = np.maximum(max_cpu_hz - low, 1e-9)
    return np.clip(2.0 * (cpu_hz - low) / span - 1.0, -1.0, 1.0).astype(np.float32)
