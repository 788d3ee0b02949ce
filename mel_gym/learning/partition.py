"""How training samples reach learners.

FL: each learner holds a fixed local pool for the whole episode (IID, Dirichlet label skew or label shards,
drawn at reset). PL: the orchestrator draws fresh samples from its pool every cycle and sends learner k its
d_k of them. Either way a cycle ends up as a padded index table (n_envs, K, max d_k) into the data set.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def iid_partition(rng: np.random.Generator, num_samples: int, num_learners: int) -> list[np.ndarray]:
    """Shuffle and cut into ``num_learners`` pools of (almost) equal size."""
    return [np.sort(part) for part in np.array_split(rng.permutation(num_samples), num_learners)]


def dirichlet_partition(
    rng: np.random.Generator, labels: np.ndarray, num_learners: int, alpha: float, min_size: int = 1
) -> list[np.ndarray]:
    """Label skew: for each class, split its samples over learners with proportions ~ Dir(alpha).

    Redraws (up to 100 times) until every learner holds at least ``min_size`` samples.
    """
    classes = np.unique(labels)
    for _ in range(100):
        pools: list[list[np.ndarray]] = [[] for _ in range(num_learners)]
        for c in classes:
            members = rng.permutation(np.flatnonzero(labels == c))
            cuts = (np.cumsum(rng.dirichlet(np.full(num_learners, alpha))) * len(members)).astype(int)[:-1]
            for k, part in enumerate(np.split(members, cuts)):
                pools[k].append(part)
        out = [np.sort(np.concatenate(p)) for p in pools]
        if min(len(p) for p in out) >= min_size:
            return out
    raise ValueError(
        f"dirichlet partition: could not give each of {num_learners} learners {min_size} sample(s) with "
        f"alpha={alpha}; raise learning.dirichlet_alpha or lower num_learners"
    )


def shard_partition(
    rng: np.random.Generator, labels: np.ndarray, num_learners: int, shards_per_learner: int
) -> list[np.ndarray]:
    """McMahan et al.'s pathological non-IID split: sort by label, cut into shards, deal each learner some."""
    num_shards = num_learners * shards_per_learner
    if num_shards > len(labels):
        raise ValueError(
            f"shard partition: {num_shards} shards (num_learners x learning.shards_per_learner) exceed "
            f"{len(labels)} training samples"
        )
    order = np.argsort(labels, kind="stable")
    shards = np.array_split(order, num_shards)
    deal = rng.permutation(num_shards).reshape(num_learners, shards_per_learner)
    return [np.sort(np.concatenate([shards[s] for s in row])) for row in deal]


def make_partition(
    rng: np.random.Generator, labels: np.ndarray, num_learners: int, kind: str, alpha: float, shards_per_learner: int
) -> list[np.ndarray]:
    """Dispatch on ``kind`` in {"iid", "dirichlet", "shards"}."""
    if kind == "iid":
        return iid_partition(rng, len(labels), num_learners)
    if kind == "dirichlet":
        return dirichlet_partition(rng, labels, num_learners, alpha)
    if kind == "shards":
        return shard_partition(rng, labels, num_learners, shards_per_learner)
    raise ValueError(f"unknown partition '{kind}'; choose iid, dirichlet or shards")


def pack_pools(pools: Sequence[np.ndarray], width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad index pools into a (len(pools), width) int64 table (padding 0) and their sizes (len(pools),)."""
    table = np.zeros((len(pools), width), dtype=np.int64)
    sizes = np.zeros(len(pools), dtype=np.int64)
    for k, pool in enumerate(pools):
        table[k, : len(pool)] = pool
        sizes[k] = len(pool)
    return table, sizes


def slice_consecutive(order: np.ndarray, task_sizes: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """Give learner k the next ``task_sizes[..., k]`` entries of ``order`` (n_envs, n), in learner order.

    Returns an (n_envs, K, width) table; entries past each learner's d_k are 0 (use the sizes as a mask).
    With ``keep`` (bool, like ``task_sizes``), only those learners' rows are filled (the others are 0 and
    do not widen the table), but everybody's slice stays where the full split puts it.
    """
    keep = np.ones(task_sizes.shape, dtype=bool) if keep is None else keep
    width = max(int(np.where(keep, task_sizes, 0).max(initial=0)), 1)
    table = np.zeros((*task_sizes.shape, width), dtype=np.int64)
    env, learner = np.nonzero(keep & (task_sizes > 0))
    if env.size:
        offset = (np.cumsum(task_sizes, axis=-1) - task_sizes)[env, learner]
        size = task_sizes[env, learner]
        valid = np.arange(width) < size[:, None]  # (rows, width)
        position = np.where(valid, offset[:, None] + np.arange(width), 0)
        table[env, learner] = np.where(valid, order[env[:, None], position], 0)
    return table



class LearnerPools:
    """FL: every learner's local samples in every env, padded into one table.

    ``index`` (n_envs, *lead, K, P) int64 sample indices (padding 0) and ``size`` (n_envs, *lead, K) pool sizes;
    ``lead`` is () for one job or (J,) for several (:mod:`mel_gym.simulation.jobs`). Each env also keeps its own width, the
    larger of ``min_width`` and its largest pool: the random keys of its per-cycle draws are that many per learner,
    so an env's data draws depend on its seed alone, never on the pools of the envs batched with it.
    """

    def __init__(self, shape: tuple[int, ...], min_width: int):
        self.min_width = max(int(min_width), 1)
        self.index = np.zeros((*shape, self.min_width), dtype=np.int64)
        self.size = np.zeros(shape, dtype=np.int64)
        self.own_width = np.full(shape[0], self.min_width, dtype=np.int64)

    def store(self, i: int, pools: Sequence[Sequence[np.ndarray]] | Sequence[np.ndarray]) -> None:
        """Env ``i``'s pools: K arrays of sample indices (or, with a lead axis, one list of K arrays per entry)."""
        rows = [pools] if self.index.ndim == 3 else list(pools)
        width = max([self.min_width] + [len(p) for row in rows for p in row])
        if width > self.index.shape[-1]:
            grown = np.zeros(self.index.shape[:-1] + (width,), dtype=np.int64)
            grown[..., : self.index.shape[-1]] = self.index
            self.index = grown
        tables = [pack_pools(row, self.index.shape[-1]) for row in rows]
        self.index[i] = np.stack([t for t, _ in tables]).reshape(self.index.shape[1:])
        self.size[i] = np.stack([n for _, n in tables]).reshape(self.size.shape[1:])
        self.own_width[i] = width

    def draw(self, rngs: Sequence[np.random.Generator], task_sizes: np.ndarray, trains: np.ndarray) -> np.ndarray:
        """Each env's learners train on the first d_k samples of a fresh random order of their pools
        (:func:`draw_from_pools`); ``rngs`` one data generator per env, arrays shaped like ``size``."""
        keys = np.full(self.index.shape, np.inf)
        for i, rng in enumerate(rngs):
            keys[i, ..., : self.own_width[i]] = rng.random(self.index.shape[1:-1] + (self.own_width[i],))
        return draw_from_pools(self.index, self.size, keys, task_sizes, trains)


def draw_from_pools(pool_index: np.ndarray, pool_size: np.ndarray, keys: np.ndarray, task_sizes: np.ndarray,
                    trains: np.ndarray) -> np.ndarray:
    """FL: each learner trains on the first d_k samples of a fresh random order of its own pool.

    ``pool_index`` (..., K, P) padded pools with sizes ``pool_size`` (..., K); ``keys`` uniform random numbers shaped
    like ``pool_index`` (drawn whatever the decision, so the data do not depend on it); ``task_sizes`` and ``trains``
    (..., K). Returns the (..., K, width) index table, width = the largest d_k of a learner that trains.
    """
    width = max(int(np.where(trains, task_sizes, 0).max(initial=0)), 1)
    keys = np.where(np.arange(pool_index.shape[-1]) < pool_size[..., None], keys, np.inf)
    order = np.argsort(keys, axis=-1, kind="stable")[..., :width]
    return np.take_along_axis(pool_index, order, axis=-1)
