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
| 14K+1 | validation loss     | last validation loss / ln(classes), clipped at 10 | nats                      |
| 14K+2 | validation accuracy | last validation accuracy                          |                           |

A mobile (drone) orchestrator adds five globals (DroneOrchestrator-v0; ``ObservationCodec.mobile_orchestrator``):

| index | feature               | value                                                  | unit of the raw quantity |
|-------|-----------------------|--------------------------------------------------------|--------------------------|
| 14K+3 | orchestrator x        | x / area radius (where the drone is for the coming cycle) | m                     |
| 14K+4 | orchestrator y        | y / area radius                                        | m                        |
| 14K+5 | orchestrator x velocity | v_x / the drone's top speed (its last flight)        | m/s                      |
| 14K+6 | orchestrator y velocity | v_y / the drone's top speed                          | m/s                      |
| 14K+7 | orchestrator battery  | propulsion energy left / the full battery (1 without one) | J                     |

A scenario with concept drift (``drift.model`` not ``none``; docs/drift.md) adds, after those, the validation losses
observed at the ``drift.history_cycles`` = H earlier decisions, newest first (``val_loss_lag1`` .. ``lagH``: loss /
ln(classes), clipped at 10, like the validation loss; at the episode's start the first loss), and with ``drift.reveal``
(non-causal: for bounds only) the cycles since the last drift (or since the episode began) / horizon.

The log capacity is derived from the rate and CPU blocks (it adds no information): how many samples learner
k could finish in one cycle at a reference tau_ref = max_local_iterations / 4, relative to an equal share,
on the scale of the action map. It is the feature the HA-Sync optimiser computes, given to learning agents
because an MLP learns it slowly; -2 marks a learner that cannot even exchange the model. beta is the share
map's ``action_beta`` (3 for envs without a share action). The rate and CPU blocks show what the
orchestrator plans with: under outdated CSI the rates of the gain measured at the end of the last cycle
(less the scenario's rate margin), and each learner's CPU as it last reported it (throttled: a share,
frozen: 0). The last two blocks are the predictor's (:mod:`mel_gym.world.prediction`, docs/dynamics.md).

:class:`ObservationCodec` holds the scales and gives the world's feature blocks (:mod:`mel_gym.envs.features`):
:class:`LearnerFeatures` (the 14 per-learner blocks), :class:`CycleFeatures` (the 3 globals), and where the world has
them :class:`DroneFeatures`, :class:`LossHistoryFeatures` and :class:`DriftRevealFeature`, each encoded from one
:class:`WorldSnapshot` the core builds and decoded into :class:`DecodedObservation`; envs that observe more append
their own blocks (MultiJob-v0's jobs, SplitChain-v0's topology). Baselines decide from the decoded arrays only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from gymnasium import spaces

from mel_gym.envs.features import FeatureBlock, FeatureLayout
from mel_gym.world.prediction import failure_probability

PER_LEARNER_FEATURES = (
    "uplink_efficiency", "downlink_efficiency", "cpu", "log_capacity", "battery", "x", "y", "previous_share", "task_caps",
    "vx", "vy", "in_coverage", "outage_probability", "compute_drop_probability",
)
_BLOCK = {name: j for j, name in enumerate(PER_LEARNER_FEATURES)}
LOG_CAPACITY_CLIP = 2.0
GLOBAL_FEATURES = ("cycle", "val_loss", "val_accuracy")
#: Globals added by a mobile orchestrator.
ORCHESTRATOR_FEATURES = ("orchestrator_x", "orchestrator_y", "orchestrator_vx", "orchestrator_vy",
                         "orchestrator_battery")
SPECTRAL_EFFICIENCY_SCALE = 10.0  # bit/s/Hz
#: log2(1 + SNR) <= 1024 for any float64 SNR, so the spectral-efficiency feature never exceeds this.
SPECTRAL_EFFICIENCY_MAX = 1024.0 / SPECTRAL_EFFICIENCY_SCALE
#: The validation-loss feature is clipped here (a loss of 10 ln(classes) nats is a diverged model).
LOSS_FEATURE_MAX = 10.0


def loss_bound_nats(num_classes: int | np.ndarray) -> float | np.ndarray:
    """The largest loss the envs report or reward: 10 ln(classes) nats, ten times a uniform guess's (per job
    where ``num_classes`` is an array)."""
    return LOSS_FEATURE_MAX * (math.log(num_classes) if np.ndim(num_classes) == 0 else np.log(num_classes))


def bounded_loss(loss: np.ndarray, num_classes: int | np.ndarray) -> np.ndarray:
    """A loss (nats) clipped to [0, :func:`loss_bound_nats`]; NaN and inf (a diverged model) become the bound
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
    val_loss: np.ndarray  # (...,) nats
    val_accuracy: np.ndarray  # (...,)
    orchestrator_m: np.ndarray  # (..., 3) x, y, antenna height (a fixed orchestrator: at the origin)
    orchestrator_velocity_mps: np.ndarray  # (..., 2) a drone's last flight velocity (0 for a fixed one)
    orchestrator_battery_fraction: np.ndarray  # (...,) a drone's propulsion energy left / full (1: no battery)
    loss_history: np.ndarray | None = None  # (..., H) validation losses of the H earlier decisions, newest first, nats
    cycles_since_drift: np.ndarray | None = None  # (...,) revealed drifts only (non-causal); None: not observed
    label_share: np.ndarray | None = None  # (..., K, C) each learner's share of each class (redistribution)

    @property
    def available(self) -> np.ndarray:
        """Learners that can take part: battery left, within coverage and a CPU that is not frozen."""
        return self.can_work & self.in_coverage

    @property
    def label_counts(self) -> np.ndarray:
        """(..., K, C) samples of each class each learner holds: its label shares x its pool (FL's task cap)."""
        return np.rint(self.label_share * self.task_caps[..., None])

    @property
    def can_work(self) -> np.ndarray:
        """Learners with battery left and a CPU that is not frozen, wherever they are (relays: MultiHop-v0)."""
        return (self.battery_fraction > 0) & (self.cpu_hz > 0)

    @property
    def failure_probability(self) -> np.ndarray:
        """Predicted P(the learner's result is lost in the coming cycle)
        (:func:`mel_gym.world.prediction.failure_probability`)."""
        return failure_probability(self.outage_probability, self.compute_drop_probability)


@dataclass
class WorldSnapshot:
    """What the orchestrator knows of the coming cycle, as raw quantities: the world blocks' source, built by the
    core (:meth:`mel_gym.envs.core.EnvCore.world_snapshot`). Per-learner arrays (n, K) (positions and velocities
    (n, K, 2)), per-env arrays (n,). Units: bit/s, Hz, samples, J, m, m/s, nats."""

    rate_down_bps: np.ndarray
    rate_up_bps: np.ndarray
    cpu_hz: np.ndarray  # as last reported
    capacity: np.ndarray  # c_k, samples (see the module table)
    battery_j: np.ndarray  # remaining energy
    position_m: np.ndarray
    previous_share: np.ndarray
    task_caps: np.ndarray
    velocity_mps: np.ndarray
    in_coverage: np.ndarray
    outage_probability: np.ndarray
    compute_drop_probability: np.ndarray
    cycle: np.ndarray
    val_loss: np.ndarray
    val_accuracy: np.ndarray
    orchestrator_m: np.ndarray | None = None  # (n, 3), a mobile orchestrator's
    orchestrator_velocity_mps: np.ndarray | None = None  # (n, 2)
    orchestrator_battery_j: np.ndarray | None = None  # (n,)
    loss_history: np.ndarray | None = None  # (n, H) nats, concept drift
    cycles_since_drift: np.ndarray | None = None  # (n,), revealed drift only
    label_share: np.ndarray | None = None  # (n, K, C), redistribution


class _WorldBlock(FeatureBlock):
    """A block of the world's observation, scaled by the codec's constants."""

    def __init__(self, codec: "ObservationCodec"):
        self.c = codec


class LearnerFeatures(_WorldBlock):
    """The 14 per-learner blocks of K values (module table, blocks 0-13)."""

    name = "learners"

    @property
    def size(self) -> int:
        return len(PER_LEARNER_FEATURES) * self.c.num_learners

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        c, K = self.c, self.c.num_learners
        per_feature = {
            "uplink_efficiency": (0.0, SPECTRAL_EFFICIENCY_MAX), "downlink_efficiency": (0.0, SPECTRAL_EFFICIENCY_MAX),
            "cpu": (0.0, 1.0), "log_capacity": (-LOG_CAPACITY_CLIP, LOG_CAPACITY_CLIP), "battery": (0.0, 1.0),
            "x": (-1.0, 1.0), "y": (-1.0, 1.0), "previous_share": (0.0, 1.0),
            "task_caps": (0.0, c.max_task_cap / c.samples_per_cycle), "vx": (-1.0, 1.0), "vy": (-1.0, 1.0),
            "in_coverage": (0.0, 1.0), "outage_probability": (0.0, 1.0), "compute_drop_probability": (0.0, 1.0),
        }
        low = np.repeat([per_feature[n][0] for n in PER_LEARNER_FEATURES], K)
        high = np.repeat([per_feature[n][1] for n in PER_LEARNER_FEATURES], K)
        return low, high

    def encode(self, w: WorldSnapshot) -> np.ndarray:
        c = self.c
        battery = np.ones_like(w.battery_j) if c.battery_scale_j is None else w.battery_j / c.battery_scale_j
        with np.errstate(divide="ignore"):
            log_capacity = np.log(w.capacity / (c.samples_per_cycle / c.num_learners)) / c.action_beta
        return np.concatenate([
            w.rate_up_bps / c.bandwidth_hz / SPECTRAL_EFFICIENCY_SCALE,
            w.rate_down_bps / c.bandwidth_hz / SPECTRAL_EFFICIENCY_SCALE,
            w.cpu_hz / c.max_cpu_hz,
            np.clip(log_capacity, -LOG_CAPACITY_CLIP, LOG_CAPACITY_CLIP),
            battery,
            w.position_m[..., 0] / c.area_radius_m,
            w.position_m[..., 1] / c.area_radius_m,
            w.previous_share,
            w.task_caps / c.samples_per_cycle,
            np.clip(w.velocity_mps[..., 0] / c.max_speed_mps, -1.0, 1.0),
            np.clip(w.velocity_mps[..., 1] / c.max_speed_mps, -1.0, 1.0),
            w.in_coverage.astype(np.float64),
            np.clip(w.outage_probability, 0.0, 1.0),
            np.clip(w.compute_drop_probability, 0.0, 1.0),
        ], axis=-1)

    def decode(self, values: np.ndarray) -> dict[str, np.ndarray]:
        c, K = self.c, self.c.num_learners
        block = lambda name: values[..., _BLOCK[name] * K : (_BLOCK[name] + 1) * K]  # noqa: E731
        return dict(
            rate_up_bps=block("uplink_efficiency") * SPECTRAL_EFFICIENCY_SCALE * c.bandwidth_hz,
            rate_down_bps=block("downlink_efficiency") * SPECTRAL_EFFICIENCY_SCALE * c.bandwidth_hz,
            cpu_hz=block("cpu") * c.max_cpu_hz,
            battery_fraction=block("battery"),
            battery_j=(np.full_like(block("battery"), np.inf) if c.battery_scale_j is None
                       else block("battery") * c.battery_scale_j),
            position_m=np.stack([block("x"), block("y")], axis=-1) * c.area_radius_m,
            previous_share=block("previous_share"),
            task_caps=np.round(block("task_caps") * c.samples_per_cycle),
            velocity_mps=np.stack([block("vx"), block("vy")], axis=-1) * c.max_speed_mps,
            in_coverage=block("in_coverage") > 0.5,
            outage_probability=block("outage_probability"),
            compute_drop_probability=block("compute_drop_probability"),
        )


class CycleFeatures(_WorldBlock):
    """The 3 globals: cycles run / horizon, the validation loss / ln(classes) (clipped at 10), the validation accuracy."""

    name = "cycle"

    @property
    def size(self) -> int:
        return len(GLOBAL_FEATURES)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(3), np.array([1.0, LOSS_FEATURE_MAX, 1.0])

    def encode(self, w: WorldSnapshot) -> np.ndarray:
        c = self.c
        return np.stack([np.minimum(w.cycle / c.horizon_cycles, 1.0), c.loss_feature(w.val_loss), w.val_accuracy],
                        axis=-1)

    def decode(self, values: np.ndarray) -> dict[str, np.ndarray]:
        c = self.c
        return dict(cycle=np.round(values[..., 0] * c.horizon_cycles),
                    val_loss=values[..., 1] * math.log(c.num_classes), val_accuracy=values[..., 2])


class DroneFeatures(_WorldBlock):
    """A mobile orchestrator's 5 globals: position / area radius, velocity / its top speed, battery left / full."""

    name = "drone"

    @property
    def size(self) -> int:
        return len(ORCHESTRATOR_FEATURES)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array([-1.0, -1.0, -1.0, -1.0, 0.0]), np.ones(5)

    def encode(self, w: WorldSnapshot) -> np.ndarray:
        c = self.c
        battery = (np.ones(np.shape(w.cycle)) if c.orchestrator_battery_j is None
                   else w.orchestrator_battery_j / c.orchestrator_battery_j)
        return np.stack([w.orchestrator_m[..., 0] / c.area_radius_m, w.orchestrator_m[..., 1] / c.area_radius_m,
                         np.clip(w.orchestrator_velocity_mps[..., 0] / c.orchestrator_max_speed_mps, -1.0, 1.0),
                         np.clip(w.orchestrator_velocity_mps[..., 1] / c.orchestrator_max_speed_mps, -1.0, 1.0),
                         battery], axis=-1)

    def decode(self, values: np.ndarray) -> dict[str, np.ndarray]:
        c = self.c
        xy = values[..., 0:2] * c.area_radius_m
        orchestrator = np.concatenate([xy, np.full(xy.shape[:-1] + (1,), c.orchestrator_height_m)], axis=-1)
        return dict(orchestrator_m=orchestrator, orchestrator_velocity_mps=values[..., 2:4] * c.orchestrator_max_speed_mps,
                    orchestrator_battery_fraction=values[..., 4])


class LossHistoryFeatures(_WorldBlock):
    """Concept drift: the validation losses of the H earlier decisions, newest first, scaled like the validation loss."""

    name = "loss_history"

    @property
    def size(self) -> int:
        return self.c.loss_history

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(self.size), np.full(self.size, LOSS_FEATURE_MAX)

    def encode(self, w: WorldSnapshot) -> np.ndarray:
        return np.stack([self.c.loss_feature(w.loss_history[..., h]) for h in range(self.size)], axis=-1)

    def decode(self, values: np.ndarray) -> dict[str, np.ndarray]:
        return dict(loss_history=values * math.log(self.c.num_classes))


class DriftRevealFeature(_WorldBlock):
    """Revealed drift (non-causal, for bounds): the cycles since the last drift / horizon."""

    name = "drift_reveal"

    @property
    def size(self) -> int:
        return 1

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(1), np.ones(1)

    def encode(self, w: WorldSnapshot) -> np.ndarray:
        return np.minimum(w.cycles_since_drift / self.c.horizon_cycles, 1.0)[..., None]

    def decode(self, values: np.ndarray) -> dict[str, np.ndarray]:
        return dict(cycles_since_drift=np.round(values[..., 0] * self.c.horizon_cycles))


class LabelFeatures(_WorldBlock):
    """Redistribution (FL): each learner's label histogram, n_k(c) / N_k for its C classes (K x C values, learner by
    learner), what learners report to the orchestrator (a documented choice: label counts, not samples)."""

    name = "labels"

    @property
    def size(self) -> int:
        return self.c.num_learners * self.c.label_classes

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(self.size), np.ones(self.size)

    def encode(self, w: WorldSnapshot) -> np.ndarray:
        return w.label_share.reshape(w.label_share.shape[0], -1)

    def decode(self, values: np.ndarray) -> dict[str, np.ndarray]:
        return dict(label_share=values.reshape(*values.shape[:-1], self.c.num_learners, self.c.label_classes))


@dataclass(frozen=True)
class ObservationCodec:
    """Scenario constants that scale the world's observation (see the module table), and its feature blocks."""

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
    loss_history: int = 0  # H: earlier validation losses observed (concept drift)
    reveals_drift: bool = False  # adds the cycles since the last drift (non-causal)
    label_classes: int = 0  # C: adds each learner's label histogram (redistribution)

    @cached_property
    def blocks(self) -> tuple[FeatureBlock, ...]:
        """The world's feature blocks, in order: the learners', the cycle's, and where the world has them the
        drone's, the earlier losses, the revealed drift and the label histograms."""
        blocks: list[FeatureBlock] = [LearnerFeatures(self), CycleFeatures(self)]
        if self.mobile_orchestrator:
            blocks.append(DroneFeatures(self))
        if self.loss_history:
            blocks.append(LossHistoryFeatures(self))
        if self.reveals_drift:
            blocks.append(DriftRevealFeature(self))
        if self.label_classes:
            blocks.append(LabelFeatures(self))
        return tuple(blocks)

    @cached_property
    def layout(self) -> FeatureLayout:
        """The world's observation (built once: every observe and decode reads it)."""
        return FeatureLayout(self.blocks)

    @property
    def global_features(self) -> tuple[str, ...]:
        """Names of the global (not per-learner) entries, in order."""
        return (GLOBAL_FEATURES + (ORCHESTRATOR_FEATURES if self.mobile_orchestrator else ())
                + tuple(f"val_loss_lag{h + 1}" for h in range(self.loss_history))
                + (("cycles_since_drift",) if self.reveals_drift else ()))

    @property
    def drift_offset(self) -> int:
        """Index, among the globals, of the first concept-drift entry (the earlier validation losses)."""
        return len(self.global_features) - self.loss_history - int(self.reveals_drift)

    def loss_feature(self, loss_nats: np.ndarray) -> np.ndarray:
        """The validation-loss feature of losses in nats: loss / ln(classes), bounded (:func:`bounded_loss`)."""
        return bounded_loss(loss_nats, self.num_classes) / math.log(self.num_classes)

    @property
    def size(self) -> int:
        return len(PER_LEARNER_FEATURES) * self.num_learners + len(self.global_features) + self.extra_size

    @property
    def extra_size(self) -> int:
        """Entries after the globals: the label histograms (K x C) where the world has them."""
        return self.num_learners * self.label_classes

    def space(self) -> spaces.Box:
        """Box with the tightest bounds known in advance."""
        return self.layout.space()

    def encode(self, snapshot: WorldSnapshot) -> np.ndarray:
        """(n, size) float32 of a world snapshot (the world's blocks)."""
        return self.layout.encode({"world": snapshot})

    def decode(self, obs: np.ndarray) -> DecodedObservation:
        """Invert :meth:`encode` for observations of shape (..., size)."""
        return self.decoded(self.layout.decode(obs, f"observation (K={self.num_learners})"))

    def decoded(self, named: dict[str, np.ndarray]) -> DecodedObservation:
        """The world's :class:`DecodedObservation` from its blocks' named quantities (a fixed orchestrator at the
        origin, at its height; a drone without a battery at 1)."""
        lead = np.shape(named["cycle"])
        if "orchestrator_m" not in named:
            named["orchestrator_m"] = np.concatenate([np.zeros(lead + (2,)),
                                                      np.full(lead + (1,), self.orchestrator_height_m)], axis=-1)
            named["orchestrator_velocity_mps"] = np.zeros(lead + (2,))
            named["orchestrator_battery_fraction"] = np.ones(lead)
        fields = {f for f in DecodedObservation.__dataclass_fields__}
        return DecodedObservation(**{k: v for k, v in named.items() if k in fields})
