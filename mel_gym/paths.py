"""Where mel_gym finds its YAML presets and data sets on disk."""

from __future__ import annotations

import os
from pathlib import Path


def configs_dir() -> Path:
    """The ``configs/`` folder: ``mel_gym/configs`` in an installed wheel, else the source checkout's."""
    package = Path(__file__).resolve().parent
    packaged = package / "configs"  # pyproject maps the repository's configs/ here when it builds a wheel
    return packaged if (packaged / "scenarios").is_dir() else package.parent / "configs"


def preset_names(kind: str) -> list[str]:
    """Names of the presets of one kind (``scenarios``, ``agents``, ``run``), e.g. ``['default', 'paper']``."""
    return sorted(p.stem for p in (configs_dir() / kind).glob("*.yaml"))


def scenario_preset_names() -> list[str]:
    """Names of the scenario presets, e.g. ``['default', 'joint', 'paper', 'paper-joint']``."""
    return preset_names("scenarios")


def scenario_preset_path(name: str) -> Path:
    return configs_dir() / "scenarios" / f"{name}.yaml"


def data_home() -> Path:
    """Folder for downloaded data sets: ``$MEL_GYM_DATA`` or ``~/.cache/mel_gym``."""
    return Path(os.environ.get("MEL_GYM_DATA", Path.home() / ".cache" / "mel_gym"))
