"""Geometry of a cycle: where learners are relative to their orchestrator, and the path loss that follows.

One place for the scenario's large-scale path loss as a function of the geometry (:class:`PathLossModel`): the
world charges it and the baselines plan with it (a drone planner asks what the links would be elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mel_gym.world.aerial import air_to_ground_path_loss_db
from mel_gym.world.radio import path_loss_db


@dataclass(frozen=True)
class PathLossModel:
    """A scenario's path loss (``channel.path_loss_model``) as a function of ground distance and antenna height."""

    model: str  # "3gpp", "power-law" or "air-to-ground"
    carrier_hz: float
    gain_at_1m_db: float = -40.0  # power-law g0
    exponent: float = 3.0  # power-law exponent
    environment: str = "urban"  # air-to-ground environment

    @classmethod
    def from_channel(cls, channel) -> "PathLossModel":
        """From a :class:`mel_gym.config.ChannelConfig`."""
        return cls(channel.path_loss_model, channel.carrier_hz, channel.power_law_gain_db, channel.power_law_exponent,
                   channel.air_to_ground_environment)

    def db(self, position_m: np.ndarray, orchestrator_m: np.ndarray) -> np.ndarray:
        """(..., K) path loss in dB of learners at ``position_m`` (..., K, 2) to orchestrators at ``orchestrator_m``
        (..., 3: x, y, antenna height; m)."""
        if self.model == "air-to-ground":
            height = np.asarray(orchestrator_m, dtype=np.float64)[..., None, 2]
            return air_to_ground_path_loss_db(ground_distance_m(position_m, orchestrator_m), height, self.carrier_hz,
                                              self.environment)
        return path_loss_db(distance_m(position_m, orchestrator_m), self.model, self.carrier_hz, self.gain_at_1m_db,
                            self.exponent)


def ground_offset_m(position_m: np.ndarray, orchestrator_m: np.ndarray) -> np.ndarray:
    """(..., K, 2) each learner's offset on the ground from the point below its orchestrator (..., 2 or 3), m."""
    return np.asarray(position_m, dtype=np.float64) - np.asarray(orchestrator_m, dtype=np.float64)[..., None, :2]


def distance_m(position_m: np.ndarray, orchestrator_m: np.ndarray) -> np.ndarray:
    """(..., K) 3-D distance from learners at ``position_m`` (..., K, 2) to antennas at ``orchestrator_m`` (..., 3), m."""
    ground = ground_offset_m(position_m, orchestrator_m)
    return np.sqrt(np.sum(ground**2, axis=-1) + np.asarray(orchestrator_m, dtype=np.float64)[..., None, 2] ** 2)


def ground_distance_m(position_m: np.ndarray, orchestrator_m: np.ndarray) -> np.ndarray:
    """(..., K) ground distance from learners at ``position_m`` (..., K, 2) to the point below orchestrators at
    ``orchestrator_m`` (..., 2 or 3), m."""
    ground = ground_offset_m(position_m, orchestrator_m)
    return np.hypot(ground[..., 0], ground[..., 1])


def clip_to_disc(point_m: np.ndarray, radius_m: float) -> np.ndarray:
    """Points (..., 2) pulled radially onto the disc of ``radius_m`` around the origin where they lie outside it."""
    point_m = np.asarray(point_m, dtype=np.float64)
    norm = np.hypot(point_m[..., 0], point_m[..., 1])[..., None]
    return np.where(norm > radius_m, point_m * radius_m / np.maximum(norm, 1e-300), point_m)
