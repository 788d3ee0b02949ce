"""The mel-gym command line as a user runs it."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mel_gym.experiments.cli import main
from mel_gym.experiments.common import parse_env_kwargs

MEL_GYM = str(Path(sys.executable).parent / "mel-gym")
SMALL_ARGS = ["--env-kwarg", "num_learners=4", "--env-kwarg", "samples_per_cycle=400", "--env-kwarg", "horizon_cycles=4"]


@pytest.mark.parametrize("command", [[], ["train"], ["evaluate"], ["run"], ["bench"], ["reproduce"], ["download"], ["scenario"]])
def test_help_of_every_command(command):
    out = subprocess.run([MEL_GYM, *command, "--help"], capture_output=True, text=True, check=True)
    assert "usage: mel-gym" in out.stdout


def test_parse_env_kwargs():
    assert parse_env_kwargs(["reward.metric=accuracy", "mode=fl", "reward.scale=2", "learning.hidden_layers=[8, 8]"]) == {
        "reward": {"metric": "accuracy", "scale": 2}, "mode": "fl", "learning": {"hidden_layers": [8, 8]}}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_env_kwargs(["novalue"])


def test_train_then_evaluate_with_baselines(tmp_path, capsys):
    assert main(["train", *SMALL_ARGS, "--timesteps", "256", "--n-envs", "2", "--runs-dir", str(tmp_path),
                 "--name", "tiny", "--checkpoint-every", "128", "--no-progress"]) == 0
    run = tmp_path / "tiny"
    assert (run / "model.zip").is_file() and (run / "run.yaml").is_file()
    assert any((run / "checkpoints").iterdir())
    assert any(p.name.startswith("events.out.tfevents") for p in (run / "tb").rglob("*"))
    out_json, out_csv, out_png = tmp_path / "r.json", tmp_path / "r.csv", tmp_path / "r.png"
    code = main(["evaluate", "mel_gym/TaskAllocation-v0", *SMALL_ARGS, "--policy", "equal", "--policy", "ha-sync",
                 "--policy", "random", "--policy", str(run / "model.zip"), "--episodes", "2", "--json", str(out_json),
                 "--csv", str(out_csv), "--plot", str(out_png)])
    assert code == 0
    table = capsys.readouterr().out
    assert "| ha-sync |" in table and "model.zip" in table
    payload = json.loads(out_json.read_text())
    rows = payload["results"]
    assert len(rows) == 8
    assert set(rows[0]) >= {"policy", "env_id", "seed", "return", "final_accuracy", "cycles_to_target", "mean_tau"}
    assert [r["seed"] for r in rows if r["policy"] == "equal"] == [r["seed"] for r in rows if r["policy"] == "ha-sync"]
    by_policy = {r["policy"]: r for r in rows}
    assert by_policy["ha-sync"]["mean_tau"] >= by_policy["equal"]["mean_tau"]
    assert len(list(csv.DictReader(out_csv.open()))) == 8
    assert out_png.stat().st_size > 1000


def test_bad_input_gives_one_clear_line(tmp_path, capsys):
    assert main(["evaluate", "--env-kwarg", "num_learners=-3", "--episodes", "1"]) == 2
    assert "'num_learners' = -3 is out of range" in capsys.readouterr().err
    assert main(["evaluate", "--policy", str(tmp_path / "none.zip"), "--episodes", "1", *SMALL_ARGS]) == 2
    assert "no saved agent" in capsys.readouterr().err
    assert main(["train", "--agent", str(tmp_path / "missing.yaml"), "--timesteps", "10"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["evaluate", "--scenario", "nosuch", "--episodes", "1"]) == 2
    assert "unknown scenario 'nosuch'" in capsys.readouterr().err


def test_scenario_command_lists_and_prints(capsys):
    assert main(["scenario"]) == 0
    listing = capsys.readouterr().out
    assert "default" in listing and "`channel.bandwidth_hz`" in listing
    assert main(["scenario", "paper"]) == 0
    assert "num_learners: 20" in capsys.readouterr().out


def test_run_quick_writes_every_output(tmp_path):
    out = subprocess.run([MEL_GYM, "run", "--quick", "--out", str(tmp_path / "main"), "--no-progress"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    for name in ("table.md", "results.csv", "results.json", "accuracy.png", "agent/model.zip"):
        assert (tmp_path / "main" / name).is_file(), name
    table = (tmp_path / "main" / "table.md").read_text()
    for policy in ("| ppo |", "| equal |", "| ha-sync |", "| random |"):
        assert policy in table and policy in out.stdout
