"""The bound test (``mel-gym headroom``) and its rows in ``mel-gym run``."""

from __future__ import annotations

import csv
import json
import math
import subprocess

import numpy as np
import pytest

from mel_gym.experiments.episodes import EpisodeResult
from mel_gym.agents.registry import make_policy
from mel_gym.envs.action_maps import action_from_fraction
from mel_gym.experiments.common import make_env
from mel_gym.experiments.headroom import (BOUND, ScheduledFraction, bound_results, headroom_lines, headroom_settings,
                                         paired, per_episode_best)
from mel_gym.schema import ConfigError

from test_cli import MEL_GYM


def episode(policy: str, seed: int, ret: float, lql: float | None = None, cycles: int | None = None) -> EpisodeResult:
    return EpisodeResult(policy, "mel_gym/TaskAllocation-v0", seed, ret, ret if lql is None else lql, 0.9, cycles, 5.0)


def test_per_episode_best_keeps_each_episodes_best_setting():
    runs = [({"fraction": 0.2}, [episode("p", 1, 1.0), episode("p", 2, 3.0)]),
            ({"fraction": 0.4}, [episode("p", 1, 2.0), episode("p", 2, 2.5)])]
    chosen, settings = per_episode_best(runs, "bound: x")
    assert [e.episode_return for e in chosen] == [2.0, 3.0] and [e.seed for e in chosen] == [1, 2]
    assert settings == [{"fraction": 0.4}, {"fraction": 0.2}] and {e.policy for e in chosen} == {"bound: x"}


def test_paired_differences_and_the_share_of_the_headroom():
    """Hand values: bound - best causal per seed (0.3, 0.5, 0.4): mean 0.4, s.e. 0.1 / sqrt(3); a learned row at
    (+0.1, +0.3, +0.2) closes 0.2 / 0.4 = 50% of it."""
    base = [episode("ha-sync-fraction", s, r) for s, r in ((1, 2.0), (2, 2.5), (3, 3.0))]
    worse = [episode("ha-sync", s, r) for s, r in ((1, 1.0), (2, 1.5), (3, 2.0))]
    bound = [episode(f"{BOUND}hindsight ha-sync-fraction", s, r) for s, r in ((1, 2.3), (2, 3.0), (3, 3.4))]
    learned = [episode("ppo", s, r) for s, r in ((1, 2.1), (2, 2.8), (3, 3.2))]
    mean, se, n = paired(bound, base)
    assert (mean, n) == (pytest.approx(0.4), 3) and se == pytest.approx(0.1 / math.sqrt(3))
    lines, numbers = headroom_lines(base + worse + bound + learned, ["ha-sync", "ha-sync-fraction"], ["ppo"])
    assert numbers["best_causal"] == "ha-sync-fraction" and numbers["return"] == pytest.approx(0.4)
    assert numbers["return_relative"] == pytest.approx(0.4 / 2.5)
    assert numbers["learned"]["ppo"]["share_of_headroom"] == pytest.approx(0.5)
    assert "50% of the headroom closed" in "\n".join(lines)
    assert numbers["return_spread"] == pytest.approx(np.std([2.0, 2.5, 3.0]))
    assert "smaller than the seed-to-seed spread" in "\n".join(lines)  # 0.4 < the std 0.41 of 2.0, 2.5, 3.0
    flat = [episode(f"{BOUND}hindsight ha-sync-fraction", s, r + 0.01 * (-1) ** s) for s, r in ((1, 2.0), (2, 2.5),
                                                                                               (3, 3.0))]
    lines, _ = headroom_lines(base + flat, ["ha-sync-fraction"])
    assert "no policy can be shown to beat the tuned planner" in "\n".join(lines)


def test_headroom_settings_are_checked():
    with pytest.raises(ConfigError, match="not a baseline with knobs"):
        headroom_settings({"headroom": {"planners": ["ha-sync"]}})
    with pytest.raises(ConfigError, match="headroom.nope"):
        headroom_settings({"headroom": {"nope": 1}})
    with pytest.raises(ConfigError, match="fractions must lie in"):
        headroom_settings({"headroom": {"planners": ["ha-sync-fraction"],
                                        "schedules": {"fractions": [0.0], "switch_cycles": [2]}}})


TINY = """env_id: mel_gym/TaskAllocation-v0
scenario: default
env_kwargs: {num_learners: 4, samples_per_cycle: 400, horizon_cycles: 4, amount_action: true}
evaluation: {episodes: 2, seed: 10000, tune_episodes: 2, baselines: [ha-sync, ha-sync-fraction]}
headroom:
  planners: [ha-sync-fraction]
  oracle: null
  schedules: {fractions: [0.2, 1.0], switch_cycles: [2]}
quick: {episodes: 2}
"""


def test_the_headroom_command_prints_bounds_beside_the_causal_baselines(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    out = subprocess.run([MEL_GYM, "headroom", "--config", str(config), "--quick", "--out", str(tmp_path / "hr")],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    table = (tmp_path / "hr" / "table.md").read_text()
    for row in ("| ha-sync |", "| ha-sync-fraction |", "| bound: hindsight ha-sync-fraction |",
                "| bound: open-loop hindsight ha-sync-fraction |", "Headroom: best bound", "non-causal",
                "no oracle row"):
        assert row in table and row in out.stdout, row
    data = json.loads((tmp_path / "hr" / "headroom.json").read_text())
    assert data["headroom"]["best_causal"] == "ha-sync-fraction" and data["headroom"]["return"] >= 0
    assert "fraction" in data["tuned"]["ha-sync-fraction"] and data["tune_seeds"] == [0, 1]
    with open(tmp_path / "hr" / "headroom.csv") as fh:
        rows = list(csv.DictReader(fh))
    kinds = {(r["policy"], r["kind"]) for r in rows}
    assert ("ha-sync", "causal") in kinds and (f"{BOUND}hindsight ha-sync-fraction", "bound") in kinds
    by = {(r["policy"], r["seed"]): float(r["return"]) for r in rows}
    for seed in ("10000", "10001"):  # the hindsight row is never below the tuned constant it chooses from
        assert by[(f"{BOUND}hindsight ha-sync-fraction", seed)] >= by[("ha-sync-fraction", seed)] - 1e-5
    bad = subprocess.run([MEL_GYM, "headroom", "--config", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "nope" in bad.stderr


def test_open_loop_schedules_read_the_cycle_of_every_env():
    """The two-phase fraction schedule plays its early fraction before the switch cycle and its late one from it
    on, in the allocation envs and in MultiJob-v0 (whose cycle sits in its world's part of the observation)."""
    for env_id, name in (("mel_gym/TaskAllocation-v0", "ha-sync-fraction"), ("mel_gym/MultiJob-v0", "milp-fraction")):
        env = make_env(env_id, None, {"amount_action": True}).unwrapped
        schedule = ScheduledFraction(make_policy(name, env.problem, env.action_space), 0.2, 1.0, switch=1)
        obs, _ = env.reset(seed=10_000)
        early, _ = schedule.predict(obs)
        obs, *_ = env.step(early)
        late, _ = schedule.predict(obs)
        if env_id.endswith("MultiJob-v0"):
            levels = env.problem.amount_levels
            J = env.problem.num_jobs
            assert list(early[-J:]) == list(levels(np.full(J, 0.2))) and list(late[-J:]) == list(levels(np.ones(J)))
        else:
            assert early[-1] == pytest.approx(action_from_fraction(0.2, env.problem.min_fraction), abs=1e-6)
            assert late[-1] == pytest.approx(1.0)


def test_a_planner_that_ignores_the_prediction_gets_no_oracle_row():
    """Told the realised outcomes, a planner without a risk threshold would plan the same: its oracle row would be
    the tuned planner again, mislabelled as a bound, so there is none, and the record says why."""
    settings = {"planners": ["ha-sync-fraction"], "oracle": {"prediction": {"predictor": "clairvoyant"}},
                "schedules": None}
    kwargs = {"scenario": "dynamic", "num_learners": 4, "samples_per_cycle": 400, "horizon_cycles": 3,
              "amount_action": True}
    rows, record = bound_results(settings, "mel_gym/ReliableTaskAllocation-v0", kwargs, [10_000], [0],
                                 tuned={"ha-sync-fraction": {"fraction": 0.4}}, quick=True)
    assert {r.policy for r in rows} == {f"{BOUND}hindsight ha-sync-fraction"}
    assert any("no oracle row for ha-sync-fraction" in note for note in record["notes"])
