"""The wheel carries the YAML presets, so a non-editable install finds them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_packages_and_presets(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("mel_gym-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for preset in (ROOT / "configs").rglob("*.yaml"):
        assert f"mel_gym/configs/{preset.relative_to(ROOT / 'configs')}" in names, preset
    for module in ("mel_gym/simulation/single.py", "mel_gym/agents/baselines.py", "mel_gym/experiments/cli.py", "mel_gym/envs/task_allocation.py"):
        assert module in names
    assert not any(n.startswith(("agents/", "experiments/")) for n in names), "no top-level agents/experiments"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "mel-gym = mel_gym.experiments.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
