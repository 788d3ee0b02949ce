"""RL Baselines3 Zoo trains mel_gym's envs with the hyperparameter files shipped in mel_gym/configs/rlzoo."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from torch import nn

from mel_gym import ENV_IDS
from mel_gym.paths import configs_dir

pytest.importorskip("rl_zoo3", reason="RL Baselines3 Zoo is not installed (pip install 'mel_gym[rlzoo]')")

RLZOO = configs_dir() / "rlzoo"
BOX_ENVS = [e for e in ENV_IDS if e not in ("mel_gym/LearnerSelection-v0", "mel_gym/MultiJob-v0", "mel_gym/SplitChain-v0",
                                                   "mel_gym/MultiHop-v0")]


@pytest.mark.parametrize("algo", ["ppo", "a2c", "sac", "td3"])
def test_every_env_has_hyperparameters_in_rl_zoos_format(algo):
    table = yaml.load((RLZOO / f"{algo}.yml").read_text(), Loader=yaml.UnsafeLoader)  # rl-zoo reads it this way
    expected = list(ENV_IDS) if algo in ("ppo", "a2c") else BOX_ENVS  # SAC and TD3 need Box actions
    assert sorted(table) == sorted(expected)
    for env_id, hyper in table.items():
        assert hyper["policy"] == "MlpPolicy" and hyper["n_timesteps"] > 0, env_id
        kwargs = eval(hyper["policy_kwargs"], {"dict": dict, "nn": nn})  # rl-zoo evaluates it with torch's nn in scope
        assert isinstance(kwargs, dict) and "net_arch" in kwargs, env_id


@pytest.mark.parametrize("algo, env_id", [("ppo", "mel_gym/TaskAllocation-v0"), ("ppo", "mel_gym/MultiJob-v0"),
                                          ("sac", "mel_gym/TaskAllocation-v0")])
def test_rl_zoo_trains_with_the_shipped_file(tmp_path, algo, env_id):
    cmd = [sys.executable, "-m", "rl_zoo3.train", "--algo", algo, "--env", env_id, "--gym-packages", "mel_gym",
           "-conf", str(RLZOO / f"{algo}.yml"), "-n", "256", "--seed", "0", "-f", str(tmp_path),
           "--env-kwargs", "num_learners:4", "horizon_cycles:4"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    name = env_id.replace("/", "-")  # rl-zoo's folder and file name of the env ID
    assert (tmp_path / algo / f"{name}_1" / f"{name}.zip").is_file(), out.stdout[-2000:]


def test_every_shipped_entry_records_its_tuning():
    for algo in ("ppo", "a2c", "sac", "td3"):
        lines = (RLZOO / f"{algo}.yml").read_text().splitlines()
        assert any(f"mel-gym rlzoo-tune --algo {algo}" in line for line in lines[:6]), algo  # the command
        for i, line in enumerate(lines):
            if line.startswith("mel_gym/"):
                assert lines[i - 1].startswith("# tuned: best of "), (algo, line)


def test_rlzoo_tune_writes_the_best_trial_back(tmp_path):
    import optuna

    from mel_gym.integrations.rlzoo import read_table

    file = tmp_path / "ppo.yml"
    file.write_text((RLZOO / "ppo.yml").read_text())
    before = read_table(file)
    cmd = [sys.executable, "-m", "mel_gym.experiments.cli", "rlzoo-tune", "--algo", "ppo", "--env",
           "mel_gym/JointAllocation-v0", "--trials", "2", "--timesteps", "64", "--file", str(file), "--out",
           str(tmp_path / "out"), "--env-kwargs", "num_learners:3", "horizon_cycles:3"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    after = read_table(file)
    assert {k: v for k, v in after.items() if k != "mel_gym/JointAllocation-v0"} == \
        {k: v for k, v in before.items() if k != "mel_gym/JointAllocation-v0"}  # the other envs' entries as they were
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "out/ppo.log")))
    best = optuna.load_study(storage=storage, study_name="mel_gym/JointAllocation-v0").best_trial.params
    entry = after["mel_gym/JointAllocation-v0"]
    assert entry["gamma"] == pytest.approx(1 - best["one_minus_gamma"])
    assert entry["n_steps"] == 2 ** best["n_steps_pow"] and entry["batch_size"] == 2 ** best["batch_size_pow"]
    assert entry["learning_rate"] == pytest.approx(best["learning_rate"])
    assert f"activation_fn=nn.{'Tanh' if best['activation_fn'] == 'tanh' else 'ReLU'}" in entry["policy_kwargs"]
    assert entry["n_timesteps"] == before["mel_gym/JointAllocation-v0"]["n_timesteps"]  # the training budget kept
    lines = file.read_text().splitlines()
    assert lines[lines.index("mel_gym/JointAllocation-v0:") - 1].startswith("# tuned: best of 2 trials x 64 steps")
