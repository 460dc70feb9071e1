"""Fashion-MNIST IDX files: checked reading, locating (data dir, Debian package), download, tfds
(docs/original.md §3.3).

The original loaded ``tfds.load("fashion_mnist")``; the same 60k/10k images come from the official IDX
files, which the Debian package ``dataset-fashion-mnist`` installs under ``/usr/share/datasets/
fashion-mnist/`` and Zalando Research publishes (MD5s below). ``tensorflow-datasets`` is an optional source.
"""

from __future__ import annotations

import gzip
import hashlib
import urllib.error
import zlib
from pathlib import Path

import numpy as np

from robustness import files
from robustness.datasets import DataError

SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
BASE_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FILES = {  # official file name → MD5 of the published .gz
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
IDX_MAGIC = {1: 2049, 3: 2051}  # ndim → magic number of unsigned-byte IDX files


def read_idx(path, ndim: int) -> np.ndarray:
    """An unsigned-byte IDX file (optionally gzipped) → uint8 array; DataError naming the file when the
    file is missing, truncated, or not an IDX file of ``ndim`` dimensions."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise DataError(f"cannot read Fashion-MNIST file {path}: {type(err).__name__}: {err}") from None
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: {len(raw)} bytes, too short for an IDX header")
    magic = int.from_bytes(raw[:4], "big")
    if magic != IDX_MAGIC[ndim]:
        raise DataError(
            f"{path}: IDX magic number {magic}, expected {IDX_MAGIC[ndim]} ({ndim}-D unsigned bytes)"
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: header shape {shape} needs {expected} data bytes, the file has {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def find_file(directory: Path, gz_name: str) -> Path | None:
    """``directory/<name>.gz`` or the uncompressed ``directory/<name>``, whichever exists."""
    for candidate in (directory / gz_name, directory / gz_name[: -len(".gz")]):
        if candidate.is_file():
            return candidate
    return None


def locate(data_dir) -> Path:
    """The directory holding all four IDX files (``.gz`` or raw): ``data_dir``, else the Debian package's."""
    for directory in (Path(data_dir), SYSTEM_DIR):
        if all(find_file(directory, name) for name in FILES):
            return directory
    raise DataError(f"Fashion-MNIST IDX files not found in {data_dir} or {SYSTEM_DIR}")


def download(data_dir, base_url: str = BASE_URL) -> Path:
    """Fetch the four official ``.gz`` files into ``data_dir``, verifying each MD5; DataError offline."""
    root = Path(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    for name, md5 in FILES.items():
        target = root / name
        if target.is_file() and hashlib.md5(target.read_bytes()).hexdigest() == md5:
            continue
        try:
            files.download(base_url + name, target)
            digest = hashlib.md5(target.read_bytes()).hexdigest()
            if digest != md5:
                target.unlink()
                raise DataError(f"{base_url + name}: MD5 {digest} differs from the official {md5}")
        except DataError:
            raise
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise DataError(
                f"could not download {base_url + name} ({err}); install the Debian package dataset-fashion-mnist "
                f"or put the four IDX files ({', '.join(FILES)}) in {root} / point -data_dir or $FASHION_MNIST_DIR "
                f"at them"
            ) from None
    return root


def read_tfds() -> dict[str, np.ndarray]:
    """The optional ``tensorflow_datasets`` source (the original's); needs the package and its data."""
    import tensorflow_datasets as tfds

    out = {}
    for split, prefix in (("train", "train"), ("test", "test")):
        data = tfds.as_numpy(tfds.load("fashion_mnist", split=split, batch_size=-1))
        out[f"{prefix}_images"] = np.asarray(data["image"], dtype=np.uint8)[..., 0]
        out[f"{prefix}_labels"] = np.asarray(data["label"], dtype=np.uint8)
    return out


def load_raw(data_dir, source: str = "auto") -> tuple[dict[str, np.ndarray], str]:
    """``{train,test}_{images,labels}`` as uint8 ([n, 28, 28] / [n]) and a description of the source.

    ``source``: ``"idx"`` (data dir or Debian package, else download), ``"tfds"``, or ``"auto"`` (idx, and
    tfds when the IDX route fails and tensorflow-datasets is installed).
    """
    if source == "tfds":
        return read_tfds(), "tensorflow_datasets"
    try:
        try:
            directory = locate(data_dir)
        except DataError:
            directory = download(data_dir)
    except DataError:
        if source == "auto" and _has_tfds():
            return read_tfds(), "tensorflow_datasets"
        raise
    arrays = {}
    for key, name, ndim in (
        ("train_images", "train-images-idx3-ubyte.gz", 3),
        ("train_labels", "train-labels-idx1-ubyte.gz", 1),
        ("test_images", "t10k-images-idx3-ubyte.gz", 3),
        ("test_labels", "t10k-labels-idx1-ubyte.gz", 1),
    ):
        arrays[key] = read_idx(find_file(directory, name), ndim)
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
            raise DataError(
                f"Fashion-MNIST {split} files in {directory}: {images.shape} images vs {labels.shape} labels"
            )
        if labels.max(initial=0) > 9:
            raise DataError(f"Fashion-MNIST {split} labels in {directory} exceed 9")
    return arrays, str(directory)


def _has_tfds() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorflow_datasets") is not None
