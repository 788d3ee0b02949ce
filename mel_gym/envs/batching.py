"""Actions of any Gymnasium space, batched over envs: arrays get a leading axis, a Dict space batches each entry.

The cores take batched actions; the single env batches its one action (:func:`batch_one`), the vector env checks
the batch it is given (:func:`check_batch`) and puts the core's no-op action into the rows of sub-envs about to
reset (:func:`with_rows`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces


def batch_one(space: spaces.Space, action: Any, name: str = "action") -> Any:
    """A single action as a batch of one, after checking its shape against ``space``."""
    if isinstance(space, spaces.Dict):
        _check_keys(space, action, name)
        return {key: batch_one(sub, action[key], f"{name}[{key!r}]") for key, sub in space.spaces.items()}
    action = np.asarray(action)
    if action.shape != space.shape:
        raise ValueError(f"{name} has shape {action.shape}, expected {space.shape}")
    return action[None]


def check_batch(space: spaces.Space, actions: Any, n: int, name: str = "actions") -> Any:
    """``actions`` for ``n`` envs as arrays with a leading axis of n (a dict of them for a Dict space)."""
    if isinstance(space, spaces.Dict):
        _check_keys(space, actions, name)
        return {key: check_batch(sub, actions[key], n, f"{name}[{key!r}]") for key, sub in space.spaces.items()}
    actions = np.asarray(actions)
    if actions.shape != (n, *space.shape):
        raise ValueError(f"{name} have shape {actions.shape}, expected {(n, *space.shape)}")
    return actions


def with_rows(space: spaces.Space, actions: Any, rows: np.ndarray, single: Any) -> Any:
    """A copy of the batch ``actions`` with the single action ``single`` in the rows where ``rows`` is true."""
    if isinstance(space, spaces.Dict):
        return {key: with_rows(sub, actions[key], rows, single[key]) for key, sub in space.spaces.items()}
    out = np.array(actions, copy=True)
    out[rows] = single
    return out


def _check_keys(space: spaces.Dict, action: Any, name: str) -> None:
    if not isinstance(action, dict) or set(action) != set(space.spaces):
        got = sorted(action) if isinstance(action, dict) else type(action).__name__
        raise ValueError(f"{name} must be a dict with the keys {sorted(space.spaces)}, got {got}")
