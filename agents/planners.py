"""Planner knobs: the few numbers that shape a planning baseline's plans, and planner-level actions built on them.

A planning baseline (``ha-sync-fraction``, ``expected-value-fraction``, ``receding-horizon-fraction``, ...) turns
each observation into the env's full raw action; a handful of **knobs** steer it: the fraction f of the cycle's
samples its plan processes, a risk threshold, energy pacing, the drone's energy weight, MultiJob-v0's per-job
fractions and weights. Each knob is a :class:`Knob` (name, range, linear or logarithmic scale). The same knobs serve
three purposes:

- **tuning**: a baseline registered with knob grids (:data:`mel_gym.agents.registry.BASELINES`) is tuned on training
  seeds over the product of its grids (:func:`mel_gym.experiments.evaluate.evaluate`): the tuned-constant planner;
- **bounds**: the per-episode hindsight best setting of the same grids (``mel-gym headroom``);
- **planner actions**: ``gym.make(ID, action_mode="planner")`` makes the action a ``Box(-1, 1, (M,))`` of the env's
  planner's M knobs (:class:`Planner`): value a of knob i is mapped onto its range, the planner plans the coming cycle
  from the observation with those values, and its raw action is what the env runs. With the env parameter
  ``planner_levels`` (a list of values per knob) the action is a ``MultiDiscrete`` of one level index per knob. A
  trained planner-level agent plays a raw env the same way (:class:`PlannerAgent`).

Knob ranges: fraction [min_fraction, 1] (linear); threshold [0.01, 1] (linear; the failure probability above which a
learner is left out, 1: nobody); pacing [1, horizon] cycles (logarithmic; a learner plans to spend at most
battery x min(1, pacing / cycles left) this cycle); energy_weight [0.1, 100] (logarithmic); value_per_tau [0.001, 1]
(logarithmic, kJ); loss_exponent [0, 3] (linear); effort [0, 1] (linear; the share of the planned local iterations
run, 0: idle); full_effort_cycles [0, horizon] (linear); loss_threshold [0, 2.5] nats (linear; idle at or below it);
jobs_at_once [1, J] (linear, rounded); progress_per_cycle [0.01, 1] (logarithmic, accuracy per cycle);
MultiJob-v0's fraction_j [min_fraction, 1] and weight_j [0.1, 10] (logarithmic, a multiplier of job j's value).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from gymnasium import spaces

from mel_gym.schema import ConfigError


@dataclass(frozen=True)
class Knob:
    """One planner knob: its name (the planner's attribute), range and scale."""

    name: str
    low: float
    high: float
    log: bool = False

    def value(self, action: float) -> float:
        """The knob's value for an action value in [-1, 1] (clipped): low at -1, high at 1 (geometric on a log
        scale)."""
        u = (min(max(float(action), -1.0), 1.0) + 1.0) / 2.0
        if self.log:
            return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)

    def action(self, value: float) -> float:
        """The action value in [-1, 1] of a knob value (the inverse of :meth:`value`, clipped to the range)."""
        v = min(max(float(value), self.low), self.high)
        if self.high <= self.low:
            return 1.0
        if self.log:
            u = (math.log(v) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        else:
            u = (v - self.low) / (self.high - self.low)
        return 2.0 * u - 1.0


def knob(name: str, problem: Any) -> Knob:
    """The knob ``name`` for an env's problem (the fraction's low end is the env's ``min_fraction``; pacing's top the
    episode's horizon; ``fraction_<j>`` and ``weight_<j>`` are MultiJob-v0's per-job knobs)."""
    base = name.rsplit("_", 1)[0] if name[-1].isdigit() else name
    if base == "fraction":
        return Knob(name, float(problem_attr(problem, "min_fraction")), 1.0)
    if base == "weight":
        return Knob(name, 0.1, 10.0, log=True)
    ranges = {"threshold": (0.01, 1.0, False), "energy_weight": (0.1, 100.0, True),
              "value_per_tau": (0.001, 1.0, True), "loss_exponent": (0.0, 3.0, False), "effort": (0.0, 1.0, False),
              "loss_threshold": (0.0, 2.5, False), "progress_per_cycle": (0.01, 1.0, True)}
    if name == "pacing":
        return Knob(name, 1.0, float(max(problem_attr(problem, "codec").horizon_cycles, 2)), log=True)
    if name == "jobs_at_once":
        return Knob(name, 1.0, float(problem_attr(problem, "num_jobs")))
    if name == "full_effort_cycles":
        return Knob(name, 0.0, float(problem_attr(problem, "codec").horizon_cycles))
    if name not in ranges:
        raise ValueError(f"unknown planner knob {name!r}")
    low, high, log = ranges[name]
    return Knob(name, low, high, log)


def problem_attr(problem: Any, name: str) -> Any:
    """An attribute of an env's problem, or of its world's (MultiJob-v0's problem keeps the world's codec there)."""
    return getattr(problem, name) if hasattr(problem, name) else getattr(problem.world, name)


def grid_settings(grids: Mapping[str, Sequence[float]]) -> list[dict[str, float]]:
    """Every setting of the product of the knobs' grids, in grid order (the first knob varies slowest)."""
    settings: list[dict[str, float]] = [{}]
    for name, grid in grids.items():
        settings = [{**s, name: float(v)} for s in settings for v in grid]
    return settings


class Planner:
    """Planner-level actions of an env: its planner baseline (``name``, built on the env's problem) with the knobs
    :meth:`knobs` declares, and the raw action it plans for each knob action.

    Args:
        name: a baseline name of :data:`mel_gym.agents.registry.BASELINES` with planner knobs.
        problem: the env's problem (its raw action must have the amount, which the planner sets).
        raw_action_space: the env's raw single action space.
        levels: None for a ``Box(-1, 1, (M,))`` action over the knobs' ranges; or a list of values for every knob
            (the env parameter ``planner_levels``), making the action a ``MultiDiscrete`` of one level index per
            knob (a discrete choice such as "idle or train" that a policy can make exactly).

    Raises:
        ConfigError: ``levels`` misses a knob of the planner, names one it does not have, or holds a value outside
            a knob's range (naming ``planner_levels.<knob>``).
    """

    def __init__(self, name: str, problem: Any, raw_action_space: spaces.Space,
                 levels: Mapping[str, Sequence[float]] | None = None):
        from mel_gym.agents.registry import make_policy

        self.name = name
        self.policy = make_policy(name, problem, raw_action_space, raw=True)
        self.knobs = [knob(n, problem) for n in self.policy.planner_knobs()]
        self.levels = None if levels is None else check_levels(levels, self.knobs, name)
        if self.levels is None:
            self.action_space: spaces.Space = spaces.Box(-1.0, 1.0, shape=(len(self.knobs),), dtype=np.float32)
        else:
            self.action_space = spaces.MultiDiscrete([len(v) for v in self.levels])

    def middle_action(self) -> np.ndarray:
        """The knob action at the middle of every range (Box) or list of levels (MultiDiscrete)."""
        if self.levels is None:
            return np.zeros(len(self.knobs), dtype=np.float32)
        return np.array([len(v) // 2 for v in self.levels], dtype=np.int64)

    def values(self, action: np.ndarray) -> dict[str, float]:
        """The knob values of one knob action (M,)."""
        if self.levels is None:
            return {k.name: k.value(a) for k, a in zip(self.knobs, action)}
        return {k.name: v[int(a)] for k, v, a in zip(self.knobs, self.levels, action)}

    def check(self, actions: np.ndarray) -> np.ndarray:
        """A batch of knob actions (n, M): float64 clipped to [-1, 1], or level indices.

        Raises:
            ValueError: NaN or inf (Box), or a level index that is not an integer in [0, levels) (MultiDiscrete),
                naming the index and the knob.
        """
        a = np.asarray(actions, dtype=np.float64)
        if self.levels is None:
            bad = ~np.isfinite(a)
            allowed = "a finite number in [-1, 1]"
        else:
            bad = ~np.isfinite(a) | (a != np.round(a)) | (a < 0) | (a >= np.asarray(self.action_space.nvec))
            allowed = f"an integer level index below {self.action_space.nvec.tolist()}"
        if np.any(bad):
            i, j = np.argwhere(bad)[0]
            where = [int(j)] if a.shape[0] == 1 else [int(i), int(j)]
            raise ValueError(f"planner action holds {float(a[i, j])!r} at index {where} (knob "
                             f"{self.knobs[j].name!r}): every entry must be {allowed}, knobs "
                             f"{[k.name for k in self.knobs]}")
        return np.clip(a, -1.0, 1.0) if self.levels is None else a.astype(np.int64)

    def raw_actions(self, actions: np.ndarray, observations: np.ndarray) -> np.ndarray:
        """The raw actions (n, raw size) the planner plans for knob actions (n, M) on observations (n, obs size)."""
        actions = self.check(actions)
        rows = []
        for action, obs in zip(actions, np.asarray(observations)):
            self.policy.set_knobs(self.values(action))
            rows.append(self.policy.act(obs))
        return np.stack(rows)


def check_levels(levels: Mapping[str, Sequence[float]], knobs: Sequence[Knob], planner: str) -> list[list[float]]:
    """The levels of every knob, in the knobs' order, each value checked against its knob's range.

    Raises:
        ConfigError: a knob missing or unknown, or a value out of range (naming ``planner_levels.<knob>``).
    """
    names = [k.name for k in knobs]
    if set(levels) != set(names):
        missing, unknown = sorted(set(names) - set(levels)), sorted(set(levels) - set(names))
        raise ConfigError(f"env parameter 'planner_levels' must list values for exactly the knobs {names} of the "
                          f"planner {planner!r}; missing {missing}, unknown {unknown}")
    out = []
    for k in knobs:
        values = [float(v) for v in levels[k.name]]
        for i, v in enumerate(values):
            if not k.low <= v <= k.high:
                raise ConfigError(f"env parameter 'planner_levels.{k.name}[{i}]' = {v!r} is out of range: must be "
                                  f">= {k.low:g} and <= {k.high:g}")
        out.append(values)
    return out


class PlannerAgent:
    """A planner-level agent playing an env's raw action: ``predict`` asks the agent for its knobs on each observation
    and returns the raw actions the env's planner plans with them (what ``action_mode="planner"`` does inside the
    env)."""

    def __init__(self, model: Any, planner: Planner):
        self.model, self.planner = model, planner

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        obs = np.asarray(observation)
        batch = obs.reshape(-1, obs.shape[-1])
        knobs, state = self.model.predict(batch, state, episode_start, deterministic)
        actions = self.planner.raw_actions(np.asarray(knobs).reshape(len(batch), -1), batch)
        return (actions[0] if obs.ndim == 1 else actions), state


__all__ = ["Knob", "Planner", "PlannerAgent", "check_levels", "grid_settings", "knob"]
