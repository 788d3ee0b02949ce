"""The dynamic world inside the simulator and the envs: mobility and coverage, outdated CSI, the CPU chain,
link failures and their energy, the static world untouched, the same world for every policy, bad keys."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from scipy.special import j0

from mel_gym.agents import make_policy
from mel_gym.config import ConfigError, load_scenario
from mel_gym.simulation import Decision, MELSimulator
from mel_gym.world.dynamics import fading_power_quantile
from mel_gym.world.radio import SPEED_OF_LIGHT_M_PER_S
from mel_gym.world.state import World
from conftest import make_world

RELIABLE = "mel_gym/ReliableTaskAllocation-v0"


def test_the_static_world_never_draws_from_the_dynamics_stream():
    scenario = load_scenario("default")
    a, rngs_a, _ = make_world(scenario, seed=4)
    b = World(scenario, 3)
    rngs_b = [np.random.default_rng(s) for s in np.random.SeedSequence(4).spawn(6)[:3]]
    b.reset([0, 1, 2], rngs_b, [np.random.default_rng(99)] * 3)  # other dynamics draws: the same static world
    for _ in range(3):
        assert np.array_equal(a.channel_gain(), b.channel_gain())
        assert np.array_equal(a.rates_bps()[1], b.rates_bps()[1]) and a.in_coverage.all()
        assert not a.link_outage().any() and not a.compute_dropped().any()
        a.advance(rngs_a, [np.random.default_rng(1)] * 3)
        b.advance(rngs_b, [np.random.default_rng(2)] * 3)


def test_learners_walk_leave_the_cell_and_come_back():
    scenario = load_scenario("dynamic")
    world, rngs, dyn = make_world(scenario, n_envs=20)
    m, period = scenario.mobility, scenario.period_s
    outside, came_back = [], 0
    before = world.state.position_m.copy()
    was_out = ~world.in_coverage
    for _ in range(40):
        world.advance(rngs, dyn)
        step = np.linalg.norm(world.state.position_m - before, axis=-1)
        assert np.all(step <= m.speed_max_mps * period + 1e-9)  # no faster than the top speed
        assert np.all(np.linalg.norm(world.state.position_m, axis=-1) <= scenario.area_radius_m + 1e-9)
        came_back += int(np.sum(was_out & world.in_coverage))
        was_out = ~world.in_coverage
        outside.append(was_out.mean())
        before = world.state.position_m.copy()
        assert np.all(world.link_outage()[was_out])  # out of coverage: the link fails
        assert not np.any(world.available[was_out])
    assert 0.02 < np.mean(outside) < 0.3 and came_back > 0


def test_outdated_csi_plans_on_last_cycles_measurement_and_jakes_follows_the_distance_walked():
    scenario = load_scenario("dynamic", {"channel": {"rate_margin_db": 2.0}})
    world, rngs, dyn = make_world(scenario)
    true_before = world.channel_gain().copy()
    shadowing_before, fading_before = world.state.shadowing_db.copy(), world.state.fading_gain.copy()
    before = world.state.position_m.copy()
    world.advance(rngs, dyn)
    assert np.array_equal(world.measured.shadowing_db, shadowing_before)  # what it measured last cycle
    assert np.array_equal(world.measured.fading_gain, fading_before)
    # Scheduled: the large-scale gain at the current position with the measured shadowing, times the
    # target_outage-quantile of the coming fading power, less the margin (tests/test_scheduling.py in detail).
    moved = np.linalg.norm(world.state.position_m - before, axis=-1)
    quantile = fading_power_quantile(scenario.channel.target_outage, fading_before, world.fading_correlation(moved))
    large_here = 10 ** (-(world.state.path_loss_db - shadowing_before) / 10)
    margin = 10 ** (-scenario.channel.rate_margin_db / 10)
    assert np.allclose(world.measured_gain(), large_here * quantile * margin, rtol=1e-12, atol=0)
    assert not np.allclose(world.channel_gain(), true_before, rtol=1e-3, atol=0)  # the coming cycle's is another
    wavelength = SPEED_OF_LIGHT_M_PER_S / scenario.channel.carrier_hz
    assert np.allclose(world.fading_correlation(moved), j0(2 * np.pi * moved / wavelength))  # J0(2 pi f_D dt)
    fixed = World(scenario.replace(channel={"fading_correlation": 0.6}), 1)
    assert np.allclose(fixed.fading_correlation(moved), 0.6)


def test_a_failed_link_spends_its_energy_but_is_not_aggregated():
    scenario = load_scenario("default", {"num_learners": 4, "samples_per_cycle": 400,
                                         "channel": {"packet_error_threshold": 1e6}})  # q ~ 1: uploads are lost
    sim = MELSimulator(scenario)
    sim.reset([0])
    sizes = np.array([[100, 100, 100, 100]])
    out = sim.step(Decision(task_sizes=sizes, local_iterations=np.full((1, 4), 2)))
    assert out.outage.all() and not out.finished.any()
    assert np.all(out.energy_j > 0) and np.all(out.time_return_s > 0)  # it trained and uploaded in vain
    assert out.loss_after[0] == out.loss_before[0]  # nothing reached the orchestrator: the model is unchanged


def test_a_learner_whose_cpu_freezes_straggles_and_one_reported_frozen_cannot_take_part():
    scenario = load_scenario("default", {"num_learners": 4, "samples_per_cycle": 400,
                                         "compute": {"service": "markov",
                                                     "transition_matrix": [0, 0, 1, 0, 0, 1, 0, 0, 1]}})
    sim = MELSimulator(scenario)
    sim.reset([0])
    assert np.all(sim.world.state.cpu_state == 2)  # the chain's stationary state
    world = sim.world
    world.measured.cpu_state[:] = 0  # as if each learner had reported "available" last cycle
    assert world.compute_dropped().all() and np.all(world.cpu_available_hz(reported=False) == 0)
    out = sim.step(Decision(task_sizes=np.full((1, 4), 100), local_iterations=np.full((1, 4), 1)))
    assert out.stragglers.all() and out.compute_dropped.all() and not out.finished.any()
    assert np.all(out.energy_compute_j == 0)  # a frozen CPU runs no cycles
    assert not world.available.any()  # now they reported frozen: no task for them
    with pytest.raises(ValueError, match="cannot take part"):
        sim.step(Decision(task_sizes=np.full((1, 4), 100), local_iterations=np.ones((1, 4), int)))


def test_same_seed_same_world_for_every_policy():
    env = gym.make(RELIABLE, num_learners=6, samples_per_cycle=600, horizon_cycles=6)
    traces = {}
    for name in ("equal", "ha-sync", "random"):
        policy = make_policy(name, env.unwrapped.problem, env.action_space)
        obs, _ = env.reset(seed=11)
        trace = []
        for _ in range(6):
            action, _ = policy.predict(obs)
            obs, _, _, _, info = env.step(action)
            world = env.unwrapped.core.sim.world
            trace.append((world.state.position_m.copy(), info["outage"], info["compute_dropped"], world.channel_gain()))
        traces[name] = trace
    for other in ("ha-sync", "random"):
        for (pa, oa, ca, ga), (pb, ob, cb, gb) in zip(traces["equal"], traces[other]):
            assert np.array_equal(pa, pb) and np.array_equal(oa, ob) and np.array_equal(ca, cb)
            assert np.array_equal(ga, gb)


@pytest.mark.parametrize("env_id", ["mel_gym/TaskAllocation-v0", "mel_gym/JointAllocation-v0",
                                    "mel_gym/LearnerSelection-v0", "mel_gym/AsyncTaskAllocation-v0"])
def test_every_env_runs_in_the_dynamic_world_and_shows_the_predictions(env_id):
    env = gym.make(env_id, scenario="dynamic", num_learners=4, samples_per_cycle=400, horizon_cycles=4)
    obs, _ = env.reset(seed=0)
    decoded = env.unwrapped.problem.decode(obs)
    assert np.all((decoded.outage_probability >= 0) & (decoded.outage_probability <= 1))
    assert decoded.outage_probability.any()  # outdated CSI: some risk everywhere
    assert np.array_equal(decoded.in_coverage, env.unwrapped.core.sim.world.in_coverage[0])
    _, _, _, _, info = env.step(env.action_space.sample())
    assert info["outage"].dtype == bool and info["compute_dropped"].shape == (4,)


@pytest.mark.parametrize("key, value, words", [
    ("compute", {"transition_matrix": [0.5, 0.5, 0.5, 0, 1, 0, 0, 0, 1]}, "compute.transition_matrix' row 0"),
    ("compute", {"transition_matrix": [1, 0, 0]}, "9 numbers"),
    ("compute", {"transition_matrix": [1.5, -0.5, 0, 0, 1, 0, 0, 0, 1]}, "compute.transition_matrix[0]"),
    ("mobility", {"area_radius_m": 100.0}, "mobility.area_radius_m"),
    ("mobility", {"speed_min_mps": 3.0, "speed_max_mps": 1.0}, "mobility.speed_max_mps"),
    ("mobility", {"model": "teleport"}, "mobility.model"),
    ("channel", {"fading_correlation": 1.5}, "channel.fading_correlation"),
    ("channel", {"csi": "psychic"}, "channel.csi"),
    ("channel", {"packet_error_threshold": -1.0}, "channel.packet_error_threshold"),
    ("channel", {"target_outage": 0.0}, "channel.target_outage"),
    ("channel", {"target_outage": 0.95}, "channel.target_outage"),
    ("prediction", {"predictor": "crystal-ball"}, "prediction.predictor"),
    ("cycle_period_s", 0.01, "cycle_period_s"),
])
def test_bad_dynamics_keys_are_config_errors_that_name_the_key(key, value, words):
    with pytest.raises(ConfigError, match=words.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        load_scenario("default", {key: value})


def test_the_native_vector_env_runs_the_dynamic_world_like_the_single_env():
    kwargs = dict(scenario="dynamic", num_learners=4, samples_per_cycle=400, horizon_cycles=5)
    vec = gym.make_vec("mel_gym/TaskAllocation-v0", num_envs=2, vectorization_mode="vector_entry_point", **kwargs)
    obs, _ = vec.reset(seed=20)
    single = gym.make("mel_gym/TaskAllocation-v0", **kwargs)
    assert np.allclose(obs[1], single.reset(seed=21)[0], atol=1e-6)
    for _ in range(4):
        action = np.zeros(4, np.float32)
        obs, reward, _, _, info = vec.step(np.stack([action, action]))
        s_obs, s_reward, _, _, s_info = single.step(action)
        assert np.allclose(obs[1], s_obs, atol=1e-5) and reward[1] == pytest.approx(s_reward, abs=1e-5)
        assert np.array_equal(info["outage"][1], s_info["outage"])
