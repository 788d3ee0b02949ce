"""The flat observation of the task-allocation envs, and its documented decoder.

Layout (K learners; each per-learner feature is a block of K values, learner order):

| block | feature             | value                                             | unit of the raw quantity  |
|-------|---------------------|---------------------------------------------------|---------------------------|
| 0     | uplink efficiency   | R_k^up / W / 10: learner -> orchestrator rate of the coming cycle at the learner's default power and W | bit/s/Hz |
| 1     | downlink efficiency | R_k^down / W / 10: orchestrator -> learner rate at the orchestrator's power and W | bit/s/Hz |
| 2     | CPU                 | f_k / max CPU frequency of the scenario           | Hz                        |
| 3     | log capacity        | ln(c_k / (d/K)) / beta clipped to [-2, 2], c_k = (T - C0_k) / (C2_k tau_ref + C1_k) | samples |
| 4     | battery             | remaining / the scenario's largest capacity (1 without batteries; 0 = left) | J |
| 5     | x position          | x_k / area radius (the cell, or the larger mobility area; origin: the cell centre) | m |
| 6     | y position          | y_k / area radius                                 | m                         |
| 7     | previous share      | d_k / d of the last cycle (0 after reset)         | samples                   |
| 8     | task cap            | largest d_k / d (1 in PL; local data / d in FL)   | samples                   |
| 9     | x velocity          | v_x / the scenario's top speed (0 for static learners) | m/s                  |
| 10    | y velocity          | v_y / the scenario's top speed                    | m/s                       |
| 11    | in coverage         | 1 if within the cell, else 0 (cannot take part)   |                           |
| 12    | outage probability  | predicted probability that the learner's link fails in the coming cycle |     |
| 13    | compute drop prob.  | predicted probability that its CPU share drops in the coming cycle |          |
| 14K   | cycle               | cycles run / horizon                              |                           |
| 14K+1 | test loss           | last test loss / ln(classes), clipped at 10       | nats                      |
| 14K+2 | test accuracy       | last test accuracy                                |                           |

A mobile (drone) orchestrator adds five globals (DroneOrchestrator-v0; ``ObservationCodec.mobile_orchestrator``):

| index | feature               | value                                                  | unit of the raw quantity |
|-------|-----------------------|--------------------------------------------------------|--------------------------|
| 14K+3 | orchestrator x        | x / area radius (where the drone is for the coming cycle) | m                     |
| 14K+4 | orchestrator y        | y / area radius                                        | m                        |
| 14K+5 | orchestrator x velocity | v_x / the drone's top speed (its last flight)        | m/s                      |
| 14K+6 | orchestrator y velocity | v_y / the drone's top speed                          | m/s                      |
| 14K+7 | orchestrator battery  | propulsion energy left / the full battery (1 without one) | J                     |

A scenario with concept drift (``drift.model`` not ``none``; docs/drift.md) adds, after those, the test losses
observed at the ``drift.history_cycles`` = H earlier decisions, newest first (``test_loss_lag1`` .. ``lagH``: loss /
ln(classes), clipped at 10, like the test loss; at the episode's start the first loss), and with ``drift.reveal``
(non-causal: for bounds only) the cycles since the last drift (or since the episode began) / horizon.

The log capacity is derived from the rate and CPU blocks (it adds no information): how many samples learner
k could finish in one cycle at a reference tau_ref = max_local_iterations / 4, relative to an equal share,
on the scale of the action map. It is the feature the HA-Sync optimiser computes, given to learning agents
because an MLP learns it slowly; -2 marks a learner that cannot even exchange the model. beta is the share
map's ``action_beta`` (3 for envs without a share action). The rate and CPU blocks show what the
orchestrator plans with: under outdated CSI the rates of the gain measured at the end of the last cycle
(less the scenario's rate margin), and each learner's CPU as it last reported it (throttled: a share,
frozen: 0). The last two blocks are the predictor's (:mod:`mel_gym.world.prediction`, docs/dynamics.md).

:class:`ObservationCodec` encodes and decodes this layout; baselines decide from the decoded arrays only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from mel_gym.world.prediction import failure_probability

PER_LEARNER_FEATURES = (
    "uplink_efficiency", "downlink_efficiency", "cpu", "log_capacity", "battery", "x", "y", "previous_share", "task_caps",
    "vx", "vy", "in_coverage", "outage_probability", "compute_drop_probability",
)
_BLOCK = {name: j for j, name in enumerate(PER_LEARNER_FEATURES)}
LOG_CAPACITY_CLIP = 2.0
GLOBAL_FEATURES = ("cycle", "test_loss", "test_accuracy")
#: Globals added by a mobile orchestrator.
ORCHESTRATOR_FEATURES = ("orchestrator_x", "orchestrator_y", "orchestrator_vx", "orchestrator_vy",
                         "orchestrator_battery")
SPECTRAL_EFFICIENCY_SCALE = 10.0  # bit/s/Hz
#: log2(1 + SNR) <= 1024 for any float64 SNR, so the spectral-efficiency feature never exceeds this.
SPECTRAL_EFFICIENCY_MAX = 1024.0 / SPECTRAL_EFFICIENCY_SCALE
#: The test-loss feature is clipped here (a loss of 10 ln(classes) nats is a diverged model).
LOSS_FEATURE_MAX = 10.0


def loss_bound_nats(num_classes: int | np.ndarray) -> float | np.ndarray:
    """The largest test loss the envs report or reward: 10 ln(classes) nats, ten times a uniform guess's (per job
    where ``num_classes`` is an array)."""
    return LOSS_FEATURE_MAX * (math.log(num_classes) if np.ndim(num_classes) == 0 else np.log(num_classes))


def bounded_loss(loss: np.ndarray, num_classes: int | np.ndarray) -> np.ndarray:
    """Test loss clipped to [0, :func:`loss_bound_nats`]; NaN and inf (a diverged model) become the bound
    (``num_classes`` per job where it is an array broadcasting against ``loss``)."""
    bound = loss_bound_nats(num_classes)
    return np.clip(np.nan_to_num(np.asarray(loss, dtype=np.float64), nan=bound, posinf=bound), 0.0, bound)


@dataclass
class DecodedObservation:
    """Named arrays recovered from observations of shape (..., size); per-learner arrays are (..., K)."""

    rate_up_bps: np.ndarray  # learner -> orchestrator, at the learner's default power and bandwidth
    rate_down_bps: np.ndarray  # orchestrator -> learner, at the orchestrator's power and the default bandwidth
    cpu_hz: np.ndarray
    battery_fraction: np.ndarray
    battery_j: np.ndarray  # remaining energy (inf without batteries)
    position_m: np.ndarray  # (..., K, 2)
    previous_share: np.ndarray
    task_caps: np.ndarray  # samples
    velocity_mps: np.ndarray  # (..., K, 2)
    in_coverage: np.ndarray  # bool
    outage_probability: np.ndarray  # predicted P(the learner's link fails in the coming cycle)
    compute_drop_probability: np.ndarray  # predicted P(its CPU share drops in the coming cycle)
    cycle: np.ndarray  # (...,) cycles run
    test_loss: np.ndarray  # (...,) nats
    test_accuracy: np.ndarray  # (...,)
    orchestrator_m: np.ndarray  # (..., 3) x, y, antenna height (a fixed orchestrator: at the origin)
    orchestrator_velocity_mps: np.ndarray  # (..., 2) a drone's last flight velocity (0 for a fixed one)
    orchestrator_battery_fraction: np.ndarray  # (...,) a drone's propulsion energy left / full (1: no battery)
    loss_history: np.ndarray | None = None  # (..., H) test losses of the H earlier decisions, newest first, nats
    cycles_since_drift: np.ndarray | None = None  # (...,) revealed drifts only (non-causal); None: not observed

    @property
    def available(self) -> np.ndarray:
        """Learners that can take part: battery left, within coverage and a CPU that is not frozen."""
        return (self.battery_fraction > 0) & self.in_coverage & (self.cpu_hz > 0)

    @property
    def failure_probability(self) -> np.ndarray:
        """Predicted P(the learner's result is lost in the coming cycle)
        (:func:`mel_gym.world.prediction.failure_probability`)."""
        return failure_probability(self.outage_probability, self.compute_drop_probability)


@dataclass(frozen=True)
class ObservationCodec:
    """Scenario constants that scale the observation (see the module table)."""

    num_learners: int
    bandwidth_hz: float
    max_cpu_hz: float
    area_radius_m: float  # scales positions: the cell or the larger mobility area
    max_speed_mps: float  # scales velocities
    samples_per_cycle: int
    max_task_cap: int
    horizon_cycles: int
    num_classes: int
    action_beta: float
    battery_scale_j: float | None = None  # the scenario's largest battery capacity; None = no batteries
    orchestrator_height_m: float = 0.0
    mobile_orchestrator: bool = False  # adds ORCHESTRATOR_FEATURES
    orchestrator_max_speed_mps: float = 1.0  # scales the drone's velocity
    orchestrator_battery_j: float | None = None  # scales the drone's battery; None = no battery
    loss_history: int = 0  # H: earlier test losses observed (concept drift)
    reveals_drift: bool = False  # adds the cycles since the last drift (non-causal)

    @property
    def global_features(self) -> tuple[str, ...]:
        """Names of the global (not per-learner) entries, in order."""
        return (GLOBAL_FEATURES + (ORCHESTRATOR_FEATURES if self.mobile_orchestrator else ())
                + tuple(f"test_loss_lag{h + 1}" for h in range(self.loss_history))
                + (("cycles_since_drift",) if self.reveals_drift else ()))

    @property
    def drift_offset(self) -> int:
        """Index, among the globals, of the first concept-drift entry (the earlier test losses)."""
        return len(self.global_features) - self.loss_history - int(self.reveals_drift)

    def loss_feature(self, loss_nats: np.ndarray) -> np.ndarray:
        """The test-loss feature of losses in nats: loss / ln(classes), bounded (:func:`bounded_loss`)."""
        return bounded_loss(loss_nats, self.num_classes) / math.log(self.num_classes)

    @property
    def size(self) -> int:
        return len(PER_LEARNER_FEATURES) * self.num_learners + len(self.global_features)

    def space(self) -> spaces.Box:
        """Box with the tightest bounds known in advance."""
        K = self.num_learners
        low = np.zeros(self.size, dtype=np.float32)
        high = np.zeros(self.size, dtype=np.float32)

        def bounds(name: str, lo: float, hi: float) -> None:
            j = _BLOCK[name]
            low[j * K : (j + 1) * K], high[j * K : (j + 1) * K] = lo, hi

        bounds("uplink_efficiency", 0.0, SPECTRAL_EFFICIENCY_MAX)
        bounds("downlink_efficiency", 0.0, SPECTRAL_EFFICIENCY_MAX)
        bounds("cpu", 0.0, 1.0)
        bounds("log_capacity", -LOG_CAPACITY_CLIP, LOG_CAPACITY_CLIP)
        bounds("battery", 0.0, 1.0)
        bounds("x", -1.0, 1.0)
        bounds("y", -1.0, 1.0)
        bounds("previous_share", 0.0, 1.0)
        bounds("task_caps", 0.0, self.max_task_cap / self.samples_per_cycle)
        bounds("vx", -1.0, 1.0)
        bounds("vy", -1.0, 1.0)
        bounds("in_coverage", 0.0, 1.0)
        bounds("outage_probability", 0.0, 1.0)
        bounds("compute_drop_probability", 0.0, 1.0)
        g = len(PER_LEARNER_FEATURES) * K
        high[g] = 1.0  # cycle
        high[g + 1] = LOSS_FEATURE_MAX
        high[g + 2] = 1.0  # accuracy
        if self.mobile_orchestrator:
            low[g + 3 : g + 7], high[g + 3 : g + 7] = -1.0, 1.0  # position, velocity
            high[g + 7] = 1.0  # battery
        drift = g + self.drift_offset
        high[drift : drift + self.loss_history] = LOSS_FEATURE_MAX
        if self.reveals_drift:
            high[-1] = 1.0
        return spaces.Box(low=low, high=high, dtype=np.float32)

    def encode(
        self,
        rate_down_bps: np.ndarray,
        rate_up_bps: np.ndarray,
        cpu_hz: np.ndarray,
        capacity: np.ndarray,
        battery_j: np.ndarray,
        position_m: np.ndarray,
        previous_share: np.ndarray,
        task_caps: np.ndarray,
        velocity_mps: np.ndarray,
        in_coverage: np.ndarray,
        outage_probability: np.ndarray,
        compute_drop_probability: np.ndarray,
        cycle: np.ndarray,
        test_loss: np.ndarray,
        test_accuracy: np.ndarray,
        orchestrator_m: np.ndarray | None = None,
        orchestrator_velocity_mps: np.ndarray | None = None,
        orchestrator_battery_j: np.ndarray | None = None,
        loss_history: np.ndarray | None = None,
        cycles_since_drift: np.ndarray | None = None,
    ) -> np.ndarray:
        """(n, size) float32 from per-learner (n, K) arrays (positions, velocities (n, K, 2)) and per-env (n,)
        arrays; a mobile orchestrator's position (n, 3), velocity (n, 2) and battery (n,) J; with concept drift the
        earlier test losses (n, H) nats and, where revealed, the cycles since the last drift (n,).

        ``capacity`` is c_k in samples (see the module table), ``battery_j`` the remaining energy in J.
        """
        battery = np.ones_like(battery_j) if self.battery_scale_j is None else battery_j / self.battery_scale_j
        with np.errstate(divide="ignore"):
            log_capacity = np.log(capacity / (self.samples_per_cycle / self.num_learners)) / self.action_beta
        per_learner = [
            rate_up_bps / self.bandwidth_hz / SPECTRAL_EFFICIENCY_SCALE,
            rate_down_bps / self.bandwidth_hz / SPECTRAL_EFFICIENCY_SCALE,
            cpu_hz / self.max_cpu_hz,
            np.clip(log_capacity, -LOG_CAPACITY_CLIP, LOG_CAPACITY_CLIP),
            battery,
            position_m[..., 0] / self.area_radius_m,
            position_m[..., 1] / self.area_radius_m,
            previous_share,
            task_caps / self.samples_per_cycle,
            np.clip(velocity_mps[..., 0] / self.max_speed_mps, -1.0, 1.0),
            np.clip(velocity_mps[..., 1] / self.max_speed_mps, -1.0, 1.0),
            in_coverage.astype(np.float64),
            np.clip(outage_probability, 0.0, 1.0),
            np.clip(compute_drop_probability, 0.0, 1.0),
        ]
        globals_ = [
            np.minimum(cycle / self.horizon_cycles, 1.0),
            self.loss_feature(test_loss),
            test_accuracy,
        ]
        if self.mobile_orchestrator:
            battery = (np.ones(np.shape(cycle)) if self.orchestrator_battery_j is None
                       else orchestrator_battery_j / self.orchestrator_battery_j)
            globals_ += [orchestrator_m[..., 0] / self.area_radius_m, orchestrator_m[..., 1] / self.area_radius_m,
                         np.clip(orchestrator_velocity_mps[..., 0] / self.orchestrator_max_speed_mps, -1.0, 1.0),
                         np.clip(orchestrator_velocity_mps[..., 1] / self.orchestrator_max_speed_mps, -1.0, 1.0),
                         battery]
        globals_ += [self.loss_feature(loss_history[..., h]) for h in range(self.loss_history)]
        if self.reveals_drift:
            globals_.append(np.minimum(cycles_since_drift / self.horizon_cycles, 1.0))
        obs = np.concatenate(per_learner + [np.stack(globals_, axis=-1)], axis=-1)
        return obs.astype(np.float32)

    def decode(self, obs: np.ndarray) -> DecodedObservation:
        """Invert :meth:`encode` for observations of shape (..., size)."""
        obs = np.asarray(obs, dtype=np.float64)
        if obs.shape[-1] != self.size:
            raise ValueError(f"observation has {obs.shape[-1]} entries, expected {self.size} for K={self.num_learners}")
        K = self.num_learners
        block = lambda name: obs[..., _BLOCK[name] * K : (_BLOCK[name] + 1) * K]  # noqa: E731
        g = obs[..., len(PER_LEARNER_FEATURES) * K :]
        if self.mobile_orchestrator:
            xy = g[..., 3:5] * self.area_radius_m
            velocity = g[..., 5:7] * self.orchestrator_max_speed_mps
            drone_battery = g[..., 7]
        else:
            xy, velocity, drone_battery = np.zeros(g.shape[:-1] + (2,)), np.zeros(g.shape[:-1] + (2,)), np.ones(g.shape[:-1])
        orchestrator = np.concatenate([xy, np.full(xy.shape[:-1] + (1,), self.orchestrator_height_m)], axis=-1)
        drift = self.drift_offset
        history = g[..., drift : drift + self.loss_history] * math.log(self.num_classes) if self.loss_history else None
        since = np.round(g[..., -1] * self.horizon_cycles) if self.reveals_drift else None
        return DecodedObservation(
            rate_up_bps=block("uplink_efficiency") * SPECTRAL_EFFICIENCY_SCALE * self.bandwidth_hz,
            rate_down_bps=block("downlink_efficiency") * SPECTRAL_EFFICIENCY_SCALE * self.bandwidth_hz,
            cpu_hz=block("cpu") * self.max_cpu_hz,
            battery_fraction=block("battery"),
            battery_j=(np.full_like(block("battery"), np.inf) if self.battery_scale_j is None
                       else block("battery") * self.battery_scale_j),
            position_m=np.stack([block("x"), block("y")], axis=-1) * self.area_radius_m,
            previous_share=block("previous_share"),
            task_caps=np.round(block("task_caps") * self.samples_per_cycle),
            velocity_mps=np.stack([block("vx"), block("vy")], axis=-1) * self.max_speed_mps,
            in_coverage=block("in_coverage") > 0.5,
            outage_probability=block("outage_probability"),
            compute_drop_probability=block("compute_drop_probability"),
            cycle=np.round(g[..., 0] * self.horizon_cycles),
            test_loss=g[..., 1] * math.log(self.num_classes),
            test_accuracy=g[..., 2],
            orchestrator_m=orchestrator,
            orchestrator_velocity_mps=velocity,
            orchestrator_battery_fraction=drone_battery,
            loss_history=history,
            cycles_since_drift=since,
        )
