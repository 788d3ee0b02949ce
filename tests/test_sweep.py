"""``mel-gym sweep``: its config checks (no Ray needed) and tiny sweeps on a local Ray with 2 CPUs (skipped where Ray
is not installed: it is the optional extra mel_gym[ray])."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys

import numpy as np
import pytest
import yaml

from mel_gym.experiments.sweep import (RAY_MISSING, agent_config, grid, load_sweep_config, trial_label, varied_keys)
from mel_gym.params import ConfigError

HAS_RAY = importlib.util.find_spec("ray") is not None and importlib.util.find_spec("ray.tune") is not None
TINY = {"envs": ["mel_gym/TaskAllocation-v0"], "scenarios": ["default"], "agents": ["ppo", "a2c"], "seeds": [0, 1],
        "timesteps": 64, "n_envs": 2, "env_kwargs": {"num_learners": 3, "horizon_cycles": 3},
        "evaluation": {"episodes": 2, "baselines": ["equal", "ha-sync", "random"]}}


def write(tmp_path, **changes):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({**TINY, **changes}))
    return path


@pytest.mark.parametrize("changes, fragment", [
    ({"bogus": 1}, "unknown sweep config key 'bogus'"),
    ({"seeds": []}, "'seeds'"),
    ({"envs": ["mel_gym/Nope-v0"]}, "Nope-v0"),
    ({"scenarios": ["no-such-scenario"]}, "no-such-scenario"),
    ({"hyperparams": {"learning_rate": {"loguniform": [0, 1]}}}, "'hyperparams.learning_rate.loguniform'"),
    ({"hyperparams": {"learning_rate": {"uniform": [2, 1]}}}, "'hyperparams.learning_rate.uniform'"),
    ({"hyperparams": {"n_stepz": 3}}, "hyperparams.n_stepz"),
    ({"evaluation": {"episodez": 3}}, "'evaluation.episodez'"),
    ({"num_samples": 3}, "'num_samples'"),
    ({"trial_cpus": 0}, "'trial_cpus'"),
    ({"evaluation": {"episodes": 0}}, "'evaluation.episodes' = 0 must be an integer >= 1"),
    ({"evaluation": {"baselines": ["milp"]}}, "'evaluation.baselines': 'milp' does not fit"),
])
def test_config_errors_name_the_key(tmp_path, changes, fragment):
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        load_sweep_config(write(tmp_path, **changes))


def test_grid_labels_and_agent_overrides(tmp_path):
    space = {"learning_rate": [1e-4, 3e-4], "gamma": 0.9, "policy_kwargs": {"hidden": {"choice": [32, 64]}}}
    cfg = load_sweep_config(write(tmp_path, hyperparams=space))
    rows = grid(cfg)
    assert len(rows) == 4 and rows[0] == {"env_id": "mel_gym/TaskAllocation-v0", "scenario": "default",
                                          "agent": "ppo", "seed": 0}
    varied = varied_keys(space)
    assert varied == {"learning_rate", "policy_kwargs.hidden"}
    label = trial_label("ppo", {"learning_rate": 3e-4, "gamma": 0.9, "policy_kwargs": {"hidden": 64}}, varied, 1)
    assert label == "ppo[learning_rate=0.0003,policy_kwargs.hidden=64]-seed1"
    assert trial_label("a2c", {"gamma": 0.9}, set(), 0) == "a2c-seed0"  # nothing varies: compare pools the seeds
    merged = agent_config("ppo", {"learning_rate": 1e-3, "policy_kwargs": {"hidden": 32}})
    assert merged["hyperparams"]["learning_rate"] == 1e-3 and merged["hyperparams"]["n_steps"] == 128  # preset kept
    assert merged["hyperparams"]["policy_kwargs"] == {"log_std_init": -1.5, "hidden": 32}
    assert load_sweep_config("default")["agents"] == ["ppo", "a2c"]  # the shipped presets parse
    assert load_sweep_config("search")["num_samples"] > 1


@pytest.mark.skipif(HAS_RAY, reason="Ray is installed here: the missing-Ray message cannot show")
def test_sweep_without_ray_says_how_to_install_it(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mel_gym.experiments.cli", "sweep", str(write(tmp_path)), "--out",
                          str(tmp_path / "out")], capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.strip() == f"mel-gym sweep: error: {RAY_MISSING}"
    assert not (tmp_path / "out").exists()


@pytest.fixture()
def local_ray():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'mel_gym[ray]')")
    pytest.importorskip("ray.tune", reason="Ray Tune is not installed (pip install 'mel_gym[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_tiny_grid_sweep_trains_evaluates_and_tabulates(tmp_path, local_ray):
    from mel_gym.experiments.evaluate import evaluate
    from mel_gym.experiments.sweep import sweep

    result = sweep(write(tmp_path), out_dir=tmp_path / "out", log=lambda line: None)
    assert not result["failed"] and len(result["trials"]) == 4
    labels = {t["label"] for t in result["trials"]}
    assert labels == {"ppo-seed0", "ppo-seed1", "a2c-seed0", "a2c-seed1"}
    (group,) = result["groups"].values()
    assert group["baselines_agree"] and group["best_baseline"] in ("equal", "ha-sync")
    assert {"ppo (2 training seeds)", "a2c (2 training seeds)", "equal", "ha-sync", "random"} <= set(group["policies"])
    for trial in result["trials"]:
        rows = json.loads((tmp_path / "out" / "trials" / trial["path"].split("/")[-1] / "results.json").read_text())
        mine = [r["return"] for r in rows["results"] if r["policy"] == trial["label"]]
        assert len(mine) == 2 and trial["return"] == pytest.approx(np.mean(mine))
        assert group["policies"][trial["label"]]["return"]["mean"] == pytest.approx(np.mean(mine))
    # the trial's saved agent is the one it evaluated: replaying it on the same seeds gives the same returns
    trial = next(t for t in result["trials"] if t["label"] == "ppo-seed1")
    again = evaluate([trial["path"] + "/agent/model.zip"], "mel_gym/TaskAllocation-v0", episodes=2, seed=10_000,
                     scenario="default", env_kwargs=TINY["env_kwargs"])
    assert [r.episode_return for r in again] == pytest.approx(
        [r["return"] for r in json.loads(open(trial["path"] + "/results.json").read())["results"]
         if r["policy"] == "ppo-seed1"])
    table = (tmp_path / "out" / "sweep.md").read_text()
    for name in labels | {"ppo (2 training seeds)", "(best baseline)"}:
        assert name in table
    csv_rows = (tmp_path / "out" / "sweep.csv").read_text().splitlines()
    assert any(line.startswith("mel_gym/TaskAllocation-v0,default,ppo (2 training seeds),return,") for line in csv_rows)
    assert (tmp_path / "out" / "TaskAllocation-v0__default" / "curves.png").is_file()


def test_random_search_draws_hyperparameters_per_trial(tmp_path, local_ray):
    from stable_baselines3 import PPO

    from mel_gym.experiments.sweep import sweep

    path = write(tmp_path, agents=["ppo"], seeds=[0], num_samples=2, evaluation={"episodes": 2, "seed": 5000,
                                                                                 "baselines": ["equal"]},
                 hyperparams={"learning_rate": {"loguniform": [1e-4, 1e-3]}, "n_steps": {"choice": [16, 32]}})
    result = sweep(path, out_dir=tmp_path / "out", log=lambda line: None)
    assert not result["failed"] and len(result["trials"]) == 2
    rates = [t["hyperparams"]["learning_rate"] for t in result["trials"]]
    assert len(set(rates)) == 2 and all(1e-4 <= r <= 1e-3 for r in rates)
    for trial in result["trials"]:
        assert trial["label"].startswith("ppo[learning_rate=") and "n_steps=" in trial["label"]
        model = PPO.load(trial["path"] + "/agent/model.zip")
        assert model.learning_rate == pytest.approx(trial["hyperparams"]["learning_rate"])
        assert model.n_steps == trial["hyperparams"]["n_steps"]
