"""MNIST-format data sets for the deeplearning.net models, read from local files only.

    from tc.datasets import load_mnist
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = load_mnist()

Two formats are read:

- the Theano tutorial's `mnist.pkl.gz`: a gzip'ed pickle of three (x, y)
  pairs, x float (n, 784) in [0, 1], y integer labels;
- a folder of IDX files (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
  `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each optionally `.gz`),
  as MNIST and Fashion-MNIST ship them. The 60,000 training images are split
  in file order into train (the first 50,000) and valid (the last 10,000), as
  `mnist.pkl.gz` is; test is t10k. Pixels are divided by 255.

With no path, the Fashion-MNIST files of Debian's `dataset-fashion-mnist`
package are read. Nothing is ever downloaded: a missing, corrupt or truncated
file raises `TcDataError` naming the file.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from .ir.errors import TcError, TcTypeError

__all__ = [
    "FASHION_MNIST_DIR",
    "TcDataError",
    "default_data_path",
    "fashion_mnist_path",
    "load_mnist",
    "read_idx",
]

#: Where Debian's `dataset-fashion-mnist` package puts the IDX files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

INSTALL_HINT = "install it with `apt-get install dataset-fashion-mnist` or pass --data PATH"

NUM_CLASSES = 10

# The IDX type byte -> numpy dtype (all big-endian on disk).
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

_IDX_STEMS = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

Split = tuple[np.ndarray, np.ndarray]


class TcDataError(TcError, ValueError):
    """A data file that is missing, corrupt, truncated or not in the expected format."""


def fashion_mnist_path() -> Path | None:
    """The folder holding Debian's Fashion-MNIST IDX files, or None when the package is absent."""
    if all(_find_idx(FASHION_MNIST_DIR, stem) is not None for stem in _IDX_STEMS.values()):
        return FASHION_MNIST_DIR
    return None


def default_data_path() -> Path | None:
    """The data `load_mnist()` reads when given no path (today: Fashion-MNIST), or None."""
    return fashion_mnist_path()


def load_mnist(
    path: str | Path | None = None, dtype: Any = "float64", valid_size: int = 10_000
) -> tuple[Split, Split, Split]:
    """Read MNIST-format data as ((train_x, train_y), (valid_x, valid_y), (test_x, test_y)).

    `path` is an `mnist.pkl.gz` file, a folder of IDX files (or a folder
    holding `mnist.pkl.gz`), or None for the installed Fashion-MNIST. x is
    `dtype` (float32 or float64), shape (n, rows * cols), values in [0, 1];
    y is int64 in [0, 10). `valid_size` is how many of the last IDX training
    images become the validation split (the pickle carries its own split).
    """
    float_dtype = np.dtype(dtype)
    if float_dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TcTypeError(f"load_mnist: dtype must be float32 or float64, found {float_dtype}")
    if path is None:
        found = default_data_path()
        if found is None:
            raise TcDataError(
                f"load_mnist: Fashion-MNIST is not installed in {FASHION_MNIST_DIR}; {INSTALL_HINT}"
            )
        path = found
    path = Path(path)
    if path.is_dir():
        if any(_find_idx(path, stem) is not None for stem in _IDX_STEMS.values()):
            return _load_idx_folder(path, float_dtype, valid_size)
        pickled = path / "mnist.pkl.gz"
        if pickled.is_file():
            return _load_pickle(pickled, float_dtype)
        raise TcDataError(
            f"{path}: no MNIST data here; expected IDX files "
            f"({', '.join(s + '[.gz]' for s in _IDX_STEMS.values())}) or mnist.pkl.gz"
        )
    if path.is_file():
        return _load_pickle(path, float_dtype)
    raise TcDataError(f"{path}: no such file or folder (MNIST data: mnist.pkl.gz or a folder of IDX files)")


def read_idx(path: str | Path) -> np.ndarray:
    """One IDX file (optionally gzip'ed) as a native-endian numpy array of its declared shape."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise TcDataError(
            f"{path}: truncated IDX file: {len(data)} bytes, shorter than the 4-byte magic number"
        )
    zero, type_code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0 or type_code not in _IDX_DTYPES or ndim == 0:
        raise TcDataError(
            f"{path}: bad IDX magic number 0x{data[:4].hex()}: expected 0x0000, a type byte "
            f"({', '.join(f'0x{c:02x}' for c in _IDX_DTYPES)}) and a nonzero dimension count"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise TcDataError(
            f"{path}: truncated IDX header: {ndim} dimensions need {header} bytes, found {len(data)}"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    item = np.dtype(_IDX_DTYPES[type_code])
    expected = header + item.itemsize * int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "trailing bytes in"
        raise TcDataError(
            f"{path}: {problem} IDX file: shape {shape} of {item.name} needs {expected} bytes, "
            f"found {len(data)}"
        )
    return np.frombuffer(data, dtype=item, offset=header).reshape(shape).astype(item.newbyteorder("="))


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def _read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when it starts with the gzip magic (whatever its name)."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise TcDataError(f"{path}: cannot read: {error.strerror or error}") from error
    if raw[:2] != b"\x1f\x8b":
        if path.suffix == ".gz":
            raise TcDataError(f"{path}: not a gzip file (named .gz, but the gzip magic bytes are missing)")
        return raw
    import gzip  # (with zlib, imported only for gzip'ed data: `import tc` imports this module)
    import zlib

    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise TcDataError(f"{path}: corrupt or truncated gzip data: {error}") from error


def _load_idx_folder(folder: Path, dtype: np.dtype, valid_size: int) -> tuple[Split, Split, Split]:
    files = {}
    for key, stem in _IDX_STEMS.items():
        found = _find_idx(folder, stem)
        if found is None:
            raise TcDataError(
                f"{folder / stem}[.gz]: missing IDX file (the folder has only some of the four)"
            )
        files[key] = found
    train_x, train_y = _idx_pair(files["train_images"], files["train_labels"], dtype)
    test_x, test_y = _idx_pair(files["test_images"], files["test_labels"], dtype)
    n = len(train_y)
    if not 0 < valid_size < n:
        raise TcDataError(
            f"{files['train_labels']}: {n} training images cannot give a validation split of {valid_size} "
            f"and a nonempty train split (pass a smaller valid_size)"
        )
    cut = n - valid_size
    return (train_x[:cut], train_y[:cut]), (train_x[cut:], train_y[cut:]), (test_x, test_y)


def _idx_pair(images_path: Path, labels_path: Path, dtype: np.dtype) -> Split:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise TcDataError(
            f"{images_path}: expected unsigned bytes of shape (n, rows, cols), "
            f"found {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise TcDataError(
            f"{labels_path}: expected unsigned bytes of shape (n,), found {labels.dtype} {labels.shape}"
        )
    if len(images) != len(labels):
        raise TcDataError(f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path}")
    _check_labels(str(labels_path), labels)
    x = images.reshape(len(images), -1).astype(dtype)
    x /= dtype.type(255)
    return x, labels.astype(np.int64)


def _check_labels(where: str, labels: np.ndarray) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        position = int(np.flatnonzero((labels < 0) | (labels >= NUM_CLASSES))[0])
        raise TcDataError(f"{where}: label {labels[position]} at index {position} outside [0, {NUM_CLASSES})")


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and plain containers only: a data file must not run code."""

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("numpy.core."):  # pickles written before numpy 2 (the tutorial's file)
            module = "numpy._core." + module[len("numpy.core.") :]
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays are allowed)")
        return super().find_class(module, name)


def _load_pickle(path: Path, dtype: np.dtype) -> tuple[Split, Split, Split]:
    data = _read_bytes(path)
    try:
        content = _ArrayUnpickler(io.BytesIO(data), encoding="latin1").load()
    except Exception as error:  # pickle raises many kinds on damaged input; all mean a bad file
        raise TcDataError(f"{path}: not a readable MNIST pickle: {type(error).__name__}: {error}") from error
    if not (isinstance(content, (tuple, list)) and len(content) == 3):
        raise TcDataError(
            f"{path}: expected a pickled (train, valid, test) triple, found {_describe(content)}"
        )
    splits = []
    for name, pair in zip(("train", "valid", "test"), content, strict=True):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise TcDataError(f"{path}: the {name} split should be an (x, y) pair, found {_describe(pair)}")
        x, y = (np.asarray(a) for a in pair)
        where = f"{path}: {name} split"
        if x.ndim != 2 or x.dtype.kind != "f":
            raise TcDataError(f"{where}: x should be a float matrix (n, 784), found {x.dtype} {x.shape}")
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise TcDataError(f"{where}: y should be an integer vector, found {y.dtype} {y.shape}")
        if len(x) != len(y):
            raise TcDataError(f"{where}: {len(y)} labels for {len(x)} images")
        if x.size and not (np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1):
            raise TcDataError(f"{where}: pixels should be finite values in [0, 1]")
        _check_labels(f"{where} labels", y)
        splits.append((x.astype(dtype), y.astype(np.int64)))
    widths = {x.shape[1] for x, _ in splits}
    if len(widths) != 1:
        raise TcDataError(f"{path}: the splits have different image sizes {sorted(widths)}")
    return splits[0], splits[1], splits[2]


def _describe(value: object) -> str:
    length = f" of length {len(value)}" if isinstance(value, (tuple, list)) else ""
    return f"{type(value).__name__}{length}"
