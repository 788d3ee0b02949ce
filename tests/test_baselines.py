"""HA-Sync against a generic solver, equal allocation and the env; the baselines' decisions."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp, minimize

from mel_gym.agents import EqualAllocation, HASync, RandomPolicy, TaskOnly, make_policy
from mel_gym.envs.action_maps import shares_from_action
from conftest import ENV_ID, SMALL
from mel_gym.optim.joint_resources import solve_joint, solve_task_only
from mel_gym.optim.task_sizing import (PLAN_DEADLINE_MARGIN, equal_allocation_tau, integer_max_tau,
                                           relaxed_max_tau, relaxed_task_sizes)
from mel_gym.world.costs import CostModel, CycleCoefficients, feasible_sync_iterations


def _instance(rng, K, pl=True):
    rate = rng.uniform(1e6, 2e7, K)
    cpu = rng.choice([0.7e9, 1.0e9, 1.4e9, 2.4e9], K)
    cost = CostModel(model_bits=7.7e4, sample_bits=2080.0, sends_data=pl, cycles_per_sample=8e4, kappa=1e-28,
                     cycle_deadline_s=0.1)
    return cost.coefficients(rate * rng.uniform(1, 4, K), rate, cpu)


def _milp_max_tau(c: CycleCoefficients, T: float, d: int, max_tau: int, task_caps: np.ndarray) -> int:
    """An independent integer solver: for each tau from the top, the most samples integer d_k <= cap_k that meet
    (C2 tau + C1) d_k <= T (1 - margin) - C0 (scipy's MILP, HiGHS); the first tau that places d wins."""
    K = len(task_caps)
    usable = c.c0 < T * (1 - PLAN_DEADLINE_MARGIN)
    for tau in range(max_tau, 0, -1):
        per = c.c2 * tau + c.c1
        upper = np.where(usable, task_caps, 0).astype(float)
        budget = np.where(usable, T * (1 - PLAN_DEADLINE_MARGIN) - c.c0, 0.0)
        res = milp(-np.ones(K), integrality=np.ones(K), bounds=Bounds(0, upper),
                   constraints=LinearConstraint(np.diag(per), -np.inf, budget))
        if res.status == 0 and -res.fun >= d - 1e-9:
            return tau
    return 0


def _scipy_max_tau(c: CycleCoefficients, T: float, d: int, rng: np.random.Generator) -> float:
    """The same relaxed problem handed to SLSQP, variables (tau, shares s_k = d_k / d), several starts.

    Learners with C0_k >= T cannot take part (their constraint fails even at d_k = 0), so, as in the problem
    statement, only the others are variables. Returns 0 if no start converged to a feasible point.
    """
    ok = c.c0 < T
    c0, c1, c2 = c.c0[ok], c.c1[ok], c.c2[ok]
    K = int(ok.sum())
    slack = lambda x: (T - (c2 * x[0] * d * x[1:] + c1 * d * x[1:] + c0)) / T  # noqa: E731
    cons = [{"type": "eq", "fun": lambda x: x[1:].sum() - 1.0}, {"type": "ineq", "fun": slack}]
    best = 0.0
    for start in range(6):
        shares = rng.dirichlet(np.ones(K)) if start else np.full(K, 1.0 / K)
        res = minimize(lambda x: -x[0], np.concatenate([[0.0], shares]), method="SLSQP", constraints=cons,
                       bounds=[(0, None)] + [(0, 1)] * K, options={"maxiter": 1000, "ftol": 1e-12})
        if slack(res.x).min() >= -1e-7 and abs(res.x[1:].sum() - 1) < 1e-7:
            best = max(best, float(res.x[0]))
    return best


@pytest.mark.parametrize("pl", [True, False])
def test_relaxed_tau_matches_a_generic_solver(pl):
    rng = np.random.default_rng(0 if pl else 1)
    for _ in range(10):
        K = int(rng.integers(3, 9))
        c = _instance(rng, K, pl)
        T, d = 0.1, int(rng.integers(300, 1500))
        ours = relaxed_max_tau(c, T, d)
        theirs = _scipy_max_tau(c, T, d, rng)
        if ours == 0:  # even tau = 0 cannot deliver d samples in time: nothing is feasible
            assert relaxed_task_sizes(c, T, 0.0).sum() < d and theirs == 0
            continue
        assert theirs > 0, "the generic solver found no feasible point"
        assert ours >= theirs * (1 - 1e-6)  # never worse than the generic solver ...
        assert ours == pytest.approx(theirs, rel=1e-6)  # ... and the same optimum
        # at the optimum every deadline of a learner that can take part is tight and the samples add up
        dk = relaxed_task_sizes(c, T, ours)
        assert dk.sum() == pytest.approx(d, rel=1e-9)
        ok = c.c0 < T
        assert np.allclose((c.c2 * ours * dk + c.c1 * dk + c.c0)[ok], T) and np.all(dk[~ok] == 0)


def test_fl_closed_form_equals_bisection_and_is_proportional_to_f():
    rng = np.random.default_rng(2)
    c = _instance(rng, 6, pl=False)
    T, d = 0.1, 900
    closed = relaxed_max_tau(c, T, d)
    bisected = relaxed_max_tau(c, T, d, task_caps=np.full(6, 1e9))  # task_caps that never bind force the search
    assert closed == pytest.approx(bisected, rel=1e-9)
    dk = relaxed_task_sizes(c, T, closed)
    f_times_slack = (T - c.c0) / c.c2
    assert np.allclose(dk / dk.sum(), f_times_slack / f_times_slack.sum())


def test_integer_plan_is_feasible_optimal_and_never_below_equal():
    rng = np.random.default_rng(3)
    for trial in range(200):
        K = int(rng.integers(2, 12))
        pl = bool(trial % 2)
        c = _instance(rng, K, pl)
        T, d, cap = 0.1, int(rng.integers(100, 2000)), 40
        tau, dk = integer_max_tau(c, T, d, cap)
        eq = equal_allocation_tau(c, T, d, cap, np.ones(K, bool))
        assert tau >= eq
        if tau == 0:
            continue
        assert dk.sum() == d and np.all(dk >= 0)
        assert feasible_sync_iterations(c, dk[None], T, cap)[0] >= tau  # the env would run at least this tau
        if tau < cap:  # tau + 1 is impossible for any integer split: capacities sum below d
            nxt = np.floor((T - c.c0) / (c.c2 * (tau + 1) + c.c1))
            assert np.maximum(nxt, 0).sum() < d


@pytest.mark.parametrize("pl", [True, False])
def test_caps_that_add_up_to_exactly_d_against_an_independent_integer_solver(pl):
    """Regression: in FL with d = all the training data, the task_caps sum to exactly d, and the relaxed sum of
    capacities equals d on a whole interval of tau; the optimum is its right end, not tau = 0."""
    rng = np.random.default_rng(40 + pl)
    for _ in range(20):
        K = int(rng.integers(3, 9))
        c = _instance(rng, K, pl)
        task_caps = rng.integers(20, 200, K)
        d = int(task_caps.sum())
        relaxed = relaxed_max_tau(c, 0.1, d, task_caps=task_caps.astype(float))
        tau, dk = integer_max_tau(c, 0.1, d, 40, task_caps)
        assert tau == _milp_max_tau(c, 0.1, d, 40, task_caps)
        if tau:
            assert np.array_equal(dk, task_caps)  # everyone trains on all of its data
            assert relaxed >= tau and feasible_sync_iterations(c, dk, 0.1, 40) >= tau


def test_ha_sync_in_fl_with_all_the_training_data_trains():
    """The issue's case: the paper preset in FL (d = 4,000 = the training split, so the task_caps sum to d)."""
    env = gym.make(ENV_ID, scenario="paper", mode="fl", horizon_cycles=1)
    problem = env.unwrapped.problem
    obs, _ = env.reset(seed=0)
    decoded = problem.decode(obs)
    assert decoded.task_caps.sum() == problem.samples_per_cycle
    plan = HASync(problem).plan(obs)
    independent = _milp_max_tau(problem.coefficients(decoded), problem.cycle_deadline_s, problem.samples_per_cycle,
                                problem.max_local_iterations, decoded.task_caps)
    assert plan.tau == independent >= 1
    _, _, _, _, info = env.step(HASync(problem).predict(obs)[0])
    assert info["tau"] >= plan.tau and info["participants"].all() and not info["stragglers"].any()
    inst = problem.joint_instance(decoded)  # task-only and joint through the joint model (Fig. 3's solvers)
    assert solve_task_only(inst).tau == plan.tau
    assert solve_joint(inst, refine=False).tau >= plan.tau


def test_integer_plan_respects_caps():
    rng = np.random.default_rng(4)
    c = _instance(rng, 5, pl=False)
    task_caps = np.array([50, 500, 500, 500, 0])
    tau, dk = integer_max_tau(c, 0.1, 800, 40, task_caps)
    assert np.all(dk <= task_caps) and dk.sum() == 800 and dk[4] == 0


def _episode(env, policy, seed):
    obs, _ = env.reset(seed=seed)
    taus, planned, done = [], [], False
    while not done:
        if isinstance(policy, HASync):
            planned.append(policy.plan(obs).tau)
        action, _ = policy.predict(obs)
        obs, _, terminated, truncated, info = env.step(action)
        taus.append(info["tau"])
        done = terminated or truncated
    return np.array(taus), np.array(planned), info


@pytest.mark.parametrize("mode", ["pl", "fl"])
def test_ha_sync_in_the_env_runs_the_planned_tau_and_beats_equal(mode):
    env = gym.make(ENV_ID, **{**SMALL, "horizon_cycles": 8, "mode": mode})
    ha, eq = HASync(env.unwrapped.problem), EqualAllocation(env.unwrapped.problem)
    for seed in range(4):
        ha_taus, planned, ha_info = _episode(env, ha, seed)
        eq_taus, _, _ = _episode(env, eq, seed)
        assert np.array_equal(ha_taus, planned)  # decided from the observation alone, executed exactly
        assert np.all(ha_taus >= eq_taus)  # same seed -> same channels: HA-Sync never loses a cycle
        assert not ha_info["stragglers"].any()
    assert ha_taus.mean() > eq_taus.mean()


def test_baselines_predict_single_and_batched_observations():
    env = gym.make(ENV_ID, **SMALL)
    obs, _ = env.reset(seed=0)
    batch = np.stack([obs, obs])
    for policy in (EqualAllocation(env.unwrapped.problem), HASync(env.unwrapped.problem), RandomPolicy(env.action_space)):
        single, state = policy.predict(obs)
        assert single.shape == (4,) and single.dtype == np.float32 and state is None
        assert env.action_space.contains(single)
        assert policy.predict(batch)[0].shape == (2, 4)
    equal = EqualAllocation(env.unwrapped.problem).predict(obs)[0]
    assert np.allclose(shares_from_action(equal, np.ones(4, bool), 3.0), 0.25)
    a1 = RandomPolicy(env.action_space, seed=5).predict(obs)[0]
    assert np.array_equal(a1, RandomPolicy(env.action_space, seed=5).predict(obs)[0])


def test_make_policy_names_and_errors(tmp_path):
    env = gym.make(ENV_ID, **SMALL)
    problem, space = env.unwrapped.problem, env.action_space
    assert isinstance(make_policy("ha-sync", problem, space), HASync)
    assert isinstance(make_policy("task-only", problem, space), TaskOnly)
    with pytest.raises(ValueError, match="unknown policy 'best'"):
        make_policy("best", problem, space)
    with pytest.raises(ValueError, match="'greedy'.*does not fit this env"):
        make_policy("greedy", problem, space)
    with pytest.raises(FileNotFoundError, match="no saved agent"):
        make_policy(str(tmp_path / "missing.zip"), problem, space)
