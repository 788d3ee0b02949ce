"""Observations as a list of feature blocks: each block is a run of the flat observation with its scale, its
bounds and its decoder, encoded from one named source (a snapshot the core builds of the coming cycle).

Every env's observation is a :class:`FeatureLayout`: the world's blocks (:mod:`mel_gym.envs.observation`: the
learners' features, the cycle's globals, and where the world has them the drone's, the earlier losses, the revealed
drift), then the blocks an env adds (MultiJob-v0's jobs, SplitChain-v0's topology). ``space()``, ``encode()`` and
``decode()`` are the layout's, so a new observation part is one more block, not a second codec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from gymnasium import spaces


class FeatureBlock:
    """A run of ``size`` observation entries read from the source named ``source``."""

    name: str = ""
    source: str = "world"

    @property
    def size(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        """(low, high), each (size,): the tightest bounds of the scaled features known in advance."""
        raise NotImplementedError

    def encode(self, src: Any) -> np.ndarray:  # pragma: no cover - abstract
        """(n, size) float64 features from the source snapshot."""
        raise NotImplementedError

    def decode(self, values: np.ndarray) -> dict[str, np.ndarray]:  # pragma: no cover - abstract
        """Named raw quantities (with units) from features of shape (..., size)."""
        raise NotImplementedError


@dataclass(frozen=True)
class FeatureLayout:
    """An observation: its feature blocks in order."""

    blocks: tuple[FeatureBlock, ...]

    @property
    def size(self) -> int:
        return sum(b.size for b in self.blocks)

    def slice_of(self, name: str) -> slice:
        start = 0
        for b in self.blocks:
            if b.name == name:
                return slice(start, start + b.size)
            start += b.size
        raise KeyError(f"the observation has no block {name!r}; it has {[b.name for b in self.blocks]}")

    def space(self) -> spaces.Box:
        low = np.concatenate([b.bounds()[0] for b in self.blocks]).astype(np.float32)
        high = np.concatenate([b.bounds()[1] for b in self.blocks]).astype(np.float32)
        return spaces.Box(low=low, high=high, dtype=np.float32)

    def encode(self, sources: Mapping[str, Any]) -> np.ndarray:
        """(n, size) float32: every block's features from its source (``sources[block.source]``)."""
        parts = [b.encode(sources[b.source]) for b in self.blocks]
        return np.concatenate(parts, axis=-1).astype(np.float32)

    def decode(self, obs: np.ndarray, what: str = "observation") -> dict[str, np.ndarray]:
        """Every block's named quantities from observations of shape (..., size) (ValueError naming ``what`` and
        the expected size otherwise)."""
        obs = np.asarray(obs, dtype=np.float64)
        if obs.shape[-1] != self.size:
            raise ValueError(f"{what} has {obs.shape[-1]} entries, expected {self.size}")
        out: dict[str, np.ndarray] = {}
        start = 0
        for b in self.blocks:
            out.update(b.decode(obs[..., start : start + b.size]))
            start += b.size
        return out
