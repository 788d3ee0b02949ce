"""The outage predictor: calibrated (model), exact where the coming state is known (oracle, perfect CSI), the
realised outcome (clairvoyant), zeros without one, and never drawing from the world's streams."""

from __future__ import annotations

import numpy as np
import pytest

from mel_gym.config import load_scenario
from mel_gym.world.prediction import OutagePredictor
from conftest import make_world

#: Bins of predicted probability and the fewest learner-cycles a bin needs to be judged (binomial std <= 0.035).
BINS = np.linspace(0.0, 1.0, 11)
MIN_PER_BIN = 200


def _collect(scenario, n_envs=40, cycles=25, seed=0):
    """(predicted outage, realised outage, predicted drop, realised drop) over n_envs x K x cycles learner-cycles."""
    world, rngs, dyn = make_world(scenario, n_envs, seed)
    predictor = OutagePredictor(world)
    out = [[], [], [], []]
    for _ in range(cycles):
        p_out, p_drop = predictor.predict()
        for store, value in zip(out, (p_out, world.link_outage(), p_drop, world.compute_dropped())):
            store.append(np.asarray(value, dtype=np.float64).ravel())
        world.advance(rngs, dyn)
    return [np.concatenate(x) for x in out]


def _check_calibrated(predicted, realised):
    judged = 0
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        in_bin = (predicted >= lo) & ((predicted < hi) if hi < 1.0 else (predicted <= hi))
        if in_bin.sum() >= MIN_PER_BIN:
            judged += 1
            gap = abs(realised[in_bin].mean() - predicted[in_bin].mean())
            assert gap <= 0.05, f"bin [{lo:.1f}, {hi:.1f}): predicted {predicted[in_bin].mean():.3f}, " \
                                f"observed {realised[in_bin].mean():.3f} over {in_bin.sum()} learner-cycles"
    return judged


def test_the_model_predictor_is_calibrated_over_ten_thousand_learner_cycles():
    scenario = load_scenario("dynamic")
    p_out, outage, p_drop, dropped = _collect(scenario)
    assert p_out.size >= 10_000
    assert _check_calibrated(p_out, outage) >= 4  # the predictions spread over several bins
    assert _check_calibrated(p_drop, dropped) >= 1
    for value in np.unique(p_drop):  # one value per reported state: each is that state's drop frequency
        group = p_drop == value
        if group.sum() >= MIN_PER_BIN:
            assert abs(dropped[group].mean() - value) <= 0.03, (value, dropped[group].mean(), group.sum())
    assert 0.05 < outage.mean() < 0.6 and 0.02 < dropped.mean() < 0.3  # something to predict
    # It is informative: the learners it calls risky fail far more often than those it calls safe.
    assert outage[p_out > 0.5].mean() > 3 * outage[p_out < 0.1].mean()


def test_the_model_is_calibrated_with_correlated_fading_and_gauss_markov_mobility():
    scenario = load_scenario("dynamic", {"channel": {"fading_correlation": 0.9},
                                         "mobility": {"model": "gauss-markov", "speed_max_mps": 3.0}})
    p_out, outage, _, _ = _collect(scenario, seed=1)
    assert _check_calibrated(p_out, outage) >= 4


def _packet_error(world):
    """q = 1 - exp(-m W N0 / (P gbar)) at the true large-scale gain gbar (path loss and shadowing, no fading)."""
    mean_gain = 10 ** (-(world.state.path_loss_db - world.state.shadowing_db) / 10)
    return 1.0 - np.exp(-1.08 * world.noise_psd_w_per_hz * world.default_bandwidth_hz / (world.tx_power_w * mean_gain))


def test_oracle_and_perfect_csi_give_the_exact_probability():
    scenario = load_scenario("dynamic", {"prediction": {"predictor": "oracle"}})
    world, _, _ = make_world(scenario, 4)
    p_out, p_drop = OutagePredictor(world).predict()
    short = world.channel_gain() < world.measured_gain()
    expected = np.where(~world.in_coverage | short, 1.0, _packet_error(world))
    assert np.allclose(p_out, expected)
    assert np.array_equal(p_drop.astype(bool), world.compute_dropped())
    perfect, _, _ = make_world(scenario.replace(channel={"csi": "perfect"}, prediction={"predictor": "model"}), 4)
    p_perfect, _ = OutagePredictor(perfect).predict()
    assert np.allclose(p_perfect, np.where(perfect.in_coverage, _packet_error(perfect), 1.0))


def test_clairvoyant_predictor_is_the_realised_outcome():
    scenario = load_scenario("dynamic", {"prediction": {"predictor": "clairvoyant"}})
    world, rngs, dyn = make_world(scenario, 6)
    predictor = OutagePredictor(world)
    outages = drops = 0
    for _ in range(8):
        p_out, p_drop = predictor.predict()
        assert set(np.unique(p_out)) <= {0.0, 1.0} and set(np.unique(p_drop)) <= {0.0, 1.0}
        assert np.array_equal(p_out == 1.0, world.link_outage())
        assert np.array_equal(p_drop == 1.0, world.compute_dropped())
        outages, drops = outages + int(p_out.sum()), drops + int(p_drop.sum())
        world.advance(rngs, dyn)
    assert outages > 0 and drops > 0  # something was foreseen


def test_compute_drop_probability_is_the_reported_states_row():
    scenario = load_scenario("dynamic")
    world, _, _ = make_world(scenario, 8)
    _, p_drop = OutagePredictor(world).predict()
    P = np.asarray(scenario.compute.transition_matrix).reshape(3, 3)
    by_state = {0: P[0, 1] + P[0, 2], 1: P[1, 2], 2: 0.0}  # a drop: to a state with a smaller CPU share
    for state, value in by_state.items():
        assert np.allclose(p_drop[world.measured.cpu_state == state], value)


def test_no_predictor_gives_zeros_and_predicting_never_touches_the_world():
    scenario = load_scenario("dynamic", {"prediction": {"predictor": "none"}})
    world, _, dyn = make_world(scenario, 2)
    p_out, p_drop = OutagePredictor(world).predict()
    assert not p_out.any() and not p_drop.any()
    model, _, again = make_world(scenario.replace(prediction={"predictor": "model"}), 2)
    before = model.channel_gain().copy()
    OutagePredictor(model).predict()
    assert np.array_equal(before, model.channel_gain())
    assert again[0].random() == pytest.approx(dyn[0].random())  # the same number of draws from the world streams
    seer, rngs_seer, dyn_seer = make_world(scenario.replace(prediction={"predictor": "clairvoyant"}), 2)
    states = [g.bit_generator.state for g in rngs_seer + dyn_seer]
    OutagePredictor(seer).predict()
    assert states == [g.bit_generator.state for g in rngs_seer + dyn_seer]  # it reads the drawn outcome
