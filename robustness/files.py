"""Writing and reading the package's files: atomically, and as strict JSON with one NaN policy.

Every file is written through ``atomic_write`` (``datajuicer.in_out``, the repository's one implementation):
a uniquely named temporary file in the target's folder, fsynced, then renamed over the target, so a reader
never sees a partial file and a crash leaves the old one. JSON is strict: numpy values become Python
numbers, tuples lists, and a non-finite float (NaN, ±inf) is written as ``null`` — in model files, results
logs, checkpoint metadata, figure numbers and submission records alike.
"""

from __future__ import annotations

import json
import math
import shutil
import urllib.request
from pathlib import Path

import numpy as np

from datajuicer.in_out import atomic_write, atomic_write_bytes, remove_stale_tmp

__all__ = [
    "atomic_write",
    "atomic_write_bytes",
    "download",
    "dumps",
    "read_json",
    "to_jsonable",
    "write_json",
    "write_text",
]


def to_jsonable(obj):
    """numpy arrays/scalars → lists/Python numbers, tuples → lists, dict keys → str, NaN/±inf → None."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} as JSON: {obj!r}")


def dumps(obj, *, indent: int | None = None) -> str:
    """Strict JSON text of ``obj`` (see ``to_jsonable``); raises before anything is written."""
    return json.dumps(to_jsonable(obj), indent=indent, allow_nan=False)


def write_json(path, obj, *, indent: int | None = None) -> None:
    """``obj`` as strict JSON at ``path``, atomically (indented files end with a newline)."""
    text = dumps(obj, indent=indent) + ("\n" if indent is not None else "")
    atomic_write_bytes(path, text.encode("utf-8"))


def write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def download(url: str, target, *, timeout: float = 60) -> None:
    """Stream ``url`` into ``target`` atomically (the file appears whole or not at all, with the umask's
    mode). The temporary files of earlier downloads that were killed are removed first."""
    target = Path(target)
    remove_stale_tmp(str(target.parent))
    with urllib.request.urlopen(url, timeout=timeout) as response:
        atomic_write(str(target), lambda out: shutil.copyfileobj(response, out, length=1 << 20))


def read_json(path, what: str = "file"):
    """The parsed JSON at ``path``; FileNotFoundError / ValueError naming ``what`` and the path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"corrupt {what} {path}: {err}") from None
