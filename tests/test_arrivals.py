"""Jobs that arrive with deadlines (MultiJob-v0, scenario section ``arrivals``), the value reward and the
scheduling baselines (edf, value-density, triage)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import mel_gym  # noqa: F401  (registers the envs)
from mel_gym.agents.registry import make_policy
from mel_gym.config import load_scenario
from mel_gym.schema import ConfigError

ENV = "mel_gym/MultiJob-v0"
VALUE = {"reward": {"metric": "value", "tau_bonus": 0.0}}


def arrivals_env(**kwargs):
    settings = dict(scenario="arrivals", horizon_cycles=16, amount_action=True, **VALUE)
    settings.update(kwargs)
    return gym.make(ENV, **settings)


def play(env, policy, seed):
    """(rewards, infos) of one episode."""
    obs, _ = env.reset(seed=seed)
    rewards, infos, done = [], [], False
    while not done:
        obs, reward, terminated, truncated, info = env.step(policy(obs))
        rewards.append(reward)
        infos.append(info)
        done = terminated or truncated
    return np.array(rewards), infos


def baseline(env, name, **knobs):
    policy = make_policy(name, env.unwrapped.problem, env.action_space)
    policy.set_knobs(knobs)
    return lambda obs: policy.predict(obs)[0]


def test_arrivals_are_drawn_from_the_seed_only_and_in_their_ranges():
    env = arrivals_env()
    sim = env.unwrapped.core.sim
    draws = []
    for name in ("edf", "random"):
        policy = baseline(env, name, fraction=0.3) if name != "random" else (lambda obs: env.action_space.sample())
        play(env, policy, seed=3)
        draws.append((sim.arrivals.arrival[0].copy(), sim.arrivals.due[0].copy()))
    np.testing.assert_array_equal(draws[0][0], draws[1][0])
    np.testing.assert_array_equal(draws[0][1], draws[1][1])
    config = load_scenario("arrivals").arrivals
    arrival, due = [], []
    for seed in range(40):
        env.reset(seed=seed)
        arrival.append(sim.arrivals.arrival[0].copy())
        due.append(sim.arrivals.due[0].copy())
    arrival, deadline = np.array(arrival), np.array(due) - np.array(arrival)
    assert arrival.min() == 0 and arrival.max() == config.last_cycle
    assert deadline.min() == config.deadline_min_cycles and deadline.max() == config.deadline_max_cycles
    # uniform: the mean arrival (0 .. 14) is 7 within 4 standard errors of the 160 draws
    assert abs(arrival.mean() - config.last_cycle / 2) < 4 * np.sqrt((15**2 - 1) / 12 / arrival.size)


def test_only_open_jobs_can_be_served_and_the_observation_says_which():
    env = arrivals_env()
    obs, _ = env.reset(seed=1)
    core = env.unwrapped.core
    sim, problem = core.sim, env.unwrapped.problem
    for _ in range(12):
        decoded = problem.decode(obs)
        is_open = sim.arrivals.open(sim.world.state.cycle)[0]
        np.testing.assert_array_equal(decoded.job_open, is_open)
        np.testing.assert_array_equal(decoded.job_cycles_left, sim.arrivals.cycles_left(sim.world.state.cycle)[0])
        mask = env.unwrapped.action_masks()[: 10 * 5].reshape(10, 5)
        assert not mask[:, 1:][:, ~is_open].any()  # a job that is not open is masked for every learner
        obs, _, _, _, info = env.step(baseline(env, "greedy-jobs", fraction=0.3)(obs))
        served = info["job_learners"] > 0
        assert not (served & ~is_open).any()
    env.reset(seed=next(seed for seed in range(20) if env.reset(seed=seed) and not sim.job_open.all()))
    closed = int(np.flatnonzero(~sim.job_open[0])[0])
    assignment = np.full((1, 10), -1)
    assignment[0, 0] = closed
    sizes = np.zeros((1, 10), dtype=np.int64)
    sizes[0, 0] = 10
    with pytest.raises(ValueError, match=f"job {closed} is not open"):
        sim.step(assignment, sizes, np.ones((1, 10), dtype=np.int64))


def test_the_value_reward_pays_each_job_its_weight_once_when_it_makes_its_target_in_time():
    env = arrivals_env(horizon_cycles=24)
    weights = env.unwrapped.problem.weights
    targets = np.array([job.target_accuracy for job in env.unwrapped.problem.jobs])
    paid_any = False
    for seed in range(3):
        rewards, infos = play(env, baseline(env, "edf", fraction=0.3), seed)
        completed = np.array([info["job_completed"] for info in infos])
        np.testing.assert_allclose(rewards, completed @ weights)
        assert (completed.sum(axis=0) <= 1).all()  # paid once at most
        for cycle, info in enumerate(infos):
            for j in np.flatnonzero(info["job_completed"]):
                arrival = env.unwrapped.core.sim.arrivals.arrival[0, j]
                due = env.unwrapped.core.sim.arrivals.due[0, j]
                assert arrival <= cycle < due and info["job_val_accuracy"][j] >= targets[j]  # targets: validation
        paid_any |= rewards.sum() > 0
    assert paid_any


def test_without_arrivals_multijob_is_as_it_was():
    env = gym.make(ENV)
    problem = env.unwrapped.problem
    J, K = problem.num_jobs, problem.num_learners
    assert not problem.arrivals
    assert env.observation_space.shape == (problem.world.codec.size + 3 * J * K + 3 * J,)
    obs, _ = env.reset(seed=0)
    decoded = problem.decode(obs)
    assert decoded.job_open.all() and np.isinf(decoded.job_cycles_left).all()


def test_edf_serves_the_job_due_first_and_triage_drops_the_hopeless():
    env = arrivals_env()
    problem = env.unwrapped.problem
    edf = baseline(env, "edf", fraction=0.3, jobs_at_once=1)
    checked = 0
    for seed in range(6):
        obs, _ = env.reset(seed=seed)
        for _ in range(16):
            decoded = problem.decode(obs)
            servable = decoded.job_open & ~decoded.job_done
            obs, _, _, _, info = env.step(edf(obs))
            if servable.sum() >= 2:
                soonest = servable & (decoded.job_cycles_left == decoded.job_cycles_left[servable].min())
                first = np.argmax(np.where(soonest, problem.weights, -1.0))  # ties: the larger weight
                assert info["job_learners"][first] == info["job_learners"].sum() > 0  # PL: everybody can serve it
                checked += 1
    assert checked > 0
    triage = make_policy("triage", problem, env.action_space)
    triage.set_knobs({"progress_per_cycle": 0.1})
    decoded = problem.decode(env.reset(seed=0)[0])
    decoded.job_open[:], decoded.job_cycles_left[:] = True, np.array([1, 5, 5, 5])
    decoded.job_accuracy[:] = np.array([0.1, 0.1, 0.5, 0.85])
    targets = np.array([job.target_accuracy for job in problem.jobs])  # 0.85, 0.93, 0.9, 0.9
    np.testing.assert_array_equal(triage.drops(decoded), targets - decoded.job_accuracy > 0.1 * np.array([1, 5, 5, 5]))
    assert triage.drops(decoded).tolist() == [True, True, False, False]


def test_earliest_deadline_first_beats_random():
    env = arrivals_env(horizon_cycles=20)
    seeds = [0, 1, 2, 3]
    random_value = np.mean([play(env, lambda obs: env.action_space.sample(), s)[0].sum() for s in seeds])
    edf = np.mean([play(env, baseline(env, "edf", fraction=0.3), s)[0].sum() for s in seeds])
    assert edf > random_value + 1.0


def test_bad_arrival_settings_name_the_key():
    with pytest.raises(ConfigError, match="arrivals.model"):
        load_scenario("default", {"arrivals": {"model": "uniform"}})
    with pytest.raises(ConfigError, match=r"jobs\[0\].target_accuracy"):
        load_scenario("multijob", {"arrivals": {"model": "uniform"}, "jobs": [{"name": "a"}]})
    with pytest.raises(ConfigError, match="arrivals.deadline_max_cycles"):
        load_scenario("arrivals", {"arrivals": {"deadline_min_cycles": 5, "deadline_max_cycles": 3}})
    with pytest.raises(ConfigError, match="reward.metric"):
        gym.make("mel_gym/TaskAllocation-v0", reward={"metric": "value"})
