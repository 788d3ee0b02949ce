"""The native vector env, its autoreset modes, the SB3 adapter, CUDA and memory over a long run."""

from __future__ import annotations

import resource

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.env_util import make_vec_env

from conftest import BATCH_ATOL, ENV_ID
from mel_gym import make_sb3_vec_env
from mel_gym.envs.task_allocation import TaskAllocationVectorEnv

KW = {"num_learners": 4, "samples_per_cycle": 400, "horizon_cycles": 3}


def _native(n, **kw):
    return gym.make_vec(ENV_ID, num_envs=n, vectorization_mode="vector_entry_point", **{**KW, **kw})


def _assert_info_matches(vector_info, i, single_info):
    for key, value in single_info.items():
        assert vector_info["_" + key][i], (key, i)
        assert np.allclose(vector_info[key][i], value, rtol=1e-5, atol=BATCH_ATOL), (key, vector_info[key][i], value)


def test_make_vec_returns_the_native_env_with_gymnasium_metadata():
    env = _native(3)
    assert isinstance(env.unwrapped, TaskAllocationVectorEnv)
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert env.observation_space.shape == (3, 14 * 4 + 3) and env.action_space.shape == (3, 4)
    assert env.single_action_space == gym.make(ENV_ID, **KW).action_space


@pytest.mark.parametrize("mode", ["pl", "fl"])
def test_sub_env_i_reproduces_a_single_env_step_by_step(mode):
    """NEXT_STEP autoreset across three episodes: obs, rewards, terminations and infos match."""
    n = 3
    vec = _native(n, mode=mode)
    singles = [gym.make(ENV_ID, **KW, mode=mode) for _ in range(n)]
    obs, info = vec.reset(seed=21)
    for i, env in enumerate(singles):
        single_obs, single_info = env.reset(seed=21 + i)
        assert np.allclose(obs[i], single_obs, atol=BATCH_ATOL)
        _assert_info_matches(info, i, single_info)
    rng = np.random.default_rng(0)
    ended = np.zeros(n, dtype=bool)
    for _ in range(3 * (KW["horizon_cycles"] + 1)):
        actions = rng.uniform(-0.4, 0.4, (n, 4)).astype(np.float32)
        obs, reward, terminated, truncated, info = vec.step(actions)
        for i, env in enumerate(singles):
            if ended[i]:  # NEXT_STEP: this step resets sub-env i and ignores its action
                single_obs, single_info = env.reset()
                single_reward, single_term, single_trunc = 0.0, False, False
                assert not info["_tau"][i]
            else:
                single_obs, single_reward, single_term, single_trunc, single_info = env.step(actions[i])
            assert np.allclose(obs[i], single_obs, atol=BATCH_ATOL)
            assert reward[i] == pytest.approx(single_reward, abs=BATCH_ATOL)
            assert (terminated[i], truncated[i]) == (single_term, single_trunc)
            _assert_info_matches(info, i, single_info)
            ended[i] = single_term or single_trunc


def test_same_step_autoreset_reports_final_obs_and_info():
    vec = _native(2, autoreset_mode=AutoresetMode.SAME_STEP)
    single = gym.make(ENV_ID, **KW)
    vec.reset(seed=5)
    single.reset(seed=5)
    for t in range(KW["horizon_cycles"]):
        obs, _, _, truncated, info = vec.step(np.zeros((2, 4), np.float32))
        last_obs, _, _, last_trunc, last_info = single.step(np.zeros(4, np.float32))
    assert truncated.all() and last_trunc
    assert info["_final_obs"].all() and np.allclose(info["final_obs"][0], last_obs, atol=BATCH_ATOL)
    assert info["final_info"]["tau"][0] == last_info["tau"]
    assert not info["_tau"].any()  # the step info of ended episodes lives in final_info only
    reset_obs, _ = single.reset()
    assert np.allclose(obs[0], reset_obs, atol=BATCH_ATOL) and info["cycle"][0] == 0


def test_disabled_autoreset_needs_an_explicit_masked_reset():
    vec = _native(2, autoreset_mode="Disabled")
    vec.reset(seed=0)
    for _ in range(KW["horizon_cycles"]):
        vec.step(np.zeros((2, 4), np.float32))
    with pytest.raises(RuntimeError, match="reset_mask"):
        vec.step(np.zeros((2, 4), np.float32))
    obs, info = vec.reset(options={"reset_mask": np.array([True, True])})
    assert info["_cycle"].all() and np.all(info["cycle"] == 0)
    with pytest.raises(ValueError, match="reset_mask"):
        vec.reset(options={"reset_mask": np.array([1, 0])})


def test_bad_actions_leave_the_vector_env_usable():
    vec = _native(2)
    vec.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions have shape \(4,\)"):
        vec.step(np.zeros(4))
    bad = np.zeros((2, 4))
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        vec.step(bad)
    _, _, _, _, info = vec.step(np.zeros((2, 4)))
    assert np.all(info["cycle"] == 1)
    with pytest.raises(RuntimeError, match="reset"):
        _native(2).step(np.zeros((2, 4)))


def test_sb3_adapter_matches_dummy_vec_env():
    native = make_sb3_vec_env(ENV_ID, n_envs=3, seed=7, **KW)
    dummy = make_vec_env(ENV_ID, n_envs=3, seed=7, env_kwargs=KW, monitor_kwargs={"info_keywords": ("test_accuracy",)})
    assert np.allclose(native.reset(), dummy.reset(), atol=BATCH_ATOL)
    rng = np.random.default_rng(1)
    for _ in range(2 * KW["horizon_cycles"]):  # two whole episodes: the last step ends the second
        actions = rng.uniform(-0.3, 0.3, (3, 4)).astype(np.float32)
        obs_a, rew_a, done_a, infos_a = native.step(actions)
        obs_b, rew_b, done_b, infos_b = dummy.step(actions)
        assert np.allclose(obs_a, obs_b, atol=BATCH_ATOL) and np.allclose(rew_a, rew_b, atol=BATCH_ATOL)
        assert np.array_equal(done_a, done_b)
        for a, b in zip(infos_a, infos_b):
            assert set(a) == set(b)
            for key in a:
                if key == "episode":
                    assert a[key]["l"] == b[key]["l"] and a[key]["r"] == pytest.approx(b[key]["r"], abs=BATCH_ATOL)
                else:
                    assert np.allclose(a[key], b[key], atol=BATCH_ATOL), key
    assert done_a.any() and "terminal_observation" in infos_a[0] and infos_a[0]["TimeLimit.truncated"]
    assert native.get_attr("problem")[0].num_learners == 4
    assert native.env_is_wrapped(gym.Wrapper) == [False] * 3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_vector_env_matches_cpu():
    cpu, gpu = _native(4, device="cpu"), _native(4, device="cuda")
    assert gpu.unwrapped.simulator.trainer.device.type == "cuda"
    obs_c, _ = cpu.reset(seed=3)
    obs_g, _ = gpu.reset(seed=3)
    for _ in range(KW["horizon_cycles"]):
        obs_c, rew_c, *_ = cpu.step(np.zeros((4, 4), np.float32))
        obs_g, rew_g, *_ = gpu.step(np.zeros((4, 4), np.float32))
        assert np.allclose(obs_c, obs_g, atol=1e-4) and np.allclose(rew_c, rew_g, atol=1e-4)


def test_auto_device_picks_what_is_there():
    env = _native(2, device="auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert env.unwrapped.simulator.trainer.device.type == expected


@pytest.mark.slow
def test_memory_stays_flat_over_a_long_run():
    """Many autoreset episodes: resident memory after warm-up must not keep growing (no timing asserted)."""
    vec = _native(16, horizon_cycles=5)
    vec.reset(seed=0)
    rng = np.random.default_rng(0)

    def run(steps):
        for _ in range(steps):
            vec.step(rng.uniform(-0.5, 0.5, (16, 4)).astype(np.float32))

    run(200)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run(1500)
    growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert growth_mb < 30, f"peak RSS grew by {growth_mb:.1f} MB over 1,500 steps"
