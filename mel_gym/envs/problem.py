"""The public side of an env: the scenario's constants and the observation decoder, what a baseline may know.

Baselines depend on an :class:`AllocationProblem`, never on an env or the simulator: they decode the
observation into named arrays with units and plan with the same cost model the simulator charges
(:class:`mel_gym.world.costs.CostModel`). Capabilities say what an env's action controls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mel_gym.envs.action_maps import action_from_cpu, action_from_power, action_from_shares
from mel_gym.envs.observation import DecodedObservation, ObservationCodec
from mel_gym.optim.joint_allocation import JointInstance
from mel_gym.world.costs import CostModel, CycleCoefficients, EnergyBudget
from mel_gym.world.radio import link_rates_bps


@dataclass(frozen=True)
class AllocationProblem:
    """The public constants of a scenario and env. Units: s, bit, cycles, W, Hz, J.

    Capabilities: ``has_resources`` (the action sets power, bandwidth and CPU: JointAllocation),
    ``selects_learners`` (the action picks learners, the env sizes their tasks: LearnerSelection),
    ``per_learner_iterations`` (every learner runs its own tau_k: AsyncTaskAllocation), ``plans_backups`` (the
    action also says who takes part and whose task gets a backup: ReliableTaskAllocation).
    """

    mode: str  # "pl" or "fl"
    num_learners: int
    cycle_deadline_s: float  # T
    samples_per_cycle: int  # d
    max_local_iterations: int
    cost: CostModel  # the cycle's time and energy, as the simulator charges them
    tx_power_w: float  # the learners' default and largest transmit power P_max
    power_range_db: float  # power control range: P in [P_max - range, P_max]
    orchestrator_power_w: float  # downlink power P_o on each learner's link
    bandwidth_hz: float  # default bandwidth per learner; K x this is the total where it is allocated
    min_cpu_hz: float  # lowest CPU frequency (CPU control)
    noise_psd_w_per_hz: float
    cycle_cap_j: float | None  # per-learner energy cap of a cycle
    codec: ObservationCodec
    action_beta: float | None = None  # share map's beta (None: the action is not shares)
    has_resources: bool = False
    selects_learners: bool = False
    per_learner_iterations: bool = False
    plans_backups: bool = False

    @property
    def total_bandwidth_hz(self) -> float:
        return self.num_learners * self.bandwidth_hz

    @property
    def sends_data(self) -> bool:
        return self.mode == "pl"

    def decode(self, obs: np.ndarray) -> DecodedObservation:
        return self.codec.decode(obs)

    def channel_gain(self, decoded: DecodedObservation) -> np.ndarray:
        """Linear channel power gain recovered from the observed uplink rate (default power and bandwidth)."""
        snr = np.expm1(decoded.rate_up_bps / self.bandwidth_hz * np.log(2.0))
        return snr * self.noise_psd_w_per_hz * self.bandwidth_hz / self.tx_power_w

    def rates(self, decoded: DecodedObservation, power_w: np.ndarray | None = None,
              bandwidth_hz: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(downlink, uplink) rates in bit/s, with other uplink powers or bandwidths (defaults: the scenario's)."""
        if power_w is None and bandwidth_hz is None:
            return decoded.rate_down_bps, decoded.rate_up_bps
        power = self.tx_power_w if power_w is None else power_w
        bandwidth = self.bandwidth_hz if bandwidth_hz is None else bandwidth_hz
        return link_rates_bps(bandwidth, power, self.orchestrator_power_w, self.channel_gain(decoded),
                              self.noise_psd_w_per_hz)

    def coefficients(self, decoded: DecodedObservation, power_w: np.ndarray | None = None,
                     bandwidth_hz: np.ndarray | None = None, cpu_hz: np.ndarray | None = None) -> CycleCoefficients:
        """Planned-time coefficients from an observation (and optionally chosen powers, bandwidths and CPUs)."""
        cpu = decoded.cpu_hz if cpu_hz is None else cpu_hz
        return self.cost.coefficients(*self.rates(decoded, power_w, bandwidth_hz), cpu)

    def energy_limit_j(self, decoded: DecodedObservation) -> np.ndarray:
        """What each learner may spend this cycle: min(energy cap, remaining battery), J (inf if neither)."""
        cap = np.inf if self.cycle_cap_j is None else self.cycle_cap_j
        return np.minimum(cap, decoded.battery_j)

    def energy_budget(self, decoded: DecodedObservation) -> EnergyBudget | None:
        """The energy side of the task-allocation problem at default resources (None without limits)."""
        limit = self.energy_limit_j(decoded)
        if not np.any(np.isfinite(limit)):
            return None
        return EnergyBudget(limit, self.cost.energy_coefficients(decoded.rate_up_bps, self.tx_power_w, decoded.cpu_hz))

    def encode_action(self, decoded: DecodedObservation, task_shares: np.ndarray, power_w: np.ndarray | None = None,
                      bandwidth_shares: np.ndarray | None = None, cpu_hz: np.ndarray | None = None,
                      backup_priority: np.ndarray | None = None) -> np.ndarray:
        """The share action that carries out a plan: (K,) task shares, and where the env has resources, powers
        (W), bandwidth shares and CPU frequencies (Hz); resources left None mean full power, an equal bandwidth
        share and the learner's top CPU frequency. Zero shares encode as -1. Where the env plans backups,
        learners with a share take part (+1, the others -1) and learners with ``backup_priority`` > 0 (K values;
        None: none) ask for a backup, the env serving larger priorities first."""
        if self.action_beta is None:
            raise ValueError("encode_action: this env's action is not task shares")
        actions = [action_from_shares(task_shares, self.action_beta)]
        if self.has_resources:
            K = self.num_learners
            power = np.full(K, self.tx_power_w) if power_w is None else power_w
            cpu = decoded.cpu_hz if cpu_hz is None else cpu_hz
            actions += [action_from_power(power, self.tx_power_w, self.power_range_db),
                        action_from_shares(bandwidth_shares, self.action_beta) if bandwidth_shares is not None
                        else np.zeros(K, np.float32),
                        action_from_cpu(cpu, self.min_cpu_hz, decoded.cpu_hz)]
        if self.plans_backups:
            priority = np.zeros(self.num_learners) if backup_priority is None else np.asarray(backup_priority, float)
            top = max(priority.max(), 1e-300)
            actions += [np.where(np.asarray(task_shares) > 0, 1.0, -1.0),
                        np.where(priority > 0, 0.55 + 0.45 * priority / top, -1.0)]  # > 0.5: requested
        return np.concatenate(actions).astype(np.float32)

    def joint_instance(self, decoded: DecodedObservation) -> JointInstance:
        """The joint task/resource problem of one observation (see :mod:`mel_gym.optim.joint_allocation`)."""
        return JointInstance(
            gain=self.channel_gain(decoded), f_max_hz=decoded.cpu_hz, energy_limit_j=self.energy_limit_j(decoded),
            task_caps=np.where(decoded.available, decoded.task_caps, 0.0), available=decoded.available, cost=self.cost,
            samples_per_cycle=self.samples_per_cycle, max_local_iterations=self.max_local_iterations,
            tx_power_w=self.tx_power_w, min_tx_power_w=self.tx_power_w * 10 ** (-self.power_range_db / 10),
            orchestrator_power_w=self.orchestrator_power_w, total_bandwidth_hz=self.total_bandwidth_hz,
            f_min_hz=self.min_cpu_hz, noise_psd_w_per_hz=self.noise_psd_w_per_hz,
        )
