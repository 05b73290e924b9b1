"""MNIST-format loaders: synthetic IDX and pickle files round-trip, every damaged file is
refused with a TcDataError naming it, and the installed Fashion-MNIST has the expected splits."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tc
from tc.datasets import TcDataError, fashion_mnist_path, load_mnist, read_idx

ROWS = COLS = 4


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = struct.pack(">HBB", 0, type_code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path: Path, data: bytes, compress: bool) -> Path:
    path = path.with_name(path.name + ".gz") if compress else path
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def make_idx_folder(folder: Path, n_train: int = 12, n_test: int = 5, compress: bool = False) -> dict:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, ROWS, COLS), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, ROWS, COLS), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for stem, array in arrays.items():
        write(folder / stem, idx_bytes(array), compress)
    return arrays


def make_pickle(path: Path, splits: object) -> Path:
    path.write_bytes(gzip.compress(pickle.dumps(splits, protocol=2)))
    return path


def pickle_splits(n: int = 6) -> tuple:
    rng = np.random.default_rng(1)
    return tuple(
        (rng.random((n, ROWS * COLS), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64))
        for _ in range(3)
    )


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_idx_folder_round_trip(tmp_path: Path, compress: bool, dtype: str) -> None:
    arrays = make_idx_folder(tmp_path, compress=compress)
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = load_mnist(tmp_path, dtype=dtype, valid_size=2)
    images = arrays["train-images-idx3-ubyte"].reshape(12, -1).astype(dtype) / np.dtype(dtype).type(255)
    labels = arrays["train-labels-idx1-ubyte"]
    np.testing.assert_array_equal(train_x, images[:10])
    np.testing.assert_array_equal(valid_x, images[10:])
    np.testing.assert_array_equal(train_y, labels[:10])
    np.testing.assert_array_equal(valid_y, labels[10:])
    np.testing.assert_array_equal(test_y, arrays["t10k-labels-idx1-ubyte"])
    assert test_x.shape == (5, ROWS * COLS)
    for x, y in [(train_x, train_y), (valid_x, valid_y), (test_x, test_y)]:
        assert x.dtype == np.dtype(dtype) and y.dtype == np.int64
        assert 0.0 <= x.min() and x.max() <= 1.0


IDX_TYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.int16,
    0x0C: np.int32,
    0x0D: np.float32,
    0x0E: np.float64,
}


@settings(max_examples=40, deadline=None)
@given(data=st.data(), type_code=st.sampled_from(sorted(IDX_TYPES)), compress=st.booleans())
def test_read_idx_round_trips_every_type(tmp_path_factory, data, type_code: int, compress: bool) -> None:  # type: ignore[no-untyped-def]
    dtype = np.dtype(IDX_TYPES[type_code])
    array = data.draw(hnp.arrays(dtype, hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5)))
    path = write(tmp_path_factory.mktemp("idx") / "x-idx", idx_bytes(array, type_code), compress)
    result = read_idx(path)
    assert result.dtype == dtype and result.dtype.isnative and result.shape == array.shape
    np.testing.assert_array_equal(result, array)


def test_read_idx_other_types_and_endianness(tmp_path: Path) -> None:
    array = np.arange(-6, 6, dtype=np.int32).reshape(3, 4) * 1000
    path = write(tmp_path / "a-idx2-int", idx_bytes(array, 0x0C), compress=False)
    result = read_idx(path)
    assert result.dtype == np.int32 and result.dtype.isnative
    np.testing.assert_array_equal(result, array)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_pickle_round_trip(tmp_path: Path, dtype: str) -> None:
    splits = pickle_splits()
    path = make_pickle(tmp_path / "mnist.pkl.gz", splits)
    for source in (path, tmp_path):  # the file, or a folder holding it
        loaded = load_mnist(source, dtype=dtype)
        for (x, y), (ex, ey) in zip(loaded, splits, strict=True):
            assert x.dtype == np.dtype(dtype) and y.dtype == np.int64
            np.testing.assert_array_equal(x, ex.astype(dtype))
            np.testing.assert_array_equal(y, ey)


def test_pickle_written_before_numpy_2_loads(tmp_path: Path) -> None:
    """The tutorial's file names numpy.core.multiarray, which numpy 2 moved to numpy._core."""
    data = pickle.dumps(pickle_splits(), protocol=2)
    assert b"numpy._core.multiarray" in data
    path = tmp_path / "old.pkl.gz"
    path.write_bytes(gzip.compress(data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")))
    (train_x, _), _, _ = load_mnist(path)
    assert train_x.shape == (6, ROWS * COLS)


def test_pickle_that_runs_code_is_refused(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self) -> tuple:
            return (print, ("owned",))

    path = make_pickle(tmp_path / "evil.pkl.gz", Evil())
    with pytest.raises(TcDataError, match="evil.pkl.gz.*refusing to load \\w+\\.print"):
        load_mnist(path)


def corrupt_idx(folder: Path, stem: str, data: bytes) -> Path:
    path = folder / stem
    path.write_bytes(data)
    return path


IMAGES = idx_bytes(np.zeros((12, ROWS, COLS), dtype=np.uint8))
LABELS = idx_bytes(np.zeros(12, dtype=np.uint8))


@pytest.mark.parametrize(
    "stem, data, message",
    [
        ("train-images-idx3-ubyte", b"\x12\x34" + IMAGES[2:], "bad IDX magic number 0x1234"),
        ("train-images-idx3-ubyte", IMAGES[:2] + b"\x07" + IMAGES[3:], "bad IDX magic number"),
        ("train-images-idx3-ubyte", IMAGES[:3], "truncated IDX file: 3 bytes"),
        ("train-images-idx3-ubyte", IMAGES[:10], "truncated IDX header"),
        ("train-images-idx3-ubyte", IMAGES[:-1], r"truncated IDX file: shape \(12, 4, 4\)"),
        ("train-images-idx3-ubyte", IMAGES + b"\0", "trailing bytes in IDX file"),
        ("train-images-idx3-ubyte", LABELS, r"expected unsigned bytes of shape \(n, rows, cols\)"),
        ("train-labels-idx1-ubyte", IMAGES, r"expected unsigned bytes of shape \(n,\)"),
        ("train-labels-idx1-ubyte", idx_bytes(np.zeros(11, dtype=np.uint8)), "11 labels for 12 images"),
        (
            "train-labels-idx1-ubyte",
            idx_bytes(np.array([0] * 7 + [10] + [0] * 4, np.uint8)),
            "label 10 at index 7",
        ),
        (
            "train-labels-idx1-ubyte",
            idx_bytes(np.zeros(12, dtype=np.float32), 0x0D),
            "expected unsigned bytes",
        ),
    ],
)
def test_damaged_idx_file_is_named(tmp_path: Path, stem: str, data: bytes, message: str) -> None:
    make_idx_folder(tmp_path)
    corrupt_idx(tmp_path, stem, data)
    with pytest.raises(TcDataError, match=message) as caught:
        load_mnist(tmp_path, valid_size=2)
    assert str(tmp_path / stem) in str(caught.value)
    assert isinstance(caught.value, tc.TcError) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda gz: gz[: len(gz) // 2], "corrupt or truncated gzip data"),
        (lambda gz: gz[:10] + bytes(b ^ 0xFF for b in gz[10:]), "corrupt or truncated gzip data"),
        (lambda gz: b"plain bytes, not gzip", "not a gzip file"),
    ],
)
def test_damaged_gzip_is_named(tmp_path: Path, damage, message: str) -> None:  # type: ignore[no-untyped-def]
    make_idx_folder(tmp_path, compress=True)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(TcDataError, match=message) as caught:
        load_mnist(tmp_path, valid_size=2)
    assert str(path) in str(caught.value)


def test_missing_files_and_folders(tmp_path: Path) -> None:
    with pytest.raises(TcDataError, match="no such file or folder"):
        load_mnist(tmp_path / "nowhere")
    with pytest.raises(TcDataError, match="no MNIST data here"):
        load_mnist(tmp_path)
    make_idx_folder(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(TcDataError, match="t10k-labels-idx1-ubyte.*missing IDX file"):
        load_mnist(tmp_path, valid_size=2)


def test_validation_split_must_fit(tmp_path: Path) -> None:
    make_idx_folder(tmp_path)
    with pytest.raises(TcDataError, match="12 training images cannot give a validation split of 10000"):
        load_mnist(tmp_path)


def test_dtype_must_be_float(tmp_path: Path) -> None:
    make_idx_folder(tmp_path)
    with pytest.raises(tc.TcTypeError, match="float32 or float64, found int32"):
        load_mnist(tmp_path, dtype="int32")


def _splits_with(index: int, pair: object) -> tuple:
    splits = list(pickle_splits())
    splits[index] = pair
    return tuple(splits)


_X, _Y = pickle_splits()[0]


@pytest.mark.parametrize(
    "content, message",
    [
        (pickle_splits()[:2], "expected a pickled \\(train, valid, test\\) triple, found tuple of length 2"),
        ({"train": 1}, "found dict"),
        (_splits_with(1, (_X,)), "the valid split should be an \\(x, y\\) pair"),
        (_splits_with(2, (_X[:, :3].reshape(-1), _Y)), "test split: x should be a float matrix"),
        (_splits_with(0, (_X, _Y.astype(np.float64))), "train split: y should be an integer vector"),
        (_splits_with(0, (_X, _Y[:-1])), "train split: 5 labels for 6 images"),
        (_splits_with(0, (_X * 255, _Y)), "pixels should be finite values in \\[0, 1\\]"),
        (_splits_with(2, (_X, _Y - 1)), "test split labels: label -1"),
        (_splits_with(1, (_X[:, :5], _Y)), "different image sizes \\[5, 16\\]"),
    ],
)
def test_malformed_pickle_is_named(tmp_path: Path, content: object, message: str) -> None:
    path = make_pickle(tmp_path / "mnist.pkl.gz", content)
    with pytest.raises(TcDataError, match=message) as caught:
        load_mnist(path)
    assert str(path) in str(caught.value)


def test_damaged_pickle_is_named(tmp_path: Path) -> None:
    path = tmp_path / "mnist.pkl.gz"
    data = pickle.dumps(pickle_splits(), protocol=2)
    path.write_bytes(gzip.compress(data[: len(data) // 2]))
    with pytest.raises(TcDataError, match="not a readable MNIST pickle"):
        load_mnist(path)
    path.write_bytes(gzip.compress(b"not a pickle at all"))
    with pytest.raises(TcDataError, match="not a readable MNIST pickle") as caught:
        load_mnist(path)
    assert str(path) in str(caught.value)


def test_fashion_mnist_installed() -> None:
    if fashion_mnist_path() is None:
        pytest.skip("Fashion-MNIST is not installed: apt-get install dataset-fashion-mnist")
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = load_mnist(dtype="float32")
    assert [len(train_x), len(valid_x), len(test_x)] == [50_000, 10_000, 10_000]
    for x, y in [(train_x, train_y), (valid_x, valid_y), (test_x, test_y)]:
        assert x.shape[1] == 784 and x.dtype == np.float32 and y.dtype == np.int64
        assert x.min() == 0.0 and x.max() == 1.0
        assert set(np.unique(y)) == set(range(10))
    # Fashion-MNIST is balanced: 6,000 training and 1,000 test images of each class.
    assert np.bincount(np.concatenate([train_y, valid_y])).tolist() == [6000] * 10
    assert np.bincount(test_y).tolist() == [1000] * 10


def test_default_path_without_the_package_says_how_to_install(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("tc.datasets.FASHION_MNIST_DIR", tmp_path / "absent")
    assert fashion_mnist_path() is None
    with pytest.raises(TcDataError, match="apt-get install dataset-fashion-mnist"):
        load_mnist()
