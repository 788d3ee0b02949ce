"""TaskAllocation-v0 through Gymnasium: registration, checkers, spaces, determinism, bad input."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from conftest import ENV_ID, SMALL
from mel_gym.config import ConfigError
from mel_gym.envs.action_maps import action_from_shares, shares_from_action, task_sizes_from_action


def make(**kw):
    return gym.make(ENV_ID, **{**SMALL, **kw})


def test_make_without_prior_import_in_a_fresh_interpreter():
    code = (
        "import gymnasium as gym, sys\n"
        "assert 'mel_gym' not in sys.modules\n"
        "env = gym.make('mel_gym:mel_gym/TaskAllocation-v0', num_learners=3)\n"
        "obs, _ = env.reset(seed=0)\n"
        "print(obs.shape[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(14 * 3 + 3)


@pytest.mark.parametrize("mode", ["pl", "fl"])
def test_gymnasium_and_sb3_checkers_pass(mode):
    env = make(mode=mode)
    gym_check_env(env.unwrapped, skip_render_check=False)
    sb3_check_env(env)


def test_spaces_and_info_contents():
    env = make()
    K = SMALL["num_learners"]
    assert env.action_space == gym.spaces.Box(-1, 1, (K,), np.float32)
    assert env.observation_space.shape == (14 * K + 3,) and env.observation_space.dtype == np.float32
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    assert set(info) == {"cycle", "test_accuracy", "test_loss", "val_accuracy", "val_loss"} and info["cycle"] == 0
    obs, reward, terminated, truncated, info = env.step(np.zeros(K, np.float32))
    assert env.observation_space.contains(obs) and isinstance(reward, float)
    for key in ("tau", "task_sizes", "time_s", "energy_j", "stragglers", "test_accuracy", "test_loss", "val_accuracy",
                "val_loss", "is_success"):
        assert key in info
    assert info["task_sizes"].sum() == SMALL["samples_per_cycle"] and info["task_sizes"].shape == (K,)
    assert np.all(info["time_s"][~info["stragglers"]] <= env.unwrapped.scenario.cycle_deadline_s * (1 + 1e-9))
    decoded = env.unwrapped.problem.decode(obs)
    assert np.allclose(decoded.previous_share, info["task_sizes"] / SMALL["samples_per_cycle"], atol=1e-6)
    assert decoded.cycle == 1 and decoded.val_accuracy == pytest.approx(info["val_accuracy"], abs=1e-6)


def test_observation_decoder_recovers_the_world():
    env = make()
    obs, _ = env.reset(seed=11)
    sim = env.unwrapped.simulator
    decoded = env.unwrapped.problem.decode(obs)
    down, up = sim.world.rates_bps()
    assert np.allclose(decoded.rate_up_bps, up[0], rtol=1e-6) and np.allclose(decoded.rate_down_bps, down[0], rtol=1e-6)
    assert np.allclose(decoded.cpu_hz, sim.world.state.cpu_hz[0], rtol=1e-6)
    assert np.allclose(decoded.position_m, sim.world.state.position_m[0], rtol=1e-5)
    assert np.allclose(decoded.battery_fraction, 1.0)
    assert decoded.val_loss == pytest.approx(sim.loss[0], rel=1e-6)


def test_action_map():
    available = np.ones(4, bool)
    assert np.allclose(shares_from_action(np.zeros(4), available, 3.0), 0.25)  # a = 0: equal allocation
    shares = shares_from_action(np.array([-1.0, 0.0, 0.0, 1.0]), available, 3.0)
    assert shares[0] == 0.0 and shares[3] / shares[1] == pytest.approx(np.exp(3.0))  # -1 drops a learner
    assert np.all(shares_from_action(np.full(4, -1.0), available, 3.0) == 0)
    assert shares_from_action(np.zeros(4), np.array([True, False, True, True]), 3.0)[1] == 0  # battery empty
    d = task_sizes_from_action(np.array([0.1, 0.2, -0.3, 0.0]), available, 3.0, 1000, np.full(4, 1000))
    assert d.sum() == 1000
    d = task_sizes_from_action(np.zeros(4), available, 3.0, 1000, np.array([100, 1000, 1000, 1000]))
    assert d.tolist() == [100, 300, 300, 300]  # FL cap: the surplus goes to the other chosen learners
    target = np.array([0.5, 0.3, 0.2, 0.0])
    assert np.allclose(shares_from_action(action_from_shares(target, 3.0).astype(np.float64), available, 3.0),
                       target, atol=1e-6)


def test_same_seed_same_trajectory():
    def rollout(seed):
        env = make()
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(0)
        trace = [obs]
        for _ in range(SMALL["horizon_cycles"]):
            obs, r, *_ , info = env.step(rng.uniform(-0.3, 0.3, SMALL["num_learners"]).astype(np.float32))
            trace += [obs, np.array([r, info["tau"]])]
        return trace

    a, b, c = rollout(7), rollout(7), rollout(8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_reset_without_seed_continues_the_seed_stream():
    env = make()
    env.reset(seed=1)
    first = env.reset()[0]
    env.reset(seed=1)
    assert np.array_equal(env.reset()[0], first)


def test_episode_is_truncated_at_the_horizon():
    env = make()
    env.reset(seed=0)
    for t in range(SMALL["horizon_cycles"]):
        _, _, terminated, truncated, info = env.step(np.zeros(SMALL["num_learners"]))
        assert not terminated and truncated == (t == SMALL["horizon_cycles"] - 1)
    with pytest.raises(RuntimeError, match="reset"):
        env.unwrapped.step(np.zeros(SMALL["num_learners"]))


def test_episode_terminates_at_the_target_when_asked():
    env = make(target_accuracy=0.05, terminate_on_target=True)
    env.reset(seed=0)
    _, _, terminated, truncated, info = env.step(np.zeros(SMALL["num_learners"]))
    assert terminated and not truncated and info["is_success"]


@pytest.mark.parametrize(
    "action, pattern",
    [
        (np.array([0.0, np.nan, 0.0, 0.0]), r"NaN or inf at index \[\[1\]\]"),
        (np.array([np.inf, 0.0, 0.0, 0.0]), "NaN or inf"),
        (np.zeros(3), r"action has shape \(3,\), expected \(4,\)"),
        (np.zeros((1, 4)), r"action has shape \(1, 4\)"),
    ],
)
def test_bad_actions_raise_and_leave_the_env_usable(action, pattern):
    env = make()
    env.reset(seed=0)
    before = env.unwrapped.simulator.world.state.cycle.copy()
    with pytest.raises(ValueError, match=pattern):
        env.step(action)
    assert np.array_equal(env.unwrapped.simulator.world.state.cycle, before)
    _, _, _, _, info = env.step(np.zeros(4, np.float32))
    assert info["cycle"] == 1


def test_out_of_range_actions_are_clipped():
    env_a, env_b = make(), make()
    env_a.reset(seed=2)
    env_b.reset(seed=2)
    _, ra, _, _, ia = env_a.step(np.array([5.0, -7.0, 0.0, 2.0]))
    _, rb, _, _, ib = env_b.step(np.array([1.0, -1.0, 0.0, 1.0]))
    assert ra == rb and np.array_equal(ia["task_sizes"], ib["task_sizes"])


def test_bad_env_kwargs_are_clear():
    with pytest.raises(TypeError, match="unexpected keyword argument 'num_lerners'"):
        gym.make(ENV_ID, num_lerners=3)
    with pytest.raises(ConfigError, match="unknown scenario key 'channel.bandwith_hz'"):
        gym.make(ENV_ID, channel={"bandwith_hz": 1e6})
    with pytest.raises(ConfigError, match="'learning.dataset' = 'cifar10' is not one of"):
        gym.make(ENV_ID, learning={"dataset": "cifar10"})
    with pytest.raises(ConfigError, match="env parameter 'reward.metric' = 'speed' is not one of"):
        gym.make(ENV_ID, reward={"metric": "speed"})
    with pytest.raises(ConfigError, match="env parameter 'horizon_cycles' = 0 is out of range"):
        gym.make(ENV_ID, horizon_cycles=0)
    with pytest.raises(ConfigError, match="'terminate_on_target' is true but the scenario's 'target_accuracy' is null"):
        gym.make(ENV_ID, target_accuracy=None, terminate_on_target=True)
    with pytest.raises(ValueError, match="render_mode='video'"):
        gym.make(ENV_ID, render_mode="video")


def test_reward_is_the_configured_learning_gain():
    env = make(reward={"metric": "accuracy", "tau_bonus": 0.0, "scale": 2.0})
    _, info0 = env.reset(seed=0)
    _, reward, _, _, info = env.step(np.zeros(4))
    assert reward == pytest.approx(2.0 * (info["val_accuracy"] - info0["val_accuracy"]))
    env = make(reward={"metric": "loss", "tau_bonus": 0.5, "straggler_penalty": 0.0})
    _, info0 = env.reset(seed=0)
    _, reward, _, _, info = env.step(np.zeros(4))
    assert info["samples_trained"] == SMALL["samples_per_cycle"]  # every learner finished
    expected = (info0["val_loss"] - info["val_loss"]) + 0.5 * info["tau"] / SMALL["max_local_iterations"]
    assert reward == pytest.approx(expected)
    assert info["reward_lql"] == pytest.approx(info0["val_loss"] - info["val_loss"])
    # the reward is scored on the validation split, the reported scores on the test split: they differ
    assert info["val_loss"] != info["test_loss"] and info0["val_loss"] != info0["test_loss"]
    assert info["reward_tau_bonus"] == pytest.approx(0.5 * info["tau"] / SMALL["max_local_iterations"])


def test_nothing_the_env_decides_depends_on_the_test_split():
    """Relabel the test samples of one env's trainer: its rewards, observations and flags stay those of an untouched
    twin from the same seed, only the reported test scores change."""
    import torch

    plain, scrambled = make(), make()
    trainer = scrambled.unwrapped.simulator.trainer
    assert trainer.num_validation > 0
    trainer.y_eval = torch.cat([trainer.y_val, (trainer.y_test + 1) % 10])  # a new tensor: the shared one stays
    (obs_a, info_a), (obs_b, info_b) = plain.reset(seed=5), scrambled.reset(seed=5)
    assert np.array_equal(obs_a, obs_b) and info_a["val_loss"] == info_b["val_loss"]
    rng = np.random.default_rng(0)
    for _ in range(3):
        action = rng.uniform(-1, 1, SMALL["num_learners"]).astype(np.float32)
        a, b = plain.step(action), scrambled.step(action)
        assert np.array_equal(a[0], b[0]) and a[1:4] == b[1:4]  # obs; reward, terminated, truncated
        assert a[4]["val_accuracy"] == b[4]["val_accuracy"] and a[4]["test_accuracy"] != b[4]["test_accuracy"]


def test_tau_bonus_counts_only_the_data_of_learners_that_finished():
    # two learners get most of the data and straggle at the plan's tau: only the others' work pays
    env = make(reward={"tau_bonus": 1.0}, cycle_deadline_s=0.1)
    env.reset(seed=0)
    K, d, tau_max = SMALL["num_learners"], SMALL["samples_per_cycle"], SMALL["max_local_iterations"]
    _, _, _, _, info = env.step(np.zeros(K, np.float32))
    finished = info["participants"] & ~info["stragglers"]
    expected = (info["task_sizes"] * finished).sum() * info["tau"] / (d * tau_max)
    assert info["reward_tau_bonus"] == pytest.approx(expected)
    core = env.unwrapped.core
    from mel_gym.simulation import Decision

    core.sim.reset([1])
    sizes = np.array([[100, 100, 100, 100]])
    out = core.sim.step(Decision(sizes, np.array([[2, 2, 2, 10_000]])))  # learner 3 straggles
    _, parts = core.reward(Decision(sizes, np.array([[2, 2, 2, 10_000]])), out)
    assert out.stragglers[0].tolist() == [False, False, False, True]
    assert parts["reward_tau_bonus"][0] == pytest.approx(1.0 * 300 * 2 / (d * tau_max))


def test_a_diverging_model_gives_a_bounded_reward_and_is_marked():
    env = make(learning={"learning_rate": 100.0}, reward={"tau_bonus": 0.0})
    env.reset(seed=0)
    bound = 10 * np.log(10)  # 10 ln(classes) nats
    marked = []
    for _ in range(SMALL["horizon_cycles"]):
        _, reward, _, truncated, info = env.step(np.zeros(SMALL["num_learners"], np.float32))
        assert np.isfinite(reward) and abs(reward) <= bound + 1e-9
        assert 0 <= info["test_loss"] <= bound and 0 <= info["val_loss"] <= bound
        assert info["model_diverged"] == (not env.unwrapped.simulator.loss[0] < bound)
        marked.append(info["model_diverged"])
    assert any(marked)  # lr 100 blows the model up (raw test loss > 23 nats) within the episode


def test_render_modes():
    env = make(render_mode="rgb_array")
    env.reset(seed=0)
    env.step(np.zeros(4))
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    env = make(render_mode="ansi")
    env.reset(seed=0)
    assert "up_Mbps" in env.render()
