"""Aerial links and flight: the air-to-ground path loss of a drone orchestrator and its propulsion power.

Formulas, units and sources (docs/drone.md):

- Line-of-sight probability of an air-to-ground link (Al-Hourani, Kandeepan, Lardner, IEEE Wireless Commun.
  Lett. 2014), theta the elevation angle in degrees seen from the ground learner:
  P_LoS(theta) = 1 / (1 + a exp(-b (theta - a))), with (a, b) per environment (:data:`AIR_TO_GROUND`).
- Mean air-to-ground path loss (same source): PL = FSPL(d) + P_LoS eta_LoS + (1 - P_LoS) eta_NLoS dB, d the 3-D
  distance, FSPL = 20 log10(4 pi d f_c / c), eta the mean excess losses of LoS and NLoS links.
- Rotary-wing propulsion power at level flight speed V (Zeng, Xu, Zhang, IEEE Trans. Wireless Commun. 2019, eq. 12):
  P(V) = P0 (1 + 3 V^2 / U_tip^2) + Pi (sqrt(1 + V^4 / (4 v0^4)) - V^2 / (2 v0^2))^(1/2) + 0.5 d0 rho s A V^3, W;
  the paper's parameters give about 168.5 W hovering and 126 W at 10 m/s (:class:`Rotorcraft`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mel_gym.world.radio import MIN_DISTANCE_M, free_space_path_loss_db


@dataclass(frozen=True)
class AirToGroundEnvironment:
    """Al-Hourani et al.'s fitted constants of one environment: P_LoS's a and b, excess losses in dB."""

    a: float
    b: float
    eta_los_db: float
    eta_nlos_db: float


#: The four environments of Al-Hourani et al. (2014), Table I (f_c = 2 GHz fits).
AIR_TO_GROUND = {
    "suburban": AirToGroundEnvironment(4.88, 0.43, 0.1, 21.0),
    "urban": AirToGroundEnvironment(9.61, 0.16, 1.0, 20.0),
    "dense-urban": AirToGroundEnvironment(12.08, 0.11, 1.6, 23.0),
    "high-rise-urban": AirToGroundEnvironment(27.23, 0.08, 2.3, 34.0),
}


def elevation_deg(ground_distance_m: np.ndarray, height_m: np.ndarray | float) -> np.ndarray:
    """Elevation angle of the drone seen from the ground, degrees: atan(H / r) (90 straight below)."""
    return np.degrees(np.arctan2(np.asarray(height_m, dtype=np.float64), np.asarray(ground_distance_m, dtype=np.float64)))


def los_probability(elevation: np.ndarray, environment: str) -> np.ndarray:
    """P_LoS(theta) = 1 / (1 + a exp(-b (theta - a))), theta in degrees (Al-Hourani et al. 2014)."""
    e = AIR_TO_GROUND[environment]
    return 1.0 / (1.0 + e.a * np.exp(-e.b * (np.asarray(elevation, dtype=np.float64) - e.a)))


def air_to_ground_path_loss_db(ground_distance_m: np.ndarray, height_m: np.ndarray | float, carrier_hz: float,
                               environment: str) -> np.ndarray:
    """Mean path loss in dB: FSPL(3-D distance) + P_LoS eta_LoS + (1 - P_LoS) eta_NLoS."""
    ground = np.asarray(ground_distance_m, dtype=np.float64)
    distance = np.maximum(np.hypot(ground, height_m), MIN_DISTANCE_M)
    p_los = los_probability(elevation_deg(ground, height_m), environment)
    e = AIR_TO_GROUND[environment]
    return free_space_path_loss_db(distance, carrier_hz) + p_los * e.eta_los_db + (1.0 - p_los) * e.eta_nlos_db


@dataclass(frozen=True)
class Rotorcraft:
    """Rotary-wing propulsion model (Zeng, Xu, Zhang 2019); defaults are the paper's parameters.

    ``blade_profile_power_w`` P0 = (delta / 8) rho s A Omega^3 R^3 and ``induced_power_w`` Pi = (1 + k) W^1.5 /
    sqrt(2 rho A) (79.86 W and 88.63 W for W = 20 N, R = 0.4 m, Omega = 300 rad/s, delta = 0.012, k = 0.1).
    """

    blade_profile_power_w: float = 79.86  # P0
    induced_power_w: float = 88.63  # Pi
    tip_speed_mps: float = 120.0  # U_tip
    mean_induced_velocity_mps: float = 4.03  # v0, in hover
    fuselage_drag_ratio: float = 0.6  # d0
    air_density_kg_m3: float = 1.225  # rho
    rotor_solidity: float = 0.05  # s
    rotor_disc_area_m2: float = 0.503  # A

    @classmethod
    def from_config(cls, drone) -> "Rotorcraft":
        """From a :class:`mel_gym.config.DroneConfig`."""
        return cls(drone.blade_profile_power_w, drone.induced_power_w, drone.tip_speed_mps,
                   drone.mean_induced_velocity_mps, drone.fuselage_drag_ratio, drone.air_density_kg_m3,
                   drone.rotor_solidity, drone.rotor_disc_area_m2)

    def power_w(self, speed_mps: np.ndarray | float) -> np.ndarray:
        """Propulsion power P(V) in W at level flight speed V (m/s, >= 0)."""
        v = np.asarray(speed_mps, dtype=np.float64)
        v0 = self.mean_induced_velocity_mps
        blade = self.blade_profile_power_w * (1.0 + 3.0 * v**2 / self.tip_speed_mps**2)
        induced = self.induced_power_w * np.sqrt(np.sqrt(1.0 + v**4 / (4.0 * v0**4)) - v**2 / (2.0 * v0**2))
        parasite = 0.5 * self.fuselage_drag_ratio * self.air_density_kg_m3 * self.rotor_solidity \
            * self.rotor_disc_area_m2 * v**3
        return blade + induced + parasite

    @property
    def hover_power_w(self) -> float:
        """P(0) = P0 + Pi, W."""
        return float(self.power_w(0.0))
