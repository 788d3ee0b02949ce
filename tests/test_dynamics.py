"""The world's random processes (mel_gym.world.dynamics) against hand calculations and known statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mel_gym.world.dynamics import (
    RWP_STATIONARY_AFTER_LEGS,
    SPEED_OF_LIGHT_M_PER_S,
    draw_complex_gain,
    draw_stationary,
    evolve_fading,
    evolve_shadowing,
    gauss_markov_init,
    gauss_markov_step,
    jakes_correlation,
    markov_step,
    mean_leg_time_s,
    packet_error_probability,
    random_waypoint_init,
    random_waypoint_step,
    shadowing_correlation,
    stationary_distribution,
    uniform_in_disc,
)
from conftest import time_limit

SERVICE = np.array([[0.9, 0.07, 0.03], [0.3, 0.6, 0.1], [0.3, 0.0, 0.7]])


def _bessel_j0_series(x: float, terms: int = 40) -> float:
    """J0 from its power series sum_k (-1)^k (x/2)^(2k) / (k!)^2 (independent of scipy)."""
    return sum((-1) ** k * (x / 2.0) ** (2 * k) / math.factorial(k) ** 2 for k in range(terms))


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


# --- fading ---


def test_jakes_correlation_hand_value():
    doppler_hz = 1.0 * 2e9 / 299_792_458.0  # 6.671 Hz
    x = 2.0 * math.pi * doppler_hz * 0.1  # 4.19
    assert x == pytest.approx(4.1917, abs=1e-3)
    expected = _bessel_j0_series(x)
    # tabulated J0(4.0) = -0.39715, J0(4.2) = -0.37656: J0(4.1917) = -0.3777 (not -0.386)
    assert _bessel_j0_series(4.0) == pytest.approx(-0.39715, abs=1e-5)
    assert _bessel_j0_series(4.2) == pytest.approx(-0.37656, abs=1e-5)
    assert expected == pytest.approx(-0.3777, abs=1e-4)
    assert float(jakes_correlation(1.0, 2e9, 0.1)) == pytest.approx(expected, abs=1e-3)
    assert SPEED_OF_LIGHT_M_PER_S == 299_792_458.0
    # speed 0 -> 1, elementwise over learners
    rho = jakes_correlation(np.array([0.0, 1.0, 0.0]), 2e9, 0.1)
    assert rho.shape == (3,)
    np.testing.assert_allclose(rho, [1.0, expected, 1.0], atol=1e-3)


def test_draw_complex_gain_is_standard_complex_normal():
    gain = draw_complex_gain(np.random.default_rng(0), 200_000)
    assert gain.dtype == np.complex128 and gain.shape == (200_000,)
    assert np.var(gain.real) == pytest.approx(0.5, abs=0.01)
    assert np.var(gain.imag) == pytest.approx(0.5, abs=0.01)
    power = np.abs(gain) ** 2
    assert power.mean() == pytest.approx(1.0, abs=0.01)
    # Exp(1): Pr(|h|^2 > 1) = e^-1
    assert np.mean(power > 1.0) == pytest.approx(math.exp(-1.0), abs=0.005)


def test_evolve_fading_gauss_markov_statistics():
    rng = np.random.default_rng(1)
    rho = 0.6
    before = draw_complex_gain(rng, 200_000)
    after = evolve_fading(rng, before, rho)
    assert np.mean(before * np.conj(after)).real == pytest.approx(rho, abs=0.01)
    power_before, power_after = np.abs(before) ** 2, np.abs(after) ** 2
    assert power_after.mean() == pytest.approx(1.0, abs=0.01)
    # Rayleigh power under a Gauss-Markov step: corr(|h_t|^2, |h_t+1|^2) = rho^2
    assert _corr(power_before, power_after) == pytest.approx(rho**2, abs=0.02)


def test_evolve_fading_edge_correlations():
    rng = np.random.default_rng(2)
    gain = draw_complex_gain(rng, 1000)
    np.testing.assert_array_equal(evolve_fading(rng, gain, 1.0), gain)
    np.testing.assert_array_equal(evolve_fading(rng, gain, -1.0), -gain)
    # a per-learner rho, with a negative one
    rho = np.array([-0.4, 0.9])
    state = draw_complex_gain(rng, (100_000, 2))
    nxt = evolve_fading(rng, state, rho)
    np.testing.assert_allclose(np.mean(state * np.conj(nxt), axis=0).real, rho, atol=0.015)


# --- shadowing ---


def test_shadowing_correlation_values():
    np.testing.assert_allclose(shadowing_correlation(np.array([0.0, 20.0, -20.0, 40.0]), 20.0),
                               [1.0, math.exp(-1), math.exp(-1), math.exp(-2)])
    assert float(shadowing_correlation(0.0, 0.0)) == 1.0
    assert float(shadowing_correlation(5.0, 0.0)) == 0.0


def test_evolve_shadowing_ar1_statistics():
    rng = np.random.default_rng(3)
    sigma = 8.0
    before = sigma * rng.standard_normal(200_000)
    after = evolve_shadowing(rng, before, 20.0, 20.0, sigma)
    assert _corr(before, after) == pytest.approx(math.exp(-1.0), abs=0.01)
    assert np.std(after) == pytest.approx(sigma, rel=0.02)


def test_evolve_shadowing_draws_one_normal_per_learner():
    rng, twin = np.random.default_rng(4), np.random.default_rng(4)
    shadow = np.array([1.0, -2.0, 3.0])
    out = evolve_shadowing(rng, shadow, np.zeros(3), 20.0, 8.0)  # a = 1: unchanged, yet 3 normals drawn
    np.testing.assert_array_equal(out, shadow)
    twin.standard_normal(3)
    assert rng.random() == twin.random()


# --- packet error ---


def test_packet_error_probability_hand_values():
    assert float(packet_error_probability(10.0, 1.08)) == pytest.approx(1.0 - math.exp(-0.108), abs=1e-12)
    assert float(packet_error_probability(10.0, 1.08)) == pytest.approx(0.10237, abs=1e-5)
    with np.errstate(all="raise"):
        q = packet_error_probability(np.array([0.0, -1.0, 1.08, np.inf]), 1.08)
    np.testing.assert_allclose(q, [1.0, 1.0, 1.0 - math.exp(-1.0), 0.0])


# --- mobility ---


def test_uniform_in_disc_is_uniform_in_area():
    points = uniform_in_disc(np.random.default_rng(5), 100_000, 50.0)
    assert points.shape == (100_000, 2)
    radius = np.hypot(points[:, 0], points[:, 1])
    assert radius.max() <= 50.0
    assert np.mean(radius < 25.0) == pytest.approx(0.25, abs=0.005)
    assert np.abs(points.mean(axis=0)).max() < 0.5


def test_random_waypoint_step_hand_trajectory():
    rng = np.random.default_rng(6)
    position, velocity = np.array([[0.0, 0.0]]), np.array([[2.0, 0.0]])
    waypoint, pause = np.array([[10.0, 0.0]]), np.zeros(1)
    saved = [a.copy() for a in (position, velocity, waypoint, pause)]
    # 4 s at 2 m/s: 8 m along the leg
    p, v, w, q = random_waypoint_step(rng, position, velocity, waypoint, pause, 4.0, 100.0, 1.0, 5.0, 3.0)
    np.testing.assert_allclose(p, [[8.0, 0.0]])
    np.testing.assert_allclose(v, [[2.0, 0.0]])
    np.testing.assert_allclose(w, waypoint)
    assert q[0] == 0.0
    for before, kept in zip(saved, (position, velocity, waypoint, pause)):
        np.testing.assert_array_equal(before, kept)
    # 7 s: arrive after 5 s, then 2 s of the 3 s pause; reported velocity 0
    p, v, w, q = random_waypoint_step(rng, position, velocity, waypoint, pause, 7.0, 100.0, 1.0, 5.0, 3.0)
    np.testing.assert_allclose(p, [[10.0, 0.0]])
    np.testing.assert_array_equal(v, [[0.0, 0.0]])
    assert q[0] == pytest.approx(1.0)
    # 10 s: arrive (5 s), pause (3 s), then 2 s of a new leg at a speed in [1, 5] toward a new waypoint
    p, v, w, q = random_waypoint_step(rng, position, velocity, waypoint, pause, 10.0, 100.0, 1.0, 5.0, 3.0)
    speed = np.linalg.norm(v[0])
    assert 1.0 <= speed <= 5.0 and q[0] == 0.0
    assert np.linalg.norm(p[0] - [10.0, 0.0]) == pytest.approx(2.0 * speed)
    heading = (w[0] - p[0]) / np.linalg.norm(w[0] - p[0])
    np.testing.assert_allclose(v[0], speed * heading)
    assert np.linalg.norm(w[0]) <= 100.0


def test_random_waypoint_degenerate_waypoint_at_position():
    rng = np.random.default_rng(7)
    position = np.array([[3.0, 4.0], [0.0, 0.0]])
    p, v, w, q = random_waypoint_step(rng, position, np.zeros((2, 2)), position.copy(), np.zeros(2), 1.0, 50.0,
                                      2.0, 2.0, 0.0)
    assert np.all(np.isfinite(p)) and np.all(np.isfinite(v))
    # arrived at once, drew a new leg and travelled 1 s at 2 m/s
    np.testing.assert_allclose(np.linalg.norm(p - position, axis=1), 2.0)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 2.0)


def test_random_waypoint_constant_speed_average():
    rng = np.random.default_rng(8)
    state = random_waypoint_init(rng, 100, 100.0, 3.0, 3.0, 0.0, 200.0)
    speeds = []
    for _ in range(300):
        state = random_waypoint_step(rng, *state, 5.0, 100.0, 3.0, 3.0, 0.0)
        speeds.append(np.linalg.norm(state[1], axis=1))
    assert np.mean(speeds) == pytest.approx(3.0, rel=0.01)


def test_random_waypoint_stationary_statistics():
    radius, v_min, v_max = 100.0, 1.0, 5.0
    rng = np.random.default_rng(9)
    state = random_waypoint_init(rng, 200, radius, v_min, v_max, 0.0, 500.0)
    inner, outer, speed = [], [], []
    for _ in range(1500):
        state = random_waypoint_step(rng, *state, 5.0, radius, v_min, v_max, 0.0)
        r = np.linalg.norm(state[0], axis=1)
        assert r.max() <= radius + 1e-9
        inner.append(np.mean(r < radius / 2))
        outer.append(np.mean(r > 0.9 * radius))
        speed.append(np.linalg.norm(state[1], axis=1).mean())
    # RWP concentrates in the centre: more than the uniform 0.25 within R/2, fewer than the uniform 0.19 beyond 0.9 R
    assert 0.3 < np.mean(inner) < 0.5
    assert np.mean(outer) < 0.19
    # ... and matches the time-stationary law: a point uniform on a leg between two uniform points, legs weighted by
    # their length (independent Monte Carlo)
    mc = np.random.default_rng(10)
    start, end = uniform_in_disc(mc, 500_000, 1.0), uniform_in_disc(mc, 500_000, 1.0)
    length = np.linalg.norm(end - start, axis=1)
    r_mc = np.linalg.norm(start + mc.random(500_000)[:, None] * (end - start), axis=1)
    assert np.mean(inner) == pytest.approx(np.sum(length * (r_mc < 0.5)) / length.sum(), abs=0.015)
    assert np.mean(outer) == pytest.approx(np.sum(length * (r_mc > 0.9)) / length.sum(), abs=0.01)
    # time-average speed with speed ~ U[v_min, v_max] per leg (independent of the leg): 1 / E[1/V]
    assert v_min <= np.mean(speed) <= v_max
    assert np.mean(speed) == pytest.approx((v_max - v_min) / math.log(v_max / v_min), rel=0.02)


def test_random_waypoint_pause_fraction():
    radius, speed = 100.0, 3.0
    mean_leg_s = 128.0 * radius / (45.0 * math.pi) / speed  # E|X - Y| for X, Y uniform in the disc, over v
    fractions = []
    for pause_s in (0.0, 10.0, 50.0):
        rng = np.random.default_rng(11)
        state = random_waypoint_init(rng, 200, radius, speed, speed, pause_s, 300.0)
        stopped = []
        for _ in range(600):
            state = random_waypoint_step(rng, *state, 5.0, radius, speed, speed, pause_s)
            stopped.append(np.mean(np.linalg.norm(state[1], axis=1) == 0.0))
            assert np.all((state[3] > 0) == (np.linalg.norm(state[1], axis=1) == 0.0))
        fractions.append(float(np.mean(stopped)))
        assert fractions[-1] == pytest.approx(pause_s / (pause_s + mean_leg_s), abs=0.02)
    assert fractions[0] == 0.0 and 0.0 < fractions[1] < fractions[2] < 1.0


def test_gauss_markov_init():
    position, velocity, mean_velocity = gauss_markov_init(np.random.default_rng(12), 1000, 30.0, 2.0)
    assert position.shape == velocity.shape == mean_velocity.shape == (1000, 2)
    assert np.linalg.norm(position, axis=1).max() <= 30.0
    np.testing.assert_allclose(np.linalg.norm(mean_velocity, axis=1), 2.0)
    np.testing.assert_array_equal(velocity, mean_velocity)
    assert np.abs(mean_velocity.mean(axis=0)).max() < 0.15  # uniform directions


def test_gauss_markov_stationary_velocity_variance():
    rng = np.random.default_rng(13)
    position, velocity, mean_velocity = gauss_markov_init(rng, 2000, 1e9, 0.0)
    samples = []
    for step in range(120):
        position, velocity, mean_velocity = gauss_markov_step(rng, position, velocity, mean_velocity, 1.0, 0.5, 1.0,
                                                              1e9, np.inf)
        if step >= 20:
            samples.append(velocity)
    samples = np.concatenate(samples)
    np.testing.assert_allclose(samples.var(axis=0), [1.0, 1.0], rtol=0.05)
    assert np.abs(samples.mean(axis=0)).max() < 0.02


def test_gauss_markov_speed_clip_and_boundary():
    rng = np.random.default_rng(14)
    radius = 20.0
    position, velocity, mean_velocity = gauss_markov_init(rng, 200, radius, 3.0)
    for _ in range(500):
        position, velocity, mean_velocity = gauss_markov_step(rng, position, velocity, mean_velocity, 1.0, 0.8, 2.0,
                                                              radius, 4.0)
        assert np.linalg.norm(position, axis=1).max() <= radius + 1e-9
        assert np.linalg.norm(velocity, axis=1).max() <= 4.0 + 1e-9
    # by hand: memory 1 keeps v; 5 m/s for 1 s from R - 1 reaches R + 4, reflected to R - 4 heading inward
    p, v, m = gauss_markov_step(rng, np.array([[0.0, radius - 1.0]]), np.array([[0.0, 5.0]]), np.array([[1.0, 2.0]]),
                                1.0, 1.0, 1.0, radius, 10.0)
    np.testing.assert_allclose(p, [[0.0, radius - 4.0]])
    np.testing.assert_allclose(v, [[0.0, -5.0]])
    np.testing.assert_allclose(m, [[1.0, -2.0]])


# --- computing service ---


def test_stationary_distribution_solves_balance():
    pi = stationary_distribution(SERVICE)
    np.testing.assert_allclose(pi @ SERVICE, pi, atol=1e-12)
    assert pi.sum() == pytest.approx(1.0) and np.all(pi > 0)
    # by hand: pi1 = 0.07 pi0 / 0.4, pi2 = (0.03 pi0 + 0.1 pi1) / 0.3 -> pi0 = 1 / (1 + 0.175 + 0.1583...)
    pi0 = 1.0 / (1.0 + 0.175 + (0.03 + 0.1 * 0.175) / 0.3)
    np.testing.assert_allclose(pi, [pi0, 0.175 * pi0, (0.03 + 0.0175) / 0.3 * pi0], atol=1e-12)


def test_markov_chain_frequencies():
    rng = np.random.default_rng(15)
    pi = stationary_distribution(SERVICE)
    state = draw_stationary(rng, 200, SERVICE)
    assert state.shape == (200,) and np.issubdtype(state.dtype, np.integer)
    counts = np.zeros(3)
    transitions = np.zeros((3, 3))
    for _ in range(500):
        nxt = markov_step(rng, state, SERVICE)
        np.add.at(transitions, (state, nxt), 1)
        counts += np.bincount(nxt, minlength=3)
        state = nxt
    np.testing.assert_allclose(counts / counts.sum(), pi, atol=0.01)
    assert transitions[2, 0] / transitions[2].sum() == pytest.approx(0.3, abs=0.02)
    assert transitions[2, 1] == 0  # a zero-probability move never happens
    draws = draw_stationary(np.random.default_rng(16), 100_000, SERVICE)
    np.testing.assert_allclose(np.bincount(draws, minlength=3) / draws.size, pi, atol=0.01)


def test_markov_step_draws_one_uniform_per_learner():
    rng, twin = np.random.default_rng(17), np.random.default_rng(17)
    nxt = markov_step(rng, np.array([0, 1, 2, 2]), np.eye(3))
    np.testing.assert_array_equal(nxt, [0, 1, 2, 2])
    twin.random(4)
    assert rng.random() == twin.random()


# --- determinism ---


def _trajectory(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    gain = draw_complex_gain(rng, 8)
    shadow = 8.0 * rng.standard_normal(8)
    rwp = random_waypoint_init(rng, 8, 100.0, 1.0, 5.0, 2.0, 50.0)
    gm = gauss_markov_init(rng, 8, 100.0, 2.0)
    service = draw_stationary(rng, 8, SERVICE)
    out = []
    for _ in range(20):
        rwp = random_waypoint_step(rng, *rwp, 3.0, 100.0, 1.0, 5.0, 2.0)
        gm = gauss_markov_step(rng, *gm, 3.0, 0.7, 1.0, 100.0, 10.0)
        gain = evolve_fading(rng, gain, jakes_correlation(np.linalg.norm(rwp[1], axis=1), 2e9, 3e-3))
        shadow = evolve_shadowing(rng, shadow, np.linalg.norm(gm[1], axis=1) * 3.0, 20.0, 8.0)
        service = markov_step(rng, service, SERVICE)
        out += [*rwp, *gm, gain, shadow, service]
    return out


def test_same_seed_same_trajectory():
    first, again, other = _trajectory(18), _trajectory(18), _trajectory(19)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(first, other))


# --- issue 22: long intervals, the Doppler floor, the clipped Gauss-Markov velocity ---


def test_random_waypoint_long_burn_in_is_a_quick_stationary_draw():
    radius, v_min, v_max, pause_s = 100.0, 1.0, 5.0, 20.0
    rng = np.random.default_rng(30)
    with time_limit(20):
        position, velocity, waypoint, pause_left = random_waypoint_init(rng, 200_000, radius, v_min, v_max, pause_s,
                                                                         1e12)
        stepped = random_waypoint_step(rng, position[:10], velocity[:10], waypoint[:10], pause_left[:10], 1e15,
                                       radius, v_min, v_max, pause_s)
    assert all(a.shape[0] == 10 for a in stepped)
    r = np.linalg.norm(position, axis=1)
    speed = np.linalg.norm(velocity, axis=1)
    paused = pause_left > 0
    assert r.max() <= radius + 1e-9 and np.linalg.norm(waypoint, axis=1).max() <= radius + 1e-9
    # paused <=> at the waypoint with zero velocity and a residual pause in (0, pause]
    assert np.array_equal(paused, speed == 0.0) and pause_left.max() <= pause_s
    np.testing.assert_array_equal(position[paused], waypoint[paused])
    assert np.mean(pause_left[paused]) == pytest.approx(pause_s / 2, rel=0.02)  # uniform residual
    # the paused share: pause / (pause + E[L] E[1/V]), E[L] = 128 R / (45 pi),
    # E[1/V] = ln(v_max / v_min) / (v_max - v_min)
    mean_travel_s = 128.0 * radius / (45.0 * math.pi) * math.log(v_max / v_min) / (v_max - v_min)
    assert np.mean(paused) == pytest.approx(pause_s / (pause_s + mean_travel_s), abs=0.005)
    # the time-average speed of the travellers: 1 / E[1/V]; each heads straight for its waypoint
    assert np.mean(speed[~paused]) == pytest.approx((v_max - v_min) / math.log(v_max / v_min), rel=0.01)
    heading = (waypoint - position)[~paused]
    cosine = np.sum(heading * velocity[~paused], axis=1) / (np.linalg.norm(heading, axis=1) * speed[~paused])
    assert cosine.min() > 1.0 - 1e-9
    # travellers: a point uniform on a length-weighted leg (independent Monte Carlo, as in the burn-in test above)
    mc = np.random.default_rng(31)
    start, end = uniform_in_disc(mc, 500_000, 1.0), uniform_in_disc(mc, 500_000, 1.0)
    length = np.linalg.norm(end - start, axis=1)
    r_mc = np.linalg.norm(start + mc.random(500_000)[:, None] * (end - start), axis=1)
    inner = np.sum(length * (r_mc < 0.5)) / length.sum()
    assert np.mean(r[~paused] < radius / 2) == pytest.approx(inner, abs=0.01)
    assert np.mean(r[paused] < radius / 2) == pytest.approx(0.25, abs=0.01)  # paused: at a uniform waypoint


def test_random_waypoint_short_intervals_keep_the_loop():
    # the shipped dynamic preset (350 m, 0.5-1.5 m/s, 60 s pauses): a 1 h burn-in and 10 s periods are far below
    # RWP_STATIONARY_AFTER_LEGS legs, so they walk the legs as before
    leg_s = mean_leg_time_s(350.0, 0.5, 1.5, 60.0)
    assert leg_s == pytest.approx(128 * 350 / (45 * math.pi) * math.log(3.0) / 1.0 + 60.0)  # E[L] E[1/V] + pause
    assert 3600.0 < RWP_STATIONARY_AFTER_LEGS * leg_s
    # below the switch the state walks on from where it was; above it, it is the stationary draw whatever the start
    leg_s = mean_leg_time_s(100.0, 1.0, 5.0, 0.0)
    for interval_s, depends_on_start in ((0.5 * RWP_STATIONARY_AFTER_LEGS * leg_s, True),
                                         (2.0 * RWP_STATIONARY_AFTER_LEGS * leg_s, False)):
        a, b = (random_waypoint_step(np.random.default_rng(32), np.full((4, 2), start), np.zeros((4, 2)),
                                     np.zeros((4, 2)), np.zeros(4), interval_s, 100.0, 1.0, 5.0, 0.0)
                for start in (0.0, 10.0))
        assert np.array_equal(a[0], b[0]) != depends_on_start


def test_jakes_doppler_floor_hand_value():
    # f_min = 0.05 Hz over 10 s: rho = J0(2 pi 0.05 10) = J0(pi) = -0.30424 at any speed below 0.05 c / f_c
    expected = _bessel_j0_series(math.pi)
    assert expected == pytest.approx(-0.3042422, abs=1e-6)
    slow = 0.5 * 0.05 * SPEED_OF_LIGHT_M_PER_S / 2e9  # half the floor's speed
    rho = jakes_correlation(np.array([0.0, slow, 1.0]), 2e9, 10.0, min_doppler_hz=0.05)
    assert rho[0] == pytest.approx(expected, abs=1e-9) and rho[1] == pytest.approx(expected, abs=1e-9)
    assert rho[2] == pytest.approx(float(jakes_correlation(1.0, 2e9, 10.0)), abs=1e-12)  # above the floor
    speeds = np.array([0.0, 0.3, 1.0])
    np.testing.assert_array_equal(jakes_correlation(speeds, 2e9, 10.0, 0.0), jakes_correlation(speeds, 2e9, 10.0))


def test_gauss_markov_clipped_velocity_variance():
    # The default clip (speed_max_mps 1.5 = |vbar| + sigma with vbar 1 m/s, sigma 0.5 m/s, alpha 0.75) pulls the
    # per-axis variance of v - vbar to 0.80 sigma^2 (0.68 along vbar, 0.88 across it) and the mean along vbar to
    # -0.21 sigma (docs/dynamics.md §2); without the clip it is sigma^2 (test above).
    rng = np.random.default_rng(33)
    sigma = 0.5
    position, velocity, mean_velocity = gauss_markov_init(rng, 4000, 1e12, 1.0)
    deviation, along = [], []
    for step in range(100):
        position, velocity, mean_velocity = gauss_markov_step(rng, position, velocity, mean_velocity, 10.0, 0.75,
                                                              sigma, 1e12, 1.5)
        if step >= 20:
            d = velocity - mean_velocity
            deviation.append(d)
            along.append(np.sum(d * mean_velocity, axis=1) / np.linalg.norm(mean_velocity, axis=1))
    deviation, along = np.concatenate(deviation), np.concatenate(along)
    np.testing.assert_allclose(deviation.var(axis=0) / sigma**2, [0.804, 0.804], atol=0.02)
    assert along.var() / sigma**2 == pytest.approx(0.681, abs=0.02)
    assert along.mean() / sigma == pytest.approx(-0.211, abs=0.02)


def test_doppler_floor_decorrelates_learners_at_rest():
    # Learners at rest (static mobility) with Gauss-Markov fading over the dynamic preset's 10 s period: with the
    # floor f_min = 0.05 Hz the lag-one correlation E[h_t conj(h_{t-1})] of the world's fading is J0(pi) = -0.3042
    # (|h|^2's correlation rho^2); without it, the fading never changes.
    from mel_gym.config import load_scenario
    from conftest import make_world

    rho = _bessel_j0_series(2.0 * math.pi * 0.05 * 10.0)
    for floor in (0.05, 0.0):
        scenario = load_scenario("dynamic", {"mobility": {"model": "static"}, "channel": {"min_doppler_hz": floor}})
        assert scenario.period_s == 10.0
        world, rngs, dyn = make_world(scenario, n_envs=20)
        lag, power_now, power_before = [], [], []
        for _ in range(100):
            before = world.state.fading_gain.copy()
            world.advance(rngs, dyn)
            after = world.state.fading_gain
            lag.append(np.real(after * np.conj(before)).ravel())
            power_now.append(np.abs(after).ravel() ** 2)
            power_before.append(np.abs(before).ravel() ** 2)
            if floor == 0.0:
                np.testing.assert_array_equal(after, before)
        if floor > 0.0:  # Var(Re(h' conj h)) = rho^2 + (1 - rho^2) / 2 = 0.55: standard error 0.005 on 20,000 pairs
            assert np.mean(lag) == pytest.approx(rho, abs=0.025)
            assert _corr(np.concatenate(power_now), np.concatenate(power_before)) == pytest.approx(rho**2, abs=0.03)
