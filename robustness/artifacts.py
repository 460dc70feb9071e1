"""Training artefacts in the original formats, written atomically.

- ``Resources/Models/{sid}_model.json``: ``{"params": flags + derived fields, "rng_key": [u32, u32],
  "theta": {name: nested lists}}`` (the original ``RNN.save`` / ``CNN.save`` format).
- ``Resources/TrainingResults/{sid}.json``: ``{key: [value, ...]}`` — one list per logged quantity (the
  original ``architectures.log`` format), rewritten whole and atomically at every log.
- ``Resources/Checkpoints/{sid}.npz``: resume state (params, optimiser state, step, best-so-far and the
  results log as of that step). Removed when training completes.
"""

from __future__ import annotations

import io
import json
import os
import random
import socket
import tempfile
from pathlib import Path

import numpy as np

from robustness.configs import derived_fields, to_flags
from robustness.tasks import config_from_flags

SESSION_ID_RANGE = (1_000_000_000, 9_999_999_999)


def new_session_id() -> int:
    """A random 10-digit session id (private RNG: never touches the global ``random`` state)."""
    return random.SystemRandom().randint(*SESSION_ID_RANGE)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a uniquely named temporary file in the same directory + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.{socket.gethostname()}.{os.getpid()}."
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON-serialisable: {type(value)}")


def atomic_write_json(path, obj) -> None:
    # NaN/inf are written as the strings the original used ("NaN"), keeping the file valid JSON.
    text = json.dumps(_sanitize(obj), default=_json_default)
    atomic_write_bytes(path, text.encode())


def _sanitize(obj):
    if isinstance(obj, float) and not np.isfinite(obj):
        return "NaN" if np.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, dict):
        return {k: _sanitize(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_sanitize(v) for v in obj]
    return obj


def model_path(resources_dir, sid) -> Path:
    return Path(resources_dir) / "Models" / f"{sid}_model.json"


def results_path(resources_dir, sid) -> Path:
    return Path(resources_dir) / "TrainingResults" / f"{sid}.json"


def checkpoint_path(resources_dir, sid) -> Path:
    return Path(resources_dir) / "Checkpoints" / f"{sid}.npz"


def save_model(resources_dir, sid, config, params, rng_key) -> Path:
    """Write the model JSON: all flags + derived fields, the JAX key and the parameters."""
    flags = {**to_flags(config), **derived_fields(config), "session_id": int(sid)}
    theta = {name: np.asarray(value).tolist() for name, value in params.items()}
    key = np.asarray(rng_key).astype(np.uint32).ravel().tolist()
    path = model_path(resources_dir, sid)
    atomic_write_json(path, {"params": flags, "rng_key": key, "theta": theta})
    return path


def load_model(resources_dir, sid):
    """Return ``(config, params, rng_key)`` of a saved model; a clear error if missing or corrupt."""
    path = model_path(resources_dir, sid)
    data = read_json(path, what="model file")
    try:
        flags, theta = data["params"], data["theta"]
        config = config_from_flags(flags)
        params = {k: np.asarray(v, dtype=np.float32) for k, v in theta.items()}
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"corrupt model file {path}: {err}") from None
    return config, params, np.asarray(data.get("rng_key", [0, 0]), np.uint32)


def read_json(path, what="file"):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"corrupt {what} {path}: {err}") from None


def write_results(resources_dir, sid, log: dict) -> None:
    atomic_write_json(results_path(resources_dir, sid), log)


def save_checkpoint(resources_dir, sid, *, arrays: dict, meta: dict) -> None:
    """``arrays``: name → numpy array; ``meta``: JSON-able state (step, best, log, ...)."""
    buf = io.BytesIO()
    np.savez(buf, __meta__=np.frombuffer(json.dumps(_sanitize(meta)).encode(), np.uint8), **arrays)
    atomic_write_bytes(checkpoint_path(resources_dir, sid), buf.getvalue())


def load_checkpoint(resources_dir, sid):
    """``(arrays, meta)`` or ``None`` when there is no checkpoint; a corrupt one raises with its path."""
    path = checkpoint_path(resources_dir, sid)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files if k != "__meta__"}
            meta = json.loads(npz["__meta__"].tobytes().decode())
    except Exception as err:  # zipfile/ValueError/KeyError: all mean "unreadable checkpoint"
        raise ValueError(f"corrupt checkpoint {path}: {err}; delete it to restart from scratch") from None
    return arrays, meta


def remove_checkpoint(resources_dir, sid) -> None:
    checkpoint_path(resources_dir, sid).unlink(missing_ok=True)


def results_complete(resources_dir, sid) -> bool:
    """True when the results log says training finished and the model file parses."""
    try:
        log = read_json(results_path(resources_dir, sid))
        if not (log.get("done") and log.get("training_accuracy")):
            return False
        read_json(model_path(resources_dir, sid))
        return True
    except (FileNotFoundError, ValueError):
        return False
