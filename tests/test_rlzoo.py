"""RL Baselines3 Zoo trains mel_gym's envs with the hyperparameter files shipped in mel_gym/configs/rlzoo."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from mel_gym import ENV_IDS
from mel_gym.paths import configs_dir

pytest.importorskip("rl_zoo3", reason="RL Baselines3 Zoo is not installed (pip install 'mel_gym[rlzoo]')")

RLZOO = configs_dir() / "rlzoo"
BOX_ENVS = [e for e in ENV_IDS if e not in ("mel_gym/LearnerSelection-v0", "mel_gym/MultiJob-v0")]


@pytest.mark.parametrize("algo", ["ppo", "a2c", "sac", "td3"])
def test_every_env_has_hyperparameters_in_rl_zoos_format(algo):
    table = yaml.load((RLZOO / f"{algo}.yml").read_text(), Loader=yaml.UnsafeLoader)  # rl-zoo reads it this way
    expected = list(ENV_IDS) if algo in ("ppo", "a2c") else BOX_ENVS  # SAC and TD3 need Box actions
    assert sorted(table) == sorted(expected)
    for env_id, hyper in table.items():
        assert hyper["policy"] == "MlpPolicy" and hyper["n_timesteps"] > 0, env_id
        eval(hyper["policy_kwargs"], {"dict": dict})  # rl-zoo evaluates this string


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
