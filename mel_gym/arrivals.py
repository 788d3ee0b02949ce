"""Jobs that arrive with deadlines (MultiJob-v0, scenario section ``arrivals``; docs/multijob.md §6).

Each episode, job j of env i arrives at cycle a_ij, drawn uniformly from 0 .. ``last_cycle``, with a deadline of
D_ij cycles, drawn uniformly from ``deadline_min_cycles`` .. ``deadline_max_cycles``: it is **open** in cycles
a_ij <= c < a_ij + D_ij. Only an open job can be served; it pays its value when it reaches its target accuracy in
an open cycle (reward metric ``value``) and leaves when it does or when its deadline passes. The draws come from
the episode seed's events stream (:func:`mel_gym.simulation.episode_streams`, child 4) before anything else is drawn
from it, so every policy meets the same jobs at the same cycles. Without arrivals (``model: none``) every job is
open from cycle 0 for ever, as MultiJob-v0 always was.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from mel_gym.config import ArrivalConfig

#: The due cycle of a job without a deadline (never reached).
NEVER = np.iinfo(np.int64).max // 2


class JobArrivals:
    """Arrival and due cycles of J jobs in n_envs envs.

    Attributes:
        arrival: (n_envs, J) int, the cycle each job arrives in (0 without arrivals).
        due: (n_envs, J) int, the first cycle it is no longer open: arrival + deadline (:data:`NEVER` without).
    """

    def __init__(self, config: ArrivalConfig, n_envs: int, num_jobs: int):
        self.config = config
        self.arrival = np.zeros((n_envs, num_jobs), dtype=np.int64)
        self.due = np.full((n_envs, num_jobs), NEVER, dtype=np.int64)

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def reset(self, env_ids: Sequence[int], rngs: Sequence[np.random.Generator]) -> None:
        """Draw the jobs of new episodes in ``env_ids``, one generator each (the episode's events stream)."""
        if not self.enabled:
            return
        c, J = self.config, self.arrival.shape[1]
        for i, rng in zip(env_ids, rngs):
            self.arrival[i] = rng.integers(0, c.last_cycle + 1, size=J)
            self.due[i] = self.arrival[i] + rng.integers(c.deadline_min_cycles, c.deadline_max_cycles + 1, size=J)

    def open(self, cycle: np.ndarray) -> np.ndarray:
        """(n_envs, J) bool: the job has arrived and its deadline has not passed in cycle ``cycle`` (n_envs,)."""
        c = np.asarray(cycle)[:, None]
        return (c >= self.arrival) & (c < self.due)

    def cycles_left(self, cycle: np.ndarray) -> np.ndarray:
        """(n_envs, J) int: the open cycles a job has left from ``cycle`` on, this one included (0 where not open)."""
        return np.where(self.open(cycle), self.due - np.asarray(cycle)[:, None], 0)


__all__ = ["JobArrivals", "NEVER"]
