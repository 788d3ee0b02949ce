"""``mel-gym train``: train an SB3 agent on a mel_gym env, with TensorBoard logs and checkpoints.

Writes ``<runs_dir>/<name>/``: ``model.zip`` (the final agent), ``checkpoints/``, ``tb/`` (TensorBoard) and
``run.yaml`` (what was trained, on what, for how long).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from stable_baselines3.common.callbacks import CheckpointCallback
from stable_baselines3.common.env_util import make_vec_env

from mel_gym.agents.sb3 import build_agent, load_agent_config
from mel_gym.experiments.callbacks import MELMetricsCallback
from mel_gym.experiments.common import DEFAULT_ENV_ID, env_label
from mel_gym.envs.sb3_adapter import make_sb3_vec_env


@dataclass
class TrainResult:
    run_dir: Path
    model_path: Path
    timesteps: int
    seconds: float


def train(
    env_id: str = DEFAULT_ENV_ID,
    agent: str | dict = "ppo",
    scenario: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
    timesteps: int | None = None,
    n_envs: int | None = None,
    seed: int = 0,
    runs_dir: str | Path = "runs",
    name: str | None = None,
    device: str = "cpu",
    checkpoint_every: int = 10_000,
    progress_bar: bool = True,
    torch_threads: int | None = 1,
    verbose: int = 0,
    vec_env: str = "native",
) -> TrainResult:
    """Train ``agent`` (a config name under configs/agents, a YAML path or a dict) on ``env_id``.

    Args:
        timesteps / n_envs: override the agent config's ``total_timesteps`` / ``n_envs``.
        seed: seeds the agent and the training envs (env i gets seed + i).
        checkpoint_every: save a checkpoint every this many env steps (0 = never).
        torch_threads: torch intra-op threads for this process (None = leave as is).
        vec_env: "native" (the n_envs sub-envs run as one batched simulator, :func:`make_sb3_vec_env`) or
            "dummy" (SB3's DummyVecEnv over single envs, stepped one after the other).
    """
    if torch_threads is not None:
        torch.set_num_threads(torch_threads)
    config = load_agent_config(agent)
    timesteps = int(timesteps or config["total_timesteps"])
    n_envs = int(n_envs or config["n_envs"])
    if timesteps < 1 or n_envs < 1:
        raise ValueError(f"timesteps={timesteps} and n_envs={n_envs} must be >= 1")
    name = name or f"{config['algo']}-{env_label(env_id)}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = Path(runs_dir) / name
    run_dir.mkdir(parents=True, exist_ok=True)
    kwargs = dict(env_kwargs or {}, device=device)
    if scenario is not None:
        kwargs["scenario"] = scenario
    if vec_env == "native":
        venv = make_sb3_vec_env(env_id, n_envs=n_envs, seed=seed, **kwargs)
    elif vec_env == "dummy":
        venv = make_vec_env(env_id, n_envs=n_envs, seed=seed, env_kwargs=kwargs,
                            monitor_kwargs={"info_keywords": ("test_accuracy",)})
    else:
        raise ValueError(f"vec_env={vec_env!r}: choose 'native' or 'dummy'")
    model = build_agent(config, venv, seed=seed, tensorboard_log=str(run_dir / "tb"), device=device, verbose=verbose)
    callbacks: list[Any] = [MELMetricsCallback()]
    if checkpoint_every > 0:
        callbacks.append(CheckpointCallback(max(checkpoint_every // n_envs, 1), str(run_dir / "checkpoints"),
                                            name_prefix=config["algo"]))
    start = time.perf_counter()
    model.learn(timesteps, callback=callbacks, progress_bar=progress_bar, tb_log_name=config["algo"])
    seconds = time.perf_counter() - start
    model_path = run_dir / "model.zip"
    model.save(model_path)
    venv.close()
    meta = {
        "env_id": env_id, "env_kwargs": kwargs, "agent": config, "timesteps": timesteps, "n_envs": n_envs,
        "seed": seed, "train_seconds": round(seconds, 1), "device": device, "vec_env": vec_env,
    }
    (run_dir / "run.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    return TrainResult(run_dir=run_dir, model_path=model_path, timesteps=timesteps, seconds=seconds)
