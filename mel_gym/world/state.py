"""The batched physical world: positions, channels, CPUs and batteries of n_envs x K learners and their orchestrator.

State and parameters are separate: :class:`World` holds the scenario-derived constants and the current
:class:`WorldState`; every random draw comes from the per-env numpy generators passed in, so that env i's
trajectory depends only on env i's seed (sub-env i of a batch equals a single env with the same seed).

Geometry is live: learners and the orchestrator have positions that a decision may change
(:meth:`World.move`), and the path loss is derived from the current distances every cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mel_gym.config import Scenario
from mel_gym.world.costs import DEADLINE_RTOL
from mel_gym.world.placement import sample_annulus_positions
from mel_gym.world.radio import channel_power_gain, dbm_to_watt, link_rates_bps, path_loss_db


@dataclass
class WorldState:
    """Arrays with leading axes (n_envs, K) unless noted."""

    position_m: np.ndarray  # (n_envs, K, 2) learners on the ground plane, metres
    orchestrator_m: np.ndarray  # (n_envs, 3) orchestrator x, y and antenna height, metres
    path_loss_db: np.ndarray  # large-scale loss at the current distances
    shadowing_db: np.ndarray  # log-normal shadowing, drawn per episode
    fading_power: np.ndarray  # |h|^2 of the current cycle (Rayleigh: Exp(1)), known at decision time
    cpu_hz: np.ndarray  # CPU frequency
    battery_j: np.ndarray  # remaining energy (inf when batteries are disabled)
    battery_capacity_j: np.ndarray  # full battery (inf when disabled)
    cycle: np.ndarray  # (n_envs,) global cycles run since reset

    @classmethod
    def empty(cls, n_envs: int, num_learners: int) -> "WorldState":
        z = np.zeros((n_envs, num_learners))
        return cls(
            position_m=np.zeros((n_envs, num_learners, 2)),
            orchestrator_m=np.zeros((n_envs, 3)),
            path_loss_db=z.copy(),
            shadowing_db=z.copy(),
            fading_power=np.ones_like(z),
            cpu_hz=np.ones_like(z),
            battery_j=np.full_like(z, np.inf),
            battery_capacity_j=np.full_like(z, np.inf),
            cycle=np.zeros(n_envs, dtype=np.int64),
        )

    @property
    def alive(self) -> np.ndarray:
        """(n_envs, K) bool: learners whose battery is not empty."""
        return self.battery_j > 0

    @property
    def distance_m(self) -> np.ndarray:
        """(n_envs, K) distance from each learner to its orchestrator's antenna (3-D), metres."""
        ground = self.position_m - self.orchestrator_m[:, None, :2]
        return np.sqrt(np.sum(ground**2, axis=-1) + self.orchestrator_m[:, None, 2] ** 2)


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
        self.state = WorldState.empty(n_envs, self.num_learners)
        self._default_rates: tuple[np.ndarray, np.ndarray] | None = None  # at default resources, this cycle

    # ---------------------------------------------------------------- randomness
    def reset(self, env_ids: Sequence[int], rngs: Sequence[np.random.Generator]) -> None:
        """Draw a fresh world for each env in ``env_ids`` from its generator (same order, one each)."""
        s, K, st = self.scenario, self.num_learners, self.state
        for i, rng in zip(env_ids, rngs):
            st.orchestrator_m[i] = (0.0, 0.0, s.orchestrator.height_m)
            st.position_m[i] = sample_annulus_positions(rng, K, s.placement.min_distance_m, s.placement.max_distance_m)
            st.shadowing_db[i] = rng.normal(0.0, s.channel.shadowing_std_db, size=K)
            st.cpu_hz[i] = rng.choice(np.asarray(s.compute.cpu_freqs_hz, dtype=np.float64), size=K)
            if s.battery_enabled:
                st.battery_capacity_j[i] = rng.uniform(s.energy.battery_min_j, s.energy.battery_max_j, size=K)
            else:
                st.battery_capacity_j[i] = np.inf
            st.battery_j[i] = st.battery_capacity_j[i]
            st.fading_power[i] = self._draw_fading(rng)
            st.cycle[i] = 0
        self._update_path_loss()

    def advance(self, rngs: Sequence[np.random.Generator]) -> None:
        """End of a cycle for every env: count it and redraw block fading for the next one."""
        for i, rng in enumerate(rngs):
            self.state.fading_power[i] = self._draw_fading(rng)
        self.state.cycle += 1
        self._update_path_loss()

    def move(self, learner_position_m: np.ndarray | None = None, orchestrator_m: np.ndarray | None = None) -> None:
        """Put the learners (n_envs, K, 2) and/or the orchestrator (n_envs, 3) at new positions (metres);
        the path loss follows the new distances."""
        if learner_position_m is not None:
            self.state.position_m = np.array(learner_position_m, dtype=np.float64)
        if orchestrator_m is not None:
            self.state.orchestrator_m = np.array(orchestrator_m, dtype=np.float64)
        self._update_path_loss()

    def _draw_fading(self, rng: np.random.Generator) -> np.ndarray:
        if self.scenario.channel.fading == "rayleigh":
            return rng.exponential(1.0, size=self.num_learners)
        return np.ones(self.num_learners)

    def _update_path_loss(self) -> None:
        """Called whenever positions or the cycle change: the path loss follows, the cached rates go."""
        self._default_rates = None
        ch = self.scenario.channel
        self.state.path_loss_db = path_loss_db(self.state.distance_m, ch.path_loss_model, ch.carrier_hz,
                                               ch.power_law_gain_db, ch.power_law_exponent)

    # ---------------------------------------------------------------- derived quantities
    def channel_gain(self) -> np.ndarray:
        """(n_envs, K) linear power gain of the current cycle (the same in both directions)."""
        st = self.state
        return channel_power_gain(st.path_loss_db, st.shadowing_db, st.fading_power)

    def rates_bps(self, tx_power_w: np.ndarray | None = None,
                  bandwidth_hz: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(downlink, uplink) Shannon rates of the current cycle, bit/s, each (n_envs, K): the downlink at the
        orchestrator's power, the uplink at ``tx_power_w`` (default: the scenario's learner power), both on
        ``bandwidth_hz`` (default: the scenario's W)."""
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
        return link_rates_bps(bandwidth, power, self.orchestrator_power_w, self.channel_gain(), self.noise_psd_w_per_hz)

    def drain(self, energy_j: np.ndarray) -> None:
        """Take ``energy_j`` (n_envs, K, at most what is left) from the batteries; a battery within rounding of
        empty is empty (the learner has left)."""
        st = self.state
        left = st.battery_j - energy_j
        st.battery_j = np.where(np.isfinite(left) & (left <= st.battery_j * DEADLINE_RTOL), 0.0, left)
