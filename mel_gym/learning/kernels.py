"""Local training kernels: B stacked MLPs, each running tau_k local iterations of SGD on its d_k samples.

One local iteration is one gradient step on the mean cross-entropy over the learner's d_k samples (MEL);
with ``batch_size`` set, it is one pass over them in minibatches of that size (one step per minibatch, in
the order of ``sample_index``). Three implementations of the same function, agreeing to float32 rounding:

- :func:`local_train_stacked`: learners at once with batched matmuls (``baddbmm``), hand-written backward
  and in-place fused updates. Learners are grouped by task size (padding stays under half a group's work)
  and sorted by tau (an iteration computes only the learners still training), and the rest of the
  unevenness is masks. Wins when per-learner work is small (framework overhead dominates): small models,
  small batches, and on GPUs.
- :func:`local_train_loop`: a Python loop over learners, each with plain 2-D GEMMs on exactly its own
  samples. Wins for big models with full-batch tasks, where padding every learner to the largest d_k wastes
  more than batching saves.
- :func:`local_train_autograd`: the reference, stacked and differentiated by torch.autograd.

All take ``weights`` (list of (W (B, in, out), b (B, out))), the data set tensors ``x_all`` (N, F) and
``y_all`` (N,), ``sample_index`` (B, D) int64 into them, ``sample_count`` (B,) = d_k (entries of
``sample_index`` past d_k are ignored), ``iterations`` (B,) = tau_k, the step size ``lr`` and the optional
``batch_size``, and return the trained weights: new tensors, or the inputs trained in place when
``in_place`` is set (the autograd reference always returns new tensors).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from mel_gym.learning.model import Weights, clone_weights


def _minibatches(width: int, batch_size: int | None) -> list[slice]:
    size = width if batch_size is None else max(1, min(batch_size, width))
    return [slice(start, start + size) for start in range(0, width, size)]


def softmax_last_(h: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis, in place; several times faster than torch.softmax on CPU for few classes."""
    h.sub_(h.amax(dim=-1, keepdim=True)).exp_()
    return h.div_(h.sum(dim=-1, keepdim=True))


def gather_rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]`` for an integer ``index`` of any shape, via index_select (faster than fancy indexing)."""
    return table.index_select(0, index.reshape(-1)).view(*index.shape, *table.shape[1:])


def _sgd_step_stacked(weights: Weights, x: torch.Tensor, y_onehot: torch.Tensor, sample_scale: torch.Tensor) -> None:
    """One fused SGD step for B stacked MLPs, in place.

    ``sample_scale`` (B, b) is lr / count_k for valid samples and 0 for padding, so that the logits gradient
    g = (softmax - y) * scale already carries the step size and the masks.
    """
    activations = [x]
    h = x
    last = len(weights) - 1
    for l, (w, b) in enumerate(weights):
        h = torch.baddbmm(b.unsqueeze(1), h, w)
        if l < last:
            h.relu_()
            activations.append(h)
    g = softmax_last_(h).sub_(y_onehot).mul_(sample_scale.unsqueeze(-1))
    for l in range(last, -1, -1):
        w, b = weights[l]
        a = activations[l]
        g_below = torch.bmm(g, w.transpose(1, 2)).mul_(a > 0) if l > 0 else None
        w.baddbmm_(a.transpose(1, 2), g, alpha=-1.0)
        b.sub_(g.sum(dim=1))
        g = g_below


def _train_group(
    weights: Weights, x_all: torch.Tensor, y_all: torch.Tensor, sample_index: torch.Tensor,
    sample_count: torch.Tensor, iterations: list[int], lr: float, batch_size: int | None,
) -> None:
    """Train a group of learners sorted by tau (descending), in place; at iteration t only the prefix of
    learners with tau_k > t is computed, so the cost follows sum_k tau_k rather than B x max tau."""
    width = sample_index.shape[1]
    num_classes = weights[-1][0].shape[-1]
    x = gather_rows(x_all, sample_index)  # (B, D, F)
    y = F.one_hot(gather_rows(y_all, sample_index), num_classes).to(x.dtype)  # (B, D, C)
    valid = (torch.arange(width, device=x.device) < sample_count.unsqueeze(1)).to(x.dtype)  # (B, D)
    batches = []
    for sl in _minibatches(width, batch_size):
        mask = valid[:, sl]
        batches.append((sl, mask * (lr / mask.sum(dim=1).clamp(min=1.0)).unsqueeze(1)))
    taus = np.asarray(iterations)
    for n in (taus[None, :] > np.arange(iterations[0])[:, None]).sum(axis=1).tolist():
        # sorted descending: the first n learners are still training at this iteration
        active = [(w[:n], b[:n]) for w, b in weights]
        for sl, scale in batches:
            _sgd_step_stacked(active, x[:n, sl], y[:n, sl], scale[:n])


#: A group of learners padded to its largest task is split when the padding would cost more than this many
#: FLOPs per SGD step: about the CPU cost of the ~15 extra tensor operations a further group adds.
SPLIT_MIN_WASTED_FLOPS = 8e6


def _group_by_task_size(counts: list[int], flops_per_sample: int) -> list[list[int]]:
    """Learners (indices into ``counts``) grouped by task size, largest first.

    Greedy: a learner joins the current group unless the padding of the group would exceed
    ``SPLIT_MIN_WASTED_FLOPS`` and its task is at most half the group's largest.
    """
    groups: list[list[int]] = []
    waste = 0
    for k in sorted(range(len(counts)), key=lambda j: -counts[j]):
        if groups:
            width = counts[groups[-1][0]]
            extra = (width - counts[k]) * flops_per_sample
            if waste + extra <= SPLIT_MIN_WASTED_FLOPS or 2 * counts[k] > width:
                groups[-1].append(k)
                waste += extra
                continue
        groups.append([k])
        waste = 0
    return groups


def local_train_stacked(
    weights: Weights,
    x_all: torch.Tensor,
    y_all: torch.Tensor,
    sample_index: torch.Tensor,
    sample_count: torch.Tensor,
    iterations: torch.Tensor,
    lr: float,
    batch_size: int | None = None,
    in_place: bool = False,
) -> Weights:
    """Batched kernel (see module docstring).

    Learners that train are grouped by task size (padding to a group's largest task is bounded), each group
    runs as one stack of batched matmuls sorted by tau, and the results are written back into the copies.
    """
    weights = weights if in_place else clone_weights(weights)
    counts, taus = sample_count.tolist(), iterations.tolist()
    training = [k for k in range(len(counts)) if counts[k] > 0 and taus[k] > 0]
    per_step = [min(counts[k], batch_size or counts[k]) for k in training]
    flops = 6 * sum(w.shape[1] * w.shape[2] for w, _ in weights)
    for members in _group_by_task_size(per_step, flops):
        group = sorted((training[j] for j in members), key=lambda k: -taus[k])
        width = max(counts[k] for k in group)
        group_taus = [taus[k] for k in group]
        if group == list(range(len(counts))):  # everybody, already in order: train the copies in place
            _train_group(weights, x_all, y_all, sample_index[:, :width], sample_count, group_taus, lr, batch_size)
            continue
        ids = torch.tensor(group, device=sample_index.device)
        sub = [(w.index_select(0, ids), b.index_select(0, ids)) for w, b in weights]
        _train_group(sub, x_all, y_all, sample_index[ids, :width], sample_count[ids], group_taus, lr, batch_size)
        for (w, b), (sw, sb) in zip(weights, sub):
            w.index_copy_(0, ids, sw)
            b.index_copy_(0, ids, sb)
    return weights


def _sgd_step_single(layers: list[tuple[torch.Tensor, torch.Tensor]], x: torch.Tensor, y_onehot: torch.Tensor, step: float) -> None:
    """One SGD step of a single MLP (2-D views into the stacked weights), in place; ``step`` = lr / batch."""
    activations = [x]
    h = x
    last = len(layers) - 1
    for l, (w, b) in enumerate(layers):
        h = torch.addmm(b, h, w)
        if l < last:
            h.relu_()
            activations.append(h)
    g = softmax_last_(h).sub_(y_onehot)
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
    in_place: bool = False,
) -> Weights:
    """Per-learner loop of plain GEMMs on exactly d_k samples (see module docstring)."""
    weights = weights if in_place else clone_weights(weights)
    num_classes = weights[-1][0].shape[-1]
    counts, taus = sample_count.tolist(), iterations.tolist()
    for k, (count, tau) in enumerate(zip(counts, taus)):
        if count == 0 or tau == 0:
            continue
        index = sample_index[k, :count]
        x = x_all.index_select(0, index)
        y = F.one_hot(y_all.index_select(0, index), num_classes).to(x.dtype)
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
    in_place: bool = False,
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

