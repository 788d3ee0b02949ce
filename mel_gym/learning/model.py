"""Stacked multilayer perceptrons: one set of weights per learner (or per env), as tensors.

Weights are a list of (W, b) per layer with W of shape (B, fan_in, fan_out) and b of shape (B, fan_out),
B the number of stacked models. ReLU between layers, softmax cross-entropy at the end. No hidden layer
gives multinomial logistic regression. The seed's network is ``MLPSpec((784, 300, 124, 60, 10))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

Weights = list[tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class MLPSpec:
    """Layer widths from input to output, e.g. (64, 32, 10)."""

    layer_sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.layer_sizes) < 2 or min(self.layer_sizes) < 1:
            raise ValueError(f"MLPSpec needs at least input and output widths >= 1, got {self.layer_sizes}")

    @classmethod
    def build(cls, num_features: int, hidden_layers: Sequence[int], num_classes: int) -> "MLPSpec":
        return cls((int(num_features), *(int(h) for h in hidden_layers), int(num_classes)))

    @property
    def num_parameters(self) -> int:
        sizes = self.layer_sizes
        return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))

    @property
    def flops_per_sample_step(self) -> int:
        """FLOPs of one SGD step per sample: forward (2 x weights), weight gradients (2 x weights) and input
        gradients of every layer but the first (2 x their weights); biases and activations neglected."""
        sizes = self.layer_sizes
        weights = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
        return 4 * sum(weights) + 2 * sum(weights[1:])

    def init_numpy(self, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
        """One model, float32: He-uniform U(-sqrt(6/fan_in), sqrt(6/fan_in)) weights into ReLU layers,
        U(-1/sqrt(fan_in), 1/sqrt(fan_in)) into the softmax layer, zero biases.

        He scaling keeps the signal from fading through deep ReLU stacks (the seed's 5-layer network
        barely moves under full-batch GD with torch.nn.Linear's default, smaller, initialisation).
        """
        layers = []
        last = len(self.layer_sizes) - 2
        for l, (fan_in, fan_out) in enumerate(zip(self.layer_sizes[:-1], self.layer_sizes[1:])):
            bound = np.sqrt(6.0 / fan_in) if l < last else 1.0 / np.sqrt(fan_in)
            w = rng.uniform(-bound, bound, size=(fan_in, fan_out)).astype(np.float32)
            layers.append((w, np.zeros(fan_out, dtype=np.float32)))
        return layers


def stack_models(models: Sequence[list[tuple[np.ndarray, np.ndarray]]], device: torch.device) -> Weights:
    """Stack per-model numpy layers into (B, ...) tensors on ``device``."""
    return [
        (
            torch.from_numpy(np.stack([m[l][0] for m in models])).to(device),
            torch.from_numpy(np.stack([m[l][1] for m in models])).to(device),
        )
        for l in range(len(models[0]))
    ]


def clone_weights(weights: Weights) -> Weights:
    return [(w.clone(), b.clone()) for w, b in weights]


def forward_logits(weights: Weights, x: torch.Tensor) -> torch.Tensor:
    """Logits of stacked models. ``x`` is (B, n, features) or shared (n, features); returns (B, n, classes)."""
    h = x
    last = len(weights) - 1
    for l, (w, b) in enumerate(weights):
        h = torch.matmul(h, w) + b.unsqueeze(1)
        if l < last:
            h = torch.relu(h)
    return h


def weights_finite(weights: Weights) -> torch.Tensor:
    """(B,) bool: models whose parameters are all finite."""
    ok = torch.ones(weights[0][0].shape[0], dtype=torch.bool, device=weights[0][0].device)
    for w, b in weights:
        ok &= torch.isfinite(w).flatten(1).all(dim=1) & torch.isfinite(b).all(dim=1)
    return ok
