"""The world's formulas against hand calculations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mel_gym.config import load_scenario
from mel_gym.world.compute import compute_energy_j, compute_time_s
from mel_gym.world.placement import sample_annulus_positions
from mel_gym.world.radio import (
    channel_power_gain,
    dbm_to_watt,
    path_loss_db_3gpp,
    path_loss_db_power_law,
    shannon_rate_bps,
    watt_to_dbm,
)
from mel_gym.world.state import World
from mel_gym.world.timing import CycleCoefficients, max_sync_iterations


def test_unit_conversions():
    assert dbm_to_watt(23.0) == pytest.approx(0.19953, rel=1e-4)
    assert dbm_to_watt(30.0) == pytest.approx(1.0)
    assert watt_to_dbm(0.001) == pytest.approx(0.0)
    assert dbm_to_watt(-174.0) == pytest.approx(3.981e-21, rel=1e-3)  # N0 in W/Hz


def test_path_loss_3gpp_matches_hand_values():
    # 128.1 + 37.6 log10(d_km): 50 m -> 79.18 dB, 500 m -> 116.78 dB, 1 km -> 128.1 dB (MEL_MODEL.md table)
    assert path_loss_db_3gpp(np.array([50.0, 500.0, 1000.0])) == pytest.approx([79.18, 116.78, 128.1], abs=0.01)
    # power law: g0 = -40 dB at 1 m, exponent 4 -> at 10 m the loss is 40 + 40 = 80 dB
    assert path_loss_db_power_law(np.array([10.0]), -40.0, 4.0) == pytest.approx([80.0])


def test_shannon_rate_hand_calculation():
    # MEL_MODEL.md worked example: 5 MHz, 23 dBm, 3GPP at 50 m, no shadowing/fading -> ~84 Mbit/s
    gain = channel_power_gain(path_loss_db_3gpp(np.array([50.0])), np.zeros(1), np.ones(1))
    rate = shannon_rate_bps(5e6, dbm_to_watt(23.0), gain, dbm_to_watt(-174.0))
    snr = dbm_to_watt(23.0) * 10 ** (-79.18 / 10) / (dbm_to_watt(-174.0) * 5e6)
    assert rate[0] == pytest.approx(5e6 * math.log2(1 + snr), rel=1e-3)
    assert rate[0] / 1e6 == pytest.approx(84.3, abs=0.5)
    # shadowing of +3 dB doubles the received power; zero bandwidth gives zero rate
    g2 = channel_power_gain(np.array([100.0]), np.array([3.0]), np.array([1.0]))
    assert g2[0] == pytest.approx(10 ** (-97 / 10))
    assert shannon_rate_bps(np.array([0.0]), 0.2, np.array([1e-9]), 1e-20)[0] == 0.0


def test_compute_time_and_energy():
    # tau=5 iterations of 100 samples at 8e4 cycles/sample on 1 GHz: 5*100*8e4/1e9 = 0.04 s
    assert compute_time_s(5, 100, 8e4, 1e9) == pytest.approx(0.04)
    # energy kappa f^2 cycles: 1e-28 * (1e9)^2 * 4e7 = 4e-3 J
    assert compute_energy_j(5, 100, 8e4, 1e9, 1e-28) == pytest.approx(4e-3)


def test_cycle_coefficients_and_max_tau():
    rate = np.array([[1e6, 2e6]])
    cpu = np.array([[1e9, 2e9]])
    c = CycleCoefficients.from_physics(rate, rate, cpu, model_bits=1e4, sample_bits=100.0, cycles_per_sample=1e5,
                                       sends_data=True)
    assert c.c0 == pytest.approx(np.array([[0.02, 0.01]]))  # 2 S_m / R
    assert c.c1 == pytest.approx(np.array([[1e-4, 5e-5]]))  # S_d / R
    assert c.c2 == pytest.approx(np.array([[1e-4, 5e-5]]))  # C_m / f
    d = np.array([[100, 200]])
    # learner 0: (0.1 - 0.02 - 0.01) / (1e-4 * 100) = 7; learner 1: (0.1 - 0.01 - 0.01) / (5e-5 * 200) = 8
    assert max_sync_iterations(c, d, 0.1, cap=40) == [7]
    assert c.time_s(7, d) == pytest.approx(np.array([[0.1, 0.09]]))
    assert max_sync_iterations(c, d, 0.1, cap=5) == [5]
    assert max_sync_iterations(c, np.array([[0, 200]]), 0.1, cap=40) == [8]  # idle learners do not bind
    assert max_sync_iterations(c, np.array([[1000, 0]]), 0.1, cap=40) == [0]  # cannot even send its data
    fl = CycleCoefficients.from_physics(rate, rate, cpu, 1e4, 100.0, 1e5, sends_data=False)
    assert np.all(fl.c1 == 0)


def test_placement_stays_in_annulus_and_is_uniform_in_area():
    rng = np.random.default_rng(0)
    pos = sample_annulus_positions(rng, 20000, 20.0, 300.0)
    r = np.linalg.norm(pos, axis=1)
    assert r.min() >= 20.0 and r.max() <= 300.0
    # uniform in area: P(r <= rho) = (rho^2 - a^2) / (b^2 - a^2)
    rho = 200.0
    assert np.mean(r <= rho) == pytest.approx((rho**2 - 20**2) / (300**2 - 20**2), abs=0.01)


def test_world_draws_are_per_env_and_reproducible():
    s = load_scenario("default", {"energy": {"battery_min_j": 1.0, "battery_max_j": 2.0}})
    world = World(s, n_envs=3)
    world.reset([0, 1, 2], [np.random.default_rng(7), np.random.default_rng(8), np.random.default_rng(7)])
    st = world.state
    assert np.array_equal(st.position_m[0], st.position_m[2]) and not np.array_equal(st.position_m[0], st.position_m[1])
    assert set(np.unique(st.cpu_hz)) <= set(s.compute.cpu_freqs_hz)
    assert np.all((st.battery_capacity_j >= 1.0) & (st.battery_capacity_j <= 2.0))
    assert np.allclose(st.path_loss_db, path_loss_db_3gpp(st.distance_m))
    # Rayleigh block fading: |h|^2 ~ Exp(1), redrawn every cycle
    before = st.fading_power.copy()
    world.advance([np.random.default_rng(i) for i in range(3)])
    assert not np.array_equal(before, st.fading_power) and np.all(st.cycle == 1)
    many = np.random.default_rng(1)
    draws = np.concatenate([world._draw_fading(many) for _ in range(2000)])
    assert draws.mean() == pytest.approx(1.0, abs=0.03)


def test_batteries_drain_and_deplete():
    s = load_scenario("default", {"energy": {"battery_min_j": 1.0, "battery_max_j": 1.0}})
    world = World(s, n_envs=1)
    world.reset([0], [np.random.default_rng(0)])
    energy = np.zeros((1, 10))
    energy[0, 0], energy[0, 1] = 0.4, 1.5
    depleted = world.drain(energy)
    assert depleted[0].tolist() == [False, True] + [False] * 8
    assert world.state.battery_j[0, 0] == pytest.approx(0.6) and world.state.battery_j[0, 1] == 0.0
    assert world.state.alive[0].tolist() == [True, False] + [True] * 8
