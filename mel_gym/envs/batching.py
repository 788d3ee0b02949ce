"""Actions of any Gymnasium space, batched over envs: arrays get a leading axis, a Dict space batches each entry.

The cores take batched actions; the single env batches its one action (:func:`batch_one`), the vector env checks
the batch it is given (:func:`check_batch`) and puts the core's no-op action into the rows of sub-envs about to
reset (:func:`with_rows`). Both check first that an action is an array of real numbers (:func:`real_array`), the
one action type rule of every env.
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
    action = real_array(space, action, name)
    if action.shape != space.shape:
        raise ValueError(f"{name} has shape {action.shape}, expected {space.shape}")
    return action[None]


def check_batch(space: spaces.Space, actions: Any, n: int, name: str = "actions") -> Any:
    """``actions`` for ``n`` envs as arrays with a leading axis of n (a dict of them for a Dict space)."""
    if isinstance(space, spaces.Dict):
        _check_keys(space, actions, name)
        return {key: check_batch(sub, actions[key], n, f"{name}[{key!r}]") for key, sub in space.spaces.items()}
    actions = real_array(space, actions, name, batched=n == 1)
    if actions.shape != (n, *space.shape):
        raise ValueError(f"{name} have shape {actions.shape}, expected {(n, *space.shape)}")
    return actions


#: NumPy dtype kinds of a real numeric action: signed and unsigned integers, floats.
REAL_KINDS = "iuf"


def real_array(space: spaces.Space, action: Any, name: str = "action", batched: bool = False) -> np.ndarray:
    """``action`` as a NumPy array of real numbers: ints or floats, and bools in a ``MultiBinary`` space (whose
    entries are documented as 0/1 flags). Shapes and ranges are the caller's to check.

    Args:
        space: the (single) action space the action belongs to.
        action: what the agent passed.
        name: how error messages name it ("action", "actions").
        batched: ``action`` is a batch of one env's actions: error messages name the index within that env's
            action (the leading batch axis dropped), as the single env's do.

    Raises:
        ValueError: the action is None or holds complex numbers, strings or other objects (an object array, even of
            numbers); the message names the first offending index, its value and the array's dtype.
    """
    array = np.asarray(action)
    kinds = REAL_KINDS + ("b" if isinstance(space, spaces.MultiBinary) else "")
    if array.dtype.kind in kinds:
        return array
    allowed = "a real number (int or float" + (", or bool)" if "b" in kinds else ")")
    if array.size == 0 or array.ndim == 0:
        value = _plain(array[()]) if array.ndim == 0 else array.tolist()
        raise ValueError(f"{name} is {value!r} (dtype {array.dtype}): it must be an array whose every entry is "
                         f"{allowed}")
    at = _first_not_real(array, kinds)
    where = list(at[1:] if batched else at)
    raise ValueError(f"{name} holds {_plain(array[at])!r} at index {where} (dtype {array.dtype}): every entry must "
                     f"be {allowed}; complex numbers, strings and objects are refused")


def _first_not_real(array: np.ndarray, kinds: str) -> tuple[int, ...]:
    """The index of the first entry of a non-real array that is not a real number (complex with an imaginary part,
    a string, an object that is no int or float); the first entry where every one is (the dtype is the fault)."""
    if array.dtype.kind == "c":
        bad = array.imag != 0
    elif array.dtype.kind == "O":
        bad = np.vectorize(lambda v: np.asarray(v).dtype.kind not in kinds or np.ndim(v) != 0, otypes=[bool])(array)
    else:
        bad = np.ones(array.shape, dtype=bool)
    flat = int(np.argmax(bad)) if bad.any() else 0
    return tuple(int(i) for i in np.unravel_index(flat, array.shape))


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds (for messages); anything else as it is."""
    return value.item() if isinstance(value, np.generic) else value


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
