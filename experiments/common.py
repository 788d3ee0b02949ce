"""Helpers shared by the experiment commands: env kwargs from the command line, env construction."""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym
import yaml

import mel_gym  # noqa: F401 - registers the env IDs
from mel_gym.config import deep_merge

DEFAULT_ENV_ID = "mel_gym/TaskAllocation-v0"


def parse_env_kwargs(pairs: Sequence[str] | None) -> dict[str, Any]:
    """``["reward.metric=accuracy", "mode=fl"]`` -> ``{"reward": {"metric": "accuracy"}, "mode": "fl"}``.

    Values are parsed as YAML (numbers, booleans, lists); dotted keys build nested sections.
    """
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--env-kwarg {pair!r} must look like KEY=VALUE (e.g. reward.metric=accuracy)")
        value: Any = yaml.safe_load(raw) if raw else ""
        for part in reversed(key.split(".")[1:]):
            value = {part: value}
        out = deep_merge(out, {key.split(".")[0]: value})
    return out


def make_env(env_id: str, scenario: str | None = None, env_kwargs: dict[str, Any] | None = None, **extra: Any) -> gym.Env:
    """``gym.make`` with a scenario preset/path and scenario overrides."""
    kwargs = dict(env_kwargs or {})
    if scenario is not None:
        kwargs["scenario"] = scenario
    kwargs.update(extra)
    return gym.make(env_id, **kwargs)


def env_label(env_id: str) -> str:
    """``mel_gym/TaskAllocation-v0`` -> ``TaskAllocation-v0``."""
    return env_id.split("/")[-1].split(":")[-1]
