"""The D2D links of an observation (SplitChain-v0's and MultiHop-v0's topology blocks): each learner's M nearest
neighbours within range as (index + 1) / K (0: none, nearest first) and the rate of its link to each as a spectral
efficiency, rate / W_D2D / 10, capped at 5 (50 bit/s/Hz: far above any link)."""

from __future__ import annotations

import numpy as np

from mel_gym.envs.observation import SPECTRAL_EFFICIENCY_SCALE

#: The largest D2D efficiency feature (50 bit/s/Hz: far above any link).
EFFICIENCY_MAX = 5.0


def link_bounds(num_learners: int, neighbours: int) -> tuple[np.ndarray, np.ndarray]:
    """(low, high), each (2 K M,): the neighbour ids in [0, 1], then the efficiencies in [0, 5]."""
    n = num_learners * neighbours
    return np.zeros(2 * n), np.concatenate([np.ones(n), np.full(n, EFFICIENCY_MAX)])


def encode_links(neighbours: np.ndarray, rate_bps: np.ndarray, bandwidth_hz: float) -> np.ndarray:
    """(n, 2 K M) features of ``neighbours`` (n, K, M) int (-1: none) and the links' ``rate_bps`` (n, K, M)."""
    n, K = neighbours.shape[:2]
    ids = np.where(neighbours >= 0, (neighbours + 1) / K, 0.0)
    efficiency = np.minimum(rate_bps / bandwidth_hz / SPECTRAL_EFFICIENCY_SCALE, EFFICIENCY_MAX)
    return np.concatenate([ids.reshape(n, -1), efficiency.reshape(n, -1)], axis=1)


def decode_links(values: np.ndarray, num_learners: int, neighbours: int, bandwidth_hz: float) -> dict[str, np.ndarray]:
    """``neighbours`` (..., K, M) int (-1: none) and ``neighbour_rate_bps`` (..., K, M) from features (..., 2 K M)."""
    K, M = num_learners, neighbours
    lead = values.shape[:-1]
    ids = values[..., : K * M].reshape(*lead, K, M)
    efficiency = values[..., K * M : 2 * K * M].reshape(*lead, K, M)
    return dict(neighbours=np.where(ids > 0, np.rint(ids * K) - 1, -1).astype(np.int64),
                neighbour_rate_bps=efficiency * bandwidth_hz * SPECTRAL_EFFICIENCY_SCALE)
