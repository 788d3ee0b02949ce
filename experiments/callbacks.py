"""SB3 callbacks that log mel_gym's domain metrics to TensorBoard under ``mel/``."""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback


class MELMetricsCallback(BaseCallback):
    """At each episode end: ``mel/final_accuracy``, ``mel/mean_tau`` and ``mel/stragglers_per_cycle``."""

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
            self._tau_sum[i] += info["tau"]
            self._stragglers[i] += np.sum(info["stragglers"])
            self._cycles[i] += 1
            if done:
                self.logger.record_mean("mel/final_accuracy", float(info["test_accuracy"]))
                self.logger.record_mean("mel/mean_tau", self._tau_sum[i] / self._cycles[i])
                self.logger.record_mean("mel/stragglers_per_cycle", self._stragglers[i] / self._cycles[i])
                self._tau_sum[i] = self._stragglers[i] = self._cycles[i] = 0
        return True
