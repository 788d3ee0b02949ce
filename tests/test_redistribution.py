"""Data redistribution (groundwork): EMD by hand, the min-imbalance transport within holdings, caps and the time
budget, and that it lowers the imbalance where links allow (against the shared pool and no redistribution)."""

from __future__ import annotations

import numpy as np
import pytest

from mel_gym.optim.redistribution import apply_plan, emd, min_imbalance_plan, shared_pool_plan


def test_emd_by_hand():
    counts = np.array([[10, 0], [0, 10], [5, 5]])  # population p = (0.5, 0.5)
    assert emd(counts).tolist() == [1.0, 1.0, 0.0]  # |1 - 0.5| + |0 - 0.5| = 1


def test_the_plan_keeps_every_limit_and_lowers_the_imbalance():
    rng = np.random.default_rng(0)
    K, C = 6, 4
    counts = np.zeros((K, C))
    for k in range(K):  # two classes per learner: strongly non-IID
        counts[k, rng.choice(C, 2, replace=False)] = rng.integers(20, 60, 2)
    neighbours = np.array([[j for j in range(K) if j != k] for k in range(K)])
    rate = rng.uniform(1e4, 1e5, size=(K, K - 1))
    bits, budget, cap = 1000.0, 0.5, np.full(K, 15.0)
    plan = min_imbalance_plan(counts, neighbours, rate, bits, budget, cap)
    assert np.all(plan >= 0)
    assert np.all(plan.sum(axis=1) <= counts + 1e-6)  # never more of a class than the sender holds
    assert np.all(plan.sum(axis=(1, 2)) <= cap + 1e-6)
    assert np.all((plan.sum(axis=2) * bits / rate).sum(axis=1) <= budget + 1e-9)
    after = apply_plan(counts, neighbours, plan)
    assert after.sum() == pytest.approx(counts.sum())  # nothing lost
    target = counts.sum(axis=1, keepdims=True) * counts.sum(axis=0) / counts.sum()
    deviation = lambda n: np.abs(n - target).sum()  # noqa: E731 - the LP's objective
    assert deviation(after) < deviation(counts)
    for alpha in (0.02, 0.05, 0.1):  # the shared pool, wherever it keeps the same limits, is no better than the LP
        pool = shared_pool_plan(counts, neighbours, alpha)
        feasible = (np.all(pool.sum(axis=(1, 2)) <= cap)
                    and np.all((pool.sum(axis=2) * bits / rate).sum(axis=1) <= budget))
        if feasible:
            assert deviation(after) <= deviation(apply_plan(counts, neighbours, pool)) + 1e-6
    # no budget: nothing moves
    assert min_imbalance_plan(counts, neighbours, rate, bits, 0.0, cap).sum() == pytest.approx(0.0, abs=1e-9)


# ------------------------------------------------------------------------------------------ the env's phase
import gymnasium as gym  # noqa: E402

from mel_gym.config import load_scenario  # noqa: E402
from mel_gym.optim.redistribution import phase_plan, send_times_s  # noqa: E402
from mel_gym.schema import ConfigError  # noqa: E402

ENV = "mel_gym/TaskAllocation-v0"


def _phase_action(env, fraction: float, pooled: bool) -> np.ndarray:
    """Equal shares, every learner sending ``fraction`` of its cap into the pool or the transport plan."""
    p = env.unwrapped.problem
    K = p.num_learners
    decoded = p.decode(env.unwrapped.core.observe()[0])
    return p.encode_action(decoded, np.full(K, 1.0 / K), send_fraction=np.full(K, fraction),
                           send_pooled=np.full(K, pooled)).astype(np.float32)


def test_phase_plan_keeps_every_limit_in_whole_samples():
    rng = np.random.default_rng(1)
    K, C = 6, 5
    counts = np.zeros((K, C))
    for k in range(K):
        counts[k, rng.choice(C, 2, replace=False)] = rng.integers(10, 40, 2)
    neighbours = np.array([[j for j in range(K) if j != k] for k in range(K)])
    rate = rng.uniform(2e4, 1e5, size=(K, K - 1))
    allowed = np.array([0, 3, 8, 12, 5, 20])
    pooled = np.array([False, True, False, True, False, False])
    pool, transport = phase_plan(counts, neighbours, rate, 1000.0, 0.3, allowed, pooled)
    for plan in (pool, transport):
        assert plan.dtype == np.int64 and np.all(plan >= 0)
        assert np.all(send_times_s(plan, rate, 1000.0) <= 0.3 + 1e-9)
    assert np.all(pool[~pooled] == 0) and np.all(transport[pooled] == 0)  # each learner in one mode
    assert np.all(pool.sum(axis=(1, 2)) + transport.sum(axis=(1, 2)) <= allowed)
    assert np.all(pool.sum(axis=1) <= counts)
    assert np.all(transport.sum(axis=1) <= apply_plan(counts, neighbours, pool) + 1e-9)


def test_the_phase_moves_samples_within_the_limits_and_charges_its_energy():
    env = gym.make(ENV, scenario="redistribution")
    env.reset(seed=3)
    core = env.unwrapped.core
    sim, s = core.sim, core.scenario
    before = [set(sim.pools.index[0, k, : sim.pools.size[0, k]].tolist()) for k in range(10)]
    sizes = sim.pools.size[0].copy()
    counts = sim.label_counts()[0]
    _, _, _, _, info = env.step(_phase_action(env, 1.0, pooled=False))
    after = [set(sim.pools.index[0, k, : sim.pools.size[0, k]].tolist()) for k in range(10)]
    assert set().union(*before) == set().union(*after) and sum(map(len, after)) == sizes.sum()  # nothing lost
    sent, received = info["redistribution_sent"], info["redistribution_received"]
    assert sent.sum() == received.sum() > 0
    assert np.all(sent <= np.floor(s.redistribution.cap_fraction * sizes + 1e-9))  # the cap (consent)
    assert np.all(info["redistribution_s"] <= s.redistribution.budget_s + 1e-9)  # the time budget
    assert np.array_equal(sizes - sent + received, sim.pools.size[0])
    P, bits = core.sim.world.tx_power_w, sim.sample_bits
    energy = P * info["redistribution_s"] + s.d2d.receive_j_per_bit * received * bits
    assert np.allclose(info["redistribution_energy_j"], energy)
    assert info["label_emd"].sum() < emd(counts).sum()  # the transport plan lowers the imbalance
    # samples that moved are trained where they moved to: they are in the receivers' pools now
    moved_in = [after[k] - before[k] for k in range(10)]
    assert sum(len(m) for m in moved_in) == received.sum()
    # schedule 'episode': no second phase
    _, _, _, _, info = env.step(_phase_action(env, 1.0, pooled=False))
    assert info["redistribution_sent"].sum() == 0 and info["redistribution_energy_j"].sum() == 0


def test_sending_nothing_changes_nothing_and_the_world_draws_the_same():
    env = gym.make(ENV, scenario="redistribution", horizon_cycles=3)
    obs_a, _ = env.reset(seed=5)
    obs_a, _, _, _, info = env.step(_phase_action(env, 0.0, pooled=False))
    assert info["redistribution_sent"].sum() == 0 and info["redistribution_energy_j"].sum() == 0
    env_b = gym.make(ENV, scenario="redistribution", horizon_cycles=3)
    env_b.reset(seed=5)
    obs_b, _, _, _, info_b = env_b.step(_phase_action(env_b, 1.0, pooled=True))
    assert info_b["redistribution_sent"].sum() > 0
    da, db = env.unwrapped.problem.decode(obs_a), env_b.unwrapped.problem.decode(obs_b)
    assert np.array_equal(da.rate_up_bps, db.rate_up_bps) and np.array_equal(da.cpu_hz, db.cpu_hz)  # same world
    assert not np.array_equal(da.label_share, db.label_share)  # only the data moved


def test_the_observation_shows_each_learner_s_label_histogram():
    env = gym.make(ENV, scenario="redistribution")
    obs, _ = env.reset(seed=2)
    sim = env.unwrapped.core.sim
    decoded = env.unwrapped.problem.decode(obs)
    counts = sim.label_counts()[0]
    assert np.allclose(decoded.label_share, counts / counts.sum(axis=1, keepdims=True), atol=1e-6)
    assert np.array_equal(decoded.label_counts, counts)
    assert env.observation_space.shape == (14 * 10 + 3 + 10 * 10,)
    assert env.unwrapped.problem.actions.names == ("shares", "send", "send_mode")


def test_redistribution_needs_fl_d2d_and_an_env_that_runs_it():
    with pytest.raises(ConfigError, match="redistribution.enabled"):
        load_scenario("redistribution").replace(mode="pl")
    with pytest.raises(ConfigError, match="redistribution.enabled"):
        load_scenario("redistribution").replace(d2d={"enabled": False})
    with pytest.raises(ConfigError, match="redistribution.enabled"):
        gym.make("mel_gym/JointAllocation-v0", scenario="redistribution")
    with pytest.raises(ConfigError, match="budget_s"):
        load_scenario("redistribution").replace(redistribution={"schedule": "cycle"})


def test_the_baselines_redistribute_as_documented():
    from mel_gym.agents import make_policy

    env = gym.make(ENV, scenario="redistribution")
    emds = {}
    for name in ("ha-sync", "shared-pool", "min-cost-transport"):
        obs, _ = env.reset(seed=4)
        policy = make_policy(name, env.unwrapped.problem, env.action_space)
        _, _, _, _, info = env.step(policy.predict(obs)[0])
        emds[name] = info["label_emd"].sum()
        if name == "ha-sync":
            assert info["redistribution_sent"].sum() == 0
        if name == "shared-pool":  # alpha = 0.1 of each pool, in whole samples, within the budget
            sizes = env.unwrapped.core.sim.pools.size[0] - info["redistribution_received"] + info["redistribution_sent"]
            assert np.all(info["redistribution_sent"] <= np.floor(0.1 * sizes) + 1e-9)
    assert emds["min-cost-transport"] < emds["shared-pool"] < emds["ha-sync"]
