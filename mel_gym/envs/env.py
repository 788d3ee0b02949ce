"""The single Gymnasium env over any :class:`~mel_gym.envs.core.BaseCore` (a core of one world)."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from mel_gym.config import Scenario
from mel_gym.envs.batching import batch_one
from mel_gym.envs.core import BaseCore, build_core, episode_seed
from mel_gym.envs.render import render_ansi, render_rgb
from mel_gym.simulation import MELSimulator


def scalar_info(info: dict[str, np.ndarray], i: int = 0) -> dict[str, Any]:
    """Env ``i``'s slice of a batched info dict, with Python scalars for per-env values."""
    out = {}
    for key, value in info.items():
        item = value[i]
        out[key] = item.item() if np.ndim(item) == 0 else item
    return out


class MELEnv(gym.Env):
    """A single Gymnasium env over a core (``core_class``); subclasses set it and document their spaces.

    Args:
        scenario: preset name, YAML path, dict or :class:`~mel_gym.config.Scenario` (None: the core's default).
        device: where the embedded trainer runs ("cpu", "cuda", "auto").
        render_mode: "ansi", "rgb_array" or None.
        **kwargs: scenario keys (overrides, nested sections as dicts) and the env's own parameters
            (``core_class.params_class``); anything else is a ``TypeError``.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 2}
    core_class: ClassVar[type[BaseCore]]

    def __init__(self, scenario: Scenario | str | dict | None = None, *, device: str = "cpu",
                 render_mode: str | None = None, **kwargs: Any):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r} is not one of {self.metadata['render_modes']} or None")
        self.core = build_core(self.core_class, scenario, 1, device, kwargs)
        self.scenario, self.params, self.problem = self.core.scenario, self.core.params, self.core.problem
        self.observation_space = self.core.observation_space
        self.action_space = self.core.action_space
        self.render_mode = render_mode
        self._needs_reset = True
        self._last_obs: np.ndarray | None = None
        self._last_tau: float | None = None
        self._cycle_obs: np.ndarray | None = None  # the observation the last cycle was planned with
        self._trail: list[np.ndarray] = []  # the orchestrator's (x, y) since the reset, one per observation

    @property
    def simulator(self) -> MELSimulator:
        return self.core.sim

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.core.reset([episode_seed(self.np_random)])
        self._needs_reset = False
        self._last_obs, self._last_tau = self.core.observe()[0], None
        self._cycle_obs = None
        self._trail = [self._orchestrator_xy(self._last_obs)]
        self._overlay: dict[str, Any] = {}
        return self._last_obs, scalar_info(self.core.reset_info())

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._needs_reset:
            raise RuntimeError("call reset() before step() (and after an episode ends)")
        batch = batch_one(self.action_space, action)
        obs, reward, terminated, truncated, info = self.core.step(batch)  # validates before any change
        self._needs_reset = bool(terminated[0] or truncated[0])
        self._cycle_obs = self._last_obs
        self._last_obs, self._last_tau = obs[0], info["tau"][0].item()
        self._trail.append(self._orchestrator_xy(self._last_obs))
        info = scalar_info(info)
        self._overlay = self.render_overlay(info)
        return obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), info

    def render_overlay(self, info: dict) -> dict[str, Any]:
        """What the map draws of the last step beyond the star (keyword arguments of :func:`render_rgb`, from the
        step's ``info``): nothing by default; SplitChain-v0's chains, MultiHop-v0's tree."""
        return {}

    def _world_view(self, obs: np.ndarray) -> Any:
        """The world's named arrays of an observation (:class:`~mel_gym.envs.observation.DecodedObservation`)."""
        return self.problem.world_view(obs)

    def _orchestrator_xy(self, obs: np.ndarray) -> np.ndarray:
        if not self.core.mobile_orchestrator:  # a fixed orchestrator is at the origin: no decoding per step
            return np.zeros(2)
        return self._world_view(obs).orchestrator_m[:2].copy()

    @property
    def orchestrator_trail(self) -> np.ndarray:
        """(N, 2) the orchestrator's ground position (m) at the reset and after each step since: where each
        cycle ran, the last row where the coming one runs (all at the origin for a fixed orchestrator)."""
        return np.array(self._trail, dtype=np.float64).reshape(-1, 2)

    def render(self) -> str | np.ndarray | None:
        """``ansi``: a text table of the learners; ``rgb_array``: a map of the area (:func:`render_rgb`: the
        learners coloured by battery when the scenario has batteries, else by predicted outage probability, sized
        by their last task, the last cycle's links, the orchestrator, its coverage circle and its trail since the
        reset); None without a mode or before the first reset."""
        if self.render_mode is None or self._last_obs is None:
            return None
        decoded = self._world_view(self._last_obs)
        if self.render_mode == "ansi":
            return render_ansi(decoded, self._last_tau)
        last_cycle = None if self._cycle_obs is None else self._world_view(self._cycle_obs)
        return render_rgb(decoded, self._last_tau, self.scenario.area_radius_m, self.scenario.coverage_radius_m,
                          trail=self.orchestrator_trail, last_cycle=last_cycle,
                          color_by="battery" if self.scenario.battery_enabled else "outage",
                          drone=self.core.mobile_orchestrator, **self._overlay)
