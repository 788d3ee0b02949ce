"""Learner placement around the orchestrator (at the origin)."""

from __future__ import annotations

import numpy as np


def sample_annulus_positions(rng: np.random.Generator, n: int, min_radius_m: float, max_radius_m: float) -> np.ndarray:
    """``n`` points uniform in area on the annulus min_radius_m <= |p| <= max_radius_m; shape (n, 2), metres."""
    radius = np.sqrt(rng.uniform(min_radius_m**2, max_radius_m**2, size=n))
    angle = rng.uniform(0.0, 2.0 * np.pi, size=n)
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1)
