"""HA-Sync against a generic solver, equal allocation and the env; the baselines' decisions."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from scipy.optimize import minimize

from mel_gym.agents import EqualAllocation, HASync, RandomPolicy, make_policy
from mel_gym.envs.action_maps import shares_from_action
from conftest import ENV_ID, SMALL
from mel_gym.optim.task_allocation import equal_allocation_tau, integer_max_tau, relaxed_max_tau, relaxed_task_sizes
from mel_gym.world.timing import CycleCoefficients, max_sync_iterations


def _instance(rng, K, pl=True):
    rate = rng.uniform(1e6, 2e7, K)
    cpu = rng.choice([0.7e9, 1.0e9, 1.4e9, 2.4e9], K)
    return CycleCoefficients.from_physics(rate, rate, cpu, model_bits=7.7e4, sample_bits=2080.0,
                                          cycles_per_sample=8e4, sends_data=pl)


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
    bisected = relaxed_max_tau(c, T, d, caps=np.full(6, 1e9))  # caps that never bind force the search
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
        assert max_sync_iterations(c, dk[None], T, cap)[0] >= tau  # the env would run at least this tau
        if tau < cap:  # tau + 1 is impossible for any integer split: capacities sum below d
            nxt = np.floor((T - c.c0) / (c.c2 * (tau + 1) + c.c1))
            assert np.maximum(nxt, 0).sum() < d


def test_integer_plan_respects_caps():
    rng = np.random.default_rng(4)
    c = _instance(rng, 5, pl=False)
    caps = np.array([50, 500, 500, 500, 0])
    tau, dk = integer_max_tau(c, 0.1, 800, 40, caps)
    assert np.all(dk <= caps) and dk.sum() == 800 and dk[4] == 0


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
    assert isinstance(make_policy("ha-sync", env), HASync)
    with pytest.raises(ValueError, match="unknown policy 'best'"):
        make_policy("best", env)
    with pytest.raises(FileNotFoundError, match="no saved agent"):
        make_policy(str(tmp_path / "missing.zip"), env)
