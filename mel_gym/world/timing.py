"""Per-learner cycle time in MEL, in the compact form t_k = C2_k tau d_k + C1_k d_k + C0_k (MEL_MODEL.md §1).

C2_k = C_m / f_k (s per sample per iteration), C1_k = S_d / R_k in PL and 0 in FL (s per sample sent),
C0_k = S_m / R_k^down + S_m / R_k^up (s to exchange the model). Arrays are (n_envs, K) or any broadcastable shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CycleCoefficients:
    """C0 (s), C1 (s/sample) and C2 (s/sample/iteration) per learner; shapes (..., K)."""

    c0: np.ndarray
    c1: np.ndarray
    c2: np.ndarray

    @classmethod
    def from_physics(
        cls,
        rate_down_bps: np.ndarray,
        rate_up_bps: np.ndarray,
        cpu_hz: np.ndarray,
        model_bits: float,
        sample_bits: float,
        cycles_per_sample: float,
        sends_data: bool,
    ) -> "CycleCoefficients":
        """Coefficients from rates (bit/s), CPU (Hz), model and sample sizes (bits) and C_m (cycles)."""
        with np.errstate(divide="ignore"):
            inv_down = np.where(rate_down_bps > 0, 1.0 / np.maximum(rate_down_bps, 1e-300), np.inf)
            inv_up = np.where(rate_up_bps > 0, 1.0 / np.maximum(rate_up_bps, 1e-300), np.inf)
        c0 = model_bits * (inv_down + inv_up)
        c1 = sample_bits * inv_down if sends_data else np.zeros_like(c0)
        c2 = cycles_per_sample / np.asarray(cpu_hz, dtype=np.float64)
        return cls(c0=c0, c1=c1, c2=np.broadcast_to(c2, c0.shape).copy())

    def time_s(self, iterations: np.ndarray, task_size: np.ndarray) -> np.ndarray:
        """t_k for ``iterations`` (tau) and ``task_size`` (d_k); a learner with d_k = 0 takes 0 s."""
        d = np.asarray(task_size, dtype=np.float64)
        t = self.c2 * iterations * d + self.c1 * d + self.c0
        return np.where(d > 0, t, 0.0)


#: Relative slack on the deadline so that float rounding never turns an exact fit into a miss.
DEADLINE_RTOL = 1e-9


def max_iterations(
    coeffs: CycleCoefficients,
    task_size: np.ndarray,
    deadline_s: float,
    cap: int,
    energy_per_iteration: np.ndarray | None = None,
    energy_fixed: np.ndarray | None = None,
    energy_limit: np.ndarray | None = None,
) -> np.ndarray:
    """Largest tau_k (0..cap) each learner with d_k > 0 can run; shape (..., K), int.

    Deadline: tau_k <= (T - C0_k - C1_k d_k) / (C2_k d_k). Energy, when ``energy_limit`` is given:
    ``energy_fixed`` + tau_k ``energy_per_iteration`` <= ``energy_limit`` (J). A learner that cannot even
    exchange its model and data in time, or whose fixed energy exceeds its limit, gets -1; a learner without
    a task gets ``cap``.
    """
    d = np.asarray(task_size, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):  # a learner without task or bandwidth: inf x 0
        budget = deadline_s * (1.0 + DEADLINE_RTOL) - coeffs.c0 - coeffs.c1 * d
        tau = np.floor(budget / (coeffs.c2 * np.maximum(d, 1.0)))
        infeasible = budget < 0
        if energy_limit is not None:
            e_budget = energy_limit * (1.0 + DEADLINE_RTOL) - energy_fixed
            tau_e = np.where(energy_per_iteration > 0, np.floor(e_budget / energy_per_iteration), np.inf)
            tau = np.minimum(tau, tau_e)
            infeasible |= e_budget < 0
    tau = np.clip(np.nan_to_num(tau, nan=-1.0, posinf=cap), 0, cap)
    tau = np.where(infeasible, -1, tau)
    return np.where(d > 0, tau, cap).astype(np.int64)


def max_sync_iterations(
    coeffs: CycleCoefficients, task_size: np.ndarray, deadline_s: float, cap: int, **energy: np.ndarray
) -> np.ndarray:
    """Largest common tau (0..cap) such that every learner with d_k > 0 meets the deadline (and its energy
    limit, with the keywords of :func:`max_iterations`); shape (...,). 0 if any participant cannot even
    exchange its model and data in time; ``cap`` if nobody takes part."""
    per_learner = max_iterations(coeffs, task_size, deadline_s, cap, **energy)
    return np.maximum(per_learner.min(axis=-1), 0).astype(np.int64)
