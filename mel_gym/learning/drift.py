"""Concept drift: when the data's concept changes, and what a change does to the global model (docs/drift.md).

Before each cycle c >= ``start_cycle``, at least ``min_gap_cycles`` after the last drift, a drift comes with
probability ``probability``. Every env draws one uniform number per cycle from its own drift generator (a child of
the episode's seed) and, at a drift, one more number that seeds the drift's own draws: the drifts depend on the seed
only, never on the actions (the same for every policy), and come at the same cycles whatever the drift model.

Drift models:

- ``permutation``: the input features are shuffled by a new random permutation (Permuted MNIST, Goodfellow et al.
  2013, "An empirical investigation of catastrophic forgetting"). SGD is equivariant under a permutation of the
  inputs: a model W on permuted inputs x' = x[pi] computes what the model with first-layer rows W[pi^-1] computes on
  x, and trains the same. So the drift is carried out on the model (its first-layer rows permuted by a fresh random
  permutation) while the stored data stay as they are: exact, free, and the batched trainer is untouched.
- ``labels``: the class labels are remapped by a new random permutation (a label-permutation task shift); by the
  same equivariance, the output layer's columns and biases are permuted.
- ``reinit``: the model starts afresh (a new initialisation drawn from the drift generator): the extreme where
  nothing learned before carries over.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from mel_gym.config import DriftConfig
from mel_gym.learning.model import MLPSpec, Weights


class DriftProcess:
    """The drift state of ``n_envs`` episodes: the cycle of each one's last drift and how many it had.

    Args:
        config: the scenario's ``drift`` section.
        n_envs: number of episodes stepped together.
    """

    def __init__(self, config: DriftConfig, n_envs: int):
        self.config = config
        self.last_drift = np.zeros(n_envs, dtype=np.int64)  # cycle of the last drift (0: the episode's start)
        self.count = np.zeros(n_envs, dtype=np.int64)
        self.drifted = np.zeros(n_envs, dtype=bool)  # the last draw's drifts: the concept changed after the last cycle

    def reset(self, env_ids: Sequence[int]) -> None:
        self.last_drift[list(env_ids)] = 0
        self.count[list(env_ids)] = 0
        self.drifted[list(env_ids)] = False

    def draw(self, rngs: Sequence[np.random.Generator], next_cycle: np.ndarray) -> np.ndarray:
        """(n_envs,) bool: which episodes drift before ``next_cycle`` (n_envs,) ints; one uniform per env and call."""
        c = self.config
        if not c.enabled:
            return self.drifted
        u = np.array([rng.random() for rng in rngs])
        drifts = (next_cycle >= c.start_cycle) & (next_cycle - self.last_drift >= c.min_gap_cycles) & (u < c.probability)
        self.last_drift[drifts] = next_cycle[drifts]
        self.count[drifts] += 1
        self.drifted = drifts
        return drifts

    def cycles_since(self, cycle: np.ndarray) -> np.ndarray:
        """(n_envs,) cycles since the last drift, or since the episode began when there was none."""
        return cycle - self.last_drift

    def apply(self, weights: Weights, envs: np.ndarray, rngs: Sequence[np.random.Generator], spec: MLPSpec) -> None:
        """Carry out a drift on the global models of ``envs`` (in place; module docstring), each drawing from its own
        generator ``rngs[env]``."""
        model = self.config.model
        for env in envs:
            rng = np.random.default_rng(rngs[env].integers(2**63))  # one draw per drift, whatever the model
            if model == "permutation":
                w, _ = weights[0]
                pi = torch.from_numpy(rng.permutation(spec.layer_sizes[0])).to(w.device)
                w[env] = w[env].index_select(0, pi)
            elif model == "labels":
                w, b = weights[-1]
                rho = torch.from_numpy(rng.permutation(spec.layer_sizes[-1])).to(w.device)
                w[env] = w[env].index_select(1, rho)
                b[env] = b[env].index_select(0, rho)
            elif model == "reinit":
                for (w, b), (fw, fb) in zip(weights, spec.init_numpy(rng)):
                    w[env] = torch.from_numpy(fw).to(w.device)
                    b[env] = torch.from_numpy(fb).to(b.device)


__all__ = ["DriftProcess"]
