"""The single envs on whichever Gymnasium is installed (``make test`` runs this on the newest, 1.2.2 and 0.29.1):
both env checkers, Gymnasium's own wrappers, its SyncVectorEnv and SB3 over them; on Gymnasium 0.29 the native
vector env, which needs the 1.x vector API, refuses with one clear error."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from mel_gym import ENV_IDS
from mel_gym.envs.vector import AutoresetMode

from conftest import SMALL

OLD_GYMNASIUM = AutoresetMode is None  # Gymnasium < 1.0


def small(env_id: str) -> dict:
    return {**SMALL, "relocation": {"controllable": 2}} if "Relocation" in env_id else dict(SMALL)


@pytest.mark.parametrize("env_id", list(ENV_IDS))
def test_both_checkers_and_gymnasiums_wrappers(env_id):
    env = gym.make(env_id, **small(env_id))
    gym_check_env(env.unwrapped)
    sb3_check_env(env)
    wrapped = gym.wrappers.RecordEpisodeStatistics(gym.wrappers.NormalizeObservation(env))
    if isinstance(env.action_space, gym.spaces.Box):
        wrapped = gym.wrappers.ClipAction(wrapped)
    wrapped.action_space.seed(0)
    obs, _ = wrapped.reset(seed=0)
    steps, done = 0, False
    while not done:
        obs, reward, terminated, truncated, info = wrapped.step(wrapped.action_space.sample())
        steps, done = steps + 1, terminated or truncated
        assert np.all(np.isfinite(obs)) and np.isfinite(reward)
    assert steps == SMALL["horizon_cycles"] and info["episode"]["l"] == steps


def test_gymnasiums_sync_vector_env_over_single_envs_runs_through_episode_ends():
    env_id = "mel_gym/TaskAllocation-v0"
    vec = gym.vector.SyncVectorEnv([lambda: gym.make(env_id, **SMALL) for _ in range(2)])
    obs, _ = vec.reset(seed=[0, 1])
    single = gym.make(env_id, **SMALL)
    np.testing.assert_allclose(obs[1], single.reset(seed=1)[0])
    for _ in range(SMALL["horizon_cycles"] + 2):  # past the first episode's end: autoreset, in either API
        obs, reward, terminated, truncated, _ = vec.step(np.zeros((2, SMALL["num_learners"]), np.float32))
        assert obs.shape == (2, 14 * SMALL["num_learners"] + 3) and np.all(np.isfinite(reward))


def test_sb3_trains_over_single_envs():
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    model = PPO("MlpPolicy", make_vec_env("mel_gym/TaskAllocation-v0", n_envs=2, seed=0, env_kwargs=SMALL), n_steps=64,
                batch_size=64, seed=0)
    model.learn(128)
    assert model.num_timesteps == 128


def test_the_native_vector_env_needs_gymnasium_1_and_says_so():
    from mel_gym.envs.task_allocation import TaskAllocationVectorEnv

    if OLD_GYMNASIUM:
        with pytest.raises(RuntimeError, match=r"Gymnasium >= 1.0.*SyncVectorEnv"):
            TaskAllocationVectorEnv(2, **SMALL)
    else:
        assert TaskAllocationVectorEnv(2, **SMALL).reset(seed=0)[0].shape == (2, 14 * 4 + 3)


def test_an_unknown_keyword_is_a_type_error_as_python_gives():
    with pytest.raises(TypeError, match="unexpected keyword argument 'foo'"):
        gym.make("mel_gym/TaskAllocation-v0", foo=1)
