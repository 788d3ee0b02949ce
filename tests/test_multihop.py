"""MultiHop-v0: a cycle over a tree by hand (times, energies, FedAvg), masks that never allow a loop or an
out-of-range link, bad choices that idle learners without corrupting state, and the tree baselines against
enumeration of every tree the masks allow."""

from __future__ import annotations

import itertools

import gymnasium as gym
import numpy as np
import pytest

from mel_gym.agents import make_policy
from mel_gym.envs.route_problem import NO_ROUTE, TO_ORCHESTRATOR
from mel_gym.simulation import Decision
from mel_gym.world.routes import route_roots

ENV_ID = "mel_gym/MultiHop-v0"


def _linked_pair(env, need_coverage: bool) -> tuple[int, int, int]:
    """(seed, a, b): after ``env.reset(seed=seed)``, a can reach the orchestrator and b is a D2D neighbour of a (and a
    of b; b in range too with ``need_coverage``). The env is left reset with that seed."""
    for seed in range(30):
        env.reset(seed=seed)
        world = env.unwrapped.core.sim.world
        links = world.d2d_links()
        for a in np.flatnonzero(world.in_coverage[0]):
            for b in links.neighbours[0, a]:
                if b >= 0 and a in links.neighbours[0, b] and (world.in_coverage[0, b] or not need_coverage):
                    return seed, int(a), int(b)
    raise AssertionError("no linked pair in 30 seeds")


@pytest.mark.parametrize("aggregation", ["in_route", "forward"])
def test_a_cycle_over_a_tree_by_hand(aggregation):
    """b -> a -> orchestrator: the model comes down (a's downlink, then a's broadcast to b), both compute, b's update
    goes to a, a sends one aggregate (or both updates) up; times and energies as docs/multihop.md writes them."""
    env = gym.make(ENV_ID, num_learners=6, cycle_deadline_s=50.0, multihop={"aggregation": aggregation})
    _, a, b = _linked_pair(env, need_coverage=False)
    sim = env.unwrapped.core.sim
    s = sim.scenario
    world = sim.world
    rate_down, rate_up = world.rates_bps()
    links = world.d2d_links()
    rates = links.rates_bps(np.broadcast_to(world.tx_power_w, (1, 6)))[0]
    r_ba = rates[b][links.neighbours[0, b] == a][0]
    cpu = world.cpu_available_hz(reported=False)[0]
    w, C, P, e_rx = sim.cost.model_bits, s.compute.cycles_per_sample, world.tx_power_w, s.d2d.receive_j_per_bit
    d = np.zeros((1, 6), np.int64)
    d[0, a], d[0, b] = 40, 30
    tau = np.where(d > 0, 2, 0)
    hop = np.full((1, 6), NO_ROUTE)
    hop[0, a], hop[0, b] = TO_ORCHESTRATOR, a
    out = sim.step(Decision(d, tau, next_hop=hop))
    held_a = w / rate_down[0, a]
    held_b = held_a + w / r_ba  # a's broadcast at its only child's rate
    ready_a, ready_b = held_a + 2 * 40 * C / cpu[a], held_b + 2 * 30 * C / cpu[b]
    finish_b = ready_b + w / r_ba
    up_bits = w if aggregation == "in_route" else 2 * w
    finish_a = max(ready_a, finish_b) + (s.multihop.aggregation_s if aggregation == "in_route" else 0.0) \
        + up_bits / rate_up[0, a]
    report = out.topology
    assert report["delivery_s"][0, a] == pytest.approx(finish_a) and report["delivery_s"][0, b] == pytest.approx(finish_a)
    assert report["hops"][0, a] == 1 and report["hops"][0, b] == 2
    assert report["link_bits"][0, a] == up_bits and report["link_bits"][0, b] == w
    assert report["model_relay_bits"][0, a] == w and report["model_relay_bits"][0, b] == 0
    assert report["aggregated_at"][0, b] == (a if aggregation == "in_route" else -1)
    compute_j = s.compute.kappa * cpu**2 * C * 2 * d[0]
    energy_a = compute_j[a] + P * up_bits / rate_up[0, a] + P * w / r_ba + e_rx * w
    energy_b = compute_j[b] + P * w / r_ba + e_rx * w
    assert out.energy_j[0, a] == pytest.approx(energy_a) and out.energy_j[0, b] == pytest.approx(energy_b)
    relay_a = e_rx * w + P * w / r_ba + (P * w / rate_up[0, a] if aggregation == "forward" else 0.0)
    assert report["relay_energy_j"][0, a] == pytest.approx(relay_a)
    assert out.finished[0, [a, b]].all() and not report["late"][0].any()


def test_updates_that_miss_the_deadline_are_dropped_and_still_pay():
    env = gym.make(ENV_ID, num_learners=6, cycle_deadline_s=50.0)
    seed, a, b = _linked_pair(env, need_coverage=False)
    sim = env.unwrapped.core.sim
    d = np.zeros((1, 6), np.int64)
    d[0, a], d[0, b] = 40, 30
    hop = np.full((1, 6), NO_ROUTE)
    hop[0, a], hop[0, b] = TO_ORCHESTRATOR, a
    on_time = sim.step(Decision(d, np.where(d > 0, 2, 0), next_hop=hop))
    # the same world again, with a deadline below the route's delivery
    late_env = gym.make(ENV_ID, num_learners=6, cycle_deadline_s=float(on_time.topology["delivery_s"][0, a]) * 0.9)
    late_env.reset(seed=seed)
    late = late_env.unwrapped.core.sim.step(Decision(d, np.where(d > 0, 2, 0), next_hop=hop))
    assert late.topology["late"][0, [a, b]].all() and not late.finished[0].any()
    assert late.loss_after[0] == late.loss_before[0]  # nothing reached the orchestrator: the model is unchanged
    assert late.energy_j[0, a] == pytest.approx(on_time.energy_j[0, a])  # they paid all the same


def test_a_tree_trains_the_same_model_as_the_star():
    """In-route partial sums (sum n_k w_k, sum n_k) give FedAvg's average: the tree and the star decision with the
    same tasks train the same model."""
    env = gym.make(ENV_ID, num_learners=6, cycle_deadline_s=50.0, orchestrator={"range_m": 1000.0})
    seed, a, b = _linked_pair(env, need_coverage=True)
    sim = env.unwrapped.core.sim
    d = np.zeros((1, 6), np.int64)
    d[0, a], d[0, b] = 40, 30
    tau = np.where(d > 0, 3, 0)
    hop = np.full((1, 6), NO_ROUTE)
    hop[0, a], hop[0, b] = TO_ORCHESTRATOR, a
    tree = sim.step(Decision(d, tau, next_hop=hop))
    env.reset(seed=seed)
    star = sim.step(Decision(d, tau))
    assert tree.finished[0, [a, b]].all() and star.finished[0, [a, b]].all()
    assert tree.loss_after[0] == star.loss_after[0] and tree.loss_after[0] < tree.loss_before[0]


def test_the_simulator_refuses_loops_and_links_that_do_not_exist():
    env = gym.make(ENV_ID, num_learners=6)
    _, a, b = _linked_pair(env, need_coverage=False)
    sim = env.unwrapped.core.sim
    d = np.zeros((1, 6), np.int64)
    hop = np.full((1, 6), NO_ROUTE)
    hop[0, a], hop[0, b] = b, a
    with pytest.raises(ValueError, match="loops"):
        sim.step(Decision(d, d, next_hop=hop))
    hop = np.full((1, 6), NO_ROUTE)
    out = np.flatnonzero(~sim.world.in_coverage[0])
    if out.size:
        hop[0, out[0]] = TO_ORCHESTRATOR
        with pytest.raises(ValueError, match="range"):
            sim.step(Decision(d, d, next_hop=hop))


def test_masks_never_allow_a_loop_or_an_out_of_range_link():
    env = gym.make(ENV_ID)
    u = env.unwrapped
    rng = np.random.default_rng(0)
    for seed in range(6):
        env.reset(seed=seed)
        for _ in range(3):
            mask = u.core.learner_masks()[0]
            world = u.core.sim.world
            assert np.array_equal(mask[:, 1], world.available[0])  # the orchestrator only in range
            neighbours = world.d2d_links().neighbours[0]
            assert not np.any(mask[:, 2:] & (neighbours < 0))  # a neighbour only over a link
            choices = np.array([rng.choice(np.flatnonzero(row)) for row in mask])
            hops = u.problem.next_hops(choices, neighbours)
            on = hops > NO_ROUTE
            assert np.all(route_roots(np.where(on, hops, -1))[0] >= 0)  # no loop
            action = np.concatenate([choices, rng.integers(0, 5, 16)])
            _, _, _, _, info = env.step(action)  # the simulator would refuse a loop or a missing link
            assert not np.any(info["route_idled"] & (choices == 0))


def test_bad_choices_idle_learners_and_never_corrupt_state():
    env = gym.make(ENV_ID, num_learners=8)
    obs, _ = env.reset(seed=3)
    u = env.unwrapped
    mask = u.core.learner_masks()[0]
    with pytest.raises(ValueError, match="index"):
        env.step(np.full(16, 99))
    assert np.array_equal(u.core.observe()[0], obs)  # the refused action changed nothing
    forbidden = [(k, c) for k in range(8) for c in range(mask.shape[1]) if not mask[k, c]]
    k, c = forbidden[0]
    action = np.zeros(16, dtype=np.int64)
    action[k], action[8 + k] = c, 4
    _, _, _, _, info = env.step(action)
    assert info["route_idled"][k] and info["next_hop"][k] == NO_ROUTE and info["energy_j"][k] == 0


def _route_values(hops, root_s, neighbours, link_s, combine):
    """Each learner's route value (sum or max of its links' times) on a tree; inf without a route."""
    K = len(hops)
    values = np.full(K, np.inf)
    for k in range(K):
        node, total = k, None
        for _ in range(K + 1):
            if hops[node] == NO_ROUTE:
                break
            c = root_s[node] if hops[node] == TO_ORCHESTRATOR else link_s[node][neighbours[node] == hops[node]][0]
            total = c if total is None else combine(total, c)
            if hops[node] == TO_ORCHESTRATOR:
                values[k] = total
                break
            node = hops[node]
    return values


@pytest.mark.parametrize("name, combine", [("shortest-path-tree", lambda x, y: x + y), ("min-max-tree", max)])
def test_tree_baselines_equal_enumeration_of_every_allowed_tree(name, combine):
    """On small envs, every learner's route under the baseline is as good (least total time, or fastest slowest link)
    as under the best of every tree the masks allow, enumerated."""
    env = gym.make(ENV_ID, num_learners=5, d2d={"max_neighbours": 3})
    u = env.unwrapped
    policy = make_policy(name, u.problem, env.action_space)
    checked = 0
    for seed in range(8):
        obs, _ = env.reset(seed=seed)
        p = u.problem
        decoded = p.decode(obs)
        root_s, link_s = p.allowed_graph(decoded)
        mask = p.hop_mask(decoded)
        options = [np.flatnonzero(row) for row in mask]
        best = np.full(5, np.inf)
        for choice in itertools.product(*options):
            hops = p.next_hops(np.array(choice), decoded.neighbours)
            best = np.minimum(best, _route_values(hops, root_s, decoded.neighbours, link_s, combine))
        action = policy.predict(obs)[0]
        hops = p.next_hops(action[:5], decoded.neighbours)
        got = _route_values(hops, root_s, decoded.neighbours, link_s, combine)
        assert np.allclose(got, best, rtol=1e-12) or np.array_equal(np.isinf(got), np.isinf(best)) and np.allclose(
            got[np.isfinite(got)], best[np.isfinite(best)])
        checked += int(np.isfinite(best).sum())
    assert checked >= 10


def test_relays_reach_learners_the_star_leaves_out_and_learn_more():
    env = gym.make(ENV_ID, horizon_cycles=5)
    returns = {}
    for name in ("direct", "shortest-path-tree", "random-tree", "random"):
        policy = make_policy(name, env.unwrapped.problem, env.action_space, seed=0)
        total, reached = 0.0, 0
        for seed in (11, 12):
            obs, _ = env.reset(seed=seed)
            done = False
            while not done:
                obs, reward, terminated, truncated, info = env.step(policy.predict(obs)[0])
                total += reward
                reached = max(reached, int(info["hops"].max()))
                done = terminated or truncated
        returns[name] = (total, reached)
    assert returns["shortest-path-tree"][1] >= 2 and returns["direct"][1] == 1  # relayed learners take part
    assert returns["shortest-path-tree"][0] > returns["direct"][0] > returns["random"][0]
    assert returns["random-tree"][0] > returns["random"][0]


def test_a_thousand_learners_build_and_step():
    env = gym.make(ENV_ID, num_learners=1000, samples_per_cycle=1000, learning={"partition": "iid"},
                   placement={"max_distance_m": 1500.0}, orchestrator={"range_m": 500.0}, horizon_cycles=2)
    obs, _ = env.reset(seed=0)
    policy = make_policy("shortest-path-tree", env.unwrapped.problem, env.action_space)
    _, _, _, _, info = env.step(policy.predict(obs)[0])
    assert info["hops"].max() >= 2 and info["participants"].sum() > 100
    assert env.unwrapped.core.sim.world.d2d.neighbours.shape == (1, 1000, 6)


def test_an_update_is_merged_where_it_first_meets_another():
    from mel_gym.simulation.cycle import merge_points

    parent = np.array([-1, 0, 1, 0])  # 2 -> 1 (a pure relay) -> 0 <- 3; 0 -> orchestrator
    has = np.array([True, False, True, True])
    updates = np.array([3, 1, 1, 1])  # subtree updates: 0 holds its own, 2's (via 1) and 3's
    assert merge_points(parent, updates, has).tolist() == [-1, -1, 0, 0]  # 1 only forwards 2's: no merge there
