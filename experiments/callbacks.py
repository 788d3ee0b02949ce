"""SB3 callbacks that log mel_gym's domain metrics to TensorBoard under ``mel/``."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback, CheckpointCallback

from mel_gym.experiments import progress


#: Per-cycle scalars (info key -> TensorBoard name under ``mel/cycle/``); per-learner arrays are summed over learners.
CYCLE_SCALARS = {"test_accuracy": "test_accuracy", "test_loss": "test_loss", "val_accuracy": "val_accuracy",
                 "val_loss": "val_loss", "tau": "tau", "energy_j": "energy_j",
                 "outage": "outages", "participants": "participants"}


class MELMetricsCallback(BaseCallback):
    """At each episode end: ``mel/final_accuracy``, ``mel/mean_tau`` and ``mel/stragglers_per_cycle``; at every cycle
    (env step) the ``mel/cycle/...`` scalars of :data:`CYCLE_SCALARS` (test accuracy and loss after the cycle, tau, the
    learners' energy in J, outages and participants), averaged over the sub-envs and the steps between two of SB3's
    log dumps."""

    def _on_training_start(self) -> None:
        n = self.training_env.num_envs
        self._tau_sum = np.zeros(n)
        self._stragglers = np.zeros(n)
        self._cycles = np.zeros(n)

    def _on_step(self) -> bool:
        infos, dones = self.locals["infos"], self.locals["dones"]
        for i, (info, done) in enumerate(zip(infos, dones)):
            if "tau" not in info:
                continue
            for key, name in CYCLE_SCALARS.items():
                if key in info:
                    self.logger.record_mean(f"mel/cycle/{name}", float(np.sum(info[key])))
            self._tau_sum[i] += info["tau"]
            self._stragglers[i] += np.sum(info["stragglers"])
            self._cycles[i] += 1
            if done:
                self.logger.record_mean("mel/final_accuracy", float(info["test_accuracy"]))
                self.logger.record_mean("mel/mean_tau", self._tau_sum[i] / self._cycles[i])
                self.logger.record_mean("mel/stragglers_per_cycle", self._stragglers[i] / self._cycles[i])
                self._tau_sum[i] = self._stragglers[i] = self._cycles[i] = 0
        return True


class LearningCurveCallback(BaseCallback):
    """Every ``every`` env steps (and at the end of training), play the current policy deterministically on the
    validation ``seeds`` (one episode each, one batched env: :func:`mel_gym.experiments.episodes.play`) and keep a row
    {steps, wall_s (training time so far, evaluation excluded), mean_return, mean_final_accuracy}; also logged as
    ``mel/validation_return``. ``make_player(model, problem, action_space)`` turns the model into what plays (masks,
    residual corrections: :func:`mel_gym.agents.sb3.playing_agent`)."""

    def __init__(self, env_id: str, env_kwargs: dict, seeds: list[int], every: int, make_player):
        super().__init__()
        self.env_kwargs = {k: v for k, v in env_kwargs.items() if k != "device"}
        self.device = env_kwargs.get("device", "cpu")
        self.env_id, self.seeds, self.every = env_id, list(seeds), int(every)
        self.make_player = make_player
        self.rows: list[dict[str, float]] = []
        self._next = self.every
        self._started = 0.0
        self._eval_seconds = 0.0

    def _on_training_start(self) -> None:
        self._started = time.perf_counter()
        self._next = (self.num_timesteps // self.every + 1) * self.every
        if self.num_timesteps == 0:
            self._evaluate()

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self._evaluate()
            self._next += self.every
        return True

    def _on_training_end(self) -> None:
        if not self.rows or self.rows[-1]["steps"] < self.num_timesteps:
            self._evaluate()

    def _evaluate(self) -> None:
        from mel_gym.experiments.episodes import play

        started = time.perf_counter()
        episodes = play(lambda problem, space: self.make_player(self.model, problem, space), self.env_id, self.seeds,
                        "agent", self.env_kwargs, device=self.device)
        row = {"steps": int(self.num_timesteps), "wall_s": started - self._started - self._eval_seconds,
               "mean_return": float(np.mean([e.episode_return for e in episodes])),
               "mean_final_accuracy": float(np.mean([e.final_accuracy for e in episodes]))}
        self.rows.append(row)
        self.logger.record("mel/validation_return", row["mean_return"])
        self._eval_seconds += time.perf_counter() - started


class ProgressCallback(BaseCallback):
    """Reports each training step's env steps (one per sub-env) to the open
    :func:`mel_gym.experiments.progress.task` s: the plain progress lines of a training run whose stdout is not a
    terminal."""

    def _on_step(self) -> bool:
        progress.advance(self.training_env.num_envs)
        return True


class RecordingCheckpointCallback(CheckpointCallback):
    """SB3's :class:`CheckpointCallback` that, after each checkpoint, calls ``on_save(num_timesteps, path of the
    saved agent)``: ``mel-gym train`` rewrites ``run.yaml`` there, so a run killed without a chance to save still
    says how far its last checkpoint got."""

    def __init__(self, *args, on_save=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.on_save = on_save

    def _on_step(self) -> bool:
        saving = self.n_calls % self.save_freq == 0
        keep_going = super()._on_step()
        if saving and self.on_save is not None:
            self.on_save(int(self.num_timesteps), Path(self._checkpoint_path(extension="zip")))
        return keep_going
