"""Wireless link physics: unit conversions, path loss, shadowing, fading and Shannon rates.

All functions are elementwise on numpy arrays of any shape (usually (n_envs, K)).
Formulas and sources: docs/model.md §3 (3GPP urban macro path loss 128.1 + 37.6 log10(d_km) at 2 GHz, free-space
loss as its floor, 8 dB log-normal shadowing, Rayleigh block fading, N0 = -174 dBm/Hz).
"""

from __future__ import annotations

import numpy as np


def dbm_to_watt(dbm: np.ndarray | float) -> np.ndarray:
    """Power in watts from dBm: P_W = 10^((P_dBm - 30) / 10)."""
    return np.power(10.0, (np.asarray(dbm, dtype=np.float64) - 30.0) / 10.0)


def watt_to_dbm(watt: np.ndarray | float) -> np.ndarray:
    """Power in dBm from watts (the inverse of :func:`dbm_to_watt`)."""
    return 10.0 * np.log10(np.asarray(watt, dtype=np.float64)) + 30.0


def db_to_linear(db: np.ndarray | float) -> np.ndarray:
    return np.power(10.0, np.asarray(db, dtype=np.float64) / 10.0)


#: The shortest distance the path-loss models are evaluated at, m.
MIN_DISTANCE_M = 1.0
#: Speed of light, m/s.
SPEED_OF_LIGHT_M_PER_S = 299_792_458.0


def free_space_path_loss_db(distance_m: np.ndarray, carrier_hz: float) -> np.ndarray:
    """Friis free-space loss in dB: 20 log10(4 pi d f_c / c)."""
    return 20.0 * np.log10(4.0 * np.pi * np.asarray(distance_m, dtype=np.float64) * carrier_hz / SPEED_OF_LIGHT_M_PER_S)


def path_loss_db(distance_m: np.ndarray, model: str, carrier_hz: float, gain_at_1m_db: float = -40.0,
                 exponent: float = 3.0) -> np.ndarray:
    """Large-scale path loss in dB of ``model`` ("3gpp" or "power-law"), never below free-space loss at
    ``carrier_hz``: the empirical models are fitted far from the antenna and undershoot Friis close to it (the
    3GPP model below about 21 m at 2 GHz). Distances under :data:`MIN_DISTANCE_M` count as that (the far-field
    models say nothing closer)."""
    distance_m = np.maximum(np.asarray(distance_m, dtype=np.float64), MIN_DISTANCE_M)
    if model == "3gpp":
        empirical = path_loss_db_3gpp(distance_m)
    elif model == "power-law":
        empirical = path_loss_db_power_law(distance_m, gain_at_1m_db, exponent)
    else:
        raise ValueError(f"path loss model {model!r}: choose 3gpp or power-law")
    return np.maximum(empirical, free_space_path_loss_db(distance_m, carrier_hz))


def path_loss_db_3gpp(distance_m: np.ndarray) -> np.ndarray:
    """3GPP urban path loss in dB: 128.1 + 37.6 log10(d / 1 km)."""
    return 128.1 + 37.6 * np.log10(np.asarray(distance_m, dtype=np.float64) / 1000.0)


def path_loss_db_power_law(distance_m: np.ndarray, gain_at_1m_db: float, exponent: float) -> np.ndarray:
    """Power-law path loss in dB: gain g0 at 1 m (negative dB) and h = g0 * d^-exponent."""
    return -gain_at_1m_db + 10.0 * exponent * np.log10(np.asarray(distance_m, dtype=np.float64))


def channel_power_gain(path_loss_db: np.ndarray, shadowing_db: np.ndarray, fading_power: np.ndarray) -> np.ndarray:
    """Linear channel power gain: 10^(-(PL_dB - X_shadow_dB)/10) * |h|^2 (dimensionless)."""
    return db_to_linear(-(path_loss_db - shadowing_db)) * fading_power


def shannon_rate_bps(
    bandwidth_hz: np.ndarray, tx_power_w: np.ndarray, gain: np.ndarray, noise_psd_w_per_hz: float
) -> np.ndarray:
    """Shannon rate in bit/s: R = W log2(1 + P g / (N0 W)); zero where W or P is zero."""
    bandwidth_hz = np.asarray(bandwidth_hz, dtype=np.float64)
    noise_w = noise_psd_w_per_hz * bandwidth_hz
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(noise_w > 0, tx_power_w * gain / noise_w, 0.0)
    return bandwidth_hz * np.log2(1.0 + snr)


def link_rates_bps(bandwidth_hz: np.ndarray | float, uplink_power_w: np.ndarray | float, orchestrator_power_w: float,
                   gain: np.ndarray, noise_psd_w_per_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """(downlink, uplink) rates in bit/s of each learner's link on its band: the downlink at the orchestrator's
    power, the uplink at the learner's, both over the same gain (docs/model.md §3)."""
    return (shannon_rate_bps(bandwidth_hz, orchestrator_power_w, gain, noise_psd_w_per_hz),
            shannon_rate_bps(bandwidth_hz, uplink_power_w, gain, noise_psd_w_per_hz))
