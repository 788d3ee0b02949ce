"""TaskAllocation-v0's redistribution baselines (scenario section ``redistribution``, docs/redistribution.md): HA-Sync's
task sizes, and before the first cycle a redistribution of the learners' samples decided from the observation.

- ``ha-sync`` (and every other share baseline): no redistribution (each learner sends nothing);
- ``shared-pool``: Zhao et al.'s shared data: every learner puts the fraction ``alpha`` of its samples (a knob tuned
  on training seeds, at most its cap) into the pool, split equally between its neighbours;
- ``min-cost-transport``: every learner offers its whole cap to the orchestrator's min-imbalance transport plan
  (a linear program over the label histograms it observes, within the caps and the sending time), which moves only
  what lowers the imbalance;
- ``*-fraction``: the same for a fraction of the cycle's samples tuned on training seeds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mel_gym.agents.baselines import HASync
from mel_gym.envs.observation import DecodedObservation
from mel_gym.optim.joint_resources import JointPlan


class _Redistributing(HASync):
    """HA-Sync, with what each learner may send before training (:meth:`redistribution`)."""

    def redistribution(self, decoded: DecodedObservation) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        """(fraction of its cap each learner may send (K,), into the shared pool (K,) bool)."""
        raise NotImplementedError

    def _encode_plan(self, decoded: DecodedObservation, plan: JointPlan, **extra: Any) -> np.ndarray:
        fraction, pooled = self.redistribution(decoded)
        return super()._encode_plan(decoded, plan, send_fraction=fraction, send_pooled=pooled, **extra)


class SharedPool(_Redistributing):
    """Every learner puts ``alpha`` of its samples into the shared pool (at most its cap)."""

    alpha = 0.1

    def redistribution(self, decoded: DecodedObservation) -> tuple[np.ndarray, np.ndarray]:
        cap = self.problem.send_cap_fraction
        K = self.problem.num_learners
        return np.full(K, min(1.0, self.alpha / cap) if cap > 0 else 0.0), np.ones(K, dtype=bool)


class MinCostTransport(_Redistributing):
    """Every learner offers its whole cap to the orchestrator's min-imbalance transport plan."""

    def redistribution(self, decoded: DecodedObservation) -> tuple[np.ndarray, np.ndarray]:
        K = self.problem.num_learners
        return np.ones(K), np.zeros(K, dtype=bool)
