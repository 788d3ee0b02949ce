"""The embedded FL trainer: a functional API over stacked models on one device.

``init_global(rngs) -> global``, ``local_train(global, ...) -> local``, ``aggregate(global, local, weights)
-> global`` and ``evaluate(global) -> (loss, accuracy)``; global models are stacked per env (n_envs, ...),
local models per learner (n_envs * K, ...), env-major. The trainer holds only constants (data on the
device, the model shape, the kernel choice); the simulator holds the weights.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from mel_gym.learning.datasets import Dataset
from mel_gym.learning.kernels import KERNELS, choose_kernel
from mel_gym.learning.model import MLPSpec, Weights, forward_logits, repeat_weights, stack_models, weights_finite


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


class FLTrainer:
    """Trains stacked MLPs of shape ``spec`` on ``dataset`` with SGD (step size ``learning_rate``).

    Args:
        spec: model widths.
        dataset: train split (learners sample from it) and test split (evaluation).
        device: torch device for the data and the models.
        learning_rate: SGD step size.
        batch_size: None = full-batch local iterations, else minibatches of this size.
        kernel: "auto", "stacked", "loop" or "autograd" (see :mod:`mel_gym.learning.kernels`).
        max_test_samples: evaluate on a fixed random subset of at most this many test samples.
        split_seed: seed of that subset.
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
        self.x_train = torch.from_numpy(np.array(dataset.x_train)).to(device)
        self.y_train = torch.from_numpy(np.array(dataset.y_train)).to(device)
        test = np.arange(len(dataset.x_test))
        if len(test) > max_test_samples:
            test = np.sort(np.random.default_rng(split_seed).choice(len(test), max_test_samples, replace=False))
        self.x_test = torch.from_numpy(np.array(dataset.x_test[test])).to(device)
        self.y_test = torch.from_numpy(np.array(dataset.y_test[test])).to(device)
        self.num_classes = dataset.num_classes

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
        self, global_weights: Weights, num_learners: int, sample_index: np.ndarray, sample_count: np.ndarray, iterations: np.ndarray
    ) -> Weights:
        """Broadcast each env's global model to its K learners and train them locally.

        Args:
            global_weights: stacked (n_envs, ...).
            num_learners: K.
            sample_index: (n_envs, K, D) int indices into the training split; past d_k ignored.
            sample_count: (n_envs, K) d_k.
            iterations: (n_envs, K) tau_k (0 = the learner keeps the global model).
        Returns:
            local models stacked (n_envs * K, ...), env-major.
        """
        n_envs = sample_count.shape[0]
        local = repeat_weights(global_weights, num_learners)
        kernel = KERNELS[self.kernel_for(sample_count)]
        to = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64)).to(self.device)  # noqa: E731
        return kernel(
            local,
            self.x_train,
            self.y_train,
            to(sample_index.reshape(n_envs * num_learners, -1)),
            to(sample_count.reshape(-1)),
            to(iterations.reshape(-1)),
            self.learning_rate,
            self.batch_size,
        )

    def finite(self, weights: Weights) -> np.ndarray:
        """(B,) bool numpy: models whose parameters are all finite (diverged ones are not)."""
        return weights_finite(weights).cpu().numpy()

    def aggregate(self, global_weights: Weights, local_weights: Weights, agg_weights: np.ndarray) -> Weights:
        """FedAvg: per env, sum_k w_k * local_k / sum_k w_k; an env whose weights sum to 0 keeps its model.

        ``agg_weights`` (n_envs, K) >= 0 (d_k of learners that finished, 0 for the rest). Learners with
        weight 0 never contribute, even if their local model holds NaN.
        """
        n_envs, num_learners = agg_weights.shape
        total = agg_weights.sum(axis=1, keepdims=True)
        share = np.divide(agg_weights, total, out=np.zeros_like(agg_weights, dtype=np.float64), where=total > 0)
        alpha = torch.from_numpy(share.astype(np.float32)).to(self.device)  # (n_envs, K)
        keep = torch.from_numpy(total[:, 0] <= 0).to(self.device)
        used = (alpha > 0).reshape(-1)
        out = []
        for (gw, gb), (lw, lb) in zip(global_weights, local_weights):
            lw = torch.where(used.view(-1, 1, 1), lw, 0.0).view(n_envs, num_learners, *lw.shape[1:])
            lb = torch.where(used.view(-1, 1), lb, 0.0).view(n_envs, num_learners, -1)
            w = torch.einsum("nk,nkio->nio", alpha, lw)
            b = torch.einsum("nk,nko->no", alpha, lb)
            out.append((torch.where(keep.view(-1, 1, 1), gw, w), torch.where(keep.view(-1, 1), gb, b)))
        return out

    @torch.no_grad()
    def evaluate(self, global_weights: Weights, chunk_elements: int = 1 << 24) -> tuple[np.ndarray, np.ndarray]:
        """Test loss (mean cross-entropy, nats) and accuracy of each env's global model; two (n_envs,) arrays."""
        n_envs = global_weights[0][0].shape[0]
        widest = max(self.spec.layer_sizes)
        chunk = max(1, chunk_elements // (len(self.x_test) * widest))
        losses, accs = [], []
        for start in range(0, n_envs, chunk):
            part = [(w[start : start + chunk], b[start : start + chunk]) for w, b in global_weights]
            logits = forward_logits(part, self.x_test)  # (n, n_test, C)
            target = self.y_test.expand(logits.shape[0], -1)
            loss = F.cross_entropy(logits.transpose(1, 2), target, reduction="none").mean(dim=1)
            acc = (logits.argmax(dim=-1) == target).float().mean(dim=1)
            losses.append(loss)
            accs.append(acc)
        return torch.cat(losses).double().cpu().numpy(), torch.cat(accs).double().cpu().numpy()
