"""Parameter sharing for SB3: the agents of a :class:`~mel_gym.multiagent.parallel.LearnerParallelEnv` as the
sub-envs of one SB3 ``VecEnv``, so a single policy acts for (and learns from) every learner.

Sub-env k is agent ``learner_k``: observations (K, 14 + G), actions (K, B), each agent's reward is the team reward.
When the episode ends every sub-env is done at once; the next observation is the first of a new episode (reset with
the next seed of the sequence given to :meth:`SharedPolicyVecEnv.seed`), and each done info carries
``terminal_observation``, as SB3 expects.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

from mel_gym.multiagent.parallel import LearnerParallelEnv


class SharedPolicyVecEnv(VecEnv):
    """One SB3 sub-env per learner of ``par_env`` (see the module docstring)."""

    def __init__(self, par_env: LearnerParallelEnv, seed: int | None = None):
        self.par_env = par_env
        agents = par_env.possible_agents
        super().__init__(len(agents), par_env.observation_space(agents[0]), par_env.action_space(agents[0]))
        self._seed = seed
        self._actions: np.ndarray | None = None
        self._episode_return = 0.0

    def _next_seed(self) -> int | None:
        seed = self._seed
        if self._seed is not None:
            self._seed += 1
        return seed

    def _stack(self, per_agent: dict[str, Any]) -> np.ndarray:
        return np.stack([per_agent[a] for a in self.par_env.possible_agents])

    def reset(self) -> VecEnvObs:
        obs, _ = self.par_env.reset(seed=self._next_seed())
        self._episode_return = 0.0
        return self._stack(obs)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> VecEnvStepReturn:
        agents = self.par_env.possible_agents
        obs, rewards, terminated, truncated, infos = self.par_env.step(
            {a: self._actions[k] for k, a in enumerate(agents)})
        observations, reward = self._stack(obs), self._stack(rewards).astype(np.float32)
        self._episode_return += float(reward[0])
        done = bool(terminated[agents[0]] or truncated[agents[0]])
        info_list = [dict(infos[a]) for a in agents]
        if done:
            for k, info in enumerate(info_list):
                info["terminal_observation"] = observations[k]
                info["TimeLimit.truncated"] = bool(truncated[agents[0]] and not terminated[agents[0]])
                info["episode"] = {"r": self._episode_return, "l": int(info.get("cycle", 0))}
            observations = self.reset()
        return observations, reward, np.full(self.num_envs, done), info_list

    def close(self) -> None:
        self.par_env.close()

    def _indices(self, indices: VecEnvIndices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [indices] if isinstance(indices, int) else list(indices)

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self.par_env, attr_name) for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self.par_env, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        return [getattr(self.par_env, method_name)(*method_args, **method_kwargs) for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [self.par_env.render() for _ in range(self.num_envs)]

    def seed(self, seed: int | None = None) -> Sequence[None]:
        self._seed = seed
        return [None] * self.num_envs
