"""Routing trees toward the orchestrator (groundwork for MultiHop-v0's baselines; docs/model.md §3.2).

The graph: learner k can send to the orchestrator at its uplink rate (where it is in range, rate > 0) or to a D2D
neighbour j at the link's rate; the cost of a link is the time to send one update over it, c = |w| / r. Both trees
give every learner its next hop (-1: the orchestrator) and say which learners can reach the orchestrator at all.

- :func:`shortest_path_tree`: each learner's route of the least total time sum c (Dijkstra from the orchestrator on
  the reversed links);
- :func:`bottleneck_tree`: each learner's route whose slowest link is the fastest possible (min over routes of
  max c; the same search with max in place of +).

Both are checked against enumeration of every simple route on small graphs (``tests/test_routes.py``).
"""

from __future__ import annotations

import heapq

import numpy as np

from mel_gym.optim.task_sizing import integer_capacity, integer_plan
from mel_gym.world.costs import CycleCoefficients
from mel_gym.world.routes import planned_offsets


def _in_links(neighbours: np.ndarray, link_s: np.ndarray) -> list[list[tuple[int, float]]]:
    """For each learner j, the learners k that can send to it and the link's cost: (k, c_kj)."""
    incoming: list[list[tuple[int, float]]] = [[] for _ in range(len(neighbours))]
    for k, (row, costs) in enumerate(zip(neighbours, link_s)):
        for j, c in zip(row, costs):
            if j >= 0 and np.isfinite(c):
                incoming[int(j)].append((k, float(c)))
    return incoming


def _search(root_s: np.ndarray, neighbours: np.ndarray, link_s: np.ndarray, combine) -> tuple[np.ndarray, np.ndarray]:
    """Label-setting search from the orchestrator: (parent (K,), value (K,)); value inf and parent -1 where the
    orchestrator cannot be reached (see ``reachable``). ``combine(c, value of the next hop)`` is + or max."""
    K = len(root_s)
    value = np.asarray(root_s, dtype=np.float64).copy()  # straight to the orchestrator (inf: out of range)
    parent = np.full(K, -1, dtype=np.int64)
    heap = [(v, k) for k, v in enumerate(value) if np.isfinite(v)]
    heapq.heapify(heap)
    done = np.zeros(K, dtype=bool)
    incoming = _in_links(neighbours, link_s)
    while heap:
        v, j = heapq.heappop(heap)
        if done[j] or v > value[j]:
            continue
        done[j] = True
        for k, c in incoming[j]:
            candidate = combine(c, v)
            if not done[k] and candidate < value[k]:
                value[k], parent[k] = candidate, j
                heapq.heappush(heap, (candidate, k))
    return parent, value


def link_times(model_bits: float, rate_up_bps: np.ndarray, neighbour_rate_bps: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """(to the orchestrator (K,), to each neighbour (K, M)): |w| / r, inf where the rate is 0."""
    with np.errstate(divide="ignore"):
        return (np.where(rate_up_bps > 0, model_bits / rate_up_bps, np.inf),
                np.where(neighbour_rate_bps > 0, model_bits / neighbour_rate_bps, np.inf))


def shortest_path_tree(root_s: np.ndarray, neighbours: np.ndarray, link_s: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(parent, reachable): every learner's next hop on its least-time route to the orchestrator (``root_s`` (K,):
    its own link's time, inf out of range; ``link_s`` (K, M): the time to each neighbour of ``neighbours``)."""
    parent, value = _search(root_s, neighbours, link_s, lambda c, v: c + v)
    return parent, np.isfinite(value)


def least_route_time_s(root_s: np.ndarray, neighbours: np.ndarray, link_s: np.ndarray) -> np.ndarray:
    """(K,) each learner's least total time to the orchestrator over any route, s (inf: it cannot reach it): the
    shortest-path tree's values."""
    return _search(root_s, neighbours, link_s, lambda c, v: c + v)[1]


def bottleneck_tree(root_s: np.ndarray, neighbours: np.ndarray, link_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(parent, reachable): every learner's next hop on the route whose slowest link is fastest (min-max)."""
    parent, value = _search(root_s, neighbours, link_s, max)
    return parent, np.isfinite(value)


def route_of(parent: np.ndarray, k: int) -> list[int]:
    """The learners on k's route, k first, up to the one that sends to the orchestrator."""
    route = [k]
    while parent[route[-1]] >= 0:
        route.append(int(parent[route[-1]]))
    return route


def usable_link_times(model_bits: float, available: np.ndarray, can_work: np.ndarray, rate_up_bps: np.ndarray,
                      neighbours: np.ndarray, neighbour_rate_bps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(to the orchestrator (..., K), to each neighbour (..., K, M)): |w| / r of the links that may carry updates: the
    uplink of a learner that can take part in the orchestrator's range (``available``), a D2D link between two learners
    that can work (battery left, CPU not frozen); inf elsewhere. Arrays (..., K) and (..., K, M)."""
    root_s, link_s = link_times(model_bits, np.where(available, rate_up_bps, 0.0), neighbour_rate_bps)
    usable = (neighbours >= 0) & can_work[..., :, None] & at_neighbours(can_work, neighbours)
    return root_s, np.where(usable, link_s, np.inf)


def at_neighbours(values: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """(..., K, M) ``values`` (..., K) of each learner's neighbours (``neighbours`` (..., K, M); padding reads
    learner 0's value: mask it)."""
    idx = np.maximum(neighbours, 0)
    flat = idx.reshape(*idx.shape[:-2], -1)
    return np.take_along_axis(values, flat, axis=-1).reshape(idx.shape)


def tree_plan(parent: np.ndarray, weights: np.ndarray, rate_down_bps: np.ndarray, rate_to_parent_bps: np.ndarray,
              cpu_hz: np.ndarray, task_caps: np.ndarray, samples: int, model_bits: float, cycles_per_sample: float,
              deadline_s: float, max_local_iterations: int, aggregate: bool, aggregation_s: float
              ) -> tuple[int, np.ndarray]:
    """HA-Sync on a tree: (tau, d (K,)), the largest common tau whose capacities cover ``samples``, tasks in
    proportion to them. Learner k's capacity at tau is the most samples it can compute between holding the model and
    T - U_k (:func:`mel_gym.world.routes.planned_offsets`), within its ``task_caps``, times its ``weights`` in [0, 1]
    (0: no update of its own). Where no tau >= 1 covers ``samples``, tau = 1 and every learner takes what it can at one
    iteration (fewer samples than asked); (0, zeros) where nobody can."""
    parent = np.asarray(parent, dtype=np.int64)
    weights = np.asarray(weights, dtype=np.float64)
    takes_part = weights > 0
    offsets = planned_offsets(np.where(parent >= 0, parent, -1), takes_part, rate_down_bps, rate_to_parent_bps,
                              model_bits, aggregate, aggregation_s)
    with np.errstate(divide="ignore"):
        c2 = cycles_per_sample / np.asarray(cpu_hz, dtype=np.float64)
    coeffs = CycleCoefficients(np.where(takes_part, offsets, np.inf), np.zeros(parent.size), c2)
    caps = np.where(takes_part, task_caps, 0)

    def capacity_at(tau: int) -> np.ndarray:
        return np.floor(weights * integer_capacity(coeffs, deadline_s, tau, caps)).astype(np.int64)

    tau, task_sizes = integer_plan(capacity_at, samples, max_local_iterations)
    if tau == 0 and capacity_at(1).sum() > 0:
        return 1, capacity_at(1)
    return tau, task_sizes
