"""Helpers shared by the experiment commands: env kwargs from the command line, output paths.

Light on purpose: ``mel-gym --help`` imports this module, and it must answer without importing torch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import yaml

from mel_gym.schema import deep_merge

DEFAULT_ENV_ID = "mel_gym/TaskAllocation-v0"


def parse_value(raw: str) -> Any:
    """One value given on the command line: YAML (``null``, ``true``, ``1.5``, ``[8, 8]``), and a number where YAML 1.1
    reads text (``2e5``, ``1e6``); "" stays ""."""
    value = yaml.safe_load(raw) if raw else ""
    if isinstance(value, str) and value:
        try:
            return float(value)
        except ValueError:
            return value
    return value


def dotted(key: str, value: Any) -> dict[str, Any]:
    """``("channel.bandwidth_hz", 1e6)`` -> ``{"channel": {"bandwidth_hz": 1e6}}``: a dotted key as nested sections."""
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


def parse_env_kwargs(pairs: Sequence[str] | None) -> dict[str, Any]:
    """``["reward.metric=accuracy", "mode=fl"]`` -> ``{"reward": {"metric": "accuracy"}, "mode": "fl"}``.

    Values are parsed by :func:`parse_value` (numbers, booleans, lists); dotted keys build nested sections.
    """
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--env-kwarg {pair!r} must look like KEY=VALUE (e.g. reward.metric=accuracy)")
        out = deep_merge(out, dotted(key, parse_value(raw)))
    return out


def env_kwargs_with(scenario: str | None, env_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """Keyword arguments of ``gym.make``: the scenario (if given) and the scenario overrides / env parameters."""
    kwargs = dict(env_kwargs or {})
    if scenario is not None:
        kwargs["scenario"] = scenario
    return kwargs


def make_env(env_id: str, scenario: str | None = None, env_kwargs: dict[str, Any] | None = None, **extra: Any):
    """``gym.make`` with a scenario preset/path, scenario overrides and env parameters."""
    import gymnasium as gym

    import mel_gym  # noqa: F401 - registers the env IDs

    return gym.make(env_id, **env_kwargs_with(scenario, env_kwargs), **extra)


def check_env_id(env_id: str) -> None:
    """A ``ValueError`` naming the registered IDs if ``env_id`` is not one."""
    import gymnasium as gym

    import mel_gym  # noqa: F401 - registers the env IDs

    if env_id not in gym.registry:
        known = sorted(k for k in gym.registry if k.startswith("mel_gym/"))
        raise ValueError(f"unknown env ID {env_id!r}: mel_gym's are {known}")


def check_output_path(path: str | Path | None, what: str) -> None:
    """Before any work: ``path`` can be written as a file (its folder exists or can be made and is writable,
    and it is not a folder). Raises ``ValueError`` naming ``what`` (e.g. ``--json``)."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} {path} is a folder: give a file path")
    check_output_dir(path.parent, what)


def check_output_dir(folder: str | Path, what: str) -> None:
    """``folder`` exists and is writable, or can be created: no part of it is a file. Raises ``ValueError``."""
    folder = Path(folder)
    for parent in [folder, *folder.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{what}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ValueError(f"{what}: cannot write in {parent} (permission denied)")
            return


def env_label(env_id: str) -> str:
    """``mel_gym/TaskAllocation-v0`` -> ``TaskAllocation-v0``."""
    return env_id.split("/")[-1].split(":")[-1]
