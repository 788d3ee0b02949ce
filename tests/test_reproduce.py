"""mel-gym reproduce on a reduced setting: the shape of its output, and adaptive beating equal."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mel_gym.experiments.cli import main
from mel_gym.experiments.reproduce import FIGURES, choose_targets, cycles_per_seed, format_reduction, paired_reduction


def test_cycles_to_target_and_target_choice():
    curves = np.array([[0.1, 0.5, 0.7, 0.9], [0.1, 0.6, 0.8, 0.85]])
    assert cycles_per_seed(curves, 0.8) == [3, 2]
    assert cycles_per_seed(curves, 0.95) == [None, None]
    fig = FIGURES["fig2"]
    targets, kind, best = choose_targets(fig, {"a": curves}, None, relative=False)
    assert kind == "relative" and best == curves.mean(axis=0).max()  # 94% is out of reach here
    assert targets == [(round(0.95 * best, 4), 0.94), (round(0.98 * best, 4), 0.97)]
    high = np.array([[0.1, 0.95, 0.98]])
    assert choose_targets(fig, {"a": high}, None, relative=False)[:2] == ([(0.94, 0.94), (0.97, 0.97)], "paper")
    assert choose_targets(fig, {"a": high}, [0.5], relative=False)[:2] == ([(0.5, None)], "given")


def test_reductions_are_paired_by_seed_and_censored_where_the_baseline_never_arrives():
    # seed 0: 10 vs 20 cycles (50%); seed 1: 12 vs 16 (25%); seed 2: the baseline needs more than 30 cycles
    both = paired_reduction([10, 12], [20, 16], cycles=30)
    assert both == {"pct": 37.5, "bound": "=", "paired": 2, "censored": 0, "unreached": 0}
    assert format_reduction(both) == "38% (2 paired)"
    censored = paired_reduction([10, 12, 15], [20, 16, None], cycles=30)
    assert censored["bound"] == ">=" and censored["censored"] == 1
    assert censored["pct"] == pytest.approx((50 + 25 + 100 * (31 - 15) / 31) / 3)
    assert format_reduction(censored).startswith("≥ ") and "1 censored" in format_reduction(censored)
    # a seed where only the baseline arrives counts against the winner: an upper bound, below zero for that seed
    lost = paired_reduction([10, None], [20, 5], cycles=30)
    assert lost["bound"] == "<=" and lost["pct"] == pytest.approx((50 + 100 * (5 - 31) / 5) / 2)
    assert format_reduction(lost).startswith("≤ ") and "1 unreached" in format_reduction(lost)
    mixed = paired_reduction([10, None], [None, 5], cycles=30)  # bounds both ways: no honest mean
    assert mixed["pct"] is None and format_reduction(mixed).startswith("unknown")
    assert format_reduction(paired_reduction([None], [None], cycles=30)) == "-"


def test_reproduce_fig2_quick_adaptive_needs_fewer_cycles_than_equal(tmp_path, capsys):
    out = tmp_path / "fig2.json"
    code = main(["reproduce", "fig2", "--quick", "--scenario", "default", "--cycles", "20", "--targets", "0.6", "0.75",
                 "--out", str(tmp_path), "--json", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert {"figure", "dataset", "seeds", "targets", "paper"} <= set(result)
    assert result["figure"] == "fig2" and result["seeds"] == 3
    assert result["paper"]["reduction_pct"]["0.97"]["ha-sync vs equal"] == 50.0
    for row in result["targets"]:
        assert {"accuracy", "cycles", "cycles_per_seed", "reduction_pct"} <= set(row)
        ha, equal = row["cycles"]["ha-sync"], row["cycles"]["equal"]
        assert ha is not None and (equal is None or ha < equal), row
    assert any(r["reduction_pct"]["ha-sync vs equal"]["pct"] is not None
               and r["reduction_pct"]["ha-sync vs equal"]["pct"] > 0 for r in result["targets"])
    assert (tmp_path / "fig2_default.png").stat().st_size > 1000
    assert "| target acc. |" in capsys.readouterr().out


def test_reproduce_fig3_quick_on_a_small_joint_setting(tmp_path):
    out = tmp_path / "fig3.json"
    assert main(["reproduce", "fig3", "--scenario", "joint", "--seeds", "2", "--cycles", "6", "--env-kwarg",
                 "num_learners=5", "--out", str(tmp_path), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["accuracy_curves"]) == {"joint", "task-only", "resource-only"}
    assert set(result["targets"][0]["reduction_pct"]) == {"joint vs task-only", "joint vs resource-only"}
    assert len(result["accuracy_curves"]["joint"]) == 2 and len(result["accuracy_curves"]["joint"][0]) == 7


def test_tau_sweep_reports_each_policys_tau_and_the_implied_reductions(tmp_path, capsys):
    """``reproduce fig3 --sweep``: mean tau per policy and value, and 1 - tau_b / tau_a per pair; a tighter energy
    cap lowers task-only's tau (it cannot slow its CPUs down) at least as much as joint's."""
    out = tmp_path / "sweep.json"
    assert main(["reproduce", "fig3", "--scenario", "joint", "--seeds", "2", "--cycles", "1", "--env-kwarg",
                 "num_learners=5", "--sweep", "energy.cycle_cap_j=0.05,5", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["tau_sweep"]
    assert [row["value"] for row in rows] == [0.05, 5]
    for row in rows:
        taus = row["mean_tau"]
        assert set(taus) == {"joint", "task-only", "resource-only"} and all(t >= 0 for t in taus.values())
        for pair, pct in row["tau_reduction_pct"].items():
            better, base = pair.split(" vs ")
            assert pct == pytest.approx(100 * (1 - taus[base] / taus[better]))
        assert taus["joint"] >= taus["task-only"]  # joint optimises over task-only's resources too
    tight, loose = rows
    assert tight["mean_tau"]["task-only"] <= loose["mean_tau"]["task-only"]
    printed = capsys.readouterr().out
    assert "| energy.cycle_cap_j | mean tau joint |" in printed and "1 - tau ratio, joint vs task-only" in printed
    assert main(["reproduce", "fig3", "--sweep", "energy.cycle_cap_j"]) == 2
    from mel_gym.experiments.common import parse_value
    assert [parse_value(v) for v in ("null", "2e5", "1.5", "3", "fl")] == [None, 200000.0, 1.5, 3, "fl"]


def test_reproduce_rejects_bad_input(capsys):
    assert main(["reproduce", "fig2", "--seeds", "0", "--quick"]) == 2
    assert "seeds=0" in capsys.readouterr().err
    assert main(["reproduce", "fig2", "--cycles", "0", "--quick"]) == 2
    assert "cycles=0" in capsys.readouterr().err
