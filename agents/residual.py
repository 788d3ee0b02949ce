"""Residual agents: the learned action corrects a baseline's action instead of choosing one from scratch.

With ``residual: {base: expected-value, scale: 2.0}`` in an agent config, the env the agent trains on (and the
agent, once saved and loaded) plays ``clip(base(obs) + scale * a)`` where ``base`` is a baseline deciding from the
same observation and ``a`` the agent's action in [-1, 1]. An untrained agent (a ~ 0) plays the baseline, so learning
starts from the optimiser and spends its budget on what the optimiser does not see (energy across cycles,
learners about to leave, risk it does not weigh). ``scale`` 2 lets a correction move any action value across
the whole [-1, 1] range (e.g. turn a participant's +1 into a -1).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from mel_gym.config import ConfigError


def residual_settings(value: Any) -> dict[str, Any] | None:
    """The agent config's ``residual`` key checked: None or {"base": baseline name, "scale": > 0}."""
    if value is None or value is False:
        return None
    if not isinstance(value, Mapping) or "base" not in value or set(value) - {"base", "scale"}:
        raise ConfigError(f"agent config key 'residual' = {value!r} must be null or a mapping with 'base' (a baseline "
                          "name) and optionally 'scale' (> 0)")
    from mel_gym.agents.policy import BASELINES

    if value["base"] not in BASELINES:
        raise ConfigError(f"agent config key 'residual.base' = {value['base']!r} is not one of {sorted(BASELINES)}")
    scale = value.get("scale", 2.0)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
        raise ConfigError(f"agent config key 'residual.scale' = {scale!r} must be a number > 0")
    return {"base": str(value["base"]), "scale": float(scale)}


def combine(base_action: np.ndarray, residual: np.ndarray, scale: float, space: spaces.Box) -> np.ndarray:
    """clip(base + scale * residual) to the action space, in its dtype."""
    return np.clip(base_action + scale * np.asarray(residual), space.low, space.high).astype(space.dtype)


class ResidualVecEnv(VecEnvWrapper):
    """A VecEnv whose actions are corrections to ``base``'s actions on the latest observations."""

    def __init__(self, venv: VecEnv, base: Any, scale: float):
        super().__init__(venv)
        if not isinstance(venv.action_space, spaces.Box):
            raise ConfigError("agent config key 'residual' needs an env with a Box action space")
        self.base, self.scale = base, scale
        self._obs: np.ndarray | None = None

    def reset(self) -> np.ndarray:
        self._obs = self.venv.reset()
        return self._obs

    def step_async(self, actions: np.ndarray) -> None:
        base_actions, _ = self.base.predict(self._obs, deterministic=True)
        self.venv.step_async(combine(base_actions, actions, self.scale, self.action_space))

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        self._obs = obs  # ended sub-envs have already been reset: the next action is for this observation
        return obs, rewards, dones, infos


def wrap_residual(venv: VecEnv, settings: Mapping[str, Any] | None) -> VecEnv:
    """``venv`` wrapped in :class:`ResidualVecEnv` when the agent config asks for it."""
    if settings is None:
        return venv
    from mel_gym.agents.policy import make_policy

    base = make_policy(settings["base"], venv.get_attr("problem")[0], venv.action_space)
    return ResidualVecEnv(venv, base, settings["scale"])


class ResidualAgent:
    """A saved residual agent: ``predict`` plays the baseline's action corrected by the agent's."""

    def __init__(self, model: Any, base: Any, scale: float, space: spaces.Box):
        self.model, self.base, self.scale, self.space = model, base, scale, space

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        correction, state = self.model.predict(observation, state, episode_start, deterministic)
        base_action, _ = self.base.predict(observation, deterministic=True)
        return combine(base_action, correction, self.scale, self.space), state
