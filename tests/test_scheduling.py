"""Link adaptation under outdated CSI (World.measured_gain, docs/dynamics.md §3) and the packet-error model (§5):
the fading quantile against hand values and the noncentral chi-square, a Monte Carlo check that the world's own
fading misses the schedule with probability target_outage, the schedule's large-scale part, the packet error at
the mean SNR whatever the fading, and scheduling that never draws from the world's streams."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import ncx2

from mel_gym.config import ConfigError, load_scenario
from mel_gym.world import dynamics
from mel_gym.world.dynamics import NCX2_EXACT_MAX_NONCENTRALITY, fading_power_quantile
from mel_gym.world.radio import channel_power_gain, db_to_linear
from conftest import make_world

#: A dynamic world whose shadowing stands still (drawn once per episode) and whose rate margin is 0: a scheduled
#: link then misses its schedule exactly when its coming fading power falls below the scheduled quantile.
STILL_SHADOWING = {"channel": {"shadowing_decorrelation_m": None, "rate_margin_db": 0.0}}


# --- the quantile ---


@pytest.mark.parametrize("p", [0.001, 0.02, 0.1, 0.5, 0.9])
def test_uncorrelated_fading_gives_the_exponential_quantile(p):
    gains = np.array([0.0, 0.3 + 0.4j, 2.0, -1j])  # the measurement tells nothing at rho = 0
    np.testing.assert_allclose(fading_power_quantile(p, gains, 0.0), -math.log(1.0 - p), rtol=1e-10)


def test_fully_correlated_fading_gives_the_measured_power():
    gain = np.array([0.3 + 0.4j, 1.5, 0.01j])
    for rho in (1.0, -1.0):
        np.testing.assert_array_equal(fading_power_quantile(0.1, gain, rho), np.abs(gain) ** 2)  # exactly


def test_quantile_is_the_noncentral_chi_square_by_hand():
    # rho = 0.6, |h| = 1: |h'|^2 (2 / 0.64) ~ ncx2(2, 2 0.36 / 0.64 = 1.125). The quantiles at p = 0.1 and 0.5
    # against scipy's ncx2 and against the Rician CDF written as a Poisson mixture of Gamma CDFs (no scipy).
    rho, h = 0.6, 1.0
    nc = 2 * rho**2 / (1 - rho**2)
    assert nc == pytest.approx(1.125)
    expected = 0.32 * ncx2.ppf([0.1, 0.5], 2, nc)
    got = [float(fading_power_quantile(p, np.array([h]), rho)[0]) for p in (0.1, 0.5)]
    np.testing.assert_allclose(got, expected, rtol=1e-10)

    def rician_cdf(power: float) -> float:  # P(|h'|^2 <= power): sum_k e^{-a} a^k / k! P(Gamma(k + 1) <= b)
        a, b = rho**2 * h**2 / (1 - rho**2), power / (1 - rho**2)
        total = 0.0
        for k in range(60):
            poisson = math.exp(-a) * a**k / math.factorial(k)
            gamma_cdf = 1.0 - math.exp(-b) * sum(b**j / math.factorial(j) for j in range(k + 1))
            total += poisson * gamma_cdf
        return total

    assert rician_cdf(got[0]) == pytest.approx(0.1, abs=1e-9)
    assert rician_cdf(got[1]) == pytest.approx(0.5, abs=1e-9)


def test_quantile_is_continuous_where_the_normal_approximation_takes_over():
    h, p = np.array([0.8 + 0.6j]), 0.05  # |h| = 1: nc = 2 rho^2 / (1 - rho^2)
    rho_at = math.sqrt(NCX2_EXACT_MAX_NONCENTRALITY / (2 + NCX2_EXACT_MAX_NONCENTRALITY))
    rho_below, rho_above = rho_at * (1 - 1e-12), rho_at * (1 + 1e-12)
    nc = [2 * r**2 / (1 - r**2) for r in (rho_below, rho_above)]
    assert nc[0] < NCX2_EXACT_MAX_NONCENTRALITY < nc[1]  # one on each side
    below, above = fading_power_quantile(p, h, rho_below), fading_power_quantile(p, h, rho_above)
    assert above[0] == pytest.approx(below[0], rel=5e-6)  # the approximation's error there: below 2e-6
    exact = 0.5 * (1 - rho_below**2) * ncx2.ppf(p, 2, 2 * rho_below**2 / (1 - rho_below**2))
    assert below[0] == pytest.approx(exact, rel=1e-12)
    close = fading_power_quantile(p, h, 1 - 1e-12)  # scipy's inverse fails there (NaN): the approximation holds
    assert np.isfinite(close).all() and close[0] == pytest.approx(1.0, abs=1e-5)


def test_quantile_is_vectorised_and_rejects_a_probability_outside_zero_one():
    rng = np.random.default_rng(0)
    gains = dynamics.draw_complex_gain(rng, (3, 1000))
    rho = rng.uniform(-0.4, 1.0, size=(3, 1000))
    rho[0, :10] = 1.0
    q = fading_power_quantile(0.2, gains, rho)
    assert q.shape == (3, 1000) and np.all(q >= 0) and np.isfinite(q).all()
    assert np.allclose(q[0, :10], np.abs(gains[0, :10]) ** 2)
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="probability"):
            fading_power_quantile(bad, gains, rho)


# --- the schedule in the world ---


def _misses(overrides: dict, p: float, cycles: int = 6, n_envs: int = 3, seed: int = 0
            ) -> tuple[np.ndarray, np.ndarray]:
    """(missed, moved), each (cycles, n_envs, K = 1000) bool: whose true gain falls short of the scheduled one, and
    who moved since the measurement."""
    scenario = load_scenario("dynamic", overrides).replace(num_learners=1000, channel={"target_outage": p})
    world, rngs, dyn = make_world(scenario, n_envs, seed)
    missed, moved = [], []
    for _ in range(cycles):
        missed.append(world.channel_gain() < world.measured_gain())
        moved.append(world.moved_since_measurement() > 0)
        world.advance(rngs, dyn)
    return np.array(missed), np.array(moved)


def _assert_rate(missed: np.ndarray, p: float) -> None:
    """The share of misses is p within 4 binomial standard deviations: given the measurement, each cycle's miss
    has probability p, so the misses of successive cycles are uncorrelated even where the fading is."""
    n = missed.size
    assert n >= 5000
    assert abs(missed.mean() - p) <= 4 * math.sqrt(p * (1 - p) / n), (missed.mean(), p, n)


@pytest.mark.parametrize("rho, p", [(0.6, 0.1), (0.6, 0.3), (0.03, 0.1), (0.03, 0.02)])
def test_the_worlds_fading_misses_the_schedule_with_the_target_probability(rho, p):
    missed, _ = _misses({"channel": {**STILL_SHADOWING["channel"], "fading_correlation": rho}}, p)
    _assert_rate(missed, p)


def test_jakes_fading_of_walking_learners_and_iid_rayleigh_fading_miss_it_with_the_target_probability():
    p = 0.2
    missed, moved = _misses(STILL_SHADOWING, p)  # Jakes: rho = J0(2 pi moved / lambda)
    _assert_rate(missed[moved], p)
    assert not missed[~moved].any() and (~moved).sum() > 1000  # paused learners: rho = 1, the fading is known
    missed, _ = _misses({"channel": {**STILL_SHADOWING["channel"], "fading": "rayleigh"}}, p)
    _assert_rate(missed, p)


def test_the_schedule_is_the_large_scale_gain_here_times_the_fading_quantile_less_the_margin():
    scenario = load_scenario("dynamic", {"channel": {"target_outage": 0.05, "rate_margin_db": 3.0}})
    world, rngs, dyn = make_world(scenario, 4)
    world.advance(rngs, dyn)
    m, st = world.measured, world.state
    assert not np.allclose(st.position_m, m.position_m)  # learners walked since the measurement
    moved = np.linalg.norm(st.position_m - m.position_m, axis=-1)
    quantile = fading_power_quantile(0.05, m.fading_gain, world.fading_correlation(moved))
    here = channel_power_gain(world.path_loss_model.db(st.position_m, st.orchestrator_m), m.shadowing_db, 1.0)
    np.testing.assert_allclose(world.measured_gain(), here * quantile * db_to_linear(-3.0), rtol=1e-12)
    assert world.measured_gain() is world.measured_gain()  # cached for the cycle
    up = world.rates_bps()[1]
    expected = scenario.channel.bandwidth_hz * np.log2(1 + world.tx_power_w * world.measured_gain()
                                                       / (world.noise_psd_w_per_hz * world.default_bandwidth_hz))
    np.testing.assert_allclose(up, expected, rtol=1e-12)  # the rates are those of the scheduled gain
    before = world.measured_gain()
    world.move(orchestrator_m=st.orchestrator_m + np.array([30.0, 0.0, 0.0]))
    assert world.measured_gain() is not before  # the path loss moved with the orchestrator: scheduled anew
    # A static learner (rho = 1) with shadowing that stands still is scheduled at exactly its coming gain.
    still = load_scenario("dynamic", {"mobility": {"model": "static"}, "channel": {"rate_margin_db": 0.0}})
    world, rngs, dyn = make_world(still, 2)
    world.advance(rngs, dyn)
    np.testing.assert_allclose(world.measured_gain(), world.channel_gain(), rtol=1e-12)
    assert not (world.channel_gain() < world.measured_gain() * (1 - 1e-9)).any()


def test_without_fading_the_schedule_is_the_large_scale_gain_and_perfect_csi_the_true_gain():
    scenario = load_scenario("dynamic", {"channel": {"fading": "none", "rate_margin_db": 0.0,
                                                     "shadowing_decorrelation_m": None}})
    world, rngs, dyn = make_world(scenario, 2)
    world.advance(rngs, dyn)
    np.testing.assert_allclose(world.measured_gain(), world.large_scale_gain(), rtol=1e-12)
    perfect, _, _ = make_world(scenario.replace(channel={"csi": "perfect", "fading": "gauss-markov"}), 2)
    assert np.array_equal(perfect.measured_gain(), perfect.channel_gain())


def test_target_outage_is_validated_with_its_key():
    for bad in (0.0, 0.95, -0.1):
        with pytest.raises(ConfigError, match=r"channel\.target_outage"):
            load_scenario("dynamic", {"channel": {"target_outage": bad}})


def test_scheduling_and_predicting_never_draw_from_the_worlds_streams():
    from mel_gym.world.prediction import OutagePredictor

    scenario = load_scenario("dynamic")
    a, rngs_a, dyn_a = make_world(scenario, 3, seed=5)
    b, rngs_b, dyn_b = make_world(scenario.replace(channel={"target_outage": 0.4},
                                                   prediction={"predictor": "clairvoyant"}), 3, seed=5)
    for _ in range(4):
        b.measured_gain(), b.rates_bps(), b.link_outage(), OutagePredictor(b).predict()  # a never asks
        b.rates_bps(tx_power_w=np.full((3, 10), 0.1))
        for x, y in zip(rngs_a + dyn_a, rngs_b + dyn_b):
            assert x.bit_generator.state == y.bit_generator.state
        assert np.array_equal(a.channel_gain(), b.channel_gain())  # the same world whatever is scheduled
        assert np.array_equal(a.state.link_draw, b.state.link_draw)
        a.advance(rngs_a, dyn_a)
        b.advance(rngs_b, dyn_b)


# --- packet errors ---


def test_packet_error_is_taken_at_the_mean_snr_whatever_the_fading_draw():
    scenario = load_scenario("default", {"num_learners": 4, "channel": {"packet_error_threshold": 1.08,
                                                                        "fading": "rayleigh"}})
    world, _, _ = make_world(scenario, 2)
    st = world.state
    # Shadowing that puts every learner at a mean SNR of exactly 10 dB: P gbar / (N0 W) = 10.
    noise_w = world.noise_psd_w_per_hz * world.default_bandwidth_hz
    st.shadowing_db = st.path_loss_db + 10 * np.log10(10.0 * noise_w / world.tx_power_w)
    np.testing.assert_allclose(world.tx_power_w * world.large_scale_gain() / noise_w, 10.0, rtol=1e-12)
    expected = 1.0 - math.exp(-0.108)
    assert expected == pytest.approx(0.1024, abs=1e-4)
    for fading in (np.full((2, 4), 1e-3), np.ones((2, 4)), np.full((2, 4), 50.0)):
        st.fading_power = fading  # deep fade, mean, strong: the same q
        np.testing.assert_allclose(world.outage_probability(), expected, rtol=1e-12)
    np.testing.assert_allclose(world.packet_error_probability(world.large_scale_gain()), expected, rtol=1e-12)
    # q follows the power and the band of the decision: at half the power the mean SNR is 5
    np.testing.assert_allclose(world.outage_probability(tx_power_w=np.full((2, 4), world.tx_power_w / 2)),
                               1.0 - math.exp(-1.08 / 5), rtol=1e-12)
    st.link_draw[:] = expected - 1e-6  # the cycle's uniform draw decides: just below q fails, just above not
    assert world.link_outage().all()
    st.link_draw[:] = expected + 1e-6
    assert not world.link_outage().any()


def test_the_world_at_a_thousand_learners():
    scenario = load_scenario("dynamic").replace(num_learners=1000)
    world, rngs, dyn = make_world(scenario, 2)
    world.advance(rngs, dyn)
    gain = world.measured_gain()
    assert gain.shape == (2, 1000) and np.all(gain > 0) and np.isfinite(gain).all()
