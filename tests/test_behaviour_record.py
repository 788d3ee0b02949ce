"""Every env and baseline behaves as recorded in tests/behaviour_record.json: observations, actions, rewards and
infos identical to the last digit on a fixed set of short episodes (tests/behaviour_record.py), so that a
refactoring of the envs' internals is shown to change nothing. On a machine whose float rounding differs from the
recording's (another CPU instruction set or torch build), the per-step rewards and sums are compared instead, to
a tolerance that covers the embedded training's rounding."""

from __future__ import annotations

import json

import numpy as np
import pytest

from behaviour_record import ENVS, RECORD_PATH, cases, machine, play

RECORD = json.loads(RECORD_PATH.read_text())
CASES = list(cases())


def test_the_record_covers_every_case_and_nothing_else():
    assert sorted(RECORD["cases"]) == sorted(name for name, *_ in CASES)
    assert {env_id for _, env_id, _ in ENVS} >= set(__import__("mel_gym").ENV_IDS)


@pytest.mark.parametrize("env_name", [name for name, _, _ in ENVS])
def test_every_env_and_baseline_behaves_as_recorded(env_name):
    same_machine = machine() == RECORD["machine"]
    for name, env_id, kwargs, policy in CASES:
        if not name.startswith(env_name + "/"):
            continue
        got, want = play(env_id, kwargs, policy), RECORD["cases"][name]
        if same_machine:
            assert got["sha256"] == want["sha256"], (
                f"{name}: behaviour changed (rewards {got['rewards']} vs recorded {want['rewards']})")
        else:
            for key in ("rewards", "obs_sums", "action_sums"):
                np.testing.assert_allclose(got[key], want[key], rtol=1e-4, atol=1e-5, err_msg=f"{name}: {key}")
