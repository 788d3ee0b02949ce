"""The public side of MultiHop-v0: what its baselines may know, its observation's route block, its masks and action.

Observation: the world's features (the star envs' 14 per-learner blocks and globals, :mod:`mel_gym.envs.observation`)
followed by the route block (:data:`ROUTE_FEATURES`):

| entries | feature                                                                               | raw unit |
|---------|---------------------------------------------------------------------------------------|----------|
| K x M   | learner k's neighbour m: (index + 1) / K, 0 for no neighbour (nearest first)          |          |
| K x M   | rate of the link k -> neighbour m / W_D2D / 10 (spectral efficiency)                  | bit/s    |
| K       | k's least time to the orchestrator over any route, sum of model bits / r per link, / T (capped | s |
|         | at 10; 10: it cannot reach the orchestrator)                                          |          |

Action (``MultiDiscrete``): per learner its next hop, 0 idle, 1 the orchestrator, 2 + m its neighbour m; then per
learner a share level, 0 relay only (no update of its own), l >= 1 a task of l / (L - 1) of its capacity on the tree;
then, with ``amount_action``, the amount level.

Masks (:meth:`RouteProblem.hop_mask`): idle always; the orchestrator where the learner can take part in its range; a
neighbour m where both can work, they have a link and the neighbour's least route time is strictly below the
learner's. Every route then ends at the orchestrator: no choice the masks allow closes a loop (the least route time
falls along every route), and the least-time routes (the shortest-path tree) are always allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from mel_gym.envs.action_blocks import ActionLayout
from mel_gym.envs.features import FeatureBlock, FeatureLayout
from mel_gym.envs.link_features import decode_links, encode_links, link_bounds
from mel_gym.envs.observation import DecodedObservation
from mel_gym.envs.problem import AllocationProblem, per_learner_rows
from mel_gym.envs.topology_view import TopologyView
from mel_gym.optim.routes import at_neighbours, usable_link_times

#: Names of the route block's parts, in order.
ROUTE_FEATURES = ("neighbour", "neighbour_efficiency", "route_time")
#: The route-time feature's cap (in cycles T): learners that cannot reach the orchestrator show it.
ROUTE_TIME_MAX = 10.0
#: A learner's next-hop choices before its neighbours: idle, the orchestrator.
IDLE, ORCHESTRATOR = 0, 1
#: Next hops in learner-index form (a Decision's ``next_hop``): nowhere, the orchestrator.
NO_ROUTE, TO_ORCHESTRATOR = -2, -1


@dataclass(frozen=True)
class RouteObservation:
    """A MultiHop-v0 observation decoded: the world's part and the route block. Per-learner arrays (..., K)."""

    world: DecodedObservation
    neighbours: np.ndarray  # (..., K, M) int, -1: none
    neighbour_rate_bps: np.ndarray  # (..., K, M)
    route_s: np.ndarray  # (..., K) least time to the orchestrator (inf: cannot reach it)


@dataclass
class RouteSnapshot:
    """The route block's source: each learner's neighbours (n, K, M) (-1: none), the rates of its links to them
    (n, K, M) bit/s and its least route time to the orchestrator (n, K) s (inf: none)."""

    neighbours: np.ndarray
    rate_bps: np.ndarray
    route_s: np.ndarray


class RouteFeatures(FeatureBlock):
    """MultiHop-v0's block after the world's (the module table)."""

    name = "routes"
    source = "routes"

    def __init__(self, problem: "RouteProblem"):
        self.p = problem

    @property
    def size(self) -> int:
        return self.p.num_learners * (2 * self.p.neighbours + 1)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        K, M = self.p.num_learners, self.p.neighbours
        return np.zeros(self.size), np.concatenate([link_bounds(K, M)[1], np.full(K, ROUTE_TIME_MAX)])

    def encode(self, r: RouteSnapshot) -> np.ndarray:
        p = self.p
        route = np.minimum(r.route_s / p.world.cycle_deadline_s, ROUTE_TIME_MAX)
        return np.concatenate([encode_links(r.neighbours, r.rate_bps, p.d2d_bandwidth_hz), route], axis=1)

    def decode(self, values: np.ndarray) -> dict[str, np.ndarray]:
        p = self.p
        K, M = p.num_learners, p.neighbours
        route = values[..., 2 * K * M :]
        return dict(**decode_links(values[..., : 2 * K * M], K, M, p.d2d_bandwidth_hz),
                    route_s=np.where(route >= ROUTE_TIME_MAX, np.inf, route * p.world.cycle_deadline_s))


@dataclass(frozen=True)
class RouteProblem(TopologyView):
    """The public constants of a MultiHop-v0 env: the world's problem (``world``: codec, rates, costs), the links kept
    per learner and the form of the action."""

    world: AllocationProblem
    actions: ActionLayout
    neighbours: int  # M, links kept per learner
    share_levels: int  # L
    d2d_bandwidth_hz: float
    aggregate: bool  # in-route aggregation (else forwarding)
    aggregation_s: float
    fraction_levels: int
    min_fraction: float = 0.05
    sample_fraction: float = 1.0  # the fraction of d this planning view plans for (:meth:`with_fraction`)
    action_mode: str = "raw"
    planner_name: str = "shortest-path-tree-fraction"

    @property
    def num_choices(self) -> int:
        """A learner's next-hop choices: idle, the orchestrator, each of its M neighbours."""
        return 2 + self.neighbours

    @property
    def model_bits(self) -> float:
        return self.world.cost.model_bits

    # ------------------------------------------------------------------------------------------ observation
    @cached_property
    def layout(self) -> FeatureLayout:
        """The observation's feature blocks: the world's, then :class:`RouteFeatures` (built once per view)."""
        return FeatureLayout(self.world.codec.blocks + (RouteFeatures(self),))

    def decode(self, obs: np.ndarray) -> RouteObservation:
        """Invert the observation (..., size)."""
        named = self.layout.decode(obs, "a MultiHop-v0 observation")
        routes = {name: named.pop(name) for name in ("neighbours", "neighbour_rate_bps", "route_s")}
        return RouteObservation(world=self.world.codec.decoded(named), **routes)

    def agent_observations(self, obs: np.ndarray) -> np.ndarray:
        """(K, 14 + 2M + 1 + 3): learner k's world features, its neighbours, their link rates and its route time,
        then the world's globals (the multi-agent view)."""
        K, M = self.num_learners, self.neighbours
        block = np.asarray(obs)[self.world_size :]
        rows = np.concatenate([block[: K * M].reshape(K, M), block[K * M : 2 * K * M].reshape(K, M),
                               block[2 * K * M :, None]], axis=1)
        return per_learner_rows(obs, self.world.codec, rows)

    @property
    def learner_choices(self) -> int:
        """Each learner's choices in the multi-agent view: its next hop."""
        return self.num_choices

    def action_from_choices(self, choices: np.ndarray) -> np.ndarray:
        """The raw action of the learners' next hops, each with the top share level (the orchestrator sizes the
        tasks on the tree; the multi-agent view does not split that part between the learners)."""
        choices = np.asarray(choices, dtype=np.int64)
        return np.concatenate([choices, np.full(self.num_learners, self.share_levels - 1, dtype=np.int64)])

    # ------------------------------------------------------------------------------------------ graph
    def link_times(self, decoded: RouteObservation) -> tuple[np.ndarray, np.ndarray]:
        """(to the orchestrator (K,), to each neighbour (K, M)): |w| / r over the links the learners that can work
        may use (inf elsewhere), from one decoded observation."""
        w = decoded.world
        return usable_link_times(self.model_bits, w.available, w.can_work, w.rate_up_bps, decoded.neighbours,
                                 decoded.neighbour_rate_bps)

    def hop_mask(self, decoded: RouteObservation) -> np.ndarray:
        """(..., K, 2 + M) bool: the next hops each learner may choose (module docstring), from a decoded observation."""
        root_s, link_s = self.link_times(decoded)
        here = decoded.route_s
        there = np.where(decoded.neighbours >= 0, at_neighbours(here, decoded.neighbours), np.inf)
        closer = np.isfinite(link_s) & np.isfinite(there) & (there < here[..., None])
        return np.concatenate([np.ones_like(root_s, dtype=bool)[..., None], np.isfinite(root_s)[..., None], closer],
                              axis=-1)

    def allowed_graph(self, decoded: RouteObservation) -> tuple[np.ndarray, np.ndarray]:
        """(root_s (..., K), link_s (..., K, M)): :meth:`link_times` with the links the masks forbid set to inf (the
        graph every baseline plans on)."""
        mask = self.hop_mask(decoded)
        root_s, link_s = self.link_times(decoded)
        return np.where(mask[..., ORCHESTRATOR], root_s, np.inf), np.where(mask[..., 2:], link_s, np.inf)

    def action_mask(self, decoded: RouteObservation) -> np.ndarray:
        """The flat mask MaskablePPO takes: every learner's next hops, then every share and amount level (all
        allowed)."""
        rest = self.num_learners * self.share_levels + (self.fraction_levels if self.amount_action else 0)
        hops = self.hop_mask(decoded)
        lead = hops.shape[:-2]
        return np.concatenate([hops.reshape(*lead, -1), np.ones((*lead, rest), dtype=bool)], axis=-1)

    # ------------------------------------------------------------------------------------------ action
    def next_hops(self, choices: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
        """(K,) next hops in learner-index form (-2 none, -1 the orchestrator, j a learner) of choices (K,) in the
        action's form, with one env's ``neighbours`` (K, M)."""
        choices = np.asarray(choices, dtype=np.int64)
        m = np.clip(choices - 2, 0, self.neighbours - 1)
        via = np.take_along_axis(neighbours, m[:, None], axis=1)[:, 0]
        return np.where(choices == IDLE, NO_ROUTE, np.where(choices == ORCHESTRATOR, TO_ORCHESTRATOR, via))

    def encode_plan(self, next_hop: np.ndarray, neighbours: np.ndarray, levels: np.ndarray | None = None
                    ) -> np.ndarray:
        """The action of a tree: ``next_hop`` (K,) in learner-index form, ``neighbours`` (K, M) the observation's,
        ``levels`` (K,) share levels (default: the top level for every learner on a route); the amount is this
        view's.

        Raises:
            ValueError: a next hop that is not one of the learner's neighbours (naming it).
        """
        next_hop = np.asarray(next_hop, dtype=np.int64)
        K = self.num_learners
        choices = np.where(next_hop == NO_ROUTE, IDLE, ORCHESTRATOR).astype(np.int64)
        for k in np.flatnonzero(next_hop >= 0):
            hit = np.flatnonzero(neighbours[k] == next_hop[k])
            if hit.size == 0:
                raise ValueError(f"next_hop[{k}] = {next_hop[k]} is not one of learner {k}'s neighbours "
                                 f"{neighbours[k].tolist()}")
            choices[k] = 2 + hit[0]
        if levels is None:
            levels = np.where(next_hop >= TO_ORCHESTRATOR, self.share_levels - 1, 0)
        return np.concatenate([choices, np.asarray(levels, dtype=np.int64).reshape(K), self.amount_level()])
