"""Validated parameter trees: frozen dataclasses whose fields declare unit, range and meaning once.

One declaration (:func:`param`) drives the validation of a plain nested dict (:func:`build`), the error that
names the dotted key and the allowed range (:class:`ConfigError`) and the reference tables of the docs
(:func:`describe_fields`). The scenario (:mod:`mel_gym.config`) and every env's parameters
(:mod:`mel_gym.envs.params`) are such trees.
"""

from __future__ import annotations

import dataclasses
import math
import types
from dataclasses import field
from pathlib import Path
from typing import Any, Mapping, Union, get_args, get_origin, get_type_hints

import yaml


class ConfigError(ValueError):
    """A scenario, env parameter or config file that is malformed, names an unknown key or holds an
    out-of-range value. The message names the dotted key and the allowed range."""


def param(
    default: Any,
    *,
    unit: str = "",
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    choices: tuple[str, ...] | None = None,
    item: type = float,
    doc: str = "",
) -> Any:
    """Declare a field with its unit, allowed range (inclusive unless ``*_open``) and choices.

    For a list field, ``item`` is the element type and the range applies to each element; an ``item`` that is a
    dataclass makes a list of sections, each validated like a nested section (keys ``name[i].field``).
    """
    meta = dict(unit=unit, low=low, high=high, low_open=low_open, high_open=high_open, choices=choices,
                item=item, doc=doc)
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def range_text(meta: Mapping[str, Any]) -> str:
    """``>= 1 and <= 10 (m)``: the allowed range of a field, for messages and tables."""
    parts = []
    if meta.get("low") is not None:
        parts.append(f"{'>' if meta['low_open'] else '>='} {meta['low']:g}")
    if meta.get("high") is not None:
        parts.append(f"{'<' if meta['high_open'] else '<='} {meta['high']:g}")
    text = " and ".join(parts) if parts else "any finite number"
    return f"{text} ({meta['unit']})" if meta.get("unit") else text


def _in_range(value: float, meta: Mapping[str, Any]) -> bool:
    if not math.isfinite(value):
        return False
    low, high = meta.get("low"), meta.get("high")
    if low is not None and (value <= low if meta["low_open"] else value < low):
        return False
    if high is not None and (value >= high if meta["high_open"] else value > high):
        return False
    return True


def is_section(tp: Any) -> bool:
    return dataclasses.is_dataclass(tp)


def _check_value(what: str, key: str, value: Any, tp: Any, meta: Mapping[str, Any]) -> Any:
    """Coerce ``value`` to the declared type ``tp`` and check its range; return the coerced value."""
    optional = get_origin(tp) in (Union, types.UnionType) and type(None) in get_args(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{what} '{key}' must not be null")
    base = next(a for a in get_args(tp) if a is not type(None)) if optional else tp
    base = get_origin(base) or base  # dict[str, list[float]] -> dict
    if base is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{what} '{key}' = {value!r} must be true or false")
        return value
    if base is str:
        if not isinstance(value, str):
            raise ConfigError(f"{what} '{key}' = {value!r} must be a string")
        if meta.get("choices") and value not in meta["choices"]:
            raise ConfigError(f"{what} '{key}' = {value!r} is not one of {list(meta['choices'])}")
        return value
    if base is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{what} '{key}' = {value!r} must be a list")
        if is_section(meta["item"]):  # a list of sections, e.g. the scenario's jobs
            return [build(meta["item"], v, what, f"{key}[{i}].") for i, v in enumerate(value)]
        return [_check_number(what, f"{key}[{i}]", v, meta["item"], meta) for i, v in enumerate(value)]
    if base is dict:  # a mapping of names to lists of numbers, e.g. an env's planner_levels
        if not isinstance(value, Mapping) or not value:
            raise ConfigError(f"{what} '{key}' = {value!r} must be a non-empty mapping of names to lists of numbers")
        out = {}
        for name, items in value.items():
            if not isinstance(items, (list, tuple)) or not items:
                raise ConfigError(f"{what} '{key}.{name}' = {items!r} must be a non-empty list of numbers")
            out[str(name)] = [_check_number(what, f"{key}.{name}[{i}]", v, meta["item"], meta)
                              for i, v in enumerate(items)]
        return out
    if base in (int, float):
        return _check_number(what, key, value, base, meta)
    raise TypeError(f"unsupported field type {tp} for {key}")  # pragma: no cover - a schema bug


def _check_number(what: str, key: str, value: Any, kind: type, meta: Mapping[str, Any]) -> float | int:
    if isinstance(value, str):  # PyYAML reads 1e6 (no dot, no sign in the exponent) as a string
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{what} '{key}' = {value!r} must be a number: {range_text(meta)}")
    if kind is int and float(value) != int(value):
        raise ConfigError(f"{what} '{key}' = {value!r} must be an integer: {range_text(meta)}")
    if not _in_range(float(value), meta):
        raise ConfigError(f"{what} '{key}' = {value!r} is out of range: must be {range_text(meta)}")
    return kind(value)


def build(cls: type, data: Mapping[str, Any], what: str = "key", prefix: str = "", hint: str = "") -> Any:
    """A validated ``cls`` from a (possibly partial) nested dict; missing keys take their defaults.

    ``what`` names the kind of key in errors ("scenario key", "env parameter"); ``hint`` is appended to the
    error of an unknown key.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{what} '{prefix.rstrip('.') or '<root>'}' must be a mapping, got {data!r}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown {what} '{prefix}{unknown[0]}'; allowed keys{' in ' + prefix.rstrip('.') if prefix else ''}: "
            f"{sorted(fields)}{hint}"
        )
    kwargs = {}
    for name, value in data.items():
        tp, key = hints[name], prefix + name
        if is_section(tp):
            kwargs[name] = build(tp, value, what, key + ".")
        else:
            kwargs[name] = _check_value(what, key, value, tp, fields[name].metadata)
    return cls(**kwargs)


def as_dict(tree: Any) -> dict[str, Any]:
    """A parameter tree as a plain nested dict (YAML-ready)."""
    return dataclasses.asdict(tree)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``; nested mappings merge, everything else replaces."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def describe_fields(cls: type, prefix: str = "") -> list[tuple[str, Any, str, str]]:
    """(dotted key, default, allowed range or choices, doc) for every field: a reference table."""
    rows = []
    defaults = cls()
    for f in dataclasses.fields(cls):
        value = getattr(defaults, f.name)
        if dataclasses.is_dataclass(value):
            rows.extend(describe_fields(type(value), prefix + f.name + "."))
            continue
        meta = f.metadata
        if meta.get("choices"):
            allowed = " / ".join(meta["choices"])
        elif meta.get("low") is not None or meta.get("high") is not None:
            allowed = range_text(meta)
        else:
            allowed = meta.get("unit", "")
        rows.append((prefix + f.name, value, allowed, meta.get("doc", "")))
        if is_section(meta.get("item")):  # a list of sections: each item's keys as name[].key
            rows.extend(describe_fields(meta["item"], f"{prefix}{f.name}[]."))
    return rows


class _DuplicateKey(yaml.YAMLError):
    """A mapping of a YAML file names ``key`` twice (the second time on ``line``, 1-based)."""

    def __init__(self, key: Any, line: int):
        super().__init__(f"duplicate key {key!r} on line {line}")
        self.key, self.line = key, line


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a mapping naming a key twice is an error (PyYAML silently keeps the last
    one, so a typo'd copy of a section would override the first). Keys merged in with ``<<`` may be overridden, as
    YAML allows."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: list[Any] = []
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise _DuplicateKey(key, key_node.start_mark.line + 1)
            seen.append(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Parse a YAML mapping from a UTF-8 file.

    Raises:
        ConfigError: naming the file, when it is missing or a folder, is not UTF-8 text, is not valid YAML, names a
            key twice in one mapping, or does not hold a mapping at the top level (one line each).
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file '{path}' is a folder, not a YAML file")
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file '{path}' is not UTF-8 text: byte {err.object[err.start]:#04x} at offset "
                          f"{err.start} ({err.reason})") from err
    except _DuplicateKey as err:
        raise ConfigError(f"YAML file '{path}' names the key {err.key!r} twice in one mapping (again on line "
                          f"{err.line}): each key may appear once") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"could not parse YAML file '{path}': {' '.join(str(err).split())}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"YAML file '{path}' must hold a mapping at the top level, got {type(data).__name__}")
    return data
