"""The data layer the readers build on: the common :class:`Dataset` interface, ``DataError``, batching
helpers and the checked on-disk cache.

The readers (``TensorCommands/``, ``ECG/``, ``CNN/``) import this module and nothing of the model or
training code; they read their settings from any config-like object (duck-typed). Training batches are a
pure function of ``(seed, step)``, so resuming or training several seeds side by side sees identical
batches. ``robustness.data.load_dataset`` picks the reader of a config through the task registry.
"""

from __future__ import annotations

import abc
import hashlib
import json
import math
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

from robustness import files
from robustness.paths import REPO_ROOT

CACHE_ENV = "ROBUSTNESS_CACHE_DIR"
_META = "__meta__"


class DataError(RuntimeError):
    """Missing, truncated or malformed input data; the message names the file or directory."""


class Dataset(abc.ABC):
    """A preprocessed dataset: fixed validation/test arrays and a pure ``(seed, step) → batch`` function."""

    name: str
    n_classes: int
    input_shape: tuple
    n_train: int

    @abc.abstractmethod
    def train_batch(self, seed: int, step: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """x float32 ``[B, *input_shape]``, y int32 ``[B]``; a pure function of ``(seed, step)``."""

    @abc.abstractmethod
    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The full ``"validation"`` or ``"test"`` split: x float32 ``[N, *input_shape]``, y int32 ``[N]``."""

    @abc.abstractmethod
    def summary(self) -> dict:
        """Split sizes and per-class counts (JSON-able)."""

    def _check_split_name(self, name: str) -> None:
        if name not in ("validation", "test"):
            raise ValueError(f"unknown split {name!r}; use 'validation' or 'test'")


def class_counts(labels: np.ndarray, names: list[str]) -> dict[str, int]:
    """``{class name: count}`` for integer labels ``0..len(names)-1``."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(names))
    return {name: int(c) for name, c in zip(names, counts)}


# ------------------------------------------------------------------------------------------------
# Batching
# ------------------------------------------------------------------------------------------------


def epoch_batch_indices(seed: int, step: int, batch_size: int, n: int, stream: int) -> np.ndarray:
    """Indices of training batch ``step``: epoch-wise shuffled sequential batches (drop-last).

    Epoch ``e = step // (n // batch_size)`` is a permutation of ``range(n)`` from
    ``default_rng([stream, seed, e])``; the batch is slice ``step % steps`` of it. ``stream`` separates the
    data-order stream of a dataset from every other use of ``seed``.
    """
    if batch_size > n:
        raise ValueError(f"batch_size {batch_size} exceeds the {n} training examples")
    steps = n // batch_size
    epoch, i = divmod(int(step), steps)
    perm = np.random.default_rng([stream, int(seed), epoch]).permutation(n)
    return perm[i * batch_size : (i + 1) * batch_size]


def sklearn_split(n: int, test_size: float, random_state: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train_idx, test_idx)`` exactly as ``sklearn.model_selection.train_test_split(range(n), …)``.

    The original split its arrays with ``train_test_split(..., random_state=42)``; reusing the same
    permutation keeps the split index-for-index identical for an identically ordered input.
    """
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(np.arange(n), test_size=test_size, random_state=random_state)
    return np.asarray(train), np.asarray(test)


# ------------------------------------------------------------------------------------------------
# On-disk cache: one .npz per (kind, settings), written atomically, verified by SHA-256 on load
# ------------------------------------------------------------------------------------------------


def cache_root() -> Path:
    """``$ROBUSTNESS_CACHE_DIR`` or ``<repo>/.cache/data``."""
    return Path(os.environ.get(CACHE_ENV) or REPO_ROOT / ".cache" / "data")


def _normalise(settings: dict) -> dict:
    return json.loads(json.dumps(settings, sort_keys=True, default=str))


def cache_path(kind: str, settings: dict) -> Path:
    """The cache file of ``kind`` for these settings (key = SHA-256 of the canonical JSON)."""
    text = json.dumps(_normalise(settings), sort_keys=True)
    return cache_root() / f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:24]}.npz"


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).data).hexdigest()


def write_cache(path: Path, arrays: dict[str, np.ndarray], settings: dict) -> None:
    """Write ``arrays`` plus a metadata record (settings, SHA-256 per array) atomically to ``path``."""
    meta = {"settings": _normalise(settings), "digests": {k: _digest(v) for k, v in arrays.items()}}
    payload = dict(arrays)
    payload[_META] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    files.atomic_write(path, lambda handle: np.savez(handle, **payload))


def read_cache(path: Path, settings: dict) -> dict[str, np.ndarray] | None:
    """The arrays cached at ``path`` if intact and built with ``settings``, else None (with a warning
    when the file exists but is corrupt)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(archive[_META].tobytes().decode())
            if meta["settings"] != _normalise(settings):
                raise ValueError("settings differ from the file's key")
            arrays = {name: archive[name] for name in meta["digests"]}
        bad = [name for name, arr in arrays.items() if _digest(arr) != meta["digests"][name]]
        if bad:
            raise ValueError(f"checksum mismatch in {bad}")
        return arrays
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:  # rebuilt, never trusted
        warnings.warn(f"data cache {path} is corrupt ({type(err).__name__}: {err}); rebuilding", stacklevel=2)
        return None


def cached(kind: str, settings: dict, build) -> dict[str, np.ndarray]:
    """``build()`` (a dict of arrays) cached on disk under ``(kind, settings)``."""
    path = cache_path(kind, settings)
    arrays = read_cache(path, settings)
    if arrays is None:
        arrays = build()
        try:
            write_cache(path, arrays, settings)
        except OSError as err:  # a read-only cache dir must not stop training
            warnings.warn(f"could not write data cache {path}: {err}", stacklevel=2)
    return arrays


def file_manifest(paths, root: Path) -> list:
    """``[relative path, size, mtime_ns]`` per file: the cache key of data read from ``paths``."""
    out = []
    for path in paths:
        st = Path(path).stat()
        out.append([str(Path(path).relative_to(root)), st.st_size, st.st_mtime_ns])
    return out


def manifest_digest(manifest: list) -> str:
    return hashlib.sha256(json.dumps(manifest).encode()).hexdigest()


def ceil_percent(count: int, percentage: float) -> int:
    """``ceil(count · percentage / 100)`` as the original computed silence/unknown sizes."""
    return math.ceil(count * percentage / 100)
