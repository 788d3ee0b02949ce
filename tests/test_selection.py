"""LearnerSelection-v0: the env sizes the chosen learners' tasks with HA-Sync; the greedy selection against brute force."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from mel_gym.agents import AllLearners, GreedySelection, HASync, make_policy
from mel_gym.optim.selection import best_selection, greedy_selection, plan_value, selected_plan
from mel_gym.optim.task_sizing import integer_max_tau
from mel_gym.world.costs import CostModel

ENV = "mel_gym/LearnerSelection-v0"
SMALL = {"num_learners": 6, "samples_per_cycle": 400, "horizon_cycles": 3}


def _value(rng, K, pl):
    rate = rng.uniform(1e6, 2e7, K)
    cost = CostModel(7.7e4, 2080.0, pl, 8e4, 1e-28, 0.1)
    coeffs = cost.coefficients(rate * 3, rate, rng.choice([0.7e9, 1.0e9, 1.4e9, 2.4e9], K))
    d = int(rng.integers(200, 1200))
    task_caps = np.full(K, d) if pl else rng.integers(10, 400, K)
    return (lambda chosen: plan_value(selected_plan(chosen, coeffs, 0.1, d, 40, task_caps))), coeffs, d, task_caps


@pytest.mark.parametrize("pl", [True, False])
def test_greedy_selection_against_brute_force(pl):
    rng = np.random.default_rng(20 + pl)
    matches, trials = 0, 60
    for _ in range(trials):
        K = int(rng.integers(3, 8))
        value, coeffs, d, task_caps = _value(rng, K, pl)
        everyone = np.ones(K, bool)
        greedy, best = greedy_selection(value, everyone), best_selection(value, everyone)
        assert value(greedy) >= value(everyone)  # local search never ends below its start
        assert value(greedy) <= value(best)  # brute force is the optimum
        matches += value(greedy) == value(best)
        if pl:  # in PL every learner can hold d: more learners never lower HA-Sync's tau, so all is optimal
            assert value(everyone) == value(best)
    assert matches >= 0.95 * trials, matches


def test_selected_plan_is_ha_sync_over_the_chosen_learners():
    rng = np.random.default_rng(3)
    value, coeffs, d, task_caps = _value(rng, 6, pl=False)
    chosen = np.array([True, True, False, True, False, True])
    tau, sizes = selected_plan(chosen, coeffs, 0.1, d, 40, task_caps)
    masked = np.where(chosen, task_caps, 0)
    assert (tau, sizes.tolist()) == tuple(v.tolist() if isinstance(v, np.ndarray) else v
                                          for v in integer_max_tau(coeffs, 0.1, min(d, masked.sum()), 40, masked))
    assert np.all(sizes[~chosen] == 0) and sizes.sum() == min(d, masked.sum())
    assert selected_plan(np.zeros(6, bool), coeffs, 0.1, d, 40, task_caps)[1].sum() == 0


@pytest.mark.parametrize("mode", ["pl", "fl"])
def test_the_env_runs_the_selection_as_planned(mode):
    env = gym.make(ENV, **SMALL, mode=mode)
    problem = env.unwrapped.problem
    greedy, everyone = GreedySelection(problem), AllLearners(problem)
    obs, _ = env.reset(seed=2)
    decoded = problem.decode(obs)
    action, _ = greedy.predict(obs)
    assert action.dtype == np.int8 and env.action_space.contains(action)
    tau, sizes = selected_plan(action.astype(bool), problem.coefficients(decoded), problem.cycle_deadline_s,
                               problem.samples_per_cycle, problem.max_local_iterations, decoded.task_caps)
    _, _, _, _, info = env.step(action)
    assert info["tau"] >= tau and np.array_equal(info["task_sizes"], sizes)
    assert np.array_equal(info["selected"], sizes > 0) and not info["stragglers"].any()
    # choosing everyone is HA-Sync over all learners (TaskAllocation's HA-Sync on the same world)
    task = gym.make("mel_gym/TaskAllocation-v0", **SMALL, mode=mode)
    t_obs, _ = task.reset(seed=2)
    obs, _ = env.reset(seed=2)
    assert np.array_equal(obs, t_obs)
    _, _, _, _, info = env.step(everyone.predict(obs)[0])
    assert info["tau"] == HASync(task.unwrapped.problem).plan(t_obs).tau
    assert isinstance(make_policy("greedy", problem, env.action_space), GreedySelection)
    with pytest.raises(ValueError, match="does not fit this env"):
        make_policy("ha-sync", problem, env.action_space)


def test_bad_selections_are_named():
    env = gym.make(ENV, **SMALL)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action holds 2 at index \[3\]: every entry must be 0 or 1"):
        env.step(np.array([0, 1, 1, 2, 0, 1]))
    with pytest.raises(ValueError, match=r"action has shape \(4,\), expected \(6,\)"):
        env.step(np.ones(4, np.int8))
    _, _, _, _, info = env.step(np.ones(6, np.int8))
    assert info["cycle"] == 1
