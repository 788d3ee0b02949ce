"""The declared action blocks: every env's layout matches its action space, blocks map plans to actions and back,
and consumers (baseline fit, residual mobility, the multi-agent view) read the layout."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from mel_gym import ENV_IDS
from mel_gym.agents import make_policy
from mel_gym.envs.action_blocks import ActionLayout, DecodeContext, Moves, PlanParts, Shares

SMALL = {"num_learners": 4, "samples_per_cycle": 400, "horizon_cycles": 3}
NAMES = {
    "mel_gym/TaskAllocation-v0": ("shares",), "mel_gym/AsyncTaskAllocation-v0": ("shares",),
    "mel_gym/JointAllocation-v0": ("shares", "power", "bandwidth", "cpu"),
    "mel_gym/LearnerSelection-v0": ("selection",),
    "mel_gym/ReliableTaskAllocation-v0": ("shares", "participation", "backup"),
    "mel_gym/DroneOrchestrator-v0": ("shares", "velocity"),
    "mel_gym/LearnerRelocation-v0": ("shares", "moves"), "mel_gym/MultiJob-v0": ("job",),
    "mel_gym/SplitChain-v0": ("chain_slot", "chain_split"),
    "mel_gym/MultiHop-v0": ("next_hop", "route_share"),
}


def make(env_id: str, **kwargs):
    extra = {"relocation": {"controllable": 2}} if "Relocation" in env_id else {}
    return gym.make(env_id, **SMALL, **extra, **kwargs)


@pytest.mark.parametrize("env_id", list(ENV_IDS))
def test_every_env_declares_its_blocks_and_they_cover_its_action(env_id):
    assert set(NAMES) == set(ENV_IDS)
    supports_effort = env_id not in ("mel_gym/LearnerSelection-v0", "mel_gym/MultiJob-v0", "mel_gym/SplitChain-v0",
                                   "mel_gym/MultiHop-v0")
    for kwargs, tail in (({}, ()), ({"amount_action": True}, ("amount",)),
                         ({"amount_action": True, "effort_action": True}, ("amount", "effort"))):
        if "effort_action" in kwargs and not supports_effort:
            continue
        env = make(env_id, **kwargs)
        layout = env.unwrapped.problem.actions
        assert layout.names == NAMES[env_id] + tail
        assert layout.size == int(np.prod(env.action_space.shape))
        covered = np.concatenate([np.arange(layout.slice_of(n).start, layout.slice_of(n).stop) for n in layout.names])
        assert np.array_equal(covered, np.arange(layout.size))  # the blocks tile the action, in order


def test_a_layout_names_each_block_once_and_says_what_it_lacks():
    with pytest.raises(ValueError, match="each block once"):
        ActionLayout((Shares(), Shares()), 3)
    layout = ActionLayout((Shares(), Moves()), 3)
    with pytest.raises(KeyError, match="no block 'velocity'"):
        layout.block("velocity")
    assert layout.learner_indices(1).tolist() == [1, 4, 7]  # its share, its x move, its y move
    assert layout.moving_indices().tolist() == list(range(3, 9)) and layout.global_size == 0


def test_joint_blocks_round_trip_a_plan():
    env = make("mel_gym/JointAllocation-v0")
    obs, _ = env.reset(seed=3)
    problem = env.unwrapped.problem
    decoded = problem.decode(obs)
    K = problem.num_learners
    power = problem.tx_power_w * np.array([1.0, 0.5, 0.25, 0.1])
    cpu = decoded.cpu_hz * 0.75
    action = problem.encode_action(decoded, np.full(K, 1 / K), power_w=power,
                                   bandwidth_shares=np.array([0.4, 0.3, 0.2, 0.1]), cpu_hz=cpu)
    layout, core = problem.actions, env.unwrapped.core
    ctx = core.decode_context(np.array([problem.samples_per_cycle]))
    batch = action[None].astype(np.float64)
    np.testing.assert_allclose(layout.decode("power", batch, problem, ctx)[0], power, rtol=1e-5)
    np.testing.assert_allclose(layout.decode("cpu", batch, problem, ctx)[0], cpu, rtol=1e-5)
    np.testing.assert_allclose(layout.decode("bandwidth", batch, problem, ctx)[0] / problem.total_bandwidth_hz,
                               [0.4, 0.3, 0.2, 0.1], rtol=1e-4)
    assert layout.decode("shares", batch, problem, ctx)[0].sum() == problem.samples_per_cycle


def test_relocation_moves_decode_to_metres_and_only_for_controllable_learners():
    env = make("mel_gym/LearnerRelocation-v0")
    problem = env.unwrapped.problem
    reach = problem.mobility.learner_reach_m
    moves = np.array([[0.5, 0.0], [0.0, -0.25], [0.3, 0.3], [0.1, 0.0]]) * reach
    env.reset(seed=0)
    action = problem.actions.encode(PlanParts(task_shares=np.full(4, 0.25), moves_m=moves), problem, None)
    got = problem.actions.decode("moves", action[None].astype(np.float64), problem, None)[0]
    np.testing.assert_allclose(got[:2], moves[:2], atol=1e-4 * reach)  # the two controllable learners
    assert np.all(got[2:] == 0)


def test_baselines_fit_by_blocks_and_a_misfit_names_the_missing_blocks():
    env = make("mel_gym/TaskAllocation-v0")
    with pytest.raises(ValueError, match=r"blocks \['shares', 'power', 'bandwidth', 'cpu'\]; it has \['shares'\]"):
        make_policy("joint", env.unwrapped.problem, env.action_space)
    drone = make("mel_gym/DroneOrchestrator-v0")
    make_policy("hover", drone.unwrapped.problem, drone.action_space)  # shares + velocity
    assert np.array_equal(drone.unwrapped.problem.actions.moving_indices(), [4, 5])


def test_decode_context_holds_the_coming_cycle():
    env = make("mel_gym/TaskAllocation-v0")
    env.reset(seed=1)
    core = env.unwrapped.core
    ctx = core.decode_context(np.array([123]))
    assert isinstance(ctx, DecodeContext) and ctx.samples.tolist() == [123]
    assert np.array_equal(ctx.available, core.sim.world.available)
