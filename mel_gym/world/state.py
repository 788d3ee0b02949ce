"""The batched physical world: positions, channels, CPUs and batteries of n_envs x K learners and their orchestrator.

State and parameters are separate: :class:`World` holds the scenario-derived constants and the current
:class:`WorldState`; every random draw comes from the per-env numpy generators passed in, so that env i's
trajectory depends only on env i's seed (sub-env i of a batch equals a single env with the same seed).

Geometry is live: learners and the orchestrator have positions that a decision may change
(:meth:`World.move`) or that the mobility model moves between cycles, and the path loss is derived from the
current distances every cycle.

The state always describes the *coming* cycle as it will really be. What the orchestrator knows of it at
decision time is a separate view (:class:`Measurement`, docs/dynamics.md): with perfect CSI the channel
itself; with outdated CSI the channel it measured at the end of the last cycle (from which it schedules each
link at a gain that the coming cycle's fading reaches with probability 1 - ``channel.target_outage``:
:meth:`World.measured_gain`); the CPU state the learner reported then. Two kinds of generators drive the world:
``rng_world`` (placement, shadowing, CPUs, batteries and the i.i.d. block fading of the static world, drawn
exactly as before the dynamics existed) and ``rng_dynamics`` (mobility, correlated fading and shadowing, the CPU
chain, packet errors). Neither depends on the actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mel_gym.config import Scenario
from mel_gym.world import dynamics
from mel_gym.world.costs import DEADLINE_RTOL
from mel_gym.world.aerial import Rotorcraft
from mel_gym.world.geometry import PathLossModel, clip_to_disc, distance_m, ground_distance_m
from mel_gym.world.placement import sample_learner_positions
from mel_gym.world.d2d import D2DLinks, D2DParams
from mel_gym.world.radio import channel_power_gain, db_to_linear, dbm_to_watt, link_rates_bps


@dataclass
class Measurement:
    """What the orchestrator measured at the end of the last cycle; arrays (n_envs, K)."""

    position_m: np.ndarray  # (n_envs, K, 2) where each learner was
    shadowing_db: np.ndarray
    fading_power: np.ndarray  # |h|^2
    fading_gain: np.ndarray  # complex small-scale gain h (gauss-markov fading; 1 otherwise)
    cpu_state: np.ndarray  # int: the computing-service state each learner reported


@dataclass
class WorldState:
    """Arrays with leading axes (n_envs, K) unless noted; the true state of the coming cycle."""

    position_m: np.ndarray  # (n_envs, K, 2) learners on the ground plane, metres
    velocity_mps: np.ndarray  # (n_envs, K, 2) current velocity, m/s (0 for static learners)
    waypoint_m: np.ndarray  # (n_envs, K, 2) random waypoint: where each learner heads
    pause_left_s: np.ndarray  # random waypoint: pause left at the waypoint, s
    mean_velocity_mps: np.ndarray  # (n_envs, K, 2) gauss-markov: the mean velocity
    orchestrator_m: np.ndarray  # (n_envs, 3) orchestrator x, y and antenna height, metres
    orchestrator_velocity_mps: np.ndarray  # (n_envs, 2) a drone orchestrator's last flight velocity, m/s
    orchestrator_battery_j: np.ndarray  # (n_envs,) a drone's propulsion energy left (inf without a battery), J
    path_loss_db: np.ndarray  # large-scale loss at the current distances
    shadowing_db: np.ndarray  # log-normal shadowing (per episode, or following the learner)
    fading_power: np.ndarray  # |h|^2 of the coming cycle (Exp(1) under Rayleigh fading)
    fading_gain: np.ndarray  # complex small-scale gain h of gauss-markov fading (1 otherwise: only |h|^2 is drawn)
    cpu_hz: np.ndarray  # each learner's own CPU frequency (its maximum)
    cpu_state: np.ndarray  # int computing-service state: 0 available, 1 throttled, 2 frozen
    link_draw: np.ndarray  # U[0, 1) per learner: its exchange fails if below its outage probability
    battery_j: np.ndarray  # remaining energy (inf when batteries are disabled)
    battery_capacity_j: np.ndarray  # full battery (inf when disabled)
    cycle: np.ndarray  # (n_envs,) global cycles run since reset

    @classmethod
    def empty(cls, n_envs: int, num_learners: int) -> "WorldState":
        z = np.zeros((n_envs, num_learners))
        xy = np.zeros((n_envs, num_learners, 2))
        return cls(
            position_m=xy.copy(), velocity_mps=xy.copy(), waypoint_m=xy.copy(), pause_left_s=z.copy(),
            mean_velocity_mps=xy.copy(), orchestrator_m=np.zeros((n_envs, 3)),
            orchestrator_velocity_mps=np.zeros((n_envs, 2)), orchestrator_battery_j=np.full(n_envs, np.inf),
            path_loss_db=z.copy(),
            shadowing_db=z.copy(), fading_power=np.ones_like(z), fading_gain=np.ones_like(z, dtype=np.complex128),
            cpu_hz=np.ones_like(z),
            cpu_state=np.zeros_like(z, dtype=np.int64), link_draw=np.ones_like(z),
            battery_j=np.full_like(z, np.inf), battery_capacity_j=np.full_like(z, np.inf),
            cycle=np.zeros(n_envs, dtype=np.int64),
        )

    @property
    def alive(self) -> np.ndarray:
        """(n_envs, K) bool: learners whose battery is not empty."""
        return self.battery_j > 0

    @property
    def distance_m(self) -> np.ndarray:
        """(n_envs, K) distance from each learner to its orchestrator's antenna (3-D), metres."""
        return distance_m(self.position_m, self.orchestrator_m)


class World:
    """Physics of one scenario for a batch of ``n_envs`` independent worlds of K learners."""

    def __init__(self, scenario: Scenario, n_envs: int):
        self.scenario = scenario
        self.n_envs = n_envs
        self.num_learners = scenario.num_learners
        ch = scenario.channel
        self.tx_power_w = float(dbm_to_watt(ch.tx_power_dbm))
        self.orchestrator_power_w = float(dbm_to_watt(scenario.orchestrator.tx_power_dbm))
        self.default_bandwidth_hz = float(ch.bandwidth_hz)
        self.noise_psd_w_per_hz = float(dbm_to_watt(ch.noise_psd_dbm_per_hz))
        self.max_cpu_hz = float(max(scenario.compute.cpu_freqs_hz))
        self.outdated_csi = ch.csi == "outdated"
        #: (3, 3) per-cycle transition matrix of the computing service, and each state's CPU share
        self.transition = np.asarray(scenario.compute.transition_matrix, dtype=np.float64).reshape(3, 3)
        self.cpu_share = np.array([1.0, scenario.compute.throttled_share, 0.0])
        self.path_loss_model = PathLossModel.from_channel(ch)
        self.rotorcraft = Rotorcraft.from_config(scenario.drone)
        self.state = WorldState.empty(n_envs, self.num_learners)
        st = self.state
        self.measured = Measurement(st.position_m.copy(), st.shadowing_db.copy(), st.fading_power.copy(),
                                    st.fading_gain.copy(), st.cpu_state.copy())
        d = scenario.d2d
        #: learner-to-learner links (scenario key d2d.enabled), computed for the coming cycle on demand
        self.d2d: D2DLinks | None = None if not d.enabled else D2DLinks(D2DParams(
            range_m=d.range_m, max_neighbours=d.max_neighbours, shadowing_std_db=d.shadowing_std_db,
            rayleigh=d.fading == "rayleigh", carrier_hz=ch.carrier_hz,
            bandwidth_hz=ch.bandwidth_hz if d.bandwidth_hz is None else d.bandwidth_hz,
            noise_psd_w_per_hz=self.noise_psd_w_per_hz), n_envs, self.num_learners)
        self._d2d_fresh = np.zeros(n_envs, dtype=bool)
        #: (n_envs, K) each learner's memory, bytes: one of ``chains.memory_classes_bytes``, drawn per episode
        self.memory_bytes = np.zeros((n_envs, self.num_learners))
        self._default_rates: tuple[np.ndarray, np.ndarray] | None = None  # at default resources, this cycle
        self._outdated_gain: np.ndarray | None = None  # the scheduled gain under outdated CSI, this cycle
        #: goes up whenever the coming cycle's state changes (:meth:`_forget_cycle`): what is cached for a cycle
        #: elsewhere (the outage predictor's output) is valid while it stays the same
        self.revision = 0

    # ---------------------------------------------------------------- randomness
    def reset(self, env_ids: Sequence[int], rngs: Sequence[np.random.Generator],
              dynamics_rngs: Sequence[np.random.Generator], d2d_keys: Sequence[int] | None = None) -> None:
        """Draw a fresh world for each env in ``env_ids`` from its generators (same order, one each); ``d2d_keys``:
        each episode's key of its D2D links' randomness (:mod:`mel_gym.world.d2d`; 0 if None)."""
        s, K, st = self.scenario, self.num_learners, self.state
        keys = list(d2d_keys) if d2d_keys is not None else [0] * len(env_ids)
        if self.d2d is not None:
            self.d2d.start(list(env_ids), keys)
        classes = np.asarray(s.chains.memory_classes_bytes, dtype=np.float64)
        for i, key in zip(env_ids, keys):  # from the links' key: the other draws stay as they were
            self.memory_bytes[i] = np.random.default_rng([int(key), 1]).choice(classes, size=K)
        for i, rng, rng_dyn in zip(env_ids, rngs, dynamics_rngs):
            st.position_m[i] = sample_learner_positions(rng, K, s.placement)
            st.shadowing_db[i] = rng.normal(0.0, s.channel.shadowing_std_db, size=K)
            st.cpu_hz[i] = rng.choice(np.asarray(s.compute.cpu_freqs_hz, dtype=np.float64), size=K)
            if s.battery_enabled:
                st.battery_capacity_j[i] = rng.uniform(s.energy.battery_min_j, s.energy.battery_max_j, size=K)
            else:
                st.battery_capacity_j[i] = np.inf
            st.battery_j[i] = st.battery_capacity_j[i]
            st.fading_power[i], st.fading_gain[i] = self._first_fading(rng, rng_dyn)
            self._reset_mobility(i, rng_dyn)
            st.cpu_state[i] = (dynamics.draw_stationary(rng_dyn, K, self.transition)
                               if s.compute.service == "markov" else 0)
            st.link_draw[i] = rng_dyn.random(K)
            st.cycle[i] = 0
            start = st.position_m[i].mean(axis=0) if s.drone.start == "centroid" else (0.0, 0.0)
            st.orchestrator_m[i] = (*start, s.orchestrator.height_m)
            st.orchestrator_velocity_mps[i] = 0.0
            st.orchestrator_battery_j[i] = np.inf if s.drone.battery_j is None else s.drone.battery_j
        self._update_path_loss()
        self._measure(env_ids)
        if self.outdated_csi or s.compute.service == "markov":
            # The first cycle happens one period after the first measurement.
            self._evolve(env_ids, rngs, dynamics_rngs)

    def advance(self, rngs: Sequence[np.random.Generator], dynamics_rngs: Sequence[np.random.Generator]) -> None:
        """End of a cycle for every env: the orchestrator measures the cycle just run, then the world moves on
        by one period (mobility, shadowing, fading, CPU chain, packet-error draws) to the next cycle."""
        ids = list(range(self.n_envs))
        self._measure(ids)
        self._evolve(ids, rngs, dynamics_rngs)
        self.state.cycle += 1

    def _measure(self, env_ids: Sequence[int]) -> None:
        self._forget_cycle()
        st, m = self.state, self.measured
        m.position_m[env_ids] = st.position_m[env_ids]
        m.shadowing_db[env_ids] = st.shadowing_db[env_ids]
        m.fading_power[env_ids] = st.fading_power[env_ids]
        m.fading_gain[env_ids] = st.fading_gain[env_ids]
        m.cpu_state[env_ids] = st.cpu_state[env_ids]

    def _evolve(self, env_ids: Sequence[int], rngs: Sequence[np.random.Generator],
                dynamics_rngs: Sequence[np.random.Generator]) -> None:
        s, st, K = self.scenario, self.state, self.num_learners
        ch = s.channel
        for i, rng, rng_dyn in zip(env_ids, rngs, dynamics_rngs):
            before = st.position_m[i].copy()
            self._move(i, rng_dyn)
            moved = np.linalg.norm(st.position_m[i] - before, axis=-1)
            if ch.shadowing_decorrelation_m is not None:
                st.shadowing_db[i] = dynamics.evolve_shadowing(rng_dyn, st.shadowing_db[i], moved,
                                                               ch.shadowing_decorrelation_m, ch.shadowing_std_db)
            if ch.fading == "rayleigh":
                st.fading_power[i] = rng.exponential(1.0, size=K)
            elif ch.fading == "gauss-markov":
                st.fading_gain[i] = dynamics.evolve_fading(rng_dyn, st.fading_gain[i], self.fading_correlation(moved))
                st.fading_power[i] = np.abs(st.fading_gain[i]) ** 2
            if s.compute.service == "markov":
                st.cpu_state[i] = dynamics.markov_step(rng_dyn, st.cpu_state[i], self.transition)
            st.link_draw[i] = rng_dyn.random(K)
        self._update_path_loss()

    def fading_correlation(self, moved_m: np.ndarray) -> np.ndarray:
        """Correlation rho of the complex gain over one period for learners that moved ``moved_m`` metres in
        it (any shape, e.g. (n_envs, K)): the scenario's ``fading_correlation``, or Jakes J0(2 pi f_D dt) with
        f_D = max((moved / dt) f_c / c, ``channel.min_doppler_hz``) and dt the period (s)."""
        ch, period = self.scenario.channel, self.scenario.period_s
        if ch.fading_correlation is not None:
            return np.full(np.shape(moved_m), ch.fading_correlation)
        return dynamics.jakes_correlation(np.asarray(moved_m) / period, ch.carrier_hz, period, ch.min_doppler_hz)

    def _first_fading(self, rng: np.random.Generator, rng_dyn: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(|h|^2, h) of the first cycle."""
        fading, K = self.scenario.channel.fading, self.num_learners
        if fading == "rayleigh":
            return rng.exponential(1.0, size=K), np.ones(K, dtype=np.complex128)
        if fading == "gauss-markov":
            gain = dynamics.draw_complex_gain(rng_dyn, K)
            return np.abs(gain) ** 2, gain
        return np.ones(K), np.ones(K, dtype=np.complex128)

    def _reset_mobility(self, i: int, rng_dyn: np.random.Generator) -> None:
        m, st, K, area = self.scenario.mobility, self.state, self.num_learners, self.scenario.area_radius_m
        st.velocity_mps[i] = 0.0
        st.mean_velocity_mps[i] = 0.0
        st.pause_left_s[i] = 0.0
        st.waypoint_m[i] = st.position_m[i]
        if m.model == "random-waypoint":
            st.position_m[i], st.velocity_mps[i], st.waypoint_m[i], st.pause_left_s[i] = dynamics.random_waypoint_init(
                rng_dyn, K, area, m.speed_min_mps, m.speed_max_mps, m.pause_s, m.burn_in_s)
        elif m.model == "gauss-markov":
            st.position_m[i], st.velocity_mps[i], st.mean_velocity_mps[i] = dynamics.gauss_markov_init(
                rng_dyn, K, area, m.mean_speed_mps)

    def _move(self, i: int, rng_dyn: np.random.Generator) -> None:
        m, st, area, period = self.scenario.mobility, self.state, self.scenario.area_radius_m, self.scenario.period_s
        if m.model == "random-waypoint":
            st.position_m[i], st.velocity_mps[i], st.waypoint_m[i], st.pause_left_s[i] = dynamics.random_waypoint_step(
                rng_dyn, st.position_m[i], st.velocity_mps[i], st.waypoint_m[i], st.pause_left_s[i], period, area,
                m.speed_min_mps, m.speed_max_mps, m.pause_s)
        elif m.model == "gauss-markov":
            st.position_m[i], st.velocity_mps[i], st.mean_velocity_mps[i] = dynamics.gauss_markov_step(
                rng_dyn, st.position_m[i], st.velocity_mps[i], st.mean_velocity_mps[i], period, m.memory,
                m.speed_std_mps, area, m.speed_max_mps)

    def move(self, learner_position_m: np.ndarray | None = None, orchestrator_m: np.ndarray | None = None) -> None:
        """Put the learners (n_envs, K, 2) and/or the orchestrator (n_envs, 3) at new positions (metres);
        the path loss follows the new distances."""
        if learner_position_m is not None:
            self.state.position_m = np.array(learner_position_m, dtype=np.float64)
        if orchestrator_m is not None:
            self.state.orchestrator_m = np.array(orchestrator_m, dtype=np.float64)
        self._update_path_loss()

    def _update_path_loss(self) -> None:
        """Called whenever positions or the cycle change: the path loss follows, the cycle's cached values go."""
        self._forget_cycle()
        self.state.path_loss_db = self._path_loss(self.state.position_m)

    def _forget_cycle(self) -> None:
        """Drop what was cached for the coming cycle (its default rates, scheduled gain and D2D links)."""
        self.revision += 1
        self._default_rates = None
        self._outdated_gain = None
        self._d2d_fresh[:] = False

    def d2d_links(self) -> D2DLinks:
        """The learners' D2D links in the coming cycle (:class:`~mel_gym.world.d2d.D2DLinks`: neighbour lists, gains),
        at their current positions.

        Raises:
            ValueError: the scenario has no D2D links (scenario key ``d2d.enabled`` is false).
        """
        if self.d2d is None:
            raise ValueError("this world has no D2D links: set scenario key 'd2d.enabled' to true")
        stale = np.flatnonzero(~self._d2d_fresh)
        if stale.size:
            self.d2d.update(stale.tolist(), self.state.position_m, self.state.cycle)
            self._d2d_fresh[stale] = True
        return self.d2d

    def _path_loss(self, position_m: np.ndarray) -> np.ndarray:
        return self.path_loss_model.db(position_m, self.state.orchestrator_m)

    def fly_orchestrator(self, velocity_mps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """After a cycle, a drone orchestrator flies at ``velocity_mps`` (n_envs, 2; speed at most
        drone.max_speed_mps) for the time to the next cycle (period - T) and hovers there. A flight whose end would
        lie outside the area is pulled radially back onto its edge, at the (lower) speed that gets there. Its
        battery pays the period's propulsion energy: hovering through the cycle just run and the flight,
        P(0) T + P(V) (period - T) (:class:`~mel_gym.world.aerial.Rotorcraft`); the flight that empties it is
        flown in full (a landing reserve) and charged what was left; a drone with an empty battery stays where it
        is. Returns (mean propulsion power W, energy J), each (n_envs,)."""
        s, st = self.scenario, self.state
        flight_s, hover_s = s.period_s - s.cycle_deadline_s, s.cycle_deadline_s
        velocity = np.where(st.orchestrator_battery_j[:, None] > 0, np.asarray(velocity_mps, dtype=np.float64), 0.0)
        if flight_s > 0:
            target = clip_to_disc(st.orchestrator_m[:, :2] + velocity * flight_s, s.area_radius_m)
            velocity = (target - st.orchestrator_m[:, :2]) / flight_s
        else:
            target, velocity = st.orchestrator_m[:, :2], np.zeros_like(velocity)
        speed = np.hypot(velocity[:, 0], velocity[:, 1])
        energy = self.rotorcraft.power_w(speed) * flight_s + self.rotorcraft.hover_power_w * hover_s
        energy = np.minimum(np.where(st.orchestrator_battery_j > 0, energy, 0.0), st.orchestrator_battery_j)
        st.orchestrator_battery_j = st.orchestrator_battery_j - energy
        st.orchestrator_velocity_mps = velocity
        self.move(orchestrator_m=np.column_stack([target, st.orchestrator_m[:, 2]]))
        return energy / s.period_s, energy

    # ---------------------------------------------------------------- derived quantities
    @property
    def in_coverage(self) -> np.ndarray:
        """(n_envs, K) bool: learners within coverage (ground distance to the orchestrator <= its range)."""
        radius = self.scenario.coverage_radius_m * (1.0 + DEADLINE_RTOL)  # placement's edge is inside
        return ground_distance_m(self.state.position_m, self.state.orchestrator_m) <= radius

    @property
    def available(self) -> np.ndarray:
        """(n_envs, K) bool: learners that can take part: battery left, within coverage and not reported frozen."""
        return self.can_work & self.in_coverage

    @property
    def can_work(self) -> np.ndarray:
        """(n_envs, K) bool: learners with battery left and not reported frozen, wherever they are (a learner out of
        coverage can still work and relay over D2D links: MultiHop-v0)."""
        return self.state.alive & (self.cpu_share[self.measured.cpu_state] > 0)

    def channel_gain(self) -> np.ndarray:
        """(n_envs, K) true linear power gain of the coming cycle (the same in both directions)."""
        st = self.state
        return channel_power_gain(st.path_loss_db, st.shadowing_db, st.fading_power)

    def large_scale_gain(self) -> np.ndarray:
        """(n_envs, K) true large-scale (mean) power gain of the coming cycle, linear: path loss and shadowing,
        without the small-scale fading; the packet errors' mean SNR is taken on it."""
        st = self.state
        return channel_power_gain(st.path_loss_db, st.shadowing_db, 1.0)

    def moved_since_measurement(self) -> np.ndarray:
        """(n_envs, K) distance each learner moved since the orchestrator's last measurement, metres (known:
        learners report their positions)."""
        return np.linalg.norm(self.state.position_m - self.measured.position_m, axis=-1)

    def coming_fading_correlation(self) -> np.ndarray:
        """(n_envs, K) correlation rho between the measured complex fading gain and the coming cycle's:
        :meth:`fading_correlation` of :meth:`moved_since_measurement` (the rho the world's update used)."""
        return self.fading_correlation(self.moved_since_measurement())

    def measured_gain(self) -> np.ndarray:
        """(n_envs, K) the gain the orchestrator schedules (plans) with, linear. Under perfect CSI the true one.

        Under outdated CSI, what it can predict of the coming cycle from its last measurement: the large-scale gain
        at the learner's current position, 10^(-(PL_dB(now) - X_measured_dB)/10), times the p-quantile of the coming
        fading power given the measured complex gain (p = ``channel.target_outage``), less ``channel.rate_margin_db``:

        - Gauss-Markov fading: :func:`~mel_gym.world.dynamics.fading_power_quantile` of the measured h and
          :meth:`coming_fading_correlation` (a static learner, rho = 1, gets its measured |h|^2);
        - i.i.d. Rayleigh fading: -ln(1 - p), the quantile of Exp(1);
        - no fading: 1.

        So a learner whose shadowing stands still fails its schedule with probability p; shadowing that follows
        a walking learner adds its own misses. Cached for the cycle (rates, outages and the predictor all ask)."""
        if not self.outdated_csi:
            return self.channel_gain()
        if self._outdated_gain is None:
            ch, m = self.scenario.channel, self.measured
            if ch.fading == "gauss-markov":
                fading = dynamics.fading_power_quantile(ch.target_outage, m.fading_gain,
                                                        self.coming_fading_correlation())
            elif ch.fading == "rayleigh":
                fading = -np.log1p(-ch.target_outage)
            else:
                fading = 1.0
            large = channel_power_gain(self.state.path_loss_db, m.shadowing_db, 1.0)
            self._outdated_gain = large * fading * db_to_linear(-ch.rate_margin_db)
            self._outdated_gain.setflags(write=False)
        return self._outdated_gain

    def rates_bps(self, tx_power_w: np.ndarray | None = None, bandwidth_hz: np.ndarray | None = None,
                  ) -> tuple[np.ndarray, np.ndarray]:
        """(downlink, uplink) rates of the coming cycle's schedule, bit/s, each (n_envs, K): Shannon rates of the
        gain the orchestrator plans with (:meth:`measured_gain`), the downlink at the orchestrator's power, the
        uplink at ``tx_power_w`` (default: the scenario's learner power), both on ``bandwidth_hz`` (default:
        the scenario's W). Under outdated CSI a link runs at this rate or fails (:meth:`link_outage`)."""
        if tx_power_w is None and bandwidth_hz is None:
            if self._default_rates is None:
                self._default_rates = self._rates(self.tx_power_w, self.default_bandwidth_hz)
                for rate in self._default_rates:
                    rate.setflags(write=False)  # shared by every caller of this cycle
            return self._default_rates
        power = self.tx_power_w if tx_power_w is None else tx_power_w
        bandwidth = self.default_bandwidth_hz if bandwidth_hz is None else bandwidth_hz
        return self._rates(power, bandwidth)

    def _rates(self, power: np.ndarray | float, bandwidth: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        return link_rates_bps(bandwidth, power, self.orchestrator_power_w, self.measured_gain(),
                              self.noise_psd_w_per_hz)

    def packet_error_probability(self, mean_gain: np.ndarray, tx_power_w: np.ndarray | float | None = None,
                                 bandwidth_hz: np.ndarray | float | None = None) -> np.ndarray:
        """Per-learner probability that an upload is lost to a packet error (shape of ``mean_gain``, e.g.
        (n_envs, K)): q = 1 - exp(-m W N0 / (P gbar)) at the link's mean SNR P gbar / (N0 W), gbar = ``mean_gain``
        the large-scale gain (path loss and shadowing, no small-scale fading: q is already averaged over the
        Rayleigh fading), P = ``tx_power_w`` (W, default the scenario's learner power), W = ``bandwidth_hz`` (Hz,
        default the scenario's) and m = ``channel.packet_error_threshold`` (0 without one)."""
        threshold = self.scenario.channel.packet_error_threshold
        if threshold is None:
            return np.zeros(np.shape(mean_gain))
        power = self.tx_power_w if tx_power_w is None else np.asarray(tx_power_w, dtype=np.float64)
        bandwidth = self.default_bandwidth_hz if bandwidth_hz is None else np.asarray(bandwidth_hz, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            snr = np.nan_to_num(power * mean_gain / (self.noise_psd_w_per_hz * bandwidth), nan=0.0)
        return dynamics.packet_error_probability(snr, threshold)

    def outage_probability(self, tx_power_w: np.ndarray | None = None,
                           bandwidth_hz: np.ndarray | None = None) -> np.ndarray:
        """(n_envs, K) probability that a learner's exchange fails in the coming cycle, given its true state: 1 out
        of coverage or, under outdated CSI, with a true gain below the scheduled one (:meth:`measured_gain`); else
        the packet-error probability q at its true large-scale gain (:meth:`packet_error_probability`)."""
        fails_for_sure = ~self.in_coverage
        if self.outdated_csi:
            fails_for_sure |= self.channel_gain() < self.measured_gain() * (1.0 - DEADLINE_RTOL)
        return np.where(fails_for_sure, 1.0,
                        self.packet_error_probability(self.large_scale_gain(), tx_power_w, bandwidth_hz))

    def link_outage(self, tx_power_w: np.ndarray | None = None, bandwidth_hz: np.ndarray | None = None) -> np.ndarray:
        """(n_envs, K) bool: whose exchange fails in the coming cycle: the cycle's draw U[0, 1) falls below its
        :meth:`outage_probability` (out of coverage, a gain short of the schedule, or a packet error)."""
        return self.state.link_draw < self.outage_probability(tx_power_w, bandwidth_hz)

    def cpu_available_hz(self, reported: bool = True) -> np.ndarray:
        """(n_envs, K) the CPU frequency each learner can give the job, Hz: its own times the share of its
        computing-service state, as it last reported it (what the orchestrator plans with) or as it really is
        in the coming cycle (``reported=False``)."""
        state = self.measured.cpu_state if reported else self.state.cpu_state
        return self.state.cpu_hz * self.cpu_share[state]

    def compute_dropped(self) -> np.ndarray:
        """(n_envs, K) bool: learners whose CPU share in the coming cycle is below what they reported."""
        return self.cpu_share[self.state.cpu_state] < self.cpu_share[self.measured.cpu_state]

    def drain(self, energy_j: np.ndarray) -> None:
        """Take ``energy_j`` (n_envs, K, at most what is left) from the batteries; a battery within rounding of
        empty is empty (the learner has left)."""
        st = self.state
        left = st.battery_j - energy_j
        st.battery_j = np.where(np.isfinite(left) & (left <= st.battery_j * DEADLINE_RTOL), 0.0, left)
