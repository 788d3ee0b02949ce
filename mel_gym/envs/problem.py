"""The public side of an env: the scenario's constants and the observation decoder, what a baseline may know.

Baselines depend on an :class:`AllocationProblem`, never on an env or the simulator: they decode the
observation into named arrays with units and plan with the same cost model the simulator charges
(:class:`mel_gym.world.costs.CostModel`). Its declared action blocks say what an env's action controls.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from mel_gym.envs.action_blocks import ActionLayout, PlanParts
from mel_gym.envs.action_maps import (action_from_fraction, action_from_level, fraction_from_action,
                                      level_from_fraction, samples_from_fraction)
from mel_gym.envs.features import FeatureLayout
from mel_gym.envs.observation import PER_LEARNER_FEATURES, DecodedObservation, ObservationCodec
from mel_gym.optim.joint_resources import JointInstance
from mel_gym.optim.task_sizing import relaxed_max_tau_batch
from mel_gym.world.aerial import Rotorcraft
from mel_gym.world.costs import CostModel, CycleCoefficients, EnergyBudget
from mel_gym.world.geometry import PathLossModel, ground_distance_m
from mel_gym.world.radio import db_to_linear, link_rates_bps


@dataclass(frozen=True)
class Mobility:
    """What can move and at which cost (DroneOrchestrator, LearnerRelocation): public constants of a scenario.

    Attributes:
        path_loss: the scenario's path loss as a function of geometry.
        coverage_radius_m: ground range of the orchestrator, m.
        area_radius_m: the disc (around the origin) that learners and the drone stay in, m.
        flight_s: time between two cycles in which things move (period - T), s.
        drone_max_speed_mps: top speed of a drone orchestrator (0: the orchestrator does not move), m/s.
        rotorcraft: the drone's propulsion model.
        controllable: (K,) bool, learners the orchestrator can move.
        learner_max_speed_mps: their top speed, m/s.
        energy_per_m_j: their locomotion energy per metre, J/m.
    """

    path_loss: PathLossModel
    coverage_radius_m: float
    area_radius_m: float
    flight_s: float
    drone_max_speed_mps: float = 0.0
    rotorcraft: Rotorcraft = field(default_factory=Rotorcraft)
    controllable: np.ndarray | None = None
    learner_max_speed_mps: float = 0.0
    energy_per_m_j: float = 0.0

    @property
    def drone_reach_m(self) -> float:
        """How far the drone can fly between two cycles, m."""
        return self.drone_max_speed_mps * self.flight_s

    @property
    def learner_reach_m(self) -> float:
        """How far a controllable learner can move between two cycles, m."""
        return self.learner_max_speed_mps * self.flight_s


class EnvProblem(Protocol):
    """What consumers (the experiments, the multi-agent view, the planners, renderers) may ask of any env's public
    side, whatever its topology: :class:`AllocationProblem` (the star envs), MultiJob-v0's and SplitChain-v0's
    problems. No consumer looks for an env's type."""

    actions: ActionLayout  # the raw action's declared blocks
    action_mode: str  # "raw" or "planner"
    planner_name: str  # the env's planner

    @property
    def num_learners(self) -> int: ...

    @property
    def amount_action(self) -> bool: ...

    @property
    def job_names(self) -> tuple[str, ...]: ...  # the jobs a per-job table reports ((): one job)

    def decode(self, obs: np.ndarray) -> Any: ...

    def world_view(self, obs: np.ndarray) -> DecodedObservation: ...  # the world's named arrays of an observation

    def agent_observations(self, obs: np.ndarray) -> np.ndarray: ...  # (K, per-agent size): the multi-agent view

    @property
    def learner_choices(self) -> int: ...  # each learner's discrete choices (0: its values are Box blocks)

    def action_from_choices(self, choices: np.ndarray) -> np.ndarray: ...  # (K,) learners' choices -> raw action


def per_learner_rows(obs: np.ndarray, codec: ObservationCodec, extra_rows: np.ndarray | None = None,
                     extra_globals: np.ndarray | None = None) -> np.ndarray:
    """(K, F + E + G + H) float32: learner k's row of the world's per-learner blocks (F of them), then its ``extra_rows``
    (K, E), then the world's globals (G) and ``extra_globals`` (H), shared by every learner."""
    K, F = codec.num_learners, len(PER_LEARNER_FEATURES)
    obs = np.asarray(obs)
    rows = obs[: F * K].reshape(F, K).T
    end = codec.size - codec.extra_size
    globals_ = obs[F * K : end]
    if codec.extra_size:  # the label histograms: learner k's row
        rows = np.concatenate([rows, obs[end : codec.size].reshape(K, -1)], axis=1)
    if extra_rows is not None:
        rows = np.concatenate([rows, extra_rows], axis=1)
    if extra_globals is not None:
        globals_ = np.concatenate([globals_, extra_globals])
    return np.concatenate([rows, np.broadcast_to(globals_, (K, len(globals_)))], axis=1).astype(np.float32)


@dataclass(frozen=True)
class AllocationProblem:
    """The public constants of a scenario and env. Units: s, bit, cycles, W, Hz, J.

    What the env's raw action controls is its declared blocks, ``actions`` (:mod:`mel_gym.envs.action_blocks`):
    e.g. ``problem.actions.has("power", "bandwidth", "cpu")`` in JointAllocation-v0, ``"velocity"`` where the
    orchestrator flies, ``"moves"`` where learners are moved, ``"amount"`` and ``"effort"`` at the end.
    """

    mode: str  # "pl" or "fl"
    num_learners: int
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
    actions: ActionLayout  # the raw action's declared blocks
    action_beta: float | None = None  # share map's beta (None: the action is not shares)
    mobility: Mobility | None = None  # geometry and what may move (None: not needed by the env's baselines)
    min_fraction: float = 0.05  # the amount's smallest fraction
    fraction_levels: int | None = None  # a discrete amount's levels (None: a continuous value in [-1, 1])
    sample_fraction: float = 1.0  # the fraction of d this planning view plans for (:meth:`with_fraction`)
    action_mode: str = "raw"  # the env's action: its raw action, or its planner's knobs
    planner_name: str = "ha-sync-fraction"  # the env's planner (a baseline with planner knobs, mel_gym.agents)
    send_cap_fraction: float = 0.0  # redistribution: the most of a learner's samples that may leave it in a phase

    @property
    def cycle_deadline_s(self) -> float:
        """T, s: the cost model's (its one home)."""
        return self.cost.cycle_deadline_s

    @property
    def amount_action(self) -> bool:
        """The raw action ends with the amount (the fraction of d a plan processes)."""
        return self.actions.has("amount")

    @property
    def effort_action(self) -> bool:
        """The raw action ends with the effort (after the amount)."""
        return self.actions.has("effort")

    @property
    def planned_samples(self) -> int:
        """n: the samples a plan of this view hands out, max(1, round(f d)) of the cycle's d (d when f = 1)."""
        return int(samples_from_fraction(self.sample_fraction, self.samples_per_cycle))

    def with_fraction(self, fraction: float) -> "AllocationProblem":
        """This planning view for plans that process the fraction ``fraction`` of d: the fraction the env will read
        back from the encoded amount (so the plan's n is the env's), its amount appended by :meth:`encode_action`.

        Raises:
            ValueError: ``fraction`` < 1 where the env's action has no amount (env parameter ``amount_action``).
        """
        f = float(fraction)
        if not 0.0 < f <= 1.0:
            raise ValueError(f"fraction {fraction!r} must lie in (0, 1]")
        if f >= 1.0:
            return self if self.sample_fraction >= 1.0 else replace(self, sample_fraction=1.0)
        if not self.amount_action:
            raise ValueError(f"a plan for a fraction {f:g} of the cycle's samples needs an env whose action has the "
                             "amount: env parameter amount_action=True")
        read = fraction_from_action(self.amount_action_value(f), self.min_fraction)  # what the env reads back
        return replace(self, sample_fraction=float(read))

    def amount_action_value(self, fraction: float | None = None) -> np.ndarray:
        """The amount part of an action for ``fraction`` (default: this view's): a value in [-1, 1] (float32), or
        a level (int64) where the amount is discrete."""
        f = self.sample_fraction if fraction is None else fraction
        if self.fraction_levels is None:
            return action_from_fraction(f, self.min_fraction)
        return action_from_level(level_from_fraction(f, self.min_fraction, self.fraction_levels), self.fraction_levels)

    def amount_level(self) -> int:
        """A discrete amount's level for this view's fraction."""
        return int(level_from_fraction(self.sample_fraction, self.min_fraction, self.fraction_levels))

    @property
    def total_bandwidth_hz(self) -> float:
        return self.num_learners * self.bandwidth_hz

    @property
    def sends_data(self) -> bool:
        return self.mode == "pl"

    @property
    def layout(self) -> FeatureLayout:
        """The observation's feature blocks (:mod:`mel_gym.envs.features`): the world's."""
        return self.codec.layout

    def decode(self, obs: np.ndarray) -> DecodedObservation:
        return self.codec.decode(obs)

    def world_view(self, obs: np.ndarray) -> DecodedObservation:
        """The world's named arrays of an observation (here the whole of it)."""
        return self.codec.decode(obs)

    def agent_observations(self, obs: np.ndarray) -> np.ndarray:
        """(K, 14 + G): each learner's row of the per-learner blocks, then the globals (the multi-agent view)."""
        return per_learner_rows(obs, self.codec)

    @property
    def job_names(self) -> tuple[str, ...]:
        return ()

    @property
    def learner_choices(self) -> int:
        """0: each learner's part of the action is its values of the per-learner Box blocks."""
        return 0

    def action_from_choices(self, choices: np.ndarray) -> np.ndarray:
        raise ValueError("this env's action is Box blocks, not one discrete choice per learner")

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

    def energy_budget(self, decoded: DecodedObservation, rate_up_bps: np.ndarray | None = None) -> EnergyBudget | None:
        """The energy side of the task-allocation problem at default resources (None without limits), on the
        observed uplink rates or on ``rate_up_bps`` (those of another geometry, :meth:`view_at`)."""
        limit = self.energy_limit_j(decoded)
        if not np.any(np.isfinite(limit)):
            return None
        rate_up = decoded.rate_up_bps if rate_up_bps is None else rate_up_bps
        return EnergyBudget(limit, self.cost.energy_coefficients(rate_up, self.tx_power_w, decoded.cpu_hz))

    def encode_action(self, decoded: DecodedObservation, task_shares: np.ndarray, power_w: np.ndarray | None = None,
                      bandwidth_shares: np.ndarray | None = None, cpu_hz: np.ndarray | None = None,
                      backup_priority: np.ndarray | None = None, velocity_mps: np.ndarray | None = None,
                      moves_m: np.ndarray | None = None, send_fraction: np.ndarray | None = None,
                      send_pooled: np.ndarray | None = None) -> np.ndarray:
        """The raw action that carries out a plan, written block by block (:class:`ActionLayout.encode`): (K,) task
        shares (zero shares encode as -1), and for the blocks the action has: powers (W; default full power),
        bandwidth shares (default equal), CPU frequencies (Hz; default each learner's top frequency), participation
        (the learners with a share), backup priorities (K values > 0 ask for a backup, larger first; default none),
        the drone's velocity (2,) m/s (default hover), the learners' moves (K, 2) m (default stay), what each learner
        may send in a redistribution phase (fractions of its cap, default 0) and whether into the shared pool; the
        amount is this view's fraction (:meth:`with_fraction`), the effort full (1: the plan as it is)."""
        if not self.actions.has("shares"):
            raise ValueError("encode_action: this env's action is not task shares")
        plan = PlanParts(task_shares=task_shares, power_w=power_w, bandwidth_shares=bandwidth_shares, cpu_hz=cpu_hz,
                         backup_priority=backup_priority, velocity_mps=velocity_mps, moves_m=moves_m,
                         send_fraction=send_fraction, send_pooled=send_pooled)
        return self.actions.encode(plan, self, decoded)

    def view_at(self, decoded: DecodedObservation, orchestrator_m: np.ndarray | None = None,
                position_m: np.ndarray | None = None) -> tuple[CycleCoefficients, EnergyBudget | None, np.ndarray]:
        """The coming cycle as it would be with the orchestrator at ``orchestrator_m`` (3,) and the learners at
        ``position_m`` (K, 2) (None: where the observation has them), or at M candidate geometries at once (leading
        axes (M, 3) and (M, K, 2) broadcast): (time coefficients, energy budget, available), arrays (..., K).

        The observed gains are carried over by the scenario's path loss, g' = g 10^((PL - PL') / 10): shadowing
        and fading belong to the learner's link, not to the geometry (docs/drone.md). Learners beyond the
        coverage radius of the new point cannot take part."""
        if self.mobility is None:
            raise ValueError("view_at: this env's problem has no geometry (problem.mobility is None)")
        orchestrator = decoded.orchestrator_m if orchestrator_m is None else np.asarray(orchestrator_m, float)
        position = decoded.position_m if position_m is None else np.asarray(position_m, float)
        path_loss = self.mobility.path_loss
        gain = self.channel_gain(decoded) * db_to_linear(path_loss.db(decoded.position_m, decoded.orchestrator_m)
                                                         - path_loss.db(position, orchestrator))
        rate_down, rate_up = link_rates_bps(self.bandwidth_hz, self.tx_power_w, self.orchestrator_power_w, gain,
                                            self.noise_psd_w_per_hz)
        coeffs = self.cost.coefficients(rate_down, rate_up, decoded.cpu_hz)
        energy = self.energy_budget(decoded, rate_up)
        covered = ground_distance_m(position, orchestrator) <= self.mobility.coverage_radius_m * (1 + 1e-9)
        available = (decoded.battery_fraction > 0) & (decoded.cpu_hz > 0) & covered
        return coeffs, energy, available

    def relaxed_tau_at(self, decoded: DecodedObservation, orchestrator_m: np.ndarray | None = None,
                       position_m: np.ndarray | None = None) -> np.ndarray:
        """HA-Sync's relaxed tau* (capped at max_local_iterations, for the view's planned samples) with the
        orchestrator and learners moved (:meth:`view_at`), for M candidate geometries at once: ``orchestrator_m``
        (M, 3) and/or ``position_m`` (M, K, 2) (or one of each) -> (M,); 0 where the samples cannot be placed. The
        continuous objective of the mobility planners (:mod:`mel_gym.optim.mobility`)."""
        coeffs, energy, available = self.view_at(decoded, orchestrator_m, position_m)
        caps = np.atleast_2d(np.where(available, decoded.task_caps, 0.0))  # (M, K); the rest broadcasts
        return relaxed_max_tau_batch(coeffs, self.cycle_deadline_s, self.planned_samples, caps, energy,
                                     self.max_local_iterations)

    def joint_instance(self, decoded: DecodedObservation) -> JointInstance:
        """The joint task/resource problem of one observation for the view's planned samples (see
        :mod:`mel_gym.optim.joint_resources`)."""
        return JointInstance(
            gain=self.channel_gain(decoded), f_max_hz=decoded.cpu_hz, energy_limit_j=self.energy_limit_j(decoded),
            task_caps=np.where(decoded.available, decoded.task_caps, 0.0), available=decoded.available, cost=self.cost,
            samples_per_cycle=self.planned_samples, max_local_iterations=self.max_local_iterations,
            tx_power_w=self.tx_power_w, min_tx_power_w=self.tx_power_w * 10 ** (-self.power_range_db / 10),
            orchestrator_power_w=self.orchestrator_power_w, total_bandwidth_hz=self.total_bandwidth_hz,
            f_min_hz=self.min_cpu_hz, noise_psd_w_per_hz=self.noise_psd_w_per_hz,
        )
