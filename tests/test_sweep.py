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

from mel_gym.experiments.sweep import (RAY_MISSING, agent_config, hyperparameter_points, load_sweep_config, trial_label,
                                       trials)
from mel_gym.schema import ConfigError

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
    ({"seeds": [0, 0]}, "'seeds' names '0' twice"),
    ({"hyperparams": {"n_steps": [16, 16]}}, "two trials would both be"),
    ({"quick": {"episodes": 0}}, "'quick.episodes'"),
    ({"evaluation": {"episodes": 0}}, "'evaluation.episodes' = 0 must be an integer >= 1"),
    ({"evaluation": {"baselines": ["milp"]}}, "'evaluation.baselines': 'milp' does not fit"),
])
def test_config_errors_name_the_key(tmp_path, changes, fragment):
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        load_sweep_config(write(tmp_path, **changes))


def test_trials_labels_and_agent_overrides(tmp_path):
    space = {"learning_rate": [1e-4, 3e-4], "gamma": 0.9, "policy_kwargs": {"net_arch": [[64, 64]]}}
    cfg = load_sweep_config(write(tmp_path, agents=["ppo-mlp", "a2c"], hyperparams=space))
    rows = trials(cfg)  # env x scenario x agent x point x seed
    assert len(rows) == 2 * 2 * 2
    assert [r["label"] for r in rows[:4]] == [f"ppo-mlp[learning_rate={lr}]-seed{seed}"
                                              for lr in ("0.0001", "0.0003") for seed in (0, 1)]
    assert rows[0]["hyperparams"] == {"learning_rate": 1e-4, "gamma": 0.9, "policy_kwargs": {"net_arch": [64, 64]}}
    plain = load_sweep_config(write(tmp_path))
    assert [r["label"] for r in trials(plain)] == ["ppo-seed0", "ppo-seed1", "a2c-seed0", "a2c-seed1"]  # seeds pool
    merged = agent_config("ppo", {"learning_rate": 1e-3, "policy_kwargs": {"hidden": 32}})
    assert merged["hyperparams"]["learning_rate"] == 1e-3 and merged["hyperparams"]["n_steps"] == 128  # preset kept
    assert merged["hyperparams"]["policy_kwargs"] == {"log_std_init": -1.5, "hidden": 32}
    assert load_sweep_config("default")["agents"] == ["ppo", "a2c"]  # the shipped presets parse
    assert load_sweep_config("search")["num_samples"] > 1


def test_random_search_draws_are_seeded_in_range_and_shared_by_seeds():
    space = {"learning_rate": {"loguniform": [1e-4, 1e-2]}, "n_steps": {"choice": [16, 32]},
             "gamma": {"uniform": [0.9, 0.99]}, "n_epochs": {"randint": [1, 4]}, "batch_size": [8, 16]}
    points = hyperparameter_points(space, num_samples=300, seed=7)
    assert points == hyperparameter_points(space, num_samples=300, seed=7)  # seeded
    assert points != hyperparameter_points(space, num_samples=300, seed=8)
    assert len(points) == 600 and [p["sample"] for p in points[:4]] == [0, 0, 1, 1]
    assert points[0]["values"]["learning_rate"] == points[1]["values"]["learning_rate"]  # one draw, both grid values
    rates = np.array([p["values"]["learning_rate"] for p in points[::2]])
    assert rates.min() >= 1e-4 and rates.max() <= 1e-2
    assert abs(np.mean(np.log10(rates)) - (-3)) < 0.15  # log-uniform: log10 uniform on [-4, -2], mean -3
    assert {p["values"]["n_steps"] for p in points} == {16, 32}
    assert {p["values"]["n_epochs"] for p in points} == {1, 2, 3}  # Tune's randint: high excluded
    label = trial_label("ppo", points[3], 5)
    assert label.startswith("ppo[#1,batch_size=16,learning_rate=") and label.endswith("-seed5")


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


def test_tiny_grid_sweep_trains_evaluates_and_tabulates(tmp_path, local_ray, monkeypatch):
    from mel_gym.experiments.evaluate import evaluate
    from mel_gym.experiments.sweep import sweep
    from mel_gym.paths import configs_dir

    # an agent given as a relative YAML path: each Tune trial runs in its own working folder, and still finds it
    (tmp_path / "my_a2c.yaml").write_text((configs_dir() / "agents" / "a2c.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    result = sweep(write(tmp_path, agents=["ppo", "my_a2c.yaml"]), out_dir="out", log=lambda line: None)
    assert not result["failed"] and len(result["trials"]) == 4
    labels = {t["label"] for t in result["trials"]}
    assert labels == {"ppo-seed0", "ppo-seed1", "my_a2c.yaml-seed0", "my_a2c.yaml-seed1"}
    (group,) = result["groups"].values()
    assert group["baselines_agree"] and group["best_baseline"] in ("equal", "ha-sync")
    assert {"ppo (2 training seeds)", "my_a2c.yaml (2 training seeds)", "equal", "ha-sync", "random"} <= \
        set(group["policies"])
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


def test_random_search_trains_each_draw_and_pools_its_seeds(tmp_path, local_ray):
    from stable_baselines3 import PPO

    from mel_gym.experiments.sweep import sweep

    path = write(tmp_path, agents=["ppo"], num_samples=2, evaluation={"episodes": 2, "seed": 5000,
                                                                      "baselines": ["equal"]},
                 hyperparams={"learning_rate": {"loguniform": [1e-4, 1e-3]}, "n_steps": {"choice": [16, 32]}})
    result = sweep(path, out_dir=tmp_path / "out", log=lambda line: None)
    assert not result["failed"] and len(result["trials"]) == 4
    by_draw = {}
    for trial in result["trials"]:
        assert trial["label"].startswith("ppo[#") and "learning_rate=" in trial["label"]
        by_draw.setdefault(trial["label"].split("]")[0], []).append(trial)
        model = PPO.load(trial["path"] + "/agent/model.zip")  # the agent was built with what the trial drew
        assert model.learning_rate == pytest.approx(trial["hyperparams"]["learning_rate"])
        assert model.n_steps == trial["hyperparams"]["n_steps"]
    assert len(by_draw) == 2 and all(len(pair) == 2 for pair in by_draw.values())  # both seeds of each draw
    rates = [pair[0]["hyperparams"]["learning_rate"] for pair in by_draw.values()]
    assert rates[0] != rates[1] and all(1e-4 <= r <= 1e-3 for r in rates)
    (group,) = result["groups"].values()
    assert sum(name.endswith("(2 training seeds)") for name in group["policies"]) == 2
