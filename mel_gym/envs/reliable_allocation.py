"""ReliableTaskAllocation-v0: task shares, who takes part and which tasks get a backup, against predicted outages."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mel_gym.envs.action_blocks import BACKUP_THRESHOLD, Backup, Participation, Shares
from mel_gym.envs.core import ShareCore
from mel_gym.envs.env import MELEnv
from mel_gym.envs.vector import vector_env_class
from mel_gym.optim.redundancy import backup_capable, pair_backups
from mel_gym.schema import ConfigError
from mel_gym.simulation import Decision
from mel_gym.world.prediction import failure_probability


class ReliableTaskAllocationCore(ShareCore):
    """Three blocks of K values: task shares, participation, backup requests (see the env's docstring)."""

    blocks = (Shares(), Participation(), Backup())
    default_scenario: ClassVar[str] = "dynamic"
    planner_name = "expected-value-fraction"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.scenario.mode != "pl":
            raise ConfigError("ReliableTaskAllocation-v0 needs scenario key 'mode' = 'pl': a backup trains on a copy "
                              "of its primary's samples, which only the orchestrator of PL holds")

    def decide(self, actions: np.ndarray, samples: np.ndarray) -> Decision:
        s, sim = self.scenario, self.sim
        parts = self.layout.split(actions)
        a_task, a_backup = parts["shares"], parts["backup"]
        taking_part = self.layout.decode("participation", actions, self.problem, None)
        primaries = self.sync_decision(a_task, samples, available=sim.world.available & taking_part)
        task_sizes, iterations = primaries.task_sizes, primaries.local_iterations
        tau = iterations.max(axis=1)  # the common tau of every env with a task
        backup_of = np.full(task_sizes.shape, -1, dtype=np.int64)
        requested = (a_backup > BACKUP_THRESHOLD) & (task_sizes > 0) & (tau[:, None] > 0)
        if np.any(requested):
            free = sim.world.available & (task_sizes == 0)
            capable = backup_capable(sim.coefficients(), task_sizes, tau, sim.cost.cycle_deadline_s, s.max_local_iterations,
                                     sim.energy_budget())
            failure = failure_probability(*self.predictor.predict())
            for i in np.flatnonzero(requested.any(axis=1)):
                order = np.argsort(-a_backup[i], kind="stable")  # the requests, highest value first
                backup_of[i] = pair_backups(order[requested[i, order]].tolist(), capable[i], free[i], failure[i])
            is_backup = backup_of >= 0
            primary = np.maximum(backup_of, 0)
            task_sizes = np.where(is_backup, np.take_along_axis(task_sizes, primary, axis=1), task_sizes)
            iterations = np.where(is_backup, tau[:, None], iterations)
        return Decision(task_sizes=task_sizes, local_iterations=iterations, backup_of=backup_of)

    def decision_info(self, decision: Decision) -> dict[str, np.ndarray]:
        return {"backup_of": decision.backup_of}


class ReliableTaskAllocationEnv(MELEnv):
    """Synchronous MEL task allocation in a world that changes and fails: each cycle the agent splits d samples,
    decides who takes part and which tasks get a redundant copy on an idle learner.

    ## Action space

    ``Box(-1, 1, (3K,), float32)``: three blocks of K values.

    | block | indices    | maps to                                                                              |
    |-------|------------|--------------------------------------------------------------------------------------|
    | 0     | 0 .. K-1   | task shares, as TaskAllocation-v0 (weights exp(beta a), -1 gives none)               |
    | 1     | K .. 2K-1  | participation: learner k takes part when its value is > -0.5 (a = 0: everyone)       |
    | 2     | 2K .. 3K-1 | backup request: a participant's task gets a backup when its value is > 0.5           |

    The d samples go to the participants that can take part (battery left, in coverage, not reported
    frozen) in proportion to their weights; tau is the largest integer every participant can run on the
    channel and CPU the orchestrator knows (the plan never sends work it expects to miss the deadline: data is
    lost only to what the orchestrator could not foresee). Requested backups are served in the order of their
    values: each gets the idle, available learner that can run the primary's task (same samples, same tau)
    within the deadline and its energy limit and has the lowest predicted failure probability
    (1 - (1 - outage)(1 - compute drop)); when none is left, the task has no backup. A backup's model stands
    in for its primary's only if the primary's is lost; both spend their energy. Out-of-range values are
    clipped to [-1, 1]; NaN/inf raise ``ValueError`` and leave the env as it was.

    ## Amount and planner actions

    With ``amount_action=True`` the action ends with the amount (one more value, ``Box(-1, 1, (3K + 1,))``): the plan
    hands out n = max(1, round(f d)) of the cycle's d samples, f = min_fraction + (1 - min_fraction)(a + 1) / 2
    (docs/envs.md); the info adds ``sample_fraction``, and ``samples_planned`` / ``samples_processed`` per learner
    come always. ``action_mode="planner"``: the action is ``Box(-1, 1, (3,))``, the knobs of the planner
    ``expected-value-fraction`` (the fraction f, a risk threshold, energy pacing), which plans the full action from
    the observation.

    ## Observation space

    As TaskAllocation-v0 (``Box(float32, (14K + 3,))``), with the predicted outage and compute-drop
    probabilities of the coming cycle in blocks 12 and 13 (``env.unwrapped.problem.decode(obs)``:
    ``outage_probability``, ``compute_drop_probability``).

    ## Reward, episode

    As TaskAllocation-v0: the tau bonus counts the work of learners whose model was aggregated, once per
    task. The default scenario is the ``dynamic`` preset (correlated fading, outdated CSI, pedestrian
    mobility, a CPU chain with freezes, batteries); it needs ``mode: pl``.

    ## Info

    TaskAllocation-v0's (including ``outage`` and ``compute_dropped`` per learner), plus ``backup_of`` (the
    primary each learner backs up, -1 = none) and ``backup_used`` (a backup whose model was aggregated).
    """

    core_class = ReliableTaskAllocationCore


ReliableTaskAllocationVectorEnv = vector_env_class(ReliableTaskAllocationEnv)
