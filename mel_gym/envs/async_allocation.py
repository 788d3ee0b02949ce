"""AsyncTaskAllocation-v0: task sizes in asynchronous MEL, where every learner runs its own tau_k."""

from __future__ import annotations

import numpy as np

from mel_gym.envs.core import ShareCore
from mel_gym.envs.env import MELEnv
from mel_gym.envs.params import AsyncParams
from mel_gym.envs.vector import vector_env_class
from mel_gym.simulation import Decision


def staleness_weights(task_sizes: np.ndarray, iterations: np.ndarray, weighting: str, exponent: float) -> np.ndarray:
    """Aggregation weights (n_envs, K) of models that ran tau_k iterations on d_k samples.

    Staleness s_k = max_j tau_j - tau_k over learners that trained. ``data``: d_k (FedAvg); ``polynomial``:
    d_k (1 + s_k)^-exponent (staler models count less); ``work``: d_k tau_k. Learners with tau_k = 0 get 0.
    """
    trained = (task_sizes > 0) & (iterations > 0)
    top = np.where(trained, iterations, 0).max(axis=1, keepdims=True)
    staleness = np.where(trained, top - iterations, 0)
    if weighting == "data":
        weights = task_sizes.astype(np.float64)
    elif weighting == "polynomial":
        weights = task_sizes * np.power(1.0 + staleness, -exponent)
    elif weighting == "work":
        weights = (task_sizes * iterations).astype(np.float64)
    else:
        raise ValueError(f"staleness weighting {weighting!r}: choose data, polynomial or work")
    return np.where(trained, weights, 0.0)


class AsyncTaskAllocationCore(ShareCore):
    """Task shares -> task sizes -> each learner's own largest tau_k (deadline, energy), optionally bounded
    to min tau + max_staleness -> aggregation weights by staleness."""

    params_class = AsyncParams

    planner_name = "ha-async-fraction"

    def decide(self, actions: np.ndarray, samples: np.ndarray) -> Decision:
        agg = self.params.aggregation
        task_sizes = self.task_sizes(actions, samples)
        tau = np.where(task_sizes > 0, np.maximum(self.iteration_limits(task_sizes), 0), 0)
        if agg.max_staleness is not None:
            trained = tau > 0
            slowest = np.where(trained, tau, np.iinfo(np.int64).max).min(axis=1, keepdims=True)
            tau = np.where(trained, np.minimum(tau, slowest + agg.max_staleness), 0)
        weights = staleness_weights(task_sizes, tau, agg.staleness_weighting, agg.staleness_exponent)
        return Decision(task_sizes=task_sizes, local_iterations=tau, aggregation_weights=weights)

    def reported_tau(self, decision: Decision) -> np.ndarray:
        """Mean tau_k over the learners that trained (0 if none)."""
        trained = decision.local_iterations > 0
        total = np.where(trained, decision.local_iterations, 0).sum(axis=1)
        return np.divide(total, trained.sum(axis=1), out=np.zeros(len(total)), where=trained.any(axis=1))

    def decision_info(self, decision: Decision) -> dict[str, np.ndarray]:
        tau = decision.local_iterations
        trained = tau > 0
        top = np.where(trained, tau, 0).max(axis=1)
        bottom = np.where(trained, tau, np.iinfo(np.int64).max).min(axis=1)
        return {"local_iterations": tau, "staleness": np.where(trained.any(axis=1), top - bottom, 0),
                "aggregation_weights": decision.aggregation_weights}


class AsyncTaskAllocationEnv(MELEnv):
    """Asynchronous MEL task allocation: every learner works the whole cycle with its own tau_k.

    Same world, observation and action as TaskAllocation-v0 (see :class:`mel_gym.envs.TaskAllocationEnv`):
    ``Box(-1, 1, (K,))`` task shares, ``Box(float32, (14K + 3,))`` observation. After the shares become task
    sizes d_k, learner k runs the largest tau_k its deadline (and energy limit, if any) allows, so no learner
    idles; with ``aggregation.max_staleness`` = S the faster ones are held to min_j tau_j + S.

    The orchestrator averages the models weighted by the env parameter ``aggregation.staleness_weighting``:
    ``data`` (d_k, FedAvg), ``polynomial`` (d_k (1 + s_k)^-a, s_k = max_j tau_j - tau_k, a =
    ``aggregation.staleness_exponent``) or ``work`` (d_k tau_k). Learners that run no iteration do not count.

    Reward and episode as TaskAllocation-v0 (the tau bonus counts every finished learner's d_k tau_k);
    ``info["tau"]`` is the mean tau_k of the learners that trained. ``info`` adds ``local_iterations``
    (tau_k), ``staleness`` (max - min tau_k) and ``aggregation_weights``. Parameters:
    :class:`mel_gym.envs.params.AsyncParams`.

    ## Amount and planner actions

    With ``amount_action=True`` the action ends with the amount (one more value, ``Box(-1, 1, (K + 1,))``): the plan
    hands out n = max(1, round(f d)) of the cycle's d samples, f = min_fraction + (1 - min_fraction)(a + 1) / 2
    (docs/envs.md); the info adds ``sample_fraction``, and ``samples_planned`` / ``samples_processed`` per learner
    come always. ``action_mode="planner"``: the action is ``Box(-1, 1, (1,))``, the knobs of the planner
    ``ha-async-fraction`` (the fraction f), which plans the full action from the observation.
    """

    core_class = AsyncTaskAllocationCore


AsyncTaskAllocationVectorEnv = vector_env_class(AsyncTaskAllocationEnv)
