"""mel-gym reproduce on a reduced setting: the shape of its output, and adaptive beating equal."""

from __future__ import annotations

import json

import numpy as np

from mel_gym.experiments.cli import main
from mel_gym.experiments.reproduce import FIGURES, choose_targets, cycles_to


def test_cycles_to_target_and_target_choice():
    curves = np.array([[0.1, 0.5, 0.7, 0.9], [0.1, 0.6, 0.8, 0.85]])
    assert cycles_to(curves, 0.8) == [3, 2]
    assert cycles_to(curves, 0.95) == [None, None]
    fig = FIGURES["fig2"]
    targets, kind, best = choose_targets(fig, {"a": curves}, None, relative=False)
    assert kind == "relative" and best == curves.mean(axis=0).max()  # 94% is out of reach here
    assert targets == [(round(0.95 * best, 4), 0.94), (round(0.98 * best, 4), 0.97)]
    high = np.array([[0.1, 0.95, 0.98]])
    assert choose_targets(fig, {"a": high}, None, relative=False)[:2] == ([(0.94, 0.94), (0.97, 0.97)], "paper")
    assert choose_targets(fig, {"a": high}, [0.5], relative=False)[:2] == ([(0.5, None)], "given")


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
        assert {"accuracy", "cycles", "reduction_pct"} <= set(row)
        ha, equal = row["cycles"]["ha-sync"], row["cycles"]["equal"]
        assert ha is not None and (equal is None or ha < equal), row
    assert any(r["reduction_pct"]["ha-sync vs equal"] is not None and r["reduction_pct"]["ha-sync vs equal"] > 0
               for r in result["targets"])
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


def test_reproduce_rejects_bad_input(capsys):
    assert main(["reproduce", "fig2", "--seeds", "0", "--quick"]) == 2
    assert "seeds=0" in capsys.readouterr().err
