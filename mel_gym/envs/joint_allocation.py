"""JointAllocation-v0: task sizes plus transmit power, bandwidth and CPU frequency of every learner."""

from __future__ import annotations

import numpy as np

from mel_gym.envs.action_blocks import Bandwidth, Cpu, Power, Shares
from mel_gym.envs.core import ShareCore
from mel_gym.envs.env import MELEnv
from mel_gym.envs.vector import vector_env_class
from mel_gym.simulation import Decision


class JointAllocationCore(ShareCore):
    """Four blocks of K action values -> tasks, powers, bandwidths, CPU frequencies -> the largest common tau
    that every participant's deadline, energy cap and battery allow."""

    blocks = (Shares(), Power(), Bandwidth(), Cpu())
    default_scenario = "joint"

    planner_name = "joint-fraction"

    def resources(self, actions: np.ndarray, samples: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(task sizes, power W, bandwidth Hz, CPU Hz), each (n_envs, K), from actions (n_envs, 4K), the tasks
        summing to ``samples`` (n_envs,)."""
        ctx = self.decode_context(samples)
        return tuple(self.layout.decode(name, actions, self.problem, ctx)
                     for name in ("shares", "power", "bandwidth", "cpu"))

    def decide(self, actions: np.ndarray, samples: np.ndarray) -> Decision:
        task_sizes, power, bandwidth, cpu = self.resources(actions, samples)
        tau = np.maximum(self.iteration_limits(task_sizes, power, bandwidth, cpu).min(axis=1), 0)
        return Decision(task_sizes=task_sizes, local_iterations=np.where(task_sizes > 0, tau[:, None], 0),
                        tx_power_w=power, bandwidth_hz=bandwidth, cpu_hz=cpu)

    def decision_info(self, decision: Decision) -> dict[str, np.ndarray]:
        return {"tx_power_w": decision.tx_power_w, "bandwidth_hz": decision.bandwidth_hz, "cpu_hz": decision.cpu_hz}


class JointAllocationEnv(MELEnv):
    """Synchronous MEL with joint task and resource allocation, a per-cycle energy cap and draining batteries.

    ## Action space

    ``Box(-1, 1, (4K,), float32)``: four blocks of K values.

    | block | indices     | maps to                                                                  |
    |-------|-------------|--------------------------------------------------------------------------|
    | 0     | 0 .. K-1    | task shares, as TaskAllocation-v0 (weights exp(beta a), -1 drops)         |
    | 1     | K .. 2K-1   | transmit power P_k = P_max 10^((a - 1)/2 x range_dB / 10): a = 1 is P_max  |
    | 2     | 2K .. 3K-1  | bandwidth shares of the total K x W (weights exp(beta a), -1 gives none)  |
    | 3     | 3K .. 4K-1  | CPU f_k = f_min + (a + 1)/2 (f_max,k - f_min): a = 1 is the learner's top |

    P_max = ``channel.tx_power_dbm``, range_dB = ``channel.power_range_db``, W = ``channel.bandwidth_hz``,
    f_min = ``compute.min_cpu_hz``. tau is then the largest integer every learner with a task can run within
    the deadline, the per-cycle energy cap ``energy.cycle_cap_j`` and its remaining battery (energy
    kappa f^2 tau d_k C_m + P_k S_m / R_k^up). The downlink runs at the orchestrator's power on the learner's
    band. A learner with an empty battery has left: the observation shows battery 0 and the maps give it no
    task and no bandwidth.

    ## Amount and planner actions

    With ``amount_action=True`` the action ends with the amount (one more value, ``Box(-1, 1, (4K + 1,))``): the plan
    hands out n = max(1, round(f d)) of the cycle's d samples, f = min_fraction + (1 - min_fraction)(a + 1) / 2
    (docs/envs.md); the info adds ``sample_fraction``, and ``samples_planned`` / ``samples_processed`` per learner
    come always. ``action_mode="planner"``: the action is ``Box(-1, 1, (1,))``, the knobs of the planner
    ``joint-fraction`` (the fraction f), which plans the full action from the observation.

    ## Observation, reward, episode

    As TaskAllocation-v0 (``Box(float32, (14K + 3,))``); the uplink spectral efficiency is the rate at full
    power and an equal bandwidth share, from which ``env.unwrapped.problem.channel_gain`` recovers the
    channel gain, and the battery block is the remaining energy over the scenario's largest battery. The
    default scenario is the ``joint`` preset (8x8 digits, an energy cap of 0.02 J per cycle, batteries of
    0.3-0.6 J).

    ## Info

    TaskAllocation-v0's plus ``tx_power_w``, ``bandwidth_hz`` and ``cpu_hz`` per learner; ``over_cap`` marks
    learners whose planned energy exceeded the cap (they stop there and contribute nothing).
    """

    core_class = JointAllocationCore


JointAllocationVectorEnv = vector_env_class(JointAllocationEnv)
