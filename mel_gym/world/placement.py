"""Learner placement at reset, around the origin (the orchestrator's default position)."""

from __future__ import annotations

import numpy as np


def sample_annulus_positions(rng: np.random.Generator, n: int, min_radius_m: float, max_radius_m: float) -> np.ndarray:
    """``n`` points uniform in area on the annulus min_radius_m <= |p| <= max_radius_m; shape (n, 2), metres."""
    radius = np.sqrt(rng.uniform(min_radius_m**2, max_radius_m**2, size=n))
    angle = rng.uniform(0.0, 2.0 * np.pi, size=n)
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1)


def sample_cluster_positions(rng: np.random.Generator, n: int, clusters: int, cluster_radius_m: float,
                             max_radius_m: float) -> np.ndarray:
    """``n`` points in ``clusters`` discs of radius ``cluster_radius_m`` (point k in disc k mod clusters), uniform
    in area within each; the discs' centres lie max_radius_m - cluster_radius_m from the origin at equally spaced
    angles with a random rotation. Shape (n, 2), metres."""
    rotation = rng.uniform(0.0, 2.0 * np.pi)
    angle = rotation + 2.0 * np.pi * np.arange(clusters) / clusters
    centre_radius = max_radius_m - cluster_radius_m
    centres = centre_radius * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    return centres[np.arange(n) % clusters] + sample_annulus_positions(rng, n, 0.0, cluster_radius_m)


def sample_learner_positions(rng: np.random.Generator, n: int, placement) -> np.ndarray:
    """Positions (n, 2) of ``n`` learners by a :class:`mel_gym.config.PlacementConfig`: the annulus, or clusters."""
    if placement.clusters:
        return sample_cluster_positions(rng, n, placement.clusters, placement.cluster_radius_m,
                                        placement.max_distance_m)
    return sample_annulus_positions(rng, n, placement.min_distance_m, placement.max_distance_m)
