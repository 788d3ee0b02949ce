"""ReliableTaskAllocation-v0: participation, backups, the expected-value optimiser against scipy's MILP, the
redundancy rule's pairing, the tuned threshold, and PPO learning on it."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from conftest import ppo_and_random_returns
from mel_gym.agents import make_policy
from mel_gym.config import ConfigError, load_scenario
from mel_gym.experiments.evaluate import evaluate
from mel_gym.optim.redundancy import expected_value_plan, expected_work, fill_most_reliable, pair_backups
from mel_gym.optim.task_sizing import integer_capacity, integer_max_tau
from mel_gym.simulation import Decision, MELSimulator
from mel_gym.world.costs import CycleCoefficients

ENV_ID = "mel_gym/ReliableTaskAllocation-v0"
SMALL = {"num_learners": 4, "samples_per_cycle": 400, "horizon_cycles": 4}


def _milp_value(capacity, success, total):
    """max sum_k success_k d_k, 0 <= d_k <= capacity_k integer, sum d_k = total, by scipy's MILP (HiGHS)."""
    res = milp(-success, integrality=np.ones(success.size), bounds=Bounds(0, capacity),
               constraints=LinearConstraint(np.ones((1, success.size)), total, total))
    return -res.fun if res.success else None

def test_expected_value_plan_matches_an_independent_milp_solve_on_random_instances():
    rng = np.random.default_rng(0)
    for _ in range(25):
        K, d, T = int(rng.integers(2, 7)), int(rng.integers(50, 400)), 0.1
        coeffs = CycleCoefficients(rng.uniform(0.0, 0.05, K), rng.uniform(0, 5e-5, K), rng.uniform(5e-6, 5e-5, K))
        failure = rng.uniform(0, 0.8, K)
        tau, task_sizes, value = expected_value_plan(coeffs, T, d, 30, failure)
        best = 0.0
        for t in range(1, 31):  # the independent solve: a MILP per tau
            v = _milp_value(integer_capacity(coeffs, T, t), 1 - failure, d)
            if v is not None:
                best = max(best, t * v)
        assert value == pytest.approx(best, rel=1e-9, abs=1e-9)
        if tau:
            assert task_sizes.sum() == d and np.all(task_sizes <= integer_capacity(coeffs, T, tau))
            assert value == pytest.approx(tau * np.dot(1 - failure, task_sizes))

def test_without_risk_the_expected_value_plan_is_ha_syncs_tau():
    rng = np.random.default_rng(1)
    for _ in range(10):
        K = 5
        coeffs = CycleCoefficients(rng.uniform(0.0, 0.03, K), rng.uniform(0, 3e-5, K), rng.uniform(5e-6, 3e-5, K))
        tau, _, _ = expected_value_plan(coeffs, 0.1, 300, 40, np.zeros(K))
        assert tau == integer_max_tau(coeffs, 0.1, 300, 40)[0]

def test_fill_pairing_and_expected_work_by_hand():
    assert fill_most_reliable(np.array([50, 80, 100]), np.array([0.5, 0.9, 0.7]), 150).tolist() == [0, 80, 70]
    capable = np.array([[0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=bool)  # [candidate, primary]
    failure = np.array([0.5, 0.1, 0.3, 0.2])
    # Primary 0 first: of the free learners 2 and 3, the more reliable (3) backs it; primary 1 then gets 2.
    assert pair_backups([0, 1], capable, np.array([0, 0, 1, 1], bool), failure).tolist() == [-1, -1, 1, 0]
    assert pair_backups([1, 0], capable, np.array([0, 0, 1, 1], bool), failure).tolist() == [-1, -1, 1, 0]
    assert pair_backups([0], capable, np.array([0, 0, 1, 0], bool), failure).tolist() == [-1, -1, 0, -1]
    work = expected_work(10, np.array([100, 50, 100, 0]), failure, np.array([-1, -1, 0, -1]))
    assert work == pytest.approx(10 * (100 * (1 - 0.5 * 0.3) + 50 * 0.9))  # the backup's copy counts once

def test_participation_has_its_own_action_and_a_backup_runs_its_primarys_task():
    env = gym.make(ENV_ID, **SMALL, channel={"csi": "perfect", "packet_error_threshold": None},
                   compute={"service": "always"}, mobility={"model": "static"}, energy={"battery_min_j": None,
                                                                                      "battery_max_j": None})
    env.reset(seed=0)
    K = 4
    everyone = np.zeros(3 * K, np.float32)
    _, _, _, _, info = env.step(everyone)
    assert info["participants"].all()  # a = 0: everyone, equal shares
    leave_out = everyone.copy()
    leave_out[K + 2] = -0.6  # learner 2 out, without touching its share value
    _, _, _, _, info = env.step(leave_out)
    assert info["task_sizes"][2] == 0 and info["task_sizes"].sum() == 400
    backup = leave_out.copy()
    backup[:K] = [-1.0, 0.0, -1.0, -1.0]  # learner 1 alone takes all 400 samples; 0 and 3 are idle
    backup[K:2 * K] = [-1.0, 1.0, -1.0, -1.0]
    backup[2 * K + 1] = 1.0  # ask a backup for learner 1's task
    _, _, _, _, info = env.step(backup)
    backs = np.flatnonzero(info["backup_of"] >= 0)
    if info["tau"] > 0:
        assert backs.size <= 1
        for j in backs:
            assert info["backup_of"][j] == 1 and info["task_sizes"][j] == info["task_sizes"][1]
            assert not info["backup_used"][j]  # the primary got through: the backup's copy is not counted
        assert info["samples_trained"] == 400

def test_a_backup_stands_in_when_its_primary_is_lost():
    scenario = load_scenario("default", {"num_learners": 3, "samples_per_cycle": 300,
                                         "channel": {"packet_error_threshold": 1.08}})
    sim = MELSimulator(scenario)
    sim.reset([0])
    sim.world.state.link_draw[:] = [0.0, 1.0, 1.0]  # learner 0's upload is lost (q > 0), the others get through
    decision = Decision(task_sizes=np.array([[100, 200, 100]]), local_iterations=np.array([[1, 1, 1]]),
                        backup_of=np.array([[-1, -1, 0]]))
    out = sim.step(decision)
    assert out.outage[0, 0] and not out.finished[0, 0]
    assert out.backup_used[0, 2] and out.finished[0, 2]
    with pytest.raises(ValueError, match="its primary's task size"):
        sim.step(Decision(task_sizes=np.array([[100, 200, 50]]), local_iterations=np.ones((1, 3), int),
                          backup_of=np.array([[-1, -1, 0]])))
    with pytest.raises(ValueError, match="more than one backup"):
        sim.step(Decision(task_sizes=np.array([[100, 100, 100]]), local_iterations=np.ones((1, 3), int),
                          backup_of=np.array([[-1, 0, 0]])))
    fl = MELSimulator(scenario.replace(mode="fl"))
    fl.reset([0])
    with pytest.raises(ValueError, match="only PL"):
        fl.step(Decision(task_sizes=np.array([[10, 10, 10]]), local_iterations=np.ones((1, 3), int),
                         backup_of=np.array([[-1, -1, 0]])))

def test_the_env_needs_pl_and_names_the_key():
    with pytest.raises(ConfigError, match="'mode'"):
        gym.make(ENV_ID, mode="fl", **SMALL)

def test_redundancy_rule_is_never_worse_than_ha_sync_in_expected_work():
    env = gym.make(ENV_ID, **SMALL)
    problem = env.unwrapped.problem
    rule = make_policy("redundancy", problem, env.action_space)
    ha_sync = make_policy("ha-sync", problem, env.action_space)
    obs, _ = env.reset(seed=3)
    for _ in range(4):
        decoded = problem.decode(obs)
        plan = ha_sync.plan(obs)
        base = expected_work(plan.tau, plan.task_sizes, decoded.failure_probability)
        value, _, _ = rule._score(obs, decoded, problem.coefficients(decoded), problem.energy_budget(decoded),
                                  np.zeros(4, bool))
        assert value == pytest.approx(base)  # nothing in reserve: HA-Sync
        action, _ = rule.predict(obs)
        obs, *_ = env.step(action)

def test_the_threshold_is_tuned_on_training_seeds_only(tmp_path):
    tuned = {}
    results = evaluate(["ha-sync-threshold"], ENV_ID, episodes=2, seed=10_000, env_kwargs=SMALL, tuned=tuned,
                       tune_seeds=[0, 1])
    record = tuned["ha-sync-threshold"]
    assert record["threshold"] in (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
    scores = {row["threshold"]: row["mean_return"] for row in record["scores"]}
    assert len(scores) == 7 and scores[record["threshold"]] == max(scores.values())
    assert [r.seed for r in results] == [10_000, 10_001]

@pytest.mark.learning
def test_ppo_learns_to_beat_random_on_the_reliable_env():
    learned, random = ppo_and_random_returns(ENV_ID, {"num_learners": 4, "samples_per_cycle": 400, "horizon_cycles": 8},
                                             2048)
    assert learned > random + 0.2
