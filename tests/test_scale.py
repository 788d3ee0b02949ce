"""Long time keys never hang the world, and the outage prediction is computed once per cycle. (How the cost grows
with the number of learners is measured by ``mel-gym bench``'s scale rows, not by a timed test.)"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

import mel_gym  # noqa: F401 - registers the env IDs
from mel_gym.config import ConfigError, MobilityConfig, Scenario
from mel_gym.world.prediction import OutagePredictor
from conftest import time_limit

RELIABLE = "mel_gym/ReliableTaskAllocation-v0"


def _upper_bound(cls: type, key: str) -> float:
    """The largest value scenario key ``key`` of section ``cls`` accepts (1e12 where it has no bound)."""
    high = {f.name: f.metadata.get("high") for f in dataclasses.fields(cls)}[key]
    return 1e12 if high is None else float(high)


def _reset_and_step(kwargs: dict, steps: int = 3) -> None:
    env = gym.make(RELIABLE, **kwargs)
    env.reset(seed=0)
    for _ in range(steps):
        env.step(np.zeros(env.action_space.shape, np.float32))


@pytest.mark.parametrize("kwargs", [{"mobility": {"burn_in_s": 1e12}}, {"cycle_period_s": 1e12}],
                         ids=["burn_in_s", "cycle_period_s"])
def test_huge_time_keys_finish_quickly(kwargs):
    """ReliableTaskAllocation-v0 (the dynamic preset: random waypoint) with a huge burn-in or period either refuses
    the value with a ConfigError naming the key, or resets and steps at once."""
    key = next(iter(kwargs["mobility"])) if "mobility" in kwargs else next(iter(kwargs))
    with time_limit(60):
        try:
            _reset_and_step(kwargs)
        except ConfigError as err:
            assert key in str(err)


def test_time_keys_at_their_bounds_finish_quickly():
    """At the largest burn-in and period the scenario accepts, in a small disc of fast learners (about 10^7 legs in
    the burn-in: the stationary draw replaces the walk), and with Gauss-Markov mobility."""
    burn_in = _upper_bound(MobilityConfig, "burn_in_s")
    period = _upper_bound(Scenario, "cycle_period_s")
    fast = {"speed_min_mps": 50.0, "speed_max_mps": 60.0, "pause_s": 0.0, "area_radius_m": 2.0,
            "burn_in_s": burn_in}
    with time_limit(90):
        _reset_and_step({"cycle_period_s": period, "placement": {"min_distance_m": 1.0, "max_distance_m": 2.0},
                         "mobility": fast})
        _reset_and_step({"cycle_period_s": period, "mobility": {"model": "gauss-markov"},
                         "channel": {"min_doppler_hz": 100.0}})


def test_the_prediction_is_computed_once_per_cycle(monkeypatch):
    """The observation and a decision with backups both ask for the coming cycle's prediction; it is computed once,
    equals a fresh computation, and is recomputed after the world moves on."""
    calls = []
    compute = OutagePredictor._predict
    monkeypatch.setattr(OutagePredictor, "_predict", lambda self: calls.append(1) or compute(self))
    env = gym.make(RELIABLE, num_learners=20)
    env.reset(seed=3)
    assert len(calls) == 1
    action = np.zeros(env.action_space.shape, np.float32)
    action[40:] = 1.0  # every participant's task asks for a backup: the decision weighs the predicted failures
    for cycle in range(3):
        env.step(action)
        assert len(calls) == 2 + cycle  # the decision reused the observation's; the next observation is new
    predictor = env.unwrapped.core.predictor
    cached, fresh = predictor.predict(), compute(predictor)
    for a, b in zip(cached, fresh):
        np.testing.assert_array_equal(a, b)
        assert not a.flags.writeable
