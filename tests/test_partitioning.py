"""The partition problem of MultiJob-v0 under the env's own integer rule (mel_gym.optim.partitioning): the exact
MILP against brute force, the rule against the env's plan, and where the relaxed objective picks differently.

Run as a script for the figures of docs/multijob.md §4 (not asserted; minutes on two cores):

    .venv/bin/python tests/test_partitioning.py
"""

from __future__ import annotations

import sys
import time

import gymnasium as gym
import numpy as np
import pytest

import mel_gym  # noqa: F401 - registers the envs
from mel_gym.optim.partitioning import (best_partition, brute_force_exact_partition, brute_force_partition,
                                        capacity_table, env_rule_tau, env_rule_value, exact_partition,
                                        greedy_partition, matching_partition, partition_value, progress)


def rule_instances(count: int = 60, seed: int = 2025):
    """``count`` seeded instances (capacity (J, K, T), holding (J, K), samples (J,), allowed (J, K), values (J,), T)
    with J = 2-3 jobs, K = 3-6 learners, T = 5-12: cap_kj(t) = min(h_kj, floor(s_kj / (c2_kj t + c1_kj))) (FL
    jobs with c1 = 0 and PL-like ones with c1 > 0), holdings 0-60 and n_j from 1 to above all the holdings, so that
    jobs reach their tau both by covering n_j and with every learner at its full holding, and tau_max binds."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        J, K, T = int(rng.integers(2, 4)), int(rng.integers(3, 7)), int(rng.integers(5, 13))
        holding = rng.integers(0, 61, (J, K))
        slack = rng.uniform(20.0, 400.0, (J, K))
        c2 = rng.uniform(0.5, 2.0, (J, K))
        c1 = rng.uniform(0.0, 3.0, (J, K)) * (rng.random((J, 1)) < 0.5)
        t = np.arange(1, T + 1)
        capacity = np.minimum(np.floor(slack[..., None] / (c2[..., None] * t + c1[..., None])), holding[..., None])
        samples = rng.integers(1, holding.sum(axis=1) + 20)
        allowed = rng.random((J, K)) < 0.8
        values = rng.uniform(0.5, 3.0, J)
        yield capacity.astype(np.int64), holding, samples, allowed, values, T


@pytest.mark.parametrize("partial_jobs", [True, False])
def test_exact_milp_is_the_brute_force_optimum_of_the_env_rule(partial_jobs):
    count, branches = 0, {"cover": 0, "full holdings": 0, "tau_max": 0}
    for capacity, holding, samples, allowed, values, T in rule_instances():
        options = dict(partial_jobs=partial_jobs)
        best = brute_force_exact_partition(capacity, holding, samples, allowed, values, T, **options)
        best_value = env_rule_value(best, capacity, holding, samples, values, T, **options)
        assignment = exact_partition(capacity, holding, samples, allowed, values, T, **options)
        assert assignment.shape == (holding.shape[1],) and assignment.min() >= -1
        assert all(allowed[j, k] for k, j in enumerate(assignment) if j >= 0)
        value = env_rule_value(assignment, capacity, holding, samples, values, T, **options)
        assert value == pytest.approx(best_value, rel=1e-9, abs=1e-12)
        # the relaxed MILP's assignment (work = sample-iterations at t = 1 over n_j) never beats it under the rule
        work = np.minimum(capacity[..., 0] / samples[:, None], T)
        relaxed = best_partition(work, allowed, values, T)
        assert env_rule_value(relaxed, capacity, holding, samples, values, T, **options) <= value + 1e-9
        tau = env_rule_tau(best, capacity, holding, samples, T, **options)
        for j in np.flatnonzero(tau > 0):
            branches["cover" if holding[j, best == j].sum() >= samples[j] else "full holdings"] += 1
            branches["tau_max"] += int(tau[j] == T)
        count += 1
    assert count == 60
    # both ways of reaching a tau occur at the optimum (the second only where partial jobs count), and the cap binds
    assert branches["cover"] >= 10 and branches["tau_max"] >= 3, branches
    assert (branches["full holdings"] >= 10) if partial_jobs else (branches["full holdings"] == 0), branches


def test_env_rule_tau_counts_both_branches_and_checks_its_premises():
    # one job, T = 4, three learners: holdings 10, 6, 5; capacities non-increasing in t, within the holdings
    capacity = np.array([[[10, 8, 5, 3],
                          [6, 6, 6, 2],
                          [5, 5, 4, 4]]])
    holding = np.array([[10, 6, 5]])

    def rule(assignment, n, **options):
        return env_rule_tau(np.array(assignment), capacity, holding, np.array([n]), 4, **options)

    assert rule([0, 0, 0], 15)[0] == 3  # cover: 20, 19, 15 >= 15, then 9
    assert rule([0, 0, 0], 16)[0] == 2  # 15 < 16 at t = 3
    assert rule([0, 0, -1], 30)[0] == 1  # holdings 16 < 30: every learner full at t = 1 only (8 < 10 at t = 2)
    assert rule([-1, 0, -1], 30)[0] == 3  # learner 1 alone: its 6 samples up to t = 3
    assert rule([-1, 0, -1], 30, partial_jobs=False)[0] == 0  # ... a partial job, which that option scores 0
    assert rule([-1, -1, -1], 15)[0] == 0 and rule([0, 0, 0], 0)[0] == 0  # nobody, or no samples to hand out
    assert rule([0, 0, 0], 1)[0] == 4  # tau_max
    with pytest.raises(ValueError, match="not grow"):
        env_rule_tau(np.array([0, 0, 0]), capacity[..., ::-1], holding, np.array([15]), 4)
    with pytest.raises(ValueError, match="holding"):
        env_rule_tau(np.array([0, 0, 0]), capacity, holding - 1, np.array([15]), 4)


@pytest.mark.parametrize("energy_cap_j", [None, 0.005])
def test_env_rule_tau_is_the_tau_multijob_runs(energy_cap_j):
    """The rule on the sim's capacities (job j's coefficients, energy budget and task caps, as MultiJobCore.plan
    passes them to selected_plan) equals the job_tau of the env's plan, for random allowed assignments and samples
    n_j of d_j or fewer (the amount)."""
    kwargs = {} if energy_cap_j is None else {"energy": {"cycle_cap_j": energy_cap_j}}
    env = gym.make("mel_gym/MultiJob-v0", num_learners=5, horizon_cycles=3, **kwargs)
    core = env.unwrapped.core
    sim, problem, T = core.sim, core.problem, core.scenario.max_local_iterations
    J, K = sim.num_jobs, core.scenario.num_learners
    d = np.array([job.samples_per_cycle for job in sim.jobs])
    rng = np.random.default_rng(7)
    checked = positive = 0
    for seed in (0, 1):
        obs, _ = env.reset(seed=seed)
        for _ in range(3):
            allowed = problem.can_serve(problem.decode(obs))
            holding = sim.task_caps[0]
            capacity = np.stack([capacity_table(sim.coefficients(j)[0], job.cycle_deadline_s, holding[j], T,
                                                None if sim.energy_budget(j) is None else sim.energy_budget(j)[0])
                                 for j, job in enumerate(sim.jobs)])
            for _ in range(25):
                assignment = np.array([rng.choice([-1, *np.flatnonzero(allowed[:, k])]) for k in range(K)])
                samples = np.where(rng.random(J) < 0.5, d, rng.integers(1, d + 1))
                _, _, _, job_tau = core.plan((assignment + 1)[None], samples[None])
                tau = env_rule_tau(assignment, capacity, holding, samples, T)
                np.testing.assert_array_equal(tau, job_tau[0], err_msg=f"assignment {assignment}, n {samples}")
                checked, positive = checked + 1, positive + int((tau > 0).sum())
            obs, *_ = env.step(env.action_space.sample())
    assert checked == 150 and positive >= 100


def test_exact_optimum_differs_from_the_relaxed_one():
    # Two jobs, v = (1, 1), d_j = n_j = 100, tau_max = 8, FL (c1 = 0): cap_kj(t) = min(h_kj, floor(W_kj / t)) with
    # W_kj the sample-iterations learner k computes for job j in T_j; the relaxed work is W_kj / d_j.
    #   learner A: job 0 W = 400 (work 4), holds 100; holds nothing of job 1 (not allowed there).
    #   learner B: job 0 W = 400 (work 4), holds 20;  job 1 W = 50 (work 0.5), holds 25.
    # G at 0, 1, ..., 4, 6, 8 is ln(1 + tau), linear between: G(5) = (ln 5 + ln 7) / 2 = 1.77767, G(0.5) = ln(2) / 2.
    # Relaxed: A+B on job 0: tau min(8, 4 + 4) = 8, G = ln 9 = 2.19722 (the relaxed optimum);
    #          A on 0, B on 1: G(4) + G(0.5) = 1.60944 + 0.34657 = 1.95601; A alone or B alone on 0: G(4) = 1.60944.
    # Env rule: A+B on 0: holdings 120 >= 100, capacities 100 + 20 >= 100 up to t = 5 (80 + 20), 66 + 20 < 100 at
    #          t = 6: tau 5, G = 1.77767;
    #          A on 0, B on 1: job 0 min(100, floor(400 / t)) >= 100 up to t = 4: ln 5; job 1 B holds 25 < 100, so it
    #          trains its 25 while min(25, floor(50 / t)) = 25: t <= 2: ln 3; 1.60944 + 1.09861 = 2.70805 (optimum);
    #          B alone on 0: holds 20 < 100, min(20, floor(400 / t)) = 20 up to t = 8: ln 9 = 2.19722.
    # So the relaxed optimum scores 1.77767 under the env's rule, 34% below its optimum 2.70805. Counting only jobs
    # that train their n_j (partial_jobs=False), B's 25 and 20 samples are worth nothing and the optimum is A+B on
    # job 0, 1.77767, the relaxed choice.
    T = 8
    W = np.array([[400.0, 400.0], [0.0, 50.0]])
    holding = np.array([[100, 20], [0, 25]])
    samples = np.array([100, 100])
    allowed = holding > 0
    values = np.ones(2)
    t = np.arange(1, T + 1)
    capacity = np.minimum(np.floor(W[..., None] / t), holding[..., None]).astype(np.int64)
    work = W / samples[:, None]
    assert partition_value(np.array([0, 0]), work, values, T) == pytest.approx(np.log(9.0))
    assert partition_value(np.array([0, 1]), work, values, T) == pytest.approx(1.95601, abs=1e-5)
    assert progress(np.array([5.0]), T)[0] == pytest.approx(1.77767, abs=1e-5)
    for solve in (best_partition, brute_force_partition):
        np.testing.assert_array_equal(solve(work, allowed, values, T), [0, 0], err_msg=solve.__name__)
    np.testing.assert_array_equal(env_rule_tau(np.array([0, 0]), capacity, holding, samples, T), [5, 0])
    np.testing.assert_array_equal(env_rule_tau(np.array([0, 1]), capacity, holding, samples, T), [4, 2])
    np.testing.assert_array_equal(env_rule_tau(np.array([-1, 0]), capacity, holding, samples, T), [8, 0])
    for solve in (exact_partition, brute_force_exact_partition):
        assignment = solve(capacity, holding, samples, allowed, values, T)
        np.testing.assert_array_equal(assignment, [0, 1], err_msg=solve.__name__)
        assert env_rule_value(assignment, capacity, holding, samples, values, T) == pytest.approx(2.70805, abs=1e-5)
        assignment = solve(capacity, holding, samples, allowed, values, T, partial_jobs=False)
        np.testing.assert_array_equal(assignment, [0, 0], err_msg=solve.__name__)
    assert env_rule_value(np.array([0, 0]), capacity, holding, samples, values, T) == pytest.approx(1.77767, abs=1e-5)
    # a time limit the solve stays within changes nothing
    np.testing.assert_array_equal(exact_partition(capacity, holding, samples, allowed, values, T, time_limit=30.0),
                                  [0, 1])


def test_exact_partition_idles_learners_that_add_nothing():
    # one job, n = 10, T = 3: learner 0 alone covers 10 at t = 3 (tau_max); learner 1 (capacity 2 of its 20)
    # covers nothing alone; learner 2 alone covers 10 at t = 1 only. The optimum keeps learner 0 only.
    capacity = np.array([[[30, 15, 10], [2, 2, 2], [10, 5, 3]]])
    holding = np.array([[30, 20, 10]])
    assignment = exact_partition(capacity, holding, np.array([10]), np.ones((1, 3), dtype=bool), np.ones(1), 3)
    np.testing.assert_array_equal(assignment, [0, -1, -1])
    # nothing to gain (value 0): everyone idles
    assignment = exact_partition(capacity, holding, np.array([10]), np.ones((1, 3), dtype=bool), np.zeros(1), 3)
    np.testing.assert_array_equal(assignment, [-1, -1, -1])


# ------------------------------------------------------------------------------------------------ measurements
def observed_instance(problem, obs: np.ndarray):
    """(capacity (J, K, T), holding (J, K), samples (J,)) of the env's rule from one MultiJob-v0 observation: each
    job's capacities from the observed rates and CPUs (its planning view) and the decoded holdings, n_j the
    problem view's planned samples."""
    decoded = problem.decode(obs)
    T = problem.max_local_iterations
    holding = decoded.holding.astype(np.int64)
    capacity = np.stack([capacity_table(problem.coefficients(decoded, j), job.cycle_deadline_s, holding[j], T,
                                        problem.energy_budget(decoded, j)) for j, job in enumerate(problem.jobs)])
    return capacity, holding, np.array([problem.planned_samples(j) for j in range(problem.num_jobs)])


def measure_preset(seeds: int = 12, cycles: int = 6) -> None:
    """Score each partition under the env's rule on the ``multijob`` preset's observations (seeds x cycles, the
    relaxed MILP driving the episodes); then the 6-cycle returns with each of the relaxed MILP, the exact MILP and
    the exact MILP without partial jobs driving them (paired over seeds)."""
    from mel_gym.agents.baselines import PartitionMILP

    env = gym.make("mel_gym/MultiJob-v0")
    core = env.unwrapped.core
    policy, T = PartitionMILP(core.problem), core.scenario.max_local_iterations

    def solutions(obs, names=None):
        work, allowed, values = policy.instance(obs)
        capacity, holding, samples = observed_instance(core.problem, obs)
        rule = (capacity, holding, samples, allowed, values, T)
        solvers = {"exact": lambda: exact_partition(*rule),
                   "exact, no partial jobs": lambda: exact_partition(*rule, partial_jobs=False),
                   "relaxed milp": lambda: best_partition(work, allowed, values, T),
                   "greedy": lambda: greedy_partition(work, allowed, values, T),
                   "matching": lambda: matching_partition(work, allowed, values, T)}
        started = time.perf_counter()
        found = {name: solve() for name, solve in solvers.items() if names is None or name in names}
        return rule, time.perf_counter() - started, found

    scores, times = {True: [], False: []}, {True: [], False: []}
    agree = total = 0
    for seed in range(seeds):
        obs, _ = env.reset(seed=seed)
        for _ in range(cycles):
            rule, _, found = solutions(obs)
            for partial in (True, False):  # timed alone
                started = time.perf_counter()
                exact_partition(*rule, partial_jobs=partial)
                times[partial].append(time.perf_counter() - started)
            for partial in (True, False):
                scores[partial].append({name: env_rule_value(a, *rule[:3], rule[4], T, partial_jobs=partial)
                                        for name, a in found.items()})
            for name, assignment in found.items():
                _, _, _, job_tau = core.plan((assignment + 1)[None], rule[2][None])
                agree += int(np.array_equal(job_tau[0], env_rule_tau(assignment, *rule[:3], T)))
                total += 1
            obs, *_ = env.step(core.problem.encode_assignment(found["relaxed milp"]))
    for partial in (True, False):
        print(f"value under the env's rule, partial jobs {'counted' if partial else 'scored 0'} "
              f"({seeds} seeds x {cycles} cycles; mean, share of the exact optimum's, observations below it, worst):")
        rows = scores[partial]
        top = np.array([r["exact" if partial else "exact, no partial jobs"] for r in rows])
        for name in rows[0]:
            v = np.array([r[name] for r in rows])
            print(f"  {name:24s} {v.mean():7.3f}  {v.sum() / top.sum():6.3f}  {np.sum(v < top - 1e-9):3d}/{len(v)}"
                  f"  {np.max(1 - v / np.maximum(top, 1e-12)):6.3f}")
    print(f"env plan's job_tau == env_rule_tau on the observed instance: {agree}/{total}")
    for partial, t in times.items():
        print(f"exact_partition on the preset (J 3, K 10, T {T}), partial_jobs={partial}: mean {np.mean(t):.3f} s, "
              f"max {np.max(t):.3f} s")

    returns = {}
    for name in ("relaxed milp", "exact", "exact, no partial jobs"):
        returns[name], taus = [], []
        for seed in range(seeds):
            obs, _ = env.reset(seed=seed)
            total_reward = 0.0
            for _ in range(cycles):
                _, _, found = solutions(obs, (name,))
                obs, reward, _, _, info = env.step(core.problem.encode_assignment(found[name]))
                total_reward += float(reward)
                taus.append(info["job_tau"])
            returns[name].append(total_reward)
        returns[name] = np.array(returns[name])
        diff = returns[name] - returns["relaxed milp"]
        print(f"{cycles}-cycle return driven by {name:24s} {returns[name].mean():6.3f} (paired vs relaxed milp "
              f"{diff.mean():+.3f} +- {diff.std(ddof=1) / np.sqrt(seeds):.3f}, better on {np.sum(diff > 0)}/{seeds}); "
              f"mean job tau {np.round(np.mean(taus, axis=0), 2).tolist()}")


def measure_solve_time(num_learners: int = 30, repeats: int = 12) -> None:
    """exact_partition's solve time on observations of a larger world: the preset with ``num_learners`` learners and
    five jobs (its three, the even and the odd digits), d_j 300 and 900; and without partial jobs under a 1 s time
    limit, the share of the optimum's value it reaches."""
    jobs = [{"name": "all-digits", "weight": 1.0, "target_accuracy": 0.9, "data_fraction": 0.5},
            {"name": "digits-0-4", "labels": [0, 1, 2, 3, 4], "weight": 2.0, "cycle_deadline_s": 0.05,
             "target_accuracy": 0.95, "data_fraction": 0.5},
            {"name": "digits-5-9", "labels": [5, 6, 7, 8, 9], "weight": 3.0, "cycle_deadline_s": 0.04,
             "target_accuracy": 0.95, "data_fraction": 0.5},
            {"name": "even", "labels": [0, 2, 4, 6, 8], "weight": 1.5, "cycle_deadline_s": 0.05,
             "target_accuracy": 0.95, "data_fraction": 0.5},
            {"name": "odd", "labels": [1, 3, 5, 7, 9], "weight": 2.5, "cycle_deadline_s": 0.045,
             "target_accuracy": 0.95, "data_fraction": 0.5}]
    from mel_gym.agents.baselines import PartitionMILP

    for samples_per_cycle in (300, 900):
        env = gym.make("mel_gym/MultiJob-v0", num_learners=num_learners, jobs=jobs, samples_per_cycle=samples_per_cycle)
        core = env.unwrapped.core
        policy, T = PartitionMILP(core.problem), core.scenario.max_local_iterations
        times, limited = {True: [], False: []}, []
        obs, _ = env.reset(seed=0)
        for _ in range(repeats):
            work, allowed, values = policy.instance(obs)
            rule = (*observed_instance(core.problem, obs), allowed, values, T)
            for partial in (True, False):
                started = time.perf_counter()
                best = exact_partition(*rule, partial_jobs=partial)
                times[partial].append(time.perf_counter() - started)
            quick = exact_partition(*rule, partial_jobs=False, time_limit=1.0)
            score = lambda a: env_rule_value(a, *rule[:3], rule[4], T, partial_jobs=False)  # noqa: E731
            limited.append(score(quick) / max(score(best), 1e-12))
            obs, *_ = env.step(core.problem.encode_assignment(best_partition(work, allowed, values, T)))
        for partial, t in times.items():
            print(f"exact_partition J 5, K {num_learners}, T {T}, d_j {samples_per_cycle}, partial_jobs={partial}: "
                  f"mean {np.mean(t):.3f} s, max {np.max(t):.3f} s over {repeats} observations")
        print(f"  partial_jobs=False, time_limit=1 s: {np.mean(limited):.4f} of the optimum's value on average, "
              f"worst {np.min(limited):.4f}")


if __name__ == "__main__":
    measure_preset()
    measure_solve_time()
    sys.exit(0)
