"""Local training kernels: B stacked MLPs, each running tau_k local iterations of SGD on its d_k samples.

One local iteration is one gradient step on the mean cross-entropy over the learner's d_k samples (MEL);
with ``batch_size`` set, it is one pass over them in minibatches of that size (one step per minibatch, in
the order of ``sample_index``). Three implementations of the same function, agreeing to float32 rounding:

- :func:`local_train_stacked`: all B learners at once with batched matmuls (``baddbmm``), hand-written
  backward and in-place fused updates. Unequal d_k and tau_k are masks. Wins when per-learner work is small
  (framework overhead dominates): small models, small batches, and on GPUs.
- :func:`local_train_loop`: a Python loop over learners, each with plain 2-D GEMMs on exactly its own
  samples. Wins for big models with full-batch tasks, where padding every learner to the largest d_k wastes
  more than batching saves.
- :func:`local_train_autograd`: the reference, stacked and differentiated by torch.autograd.

All take ``weights`` (list of (W (B, in, out), b (B, out))), the data set tensors ``x_all`` (N, F) and
``y_all`` (N,), ``sample_index`` (B, D) int64 into them, ``sample_count`` (B,) = d_k (entries of
``sample_index`` past d_k are ignored), ``iterations`` (B,) = tau_k, the step size ``lr`` and the optional
``batch_size``, and return new weights (the inputs are not modified).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mel_gym.learning.model import Weights, clone_weights


def _minibatches(width: int, batch_size: int | None) -> list[slice]:
    size = width if batch_size is None else max(1, min(batch_size, width))
    return [slice(start, start + size) for start in range(0, width, size)]


def _sgd_step_stacked(weights: Weights, x: torch.Tensor, y_onehot: torch.Tensor, sample_scale: torch.Tensor) -> None:
    """One fused SGD step for B stacked MLPs, in place.

    ``sample_scale`` (B, b) is lr * active_k / count_k for valid samples and 0 for padding, so that the
    logits gradient g = (softmax - y) * scale already carries the step size and the masks.
    """
    activations = [x]
    h = x
    last = len(weights) - 1
    for l, (w, b) in enumerate(weights):
        h = torch.baddbmm(b.unsqueeze(1), h, w)
        if l < last:
            h = torch.relu(h)
            activations.append(h)
    g = (torch.softmax(h, dim=-1) - y_onehot) * sample_scale.unsqueeze(-1)
    for l in range(last, -1, -1):
        w, b = weights[l]
        a = activations[l]
        g_below = torch.bmm(g, w.transpose(1, 2)).mul_(a > 0) if l > 0 else None
        w.baddbmm_(a.transpose(1, 2), g, alpha=-1.0)
        b.sub_(g.sum(dim=1))
        g = g_below


def local_train_stacked(
    weights: Weights,
    x_all: torch.Tensor,
    y_all: torch.Tensor,
    sample_index: torch.Tensor,
    sample_count: torch.Tensor,
    iterations: torch.Tensor,
    lr: float,
    batch_size: int | None = None,
) -> Weights:
    """Batched kernel (see module docstring)."""
    weights = clone_weights(weights)
    max_iterations = int(iterations.max().item()) if iterations.numel() else 0
    width = sample_index.shape[1]
    if max_iterations == 0 or width == 0:
        return weights
    num_classes = weights[-1][0].shape[-1]
    x = x_all[sample_index]  # (B, D, F)
    y = F.one_hot(y_all[sample_index], num_classes).to(x.dtype)  # (B, D, C)
    valid = (torch.arange(width, device=x.device) < sample_count.unsqueeze(1)).to(x.dtype)  # (B, D)
    batches = [(sl, valid[:, sl], valid[:, sl].sum(dim=1).clamp(min=1.0)) for sl in _minibatches(width, batch_size)]
    for t in range(max_iterations):
        active = (iterations > t).to(x.dtype)  # (B,)
        for sl, mask, count in batches:
            _sgd_step_stacked(weights, x[:, sl], y[:, sl], mask * (lr * active / count).unsqueeze(1))
    return weights


def _sgd_step_single(layers: list[tuple[torch.Tensor, torch.Tensor]], x: torch.Tensor, y_onehot: torch.Tensor, step: float) -> None:
    """One SGD step of a single MLP (2-D views into the stacked weights), in place; ``step`` = lr / batch."""
    activations = [x]
    h = x
    last = len(layers) - 1
    for l, (w, b) in enumerate(layers):
        h = torch.addmm(b, h, w)
        if l < last:
            h = torch.relu(h)
            activations.append(h)
    g = torch.softmax(h, dim=-1).sub_(y_onehot)
    for l in range(last, -1, -1):
        w, b = layers[l]
        a = activations[l]
        g_below = torch.mm(g, w.t()).mul_(a > 0) if l > 0 else None
        w.addmm_(a.t(), g, alpha=-step)
        b.add_(g.sum(dim=0), alpha=-step)
        g = g_below


def local_train_loop(
    weights: Weights,
    x_all: torch.Tensor,
    y_all: torch.Tensor,
    sample_index: torch.Tensor,
    sample_count: torch.Tensor,
    iterations: torch.Tensor,
    lr: float,
    batch_size: int | None = None,
) -> Weights:
    """Per-learner loop of plain GEMMs on exactly d_k samples (see module docstring)."""
    weights = clone_weights(weights)
    num_classes = weights[-1][0].shape[-1]
    counts, taus = sample_count.tolist(), iterations.tolist()
    for k, (count, tau) in enumerate(zip(counts, taus)):
        if count == 0 or tau == 0:
            continue
        index = sample_index[k, :count]
        x = x_all[index]
        y = F.one_hot(y_all[index], num_classes).to(x.dtype)
        layers = [(w[k], b[k]) for w, b in weights]
        batches = _minibatches(count, batch_size)
        for _ in range(tau):
            for sl in batches:
                xb = x[sl]
                _sgd_step_single(layers, xb, y[sl], lr / xb.shape[0])
    return weights


def local_train_autograd(
    weights: Weights,
    x_all: torch.Tensor,
    y_all: torch.Tensor,
    sample_index: torch.Tensor,
    sample_count: torch.Tensor,
    iterations: torch.Tensor,
    lr: float,
    batch_size: int | None = None,
) -> Weights:
    """Reference: stacked forward, gradients by torch.autograd, plain SGD updates."""
    params = [t.detach().clone() for layer in weights for t in layer]
    max_iterations = int(iterations.max().item()) if iterations.numel() else 0
    width = sample_index.shape[1]
    num_classes = weights[-1][0].shape[-1]
    x = x_all[sample_index]
    y = y_all[sample_index]
    valid = (torch.arange(width, device=x.device) < sample_count.unsqueeze(1)).to(x.dtype)
    for t in range(max_iterations if width else 0):
        active = (iterations > t).to(x.dtype)
        for sl in _minibatches(width, batch_size):
            live = [p.requires_grad_() for p in params]
            layers = [(live[2 * i], live[2 * i + 1]) for i in range(len(weights))]
            h = x[:, sl]
            for l, (w, b) in enumerate(layers):
                h = torch.baddbmm(b.unsqueeze(1), h, w)
                if l < len(layers) - 1:
                    h = torch.relu(h)
            per_sample = F.cross_entropy(h.reshape(-1, num_classes), y[:, sl].reshape(-1), reduction="none")
            mask = valid[:, sl]
            per_learner = (per_sample.view_as(mask) * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
            grads = torch.autograd.grad((per_learner * active).sum(), live)
            params = [(p - lr * g).detach() for p, g in zip(live, grads)]
    return [(params[2 * i], params[2 * i + 1]) for i in range(len(weights))]


KERNELS = {"stacked": local_train_stacked, "loop": local_train_loop, "autograd": local_train_autograd}

#: Above this many FLOPs per learner step (mean d_k or batch x 6 x weights), the CPU picks the loop kernel.
LOOP_KERNEL_MIN_FLOPS = 2e7


def choose_kernel(requested: str, device: torch.device, flops_per_sample_step: int, samples_per_step: float) -> str:
    """Resolve ``"auto"``: stacked on GPUs and for small per-learner work, loop for big GEMMs on CPU."""
    if requested != "auto":
        return requested
    if device.type != "cpu":
        return "stacked"
    return "loop" if flops_per_sample_step * samples_per_step > LOOP_KERNEL_MIN_FLOPS else "stacked"

