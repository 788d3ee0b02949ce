"""The batched physical world: learner positions, channels, CPUs and batteries for n_envs x K learners.

State and parameters are separate: :class:`World` holds the scenario-derived constants and the current
:class:`WorldState`; every random draw comes from the per-env numpy generators passed in, so that env i's
trajectory depends only on env i's seed (sub-env i of a batch equals a single env with the same seed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mel_gym.config import Scenario
from mel_gym.world.placement import sample_annulus_positions
from mel_gym.world.radio import (
    channel_power_gain,
    dbm_to_watt,
    path_loss_db_3gpp,
    path_loss_db_power_law,
    shannon_rate_bps,
)


@dataclass
class WorldState:
    """Arrays with leading axes (n_envs, K) unless noted."""

    position_m: np.ndarray  # (n_envs, K, 2) metres, orchestrator at the origin
    path_loss_db: np.ndarray  # large-scale loss, fixed over an episode
    shadowing_db: np.ndarray  # log-normal shadowing, fixed over an episode
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
        return np.linalg.norm(self.position_m, axis=-1)


class World:
    """Physics of one scenario for a batch of ``n_envs`` independent worlds of K learners."""

    def __init__(self, scenario: Scenario, n_envs: int):
        self.scenario = scenario
        self.n_envs = n_envs
        self.num_learners = scenario.num_learners
        ch = scenario.channel
        self.default_tx_power_w = float(dbm_to_watt(ch.tx_power_dbm))
        self.default_bandwidth_hz = float(ch.bandwidth_hz)
        self.noise_psd_w_per_hz = float(dbm_to_watt(ch.noise_psd_dbm_per_hz))
        self.max_cpu_hz = float(max(scenario.compute.cpu_freqs_hz))
        self.state = WorldState.empty(n_envs, self.num_learners)

    # ---------------------------------------------------------------- randomness
    def reset(self, env_ids: Sequence[int], rngs: Sequence[np.random.Generator]) -> None:
        """Draw a fresh world for each env in ``env_ids`` from its generator (same order, one each)."""
        s, K, st = self.scenario, self.num_learners, self.state
        for i, rng in zip(env_ids, rngs):
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
        ids = np.asarray(env_ids, dtype=np.int64)
        st.path_loss_db[ids] = self._path_loss_db(np.linalg.norm(st.position_m[ids], axis=-1))

    def advance(self, rngs: Sequence[np.random.Generator]) -> None:
        """End of a cycle for every env: count it and redraw block fading for the next one."""
        for i, rng in enumerate(rngs):
            self.state.fading_power[i] = self._draw_fading(rng)
        self.state.cycle += 1

    def _draw_fading(self, rng: np.random.Generator) -> np.ndarray:
        if self.scenario.channel.fading == "rayleigh":
            return rng.exponential(1.0, size=self.num_learners)
        return np.ones(self.num_learners)

    def _path_loss_db(self, distance_m: np.ndarray) -> np.ndarray:
        ch = self.scenario.channel
        if ch.path_loss_model == "3gpp":
            return path_loss_db_3gpp(distance_m)
        return path_loss_db_power_law(distance_m, ch.power_law_gain_db, ch.power_law_exponent)

    # ---------------------------------------------------------------- derived quantities
    def channel_gain(self) -> np.ndarray:
        """(n_envs, K) linear power gain of the current cycle."""
        st = self.state
        return channel_power_gain(st.path_loss_db, st.shadowing_db, st.fading_power)

    def rate_bps(self, tx_power_w: np.ndarray | None = None, bandwidth_hz: np.ndarray | None = None) -> np.ndarray:
        """(n_envs, K) Shannon rate of the current cycle, bit/s (same in both directions)."""
        power = self.default_tx_power_w if tx_power_w is None else tx_power_w
        bandwidth = self.default_bandwidth_hz if bandwidth_hz is None else bandwidth_hz
        return shannon_rate_bps(bandwidth, power, self.channel_gain(), self.noise_psd_w_per_hz)

    def drain(self, energy_j: np.ndarray) -> np.ndarray:
        """Take ``energy_j`` (n_envs, K) from the batteries; return who ran dry during this cycle."""
        st = self.state
        depleted = energy_j > st.battery_j
        st.battery_j = np.where(depleted, 0.0, st.battery_j - energy_j)
        return depleted
