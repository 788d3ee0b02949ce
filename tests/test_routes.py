"""Multi-hop delivery (groundwork for MultiHop-v0): finish times on a tree by hand, with and without in-route
aggregation, loops cut off (never a hang), late updates dropped, energies, and K = 1,000 without pairwise loops."""

from __future__ import annotations

import numpy as np
import pytest

from mel_gym.world.routes import route_costs, route_roots

CHAIN3 = np.array([-1, 0, 1])  # 2 -> 1 -> 0 -> orchestrator


def test_finish_times_by_hand_with_and_without_aggregation():
    ready, rate, w = np.array([1.0, 2.0, 0.5]), np.full(3, 100.0), 100.0
    agg = route_costs(CHAIN3, np.ones(3, bool), ready, rate, w, True, 10.0, np.ones(3))
    # T_2 = 0.5 + 100/100 = 1.5; T_1 = max(2, 1.5) + 1 = 3; T_0 = max(1, 3) + 1 = 4: one |w| per link
    assert agg.finish_s.tolist() == [4.0, 3.0, 1.5] and agg.message_bits.tolist() == [100.0] * 3
    assert agg.arrival_s.tolist() == [4.0] * 3 and agg.delivered.all() and agg.hops.tolist() == [1, 2, 3]
    fwd = route_costs(CHAIN3, np.ones(3, bool), ready, rate, w, False, 10.0, np.ones(3))
    # forwarding: node 1 sends 2 |w| (2 s), node 0 3 |w| (3 s): T = 1.5, 4, 7
    assert fwd.finish_s.tolist() == [7.0, 4.0, 1.5] and fwd.message_bits.tolist() == [300.0, 200.0, 100.0]
    late = route_costs(CHAIN3, np.ones(3, bool), ready, rate, w, False, 5.0, np.ones(3))
    assert not late.delivered.any()  # the whole route arrives at 7 s > T = 5 s, and is dropped
    # energy: P S_v / r per sender; reception 1e-3 J/bit x the children's bits
    e = route_costs(CHAIN3, np.ones(3, bool), ready, rate, w, False, 10.0, np.full(3, 0.5), receive_j_per_bit=1e-3)
    assert e.energy_transmit_j.tolist() == [1.5, 1.0, 0.5] and e.energy_receive_j.tolist() == [0.2, 0.1, 0.0]


def test_a_relay_without_an_update_forwards_and_aggregation_waits_for_children():
    parent = np.array([-1, 0, 0])  # 1 and 2 both relay through 0, which has no update of its own
    out = route_costs(parent, np.array([False, True, True]), np.array([0.0, 1.0, 3.0]), np.full(3, 50.0), 100.0, True,
                      10.0, np.ones(3), aggregation_s=0.25)
    # children: 1 + 2 = 3 s and 3 + 2 = 5 s; the relay waits for both, aggregates (0.25 s), sends |w| (2 s)
    assert out.finish_s[0] == pytest.approx(5.0 + 0.25 + 2.0) and out.message_bits[0] == 100.0
    assert out.delivered.tolist() == [False, True, True]  # the relay has nothing of its own to deliver


def test_loops_are_cut_off_and_bad_parents_are_named():
    parent = np.array([-1, 0, 3, 2, 3])  # 2 <-> 3 loop, 4 runs into it
    top, depth = route_roots(parent)
    assert top.tolist() == [0, 0, -1, -1, -1] and depth.tolist() == [0, 1, -1, -1, -1]
    out = route_costs(parent, np.ones(5, bool), np.zeros(5), np.full(5, 1e3), 10.0, True, 1.0, np.ones(5))
    assert out.cut_off.tolist() == [False, False, True, True, True] and out.delivered.tolist() == [True, True] + [False] * 3
    assert np.all(out.energy_transmit_j[2:] == 0) and np.all(out.message_bits[2:] == 0)
    with pytest.raises(ValueError, match=r"parent\[1\] = 1"):
        route_roots(np.array([-1, 1]))
    with pytest.raises(ValueError, match=r"parent\[0\] = 7"):
        route_roots(np.array([7, -1]))


def test_a_thousand_learners_on_a_random_tree():
    rng = np.random.default_rng(0)
    K = 1000
    parent = np.array([-1] + [int(rng.integers(0, k)) for k in range(1, K)])  # a random recursive tree
    top, depth = route_roots(parent)
    assert np.all(top == 0)
    for k in rng.choice(K, 50, replace=False):  # depth by walking up, for a sample of learners
        hops, node = 0, k
        while parent[node] >= 0:
            node, hops = parent[node], hops + 1
        assert depth[k] == hops


def _enumerate_best(root_s, neighbours, link_s, k, combine):
    """The best value over every simple route from k to the orchestrator (inf if none)."""
    best = root_s[k]
    stack = [(k, (k,), None)]
    while stack:
        node, path, value = stack.pop()
        if value is not None:
            best = min(best, combine(value, root_s[node]))
        for j, c in zip(neighbours[node], link_s[node]):
            if j >= 0 and np.isfinite(c) and j not in path:
                stack.append((int(j), path + (int(j),), c if value is None else combine(value, c)))
    return best


def _tree_value(root_s, neighbours, link_s, parent, k, combine):
    from mel_gym.optim.routes import route_of

    route = route_of(parent, k)
    value = root_s[route[-1]]
    for a, b in zip(route[:-1], route[1:]):
        value = combine(value, link_s[a][list(neighbours[a]).index(b)])
    return value


def test_the_trees_equal_enumeration_on_small_graphs():
    from mel_gym.optim.routes import bottleneck_tree, link_times, shortest_path_tree

    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(40):
        K = 6
        neighbours = np.array([[j for j in range(K) if j != k] for k in range(K)])
        rates = rng.uniform(1e5, 1e7, size=(K, K - 1)) * (rng.random((K, K - 1)) > 0.4)
        up = rng.uniform(1e5, 1e7, K) * (rng.random(K) > 0.6)  # most learners out of the orchestrator's range
        root_s, link_s = link_times(1e5, up, rates)
        for tree, combine in ((shortest_path_tree, lambda a, b: a + b), (bottleneck_tree, max)):
            parent, reachable = tree(root_s, neighbours, link_s)
            for k in range(K):
                best = _enumerate_best(root_s, neighbours, link_s, k, combine)
                assert reachable[k] == np.isfinite(best)
                if reachable[k]:
                    got = _tree_value(root_s, neighbours, link_s, parent, k, combine)
                    assert got == pytest.approx(best, rel=1e-12)
                    checked += 1
            top, _ = route_roots(np.where(reachable, parent, -1))
            assert np.all(top[reachable] >= 0)  # the routes form a tree: no loop
    assert checked > 100
