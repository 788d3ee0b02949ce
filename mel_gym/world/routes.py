"""The cost of delivering learners' updates over multi-hop routes to the orchestrator, with or without in-route
aggregation (groundwork for MultiHop-v0; docs/model.md §3.2 has the formulas).

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
from its children. All arrays are one env's, over K learners; the loops run over the tree's depth (pointer jumping),
not over pairs of learners.
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


@dataclass
class RouteCosts:
    """One cycle's delivery over the routes; arrays (K,). Units: s, bit, J."""

    finish_s: np.ndarray  # T_v (inf: cut off or a link of rate 0; 0: nothing to send)
    message_bits: np.ndarray  # S_v, sent to its parent (0: nothing to send)
    arrival_s: np.ndarray  # when learner k's update reaches the orchestrator (inf: never)
    delivered: np.ndarray  # bool: k has an update and it arrives within T
    cut_off: np.ndarray  # bool: k's route loops
    hops: np.ndarray  # links of k's route to the orchestrator (-1: cut off)
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
    order = np.argsort(-np.where(cut, -1, depth), kind="stable")  # deepest first: children before parents
    updates = has.astype(np.int64)  # updates in each subtree
    for v in order:
        if not cut[v] and parent[v] >= 0:
            updates[parent[v]] += updates[v]
    bits = np.where(updates > 0, model_bits * (1 if aggregate else updates), 0.0)
    bits = np.where(cut, 0.0, bits)
    child_arrival = np.full(K, -np.inf)
    has_children = np.zeros(K, dtype=bool)
    finish = np.full(K, np.inf)
    rate = np.asarray(rate_to_parent_bps, dtype=np.float64)
    ready = np.where(has, np.asarray(ready_s, dtype=np.float64), 0.0)
    for v in order:
        if cut[v]:
            continue
        if bits[v] == 0:
            finish[v] = -np.inf  # nothing to send: never waited for
            continue
        start = max(ready[v], child_arrival[v])
        extra = aggregation_s if (aggregate and has_children[v]) else 0.0
        with np.errstate(divide="ignore"):
            finish[v] = start + extra + (bits[v] / rate[v] if rate[v] > 0 else np.inf)
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
    with np.errstate(divide="ignore", invalid="ignore"):
        transmit = np.where(bits > 0, power * bits / rate, 0.0)
    return RouteCosts(finish_s=np.where(finish == -np.inf, 0.0, finish), message_bits=bits,
                      arrival_s=arrival, delivered=delivered, cut_off=cut, hops=np.where(cut, -1, depth + 1),
                      energy_transmit_j=np.nan_to_num(transmit, posinf=0.0), energy_receive_j=receive_j_per_bit * received)
