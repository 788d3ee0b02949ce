"""LearnerSelection-v0: pick which learners take part in each cycle (client selection); the env sizes their tasks."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from mel_gym.envs.action_blocks import Selection
from mel_gym.envs.action_maps import first_bad_integer
from mel_gym.envs.core import EnvCore
from mel_gym.envs.env import MELEnv
from mel_gym.envs.vector import vector_env_class
from mel_gym.optim.selection import selected_plan
from mel_gym.simulation import Decision


class LearnerSelectionCore(EnvCore):
    """A MultiBinary(K) selection -> HA-Sync task sizes over the chosen learners -> their largest common tau."""

    blocks = (Selection(),)
    planner_name = "greedy-fraction"
    discrete_amount = True

    def build_action_space(self) -> spaces.MultiBinary | spaces.MultiDiscrete:
        K = self.scenario.num_learners
        if not self.has_amount:
            return spaces.MultiBinary(K)
        return spaces.MultiDiscrete(np.array([2] * K + [self.params.fraction_levels], dtype=np.int64))

    def validate(self, actions: np.ndarray) -> np.ndarray:
        K = self.scenario.num_learners
        top = np.array([1] * K + [self.params.fraction_levels - 1] * (actions.shape[1] - K))
        numeric = np.asarray(actions).astype(np.float64)
        bad = first_bad_integer(numeric, actions, top, self.n_envs)
        if bad is not None:
            where, value, entry = bad
            if not self.has_amount:
                raise ValueError(f"action holds {value!r} at index {where}: every entry must be 0 or 1 (1: the learner "
                                 "takes part)")
            what = "0 or 1 (1: the learner takes part)" if entry < K else "an amount level"
            raise ValueError(f"action holds {value!r} at index {where}: it must be {what}; entries 0 .. {K - 1} are 0 "
                             f"or 1, entry {K} the amount level in [0, {self.params.fraction_levels - 1}]")
        return numeric.astype(np.int64)

    def raw_noop_action(self) -> np.ndarray:
        return np.zeros(self.raw_action_space.shape, dtype=np.int8 if not self.has_amount else np.int64)

    def decide(self, actions: np.ndarray, samples: np.ndarray) -> Decision:
        s, sim = self.scenario, self.sim
        chosen = actions.astype(bool) & sim.world.available
        coeffs, energy = sim.coefficients(), sim.energy_budget()
        task_sizes = np.zeros(chosen.shape, dtype=np.int64)
        for i in range(self.n_envs):
            _, task_sizes[i] = selected_plan(chosen[i], coeffs[i], sim.cost.cycle_deadline_s, int(samples[i]),
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

    ## Amount and planner actions

    With ``amount_action=True`` the action ends with the amount level (the action becomes ``MultiDiscrete([2] * K +
    [L])``, L = ``fraction_levels``, level l giving a = -1 + 2 l / (L - 1)): the plan hands out n = max(1, round(f d))
    of the cycle's d samples, f = min_fraction + (1 - min_fraction)(a + 1) / 2 (docs/envs.md); the info adds
    ``sample_fraction``, and ``samples_planned`` / ``samples_processed`` per learner come always.
    ``action_mode="planner"``: the action is ``Box(-1, 1, (1,))``, the knobs of the planner ``greedy-fraction`` (the
    fraction f), which plans the full action from the observation.

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
