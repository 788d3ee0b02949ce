"""AsyncTaskAllocation-v0 and JointAllocation-v0: formulas, baselines against generic solvers."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from scipy.optimize import minimize

from mel_gym.agents import HAAsync, HASync, Joint, ResourceOnly, TaskOnly, make_policy
from mel_gym.config import ConfigError
from mel_gym.envs.action_maps import action_from_cpu, action_from_power, cpu_from_action, power_from_action
from mel_gym.envs.async_allocation import staleness_weights
from mel_gym.optim.joint_resources import (
    JointInstance, _unpack, best_cpu, best_power_and_cpu, capacity_at, slack, solve_joint, solve_joint_relaxed,
    refine_slsqp, solve_resource_only, solve_task_only,
)
from mel_gym.optim.task_sizing import relaxed_max_tau, relaxed_min_staleness
from mel_gym.world.costs import CostModel

ASYNC, JOINT = "mel_gym/AsyncTaskAllocation-v0", "mel_gym/JointAllocation-v0"
SMALL = {"num_learners": 4, "samples_per_cycle": 400, "horizon_cycles": 4}


def test_async_each_learner_runs_its_own_deadline_bound_tau():
    env = gym.make(ASYNC, **SMALL)
    env.reset(seed=1)
    sim = env.unwrapped.simulator
    coeffs = sim.coefficients()
    _, _, _, _, info = env.step(np.zeros(4, np.float32))
    d = info["task_sizes"]
    expected = np.clip(np.floor((0.1 * (1 + 1e-9) - coeffs.c0 - coeffs.c1 * d) / (coeffs.c2 * d))[0], 0, 40)
    assert np.array_equal(info["local_iterations"], expected.astype(int))
    assert info["staleness"] == expected.max() - expected[expected > 0].min()
    assert not info["stragglers"].any()  # everyone works the whole cycle, nobody misses T
    assert info["time_s"].max() <= 0.1 * (1 + 1e-9)


def test_async_staleness_bound_and_weights():
    env = gym.make(ASYNC, **SMALL, aggregation={"max_staleness": 1, "staleness_weighting": "polynomial"})
    env.reset(seed=1)
    _, _, _, _, info = env.step(np.zeros(4, np.float32))
    tau = info["local_iterations"]
    assert tau.max() - tau[tau > 0].min() <= 1 and info["staleness"] <= 1
    d, t = np.array([[100, 100, 50, 0]]), np.array([[4, 2, 0, 3]])
    assert staleness_weights(d, t, "data", 0.5).tolist() == [[100, 100, 0, 0]]
    assert np.allclose(staleness_weights(d, t, "polynomial", 0.5), [[100, 100 / math.sqrt(3), 0, 0]])
    assert staleness_weights(d, t, "work", 0.5).tolist() == [[400, 200, 0, 0]]
    with pytest.raises(ConfigError, match="staleness_weighting"):
        gym.make(ASYNC, aggregation={"staleness_weighting": "fresh"})


def test_ha_async_relaxed_minimises_staleness_like_a_generic_solver():
    rng = np.random.default_rng(5)
    for _ in range(5):
        K = int(rng.integers(3, 7))
        rate = rng.uniform(2e6, 2e7, K)
        c = CostModel(7.7e4, 2080.0, True, 8e4, 1e-28, 0.1).coefficients(rate * 3, rate, rng.choice([0.7e9, 1.4e9, 2.4e9], K))
        T, d = 0.1, int(rng.integers(300, 900))
        dk, tau = relaxed_min_staleness(c, T, d)
        assert np.ptp(tau[dk > 0]) == pytest.approx(0.0, abs=1e-9) and dk.sum() == pytest.approx(d)
        # generic: minimise z >= |tau_k(d_k) - tau_j(d_j)| with every learner working the whole cycle
        tau_of = lambda x: (T - c.c0 - c.c1 * d * x) / (c.c2 * d * x)  # noqa: E731
        cons = [{"type": "eq", "fun": lambda v: v[:K].sum() - 1}]
        cons += [{"type": "ineq", "fun": (lambda v, i=i, j=j: v[K] - (tau_of(v[:K])[i] - tau_of(v[:K])[j]))}
                 for i in range(K) for j in range(K) if i != j]
        res = minimize(lambda v: v[K], np.concatenate([np.full(K, 1 / K), [50.0]]), method="SLSQP",
                       constraints=cons, bounds=[(1e-3, 1)] * K + [(0, None)], options={"maxiter": 500})
        assert res.x[K] == pytest.approx(0.0, abs=1e-4)  # the generic optimum is zero staleness too ...
        assert np.allclose(res.x[:K] * d, dk, rtol=1e-3)  # ... at the same split, tau = HA-Sync's tau*
        assert tau_of(res.x[:K]).mean() == pytest.approx(relaxed_max_tau(c, T, d), rel=1e-3)


def test_energy_bounded_tau_by_hand():
    env = gym.make("mel_gym/TaskAllocation-v0", **SMALL, energy={"cycle_cap_j": 0.004})
    env.reset(seed=0)
    sim = env.unwrapped.simulator
    _, _, _, _, info = env.step(np.zeros(4, np.float32))
    st = sim.world.state
    d = info["task_sizes"]
    f = st.cpu_hz[0]
    e_tau = np.floor((0.004 - env.unwrapped.problem.tx_power_w * info["time_return_s"]) / (1e-28 * f**2 * 8e4 * d))
    assert np.all(info["time_return_s"] > 0)  # everyone finished: the upload was paid in full
    assert info["tau"] <= max(int(e_tau.min()), 0)
    assert np.all(info["energy_j"] <= 0.004 * (1 + 1e-9)) and not info["over_cap"].any()


def test_joint_action_maps_by_hand():
    assert power_from_action(np.array([1.0, 0.0, -1.0]), 0.2, 30.0) == pytest.approx([0.2, 0.2 * 10**-1.5, 0.2e-3])
    assert action_from_power(np.array([0.2, 0.2e-3]), 0.2, 30.0) == pytest.approx([1.0, -1.0])
    f_max = np.array([2.4e9, 0.7e9])
    assert cpu_from_action(np.array([1.0, -1.0]), 0.3e9, f_max) == pytest.approx([2.4e9, 0.3e9])
    assert cpu_from_action(np.array([0.0, 0.0]), 0.3e9, f_max) == pytest.approx([1.35e9, 0.5e9])
    assert action_from_cpu(np.array([1.35e9, 0.5e9]), 0.3e9, f_max) == pytest.approx([0.0, 0.0])
    env = gym.make(JOINT, **SMALL)
    env.reset(seed=0)
    action = np.concatenate([np.zeros(4), np.ones(4), np.array([1.0, 0.0, 0.0, -1.0]), -np.ones(4)]).astype(np.float32)
    _, _, _, _, info = env.step(action)
    total = 4 * env.unwrapped.scenario.channel.bandwidth_hz
    w = np.exp(3.0 * np.array([1.0, 0.0, 0.0]))
    assert info["bandwidth_hz"][:3] == pytest.approx(total * w / w.sum()) and info["bandwidth_hz"][3] == 0
    assert info["tx_power_w"] == pytest.approx(np.full(4, 10 ** (23 / 10 - 3)))  # 23 dBm
    assert info["cpu_hz"] == pytest.approx(np.full(4, 0.3e9))
    assert info["tau"] == 0  # learner 3 has a task but no bandwidth: it cannot exchange the model
    with pytest.raises(ValueError, match=r"action has shape \(4,\), expected \(16,\)"):
        env.step(np.zeros(4, np.float32))


def _instance(rng, K, pl=True, energy=(0.005, 0.03)):
    return JointInstance(
        gain=10 ** (-(128.1 + 37.6 * np.log10(rng.uniform(20, 300, K) / 1000)) / 10) * rng.exponential(1, K),
        f_max_hz=rng.choice([0.7e9, 1.0e9, 1.4e9, 2.4e9], K), energy_limit_j=rng.uniform(*energy, K),
        task_caps=np.full(K, 1000.0), available=np.ones(K, bool),
        cost=CostModel(model_bits=77120.0, sample_bits=2080.0, sends_data=pl, cycles_per_sample=8e4, kappa=1e-28,
                       cycle_deadline_s=0.1),
        samples_per_cycle=int(rng.integers(300, 900)), max_local_iterations=40, tx_power_w=0.2, min_tx_power_w=0.2e-3,
        orchestrator_power_w=1.0, total_bandwidth_hz=K * 0.8e6, f_min_hz=0.3e9, noise_psd_w_per_hz=10**-20.4,
    )


def test_best_cpu_and_power_match_a_grid_search():
    rng = np.random.default_rng(1)
    inst = _instance(rng, 6)
    bandwidth = inst.equal_bandwidth()
    tau = 5.0
    cap, power, cpu = best_power_and_cpu(inst, tau, bandwidth)
    # every learner at once on a 200 x 200 grid of (power, CPU fraction)
    powers = np.geomspace(inst.min_tx_power_w, inst.tx_power_w, 200)
    fractions = np.linspace(0.0, 1.0, 200)
    low = np.minimum(inst.f_min_hz, inst.f_max_hz)
    grid_best = np.zeros(6)
    for p in powers:
        for q in fractions:
            grid_best = np.maximum(grid_best, capacity_at(inst, tau, bandwidth, np.full(6, p),
                                                          low + q * (inst.f_max_hz - low)))
    assert np.all(cap >= grid_best * (1 - 1e-3))
    f_star = best_cpu(inst, tau, bandwidth, power)
    assert np.allclose(f_star, cpu)


def _generic_joint(inst, rng, starts=6):
    K, ids, best = inst.num_learners, np.arange(inst.num_learners), 0.0
    lo_f = np.minimum(0.3, inst.f_max_hz / 1e9)
    bounds = ([(0, 40)] + [(0, 1)] * K + [(math.log(inst.min_tx_power_w), math.log(inst.tx_power_w))] * K + [(1e-6, 1)] * K
              + list(zip(lo_f, inst.f_max_hz / 1e9)))
    cons = [{"type": "ineq", "fun": lambda x: slack(inst, _unpack(x, inst, ids), ids)},
            {"type": "ineq", "fun": lambda x: 1 - x[1 + 2 * K : 1 + 3 * K].sum()},
            {"type": "eq", "fun": lambda x: x[1 : 1 + K].sum() - 1}]
    for _ in range(starts):
        x0 = np.concatenate([[0.0], rng.dirichlet(np.ones(K)), rng.uniform(math.log(inst.min_tx_power_w), math.log(inst.tx_power_w), K),
                             rng.dirichlet(np.ones(K)), rng.uniform(lo_f, inst.f_max_hz / 1e9)])
        res = minimize(lambda x: -x[0], x0, method="SLSQP", bounds=bounds, constraints=cons,
                       options={"maxiter": 500, "ftol": 1e-12})
        plan = _unpack(res.x, inst, ids)
        if (slack(inst, plan, ids).min() >= -1e-7 and abs(res.x[1 : 1 + K].sum() - 1) < 1e-6
                and res.x[1 + 2 * K : 1 + 3 * K].sum() <= 1 + 1e-7):
            best = max(best, plan.tau)
    return best


@pytest.mark.parametrize("pl", [True, False])
def test_joint_solver_against_a_generic_solver_and_the_restricted_baselines(pl):
    rng = np.random.default_rng(10 + pl)
    for _ in range(3):
        inst = _instance(rng, 4, pl)
        exact_equal_split = solve_joint_relaxed(inst)
        ours = refine_slsqp(inst, exact_equal_split)
        generic = _generic_joint(inst, rng)
        assert generic > 0
        assert ours.tau >= generic * (1 - 1e-4)  # as good as the best of several generic starts
        assert ours.tau >= exact_equal_split.tau
        integer = solve_joint(inst)
        assert integer.tau >= solve_task_only(inst).tau and integer.tau >= solve_resource_only(inst).tau
        assert integer.task_sizes.sum() == inst.samples_per_cycle
        assert slack(inst, integer, np.flatnonzero(integer.task_sizes > 0)).min() >= 0


def test_joint_baselines_in_the_env():
    env = gym.make(JOINT, **{**SMALL, "horizon_cycles": 3})
    problem = env.unwrapped.problem
    taus = {}
    for name, policy in (("task-only", TaskOnly(problem)), ("joint", Joint(problem)),
                         ("resource-only", ResourceOnly(problem)), ("equal", make_policy("equal", problem, None))):
        obs, _ = env.reset(seed=4)
        taus[name] = []
        for _ in range(3):
            planned = policy.plan(obs).tau if hasattr(policy, "plan") else None
            obs, _, _, _, info = env.step(policy.predict(obs)[0])
            taus[name].append(info["tau"])
            if planned is not None:  # the optimisers' plans run as planned: at least their tau, nobody fails
                assert info["tau"] >= planned
                assert not info["over_cap"].any() and not info["stragglers"].any()
    assert sum(taus["joint"]) >= sum(taus["task-only"]) and sum(taus["joint"]) >= sum(taus["resource-only"])
    assert sum(taus["task-only"]) >= sum(taus["equal"])
    assert isinstance(make_policy("ha-async", gym.make(ASYNC, **SMALL).unwrapped.problem, None), HAAsync)
    obs, _ = env.reset(seed=7)  # task-only through the joint model == HA-Sync with energy limits
    assert TaskOnly(problem).plan(obs).tau == HASync(problem).plan(obs).tau
    assert np.array_equal(TaskOnly(problem).predict(obs)[0][:4], HASync(problem).predict(obs)[0][:4])
    with pytest.raises(ValueError, match="does not fit this env"):
        make_policy("joint", gym.make("mel_gym/TaskAllocation-v0", **SMALL).unwrapped.problem, None)


def test_batteries_drain_and_empty_learners_leave_the_joint_env():
    env = gym.make(JOINT, **{**SMALL, "horizon_cycles": 10}, energy={"battery_min_j": 0.05, "battery_max_j": 0.05})
    obs, _ = env.reset(seed=0)
    world = env.unwrapped.simulator.world
    policy = TaskOnly(env.unwrapped.problem)
    spent = np.zeros(4)
    for _ in range(5):
        obs, _, _, _, info = env.step(policy.predict(obs)[0])
        spent += info["energy_j"]
        decoded = env.unwrapped.problem.decode(obs)
        assert np.allclose(decoded.battery_j, 0.05 - spent, atol=1e-6)  # the observation shows the drain
    assert spent.max() > 0.02  # batteries drain across cycles (the cap is per cycle)
    world.drain(np.array([[1.0, 0.0, 0.0, 0.0]]))  # learner 0 runs dry
    obs = env.unwrapped.core.observe()[0]
    decoded = env.unwrapped.problem.decode(obs)
    assert decoded.battery_fraction[0] == 0 and not decoded.available[0]
    favour_0 = np.concatenate([[1.0, -0.5, -0.5, -0.5], np.ones(4), [1.0, 0, 0, 0], np.ones(4)]).astype(np.float32)
    _, _, _, _, info = env.step(favour_0)
    assert info["task_sizes"][0] == 0 and info["bandwidth_hz"][0] == 0 and info["energy_j"][0] == 0
    assert info["task_sizes"].sum() == SMALL["samples_per_cycle"]


def test_config_errors_for_the_new_keys():
    with pytest.raises(ConfigError, match="'compute.min_cpu_hz'"):
        gym.make(JOINT, compute={"min_cpu_hz": 1e9})
    with pytest.raises(ConfigError, match="'energy.cycle_cap_j' = -1"):
        gym.make(JOINT, energy={"cycle_cap_j": -1})
    with pytest.raises(ConfigError, match="'aggregation.max_staleness' = 1.5 must be an integer"):
        gym.make(ASYNC, aggregation={"max_staleness": 1.5})
