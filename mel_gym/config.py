"""Validated scenario configuration, loaded from YAML presets under ``configs/scenarios``.

A scenario is a tree of frozen dataclasses. Every numeric field declares its unit and allowed range in
its metadata; :func:`load_scenario` rejects unknown keys and out-of-range values with a
:class:`ConfigError` that names the dotted key and the allowed range.

Sources of the defaults are in ``shared/design/MEL_MODEL.md``; the presets say which they use.
"""

from __future__ import annotations

import dataclasses
import math
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Union, get_args, get_origin, get_type_hints

import yaml

from mel_gym.paths import scenario_preset_path, scenario_preset_names


class ConfigError(ValueError):
    """A scenario (or env kwarg) that is malformed, names an unknown key or holds an out-of-range value."""


# --------------------------------------------------------------------------------------------------------------
# Field declarations
# --------------------------------------------------------------------------------------------------------------


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
    """Declare a scenario field with its unit, allowed range (inclusive unless ``*_open``) and choices.

    For a list field, ``item`` is the element type and the range applies to each element.
    """
    meta = dict(unit=unit, low=low, high=high, low_open=low_open, high_open=high_open, choices=choices,
                item=item, doc=doc)
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def _range_text(meta: Mapping[str, Any]) -> str:
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


# --------------------------------------------------------------------------------------------------------------
# The scenario tree
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlacementConfig:
    """Where learners stand: uniform in area on an annulus around the orchestrator (at the origin)."""

    min_distance_m: float = param(20.0, unit="m", low=1.0, doc="inner radius of the annulus")
    max_distance_m: float = param(300.0, unit="m", low=1.0, doc="outer radius (the cell radius)")


@dataclass(frozen=True)
class ChannelConfig:
    """Wireless link between the orchestrator and each learner (MEL_MODEL.md section 3)."""

    bandwidth_hz: float = param(0.8e6, unit="Hz", low=0.0, low_open=True, doc="bandwidth W per learner")
    tx_power_dbm: float = param(23.0, unit="dBm", low=-30.0, high=60.0, doc="transmit power P (both directions)")
    noise_psd_dbm_per_hz: float = param(-174.0, unit="dBm/Hz", low=-220.0, high=-100.0, doc="noise PSD N0")
    path_loss_model: str = param("3gpp", choices=("3gpp", "power-law"), doc="large-scale path loss")
    power_law_gain_db: float = param(-40.0, unit="dB", low=-150.0, high=0.0, doc="g0 at 1 m (power-law model)")
    power_law_exponent: float = param(3.0, low=1.0, high=8.0, doc="path-loss exponent (power-law model)")
    shadowing_std_db: float = param(8.0, unit="dB", low=0.0, high=30.0, doc="log-normal shadowing, per episode")
    power_range_db: float = param(30.0, unit="dB", low=0.0, high=100.0,
                                  doc="JointAllocation: transmit power is chosen in [P - range, P] (dB scale)")
    fading: str = param("rayleigh", choices=("rayleigh", "none"), doc="small-scale block fading per cycle")


@dataclass(frozen=True)
class ComputeConfig:
    """Learner CPUs (MEL_MODEL.md section 4)."""

    cpu_freqs_hz: list = param([0.7e9, 1.0e9, 1.4e9, 2.4e9], unit="Hz", low=1e6, doc="each learner draws one")
    cycles_per_sample: float = param(8.0e4, unit="cycles", low=0.0, low_open=True,
                                     doc="C_m: CPU cycles per sample per local iteration")
    kappa: float = param(1e-28, unit="J/(cycle Hz^2)", low=0.0, doc="effective switched capacitance")
    min_cpu_hz: float = param(0.3e9, unit="Hz", low=1e6, doc="JointAllocation: lowest CPU frequency a learner can run")


@dataclass(frozen=True)
class EnergyConfig:
    """Learner batteries that drain across cycles; a learner with an empty battery leaves."""

    battery_min_j: float | None = param(None, unit="J", low=0.0, low_open=True,
                                        doc="battery capacity drawn U[min, max] per learner; null = no battery")
    battery_max_j: float | None = param(None, unit="J", low=0.0, low_open=True, doc="see battery_min_j")
    cycle_cap_j: float | None = param(None, unit="J", low=0.0, low_open=True,
                                      doc="per-learner energy cap of one cycle (E_max); null = none")


@dataclass(frozen=True)
class AggregationConfig:
    """AsyncTaskAllocation: how models that ran different numbers of local iterations are averaged."""

    staleness_weighting: str = param("data", choices=("data", "polynomial", "work"),
                                     doc="data: d_k; polynomial: d_k (1 + s_k)^-exponent; work: d_k tau_k")
    staleness_exponent: float = param(0.5, low=0.0, doc="exponent of the polynomial staleness weighting")
    max_staleness: int | None = param(None, low=0, doc="cap tau_k at min_j tau_j + this; null = no bound")


@dataclass(frozen=True)
class LearningConfig:
    """The embedded FL trainer: data set, model and local training (MEL_MODEL.md section 1)."""

    dataset: str = param("digits", choices=("digits", "mnist5k", "fashion-mnist", "mnist"),
                         doc="data set name, see mel_gym.learning.datasets")
    data_dir: str | None = param(None, doc="directory of IDX files (mnist, fashion-mnist); null = default place")
    hidden_layers: list = param([32], low=1, high=100000, item=int, doc="MLP hidden widths; [] = logistic regression")
    learning_rate: float = param(0.1, low=0.0, high=100.0, low_open=True, doc="SGD step size")
    local_batch_size: int | None = param(None, low=1, doc="null = one full-batch step per local iteration")
    partition: str = param("iid", choices=("iid", "dirichlet", "shards"), doc="FL: how learners' data is split")
    dirichlet_alpha: float = param(0.5, low=0.0, low_open=True, doc="FL Dirichlet label-skew concentration")
    shards_per_learner: int = param(2, low=1, doc="FL shard partition: label-sorted shards per learner")
    test_fraction: float = param(0.2, low=0.0, high=1.0, low_open=True, high_open=True,
                                 doc="held-out share for data sets without an official test split")
    max_test_samples: int = param(2000, low=1, doc="evaluate on at most this many held-out samples")
    split_seed: int = param(0, low=0, doc="seed of the fixed train/test split and test subset")
    bits_per_parameter: int = param(32, unit="bit", low=1, high=64, doc="model size S_m = parameters x this")
    bits_per_feature: int = param(32, unit="bit", low=1, high=64,
                                  doc="sample size S_d = (features + 1 label) x this (PL)")
    kernel: str = param("auto", choices=("auto", "stacked", "loop"), doc="trainer kernel, see learning.trainer")


@dataclass(frozen=True)
class RewardConfig:
    """Reward of the RL envs: learning-quality gain minus penalties."""

    metric: str = param("loss", choices=("loss", "accuracy"),
                        doc="loss: decrease of test loss; accuracy: increase of test accuracy")
    scale: float = param(1.0, low=0.0, low_open=True, doc="multiplies the learning-quality gain")
    tau_bonus: float = param(0.0, low=0.0, doc="adds tau_bonus * tau / max_local_iterations")
    energy_penalty_per_j: float = param(0.0, unit="1/J", low=0.0, doc="subtracts this x the cycle's energy")
    straggler_penalty: float = param(0.0, low=0.0, doc="subtracts this x the number of stragglers")


@dataclass(frozen=True)
class Scenario:
    """A complete MEL scenario. Units: seconds, hertz, joules, metres, bits."""

    name: str = param("custom", doc="preset name, for logs")
    mode: str = param("pl", choices=("pl", "fl"), doc="pl: orchestrator sends data; fl: data stays local")
    num_learners: int = param(10, low=1, high=10000, doc="K")
    cycle_deadline_s: float = param(0.1, unit="s", low=0.0, low_open=True, doc="T, length of a global cycle")
    samples_per_cycle: int = param(1000, low=1, doc="d: samples trained per cycle over all learners")
    max_local_iterations: int = param(40, low=1, high=100000, doc="cap on tau")
    horizon_cycles: int = param(25, low=1, high=1000000, doc="global cycles per episode (then truncated)")
    target_accuracy: float | None = param(None, low=0.0, high=1.0, doc="accuracy for cycles-to-target")
    terminate_on_target: bool = param(False, doc="end the episode (terminated) once target_accuracy is reached")
    action_beta: float = param(3.0, low=0.0, high=50.0, low_open=True, doc="share weight = exp(beta * a)")
    placement: PlacementConfig = field(default_factory=PlacementConfig)
    channel: ChannelConfig = field(default_factory=ChannelConfig)
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    energy: EnergyConfig = field(default_factory=EnergyConfig)
    learning: LearningConfig = field(default_factory=LearningConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    aggregation: AggregationConfig = field(default_factory=AggregationConfig)

    def __post_init__(self) -> None:
        _check_cross_field(self)

    def replace(self, **overrides: Any) -> "Scenario":
        """A copy with ``overrides`` deep-merged (nested sections as dicts), validated like a YAML file."""
        return scenario_from_dict(deep_merge(scenario_to_dict(self), overrides))

    @property
    def battery_enabled(self) -> bool:
        return self.energy.battery_min_j is not None

    @property
    def total_bandwidth_hz(self) -> float:
        """Bandwidth shared by all learners in JointAllocation: K x channel.bandwidth_hz."""
        return self.num_learners * self.channel.bandwidth_hz


def _check_cross_field(s: Scenario) -> None:
    if s.placement.max_distance_m < s.placement.min_distance_m:
        raise ConfigError(
            f"scenario key 'placement.max_distance_m' = {s.placement.max_distance_m:g} must be >= "
            f"placement.min_distance_m = {s.placement.min_distance_m:g} (m)"
        )
    e = s.energy
    if (e.battery_min_j is None) != (e.battery_max_j is None):
        raise ConfigError("scenario keys 'energy.battery_min_j' and 'energy.battery_max_j' must both be set or both null")
    if e.battery_min_j is not None and e.battery_max_j < e.battery_min_j:
        raise ConfigError(
            f"scenario key 'energy.battery_max_j' = {e.battery_max_j:g} must be >= energy.battery_min_j = "
            f"{e.battery_min_j:g} (J)"
        )
    if s.target_accuracy is None and s.terminate_on_target:
        raise ConfigError("scenario key 'terminate_on_target' is true but 'target_accuracy' is null; set both")
    if len(s.compute.cpu_freqs_hz) == 0:
        raise ConfigError("scenario key 'compute.cpu_freqs_hz' must list at least one frequency (Hz)")
    if s.compute.min_cpu_hz > min(s.compute.cpu_freqs_hz):
        raise ConfigError(
            f"scenario key 'compute.min_cpu_hz' = {s.compute.min_cpu_hz:g} must be <= the lowest of "
            f"compute.cpu_freqs_hz = {min(s.compute.cpu_freqs_hz):g} (Hz)"
        )


# --------------------------------------------------------------------------------------------------------------
# dict <-> dataclass with validation
# --------------------------------------------------------------------------------------------------------------


def _is_section(tp: Any) -> bool:
    return dataclasses.is_dataclass(tp)


def _check_value(key: str, value: Any, tp: Any, meta: Mapping[str, Any]) -> Any:
    """Coerce ``value`` to the declared type ``tp`` and check its range; return the coerced value."""
    optional = get_origin(tp) in (Union, types.UnionType) and type(None) in get_args(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"scenario key '{key}' must not be null")
    base = next(a for a in get_args(tp) if a is not type(None)) if optional else tp
    if base is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"scenario key '{key}' = {value!r} must be true or false")
        return value
    if base is str:
        if not isinstance(value, str):
            raise ConfigError(f"scenario key '{key}' = {value!r} must be a string")
        if meta.get("choices") and value not in meta["choices"]:
            raise ConfigError(f"scenario key '{key}' = {value!r} is not one of {list(meta['choices'])}")
        return value
    if base is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"scenario key '{key}' = {value!r} must be a list")
        return [_check_number(f"{key}[{i}]", v, meta["item"], meta) for i, v in enumerate(value)]
    if base in (int, float):
        return _check_number(key, value, base, meta)
    raise TypeError(f"unsupported field type {tp} for {key}")  # pragma: no cover - a schema bug


def _check_number(key: str, value: Any, kind: type, meta: Mapping[str, Any]) -> float | int:
    if isinstance(value, str):  # PyYAML reads 1e6 (no dot, no sign in the exponent) as a string
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"scenario key '{key}' = {value!r} must be a number: {_range_text(meta)}")
    if kind is int and float(value) != int(value):
        raise ConfigError(f"scenario key '{key}' = {value!r} must be an integer: {_range_text(meta)}")
    if not _in_range(float(value), meta):
        raise ConfigError(f"scenario key '{key}' = {value!r} is out of range: must be {_range_text(meta)}")
    return kind(value)


def _section_from_dict(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"scenario key '{prefix.rstrip('.') or '<root>'}' must be a mapping, got {data!r}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown scenario key '{prefix}{unknown[0]}'; allowed keys{' in ' + prefix.rstrip('.') if prefix else ''}: "
            f"{sorted(fields)}"
        )
    kwargs = {}
    for name, value in data.items():
        tp, key = hints[name], prefix + name
        if _is_section(tp):
            kwargs[name] = _section_from_dict(tp, value, key + ".")
        else:
            kwargs[name] = _check_value(key, value, tp, fields[name].metadata)
    return cls(**kwargs)


def scenario_from_dict(data: Mapping[str, Any]) -> Scenario:
    """Build a validated :class:`Scenario` from a (possibly partial) nested dict; missing keys take defaults."""
    return _section_from_dict(Scenario, data, "")


def scenario_to_dict(scenario: Scenario) -> dict[str, Any]:
    """The scenario as a plain nested dict (YAML-ready)."""
    return dataclasses.asdict(scenario)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``; nested mappings merge, everything else replaces."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


# --------------------------------------------------------------------------------------------------------------
# YAML
# --------------------------------------------------------------------------------------------------------------


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Parse a YAML mapping; a missing file or broken YAML is a :class:`ConfigError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"could not parse YAML file '{path}': {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"YAML file '{path}' must hold a mapping at the top level, got {type(data).__name__}")
    return data


def _resolve_yaml(name_or_path: str | Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a preset (by name) or YAML file, following ``extends: <preset or path>`` chains."""
    text = str(name_or_path)
    if text in scenario_preset_names():
        path = scenario_preset_path(text)
    else:
        path = Path(text)
        if not path.suffix and not path.exists():
            raise ConfigError(f"unknown scenario '{text}': presets are {scenario_preset_names()}, or give a YAML path")
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"scenario file '{path}' extends itself (cycle through {[str(p) for p in seen]})")
    data = read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    return deep_merge(_resolve_yaml(parent, seen + (path,)), data)


def load_scenario(
    scenario: str | Path | Mapping[str, Any] | Scenario = "default", overrides: Mapping[str, Any] | None = None
) -> Scenario:
    """Load a scenario from a preset name, a YAML path, a dict or a :class:`Scenario`, then apply overrides.

    Args:
        scenario: ``"default"``, ``"paper"`` (see ``configs/scenarios``), a path to a YAML file (which may
            say ``extends: default``), a nested dict of keys, or a ready :class:`Scenario`.
        overrides: nested dict deep-merged on top, validated the same way.
    """
    if isinstance(scenario, Scenario):
        data = scenario_to_dict(scenario)
    elif isinstance(scenario, Mapping):
        data = dict(scenario)
        parent = data.pop("extends", None)
        if parent is not None:
            data = deep_merge(_resolve_yaml(parent), data)
    else:
        data = _resolve_yaml(scenario)
    if overrides:
        data = deep_merge(data, overrides)
    return scenario_from_dict(data)


def describe_fields(cls: type = Scenario, prefix: str = "") -> list[tuple[str, Any, str, str]]:
    """(dotted key, default, allowed range or choices, doc) for every field: the scenario reference table."""
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
            allowed = _range_text(meta)
        else:
            allowed = meta.get("unit", "")
        rows.append((prefix + f.name, value, allowed, meta.get("doc", "")))
    return rows
