"""The trainer's kernels against autograd, FedAvg and evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mel_gym.learning.datasets import load_dataset
from mel_gym.learning.kernels import KERNELS, choose_kernel
from mel_gym.learning.model import MLPSpec, forward_logits, stack_models
from mel_gym.learning.trainer import FLTrainer, LocalModels, resolve_device


def _problem(spec: MLPSpec, B: int, width: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    weights = stack_models([spec.init_numpy(rng) for _ in range(B)], torch.device("cpu"))
    n = 300
    x = torch.from_numpy(rng.random((n, spec.layer_sizes[0]), dtype=np.float32))
    y = torch.from_numpy(rng.integers(0, spec.layer_sizes[-1], n))
    index = torch.from_numpy(rng.integers(0, n, (B, width)))
    count = torch.from_numpy(rng.integers(0, width + 1, B))
    count[0] = width  # one learner with a full task
    tau = torch.from_numpy(rng.integers(1, 6, B))
    tau[B - 1] = 0  # one idle learner (the only learner when B = 1)
    return weights, x, y, index, count, tau


CUDA = pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"))


@pytest.mark.parametrize("device", ["cpu", CUDA])
@pytest.mark.parametrize("layers", [(16, 10), (16, 12, 10), (20, 15, 12, 10)])
@pytest.mark.parametrize("batch_size", [None, 7])
def test_kernels_agree_with_autograd(layers, batch_size, device):
    spec = MLPSpec(layers)
    weights, x, y, index, count, tau = _problem(spec, B=6, width=25)
    dev = torch.device(device)
    weights = [(w.to(dev), b.to(dev)) for w, b in weights]
    x, y, index, count, tau = (t.to(dev) for t in (x, y, index, count, tau))
    original = [(w.clone(), b.clone()) for w, b in weights]
    reference = KERNELS["autograd"](weights, x, y, index, count, tau, 0.3, batch_size)
    for name in ("stacked", "loop"):
        got = KERNELS[name](weights, x, y, index, count, tau, 0.3, batch_size)
        for (w, b), (rw, rb) in zip(got, reference):
            assert torch.allclose(w, rw, atol=1e-5, rtol=1e-5), name
            assert torch.allclose(b, rb, atol=1e-5, rtol=1e-5), name
    # inputs untouched; idle and empty learners keep their weights, the others move
    assert all(torch.equal(w, w0) and torch.equal(b, b0) for (w, b), (w0, b0) in zip(weights, original))
    idle = (tau == 0) | (count == 0)
    for (w, _), (w0, _) in zip(reference, weights):
        assert torch.equal(w[idle], w0[idle])
        assert not torch.equal(w[~idle], w0[~idle])


def test_one_local_iteration_is_one_full_batch_gradient_step():
    spec = MLPSpec((5, 3))
    weights, x, y, index, count, tau = _problem(spec, B=1, width=8)
    count[:] = 8
    tau[:] = 1
    new = KERNELS["stacked"](weights, x, y, index, count, tau, 0.5, None)
    w = weights[0][0][0].clone().requires_grad_()
    b = weights[0][1][0].clone().requires_grad_()
    loss = torch.nn.functional.cross_entropy(x[index[0]] @ w + b, y[index[0]])
    gw, gb = torch.autograd.grad(loss, (w, b))
    assert torch.allclose(new[0][0][0], w - 0.5 * gw, atol=1e-6)
    assert torch.allclose(new[0][1][0], b - 0.5 * gb, atol=1e-6)


def _trainer(**kw):
    ds = load_dataset("digits")
    return FLTrainer(MLPSpec.build(64, [16], 10), ds, torch.device("cpu"), learning_rate=0.5, **kw)


def test_fedavg_weights_by_task_size_and_skips_zero_weight():
    tr = _trainer()
    g = tr.init_global([np.random.default_rng(0), np.random.default_rng(1)])
    # env 0: learner 0 trained to w + 1 (weight 3), learner 1 did not train (holds w, weight 1),
    # learner 2 diverged (NaN, weight 0); env 1: nobody finished.
    rows = np.array([0, 2, 3])
    local = LocalModels(rows, [(torch.stack([w[0] + 1.0, w[0] + float("nan"), w[1] + 5.0]),
                                torch.stack([b[0], b[0], b[1]])) for w, b in g])
    assert tr.finite(local).tolist() == [True, False, True]
    agg = tr.aggregate(g, local, np.array([[3.0, 1.0, 0.0], [0.0, 0.0, 0.0]]))
    assert torch.allclose(agg[0][0][0], g[0][0][0] + 0.75)  # (3*(w+1) + 1*w) / 4
    assert torch.equal(agg[0][0][1], g[0][0][1])  # env 1 keeps its model
    assert all(bool(torch.isfinite(w).all()) for w, _ in agg)


def test_local_train_materialises_only_learners_that_train():
    tr = _trainer()
    g = tr.init_global([np.random.default_rng(0), np.random.default_rng(1)])
    counts = np.array([[50, 0, 50], [50, 50, 50]])
    taus = np.array([[2, 2, 0], [1, 0, 3]])
    index = np.random.default_rng(0).integers(0, tr.num_train_samples, (2, 3, 50))
    local = tr.local_train(g, 3, index, counts, taus)
    assert local.rows.tolist() == [0, 3, 5]
    # row 5 (env 1, learner 2) equals training env 1's global model alone on its samples
    alone = KERNELS["autograd"]([(w[1:2], b[1:2]) for w, b in g], tr.x_train, tr.y_train,
                                torch.from_numpy(index[1, 2:3]), torch.tensor([50]), torch.tensor([3]), 0.5)
    assert torch.allclose(local.weights[0][0][2], alone[0][0][0], atol=1e-5)


def test_evaluate_matches_a_plain_forward_pass():
    tr = _trainer(max_test_samples=100)
    g = tr.init_global([np.random.default_rng(3)])
    scores = tr.evaluate(g)
    logits = forward_logits([(w[0:1], b[0:1]) for w, b in g], tr.x_test)[0]
    assert scores.loss[0] == scores.test_loss[0]  # no validation split: decisions score on the test split
    assert scores.test_loss[0] == pytest.approx(torch.nn.functional.cross_entropy(logits, tr.y_test).item(), rel=1e-5)
    assert scores.test_accuracy[0] == pytest.approx((logits.argmax(1) == tr.y_test).float().mean().item())
    assert len(tr.x_test) == 100 and tr.num_validation == 0
    chunked = tr.evaluate(g, chunk_elements=1)
    assert np.allclose(chunked.test_loss, scores.test_loss)


def test_validation_and_test_scores_come_from_their_own_splits():
    ds = load_dataset("digits", validation_fraction=0.5)
    tr = FLTrainer(MLPSpec.build(64, [16], 10), ds, torch.device("cpu"), learning_rate=0.5)
    assert tr.num_validation == len(ds.x_val) and torch.equal(tr.x_val, torch.from_numpy(np.array(ds.x_val)))
    assert torch.equal(tr.x_test, torch.from_numpy(np.array(ds.x_test)))
    g = tr.init_global([np.random.default_rng(3), np.random.default_rng(4)])
    scores = tr.evaluate(g)
    for split, x, y in (("", tr.x_val, tr.y_val), ("test_", tr.x_test, tr.y_test)):
        logits = forward_logits(g, x)  # (2, n, C)
        hand = torch.nn.functional.cross_entropy(logits.transpose(1, 2), y.expand(2, -1), reduction="none").mean(1)
        assert np.allclose(getattr(scores, f"{split}loss"), hand.numpy(), rtol=1e-5)
        accuracy = (logits.argmax(-1) == y).float().mean(1).numpy()
        assert np.allclose(getattr(scores, f"{split}accuracy"), accuracy)
    # a mask scores each model on its own samples of both splits: here only the classes 0-4
    mask = torch.isin(tr.y_eval, torch.arange(5)).expand(2, -1)
    masked = tr.evaluate(g, sample_mask=mask)
    mine = tr.y_test < 5
    logits = forward_logits(g, tr.x_test[mine])
    assert np.allclose(masked.test_accuracy, (logits.argmax(-1) == tr.y_test[mine]).float().mean(1).numpy())


def test_training_reduces_test_loss():
    tr = _trainer()
    g = tr.init_global([np.random.default_rng(0)])
    before = tr.evaluate(g).test_loss
    K = 4
    index = np.arange(K * 200).reshape(1, K, 200)
    local = tr.local_train(g, K, index, np.full((1, K), 200), np.full((1, K), 60))
    after = tr.evaluate(tr.aggregate(g, local, np.full((1, K), 200.0)))
    assert after.test_loss[0] < 0.5 * before[0] and after.test_accuracy[0] > 0.8, (before, after)


def test_kernel_choice_and_device_errors():
    cpu = torch.device("cpu")
    digits = MLPSpec((64, 32, 10)).flops_per_sample_step
    paper = MLPSpec((784, 300, 124, 60, 10)).flops_per_sample_step
    assert choose_kernel("auto", cpu, digits, 100) == "stacked"
    assert choose_kernel("auto", cpu, paper, 200) == "loop"
    assert choose_kernel("auto", torch.device("cuda"), paper, 200) == "stacked"
    assert choose_kernel("loop", cpu, digits, 1) == "loop"
    assert MLPSpec((784, 300, 124, 60, 10)).num_parameters == 280_934
    with pytest.raises(ValueError, match="kernel"):
        _trainer(kernel="fast")
    with pytest.raises(ValueError, match="not a torch device"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
        assert resolve_device("auto").type == "cpu"


def test_round_in_chunks_equals_train_then_aggregate_and_drops_divergence():
    tr = _trainer()
    g = tr.init_global([np.random.default_rng(0), np.random.default_rng(1)])
    rng = np.random.default_rng(2)
    counts = rng.integers(0, 60, (2, 5))
    taus = rng.integers(0, 4, (2, 5))
    index = rng.integers(0, tr.num_train_samples, (2, 5, 60))
    agg = counts.astype(float)
    whole = tr.aggregate(g, tr.local_train(g, 5, index, counts, taus), agg)
    for max_bytes in (1, 1 << 30):  # one learner per chunk, and everything at once
        new, diverged = tr.round(g, 5, index, counts, taus, agg, max_bytes=max_bytes)
        assert not diverged.any()
        for (w, b), (ww, wb) in zip(new, whole):
            assert torch.allclose(w, ww, atol=1e-6) and torch.allclose(b, wb, atol=1e-6)
    wild = FLTrainer(MLPSpec.build(64, [16], 10), load_dataset("digits"), torch.device("cpu"), learning_rate=1e30)
    new, diverged = wild.round(g, 5, index, counts, np.full((2, 5), 50), agg, max_bytes=1)
    assert diverged.any() and all(bool(torch.isfinite(w).all()) for w, _ in new)
