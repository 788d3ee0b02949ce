"""The embedded FL trainer: a functional API over stacked models on one device.

``init_global(rngs) -> global``, ``local_train(global, ...) -> local``, ``aggregate(global, local, weights)
-> global`` and ``evaluate(global) -> Scores`` (loss and accuracy on the validation split, which decisions use, and on
the test split, which is only reported); global models are stacked per env (n_envs, ...),
local models only for the learners that trained (:class:`LocalModels`: rows env * K + k and (R, ...)). The trainer holds only constants (data on the
device, the model shape, the kernel choice); the simulator holds the weights.
"""

from __future__ import annotations

import os
from typing import NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from mel_gym.learning.datasets import Dataset
from mel_gym.learning.kernels import KERNELS, choose_kernel
from mel_gym.learning.model import MLPSpec, Weights, forward_logits, stack_models, weights_finite


def _single_thread_after_fork() -> None:
    """A process forked from one whose torch thread pool has run (e.g. ``gym.make_vec(..., "async")`` after
    stepping an env) must not enter that pool: the worker threads do not survive the fork and the child would
    wait on them forever. One intra-op thread in the child avoids the pool."""
    torch.set_num_threads(1)


os.register_at_fork(after_in_child=_single_thread_after_fork)


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> cuda when available, else cpu; otherwise torch.device(device), checked to exist."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"device={device!r} is not a torch device; use 'cpu', 'cuda', 'cuda:N' or 'auto'") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but CUDA is not available here; use 'cpu' or 'auto'")
    return resolved


_DEVICE_TENSORS: dict[tuple, tuple[torch.Tensor, ...]] = {}


def _subset(n: int, max_samples: int, split_seed: int) -> np.ndarray:
    """Indices of a fixed random subset of at most ``max_samples`` of ``n`` samples, in order."""
    if n <= max_samples:
        return np.arange(n)
    return np.sort(np.random.default_rng(split_seed).choice(n, max_samples, replace=False))


def _device_tensors(dataset: Dataset, device: torch.device, max_test_samples: int, split_seed: int) -> tuple[torch.Tensor, ...]:
    """x_train, y_train, x_eval, y_eval on ``device``: the evaluation samples are the validation split's, then the
    test split's (each a fixed subset of at most ``max_test_samples``). Shared by every trainer of this process that
    uses the same (cached, read-only) data set: many envs in one process hold the data once. Nothing writes to them."""
    key = (id(dataset), str(device), max_test_samples, split_seed)
    if key not in _DEVICE_TENSORS:
        parts = [(dataset.x_test, dataset.y_test)]
        if dataset.x_val is not None and len(dataset.x_val):
            parts.insert(0, (dataset.x_val, dataset.y_val))
        picks = [_subset(len(x), max_test_samples, split_seed) for x, _ in parts]
        x_eval = np.concatenate([x[i] for (x, _), i in zip(parts, picks)])
        y_eval = np.concatenate([y[i] for (_, y), i in zip(parts, picks)])
        arrays = (dataset.x_train, dataset.y_train, x_eval, y_eval)
        _DEVICE_TENSORS[key] = tuple(torch.from_numpy(np.array(a)).to(device) for a in arrays)
    return _DEVICE_TENSORS[key]


class Scores(NamedTuple):
    """Mean cross-entropy (nats) and accuracy of each env's global model, (n_envs,) float64 arrays each (or
    (n_envs, J) for several jobs): ``loss`` / ``accuracy`` on the validation split, which the reward, the
    observation, termination and every tuned decision use, and ``test_loss`` / ``test_accuracy`` on the held-out
    test split, which is only reported. Without a validation split the first pair equals the second."""

    loss: np.ndarray
    accuracy: np.ndarray
    test_loss: np.ndarray
    test_accuracy: np.ndarray


class LocalModels(NamedTuple):
    """The learners that trained this cycle: flat rows (env * K + k), shape (R,), and their models (R, ...)."""

    rows: np.ndarray
    weights: Weights


class FLTrainer:
    """Trains stacked MLPs of shape ``spec`` on ``dataset`` with SGD (step size ``learning_rate``).

    Args:
        spec: model widths.
        dataset: train split (learners sample from it), validation and test split (evaluation, :class:`Scores`).
        device: torch device for the data and the models.
        learning_rate: SGD step size.
        batch_size: None = full-batch local iterations, else minibatches of this size.
        kernel: "auto", "stacked", "loop" or "autograd" (see :mod:`mel_gym.learning.kernels`).
        max_test_samples: evaluate on a fixed random subset of at most this many samples of each held-out split.
        split_seed: seed of those subsets.
    """

    def __init__(
        self,
        spec: MLPSpec,
        dataset: Dataset,
        device: torch.device,
        learning_rate: float,
        batch_size: int | None = None,
        kernel: str = "auto",
        max_test_samples: int = 2000,
        split_seed: int = 0,
    ):
        if spec.layer_sizes[0] != dataset.num_features or spec.layer_sizes[-1] != dataset.num_classes:
            raise ValueError(
                f"model {spec.layer_sizes} does not fit data set '{dataset.name}' "
                f"({dataset.num_features} features, {dataset.num_classes} classes)"
            )
        if kernel not in ("auto", *KERNELS):
            raise ValueError(f"kernel={kernel!r}; choose auto, {', '.join(KERNELS)}")
        self.spec = spec
        self.device = device
        self.learning_rate = float(learning_rate)
        self.batch_size = batch_size
        self.kernel = kernel
        self.x_train, self.y_train, self.x_eval, self.y_eval = _device_tensors(dataset, device, max_test_samples,
                                                                              split_seed)
        n_val = 0 if dataset.x_val is None else min(len(dataset.x_val), max_test_samples)
        #: how many of the evaluation samples (the first ones) are the validation split's; 0 = none
        self.num_validation = n_val
        self.num_classes = dataset.num_classes

    @property
    def x_val(self) -> torch.Tensor:
        """(n_val, features) the validation samples (empty without a validation split)."""
        return self.x_eval[: self.num_validation]

    @property
    def y_val(self) -> torch.Tensor:
        return self.y_eval[: self.num_validation]

    @property
    def x_test(self) -> torch.Tensor:
        """(n_test, features) the test samples."""
        return self.x_eval[self.num_validation :]

    @property
    def y_test(self) -> torch.Tensor:
        return self.y_eval[self.num_validation :]

    @property
    def num_train_samples(self) -> int:
        return int(self.x_train.shape[0])

    def init_global(self, rngs: Sequence[np.random.Generator]) -> Weights:
        """One freshly initialised global model per generator, stacked (len(rngs), ...)."""
        return stack_models([self.spec.init_numpy(rng) for rng in rngs], self.device)

    def kernel_for(self, sample_count: np.ndarray) -> str:
        """The kernel "auto" resolves to for these task sizes."""
        active = sample_count[sample_count > 0]
        mean_count = float(active.mean()) if active.size else 0.0
        per_step = mean_count if self.batch_size is None else min(self.batch_size, mean_count)
        return choose_kernel(self.kernel, self.device, self.spec.flops_per_sample_step, per_step)

    def local_train(
        self, global_weights: Weights, num_learners: int, sample_index: np.ndarray, sample_count: np.ndarray,
        iterations: np.ndarray, rows: np.ndarray | None = None,
    ) -> LocalModels:
        """Copy each env's global model to its learners that train (d_k > 0 and tau_k > 0) and train them.

        Args:
            global_weights: stacked (n_envs, ...).
            num_learners: K.
            sample_index: (n_envs, K, D) int indices into the training split; entries past d_k are ignored.
            sample_count: (n_envs, K) d_k.
            iterations: (n_envs, K) tau_k.
            rows: train only these flat rows (env * K + k); default: every learner that trains.
        Returns:
            the trained learners' rows and their local models. Learners that do not train would return the
            global model unchanged, so they are not materialised.
        """
        counts, taus = sample_count.reshape(-1), iterations.reshape(-1)
        if rows is None:
            rows = np.flatnonzero((counts > 0) & (taus > 0))
        if rows.size == 0:
            return LocalModels(rows, [])
        to = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64)).to(self.device)  # noqa: E731
        env_of_row = to(rows // num_learners)
        local = [(w.index_select(0, env_of_row), b.index_select(0, env_of_row)) for w, b in global_weights]
        kernel = KERNELS[self.kernel_for(sample_count)]
        weights = kernel(
            local, self.x_train, self.y_train, to(sample_index.reshape(counts.size, -1)[rows]), to(counts[rows]),
            to(taus[rows]), self.learning_rate, self.batch_size,
            in_place=True,  # ``local`` is a fresh copy of the global models
        )
        return LocalModels(rows, weights)

    def finite(self, local: LocalModels) -> np.ndarray:
        """(R,) bool: local models whose parameters are all finite (diverged ones are not)."""
        if local.rows.size == 0:
            return np.ones(0, dtype=bool)
        return weights_finite(local.weights).cpu().numpy()

    def aggregate(self, global_weights: Weights, local: LocalModels, agg_weights: np.ndarray) -> Weights:
        """FedAvg: per env, the average of its finished learners' models weighted by ``agg_weights``.

        ``agg_weights`` (n_envs, K) >= 0: d_k of learners that finished, 0 for the rest. Finished learners
        that did not train hold the global model, so the average is
        global + sum_k w_k (local_k - global) / sum_j w_j over the trained rows. An env whose weights sum to 0
        keeps its model; rows with weight 0 never contribute, even if their model holds NaN.
        """
        sums = [(torch.zeros_like(w), torch.zeros_like(b)) for w, b in global_weights]
        self._add_weighted_deltas(sums, global_weights, local, agg_weights.reshape(-1), agg_weights.shape[1])
        return self._apply_deltas(global_weights, sums, agg_weights.sum(axis=1))

    def round(
        self, global_weights: Weights, num_learners: int, sample_index: np.ndarray, sample_count: np.ndarray,
        iterations: np.ndarray, agg_weights: np.ndarray, max_bytes: int | None = None,
    ) -> tuple[Weights, np.ndarray]:
        """Local training and FedAvg in one pass, in chunks of learners so that memory stays bounded.

        Same arguments as :meth:`local_train` and :meth:`aggregate`. A chunk's local models and their
        temporaries take at most ``max_bytes`` (default: 32 MiB on CPU, where small chunks stay in cache,
        1 GiB on GPUs, where big batches pay). A learner whose local model is not finite is dropped from the
        average. Returns the new global models and the (n_envs, K) mask of such diverged learners.
        """
        counts, taus = sample_count.reshape(-1), iterations.reshape(-1)
        rows = np.flatnonzero((counts > 0) & (taus > 0))
        weights = agg_weights.reshape(-1).astype(np.float64)
        diverged = np.zeros(counts.size, dtype=bool)
        if max_bytes is None:
            max_bytes = (32 << 20) if self.device.type == "cpu" else (1 << 30)
        chunk = max(1, max_bytes // (3 * 4 * self.spec.num_parameters))  # model, delta, temporaries; float32
        sums = [(torch.zeros_like(w), torch.zeros_like(b)) for w, b in global_weights]
        for start in range(0, rows.size, chunk):
            local = self.local_train(global_weights, num_learners, sample_index, sample_count, iterations,
                                     rows[start : start + chunk])
            bad = local.rows[~self.finite(local)]
            diverged[bad] = True
            weights[bad] = 0.0
            self._add_weighted_deltas(sums, global_weights, local, weights, num_learners)
        totals = weights.reshape(agg_weights.shape).sum(axis=1)
        return self._apply_deltas(global_weights, sums, totals), diverged.reshape(agg_weights.shape)

    def _add_weighted_deltas(self, sums: Weights, global_weights: Weights, local: LocalModels,
                             row_weights: np.ndarray, num_learners: int) -> None:
        """sums[env] += w_row * (local_row - global[env]) for the rows of ``local`` with weight > 0."""
        used = np.flatnonzero(row_weights[local.rows] > 0)
        if used.size == 0:
            return
        env = torch.from_numpy(local.rows[used] // num_learners).to(self.device)
        scale = torch.from_numpy(row_weights[local.rows[used]].astype(np.float32)).to(self.device)
        pick = torch.from_numpy(used).to(self.device)
        for (sw, sb), (gw, gb), (lw, lb) in zip(sums, global_weights, local.weights):
            sw.index_add_(0, env, (lw.index_select(0, pick) - gw.index_select(0, env)) * scale.view(-1, 1, 1))
            sb.index_add_(0, env, (lb.index_select(0, pick) - gb.index_select(0, env)) * scale.view(-1, 1))

    def _apply_deltas(self, global_weights: Weights, sums: Weights, totals: np.ndarray) -> Weights:
        """global + sums / total per env; envs with total 0 keep their model."""
        inverse = np.divide(1.0, totals, out=np.zeros_like(totals, dtype=np.float64), where=totals > 0)
        inv = torch.from_numpy(inverse.astype(np.float32)).to(self.device)
        return [(gw + sw * inv.view(-1, 1, 1), gb + sb * inv.view(-1, 1)) for (gw, gb), (sw, sb) in zip(global_weights, sums)]

    @torch.no_grad()
    def evaluate(self, global_weights: Weights, chunk_elements: int = 1 << 24,
                 sample_mask: torch.Tensor | None = None) -> Scores:
        """Validation and test loss (mean cross-entropy, nats) and accuracy of each env's global model (:class:`Scores`
        of (n_envs,) arrays), from one forward pass over both splits.

        ``sample_mask`` (n_envs, n_eval) bool on the trainer's device, over :attr:`x_eval` (validation samples, then
        test samples): each model is scored on its own samples only (a job that learns some of the classes,
        :mod:`mel_gym.simulation.jobs`); None = all of them."""
        n_envs = global_weights[0][0].shape[0]
        widest = max(self.spec.layer_sizes)
        chunk = max(1, chunk_elements // (len(self.x_eval) * widest))
        n_val = self.num_validation
        splits = (slice(0, n_val), slice(n_val, None)) if n_val else (slice(None),)  # validation (if any), test
        parts: list[list[torch.Tensor]] = [[] for _ in range(2 * len(splits))]
        for start in range(0, n_envs, chunk):
            part = [(w[start : start + chunk], b[start : start + chunk]) for w, b in global_weights]
            logits = forward_logits(part, self.x_eval)  # (n, n_eval, C)
            target = self.y_eval.expand(logits.shape[0], -1)
            loss = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")
            hit = (logits.argmax(dim=-1) == target).float()
            for i, split in enumerate(splits):
                if sample_mask is None:
                    parts[2 * i].append(loss[:, split].mean(dim=1))
                    parts[2 * i + 1].append(hit[:, split].mean(dim=1))
                    continue
                weight = sample_mask[start : start + chunk, split].float()
                count = weight.sum(dim=1).clamp(min=1.0)
                parts[2 * i].append((loss[:, split] * weight).sum(dim=1) / count)
                parts[2 * i + 1].append((hit[:, split] * weight).sum(dim=1) / count)
        means = [torch.cat(p).double().cpu().numpy() for p in parts]
        return Scores(*means) if n_val else Scores(*means, means[0].copy(), means[1].copy())  # no validation: test
