"""Maps from a Box(-1, 1)^K action to task shares on the simplex and integer task sizes, and back.

Share map (``beta`` = scenario ``action_beta``, 3 by default): learner k gets weight exp(beta * a_k) when
-1 < a_k and it is available (battery not empty), and weight 0 when a_k = -1 (the lower bound, so a clipped
Gaussian action can drop a learner) or it is unavailable; shares are the weights normalised to sum 1
(all zero when every weight is zero: nobody takes part). a = 0 is equal allocation. Positive shares can
differ by at most a factor exp(2 beta) (403 for beta = 3).

Task sizes: every plan processes d samples whenever the available learners can hold them. Shares become
amounts d x share_k; a learner whose amount exceeds its task cap (FL: its local data) is filled to the cap and
the surplus goes to the other chosen learners in proportion to their shares (water-filling), and only if all
chosen learners are full, to the other available learners in proportion to their room. The amounts are
rounded by largest remainders so that they sum to min(d, what the available learners hold) exactly. In PL
the cap is d, so nothing is ever moved.
"""

from __future__ import annotations

from typing import Any

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


def water_fill(weights: np.ndarray, total: np.ndarray | float, caps: np.ndarray) -> np.ndarray:
    """Amounts (..., K) proportional to ``weights`` (>= 0) that sum to ``total`` (or to the caps of the learners
    with weight, if less), none above its cap: learners that would overflow are filled to their cap and the
    rest is shared again among the others. Float amounts; learners with weight 0 get 0."""
    weights = np.asarray(weights, dtype=np.float64)
    caps = np.broadcast_to(np.asarray(caps, dtype=np.float64), weights.shape)
    amount = np.zeros_like(weights)
    open_ = weights > 0
    total = np.broadcast_to(np.asarray(total, dtype=np.float64), weights.shape[:-1])
    for _ in range(weights.shape[-1]):  # each round fills at least one learner or places everything
        left = total - amount.sum(axis=-1)
        w = np.where(open_, weights, 0.0)
        w_sum = w.sum(axis=-1)
        give = np.divide(w * left[..., None], w_sum[..., None], out=np.zeros_like(w), where=w_sum[..., None] > 0)
        overflow = open_ & (amount + give > caps)
        settled = ~overflow.any(axis=-1)
        amount = np.where(settled[..., None], amount + give, np.where(overflow, caps, amount))
        open_ &= ~overflow & ~settled[..., None]
        if settled.all():
            break
    return amount


def task_sizes_from_shares(shares: np.ndarray, available: np.ndarray, samples_per_cycle: int,
                           task_caps: np.ndarray) -> np.ndarray:
    """Integer task sizes (..., K) from shares (see the module docstring): d in proportion to the shares,
    surplus over a cap to the other chosen learners, then to the other available learners, rounded to sum to
    min(d, what the available learners hold)."""
    task_caps = np.where(available, task_caps, 0)
    amount = water_fill(shares, samples_per_cycle, task_caps)
    chosen = shares.sum(axis=-1) > 0
    left = np.where(chosen, samples_per_cycle - amount.sum(axis=-1), 0.0)
    if np.any(left > 1e-9):  # the chosen learners are full: the rest goes to the others with room
        room = np.where(available & (shares == 0), task_caps, 0)
        amount = amount + water_fill(room, left, room)
    total = np.rint(amount.sum(axis=-1)).astype(np.int64)
    fractions = np.divide(amount, total[..., None], out=np.zeros_like(amount), where=total[..., None] > 0)
    sizes = np.minimum(apportion(fractions, total), task_caps).astype(np.int64)
    missing = total - sizes.sum(axis=-1)
    for idx in zip(*np.nonzero(np.atleast_1d(missing) > 0)):  # float noise rounded a full learner up: move it on
        idx = idx if missing.ndim else ()
        room = np.where(amount[idx] > 0, task_caps[idx] - sizes[idx], 0)
        for k in np.argsort(-room, kind="stable")[: int(missing[idx])]:
            sizes[idx + (k,)] += 1
    return sizes


def task_sizes_from_action(
    action: np.ndarray, available: np.ndarray, beta: float, samples_per_cycle: int, task_caps: np.ndarray
) -> np.ndarray:
    """The whole map: action -> shares -> integer task sizes d_k (see the module docstring); shape (..., K)."""
    return task_sizes_from_shares(shares_from_action(action, available, beta), available, samples_per_cycle, task_caps)


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


def vector_from_action(action: np.ndarray, scale: float) -> np.ndarray:
    """A movement (..., 2) from two action values (..., 2) in [-1, 1]: the pair pulled into the unit disc (a pair
    with norm > 1 keeps its direction at norm 1), times ``scale`` (a top speed, m/s, or a reach, m)."""
    a = np.asarray(action, dtype=np.float64)
    norm = np.hypot(a[..., 0], a[..., 1])[..., None]
    return a / np.maximum(norm, 1.0) * scale


def action_from_vector(vector: np.ndarray, scale: float) -> np.ndarray:
    """The action pair (..., 2) of a movement (the inverse of :func:`vector_from_action` for |vector| <= scale);
    zeros when ``scale`` is 0 (nothing can move)."""
    if scale <= 0:
        return np.zeros(np.shape(vector), dtype=np.float32)
    return vector_from_action(np.asarray(vector, dtype=np.float64) / scale, 1.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------------- amount
# How many of the cycle's d samples a plan processes (env parameter ``amount_action``): one action value a in
# [-1, 1] (a Box env's last value; a level l of ``fraction_levels`` in a discrete env, a = -1 + 2 l / (L - 1)) gives
# the fraction f = f_min + (1 - f_min) (a + 1) / 2 (a = -1: f_min = ``min_fraction``; a = 1: all d), and the plan
# hands out n = max(1, round(f d)) samples.


def fraction_from_action(action: np.ndarray | float, min_fraction: float) -> np.ndarray:
    """The fraction f of the cycle's samples (..., float64) for amount values in [-1, 1] (clipped)."""
    a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
    return min_fraction + (1.0 - min_fraction) * (a + 1.0) / 2.0


def action_from_fraction(fraction: np.ndarray | float, min_fraction: float) -> np.ndarray:
    """The amount value (float32, clipped to [-1, 1]) whose fraction is ``fraction`` (the inverse of
    :func:`fraction_from_action` on [min_fraction, 1])."""
    f = np.asarray(fraction, dtype=np.float64)
    return np.clip(2.0 * (f - min_fraction) / max(1.0 - min_fraction, 1e-12) - 1.0, -1.0, 1.0).astype(np.float32)


def effort_from_action(action: np.ndarray | float) -> np.ndarray:
    """The effort u in [0, 1] (float64) for effort values in [-1, 1] (clipped): u = (a + 1) / 2."""
    return fraction_from_action(action, 0.0)


def action_from_effort(effort: np.ndarray | float) -> np.ndarray:
    """The effort value (float32, in [-1, 1]) of an effort u in [0, 1] (the inverse of :func:`effort_from_action`)."""
    return action_from_fraction(effort, 0.0)


def samples_from_fraction(fraction: np.ndarray | float, samples_per_cycle: int) -> np.ndarray:
    """n = max(1, round(f d)) samples to process (int64, shape of ``fraction``)."""
    n = np.rint(np.asarray(fraction, dtype=np.float64) * samples_per_cycle)
    return np.clip(n, 1, samples_per_cycle).astype(np.int64)


def level_from_fraction(fraction: np.ndarray | float, min_fraction: float, levels: int) -> np.ndarray:
    """The level (int64) of a discrete amount whose fraction is closest to ``fraction``."""
    a = action_from_fraction(fraction, min_fraction).astype(np.float64)
    return np.rint((a + 1.0) / 2.0 * (levels - 1)).astype(np.int64)


def action_from_level(level: np.ndarray | int, levels: int) -> np.ndarray:
    """The amount value in [-1, 1] of a discrete level (0 .. levels - 1)."""
    return -1.0 + 2.0 * np.asarray(level, dtype=np.float64) / (levels - 1)


def first_bad_integer(numeric: np.ndarray, original: np.ndarray, top: np.ndarray, n_envs: int
                      ) -> tuple[list[int], Any, int] | None:
    """The first entry of a batch of discrete actions (n_envs, n) that is not an integer in [0, top[entry]]: (its index
    as an error message should name it: within the single env's action when n_envs is 1, its value as given, its
    entry in the action), or None when every entry is allowed."""
    bad = ~np.isfinite(numeric) | (numeric != np.round(numeric)) | (numeric < 0) | (numeric > top)
    if not np.any(bad):
        return None
    where = np.argwhere(bad)[0].tolist()
    value = original[tuple(where)].item()
    return (where[1:] if n_envs == 1 else where), value, where[1]
