"""DroneOrchestrator-v0: a drone-mounted orchestrator chooses where to fly next and how to split the tasks."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mel_gym.envs.action_blocks import ActionBlock, Power, Shares, Velocity
from mel_gym.envs.core import ShareCore
from mel_gym.envs.env import MELEnv
from mel_gym.envs.params import DroneParams
from mel_gym.envs.vector import vector_env_class
from mel_gym.simulation import Decision


class DroneOrchestratorCore(ShareCore):
    """K task shares for the cycle at the drone's position (and, with ``power_control``, K transmit powers), then
    two values for its flight to the next cycle."""

    params_class = DroneParams
    default_scenario: ClassVar[str] = "drone"
    planner_name = "receding-horizon-fraction"

    def action_blocks(self) -> tuple[ActionBlock, ...]:
        return (Shares(), Power(), Velocity()) if self.params.power_control else (Shares(), Velocity())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.require_gap_between_cycles("DroneOrchestrator-v0's drone")

    def raw_noop_action(self) -> np.ndarray:
        action = np.full(self.raw_action_space.shape, -1.0, dtype=np.float32)
        action[self.layout.slice_of("velocity")] = 0.0  # nobody trains, the drone hovers
        return action

    def decide(self, actions: np.ndarray, samples: np.ndarray) -> Decision:
        power = self.layout.decode("power", actions, self.problem, None) if self.layout.has("power") else None
        return self.sync_decision(self.layout.split(actions)["shares"], samples, power)

    def decision_info(self, decision: Decision) -> dict[str, np.ndarray]:
        return {} if decision.tx_power_w is None else {"tx_power_w": decision.tx_power_w}

    def after_cycle(self, actions: np.ndarray) -> dict[str, np.ndarray]:
        velocity = self.layout.decode("velocity", actions, self.problem, None)
        power, energy = self.sim.world.fly_orchestrator(velocity)
        st = self.sim.world.state
        return {"propulsion_power_w": power, "drone_energy_j": energy, "drone_position_m": st.orchestrator_m.copy(),
                "drone_velocity_mps": st.orchestrator_velocity_mps.copy(),
                "drone_battery_j": np.nan_to_num(st.orchestrator_battery_j, posinf=-1.0)}

    def ended(self) -> np.ndarray:
        return self.sim.world.state.orchestrator_battery_j <= 0


class DroneOrchestratorEnv(MELEnv):
    """Synchronous MEL with a drone-mounted orchestrator: each cycle the agent splits d samples among the
    learners the drone covers and chooses the drone's velocity for its flight to the next cycle.

    The drone flies at ``orchestrator.height_m`` over the learners; learners within ``orchestrator.range_m``
    (on the ground) of the point below it can take part. Links follow the scenario's path loss (the ``drone``
    preset: Al-Hourani et al.'s air-to-ground model, whose line-of-sight probability grows with the elevation
    angle). Between two cycles (``cycle_period_s`` - T) the drone flies at the chosen velocity, then hovers
    through the cycle; its propulsion power follows the rotary-wing model of Zeng, Xu and Zhang (2019) (about
    168 W hovering, 126 W at 10 m/s) and its battery (``drone.battery_j``) ends the episode when spent
    (``terminated``). docs/drone.md has the formulas.

    ## Action space

    ``Box(-1, 1, (K + 2,), float32)``, or ``(2K + 2,)`` with ``power_control=True``

    | indices | maps to                                                                                         |
    |---------|-------------------------------------------------------------------------------------------------|
    | 0 .. K-1 | task shares for this cycle, as TaskAllocation-v0 (among learners the drone covers now)         |
    | K .. 2K-1 | with ``power_control``: uplink powers, as JointAllocation-v0 (a = 1: P_max, -1: P_max - ``channel.power_range_db``) |
    | last two | the drone's velocity to the next cycle: (a_x, a_y) x ``drone.max_speed_mps``; a pair with norm > 1 keeps its direction at the top speed; (0, 0) hovers |

    A flight whose end would lie outside the area (the disc of ``mobility.area_radius_m``, or of the cell ``placement.max_distance_m`` if larger) is pulled radially back onto its edge. Out-of-range
    values are clipped to [-1, 1]; NaN/inf raise ``ValueError`` and leave the env as it was.

    ## Amount and planner actions

    With ``amount_action=True`` the action ends with the amount (one more value after the velocity): the plan hands
    out n = max(1, round(f d)) of the cycle's d samples, f = min_fraction + (1 - min_fraction)(a + 1) / 2
    (docs/envs.md); the info adds ``sample_fraction``, and ``samples_planned`` / ``samples_processed`` per learner
    come always. ``action_mode="planner"``: the action is ``Box(-1, 1, (2,))``, the knobs of the planner
    ``receding-horizon-fraction`` (the fraction f and the flight's energy weight), which plans the full action from
    the observation.

    ## Observation space

    ``Box(float32, (14K + 8,))``: TaskAllocation-v0's 14K + 3 entries (learner positions relative to the
    origin, rates at the drone's current position), then the drone's x and y (/ area radius), its last
    velocity (/ top speed) and battery fraction (``problem.decode(obs).orchestrator_m``,
    ``orchestrator_velocity_mps``, ``orchestrator_battery_fraction``).

    ## Reward, episode

    As TaskAllocation-v0. The episode is truncated after ``horizon_cycles`` and terminated when the drone's
    battery is empty (or at the target accuracy with ``terminate_on_target``).

    ## Info

    TaskAllocation-v0's plus ``propulsion_power_w`` (mean over the period), ``drone_energy_j`` (spent over the
    period), ``drone_position_m`` (x, y, height where the next cycle runs), ``drone_velocity_mps`` and
    ``drone_battery_j`` (left; -1 without a battery); with ``power_control``, ``tx_power_w`` per learner.
    """

    core_class = DroneOrchestratorCore


DroneOrchestratorVectorEnv = vector_env_class(DroneOrchestratorEnv)
