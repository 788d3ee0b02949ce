"""The world's formulas against hand calculations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mel_gym.config import load_scenario
from mel_gym.world.costs import CostModel, feasible_sync_iterations
from mel_gym.world.placement import sample_annulus_positions
from mel_gym.world.radio import (
    channel_power_gain,
    dbm_to_watt,
    free_space_path_loss_db,
    path_loss_db,
    path_loss_db_3gpp,
    path_loss_db_power_law,
    shannon_rate_bps,
    watt_to_dbm,
)
from mel_gym.world.state import World

#: S_m = 1e4 bit, S_d = 100 bit, C_m = 1e5 cycles, kappa = 1e-28, T = 0.1 s, PL
COST = CostModel(model_bits=1e4, sample_bits=100.0, sends_data=True, cycles_per_sample=1e5, kappa=1e-28,
                 cycle_deadline_s=0.1)


def test_unit_conversions():
    assert dbm_to_watt(23.0) == pytest.approx(0.19953, rel=1e-4)
    assert dbm_to_watt(30.0) == pytest.approx(1.0)
    assert watt_to_dbm(0.001) == pytest.approx(0.0)
    assert dbm_to_watt(-174.0) == pytest.approx(3.981e-21, rel=1e-3)  # N0 in W/Hz


def test_path_loss_3gpp_matches_hand_values():
    # 128.1 + 37.6 log10(d_km): 50 m -> 79.18 dB, 500 m -> 116.78 dB, 1 km -> 128.1 dB (docs/model.md §3)
    assert path_loss_db_3gpp(np.array([50.0, 500.0, 1000.0])) == pytest.approx([79.18, 116.78, 128.1], abs=0.01)
    # power law: g0 = -40 dB at 1 m, exponent 4 -> at 10 m the loss is 40 + 40 = 80 dB
    assert path_loss_db_power_law(np.array([10.0]), -40.0, 4.0) == pytest.approx([80.0])


def test_free_space_loss_is_the_floor_of_the_path_loss():
    # Friis: 20 log10(4 pi d f / c); at 2 GHz and 10 m: 20 log10(4 pi 10 2e9 / 299792458) = 58.46 dB
    assert free_space_path_loss_db(np.array([10.0]), 2e9) == pytest.approx([58.46], abs=0.01)
    # the 3GPP model gives 52.9 dB at 10 m, below free space: the floor applies; they cross near 21 m
    d = np.array([10.0, 15.0, 20.0, 22.0, 50.0, 300.0])
    pl = path_loss_db(d, "3gpp", 2e9)
    assert pl[0] == pytest.approx(58.46, abs=0.01)
    assert np.all(pl >= free_space_path_loss_db(d, 2e9) - 1e-12)
    assert pl[4:] == pytest.approx(path_loss_db_3gpp(d[4:]))  # far out the empirical model is above Friis
    crossing = d[np.argmax(path_loss_db_3gpp(d) >= free_space_path_loss_db(d, 2e9))]
    assert 20.0 < crossing <= 22.0
    with pytest.raises(ValueError, match="path loss model"):
        path_loss_db(d, "okumura", 2e9)


def test_shannon_rate_hand_calculation():
    # docs/model.md's worked example: 5 MHz, 23 dBm, 3GPP at 50 m, no shadowing/fading -> ~84 Mbit/s
    gain = channel_power_gain(path_loss_db_3gpp(np.array([50.0])), np.zeros(1), np.ones(1))
    rate = shannon_rate_bps(5e6, dbm_to_watt(23.0), gain, dbm_to_watt(-174.0))
    snr = dbm_to_watt(23.0) * 10 ** (-79.18 / 10) / (dbm_to_watt(-174.0) * 5e6)
    assert rate[0] == pytest.approx(5e6 * math.log2(1 + snr), rel=1e-3)
    assert rate[0] / 1e6 == pytest.approx(84.3, abs=0.5)
    # shadowing of +3 dB doubles the received power; zero bandwidth gives zero rate
    g2 = channel_power_gain(np.array([100.0]), np.array([3.0]), np.array([1.0]))
    assert g2[0] == pytest.approx(10 ** (-97 / 10))
    assert shannon_rate_bps(np.array([0.0]), 0.2, np.array([1e-9]), 1e-20)[0] == 0.0


def test_cycle_coefficients_and_max_tau():
    rate = np.array([[1e6, 2e6]])
    cpu = np.array([[1e9, 2e9]])
    c = COST.coefficients(rate, rate, cpu)
    assert c.c0 == pytest.approx(np.array([[0.02, 0.01]]))  # 2 S_m / R
    assert c.c1 == pytest.approx(np.array([[1e-4, 5e-5]]))  # S_d / R
    assert c.c2 == pytest.approx(np.array([[1e-4, 5e-5]]))  # C_m / f
    d = np.array([[100, 200]])
    # learner 0: (0.1 - 0.02 - 0.01) / (1e-4 * 100) = 7; learner 1: (0.1 - 0.01 - 0.01) / (5e-5 * 200) = 8
    assert feasible_sync_iterations(c, d, 0.1, 40) == [7]
    assert c.time_s(7, d) == pytest.approx(np.array([[0.1, 0.09]]))
    assert feasible_sync_iterations(c, d, 0.1, 5) == [5]
    assert feasible_sync_iterations(c, np.array([[0, 200]]), 0.1, 40) == [8]  # idle learners do not bind
    assert feasible_sync_iterations(c, np.array([[1000, 0]]), 0.1, 40) == [0]  # cannot even send its data
    fl = CostModel(1e4, 100.0, False, 1e5, 1e-28, 0.1).coefficients(rate, rate, cpu)
    assert np.all(fl.c1 == 0)
    # downlink and uplink are different links: C0 = S_m / R_down + S_m / R_up, C1 = S_d / R_down
    two = COST.coefficients(np.array([4e6]), np.array([1e6]), np.array([1e9]))
    assert two.c0 == pytest.approx([1e4 / 4e6 + 1e4 / 1e6]) and two.c1 == pytest.approx([100 / 4e6])


def test_energy_coefficients_and_the_energy_limit():
    # upload P S_m / R_up = 0.2 W x 1e4 bit / 1e6 bit/s = 2 mJ; compute kappa f^2 C_m = 1e-28 1e18 1e5 = 1e-5 J
    e = COST.energy_coefficients(np.array([1e6]), 0.2, np.array([1e9]))
    assert e.fixed_j == pytest.approx([2e-3]) and e.per_sample_iteration_j == pytest.approx([1e-5])
    assert e.energy_j(5, np.array([100])) == pytest.approx([2e-3 + 5e-3])
    assert e.max_samples(np.array([7e-3]), 5) == pytest.approx([100])  # (7 mJ - 2 mJ) / (5 x 10 uJ)
    assert COST.energy_coefficients(np.array([0.0]), 0.2, np.array([1e9])).fixed_j == [np.inf]  # dead uplink


def test_stragglers_pay_what_they_spend_before_the_deadline():
    rate, power, cpu = np.array([1e6, 1e6, 1e6, 0.0]), 0.2, np.array([1e9, 1e9, 1e9, 1e9])
    d, tau = np.array([100, 100, 100, 100]), np.array([5, 8, 20, 5])
    spent = COST.spent(d, tau, rate, rate, power, cpu)
    # learner 0 finishes: send (1e4 + 1e4) / 1e6 = 0.02 s, compute 5 x 100 x 1e5 / 1e9 = 0.05 s, return 0.01 s
    assert spent.in_time.tolist() == [True, False, False, False]
    assert spent.time_send_s[0] == pytest.approx(0.02) and spent.time_compute_s[0] == pytest.approx(0.05)
    assert spent.time_return_s[0] == pytest.approx(0.01)
    assert spent.energy_j[0] == pytest.approx(1e-28 * 1e18 * 5 * 100 * 1e5 + 0.2 * 0.01)
    # learner 1 computes 0.08 s (ends at 0.1 s): no time left to upload, no upload energy
    assert spent.time_compute_s[1] == pytest.approx(0.08) and spent.time_return_s[1] == 0.0
    assert spent.energy_transmit_j[1] == 0.0
    # learner 2 would compute 0.2 s: it stops at T, after 0.08 s, and pays those cycles only
    assert spent.time_compute_s[2] == pytest.approx(0.08) and spent.time_s[2] == pytest.approx(0.1)
    assert spent.energy_compute_j[2] == pytest.approx(1e-28 * 1e18 * 0.08 * 1e9)
    # learner 3 has no link: it waits the whole cycle for the model and spends nothing; all finite
    assert spent.time_s[3] == pytest.approx(0.1) and spent.energy_j[3] == 0.0
    assert np.all(np.isfinite(spent.time_s)) and np.all(spent.time_s <= 0.1 + 1e-12)
    # an upload that starts in time but would end after T is cut at T
    short = CostModel(1e4, 100.0, True, 1e5, 1e-28, cycle_deadline_s=0.095)
    cut = short.spent(np.array([100]), np.array([7]), np.array([1e6]), np.array([1e6]), power, np.array([1e9]))
    assert not cut.in_time[0] and cut.time_return_s[0] == pytest.approx(0.095 - 0.02 - 0.07)
    assert cut.energy_transmit_j[0] == pytest.approx(0.2 * 0.005)


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
    world.reset([0, 1, 2], [np.random.default_rng(7), np.random.default_rng(8), np.random.default_rng(7)],
                [np.random.default_rng(1)] * 3)
    st = world.state
    assert np.array_equal(st.position_m[0], st.position_m[2]) and not np.array_equal(st.position_m[0], st.position_m[1])
    assert set(np.unique(st.cpu_hz)) <= set(s.compute.cpu_freqs_hz)
    assert np.all((st.battery_capacity_j >= 1.0) & (st.battery_capacity_j <= 2.0))
    assert np.allclose(st.path_loss_db, path_loss_db(st.distance_m, "3gpp", s.channel.carrier_hz))
    # Rayleigh block fading: |h|^2 ~ Exp(1), redrawn every cycle
    before = st.fading_power.copy()
    world.advance([np.random.default_rng(i) for i in range(3)], [np.random.default_rng(9)] * 3)
    assert not np.array_equal(before, st.fading_power) and np.all(st.cycle == 1)
    rngs, draws = [np.random.default_rng(100 + i) for i in range(3)], []
    for _ in range(300):
        world.advance(rngs, [np.random.default_rng(9)] * 3)
        draws.append(st.fading_power.ravel().copy())
    assert np.concatenate(draws).mean() == pytest.approx(1.0, abs=0.03)


def test_batteries_drain_and_deplete():
    s = load_scenario("default", {"energy": {"battery_min_j": 1.0, "battery_max_j": 1.0}})
    world = World(s, n_envs=1)
    world.reset([0], [np.random.default_rng(0)], [np.random.default_rng(1)])
    energy = np.zeros((1, 10))
    energy[0, 0], energy[0, 1] = 0.4, 1.0  # the simulator never takes more than what is left
    world.drain(energy)
    assert world.state.battery_j[0, 0] == pytest.approx(0.6) and world.state.battery_j[0, 1] == 0.0
    assert world.state.alive[0].tolist() == [True, False] + [True] * 8
    endless = World(load_scenario("default"), n_envs=1)  # no batteries: nothing drains, nobody leaves
    endless.reset([0], [np.random.default_rng(0)], [np.random.default_rng(1)])
    endless.drain(np.full((1, 10), 5.0))
    assert np.all(np.isinf(endless.state.battery_j)) and endless.state.alive.all()


def test_a_learner_stops_where_its_energy_limit_runs_out():
    rate, power, cpu = np.array([1e6, 1e6, 1e6]), 0.2, np.array([1e9, 1e9, 1e9])
    d, tau = np.array([100, 100, 100]), np.array([5, 5, 5])
    # wanted: compute 1e-28 1e27 0.05 s = 5 mJ, upload 0.2 W x 0.01 s = 2 mJ, 7 mJ in all
    limits = np.array([3e-3, 6e-3, 1.0])
    spent = COST.spent(d, tau, rate, rate, power, cpu, energy_limit_j=limits)
    assert spent.energy_wanted_j == pytest.approx([7e-3] * 3)
    assert spent.energy_j == pytest.approx([3e-3, 6e-3, 7e-3])
    # learner 0 stops during its computation (3 mJ at 0.1 W), learner 1 during its upload (1 mJ of 2)
    assert spent.time_compute_s[0] == pytest.approx(0.03) and spent.time_return_s[0] == 0.0
    assert spent.time_compute_s[1] == pytest.approx(0.05) and spent.time_return_s[1] == pytest.approx(0.005)
    assert spent.time_s[2] == pytest.approx(0.08)


def test_geometry_changes_within_an_episode():
    s = load_scenario("default", {"orchestrator": {"height_m": 10.0}})
    world = World(s, n_envs=2)
    world.reset([0, 1], [np.random.default_rng(3), np.random.default_rng(4)], [np.random.default_rng(5)] * 2)
    st = world.state
    assert np.allclose(st.orchestrator_m, [[0, 0, 10], [0, 0, 10]])
    assert np.allclose(st.distance_m, np.sqrt(np.sum(st.position_m**2, axis=-1) + 100.0))  # 3-D distance
    before_down, before_up = world.rates_bps()
    moved = st.position_m.copy()
    moved[0, 0] = (500.0, 0.0)  # learner 0 of env 0 walks away
    world.move(learner_position_m=moved)
    assert st.distance_m[0, 0] == pytest.approx(np.hypot(500.0, 10.0))
    assert world.state.path_loss_db[0, 0] == pytest.approx(path_loss_db_3gpp(np.hypot(500.0, 10.0)))
    down, up = world.rates_bps()
    assert up[0, 0] < before_up[0, 0] and np.array_equal(up[1], before_up[1])
    # the orchestrator flies over learner 0: its distance is the antenna height
    world.move(orchestrator_m=np.array([[500.0, 0.0, 10.0], [0.0, 0.0, 10.0]]))
    assert world.state.distance_m[0, 0] == pytest.approx(10.0)
    # the downlink runs at the orchestrator's power (30 dBm), the uplink at the learner's (23 dBm)
    gain = world.channel_gain()
    down, up = world.rates_bps()
    assert np.allclose(down, shannon_rate_bps(s.channel.bandwidth_hz, dbm_to_watt(30.0), gain, dbm_to_watt(-174.0)))
    assert np.allclose(up, shannon_rate_bps(s.channel.bandwidth_hz, dbm_to_watt(23.0), gain, dbm_to_watt(-174.0)))
    assert np.all(down > up)
