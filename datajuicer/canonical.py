"""Canonical JSON: one text per value, for cache keys (sha256) and for the default JSON result files.

Two encodings share one walker (README "`@cachable`", "Cache key"):

* **Key form** (``for_key=True``) is the identity of a dependency value. It is type-strict where JSON is:
  ``1``, ``1.0``, ``"1"`` and ``True`` are four different keys (the original aliased them through SQLite
  affinity). Tuples and lists are the same key (JSON has no tuple, and a config tuple must hit
  the entry made from a list parsed off a command line). Values with no faithful JSON form (functions,
  arbitrary objects) raise ``TypeError``: a dependency must be data.
* **Result form** (``for_key=False``) round-trips through :func:`loads`: tuples, sets, non-string dict keys,
  ``nan``/``inf`` and numpy arrays are tagged objects such as ``{"__tuple__": [...]}``.

numpy is never imported here unless an array is being decoded.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import math
import os
from typing import Any

_TAGS = ("__tuple__", "__set__", "__dict__", "__float__", "__ndarray__", "__dataclass__", "__enum__")


def _numpy_scalar(value: Any) -> Any:
    """numpy scalars become the Python scalar of the same kind; anything else is returned unchanged."""
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value


def _float(value: float) -> Any:
    if math.isfinite(value):
        return value
    return {"__float__": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}


def _mapping(value: dict, for_key: bool, path: str) -> Any:
    if all(isinstance(k, str) for k in value):
        out = {k: encode(v, for_key=for_key, path=f"{path}[{k!r}]") for k, v in value.items()}
        if len(out) != 1 or next(iter(out)) not in _TAGS:
            return out  # a user dict that looks like a tag falls through to the explicit item form
    items = [
        [encode(k, for_key=for_key, path=path), encode(v, for_key=for_key, path=f"{path}[{k!r}]")]
        for k, v in value.items()
    ]
    items.sort(key=lambda kv: dumps_canonical(kv[0]))
    return {"__dict__": items}


def _ndarray(value: Any, path: str) -> Any:
    if value.dtype.kind not in "biuf":
        raise TypeError(
            f"{path} is a numpy array of dtype {value.dtype}; only bool/int/float arrays are supported"
        )
    return {
        "__ndarray__": {
            "dtype": str(value.dtype),
            "shape": list(value.shape),
            "data": [_float(x) if isinstance(x, float) else x for x in value.ravel().tolist()],
        }
    }


def encode(value: Any, *, for_key: bool = False, path: str = "value") -> Any:
    """The JSON-able form of ``value`` (see module docstring); ``path`` names the value in errors."""
    value = _numpy_scalar(value)
    if value is None or isinstance(value, (bool, int, str)):
        return str(value) if isinstance(value, str) else value  # str() drops str subclasses (Literal)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, (list, tuple)):
        items = [encode(v, for_key=for_key, path=f"{path}[{i}]") for i, v in enumerate(value)]
        return items if (for_key or isinstance(value, list)) else {"__tuple__": items}
    if isinstance(value, dict):
        return _mapping(value, for_key, path)
    if isinstance(value, (set, frozenset)):
        items = [encode(v, for_key=for_key, path=path) for v in value]
        return {"__set__": sorted(items, key=dumps_canonical)}
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, enum.Enum):
        return {"__enum__": f"{type(value).__qualname__}.{value.name}"}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return {
            "__dataclass__": type(value).__qualname__,
            "fields": encode(fields, for_key=for_key, path=path),
        }
    if type(value).__module__ == "numpy" and hasattr(value, "dtype") and hasattr(value, "shape"):
        return _ndarray(value, path)
    raise TypeError(
        f"{path} has type {type(value).__module__}.{type(value).__qualname__}, which has no canonical JSON "
        "form; pass data (numbers, strings, lists, dicts, numpy arrays), or leave it out of the dependencies"
    )


def dumps_canonical(obj: Any) -> str:
    """Deterministic JSON text of an already-encoded object (sorted keys, no spaces, no NaN tokens)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(value: Any, path: str = "value") -> str:
    """The key form of ``value`` as text: equal text ⇔ same cache entry."""
    return dumps_canonical(encode(value, for_key=True, path=path))


def cache_key(table: str, version: str, dependencies: dict) -> str:
    """sha256 (hex) of the canonical JSON of (table, version, dependency values)."""
    deps = encode(dependencies, for_key=True, path="dependencies")
    text = dumps_canonical({"table": table, "version": version, "dependencies": deps})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def dumps(value: Any) -> str:
    """Result form as JSON text (readable by :func:`loads`)."""
    return json.dumps(encode(value), allow_nan=False, ensure_ascii=False)


def _decode_tag(tag: str, body: Any, obj: dict) -> Any:
    if tag == "__tuple__":
        return tuple(decode(v) for v in body)
    if tag == "__set__":
        return {decode(v) for v in body}
    if tag == "__dict__":
        return {decode(k): decode(v) for k, v in body}
    if tag == "__float__":
        return float(body)
    if tag == "__ndarray__":
        import numpy as np  # only needed when an array was stored

        data = [decode(x) for x in body["data"]]
        return np.asarray(data, dtype=body["dtype"]).reshape(body["shape"])
    return {k: decode(v) for k, v in obj.items()}  # __dataclass__/__enum__: kept as the plain tagged dict


def decode(obj: Any) -> Any:
    """Inverse of :func:`encode` (result form) on parsed JSON."""
    if isinstance(obj, list):
        return [decode(v) for v in obj]
    if isinstance(obj, dict):
        tag = next(iter(obj)) if obj else None
        if tag in _TAGS and (len(obj) == 1 or tag in ("__dataclass__",)):
            return _decode_tag(tag, obj[tag], obj)
        return {k: decode(v) for k, v in obj.items()}
    return obj


def loads(text: str) -> Any:
    """Parse JSON written by :func:`dumps`."""
    return decode(json.loads(text))
