"""Shared fixtures: small scenarios that keep the suite fast."""

from __future__ import annotations

import numpy as np
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


def make_world(scenario, n_envs: int = 3, seed: int = 0):
    """A reset :class:`mel_gym.world.state.World` of ``n_envs`` and its (world, dynamics) generators, all from
    ``seed``: (world, rngs, dynamics_rngs)."""
    from mel_gym.world.state import World

    world = World(scenario, n_envs)
    root = np.random.SeedSequence(seed).spawn(2 * n_envs)
    rngs = [np.random.default_rng(s) for s in root[:n_envs]]
    dyn = [np.random.default_rng(s) for s in root[n_envs:]]
    world.reset(list(range(n_envs)), rngs, dyn)
    return world, rngs, dyn
