"""Where mel_gym finds its YAML presets and data sets on disk."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path


def configs_dir() -> Path:
    """The ``configs/`` folder: inside an installed wheel (``mel_gym/configs``) or the source checkout."""
    try:
        packaged = Path(str(resources.files("mel_gym.configs")))
        if (packaged / "scenarios").is_dir():
            return packaged
    except ModuleNotFoundError:  # editable install: the mapping of configs/ -> mel_gym.configs is wheel-only
        pass
    return Path(__file__).resolve().parent.parent / "configs"


def scenario_preset_names() -> list[str]:
    """Names of the scenario presets, e.g. ``['default', 'paper']``."""
    return sorted(p.stem for p in (configs_dir() / "scenarios").glob("*.yaml"))


def scenario_preset_path(name: str) -> Path:
    return configs_dir() / "scenarios" / f"{name}.yaml"


def data_home() -> Path:
    """Folder for downloaded data sets: ``$MEL_GYM_DATA`` or ``~/.cache/mel_gym``."""
    return Path(os.environ.get("MEL_GYM_DATA", Path.home() / ".cache" / "mel_gym"))
