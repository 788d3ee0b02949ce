"""The shape the topology envs share: a raw ``MultiDiscrete`` action of one masked choice per learner (SplitChain-v0's
slot, MultiHop-v0's next hop), then per-learner or per-chain levels and the amount level, with action masks in the
single and the vector env."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mel_gym.envs.action_maps import first_bad_integer
from mel_gym.envs.core import EnvCore
from mel_gym.envs.env import MELEnv
from mel_gym.envs.vector import MELVectorEnv, vector_env_class


class ChoiceCore(EnvCore):
    """A core whose raw action starts with K masked choices (:meth:`learner_masks`), every other entry a level."""

    discrete_amount: ClassVar[bool] = True

    def entry_meaning(self, entry: int) -> str:  # pragma: no cover - abstract
        """What entry ``entry`` of the raw action is, for error messages (e.g. "a split level")."""
        raise NotImplementedError

    def learner_masks(self) -> np.ndarray:  # pragma: no cover - abstract
        """(n_envs, K, choices) bool: the choices each learner may make this cycle (0, idle, always)."""
        raise NotImplementedError

    def validate(self, actions: np.ndarray) -> np.ndarray:
        top = np.asarray(self.raw_action_space.nvec) - 1
        numeric = np.asarray(actions).astype(np.float64)
        bad = first_bad_integer(numeric, actions, top, self.n_envs)
        if bad is not None:
            where, value, entry = bad
            raise ValueError(f"action holds {value!r} at index {where}: it must be {self.entry_meaning(entry)}, an "
                             f"integer in [0, {top[entry]}]")
        return numeric.astype(np.int64)

    def raw_noop_action(self) -> np.ndarray:
        return np.zeros(self.raw_action_space.shape, dtype=np.int64)

    def action_masks(self) -> np.ndarray:
        """(n_envs, sum of nvec) bool: every learner's choices it may make this cycle, then every level (all
        allowed)."""
        if self.planner is not None:
            raise AttributeError("action_masks: under action_mode='planner' the action is the planner's knobs, which "
                                 "have no masks")
        rest = int(np.sum(self.raw_action_space.nvec[self.problem.num_learners:]))
        return np.concatenate([self.learner_masks().reshape(self.n_envs, -1),
                               np.ones((self.n_envs, rest), dtype=bool)], axis=1)


class MaskedEnv(MELEnv):
    """A single env over a :class:`ChoiceCore`, with MaskablePPO's ``action_masks()``."""

    def action_masks(self) -> np.ndarray:
        """(sum of nvec,) bool: the choices each learner may make this cycle, then every level."""
        if self._last_obs is None:
            raise RuntimeError("call reset() before action_masks()")
        return self.core.action_masks()[0]


def masked_vector_env_class(env_class: type[MaskedEnv]) -> type[MELVectorEnv]:
    """The native vector env of a :class:`MaskedEnv`, with the action masks of every sub-env."""

    class MaskedVectorEnv(vector_env_class(env_class)):
        def action_masks(self) -> np.ndarray:
            if not self._was_reset:
                raise RuntimeError("call reset() before action_masks()")
            return self.core.action_masks()

    return MaskedVectorEnv
