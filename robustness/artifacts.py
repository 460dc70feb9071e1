"""Training artefacts in the original formats, written atomically as strict JSON (``robustness.files``).

- ``Resources/Models/{sid}_model.json``: ``{"params": flags + derived fields, "rng_key": [u32, u32],
  "theta": {name: nested lists}}`` (the original ``RNN.save`` / ``CNN.save`` format).
- ``Resources/TrainingResults/{sid}.json``: ``{key: [value, ...]}`` — one list per logged quantity (the
  original ``architectures.log`` format), rewritten whole and atomically at every log.
- ``Resources/Checkpoints/{sid}.npz``: resume state (params, optimiser state, step, best-so-far and the
  results log as of that step). Removed when training completes.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

from robustness import files
from robustness.configs import derived_fields, to_flags
from robustness.tasks import config_from_flags, get_task

SESSION_ID_RANGE = (1_000_000_000, 9_999_999_999)


def new_session_id() -> int:
    """A random 10-digit session id (private RNG: never touches the global ``random`` state)."""
    return random.SystemRandom().randint(*SESSION_ID_RANGE)


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
    files.write_json(path, {"params": flags, "rng_key": key, "theta": theta})
    return path


def load_model(resources_dir, sid):
    """Return ``(config, params, rng_key)`` of a saved model; a clear error if missing or corrupt."""
    path = model_path(resources_dir, sid)
    data = files.read_json(path, what="model file")
    try:
        flags, theta = data["params"], data["theta"]
        config = config_from_flags(flags)
        params = {k: np.asarray(v, dtype=np.float32) for k, v in theta.items()}
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"corrupt model file {path}: {err}") from None
    return config, params, np.asarray(data.get("rng_key", [0, 0]), np.uint32)


def load_parent(resources_dir, sid, architecture: str, template: dict) -> tuple[dict, int]:
    """``(θ, iterations trained)`` of the ``-init_from`` parent ``sid``: its model file must exist, be a
    model of ``architecture`` and hold exactly the tensors of ``template`` with the same shapes (clear
    errors otherwise). The iterations are the last ``validation_step`` of its results log (a validation
    ends every run of this repository); 0 for a log without one (the original code's)."""
    path = model_path(resources_dir, sid)
    if not path.exists():
        raise FileNotFoundError(f"-init_from={sid}: no model file {path}; train that session first")
    config, params, _ = load_model(resources_dir, sid)
    if config.architecture != architecture:
        raise ValueError(
            f"-init_from={sid}: {path} holds a {config.architecture} model, this run trains {architecture}"
        )
    want = {k: tuple(np.shape(v)) for k, v in template.items()}
    have = {k: tuple(v.shape) for k, v in params.items()}
    if want != have:
        diff = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
        detail = ", ".join(
            f"{k}: {have.get(k, 'missing')} in the file, {want.get(k, 'none')} here" for k in diff
        )
        raise ValueError(f"-init_from={sid}: the parameters of {path} do not fit this network ({detail})")
    try:
        steps = files.read_json(results_path(resources_dir, sid), what="training results").get(
            "validation_step"
        )
    except FileNotFoundError:
        steps = None
    return params, int(steps[-1]) if steps else 0


def write_results(resources_dir, sid, log: dict) -> None:
    files.write_json(results_path(resources_dir, sid), log)


def save_checkpoint(resources_dir, sid, *, arrays: dict, meta: dict) -> None:
    """``arrays``: name → numpy array; ``meta``: JSON-able state (step, best, log, ...)."""
    header = np.frombuffer(files.dumps(meta).encode(), np.uint8)
    files.atomic_write(
        checkpoint_path(resources_dir, sid), lambda handle: np.savez(handle, __meta__=header, **arrays)
    )


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


def remove_session(resources_dir, sid) -> list[Path]:
    """Delete session ``sid``'s model file, training results and checkpoint (a diverged run: nothing of it
    may count as a model or be resumed); returns the paths that existed."""
    found = [p for p in (model_path(resources_dir, sid), results_path(resources_dir, sid),
                         checkpoint_path(resources_dir, sid)) if p.exists()]  # fmt: skip
    for path in found:
        path.unlink(missing_ok=True)
    return found


OWN_KEYS = ("done", "training_loss", "validation_step")  # written only by this repository's training loop


def results_complete(resources_dir, sid, architecture: str | None = None) -> bool:
    """Whether session ``sid`` counts as trained; its model file must parse in every case.

    A results log of this repository (it has one of ``OWN_KEYS``) is complete only when it says ``done``
    (a killed run is resumed instead). A log written by the original code (none of those keys) is judged
    by the original's checker of ``architecture`` (``Task.original_min_logs``): speech any training
    accuracy, ECG more than 50 entries, the CNN at least 50; without ``architecture`` it is not accepted.
    """
    try:
        log = files.read_json(results_path(resources_dir, sid))
        if any(key in log for key in OWN_KEYS):
            done = bool(log.get("done") and log.get("training_accuracy"))
        else:
            done = architecture is not None and _original_checker(log, architecture)
        if done:
            files.read_json(model_path(resources_dir, sid))
        return done
    except (FileNotFoundError, ValueError):
        return False


def _original_checker(log: dict, architecture: str) -> bool:
    """The original's done-rule: the training accuracies (either spelling) number at least the task's
    ``original_min_logs``."""
    accuracies = log.get("training_accuracies", log.get("training_accuracy"))
    if not isinstance(accuracies, list):
        return False
    return len(accuracies) >= get_task(architecture).original_min_logs
