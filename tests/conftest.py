"""Shared fixtures: small scenarios that keep the suite fast."""

from __future__ import annotations

import pytest
import torch

import mel_gym  # noqa: F401 - registers the env IDs

torch.set_num_threads(1)

ENV_ID = "mel_gym/TaskAllocation-v0"

#: Keyword arguments of gym.make for a tiny, fast env: scenario overrides (4 learners) and 5 cycles.
SMALL = {
    "num_learners": 4,
    "samples_per_cycle": 400,
    "horizon_cycles": 5,
    "max_local_iterations": 20,
}


@pytest.fixture
def small_overrides() -> dict:
    return dict(SMALL)
