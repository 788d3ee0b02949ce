"""The public side of SplitChain-v0: what its baselines may know, its observation's topology block and its action.

Observation: the world's features (the star envs' 14 per-learner blocks and globals, :mod:`mel_gym.envs.observation`)
followed by the topology block (:data:`TOPOLOGY_FEATURES`):

| entries        | feature                                                                   | raw unit |
|----------------|---------------------------------------------------------------------------|----------|
| K              | memory / the largest memory class                                         | B        |
| K x M          | learner k's neighbour m: (index + 1) / K, 0 for no neighbour (nearest first) |       |
| K x M          | rate of the link k -> neighbour m / W_D2D / 10 (spectral efficiency)       | bit/s    |
| S              | stage s's parameters / the model's                                        |          |
| S              | stage s's cycles per sample / the model's                                 | cycles   |
| S              | width of the cut after stage s / the widest layer (0 after the last)      | values   |

Action (``MultiDiscrete``): per learner a slot, 0 idle or 1 + c S + s (chain c, first stage s: the learner hosts
stage s up to the next member's first stage); then one split level per chain (the chain's share of the samples is
(level + 1) / the sum over formed chains); then, with ``amount_action``, the amount level.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from mel_gym.envs.action_blocks import ActionLayout
from mel_gym.envs.features import FeatureBlock, FeatureLayout
from mel_gym.envs.link_features import decode_links, encode_links, link_bounds
from mel_gym.envs.topology_view import TopologyView
from mel_gym.envs.observation import DecodedObservation
from mel_gym.envs.problem import AllocationProblem, per_learner_rows
from mel_gym.optim.chains import ChainInstance, split_levels
from mel_gym.world.chains import StageModel

#: Names of the topology block's parts, in order.
TOPOLOGY_FEATURES = ("memory", "neighbour", "neighbour_efficiency", "stage_parameters", "stage_cycles", "cut_width")


@dataclass(frozen=True)
class ChainObservation:
    """A SplitChain-v0 observation decoded: the world's part and the topology block. Per-learner arrays (..., K)."""

    world: DecodedObservation
    memory_bytes: np.ndarray
    neighbours: np.ndarray  # (..., K, M) int, -1: none
    neighbour_rate_bps: np.ndarray  # (..., K, M)


@dataclass
class TopologySnapshot:
    """The topology block's source: each learner's memory (n, K) bytes, its neighbours (n, K, M) (-1: none) and the
    rates of its links to them (n, K, M) bit/s."""

    memory_bytes: np.ndarray
    neighbours: np.ndarray
    rate_bps: np.ndarray


class TopologyFeatures(FeatureBlock):
    """SplitChain-v0's block after the world's (the module table): memory, neighbours and their link rates per
    learner, then the stages' features."""

    name = "topology"
    source = "topology"

    def __init__(self, problem: "ChainProblem"):
        self.p = problem

    @property
    def size(self) -> int:
        p = self.p
        return p.num_learners + 2 * p.num_learners * p.neighbours + 3 * p.num_stages

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        K, M, S = self.p.num_learners, self.p.neighbours, self.p.num_stages
        return (np.zeros(self.size), np.concatenate([np.ones(K), link_bounds(K, M)[1], np.ones(3 * S)]))

    def encode(self, t: TopologySnapshot) -> np.ndarray:
        p = self.p
        n = t.memory_bytes.shape[0]
        return np.concatenate([t.memory_bytes / p.memory_scale_bytes,
                               encode_links(t.neighbours, t.rate_bps, p.d2d_bandwidth_hz),
                               np.broadcast_to(p.stage_features(), (n, 3 * p.num_stages))], axis=1)

    def decode(self, values: np.ndarray) -> dict[str, np.ndarray]:
        p = self.p
        K, M = p.num_learners, p.neighbours
        return dict(memory_bytes=values[..., :K] * p.memory_scale_bytes,
                    **decode_links(values[..., K : K + 2 * K * M], K, M, p.d2d_bandwidth_hz))


@dataclass(frozen=True)
class ChainProblem(TopologyView):
    """The public constants of a SplitChain-v0 env: the world's problem (``world``: codec, rates, costs), the model's
    stages and the form of the action."""

    world: AllocationProblem
    stages: StageModel
    actions: ActionLayout
    max_chains: int
    split_levels: int
    neighbours: int  # M, links kept per learner
    memory_scale_bytes: float  # the largest memory class
    d2d_bandwidth_hz: float
    fraction_levels: int
    min_fraction: float = 0.05
    sample_fraction: float = 1.0  # the fraction of d this planning view plans for (:meth:`with_fraction`)
    action_mode: str = "raw"
    planner_name: str = "chain-dp-fraction"

    # ------------------------------------------------------------------------------------------ constants
    @property
    def num_stages(self) -> int:
        return self.stages.num_stages

    @property
    def num_slots(self) -> int:
        """Choices of a learner: idle and (chain, first stage) for every chain and stage."""
        return 1 + self.max_chains * self.num_stages

    # ------------------------------------------------------------------------------------------ observation
    @cached_property
    def layout(self) -> FeatureLayout:
        """The observation's feature blocks: the world's, then :class:`TopologyFeatures` (built once per view)."""
        return FeatureLayout(self.world.codec.blocks + (TopologyFeatures(self),))

    def stage_features(self) -> np.ndarray:
        """(3S,) the stages' parameter and cycle shares and cut widths (scaled)."""
        st = self.stages
        widths = np.append(st.cut_widths, 0.0) / max(st.layer_sizes)
        return np.concatenate([st.stage_parameters / st.stage_parameters.sum(), st.stage_cycles / st.stage_cycles.sum(),
                               widths])

    def agent_observations(self, obs: np.ndarray) -> np.ndarray:
        """(K, 14 + 1 + 2M + 3 + 3S): learner k's world features, its memory, neighbours and their rates, then the
        world's globals and the stages' features (the multi-agent view)."""
        K, M = self.num_learners, self.neighbours
        topology = np.asarray(obs)[self.world_size :]
        rows = np.concatenate([topology[:K, None], topology[K : K + K * M].reshape(K, M),
                               topology[K + K * M : K + 2 * K * M].reshape(K, M)], axis=1)
        return per_learner_rows(obs, self.world.codec, rows, topology[K + 2 * K * M :])

    @property
    def learner_choices(self) -> int:
        """Each learner's choices: idle (0) or a slot (1 + c S + s)."""
        return self.num_slots

    def action_from_choices(self, choices: np.ndarray) -> np.ndarray:
        """The raw action of the learners' slots, every chain at the top share level (an equal split: the
        orchestrator's part, which the multi-agent view does not split between the learners)."""
        return np.concatenate([np.asarray(choices, dtype=np.int64),
                               np.full(self.max_chains, self.split_levels - 1, dtype=np.int64)])

    def decode(self, obs: np.ndarray) -> ChainObservation:
        """Invert the observation (..., size)."""
        named = self.layout.decode(obs, "a SplitChain-v0 observation")
        topology = {name: named.pop(name) for name in ("memory_bytes", "neighbours", "neighbour_rate_bps")}
        return ChainObservation(world=self.world.codec.decoded(named), **topology)

    def instance(self, decoded: ChainObservation) -> ChainInstance:
        """The coming cycle's chain-planning problem (:class:`~mel_gym.optim.chains.ChainInstance`) as the observation
        shows it, for this view's planned samples."""
        w, d = self.world, decoded.world
        return ChainInstance(
            stages=self.stages, cpu_hz=d.cpu_hz, rate_down_bps=d.rate_down_bps, rate_up_bps=d.rate_up_bps,
            available=d.available, memory_bytes=decoded.memory_bytes, neighbours=decoded.neighbours,
            neighbour_rate_bps=decoded.neighbour_rate_bps, tx_power_w=w.tx_power_w, kappa=w.cost.kappa,
            sample_bits=w.cost.sample_bits, deadline_s=w.cycle_deadline_s, max_local_iterations=w.max_local_iterations,
            samples=self.planned_samples, max_chains=self.max_chains, split_levels=self.split_levels)

    # ------------------------------------------------------------------------------------------ action
    def slot(self, chain: int, first_stage: int) -> int:
        return 1 + chain * self.num_stages + first_stage

    def slot_mask(self, available: np.ndarray, memory_bytes: np.ndarray) -> np.ndarray:
        """(..., K, slots) bool: idle always; (chain, s) where the learner can take part and stage s alone fits its
        memory (a longer block must fit too, checked when the chain is formed)."""
        fits = memory_bytes[..., None] >= self.stages.stage_memory_bytes()  # (..., K, S)
        stage_ok = (available[..., None] & fits)
        per_chain = np.repeat(stage_ok[..., None, :], self.max_chains, axis=-2).reshape(*fits.shape[:-1], -1)
        return np.concatenate([np.ones((*fits.shape[:-1], 1), dtype=bool), per_chain], axis=-1)

    def action_mask(self, decoded: ChainObservation) -> np.ndarray:
        """The flat mask MaskablePPO takes: every learner's slots, then every split and amount level (all allowed)."""
        slots = self.slot_mask(decoded.world.available, decoded.memory_bytes)
        rest = self.max_chains * self.split_levels + (self.fraction_levels if self.amount_action else 0)
        lead = slots.shape[:-2]
        return np.concatenate([slots.reshape(*lead, -1), np.ones((*lead, rest), dtype=bool)], axis=-1)

    def encode_plan(self, chains: list[list[tuple[int, int]]], weights: np.ndarray | None = None) -> np.ndarray:
        """The action of a plan: ``chains`` (at most C) lists of (learner, first stage); ``weights`` (one per chain,
        > 0) split the samples, turned into the nearest levels (default: equal); the amount is this view's."""
        K, C, L = self.num_learners, self.max_chains, self.split_levels
        if len(chains) > C:
            raise ValueError(f"a plan of {len(chains)} chains: at most chains.max_chains = {C}")
        action = np.zeros(K + C, dtype=np.int64)
        for c, members in enumerate(chains):
            for k, first in members:
                action[k] = self.slot(c, first)
        if len(chains):
            action[K : K + len(chains)] = split_levels(np.ones(len(chains)) if weights is None else weights, L)
        return np.concatenate([action, self.amount_level()]).astype(np.int64)
