"""Learner computation: time and energy of local training (MEL_MODEL.md section 4)."""

from __future__ import annotations

import numpy as np


def compute_time_s(iterations: np.ndarray, task_size: np.ndarray, cycles_per_sample: float, cpu_hz: np.ndarray) -> np.ndarray:
    """Seconds of local training: tau * d * C_m / f."""
    return np.asarray(iterations, dtype=np.float64) * task_size * cycles_per_sample / cpu_hz


def compute_energy_j(
    iterations: np.ndarray, task_size: np.ndarray, cycles_per_sample: float, cpu_hz: np.ndarray, kappa: float
) -> np.ndarray:
    """Joules of local training: kappa * f^2 * (tau * d * C_m)."""
    return kappa * np.square(cpu_hz) * (np.asarray(iterations, dtype=np.float64) * task_size * cycles_per_sample)
