"""The drone orchestrator: air-to-ground channel, propulsion, flight, DroneOrchestrator-v0 and its planners."""

from __future__ import annotations

import itertools
import math

import gymnasium as gym
import numpy as np
import pytest

import mel_gym  # noqa: F401 - registers the env IDs
from mel_gym.agents import make_policy
from mel_gym.agents.baselines import RecedingHorizon
from mel_gym.optim.mobility import HorizonPlanner, best_point, disc_grid
from mel_gym.world.aerial import AIR_TO_GROUND, Rotorcraft, air_to_ground_path_loss_db, elevation_deg, los_probability
from mel_gym.world.placement import sample_cluster_positions
from mel_gym.world.radio import free_space_path_loss_db

ENV_ID = "mel_gym/DroneOrchestrator-v0"


# ---------------------------------------------------------------------------------------------------- physics
def test_rotary_wing_propulsion_matches_the_published_values():
    """Zeng, Xu, Zhang (2019) with their parameters: P0 + Pi = 168.49 W hovering, about 126 W at 10 m/s (the
    maximum-endurance speed, where power is least), 159 W at 18 m/s and 249 W at 25 m/s."""
    craft = Rotorcraft()
    assert craft.hover_power_w == pytest.approx(79.86 + 88.63)
    assert float(craft.power_w(10.0)) == pytest.approx(126.0, abs=0.5)
    assert float(craft.power_w(18.0)) == pytest.approx(159.0, abs=0.5)
    assert float(craft.power_w(25.0)) == pytest.approx(249.0, abs=0.5)
    speeds = np.linspace(0.0, 30.0, 3001)
    assert 9.5 < speeds[np.argmin(craft.power_w(speeds))] < 11.0
    # by hand at 10 m/s: blade 79.86 (1 + 300/14400) = 81.52; induced 88.63 sqrt(sqrt(1 + 10^4/(4 * 4.03^4)) -
    # 100/(2 * 4.03^2)) = 35.25; parasite 0.5 * 0.6 * 1.225 * 0.05 * 0.503 * 1000 = 9.24
    induced = 88.63 * math.sqrt(math.sqrt(1 + 1e4 / (4 * 4.03**4)) - 100 / (2 * 4.03**2))
    assert float(craft.power_w(10.0)) == pytest.approx(79.86 * (1 + 300 / 14400) + induced + 9.2430, rel=1e-4)


@pytest.mark.parametrize("environment, elevation, expected", [
    ("suburban", 20.0, 0.9927),        # 1 / (1 + 4.88 exp(-0.43 (20 - 4.88)))
    ("urban", 30.0, 0.7310),           # 1 / (1 + 9.61 exp(-0.16 (30 - 9.61)))
    ("dense-urban", 45.0, 0.7558),     # 1 / (1 + 12.08 exp(-0.11 (45 - 12.08)))
    ("high-rise-urban", 60.0, 0.3357),  # 1 / (1 + 27.23 exp(-0.08 (60 - 27.23)))
    ("urban", 90.0, 1.0000),
])
def test_los_probability_follows_al_hourani_s_curves(environment, elevation, expected):
    assert float(los_probability(elevation, environment)) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("environment", list(AIR_TO_GROUND))
def test_los_probability_rises_with_elevation_and_equals_one_over_one_plus_a_at_theta_a(environment):
    e = AIR_TO_GROUND[environment]
    assert float(los_probability(e.a, environment)) == pytest.approx(1.0 / (1.0 + e.a))
    p = los_probability(np.linspace(0.0, 90.0, 91), environment)
    assert np.all(np.diff(p) > 0)
    # the urban canyons block more: at every angle, suburban >= urban >= dense urban >= high-rise urban
    if environment == "high-rise-urban":
        angles = np.linspace(5.0, 90.0, 18)
        curves = [los_probability(angles, name) for name in ("suburban", "urban", "dense-urban", "high-rise-urban")]
        assert all(np.all(a >= b - 1e-12) for a, b in zip(curves, curves[1:]))


def test_air_to_ground_path_loss_is_free_space_plus_the_mean_excess_loss():
    """Straight below (90 degrees, P_LoS ~ 1): FSPL(H) + eta_LoS; far away (low angle) it tends to FSPL + eta_NLoS."""
    e = AIR_TO_GROUND["urban"]
    below = float(air_to_ground_path_loss_db(0.0, 100.0, 2e9, "urban"))
    assert below == pytest.approx(float(free_space_path_loss_db(100.0, 2e9)) + e.eta_los_db, abs=1e-3)
    far = 5000.0
    theta = float(elevation_deg(far, 100.0))
    p = 1.0 / (1.0 + e.a * math.exp(-e.b * (theta - e.a)))
    expected = float(free_space_path_loss_db(math.hypot(far, 100.0), 2e9)) + p * e.eta_los_db + (1 - p) * e.eta_nlos_db
    assert float(air_to_ground_path_loss_db(far, 100.0, 2e9, "urban")) == pytest.approx(expected)
    assert expected - float(free_space_path_loss_db(math.hypot(far, 100.0), 2e9)) > 19.0


def test_cluster_placement_puts_learners_in_equally_spaced_discs():
    rng = np.random.default_rng(0)
    pos = sample_cluster_positions(rng, 300, 3, 40.0, 300.0)
    centres = np.array([pos[c::3].mean(axis=0) for c in range(3)])
    for c in range(3):
        assert np.all(np.hypot(*(pos[c::3] - centres[c]).T) <= 40.0 + 12.0)  # uniform in the disc: the mean is near the centre
    sides = [np.hypot(*(centres[a] - centres[b])) for a, b in ((0, 1), (1, 2), (0, 2))]
    assert sides == pytest.approx([2 * 260.0 * math.sin(math.pi / 3)] * 3, rel=0.03)  # 450 m


# ---------------------------------------------------------------------------------------------------- the env
def make(**kwargs):
    return gym.make(ENV_ID, **{"horizon_cycles": 40, **kwargs})


def hover_action(env, velocity=(0.0, 0.0)):
    K = env.unwrapped.scenario.num_learners
    return np.concatenate([np.zeros(K), velocity]).astype(np.float32)


def test_the_drone_flies_at_the_chosen_velocity_and_pays_its_propulsion_energy():
    env = make()
    obs, _ = env.reset(seed=0)
    s = env.unwrapped.scenario
    problem = env.unwrapped.problem
    start = problem.decode(obs).orchestrator_m
    assert start[2] == s.orchestrator.height_m
    flight = s.period_s - s.cycle_deadline_s
    craft = Rotorcraft()
    obs, _, _, _, info = env.step(hover_action(env, (0.4, 0.0)))  # 10 m/s east
    assert info["drone_position_m"] == pytest.approx(start + np.array([10.0 * flight, 0.0, 0.0]))
    assert problem.decode(obs).orchestrator_m == pytest.approx(info["drone_position_m"], abs=1e-3)
    energy = float(craft.power_w(10.0)) * flight + craft.hover_power_w * s.cycle_deadline_s
    assert info["drone_energy_j"] == pytest.approx(energy)
    assert info["propulsion_power_w"] == pytest.approx(energy / s.period_s)
    assert info["drone_battery_j"] == pytest.approx(s.drone.battery_j - energy)
    assert problem.decode(obs).orchestrator_velocity_mps == pytest.approx([10.0, 0.0], abs=0.01)
    # a pair beyond the unit disc flies at the top speed in its direction, and never beyond the area
    _, _, _, _, info2 = env.step(hover_action(env, (-1.0, 1.0)))
    step = info2["drone_position_m"][:2] - info["drone_position_m"][:2]
    assert np.hypot(*step) == pytest.approx(s.drone.max_speed_mps * flight)
    for _ in range(4):
        _, _, _, _, info = env.step(hover_action(env, (1.0, 0.0)))
    assert np.hypot(*info["drone_position_m"][:2]) == pytest.approx(s.area_radius_m)


def test_the_battery_ends_the_episode_after_about_thirty_hovering_periods():
    env = make(horizon_cycles=100)
    env.reset(seed=0)
    s = env.unwrapped.scenario
    per_period = Rotorcraft().hover_power_w * s.period_s
    for cycle in range(1, 100):
        _, _, terminated, truncated, info = env.step(hover_action(env))
        if terminated:
            break
    assert cycle == math.ceil(s.drone.battery_j / per_period) and info["drone_battery_j"] == 0.0 and not truncated


def test_the_world_draws_the_same_channels_whatever_the_drone_does():
    def fading(velocity):
        env = make()
        env.reset(seed=4)
        draws = []
        for _ in range(3):
            env.step(hover_action(env, velocity))
            draws.append(env.unwrapped.simulator.world.state.fading_power.copy())
        return np.array(draws)

    assert np.array_equal(fading((0.0, 0.0)), fading((0.8, -0.3)))


def test_coverage_follows_the_drone():
    env = make()
    obs, _ = env.reset(seed=1)
    decoded = env.unwrapped.problem.decode(obs)
    ground = np.hypot(*(decoded.position_m - decoded.orchestrator_m[:2]).T)
    radius = env.unwrapped.scenario.coverage_radius_m
    assert np.array_equal(decoded.in_coverage, ground <= radius)
    obs, _, _, _, info = env.step(hover_action(env, (0.6, -0.2)))
    decoded = env.unwrapped.problem.decode(obs)
    ground = np.hypot(*(decoded.position_m - info["drone_position_m"][:2]).T)
    assert np.array_equal(decoded.in_coverage, ground <= radius)


def test_bad_actions_raise_and_leave_the_drone_where_it_was():
    env = make()
    env.reset(seed=0)
    before = env.unwrapped.simulator.world.state.orchestrator_m.copy()
    action = hover_action(env, (0.5, 0.5))
    action[-1] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        env.step(action)
    assert np.array_equal(env.unwrapped.simulator.world.state.orchestrator_m, before)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(env.unwrapped.scenario.num_learners, np.float32))


def test_the_planners_view_of_another_position_is_what_the_world_then_charges():
    """Carrying the observed gains to another drone position by the public path loss gives exactly the relaxed
    tau the world's own coefficients give once the drone is there (perfect CSI, the same fading draw)."""
    env = make()
    obs, _ = env.reset(seed=2)
    core, problem = env.unwrapped.core, env.unwrapped.problem
    decoded = problem.decode(obs)
    target = np.array([[150.0, -80.0, decoded.orchestrator_m[2]]])
    predicted = problem.relaxed_tau_at(decoded, target)[0]
    world = core.sim.world
    world.move(orchestrator_m=target)
    actual_obs = core.observe()[0]
    assert problem.relaxed_tau_at(problem.decode(actual_obs))[0] == pytest.approx(predicted, rel=1e-3)


# ---------------------------------------------------------------------------------------------------- planners
def _decoded(seed=3):
    env = make()
    obs, _ = env.reset(seed=seed)
    return env, env.unwrapped.problem, env.unwrapped.problem.decode(obs)


def test_best_point_is_at_least_as_good_as_a_fine_brute_force_grid():
    env, problem, decoded = _decoded()
    h = decoded.orchestrator_m[2]
    score = lambda pts: problem.relaxed_tau_at(decoded, np.column_stack([pts, np.full(len(pts), h)]))  # noqa: E731
    area = problem.mobility.area_radius_m
    point, value = best_point(score, np.zeros(2), area, area, area / 14)
    brute = disc_grid(np.zeros(2), area, 5.0)
    best_brute = score(brute).max()
    assert value >= best_brute - 0.02 * best_brute and value > 0
    assert score(point[None])[0] == pytest.approx(value)


def test_receding_horizon_dynamic_programme_equals_enumerating_every_plan():
    rng = np.random.default_rng(0)
    grid = disc_grid(np.zeros(2), 60.0, 20.0)  # 29 points
    reach = 30.0
    tables = [rng.normal(size=len(grid) + 1) for _ in range(3)]
    nodes = np.vstack([[[3.0, -2.0]], grid])

    def score_of(table):
        lookup = {tuple(p): v for p, v in zip(nodes, table)}
        return lambda pts: np.array([lookup[tuple(p)] for p in pts])

    cost = lambda steps: 0.01 * np.asarray(steps) ** 1.5  # noqa: E731
    scores = [score_of(t) for t in tables]
    first, value = HorizonPlanner(grid, reach, cost).plan(scores, nodes[0], weight=2.0)
    best = -np.inf
    for path in itertools.product(range(len(nodes)), repeat=3):
        points = [nodes[0]] + [nodes[i] for i in path]
        steps = [np.hypot(*(b - a)) for a, b in zip(points, points[1:])]
        if max(steps) > reach:
            continue
        total = sum(tables[h][path[h]] for h in range(3)) - 2.0 * sum(cost(s) for s in steps)
        if total > best:
            best, best_first = total, nodes[path[0]]
    assert value == pytest.approx(best) and np.allclose(first, best_first)


def test_the_flight_baselines_head_for_the_learners_and_stay_within_reach():
    env, problem, decoded = _decoded()
    reach = problem.mobility.drone_reach_m
    obs = env.unwrapped.core.observe()[0]
    tau_here = problem.relaxed_tau_at(decoded)[0]
    for name in ("hover", "greedy-flight", "receding-horizon"):
        policy = make_policy(name, problem, env.action_space)
        action, _ = policy.predict(obs)
        velocity = action[-2:] * problem.mobility.drone_max_speed_mps
        target = decoded.orchestrator_m[:2] + velocity * problem.mobility.flight_s
        assert np.hypot(*velocity) <= problem.mobility.drone_max_speed_mps * (1 + 1e-6)
        assert np.hypot(*(target - decoded.orchestrator_m[:2])) <= reach * (1 + 1e-6)
        h = decoded.orchestrator_m[2]
        assert problem.relaxed_tau_at(decoded, np.array([[*target, h]]))[0] > max(tau_here, 1.0), name


def test_receding_horizon_counts_energy_in_hovering_periods():
    env, problem, _ = _decoded()
    planner = RecedingHorizon(problem)
    m, craft = problem.mobility, Rotorcraft()
    costs = planner.step_cost(np.array([0.0, 10.0 * m.flight_s, m.drone_reach_m]))
    assert costs[0] == pytest.approx(1.0)  # hovering through the flight and the cycle: one hovering period
    assert costs[1] == pytest.approx((float(craft.power_w(10.0)) * m.flight_s + craft.hover_power_w * 0.1)
                                     / (craft.hover_power_w * 10.0))
    assert costs[1] < costs[0] < costs[2]  # 10 m/s costs less than hovering, the top speed more (Zeng et al.)


def test_power_control_adds_a_block_of_uplink_powers():
    from gymnasium.utils.env_checker import check_env

    env = make(power_control=True, num_learners=6, samples_per_cycle=600)
    K, problem = 6, env.unwrapped.problem
    assert env.action_space.shape == (2 * K + 2,) and problem.actions.names == ("shares", "power", "velocity")
    check_env(env.unwrapped, skip_render_check=True)
    assert np.array_equal(problem.actions.moving_indices(), [2 * K, 2 * K + 1])
    s = env.unwrapped.scenario
    p_max = 10 ** ((s.channel.tx_power_dbm - 30) / 10)
    infos = {}
    for level in (1.0, -1.0):
        obs, _ = env.reset(seed=3)
        for name in ("greedy-flight",):  # fly to the learners first, at full power
            action, _ = make_policy(name, problem, env.action_space).predict(obs)
            assert np.all(action[K : 2 * K] == 1.0)  # the baselines transmit at full power
            obs, *_ = env.step(action)
        action = np.concatenate([np.zeros(K), np.full(K, level), np.zeros(2)]).astype(np.float32)
        _, _, _, _, infos[level] = env.step(action)
    assert infos[1.0]["tx_power_w"] == pytest.approx(np.full(K, p_max))
    assert infos[-1.0]["tx_power_w"] == pytest.approx(np.full(K, p_max * 10 ** (-s.channel.power_range_db / 10)))
    took_part = infos[1.0]["participants"] & infos[-1.0]["participants"]
    assert took_part.any()
    assert np.all(infos[-1.0]["time_return_s"][took_part] >= infos[1.0]["time_return_s"][took_part])
    assert infos[-1.0]["tau"] <= infos[1.0]["tau"]
