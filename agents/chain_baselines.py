"""SplitChain-v0's baselines: chains planned from the observation alone (:mod:`mel_gym.optim.chains`), priced with
the env's own cost model, the samples split for the largest common tau.

- ``chain-greedy``: one device per stage, the heaviest stage on the fastest device that holds it, the nearest
  neighbour for the next stages;
- ``chain-dp``: the greedy chains' devices, their stages re-partitioned by dynamic programming for the smallest
  bottleneck (a device may host several stages, or none);
- ``single-device``: no split, the fastest devices that hold the whole model;
- ``chain-dp-fraction``: chain-dp for a fraction of the cycle's samples tuned on training seeds (the env's planner).
"""

from __future__ import annotations

import numpy as np

from mel_gym.agents.baselines import _ObservationPolicy
from mel_gym.optim.chains import Chain, ChainInstance, best_split, dp_partition, greedy_chains, single_device_chains


class _ChainPolicy(_ObservationPolicy):
    """Plans chains (:meth:`chains`), then how many to run and the split (:func:`best_split`)."""

    def chains(self, inst: ChainInstance) -> list[Chain]:  # pragma: no cover - abstract
        raise NotImplementedError

    def plan(self, obs: np.ndarray) -> tuple[list[Chain], np.ndarray]:
        """(the chains to run, their split weights) for one observation."""
        inst = self.problem.instance(self.problem.decode(obs))
        return best_split(inst, self.chains(inst))

    def _act(self, obs: np.ndarray) -> np.ndarray:
        chains, weights = self.plan(obs)
        plan = [list(zip(members, firsts)) for members, firsts in chains]
        return self.problem.encode_plan(plan, weights if len(chains) else None)


class ChainGreedy(_ChainPolicy):
    """Greedy chain building, one device per stage (:func:`mel_gym.optim.chains.greedy_chains`)."""

    def chains(self, inst: ChainInstance) -> list[Chain]:
        return greedy_chains(inst)


class ChainDP(_ChainPolicy):
    """The greedy chains' devices with their stages re-partitioned for the smallest bottleneck
    (:func:`mel_gym.optim.chains.dp_partition`); where no greedy chain exists, the single-device plan."""

    def chains(self, inst: ChainInstance) -> list[Chain]:
        planned = [dp_partition(inst, members) for members, _ in greedy_chains(inst)]
        planned = [c for c in planned if c is not None]
        return planned or single_device_chains(inst)


class SingleDevice(_ChainPolicy):
    """No split: each chain one device that holds the whole model (:func:`mel_gym.optim.chains.single_device_chains`)."""

    def chains(self, inst: ChainInstance) -> list[Chain]:
        return single_device_chains(inst)


