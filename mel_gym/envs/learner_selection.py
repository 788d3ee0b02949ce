"""LearnerSelection-v0: pick which learners take part in each cycle (client selection); the env sizes their tasks."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from mel_gym.envs.core import EnvCore
from mel_gym.envs.env import MELEnv
from mel_gym.envs.vector import vector_env_class
from mel_gym.optim.selection import selected_plan
from mel_gym.sim import Decision


class LearnerSelectionCore(EnvCore):
    """A MultiBinary(K) selection -> HA-Sync task sizes over the chosen learners -> their largest common tau."""

    capabilities = {"selects_learners": True}

    def build_action_space(self) -> spaces.MultiBinary:
        return spaces.MultiBinary(self.scenario.num_learners)

    def validate(self, actions: np.ndarray) -> np.ndarray:
        bad = ~np.isin(actions, (0, 1))
        if np.any(bad):
            where = np.argwhere(bad)[0].tolist()
            value = actions[tuple(where)].item()
            where = where[1:] if self.n_envs == 1 else where  # the single env's own index
            raise ValueError(f"action holds {value!r} at index {where}: every entry must be 0 or 1 "
                             "(1: the learner takes part)")
        return actions.astype(bool)

    def noop_action(self) -> np.ndarray:
        return np.zeros(self.action_space.shape, dtype=np.int8)

    def decide(self, actions: np.ndarray) -> Decision:
        s, sim = self.scenario, self.sim
        chosen = actions & sim.world.available
        coeffs, energy = sim.coefficients(), sim.energy_budget()
        task_sizes = np.zeros(chosen.shape, dtype=np.int64)
        for i in range(self.n_envs):
            _, task_sizes[i] = selected_plan(chosen[i], coeffs[i], s.cycle_deadline_s, s.samples_per_cycle,
                                             s.max_local_iterations, sim.task_caps[i],
                                             None if energy is None else energy[i])
        tau = np.maximum(self.iteration_limits(task_sizes).min(axis=1), 0)
        return Decision(task_sizes=task_sizes, local_iterations=np.where(task_sizes > 0, tau[:, None], 0))

    def decision_info(self, decision: Decision) -> dict[str, np.ndarray]:
        return {"selected": decision.task_sizes > 0}


class LearnerSelectionEnv(MELEnv):
    """Synchronous MEL with learner (client) selection: each cycle the agent picks who takes part.

    ## Action space

    ``MultiBinary(K)``: 1 = learner k takes part. The chosen learners that still have battery get the task
    sizes of HA-Sync over them (the integer optimum of tau) for the samples they can hold, min(d, sum of their
    task caps): in PL that is d; in FL each learner holds its local data, so choosing few learners trains on
    less data with more local iterations. tau is then the largest integer all of them can run within T and
    their energy limits. Entries other than 0/1 or a wrong shape raise ``ValueError`` and leave the env as it
    was.

    ## Observation, reward, episode, info

    As TaskAllocation-v0 (``Box(float32, (14K + 3,))``; the log-capacity block uses beta = 3). The info adds
    ``selected`` (the learners that got a task). Parameters: :class:`mel_gym.envs.params.EnvParams`
    (``horizon_cycles``, ``terminate_on_target``, ``reward``).

    Baselines (``mel_gym.agents``): ``all`` (choose everyone: HA-Sync over all learners), ``greedy`` (greedy add
    and drop paths, then flips and swaps, maximising tau x the samples trained, from the observation) and
    ``random``.
    """

    core_class = LearnerSelectionCore


LearnerSelectionVectorEnv = vector_env_class(LearnerSelectionEnv)
