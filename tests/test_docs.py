"""The generated pages of the docs site (docs/_ext/mel_gym_docs.py) cover every env ID, scenario key and subcommand.

These call the page generators directly (no Sphinx needed); `make docs` builds the whole site with warnings as
errors.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

import mel_gym_docs  # noqa: E402

from mel_gym.config import describe_fields  # noqa: E402
from mel_gym.registration import ENV_IDS, env_class  # noqa: E402


@pytest.fixture(scope="module")
def env_pages(tmp_path_factory) -> Path:
    srcdir = tmp_path_factory.mktemp("docs")
    mel_gym_docs.write_env_pages(srcdir)
    return srcdir / "reference" / "envs"


def test_every_env_id_has_a_page(env_pages):
    index = (env_pages / "index.md").read_text()
    pages = sorted(p.stem for p in env_pages.glob("*.md") if p.name != "index.md")
    assert pages == sorted(mel_gym_docs.page_name(env_id) for env_id in ENV_IDS)
    for env_id, entry_point in ENV_IDS.items():
        name = mel_gym_docs.page_name(env_id)
        text = (env_pages / f"{name}.md").read_text()
        module, _, cls = entry_point.partition(":")
        assert f"# {name}\n" in text and f".. autoclass:: {module}.{cls}" in text
        assert "**Action space**" in text and "**Observation space**" in text
        assert f"({name}.md)" in index and f"\n{name}\n" in index  # in the table and the toctree


def test_env_page_has_the_docstring_and_every_parameter(env_pages):
    from mel_gym.envs.params import describe_params

    cls = env_class("mel_gym/TaskAllocation-v0")
    text = (env_pages / "TaskAllocation-v0.md").read_text()
    assert "## Action space" in text and "Synchronous MEL task allocation" in text
    # a reST role of the docstring becomes a MyST role; a docs/<page>.md mention a link
    assert ":class:`" not in text and "{py:class}`mel_gym.envs.params.ShareParams`" in text
    assert "[docs/redistribution.md](../../redistribution.md)" in text
    for key, *_ in describe_params(cls.core_class.params_class):
        assert f"| `{key}` |" in text


def test_scenario_page_has_every_section_and_key():
    text = mel_gym_docs.scenario_page()
    rows = describe_fields()
    assert rows
    for key, default, _, _ in rows:
        assert f"| `{key}` | " in text, key
        if "." in key:
            assert f"## Section `{key.split('.', 1)[0]}`" in text
    from mel_gym.paths import preset_names

    assert all(f"`{name}`" in text for name in preset_names("scenarios"))


def test_cli_page_has_every_subcommand():
    from mel_gym.experiments.cli import build_parser

    text = mel_gym_docs.cli_page()
    names = list(mel_gym_docs.subcommands(build_parser()))
    assert "train" in names and "scenario" in names
    for name in names:
        assert f"## `mel-gym {name}`" in text and f"usage: mel-gym {name}" in text


def test_observation_and_result_pages():
    text = mel_gym_docs.observations_page()
    for module in mel_gym_docs.OBSERVATION_MODULES:
        assert "```{py:module} " + module in text
    results = mel_gym_docs.result_files_page(DOCS)
    for path in DOCS.glob("*.json"):
        assert f"<../{path.name}>" in results


def test_markdown_escaping():
    assert mel_gym_docs.cell("a_b | <x> *y*") == r"a\_b \| \<x\> \*y\*"
    assert mel_gym_docs.cell("see docs/model.md.", "../") == r"see [docs/model.md](../model.md)."
    assert mel_gym_docs.code_cell("[1, 2]") == "`[1, 2]`" and mel_gym_docs.code_cell("") == ""


def test_generated_pages_are_ignored_by_git_and_cleaned():
    root = DOCS.parent
    ignored = (root / ".gitignore").read_text().splitlines()
    makefile = (root / "Makefile").read_text()
    for path in mel_gym_docs.GENERATED:
        assert f"docs/{path}" in ignored or f"docs/{path}/" in ignored, path
        assert f"docs/{path}" in makefile, path
