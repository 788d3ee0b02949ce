"""Residual agents: the learned action corrects a baseline's action instead of choosing one from scratch.

With ``residual: {base: expected-value, scale: 2.0}`` in an agent config, the env the agent trains on (and the
agent, once saved and loaded) plays ``clip(base(obs) + scale * a)`` where ``base`` is a baseline deciding from the
same observation and ``a`` the agent's action in [-1, 1]. An untrained agent (a ~ 0) plays the baseline, so learning
starts from the optimiser and spends its budget on what the optimiser does not see (energy across cycles,
learners about to leave, risk it does not weigh). ``scale`` 2 lets a correction move any action value across
the whole [-1, 1] range (e.g. turn a participant's +1 into a -1). ``correct: mobility`` lets the agent correct
only the movement part of the action (a drone's velocity, the learners' moves:
:meth:`mel_gym.envs.action_blocks.ActionLayout.moving_indices`) and play the baseline's task shares as
they are; its own action space is then that part only.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from mel_gym.config import ConfigError


#: What a residual agent may correct: the whole action, or only its movement part.
CORRECT_CHOICES = ("all", "mobility")


def residual_settings(value: Any) -> dict[str, Any] | None:
    """The agent config's ``residual`` key checked: None or {"base": baseline name, "scale": > 0, "correct":
    "all" or "mobility", "base_parameters": {name: value} set on the baseline (e.g. a tuned weight)}."""
    if value is None or value is False:
        return None
    if not isinstance(value, Mapping) or "base" not in value or set(value) - {"base", "scale", "correct",
                                                                              "base_parameters"}:
        raise ConfigError(f"agent config key 'residual' = {value!r} must be null or a mapping with 'base' (a baseline "
                          "name) and optionally 'scale' (> 0), 'correct' (all or mobility) and 'base_parameters'")
    parameters = value.get("base_parameters") or {}
    if not isinstance(parameters, Mapping):
        raise ConfigError(f"agent config key 'residual.base_parameters' = {parameters!r} must be a mapping")
    correct = value.get("correct", "all")
    if correct not in CORRECT_CHOICES:
        raise ConfigError(f"agent config key 'residual.correct' = {correct!r} is not one of {list(CORRECT_CHOICES)}")
    from mel_gym.agents.registry import BASELINES

    if value["base"] not in BASELINES:
        raise ConfigError(f"agent config key 'residual.base' = {value['base']!r} is not one of {sorted(BASELINES)}")
    scale = value.get("scale", 2.0)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
        raise ConfigError(f"agent config key 'residual.scale' = {scale!r} must be a number > 0")
    return {"base": str(value["base"]), "scale": float(scale), "correct": correct,
            "base_parameters": dict(parameters)}


def make_base(settings: Mapping[str, Any], problem: Any, action_space: spaces.Space) -> Any:
    """The baseline a residual agent corrects, with its ``base_parameters`` set (each must be a tuned knob of that
    baseline, e.g. ``energy_weight`` of receding-horizon)."""
    from mel_gym.agents.registry import make_policy

    base = make_policy(settings["base"], problem, action_space)
    for name, value in settings.get("base_parameters", {}).items():
        if name not in getattr(base, "tuning", {}):
            raise ConfigError(f"agent config key 'residual.base_parameters.{name}': baseline {settings['base']!r} has "
                              f"no such knob (it has: {list(getattr(base, 'tuning', {})) or 'none'})")
        base.set_knobs({name: value})
    return base


def corrected_indices(correct: str, problem: Any, space: spaces.Box) -> np.ndarray:
    """Indices of the action values a residual agent corrects (``correct``: all, or mobility)."""
    if correct == "all":
        return np.arange(int(np.prod(space.shape)))
    indices = problem.actions.moving_indices()
    if indices.size == 0:
        raise ConfigError("agent config key 'residual.correct' = 'mobility' needs an env whose action moves something "
                          "(DroneOrchestrator-v0, LearnerRelocation-v0)")
    return indices


def combine(base_action: np.ndarray, residual: np.ndarray, scale: float, space: spaces.Box,
            indices: np.ndarray | None = None) -> np.ndarray:
    """The base action with clip(base + scale * residual) at ``indices`` (None: everywhere), in the space's dtype."""
    where = slice(None) if indices is None else indices
    action = np.array(base_action, dtype=np.float64)
    action[..., where] = np.clip(action[..., where] + scale * np.asarray(residual), space.low[where],
                                 space.high[where])
    return action.astype(space.dtype)


class ResidualVecEnv(VecEnvWrapper):
    """A VecEnv whose actions are corrections to ``base``'s actions (at ``indices``) on the latest observations."""

    def __init__(self, venv: VecEnv, base: Any, scale: float, indices: np.ndarray):
        if not isinstance(venv.action_space, spaces.Box):
            raise ConfigError("agent config key 'residual' needs an env with a Box action space")
        super().__init__(venv, action_space=spaces.Box(-1.0, 1.0, shape=(len(indices),), dtype=np.float32))
        self.full_space = venv.action_space
        self.base, self.scale, self.indices = base, scale, indices
        self._obs: np.ndarray | None = None

    def reset(self) -> np.ndarray:
        self._obs = self.venv.reset()
        return self._obs

    def step_async(self, actions: np.ndarray) -> None:
        base_actions, _ = self.base.predict(self._obs, deterministic=True)
        self.venv.step_async(combine(base_actions, actions, self.scale, self.full_space, self.indices))

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        self._obs = obs  # ended sub-envs have already been reset: the next action is for this observation
        return obs, rewards, dones, infos


def wrap_residual(venv: VecEnv, settings: Mapping[str, Any] | None) -> VecEnv:
    """``venv`` wrapped in :class:`ResidualVecEnv` when the agent config asks for it."""
    if settings is None:
        return venv
    problem = venv.get_attr("problem")[0]
    base = make_base(settings, problem, venv.action_space)
    return ResidualVecEnv(venv, base, settings["scale"], corrected_indices(settings["correct"], problem,
                                                                           venv.action_space))


class ResidualAgent:
    """A saved residual agent: ``predict`` plays the baseline's action corrected by the agent's (at ``indices``)."""

    def __init__(self, model: Any, base: Any, scale: float, space: spaces.Box, indices: np.ndarray | None = None):
        self.model, self.base, self.scale, self.space, self.indices = model, base, scale, space, indices

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        correction, state = self.model.predict(observation, state, episode_start, deterministic)
        base_action, _ = self.base.predict(observation, deterministic=True)
        return combine(base_action, correction, self.scale, self.space, self.indices), state
