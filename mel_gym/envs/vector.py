"""Native Gymnasium vector env: N envs of any core stepped as one batched simulator step.

``gym.make_vec(ID, num_envs=N, vectorization_mode="vector_entry_point")`` returns the :class:`MELVectorEnv`
subclass of that ID (:func:`vector_env_class` makes one per env class). Sub-env i behaves exactly like
``gym.make(ID)``
reset with the same seed (``reset(seed=s)`` seeds sub-env i with s + i, as Gymnasium's vector envs do): the
physics and data draws are per-env streams, so only float rounding of the batched training can differ.

Autoreset follows Gymnasium 1.x (``metadata["autoreset_mode"]``, chosen with ``autoreset_mode=``):

- ``NEXT_STEP`` (default): the step after an episode ends resets that sub-env (its action is ignored) and
  returns the reset observation, reward 0 and no termination/truncation;
- ``SAME_STEP``: an ending sub-env is reset in the same step; its last observation and info are in
  ``info["final_obs"]`` and ``info["final_info"]`` (used by the SB3 adapter);
- ``DISABLED``: the caller resets ended sub-envs with ``reset(options={"reset_mask": mask})``.

Infos are Gymnasium's vector style: ``info[key]`` is an array over sub-envs and ``info["_" + key]`` masks
the sub-envs that have it.
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import gymnasium
import numpy as np
import torch
from gymnasium.utils import seeding
from gymnasium.vector import VectorEnv

try:  # Gymnasium >= 1.0: the vector API this env implements
    from gymnasium.vector import AutoresetMode
except ImportError:  # Gymnasium 0.29: single envs work, this vector env does not (see require_vector_api)
    AutoresetMode = None
from gymnasium.vector.utils import batch_space

from mel_gym.config import Scenario
from mel_gym.envs.batching import with_rows
from mel_gym.envs.core import BaseCore, build_core, episode_seed
from mel_gym.envs.env import MELEnv


def require_vector_api(what: str = "mel_gym's native vector env") -> None:
    """Raise a clear error on Gymnasium < 1.0, whose vector API (autoreset modes, ``make_vec``) it lacks."""
    if AutoresetMode is None:
        raise RuntimeError(
            f"{what} needs the vector API of Gymnasium >= 1.0 (autoreset modes), but Gymnasium {gymnasium.__version__} "
            "is installed. With Gymnasium 0.29 use the single env, e.g. gymnasium.vector.SyncVectorEnv([lambda: "
            "gym.make(ID) for _ in range(N)]) or SB3's make_vec_env(ID, n_envs=N) (mel-gym train --vec-env dummy), or "
            "upgrade: pip install 'gymnasium>=1.2.2'")


def vector_info(info: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, Any]:
    """Batched arrays -> Gymnasium vector info: values where ``mask`` (zeros elsewhere) plus ``_key`` masks."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        out[key] = np.where(mask.reshape((-1,) + (1,) * (value.ndim - 1)), value, np.zeros_like(value))
        out["_" + key] = mask.copy()
    return out


def merge_info(base: dict[str, Any], extra: dict[str, Any], mask: np.ndarray) -> dict[str, Any]:
    """Write ``extra``'s batched values into ``base`` for the sub-envs in ``mask`` (as Gymnasium's _add_info)."""
    for key, value in extra.items():
        if key in base:
            base[key][mask] = value[mask]
            base["_" + key] = base["_" + key] | mask
        else:
            base.update(vector_info({key: value}, mask))
    return base


class MELVectorEnv(VectorEnv):
    """``num_envs`` envs in one batched core (``core_class``); one subclass per env ID (:func:`vector_env_class`).

    Args:
        num_envs: N.
        scenario, device, **kwargs: as for the single env (scenario overrides and env parameters); ``device`` is
            where the batched trainer runs ("cpu", "cuda", "auto").
        autoreset_mode: an :class:`AutoresetMode` or its value ("NextStep", the default; "SameStep"; "Disabled"; see
            the module docstring).
    """

    core_class: ClassVar[type[BaseCore]]

    def __init__(self, num_envs: int = 1, scenario: Scenario | str | dict | None = None, *,
                 device: str | torch.device = "cpu", autoreset_mode: Any = "NextStep",
                 render_mode: str | None = None, **kwargs: Any):
        require_vector_api()
        if int(num_envs) < 1:
            raise ValueError(f"num_envs={num_envs} must be >= 1")
        if render_mode is not None:
            raise ValueError(f"render_mode={render_mode!r}: the vector env does not render; use the single env")
        self.num_envs = int(num_envs)
        self.core = build_core(self.core_class, scenario, self.num_envs, device, kwargs)
        self.scenario, self.params, self.problem = self.core.scenario, self.core.params, self.core.problem
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        self.metadata = {"autoreset_mode": self.autoreset_mode, "render_modes": []}
        self.render_mode = None
        self.single_observation_space = self.core.observation_space
        self.single_action_space = self.core.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._np_randoms: list[np.random.Generator | None] = [None] * self.num_envs
        self._ended = np.zeros(self.num_envs, dtype=bool)
        self._was_reset = False

    @property
    def simulator(self):
        return self.core.sim

    # ------------------------------------------------------------------------------------------------ reset
    def _reset_envs(self, env_ids: np.ndarray, seeds: Sequence[int | None]) -> None:
        """Reset sub-envs ``env_ids`` exactly as the single env's reset(seed=...) would."""
        episode_seeds = []
        for i, seed in zip(env_ids, seeds):
            if seed is not None or self._np_randoms[i] is None:
                self._np_randoms[i], _ = seeding.np_random(seed)
            episode_seeds.append(episode_seed(self._np_randoms[i]))
        self.core.reset(episode_seeds, env_ids.tolist())
        self._ended[env_ids] = False

    def reset(self, *, seed: int | Sequence[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every sub-env, or those in ``options["reset_mask"]`` (a bool array of shape (num_envs,))."""
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"reset got {len(seeds)} seeds for num_envs={self.num_envs}")
        mask = np.ones(self.num_envs, dtype=bool)
        if options and "reset_mask" in options:
            mask = np.asarray(options["reset_mask"])
            if mask.shape != (self.num_envs,) or mask.dtype != np.bool_ or not mask.any():
                raise ValueError(f"options['reset_mask'] must be a bool array of shape ({self.num_envs},) "
                                 f"with at least one True, got {mask!r}")
        ids = np.flatnonzero(mask)
        self._reset_envs(ids, [seeds[i] for i in ids])
        self._was_reset = True
        return self.core.observe(), vector_info(self.core.reset_info(), mask)

    # ------------------------------------------------------------------------------------------------ step
    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if not self._was_reset:
            raise RuntimeError("call reset() before step()")
        actions = self.core.check_shape(actions)
        pending = self._ended.copy()  # NEXT_STEP: ended last step, reset now
        if self.autoreset_mode == AutoresetMode.DISABLED and pending.any():
            raise RuntimeError(f"sub-envs {np.flatnonzero(pending).tolist()} have ended: reset them with "
                               "reset(options={'reset_mask': mask}) before stepping (autoreset_mode=DISABLED)")
        # A sub-env about to be reset ignores its action: the core's no-op means nobody trains (no cost).
        if pending.any():
            actions = with_rows(self.single_action_space, actions, pending, self.core.noop_action())
        obs, reward, terminated, truncated, info = self.core.step(actions)
        stepped = ~pending
        terminated, truncated = terminated & stepped, truncated & stepped
        reward = np.where(stepped, reward, 0.0)
        ended = terminated | truncated
        same_step = self.autoreset_mode == AutoresetMode.SAME_STEP
        finals = ended if same_step else np.zeros_like(ended)
        infos = vector_info(info, stepped & ~finals)
        if finals.any():  # SAME_STEP: the last observation and info of ended episodes, as SyncVectorEnv gives them
            final_obs = np.full(self.num_envs, None, dtype=object)
            for i in np.flatnonzero(finals):
                final_obs[i] = obs[i].copy()
            infos.update(final_obs=final_obs, _final_obs=finals.copy(), final_info=vector_info(info, finals),
                         _final_info=finals.copy())
        to_reset = pending | finals
        if to_reset.any():
            ids = np.flatnonzero(to_reset)
            self._reset_envs(ids, [None] * len(ids))
            obs = self.core.observe()
            infos = merge_info(infos, self.core.reset_info(), to_reset)
        self._ended = ended & ~finals
        return obs, reward, terminated, truncated, infos

    def close_extras(self, **kwargs: Any) -> None:
        pass


def vector_env_class(env_class: type[MELEnv]) -> type[MELVectorEnv]:
    """The native vector env of a single env class: the same core, N worlds in one batch."""
    name = env_class.__name__.removesuffix("Env") + "VectorEnv"
    return type(name, (MELVectorEnv,), {"core_class": env_class.core_class, "__module__": env_class.__module__,
                                        "__doc__": f"Native vector env of :class:`{env_class.__name__}`."})
