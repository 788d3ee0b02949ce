"""LearnerRelocation-v0: task shares, and where the controllable learners (robots, vehicles) move next."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mel_gym.envs.action_blocks import Moves, Shares
from mel_gym.envs.core import ShareCore
from mel_gym.envs.env import MELEnv
from mel_gym.envs.vector import vector_env_class
from mel_gym.schema import ConfigError
from mel_gym.simulation import Decision, Outcome
from mel_gym.world.geometry import clip_to_disc


class LearnerRelocationCore(ShareCore):
    """Three blocks of K values: task shares for this cycle, then each learner's move (x, y) to the next."""

    blocks = (Shares(), Moves())
    default_scenario: ClassVar[str] = "relocation"
    planner_name = "relocate-fraction"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.scenario.relocation.controllable == 0:
            raise ConfigError("LearnerRelocation-v0 needs scenario key 'relocation.controllable' >= 1 (how many "
                              f"learners can be moved, at most num_learners = {self.scenario.num_learners})")
        self.require_gap_between_cycles("LearnerRelocation-v0's learners")
        self._move_energy_j = np.zeros((self.n_envs, self.scenario.num_learners))

    def raw_noop_action(self) -> np.ndarray:
        action = np.zeros(self.raw_action_space.shape, dtype=np.float32)
        action[: self.scenario.num_learners] = -1.0  # nobody trains, nobody moves
        return action

    def decide(self, actions: np.ndarray, samples: np.ndarray) -> Decision:
        return self.sync_decision(self.layout.split(actions)["shares"], samples)

    def after_cycle(self, actions: np.ndarray) -> dict[str, np.ndarray]:
        s, world = self.scenario, self.sim.world
        step = self.layout.decode("moves", actions, self.problem, None)  # (n_envs, K, 2) m
        before = world.state.position_m
        after = clip_to_disc(before + step, s.area_radius_m)
        moved = np.hypot(*np.moveaxis(after - before, -1, 0))
        world.move(learner_position_m=after)
        self._move_energy_j = moved * s.relocation.energy_per_m_j
        return {"moved_m": moved, "move_energy_j": self._move_energy_j.copy()}

    def reward(self, decision: Decision, out: Outcome) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        reward, parts = super().reward(decision, out)
        parts["reward_move_penalty"] = self.params.reward.move_penalty_per_kj * self._move_energy_j.sum(axis=1) / 1e3
        return reward - parts["reward_move_penalty"], parts


class LearnerRelocationEnv(MELEnv):
    """Synchronous MEL where the orchestrator can move some learners (robots, vehicles): each cycle the agent
    splits d samples and tells the controllable learners where to go before the next cycle.

    The first ``relocation.controllable`` learners (index order; they are placed at random) can move: between
    two cycles (``cycle_period_s`` - T) each goes at most ``relocation.max_speed_mps`` x (period - T) in the
    direction it is given, spending ``relocation.energy_per_m_j`` per metre (its locomotion, not the battery
    that powers its computing and radio); the links of the next cycle follow the new distances. The other
    learners stay where they are; every learner, controllable or not, also follows the scenario's mobility model
    if it has one (the ``relocation`` preset has none). docs/drone.md has the model.

    ## Action space

    ``Box(-1, 1, (3K,), float32)``

    | block | indices    | maps to                                                                          |
    |-------|------------|----------------------------------------------------------------------------------|
    | 0     | 0 .. K-1   | task shares for this cycle, as TaskAllocation-v0                                 |
    | 1     | K .. 2K-1  | learner k's move along x: a_x x reach (reach = max speed x (period - T))         |
    | 2     | 2K .. 3K-1 | learner k's move along y; a pair (a_x, a_y) with norm > 1 keeps its direction at the full reach; ignored for learners that cannot move |

    A move whose end would lie outside the area (the disc of ``mobility.area_radius_m``, or of the cell ``placement.max_distance_m`` if larger) is pulled radially back onto its edge. Out-of-range
    values are clipped to [-1, 1]; NaN/inf raise ``ValueError`` and leave the env as it was.

    ## Amount and planner actions

    With ``amount_action=True`` the action ends with the amount (one more value, ``Box(-1, 1, (3K + 1,))``): the plan
    hands out n = max(1, round(f d)) of the cycle's d samples, f = min_fraction + (1 - min_fraction)(a + 1) / 2
    (docs/envs.md); the info adds ``sample_fraction``, and ``samples_planned`` / ``samples_processed`` per learner
    come always. ``action_mode="planner"``: the action is ``Box(-1, 1, (2,))``, the knobs of the planner
    ``relocate-fraction`` (the fraction f and the value of a unit of tau), which plans the full action from the
    observation.

    ## Observation space

    As TaskAllocation-v0 (``Box(float32, (14K + 3,))``): positions in blocks 5-6 show where the learners are
    for the coming cycle.

    ## Reward, episode

    As TaskAllocation-v0, minus ``reward.move_penalty_per_kj`` x the kJ spent moving (``reward_move_penalty``).

    ## Info

    TaskAllocation-v0's plus ``moved_m`` and ``move_energy_j`` (per learner, this cycle's move).
    """

    core_class = LearnerRelocationCore


LearnerRelocationVectorEnv = vector_env_class(LearnerRelocationEnv)
