"""mel-gym bench: the report's shape and that both trainers compute the same round (no speed is asserted)."""

from __future__ import annotations

import json

import torch

from mel_gym.experiments.bench import TrainerWorkload, bench_trainer, format_report
from mel_gym.experiments.cli import main


def test_batched_trainer_and_the_module_loop_compute_the_same_round():
    for workload in (TrainerWorkload("tiny-minibatch", (16, 8, 10), 4, 80, 10, 2),
                     TrainerWorkload("tiny-full", (16, 12, 8, 10), 5, 200, None, 2, heterogeneous=True)):
        row = bench_trainer(workload, torch.device("cpu"), repeats=1)
        assert row["max_abs_weight_diff"] < 1e-5
        assert row["loop_steps_per_s"] > 0 and row["batched_steps_per_s"] > 0 and row["gflops"] > 0
    assert TrainerWorkload("w", (4, 2), 4, 100, None, 3).steps_per_round() == 12  # full batch: 1 step/iteration
    assert TrainerWorkload("w", (4, 2), 4, 100, 10, 3).steps_per_round() == 4 * 3 * 3  # ceil(25/10) = 3


def test_bench_quick_writes_the_documented_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert {"trainer", "sgemm_peak_gflops", "vector_env", "peak_rss_mb"} <= set(report)
    assert {r["workload"] for r in report["trainer"]} == {"digits-mlp-minibatch", "mnist-mlp-minibatch",
                                                           "paper-net-full-batch"}
    for row in report["trainer"]:
        assert {"workload", "loop_steps_per_s", "batched_steps_per_s", "speedup", "gflops"} <= set(row)
        assert row["max_abs_weight_diff"] < 1e-4
    cases = {(r["preset"], r["num_envs"]) for r in report["vector_env"]}
    assert {("default", n) for n in (1, 16, 64)} <= cases  # quick; the full bench adds N = 256 and ("paper", 1) in cases and ("dynamic", 16) in cases
    assert ("drone", 16) in cases and ("relocation", 16) in cases and ("chains", 16) in cases
    assert ("multihop", 16) in cases and ("redistribution", 16) in cases
    assert [r["learners"] for r in report["scale"]] == [16, 100]  # quick: K capped at 100 (the full bench: 1,000)
    assert [(r["preset"], r["learners"]) for r in report["scale_presets"]] == [
        ("dynamic", 10), ("dynamic", 100), ("multijob", 10), ("multijob", 100)]
    assert all(r["build_s"] > 0 and r["reset_s"] > 0 and r["step_s"] > 0 for r in report["scale_presets"])
    assert all(r["build_s"] > 0 and r["step_s"] > 0 for r in report["scale"])
    for row in report["vector_env"]:
        assert {"preset", "num_envs", "native_steps_per_s", "sync_steps_per_s", "speedup"} <= set(row)
        if row["policy"] == "equal":  # every learner trains: both modes do the same, positive training work
            assert row["native_train_gflops"] > 0 and row["sync_train_gflops"] > 0
    assert report["sgemm_peak_gflops"] > 0 and report["peak_rss_mb"] > 0
    assert "| digits-mlp-minibatch |" in capsys.readouterr().out
    assert "speedup" in format_report(report)
