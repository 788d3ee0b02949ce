"""Sphinx extension of the mel_gym docs: writes the generated reference pages before Sphinx reads the sources.

Every page below is rebuilt from the code on each build, so none of them can drift from it:

- ``reference/envs/index.md`` and one ``reference/envs/<Name>-v0.md`` per env ID of
  :data:`mel_gym.registration.ENV_IDS`: the class docstring (written in Markdown), the spaces of the default
  scenario (the env is built once), the env's parameters (:func:`mel_gym.envs.params.describe_params`) and the
  class's API (autodoc);
- ``reference/scenario.md``: every scenario key, section by section (:func:`mel_gym.config.describe_fields`, the
  table ``mel-gym scenario`` prints);
- ``reference/cli.md``: the help of ``mel-gym`` and each subcommand (``build_parser()`` of the CLI);
- ``reference/result_files.md``: the JSON result files in ``docs/``, as downloads.

A file is only rewritten when its text changed, so an incremental build re-reads only what changed. The generated
paths are listed in :data:`GENERATED` (and ignored by git).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import re
from pathlib import Path
from typing import Any, Iterable

#: The generated paths, relative to the docs folder (git ignores them; ``make clean`` removes them).
GENERATED = ("reference/envs", "reference/observations.md", "reference/scenario.md", "reference/cli.md",
             "reference/result_files.md")

#: Modules whose docstring (Markdown) documents an observation layout: the page ``reference/observations.md``.
OBSERVATION_MODULES = ("mel_gym.envs.observation", "mel_gym.envs.multijob_problem", "mel_gym.envs.chain_problem",
                       "mel_gym.envs.route_problem")

#: Docs pages that a Markdown docstring names as ``docs/<page>.md`` (turned into links).
_DOCS_MENTION = re.compile(r"(?<![\w/\[(`])docs/([\w-]+)\.md\b")
#: reST cross-reference roles in docstrings, e.g. :class:`mel_gym.envs.params.ShareParams`.
_REST_ROLE = re.compile(r":(class|func|mod|data|meth|attr|exc|obj):`~?([\w.]+)`")


# --- helpers -------------------------------------------------------------------------------------------------------

def page_name(env_id: str) -> str:
    """``mel_gym/TaskAllocation-v0`` -> ``TaskAllocation-v0`` (the page's file name, without ``.md``)."""
    return env_id.split("/", 1)[-1]


def escape(text: str) -> str:
    """``text`` with the characters that Markdown would read as markup escaped."""
    return re.sub(r"([\\|<>*_\[\]#`])", r"\\\1", text)


def cell(value: Any, docs_prefix: str = "") -> str:
    """Text for a Markdown table cell (markup characters escaped); with ``docs_prefix`` (the docs folder, relative
    to the page), a mention of ``docs/<page>.md`` links to that page."""
    text = " ".join(str(value).split())
    if not docs_prefix:
        return escape(text)
    out, last = [], 0
    for m in _DOCS_MENTION.finditer(text):
        out += [escape(text[last:m.start()]), f"[{escape(m[0])}]({docs_prefix}{m[1]}.md)"]
        last = m.end()
    return "".join(out + [escape(text[last:])])


def code_cell(value: Any) -> str:
    """A table cell holding ``value`` as inline code (empty stays empty)."""
    text = " ".join(str(value).split()).replace("|", "\\|")
    if not text:
        return ""
    fence = "``" if "`" in text else "`"
    return f"{fence}{text}{fence}" if fence == "`" else f"{fence} {text} {fence}"


def table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def find_object(dotted: str) -> tuple[bool, Any]:
    """(whether it exists, the object) for a dotted name: a module, or an attribute path inside one."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        except Exception:  # an import that fails for another reason: the name cannot be checked
            return False, None
        for name in parts[i:]:
            if not hasattr(obj, name):
                return False, None
            obj = getattr(obj, name)
        return True, obj
    return False, None


def canonical_name(dotted: str) -> str:
    """Where a class or function is defined: ``mel_gym.envs.TaskAllocationEnv`` (a re-export) ->
    ``mel_gym.envs.task_allocation.TaskAllocationEnv``; other names stay as they are."""
    found, obj = find_object(dotted)
    if found and (inspect.isclass(obj) or inspect.isfunction(obj)) and not dotted.startswith(obj.__module__ + "."):
        return f"{obj.__module__}.{obj.__qualname__}"
    return dotted


def markdown_docstring(obj: Any, docs_prefix: str, module: str = "") -> str:
    """The Markdown docstring of ``obj`` as MyST: reST roles become MyST roles (a short name is looked up in
    ``module``, a re-export becomes the name where it is defined) and a mention of ``docs/<page>.md`` becomes a link
    to that page (``docs_prefix``: the docs folder, relative to the page)."""

    def role(m: re.Match) -> str:
        target = m[2]
        if module and "." not in target and find_object(f"{module}.{target}")[0]:
            target = f"{module}.{target}"
        return f"{{py:{m[1]}}}`{target if m[1] == 'mod' else canonical_name(target)}`"

    text = _REST_ROLE.sub(role, inspect.getdoc(obj) or "")
    return _DOCS_MENTION.sub(lambda m: f"[docs/{m[1]}.md]({docs_prefix}{m[1]}.md)", text)


def space_text(space: Any) -> str:
    """A one-line description of a Gymnasium space (a Box's bounds as their range, not every entry)."""
    import numpy as np
    from gymnasium import spaces

    if isinstance(space, spaces.Box):
        low, high = np.min(space.low), np.max(space.high)
        if np.all(space.low == low) and np.all(space.high == high):
            return f"Box({low:g}, {high:g}, {space.shape}, {space.dtype})"
        return f"Box({space.shape}, {space.dtype}), bounds from {low:g} to {high:g}"
    return repr(space)


def write_if_changed(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


# --- env pages -----------------------------------------------------------------------------------------------------

def env_classes() -> dict[str, type]:
    """env ID -> its class, in the order of :data:`mel_gym.registration.ENV_IDS`."""
    from mel_gym.registration import ENV_IDS, env_class

    return {env_id: env_class(env_id) for env_id in ENV_IDS}


def env_page(env_id: str, cls: type, env: Any) -> str:
    from mel_gym.envs.params import describe_params
    from mel_gym.registration import ENV_IDS, vector_entry_point

    core = cls.core_class
    name = page_name(env_id)
    qualname = f"{cls.__module__}.{cls.__qualname__}"
    facts = [
        ("Make it", code_cell(f'gym.make("{env_id}")')),
        ("Class", f"{{py:class}}`{qualname}`"),
        ("Vector env", code_cell(vector_entry_point(ENV_IDS[env_id]).replace(":", ".")) + " (" +
         code_cell(f'gym.make_vec("{env_id}", num_envs=n, vectorization_mode="vector_entry_point")') + ")"),
        ("Default scenario", f"[`{core.default_scenario}`](../scenario.md#presets)"),
        ("Parameters", f"{{py:class}}`{core.params_class.__module__}.{core.params_class.__qualname__}`"),
        ("Action space", code_cell(space_text(env.action_space))),
        ("Observation space", code_cell(space_text(env.observation_space))),
    ]
    params = describe_params(core.params_class)
    parts = [
        f"(env-{name})=",
        f"# {name}",
        "",
        "Generated from the code: the spaces are those of the env built with its default scenario "
        f"(`gym.make(\"{env_id}\")`); the text is the class docstring.",
        "",
        table(["**ID**", code_cell(env_id)], [(f"**{k}**", v) for k, v in facts]),
        "",
        markdown_docstring(cls, "../../"),
        "",
        "## Parameters",
        "",
        f"Keyword arguments of `gym.make(\"{env_id}\", ...)` besides the [scenario keys](../scenario.md) (the table "
        "of `mel-gym envs`); nested sections take a dict or a dotted `--env-kwarg` on the command line.",
        "",
        table(["parameter", "default", "allowed", "meaning"],
              [(code_cell(key), code_cell(default), cell(allowed), cell(doc, "../../"))
               for key, default, allowed, doc in params]),
        "",
        "## API",
        "",
        "```{eval-rst}",
        f".. autoclass:: {qualname}",
        "   :members:",
        "   :exclude-members: core_class",
        "   :show-inheritance:",
        "```",
        "",
    ]
    return "\n".join(parts)


def envs_index(envs: dict[str, tuple[type, Any]]) -> str:
    rows = []
    for env_id, (cls, env) in envs.items():
        summary = (inspect.getdoc(cls) or "").split("\n\n", 1)[0]
        rows.append((f"[{page_name(env_id)}]({page_name(env_id)}.md)", cell(summary),
                     code_cell(space_text(env.action_space))))
    toctree = "\n".join(page_name(env_id) for env_id in envs)
    return "\n".join([
        "# Environment reference",
        "",
        "One page per env ID, generated from `mel_gym.registration.ENV_IDS` and each env's class docstring; the "
        "action spaces are those of the default scenario. [How an env is built](../../envs.md) explains what they "
        "share.",
        "",
        table(["env", "what the agent decides", "action space (default scenario)"], rows),
        "",
        "```{toctree}",
        ":hidden:",
        "",
        toctree,
        "```",
        "",
    ])


def write_env_pages(srcdir: Path) -> None:
    import gymnasium as gym

    import mel_gym  # noqa: F401  (registers the IDs)

    envs = {}
    for env_id, cls in env_classes().items():
        env = gym.make(env_id)
        envs[env_id] = (cls, env)
    out = srcdir / "reference" / "envs"
    wanted = {f"{page_name(env_id)}.md" for env_id in envs} | {"index.md"}
    for stale in out.glob("*.md") if out.is_dir() else ():
        if stale.name not in wanted:  # an env ID that was removed
            stale.unlink()
    write_if_changed(out / "index.md", envs_index(envs))
    for env_id, (cls, env) in envs.items():
        write_if_changed(out / f"{page_name(env_id)}.md", env_page(env_id, cls, env))
        env.close()


# --- observation layouts ------------------------------------------------------------------------------------------

def observations_page() -> str:
    parts = [
        "# Observation layouts",
        "",
        "Generated from the module docstrings of the observation codecs. Every env's "
        "`env.unwrapped.problem.decode(obs)` turns an observation into named arrays with units.",
        "",
    ]
    for name in OBSERVATION_MODULES:
        module = importlib.import_module(name)
        parts += [f"## `{name}`", "", "```{py:module} " + name, "```", "",
                  markdown_docstring(module, "../", module=name), ""]
    return "\n".join(parts)


# --- scenario keys -------------------------------------------------------------------------------------------------

def scenario_sections() -> dict[str, list[tuple[str, Any, str, str]]]:
    """Section -> its rows of :func:`mel_gym.config.describe_fields` (the table of ``mel-gym scenario``); the
    top-level keys are the section ``""``."""
    from mel_gym.config import describe_fields

    sections: dict[str, list[tuple[str, Any, str, str]]] = {"": []}
    for row in describe_fields():
        key = row[0]
        section = key.split(".", 1)[0] if "." in key else ""
        sections.setdefault(section, []).append(row)
    return sections


def scenario_page() -> str:
    from mel_gym.paths import preset_names

    parts = [
        "# Scenario keys",
        "",
        "Generated from the scenario schema (`mel_gym.config.describe_fields`, the table that `mel-gym scenario` "
        "prints). A scenario is a preset or a YAML file of these keys, nested by section; any key can be "
        "overridden with `--env-kwarg section.key=value` on the command line or as a keyword argument of "
        "`gym.make` (a section as a dict). `allowed` is the range (inclusive unless `<` / `>`) with the unit, or "
        "the choices; `null` (`None`) means the key is off or takes the default named in its meaning.",
        "",
        "(presets)=",
        "## Presets",
        "",
        "In `configs/scenarios/` (installed as `mel_gym/configs/scenarios/`); `mel-gym scenario NAME` prints one "
        "resolved:",
        "",
        ", ".join(f"`{name}`" for name in preset_names("scenarios")),
        "",
    ]
    sections = scenario_sections()
    for section, rows in sections.items():
        title = f"Section `{section}`" if section else "Top-level keys"
        parts += [f"## {title}", ""]
        parts.append(table(["key", "default", "allowed", "meaning"],
                           [(code_cell(key), code_cell(default), cell(allowed), cell(doc, "../"))
                            for key, default, allowed, doc in rows]))
        parts.append("")
    return "\n".join(parts)


# --- command line --------------------------------------------------------------------------------------------------

def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands of ``parser``, name -> parser, in their order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def cli_page() -> str:
    from mel_gym.experiments.cli import build_parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps the help to the terminal's width: the same on every machine
    try:
        parser = build_parser()
        parts = [
            "# Command line: `mel-gym`",
            "",
            "Generated from the CLI's argument parser (`mel_gym.experiments.cli.build_parser`): what "
            "`mel-gym --help` and `mel-gym COMMAND --help` print.",
            "",
            "```text",
            parser.format_help().rstrip(),
            "```",
            "",
        ]
        for name, sub in subcommands(parser).items():
            parts += [f"(cli-{name})=", f"## `mel-gym {name}`", "", "```text", sub.format_help().rstrip(), "```", ""]
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old
    return "\n".join(parts)


# --- result files --------------------------------------------------------------------------------------------------

def result_kind(data: Any) -> str:
    """What wrote a result file, from its top-level keys."""
    if not isinstance(data, dict):
        return ""
    if "figure" in data:  # reproduce's JSON also holds accuracy curves: test it first
        return "`mel-gym reproduce`"
    if "training_seeds" in data:  # run's JSON also holds the headroom test's bounds
        return "`mel-gym run`"
    if "headroom" in data:
        return "`mel-gym headroom`"
    if "accuracy_curves" in data:
        return "`mel-gym evaluate`"
    if "sgemm_peak_gflops" in data:
        return "`mel-gym bench`"
    return ""


def result_files_page(srcdir: Path) -> str:
    rows = []
    for path in sorted(srcdir.glob("*.json")):
        data = json.loads(path.read_text())
        rows.append((f"{{download}}`{path.name} <../{path.name}>`", result_kind(data),
                     f"{path.stat().st_size / 1e3:,.0f} kB"))
    return "\n".join([
        "# Result files",
        "",
        "The JSON files in `docs/` that the result pages quote (every episode of every policy), generated from the "
        "folder's contents.",
        "",
        table(["file", "written by", "size"], rows),
        "",
    ])


# --- Sphinx hooks --------------------------------------------------------------------------------------------------

def generate(app: Any) -> None:
    srcdir = Path(app.srcdir)
    write_env_pages(srcdir)
    write_if_changed(srcdir / "reference" / "observations.md", observations_page())
    write_if_changed(srcdir / "reference" / "scenario.md", scenario_page())
    write_if_changed(srcdir / "reference" / "cli.md", cli_page())
    write_if_changed(srcdir / "reference" / "result_files.md", result_files_page(srcdir))


_attribute_docstrings: dict[str, list[str]] = {}


def save_attribute_docstring(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """Napoleon reads the first line of an attribute's docstring as ``type: description``; mel_gym's attribute
    docstrings are plain sentences ("Radius (m): the disc ..."): this handler (before napoleon's) keeps the text and
    :func:`restore_attribute_docstring` (after it) puts it back."""
    if what in ("attribute", "data", "property"):
        _attribute_docstrings[name] = list(lines)


def restore_attribute_docstring(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    if name in _attribute_docstrings:
        lines[:] = _attribute_docstrings.pop(name)


def resolve_to_code(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """A Python cross-reference that no page documents: resolved to where the object is defined when that is
    documented (a re-export), else shown as code when the object exists in the code (an internal name). A name that
    does not exist (a typo, a removed object) stays a warning."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    module, cls = node.get("py:module"), node.get("py:class")
    candidates = [f"{module}.{cls}.{target}"] if module and cls else []
    candidates += [f"{module}.{target}"] if module else []
    candidates.append(target)
    for dotted in candidates:
        found, _ = find_object(dotted)
        if not found:
            continue
        canonical = canonical_name(dotted)
        if canonical != node["reftarget"]:
            resolved = env.get_domain("py").resolve_xref(env, node.get("refdoc", env.docname), app.builder,
                                                         node["reftype"], canonical, node, contnode)
            if resolved is not None:
                return resolved
        return contnode
    return None


def drop_env_docstrings(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """The env pages show an env class's docstring as Markdown above its API: autodoc leaves it out there."""
    if what == "class" and obj in env_classes().values():
        lines.clear()


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", generate)
    app.connect("autodoc-process-docstring", drop_env_docstrings)
    app.connect("autodoc-process-docstring", save_attribute_docstring, priority=400)
    app.connect("autodoc-process-docstring", restore_attribute_docstring, priority=600)
    app.connect("missing-reference", resolve_to_code)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
