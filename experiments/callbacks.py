"""SB3 callbacks that log mel_gym's domain metrics to TensorBoard under ``mel/``."""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback


#: Per-cycle scalars (info key -> TensorBoard name under ``mel/cycle/``); per-learner arrays are summed over learners.
CYCLE_SCALARS = {"test_accuracy": "test_accuracy", "test_loss": "test_loss", "tau": "tau", "energy_j": "energy_j",
                 "outage": "outages", "participants": "participants"}


class MELMetricsCallback(BaseCallback):
    """At each episode end: ``mel/final_accuracy``, ``mel/mean_tau`` and ``mel/stragglers_per_cycle``; at every cycle
    (env step) the ``mel/cycle/...`` scalars of :data:`CYCLE_SCALARS` (test accuracy and loss after the cycle, tau, the
    learners' energy in J, outages and participants), averaged over the sub-envs and the steps between two of SB3's
    log dumps."""

    def _on_training_start(self) -> None:
        n = self.training_env.num_envs
        self._tau_sum = np.zeros(n)
        self._stragglers = np.zeros(n)
        self._cycles = np.zeros(n)

    def _on_step(self) -> bool:
        infos, dones = self.locals["infos"], self.locals["dones"]
        for i, (info, done) in enumerate(zip(infos, dones)):
            if "tau" not in info:
                continue
            for key, name in CYCLE_SCALARS.items():
                if key in info:
                    self.logger.record_mean(f"mel/cycle/{name}", float(np.sum(info[key])))
            self._tau_sum[i] += info["tau"]
            self._stragglers[i] += np.sum(info["stragglers"])
            self._cycles[i] += 1
            if done:
                self.logger.record_mean("mel/final_accuracy", float(info["test_accuracy"]))
                self.logger.record_mean("mel/mean_tau", self._tau_sum[i] / self._cycles[i])
                self.logger.record_mean("mel/stragglers_per_cycle", self._stragglers[i] / self._cycles[i])
                self._tau_sum[i] = self._stragglers[i] = self._cycles[i] = 0
        return True
