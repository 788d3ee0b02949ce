"""MultiHop-v0's baselines: trees planned from the observation alone (:mod:`mel_gym.optim.routes`) on the links the
env's masks allow, every learner on a route at the top share level, so the env sizes the tasks by HA-Sync on the tree.

- ``direct``: the star: learners in the orchestrator's range send to it, the others idle;
- ``shortest-path-tree``: every learner on its least-time route (Dijkstra on |w| / r), aggregating at merge points;
- ``min-max-tree``: every learner on the route whose slowest link is fastest (the bottleneck tree);
- ``random-tree``: every learner that can reach the orchestrator picks one of its allowed next hops at random (a
  valid tree: the masks never allow a loop);
- ``*-fraction``: the same for a fraction of the cycle's samples tuned on training seeds (``shortest-path-tree-fraction``
  is the env's planner).
"""

from __future__ import annotations

import numpy as np

from mel_gym.agents.baselines import _ObservationPolicy
from mel_gym.envs.route_problem import NO_ROUTE, ORCHESTRATOR, TO_ORCHESTRATOR, RouteObservation
from mel_gym.optim.routes import bottleneck_tree, shortest_path_tree


class _TreePolicy(_ObservationPolicy):
    """Plans a tree (:meth:`tree`: each learner's next hop in learner-index form, -2 none, -1 the orchestrator) and
    encodes it with every learner on a route at the top share level."""

    def tree(self, decoded: RouteObservation) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _act(self, obs: np.ndarray) -> np.ndarray:
        decoded = self.problem.decode(obs)
        return self.problem.encode_plan(self.tree(decoded), decoded.neighbours)


class Direct(_TreePolicy):
    """The star: every learner the masks let send to the orchestrator does; the others idle."""

    def tree(self, decoded: RouteObservation) -> np.ndarray:
        return np.where(self.problem.hop_mask(decoded)[:, ORCHESTRATOR], TO_ORCHESTRATOR, NO_ROUTE)


class _SearchedTree(_TreePolicy):
    """The tree a search from the orchestrator gives on the allowed links (``search``: (root times, neighbours, link
    times) -> (parent, reachable)); learners that cannot reach the orchestrator idle."""

    search = staticmethod(shortest_path_tree)

    def tree(self, decoded: RouteObservation) -> np.ndarray:
        root_s, link_s = self.problem.allowed_graph(decoded)
        parent, reachable = self.search(root_s, decoded.neighbours, link_s)
        return np.where(reachable, parent, NO_ROUTE)


class ShortestPathTree(_SearchedTree):
    """The least-time route of every learner that can reach the orchestrator
    (:func:`mel_gym.optim.routes.shortest_path_tree` on the allowed links)."""


class MinMaxTree(_SearchedTree):
    """The route whose slowest link is fastest, for every learner that can reach the orchestrator
    (:func:`mel_gym.optim.routes.bottleneck_tree` on the allowed links)."""

    search = staticmethod(bottleneck_tree)


class RandomTree(_TreePolicy):
    """A random valid tree: each learner that can reach the orchestrator picks one of its allowed next hops that can
    reach it too, uniformly (seeded; the masks never allow a loop, so any such picks form a tree)."""

    def __init__(self, problem, seed: int = 0):
        super().__init__(problem)
        self.rng = np.random.default_rng(seed)

    def tree(self, decoded: RouteObservation) -> np.ndarray:
        mask = self.problem.hop_mask(decoded)
        reachable = np.isfinite(decoded.route_s)
        hop = np.full(mask.shape[0], NO_ROUTE)
        for k in np.flatnonzero(reachable):
            options = [TO_ORCHESTRATOR] if mask[k, ORCHESTRATOR] else []
            options += [int(decoded.neighbours[k, m]) for m in np.flatnonzero(mask[k, 2:])
                        if reachable[decoded.neighbours[k, m]]]
            if options:
                hop[k] = options[int(self.rng.integers(len(options)))]
        return hop
