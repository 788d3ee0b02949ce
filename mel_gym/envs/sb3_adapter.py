"""An SB3 ``VecEnv`` over mel_gym's native vector envs, so SB3 trains on one batched simulator in one process.

SB3 does not take a ``gymnasium.vector.VectorEnv``; :class:`SB3VecEnv` speaks SB3's VecEnv API over a native
vector env in ``SAME_STEP`` autoreset mode: ``reset()`` returns observations only (infos in
``reset_infos``), ``step`` returns (obs, rewards, dones, list of infos), and an ending episode's info holds
``terminal_observation`` and ``TimeLimit.truncated``, exactly as SB3's ``DummyVecEnv`` over single envs.

    from mel_gym import make_sb3_vec_env
    from stable_baselines3 import PPO
    model = PPO("MlpPolicy", make_sb3_vec_env("mel_gym/TaskAllocation-v0", n_envs=16))

The sub-envs share one simulator object, so ``get_attr``/``set_attr``/``env_method`` act on the batched env
and return its answer once per requested index; ``env_method("action_masks")`` returns each sub-env's row of the
batched masks (what sb3-contrib's MaskablePPO asks for).
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecMonitor
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvObs, VecEnvStepReturn

import mel_gym.registration  # noqa: F401 - the env IDs must be known to gym.make_vec
from mel_gym.envs.vector import require_vector_api

VECTOR_ONLY_KEYS = ("final_obs", "final_info")
#: Methods of the native vector env that answer for all sub-envs at once (a leading axis of num_envs).
BATCHED_METHODS = ("action_masks",)


def unbatch_info(infos: dict[str, Any], i: int) -> dict[str, Any]:
    """Sub-env ``i``'s entries of a Gymnasium vector info dict, as a single env's info (Python scalars)."""
    out = {}
    for key, value in infos.items():
        if key.startswith("_") or key in VECTOR_ONLY_KEYS or not infos["_" + key][i]:
            continue
        item = value[i]
        out[key] = item.item() if np.ndim(item) == 0 else item
    return out


class SB3VecEnv(VecEnv):
    """SB3 VecEnv over a native mel_gym vector env created with ``autoreset_mode=SAME_STEP``."""

    def __init__(self, vector_env: gym.vector.VectorEnv):
        mode = vector_env.metadata.get("autoreset_mode")
        if getattr(mode, "value", mode) != "SameStep":
            raise ValueError("SB3VecEnv needs a vector env with autoreset_mode=AutoresetMode.SAME_STEP, got "
                             f"{vector_env.metadata.get('autoreset_mode')}")
        self.vector_env = vector_env
        super().__init__(vector_env.num_envs, vector_env.single_observation_space, vector_env.single_action_space)
        self._actions: np.ndarray | None = None

    def reset(self) -> VecEnvObs:
        if any(self._options):
            raise ValueError(f"reset options {self._options} are not supported by mel_gym's vector env")
        seeds = None if all(s is None for s in self._seeds) else list(self._seeds)
        obs, infos = self.vector_env.reset(seed=seeds)
        self.reset_infos = [unbatch_info(infos, i) for i in range(self.num_envs)]
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, terminated, truncated, infos = self.vector_env.step(self._actions)
        dones = terminated | truncated
        step_infos = []
        for i in range(self.num_envs):
            if dones[i]:
                info = unbatch_info(infos["final_info"], i)
                info["terminal_observation"] = infos["final_obs"][i]
                self.reset_infos[i] = unbatch_info(infos, i)
            else:
                info = unbatch_info(infos, i)
            info["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            step_infos.append(info)
        return obs, rewards.astype(np.float32), dones, step_infos

    def close(self) -> None:
        self.vector_env.close()

    def _indices(self, indices: VecEnvIndices) -> list[int]:
        return list(self._get_indices(indices))

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        value = getattr(self.vector_env, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self.vector_env, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any) -> list[Any]:
        result = getattr(self.vector_env, method_name)(*method_args, **method_kwargs)
        if method_name in BATCHED_METHODS:  # one row per sub-env (sb3-contrib's get_action_masks stacks them)
            return [result[i] for i in self._indices(indices)]
        return [result for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None for _ in range(self.num_envs)]


def make_sb3_vec_env(
    env_id: str, n_envs: int = 1, seed: int | None = None, monitor: bool = True,
    info_keywords: Iterable[str] = ("test_accuracy",), **env_kwargs: Any,
) -> VecEnv:
    """SB3 VecEnv of ``n_envs`` sub-envs of ``env_id`` in one native batched env.

    Args:
        seed: sub-env i is seeded with seed + i at the first reset (as SB3's ``make_vec_env``).
        monitor: wrap in SB3's ``VecMonitor`` (episode returns and lengths for logging), recording
            ``info_keywords`` from each episode's last info.
        env_kwargs: scenario, device and scenario overrides, as for ``gym.make``.
    """
    require_vector_api("make_sb3_vec_env (one batched env)")
    vector_env = gym.make_vec(env_id, num_envs=n_envs, vectorization_mode="vector_entry_point",
                              autoreset_mode="SameStep", **env_kwargs)
    env: VecEnv = SB3VecEnv(vector_env)
    if seed is not None:
        env.seed(seed)
    return VecMonitor(env, info_keywords=tuple(info_keywords)) if monitor else env
