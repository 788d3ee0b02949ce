"""The cost of delivering learners' updates over multi-hop routes to the orchestrator, with or without in-route
aggregation, and of relaying the model down the same routes (MultiHop-v0; docs/multihop.md has the formulas).

Every learner k names the next hop of its update, ``parent[k]``: the orchestrator (-1) or another learner. The
choices form a forest rooted at the orchestrator unless some of them close a loop; learners on a loop, or whose
route runs into one, are *cut off* (documented choice: they deliver nothing and idle, never a hang). On a tree:

- a node's update is ready at ``ready_s[k]`` (its own compute end; a pure relay has no update of its own);
- node v sends once, when its own update is ready and every child's message has arrived:
  T_v = max(ready_v, max over children c of T_c) + t_agg [v aggregates and has children] + S_v / r_{v -> parent(v)};
- the message size S_v: with in-route aggregation one partial aggregate (the sum of n_k w_k and of n_k over its
  subtree, TAG-style), |w| bits, if the subtree holds any update; without it every update is forwarded as it is,
  |w| x (updates in the subtree);
- an update reaches the orchestrator at the finish time of the top of its route (the node whose parent is the
  orchestrator); it counts if that is within T.

Transmit energy of node v: P_v S_v / r_{v -> parent}; reception energy: ``receive_j_per_bit`` x the bits it receives
from its children.

The model travels down the same tree before the cycle's work (:func:`model_arrival_s`): the orchestrator sends it to
every top over its downlink (as in the star), and a relay broadcasts it once to its children, at the rate of its
slowest child's link (D2D links are reciprocal at equal power). :func:`planned_offsets` gives each learner the time
its own update's delivery adds to its computation if nobody waits: the plan sizes tasks so that
ready_k + U_k <= T for every k, which makes every update arrive in time (docs/multihop.md).

All arrays are one env's, over K learners; the loops run over the tree's depth levels or its nodes in depth order
(pointer jumping for the depths), never over pairs of learners.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def route_roots(parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(top, depth), (K,): each learner's top of route (the learner on its route whose parent is the orchestrator) and
    its hops to that top (0 for a top), both -1 where the route loops; by pointer jumping, log2 K rounds of numpy.

    Raises:
        ValueError: a parent outside [-1, K - 1], or a learner that is its own parent (naming the index).
    """
    parent = np.asarray(parent, dtype=np.int64)
    K = parent.size
    bad = (parent < -1) | (parent >= K) | (parent == np.arange(K))
    if np.any(bad):
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(f"parent[{k}] = {parent[k]} must be -1 (the orchestrator) or another learner in [0, {K - 1}]")
    nxt = np.where(parent < 0, np.arange(K), parent)  # tops point to themselves
    dist = np.where(parent < 0, 0, 1)
    for _ in range(int(np.ceil(np.log2(max(K, 2)))) + 1):
        dist = np.minimum(dist + dist[nxt], K)  # capped: on a loop it would only grow
        nxt = nxt[nxt]
    reaches = parent[nxt] < 0
    return np.where(reaches, nxt, -1), np.where(reaches, dist, -1)


def depth_order(depth: np.ndarray) -> np.ndarray:
    """The learners on a route (depth >= 0), deepest first: children before their parents."""
    on = np.flatnonzero(depth >= 0)
    return on[np.argsort(-depth[on], kind="stable")]


def from_root(parent: np.ndarray, depth: np.ndarray, own: np.ndarray, combine, mask: np.ndarray | None = None
              ) -> np.ndarray:
    """(K,) value[v] = combine(own[v], value[parent(v)]) down every route from its top (value[top] = own[top]), one
    depth level at a time, over the learners in ``mask`` (default: every learner on a route); the others keep
    ``own``. E.g. with ``np.add`` the sum of ``own`` from the top down to each learner."""
    value = np.array(own, copy=True)
    on = depth >= 0 if mask is None else np.asarray(mask, dtype=bool) & (depth >= 0)
    for level in range(1, int(depth.max(initial=0)) + 1):
        nodes = np.flatnonzero(on & (depth == level))
        value[nodes] = combine(own[nodes], value[parent[nodes]])
    return value


def subtree_updates(parent: np.ndarray, has_update: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """(K,) int: the updates in each learner's subtree (its own and its descendants'), 0 where cut off (depth -1)."""
    updates = (np.asarray(has_update, dtype=bool) & (depth >= 0)).astype(np.int64)
    for v in depth_order(depth):
        if parent[v] >= 0:
            updates[parent[v]] += updates[v]
    return updates


def message_bits(updates: np.ndarray, model_bits: float, aggregate: bool) -> np.ndarray:
    """(K,) S_v: one |w| per message with in-route aggregation, |w| per update forwarded without; 0 with nothing."""
    return np.where(updates > 0, model_bits * (1 if aggregate else updates), 0.0)


def _hop_s(bits: np.ndarray, rate_bps: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(bits > 0, np.where(rate_bps > 0, bits / np.where(rate_bps > 0, rate_bps, 1.0), np.inf), 0.0)


@dataclass
class ModelRelay:
    """The model's way down the tree; arrays (K,). Units: s, bit."""

    arrival_s: np.ndarray  # when learner k holds the model (inf: never; 0 where it is not on an active route)
    broadcast_bits: np.ndarray  # bits k broadcasts to its children (|w| where it has any, else 0)
    broadcast_s: np.ndarray  # how long that broadcast takes (at the slowest child's rate)


def model_arrival_s(parent: np.ndarray, active: np.ndarray, depth: np.ndarray, rate_down_bps: np.ndarray,
                    rate_to_parent_bps: np.ndarray, model_bits: float) -> ModelRelay:
    """The model relayed down the tree to the ``active`` learners (those whose subtree holds an update): a top
    receives it over its downlink, |w| / r_down; a relay broadcasts it once to its active children at the rate of the
    slowest one's link (reciprocal: the child's ``rate_to_parent_bps``), after it holds it itself."""
    K = parent.size
    active = np.asarray(active, dtype=bool) & (depth >= 0)
    child = active & (parent >= 0)
    slowest = np.full(K, np.inf)
    np.minimum.at(slowest, parent[child], np.asarray(rate_to_parent_bps, dtype=np.float64)[child])
    has_children = np.isfinite(slowest)
    broadcast_bits = np.where(has_children, model_bits, 0.0)
    broadcast_s = _hop_s(broadcast_bits, np.where(has_children, slowest, 0.0))
    tops = active & (parent < 0)
    own = np.where(child, broadcast_s[np.maximum(parent, 0)], 0.0)  # the parent's broadcast; a top: its downlink
    own[tops] = _hop_s(np.full(int(tops.sum()), model_bits), np.asarray(rate_down_bps, dtype=np.float64)[tops])
    arrival = from_root(parent, depth, own, np.add, mask=active)
    return ModelRelay(arrival_s=arrival, broadcast_bits=broadcast_bits, broadcast_s=broadcast_s)


def planned_offsets(parent: np.ndarray, has_update: np.ndarray, rate_down_bps: np.ndarray,
                    rate_to_parent_bps: np.ndarray, model_bits: float, aggregate: bool,
                    aggregation_s: float = 0.0) -> np.ndarray:
    """(K,) the time around learner k's own computation, s: when it holds the model plus U_k, the sum over its route of
    each node's send time (S_v / r_v, and t_agg where v aggregates children), as if nobody waited. If every learner's
    update is ready by T - U_k, every update arrives by T (docs/multihop.md); inf where k's route is cut off or has a
    dead link; 0 for learners without an update."""
    parent = np.asarray(parent, dtype=np.int64)
    top, depth = route_roots(parent)
    has = np.asarray(has_update, dtype=bool) & (depth >= 0)
    updates = subtree_updates(parent, has, depth)
    active = updates > 0
    bits = message_bits(updates, model_bits, aggregate)
    rate = np.asarray(rate_to_parent_bps, dtype=np.float64)
    children = np.zeros(parent.size, dtype=np.int64)
    np.add.at(children, parent[active & (parent >= 0)], 1)
    hop = _hop_s(bits, rate) + np.where(aggregate & (children > 0), aggregation_s, 0.0)
    upward = from_root(parent, depth, hop, np.add, mask=active)
    relay = model_arrival_s(parent, active, depth, rate_down_bps, rate, model_bits)
    return np.where(has, relay.arrival_s + upward, np.where(depth >= 0, 0.0, np.inf))


@dataclass
class RouteCosts:
    """One cycle's delivery over the routes; arrays (K,). Units: s, bit, J."""

    finish_s: np.ndarray  # T_v (inf: cut off or a link of rate 0; 0: nothing to send)
    message_bits: np.ndarray  # S_v, sent to its parent (0: nothing to send)
    arrival_s: np.ndarray  # when learner k's update reaches the orchestrator (inf: never)
    delivered: np.ndarray  # bool: k has an update and it arrives within T
    cut_off: np.ndarray  # bool: k's route loops
    hops: np.ndarray  # links of k's route to the orchestrator (-1: cut off)
    top: np.ndarray  # the learner on k's route that sends to the orchestrator (-1: cut off)
    energy_transmit_j: np.ndarray
    energy_receive_j: np.ndarray


def route_costs(parent: np.ndarray, has_update: np.ndarray, ready_s: np.ndarray, rate_to_parent_bps: np.ndarray,
                model_bits: float, aggregate: bool, deadline_s: float, tx_power_w: np.ndarray,
                aggregation_s: float = 0.0, receive_j_per_bit: float = 0.0) -> RouteCosts:
    """The delivery of one cycle (module docstring): ``parent`` (K,) next hops (-1: the orchestrator), ``has_update``
    (K,) bool, ``ready_s`` (K,) when each own update is ready, ``rate_to_parent_bps`` (K,) the rate of each node's link
    to its next hop, ``aggregate``: in-route aggregation (else forwarding), ``aggregation_s``: time to add the
    children's messages into its own, ``tx_power_w`` (K,)."""
    parent = np.asarray(parent, dtype=np.int64)
    K = parent.size
    top, depth = route_roots(parent)
    cut = top < 0
    has = np.asarray(has_update, dtype=bool) & ~cut
    bits = message_bits(subtree_updates(parent, has, depth), model_bits, aggregate)
    child_arrival = np.full(K, -np.inf)
    has_children = np.zeros(K, dtype=bool)
    finish = np.full(K, np.inf)
    rate = np.asarray(rate_to_parent_bps, dtype=np.float64)
    ready = np.where(has, np.asarray(ready_s, dtype=np.float64), 0.0)
    hop = _hop_s(bits, rate)
    for v in depth_order(depth):
        if bits[v] == 0:
            finish[v] = -np.inf  # nothing to send: never waited for
            continue
        start = max(ready[v], child_arrival[v])
        extra = aggregation_s if (aggregate and has_children[v]) else 0.0
        finish[v] = start + extra + hop[v]
        p = parent[v]
        if p >= 0:
            child_arrival[p] = max(child_arrival[p], finish[v])
            has_children[p] = True
    arrival = np.where(cut | ~has, np.inf, finish[np.maximum(top, 0)])
    delivered = has & (arrival <= deadline_s)
    received = np.zeros(K)
    sends_to_learner = ~cut & (parent >= 0) & (bits > 0)
    np.add.at(received, parent[sends_to_learner], bits[sends_to_learner])
    power = np.broadcast_to(np.asarray(tx_power_w, dtype=np.float64), (K,))
    with np.errstate(invalid="ignore"):
        transmit = np.where(bits > 0, power * hop, 0.0)
    return RouteCosts(finish_s=np.where(finish == -np.inf, 0.0, finish), message_bits=bits,
                      arrival_s=arrival, delivered=delivered, cut_off=cut, hops=np.where(cut, -1, depth + 1), top=top,
                      energy_transmit_j=np.nan_to_num(transmit, posinf=0.0), energy_receive_j=receive_j_per_bit * received)
