"""Scenario presets, YAML loading and validation errors."""

from __future__ import annotations

import pytest

from mel_gym.config import ConfigError, describe_fields, load_scenario, scenario_from_dict, scenario_to_dict
from mel_gym.paths import scenario_preset_names


def test_presets_load_and_roundtrip():
    assert {"default", "paper"} <= set(scenario_preset_names())
    default = load_scenario("default")
    assert default.num_learners == 10 and default.learning.dataset == "digits"
    paper = load_scenario("paper")
    assert paper.num_learners == 20 and paper.cycle_deadline_s == 12.0
    assert paper.learning.hidden_layers == [300, 124, 60]
    assert scenario_from_dict(scenario_to_dict(paper)) == paper


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"unknown scenario key 'channel\.bandwith_hz'.*bandwidth_hz"):
        load_scenario("default", {"channel": {"bandwith_hz": 1e6}})
    with pytest.raises(ConfigError, match="unknown scenario key 'foo'"):
        load_scenario("default", {"foo": 1})


@pytest.mark.parametrize(
    "override, pattern",
    [
        ({"num_learners": 0}, r"'num_learners' = 0 is out of range: must be >= 1"),
        ({"channel": {"bandwidth_hz": -5}}, r"'channel.bandwidth_hz' = -5 is out of range: must be >= 1000 and <= 1e\+11 \(Hz\)"),
        ({"cycle_deadline_s": float("nan")}, r"'cycle_deadline_s' = nan is out of range"),
        ({"learning": {"test_fraction": 1.0}}, r"'learning.test_fraction' = 1.0 is out of range: must be > 0 and < 1"),
        ({"mode": "xl"}, r"'mode' = 'xl' is not one of \['pl', 'fl'\]"),
        ({"num_learners": 2.5}, r"'num_learners' = 2.5 must be an integer"),
        ({"orchestrator": {"tx_power_dbm": 99}}, r"'orchestrator.tx_power_dbm' = 99 is out of range: must be >= -30 and <= 60 \(dBm\)"),
        ({"compute": {"cpu_freqs_hz": [1e9, -1]}}, r"'compute.cpu_freqs_hz\[1\]' = -1"),
        ({"placement": {"min_distance_m": 100.0, "max_distance_m": 50.0}}, r"'placement.max_distance_m' = 50 must be >="),
        ({"energy": {"battery_min_j": 1.0}}, r"both be set or both null"),
        ({"reward": {"metric": "loss"}}, r"unknown scenario key 'reward'.*'reward' is an env parameter"),
    ],
)
def test_out_of_range_values_name_key_and_range(override, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_scenario("default", override)


def test_yaml_numbers_without_dot_are_read(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("extends: default\nchannel:\n  bandwidth_hz: 1e6\nnum_learners: 3\n")
    s = load_scenario(path)
    assert s.channel.bandwidth_hz == 1e6 and s.num_learners == 3
    assert s.compute.cycles_per_sample == load_scenario("default").compute.cycles_per_sample  # inherited


def test_broken_yaml_and_missing_file_are_clear(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("num_learners: [1, 2\nmode: pl\n")
    with pytest.raises(ConfigError, match="could not parse YAML file .*bad.yaml"):
        load_scenario(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_scenario(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="unknown scenario 'nosuchpreset'"):
        load_scenario("nosuchpreset")
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_scenario(listy)


def test_extends_cycle_is_detected(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(f"extends: {b}\n")
    b.write_text(f"extends: {a}\n")
    with pytest.raises(ConfigError, match="extends itself"):
        load_scenario(a)


def test_replace_validates():
    s = load_scenario("default")
    assert s.replace(learning={"partition": "dirichlet"}).learning.partition == "dirichlet"
    with pytest.raises(ConfigError):
        s.replace(learning={"partition": "speed"})


def test_env_parameters_are_validated_like_scenario_keys():
    from mel_gym.envs.params import AsyncParams, ShareParams, build_params, describe_params

    p = build_params(ShareParams, {"horizon_cycles": 7, "reward": {"tau_bonus": 0.0}})
    assert p.horizon_cycles == 7 and p.reward.tau_bonus == 0.0 and p.reward.metric == "loss"
    with pytest.raises(ConfigError, match="env parameter 'horizon_cycles' = 2.5 must be an integer"):
        build_params(ShareParams, {"horizon_cycles": 2.5})
    with pytest.raises(ConfigError, match="env parameter 'terminate_on_target' = 'yes' must be true or false"):
        build_params(ShareParams, {"terminate_on_target": "yes"})
    with pytest.raises(ConfigError, match="unknown env parameter 'aggregation'"):
        build_params(ShareParams, {"aggregation": {}})
    assert build_params(AsyncParams, {"aggregation": {"max_staleness": 2}}).aggregation.max_staleness == 2
    assert all(doc for _, _, _, doc in describe_params(AsyncParams))
    # scenario keys and env parameters never share a name (keyword arguments go to one or the other)
    from dataclasses import fields

    from mel_gym.config import Scenario

    assert not {f.name for f in fields(Scenario)} & {f.name for f in fields(AsyncParams)}


def test_every_field_is_documented():
    rows = describe_fields()
    assert len(rows) > 35
    assert all(doc for _, _, _, doc in rows), [key for key, _, _, doc in rows if not doc]
