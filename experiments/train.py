"""``mel-gym train``: train an SB3 agent on a mel_gym env, with TensorBoard logs and checkpoints; never loses work.

Writes ``<runs_dir>/<name>/``: ``model.zip`` (the agent with its optimiser state and step counter),
``vecnormalize.pkl`` (normalisation statistics, when the agent config asks for them), ``replay_buffer.pkl``
(off-policy agents), ``checkpoints/``, ``tb/`` (TensorBoard) and ``run.yaml`` (what is trained, on what, the
planned and the done step counts, and the status ``running``, ``complete``, ``interrupted`` or ``failed``; rewritten
at every checkpoint, so a run killed without a chance to save says the steps and file of its last checkpoint).

Ctrl-C (or SIGTERM) saves the agent and ``run.yaml`` (status ``interrupted``); ``mel-gym train --resume RUN_DIR``
continues to the planned step count from there, or from the latest checkpoint if the process was killed
before it could save. A run folder that exists is never reused silently: ``--overwrite``
replaces it. The folder is created only once the agent and its envs are built, so a failed start leaves none.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import signal
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import yaml
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from mel_gym.agents.residual import wrap_residual
from mel_gym.agents.sb3 import (ALGOS, NORMALIZE_FILE, build_agent, load_agent_config, load_normalizer, playing_agent,
                                saved_normalizer, wrap_normalize)
from mel_gym.experiments import progress
from mel_gym.experiments.callbacks import (LearningCurveCallback, MELMetricsCallback, ProgressCallback,
                                           RecordingCheckpointCallback)
from mel_gym.experiments.common import DEFAULT_ENV_ID, check_env_id, check_output_dir, env_kwargs_with, env_label
from mel_gym.envs.sb3_adapter import make_sb3_vec_env

RUN_FILE = "run.yaml"
#: The replay buffer of an off-policy agent (SAC, TD3) beside it.
REPLAY_FILE = "replay_buffer.pkl"
#: The learning curve beside a trained agent (``curve_every``).
LEARNING_CURVE_FILE = "learning_curve.json"
#: Validation seeds of the learning curve: apart from training seeds (0 ..) and held-out evaluation seeds (10000 ..).
VALIDATION_SEEDS = (5000, 5001, 5002, 5003)


@dataclass
class TrainResult:
    run_dir: Path
    model_path: Path
    timesteps: int  # steps done (SB3 counts whole rollouts, so this may pass the plan)
    seconds: float
    interrupted: bool = False


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training, after the agent and run.yaml were saved."""

    def __init__(self, result: TrainResult):
        super().__init__(f"training interrupted after {result.timesteps} steps; saved to {result.run_dir}")
        self.result = result
        #: What the command line prints: what was saved and how to go on.
        self.hint = (f"interrupted at {result.timesteps} steps; saved to {result.run_dir}; continue with: mel-gym "
                     f"train --resume {shlex.quote(str(result.run_dir))}")


def _make_venv(env_id: str, n_envs: int, seed: int, kwargs: dict[str, Any], vec_env: str) -> VecEnv:
    if vec_env == "native":
        return make_sb3_vec_env(env_id, n_envs=n_envs, seed=seed, **kwargs)
    if vec_env == "dummy":
        return make_vec_env(env_id, n_envs=n_envs, seed=seed, env_kwargs=kwargs,
                            monitor_kwargs={"info_keywords": ("test_accuracy",)})
    raise ValueError(f"vec_env={vec_env!r}: choose 'native' or 'dummy'")


def check_run_name(name: str) -> None:
    """A run's folder name must be one plain folder inside ``--runs-dir``: no path separator, not ``.`` or ``..``.

    Raises:
        ValueError: naming ``--name`` and what is allowed.
    """
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise ValueError(f"--name {name!r}: give a plain folder name (no '/' or '\\', not '.' or '..'); the run "
                         "folder is created inside --runs-dir")


def _claim_run_dir(run_dir: Path, overwrite: bool) -> None:
    """Refuse a run folder that exists (unless ``overwrite``: it is replaced), and check it can be written."""
    if run_dir.exists():
        if not overwrite:
            raise ValueError(f"run folder {run_dir} exists: choose another --name, --resume it, or pass --overwrite")
        if not run_dir.is_dir():
            raise ValueError(f"run folder {run_dir} is a file")
    check_output_dir(run_dir, "run folder")


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
    overwrite: bool = False,
    curve_every: int = 0,
    curve_seeds: Sequence[int] = VALIDATION_SEEDS,
) -> TrainResult:
    """Train ``agent`` (a config name under configs/agents, a YAML path or a dict) on ``env_id``.

    Args:
        timesteps / n_envs: override the agent config's ``total_timesteps`` / ``n_envs`` (>= 1).
        runs_dir / name: the run folder is ``runs_dir/name`` (default name ``ALGO-ENV-TIMESTAMP``); ``name`` must be
            a plain folder name (:func:`check_run_name`).
        seed: seeds the agent and the training envs (env i gets seed + i).
        checkpoint_every: save a checkpoint every this many env steps (0 = never); ``run.yaml`` is rewritten at
            each, so a killed run's ``timesteps_done`` is its last checkpoint's.
        progress_bar: SB3's progress bar on a terminal, plain progress lines otherwise
            (:mod:`mel_gym.experiments.progress`); False: neither.
        torch_threads: torch intra-op threads for this process (None = leave as is).
        vec_env: "native" (the n_envs sub-envs run as one batched simulator, :func:`make_sb3_vec_env`) or
            "dummy" (SB3's DummyVecEnv over single envs, stepped one after the other).
        overwrite: replace an existing run folder of the same name (else that is an error).
        curve_every: every this many env steps (0 = never), play the current policy on ``curve_seeds`` (validation
            seeds, apart from training and held-out evaluation seeds) and write ``learning_curve.json`` (steps, wall
            time, mean return and final accuracy; :class:`LearningCurveCallback`).

    Raises:
        TrainingInterrupted: on Ctrl-C, after saving (its ``result`` says where).
    """
    if torch_threads is not None:
        torch.set_num_threads(torch_threads)
    config = load_agent_config(agent)
    timesteps = config["total_timesteps"] if timesteps is None else int(timesteps)
    n_envs = config["n_envs"] if n_envs is None else int(n_envs)
    if timesteps < 1:
        raise ValueError(f"--timesteps {timesteps}: must be >= 1")
    if n_envs < 1:
        raise ValueError(f"--n-envs {n_envs}: must be >= 1")
    if curve_every < 0:
        raise ValueError(f"--curve-every {curve_every}: must be >= 0 (0: no learning curve)")
    if curve_every and config["normalize"] is not None:
        raise ValueError("--curve-every: the learning curve plays the policy as it trains, which an agent with "
                         "'normalize' (statistics still moving) does not support; drop one of the two")
    check_env_id(env_id)
    if name is not None:
        check_run_name(name)
    name = name or f"{config['algo']}-{env_label(env_id)}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = Path(runs_dir) / name
    _claim_run_dir(run_dir, overwrite)
    kwargs = dict(env_kwargs_with(scenario, {**(env_kwargs or {}), **config["env_kwargs"]}), device=device)
    venv = wrap_normalize(wrap_residual(_make_venv(env_id, n_envs, seed, kwargs, vec_env), config["residual"]), config)
    model = build_agent(config, venv, seed=seed, tensorboard_log=str(run_dir / "tb"), device=device, verbose=verbose)
    meta = {"env_id": env_id, "env_kwargs": kwargs, "agent": config, "timesteps": timesteps, "n_envs": n_envs,
            "seed": seed, "device": device, "vec_env": vec_env, "checkpoint_every": checkpoint_every,
            "learning_curve": {"every": int(curve_every), "seeds": [int(s) for s in curve_seeds]}}
    if run_dir.exists():  # overwrite: checked above
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    return _learn(model, venv, run_dir, meta, progress_bar, reset_num_timesteps=True)


def resume(run_dir: str | Path, progress_bar: bool = True, torch_threads: int | None = 1, verbose: int = 0,
           timesteps: int | None = None) -> TrainResult:
    """Continue a run to its planned step count (or to ``timesteps``) with the saved agent (optimiser state, step
    counter), its normalisation statistics and, for off-policy agents, its replay buffer. A run that was killed
    before it could save (no ``model.zip``) continues from its latest checkpoint. The training envs get fresh
    seeds (from the seed and the steps done), so the resumed part does not replay the episodes already seen."""
    run_dir = Path(run_dir)
    meta_path = run_dir / RUN_FILE
    saved = latest_save(run_dir)
    if not meta_path.is_file() or saved is None:
        raise ValueError(f"--resume {run_dir}: no {RUN_FILE} with a saved agent there (not a mel-gym train run)")
    if torch_threads is not None:
        torch.set_num_threads(torch_threads)
    meta = yaml.safe_load(meta_path.read_text())
    if timesteps is not None:
        if timesteps < 1:
            raise ValueError(f"--timesteps {timesteps}: must be >= 1")
        meta["timesteps"] = int(timesteps)
    config = load_agent_config(meta["agent"])
    model_path, stats, buffer = saved
    steps_done = int(meta.get("timesteps_done", 0))
    seed = int(np.random.SeedSequence([int(meta["seed"]), steps_done, len(meta.get("resumed_at", []))]).generate_state(1)[0])
    venv = wrap_residual(_make_venv(meta["env_id"], meta["n_envs"], seed, dict(meta["env_kwargs"]), meta["vec_env"]),
                         config["residual"])
    if stats is not None:
        normalizer = load_normalizer(stats)
        normalizer.set_venv(venv)
        normalizer.training = True
        venv = normalizer
    model = ALGOS[config["algo"]].load(model_path, env=venv, device=meta["device"],
                                       tensorboard_log=str(run_dir / "tb"), verbose=verbose)
    if buffer is not None and hasattr(model, "load_replay_buffer"):
        model.load_replay_buffer(buffer)
    meta.setdefault("resumed_at", []).append({"from": str(model_path.relative_to(run_dir)),
                                              "timesteps": int(model.num_timesteps), "env_seed": seed})
    return _learn(model, venv, run_dir, meta, progress_bar, reset_num_timesteps=False)


def latest_save(run_dir: Path) -> tuple[Path, Path | None, Path | None] | None:
    """(agent, normalisation statistics or None, replay buffer or None) of the newest save of a run: model.zip,
    unless a complete checkpoint holds more steps (a run saved by Ctrl-C, resumed, then killed after a checkpoint),
    else the complete checkpoint with the most steps; None if there is neither."""
    model = run_dir / "model.zip"
    steps = lambda p: int(re.search(r"_(\d+)_steps", p.name).group(1))  # noqa: E731 - SB3's checkpoint names
    # a run killed while writing a checkpoint leaves a partial file: resume from the last complete one
    checkpoints = sorted((p for p in (run_dir / "checkpoints").glob("*_steps.zip") if _complete_save(p)), key=steps)
    if model.is_file() and not (checkpoints and steps(checkpoints[-1]) > _saved_steps(model)):
        buffer = run_dir / REPLAY_FILE
        return model, saved_normalizer(model), buffer if buffer.is_file() else None
    if not checkpoints:
        return None
    model, n = checkpoints[-1], steps(checkpoints[-1])
    buffer = next(iter((run_dir / "checkpoints").glob(f"*replay_buffer_{n}_steps.pkl")), None)
    return model, saved_normalizer(model), buffer


def _saved_steps(path: Path) -> int:
    """The env steps an SB3 save has trained (its ``num_timesteps``; 0 when the save does not say)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return int(json.loads(archive.read("data")).get("num_timesteps", 0))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return 0


def _complete_save(path: Path) -> bool:
    """Whether ``path`` is a whole SB3 save. ``zipfile.is_zipfile`` is not enough: a save cut off while writing its
    torch parameters (zip archives themselves) ends with their end-of-archive record and passes it."""
    try:
        with zipfile.ZipFile(path) as archive:
            return "data" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def _learn(model: Any, venv: VecEnv, run_dir: Path, meta: dict[str, Any], progress_bar: bool,
           reset_num_timesteps: bool) -> TrainResult:
    """Learn up to ``meta["timesteps"]`` steps in all. run.yaml says ``running`` while it learns (with checkpoints,
    a killed run can be resumed); the agent, its statistics, its replay buffer and run.yaml are saved at the end,
    on Ctrl-C or SIGTERM (``interrupted``) and on an error once steps were taken (``failed``, then re-raised)."""
    algo, n_envs = meta["agent"]["algo"], meta["n_envs"]
    normalizer = venv if isinstance(venv, VecNormalize) else None
    off_policy = hasattr(model, "replay_buffer")
    callbacks: list[Any] = [MELMetricsCallback(), ProgressCallback()]
    curve = meta.get("learning_curve") or {"every": 0}
    curve_callback = None
    if curve["every"] > 0:
        residual = meta["agent"]["residual"]
        curve_callback = LearningCurveCallback(meta["env_id"], meta["env_kwargs"], curve["seeds"], curve["every"],
                                               lambda m, problem, space: playing_agent(m, residual, problem, space))
        callbacks.append(curve_callback)
    if meta["checkpoint_every"] > 0:
        def checkpointed(steps: int, path: Path) -> None:  # a run killed later (SIGKILL) says how far it got
            _write_meta(run_dir, meta, status="running", timesteps_done=steps,
                        last_checkpoint=str(path.relative_to(run_dir)))

        callbacks.append(RecordingCheckpointCallback(max(meta["checkpoint_every"] // n_envs, 1),
                                                     str(run_dir / "checkpoints"), name_prefix=algo,
                                                     save_vecnormalize=normalizer is not None,
                                                     save_replay_buffer=off_policy, on_save=checkpointed))
    remaining = max(meta["timesteps"] - model.num_timesteps, 0)
    _write_meta(run_dir, meta, status="running", timesteps_done=int(model.num_timesteps))
    start = time.perf_counter()
    status, error = "complete", None
    main_thread = threading.current_thread() is threading.main_thread()  # only it may set signal handlers
    previous = signal.signal(signal.SIGTERM, _raise_interrupt) if main_thread else None  # a polite kill saves too
    try:
        if remaining > 0:
            with progress.task(f"train {algo} on {env_label(meta['env_id'])} -> {run_dir}", remaining, "env steps",
                               quiet=not progress_bar):
                model.learn(remaining, callback=callbacks, progress_bar=progress_bar, tb_log_name=algo,
                            reset_num_timesteps=reset_num_timesteps)
    except KeyboardInterrupt:
        status = "interrupted"
    except Exception as err:
        if model.num_timesteps == 0 and not any(run_dir.rglob("*.zip")):  # failed before any work: leave no folder
            venv.close()
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        status, error = "failed", err
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    seconds = time.perf_counter() - start
    if curve_callback is not None:  # a resumed run continues its curve
        path = run_dir / LEARNING_CURVE_FILE
        earlier = json.loads(path.read_text()) if path.is_file() else []
        offset = earlier[-1]["wall_s"] if earlier and reset_num_timesteps is False else 0.0
        rows = [{**r, "wall_s": r["wall_s"] + offset} for r in curve_callback.rows]
        path.write_text(json.dumps(earlier + rows, indent=1))
    model_path = run_dir / "model.zip"
    model.save(model_path)
    if normalizer is not None:
        normalizer.save(str(run_dir / NORMALIZE_FILE))
    if off_policy:
        model.save_replay_buffer(run_dir / REPLAY_FILE)
    _write_meta(run_dir, meta, status=status, timesteps_done=int(model.num_timesteps),
                train_seconds=round(float(meta.get("train_seconds", 0.0)) + seconds, 1))
    venv.close()
    if error is not None:
        raise error
    result = TrainResult(run_dir=run_dir, model_path=model_path, timesteps=int(model.num_timesteps), seconds=seconds,
                         interrupted=status == "interrupted")
    if result.interrupted:
        raise TrainingInterrupted(result)
    return result


def _write_meta(run_dir: Path, meta: dict[str, Any], **update: Any) -> None:
    meta.update(update)
    (run_dir / RUN_FILE).write_text(yaml.safe_dump(meta, sort_keys=False))


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
