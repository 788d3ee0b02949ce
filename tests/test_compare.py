"""Results fit for a paper: bootstrap intervals, paired differences and ``mel-gym compare``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mel_gym.experiments.compare import compare, pooled_policies
from mel_gym.experiments.stats import bootstrap_mean, paired_difference

MEL_GYM = str(Path(sys.executable).with_name("mel-gym"))


def test_the_bootstrap_interval_matches_the_normal_one_and_covers_the_mean_95_percent_of_the_time():
    rng = np.random.default_rng(3)
    x = rng.normal(2.0, 1.0, 400)
    ci = bootstrap_mean(x)
    half = 1.96 * x.std(ddof=1) / np.sqrt(x.size)  # the normal interval of a mean
    assert ci.mean == pytest.approx(x.mean())
    assert ci.high - ci.mean == pytest.approx(half, rel=0.1) and ci.mean - ci.low == pytest.approx(half, rel=0.1)
    hits = 0
    for s in range(300):
        sample = rng.normal(0.0, 1.0, 40)
        ci = bootstrap_mean(sample, samples=2000, seed=s)
        hits += ci.low <= 0.0 <= ci.high
    assert 0.90 <= hits / 300 <= 0.99
    assert bootstrap_mean([1.0, 2.0, 3.0]).text() == bootstrap_mean([1.0, 2.0, 3.0]).text()  # reproducible


def test_pairing_removes_what_the_seeds_share():
    rng = np.random.default_rng(0)
    world = rng.normal(0.0, 3.0, 30)  # how easy each seed's world is, shared by both policies
    a = {s: 10.0 + world[s] + rng.normal(0, 0.1) for s in range(30)}
    b = {s: 9.8 + world[s] + rng.normal(0, 0.1) for s in range(30)}
    b[99] = 0.0  # a seed only b played does not count
    diff = paired_difference(a, b)
    assert diff.n == 30 and diff.low > 0.1 and diff.high < 0.3  # clearly better, when paired
    ia, ib = bootstrap_mean(list(a.values())), bootstrap_mean([b[s] for s in range(30)])
    assert ia.low < ib.high  # while the two separate intervals overlap
    with pytest.raises(ValueError, match="share no seed"):
        paired_difference({1: 1.0}, {2: 1.0})
    with pytest.raises(ValueError, match="finite"):
        bootstrap_mean([1.0, float("nan")])
    with pytest.raises(ValueError, match="at least one"):
        bootstrap_mean([])
    with pytest.raises(ValueError, match="level"):
        bootstrap_mean([1.0], level=1.0)


def _results(path: Path, rows: dict[str, list[float]], curves: bool = True) -> Path:
    results = [{"policy": name, "env_id": "x", "seed": 100 + i, "return": r, "lql_return": r / 2,
                "final_accuracy": 0.5 + r / 100, "cycles_to_target": None if r < 5 else 3, "mean_tau": r}
               for name, values in rows.items() for i, r in enumerate(values)]
    payload = {"results": results, "accuracy_curves": {n: [[0.1, 0.5, 0.7]] * len(v) for n, v in rows.items()}}
    if curves:
        payload["cycle_curves"] = {n: [{"tau": [3.0, 4.0], "energy_j": [0.1, 0.2], "participants": [4.0, 3.0]}]
                                   * len(v) for n, v in rows.items()}
    path.write_text(json.dumps(payload))
    return path


def test_compare_pools_training_seeds_and_pairs_with_the_best_baseline(tmp_path):
    first = _results(tmp_path / "a.json", {"ppo-seed0": [6.0, 7.0, 5.0, 6.5], "ppo-seed1": [5.0, 6.0, 6.0, 5.5],
                                           "ha-sync": [5.0, 6.0, 4.0, 5.0]})
    second = _results(tmp_path / "b.json", {"equal": [3.0, 4.0, 2.0, 3.5], "random": [9.0, 9.0, 9.0, 9.0]},
                      curves=False)
    assert pooled_policies(json.loads(first.read_text())["results"]) == {"ppo (2 training seeds)": ["ppo-seed0",
                                                                                                   "ppo-seed1"]}
    result = compare([first, second], tmp_path / "out")
    assert result["best_baseline"] == "ha-sync"  # random is never the reference, however it scores
    pooled = result["policies"]["ppo (2 training seeds)"]
    assert pooled["return"]["mean"] == pytest.approx(np.mean([5.5, 6.5, 5.5, 6.0])) and pooled["episodes"] == 8
    assert result["differences"]["ppo (2 training seeds)"]["return"]["mean"] == pytest.approx(0.875)
    assert result["policies"]["equal"]["reached_target"] == 0 and result["policies"]["ha-sync"]["reached_target"] == 3
    for name in ("compare.md", "compare.csv", "compare.json", "curves.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    rows = (tmp_path / "out" / "compare.csv").read_text().splitlines()
    assert rows[0] == "policy,metric,mean,low,high,n,against" and any(r.startswith("equal,return_difference") for r in rows)
    with pytest.raises(ValueError, match="played seed 100 in both"):
        compare([first, first])


def test_compare_runs_on_what_evaluate_wrote(tmp_path):
    results = tmp_path / "eval.json"
    out = subprocess.run([MEL_GYM, "evaluate", "--policy", "equal", "--policy", "ha-sync", "--episodes", "3",
                          "--env-kwarg", "num_learners=4", "--env-kwarg", "samples_per_cycle=400",
                          "--env-kwarg", "horizon_cycles=3", "--json", str(results)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    data = json.loads(results.read_text())
    assert len(data["cycle_curves"]["ha-sync"]) == 3 and len(data["cycle_curves"]["ha-sync"][0]["tau"]) == 3
    out = subprocess.run([MEL_GYM, "compare", str(results), "--out", str(tmp_path / "cmp")], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "Paired differences against the best baseline (ha-sync)" in out.stdout and "| equal | 3 |" in out.stdout
    bad = subprocess.run([MEL_GYM, "compare", str(results), "--level", "95"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--level" in bad.stderr
    missing = subprocess.run([MEL_GYM, "compare", str(tmp_path / "nope.json")], capture_output=True, text=True)
    assert missing.returncode == 2 and "nope.json" in missing.stderr
