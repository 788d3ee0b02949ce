"""README's Python snippets run as written (the quick start and the customisation example), so the guide cannot
drift from the code; README stays a guide of at most 400 lines with the two commands."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", text, flags=re.S | re.M)
    assert match, f"README has no section '## {title}'"
    return match.group(1)


def _python_blocks(section: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_readme_is_a_guide_with_the_two_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 400
    commands = _section("The two commands")
    assert "make run" in commands and "make test" in commands
    assert "| policy | return |" in _section("Results: learned vs optimised")


def test_quick_start_runs(capsys):
    (block,) = _python_blocks(_section("Quick start"))
    namespace: dict = {}
    exec(compile(block, "README quick start", "exec"), namespace)
    env, action = namespace["env"], namespace["action"]
    assert env.action_space.contains(action)
    assert "ha-sync-fraction" in namespace["policies_for"](namespace["problem"])
    printed = capsys.readouterr().out
    assert printed.strip(), "the quick start prints the reward, tau and accuracy"


def test_customise_example_builds():
    (block,) = _python_blocks(_section("Customise"))
    import gymnasium as gym
    import mel_gym  # noqa: F401

    namespace: dict = {"gym": gym}
    exec(compile(block, "README customise", "exec"), namespace)
    env = namespace["env"]
    scenario = env.unwrapped.scenario
    assert scenario.num_learners == 50 and scenario.channel.bandwidth_hz == pytest.approx(2e6)
    env.close()
