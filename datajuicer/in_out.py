"""Result files: atomic writes, the default JSON saver/loader/checker, opt-in pickle (README "Lower-level
modules", "`@cachable`").

Callback signatures (the 3-parameter form the final original code calls):
``saver(sid, table, cache_dir, result)``, ``loader(sid, table, cache_dir) -> result``,
``checker(sid, table, cache_dir) -> bool``.

* The defaults (``easy_saver``/``easy_loader``/``easy_checker``, also named ``json_*``) write
  ``<cache_dir>/<table>_<sid>.json`` with the tagged JSON of :mod:`datajuicer.canonical` (tuples, sets,
  ``nan``/``inf`` and numpy arrays round-trip). A result with no JSON form raises ``TypeError``.
* ``pickle_saver``/``pickle_loader``/``pickle_checker`` are opt-in: unpickling a cache that came from
  somewhere else executes arbitrary code (README "`@cachable`": pickle is opt-in), which is why pickle is not
  the default.
* Checkers detect a truncated or corrupted file, **remove it** (with a warning) and return ``False``, so
  the engine recomputes exactly that entry. A checker's successful parse is handed to the loader that
  follows in the same thread, so a cache hit reads the file once.
* Every write goes to ``.<name>.<host>.<pid>.<random>.tmp`` in the same directory, is fsynced, then
  ``os.replace``-d over the target: readers never see a partial file (:func:`atomic_write`; the robustness
  package writes all its files through it too).
* Table names with characters outside ``[A-Za-z0-9_.-]`` get a slug plus a hash in file names
  (:func:`result_path`), so any table name is safe on disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import re
import secrets
import socket
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any, BinaryIO

from datajuicer import canonical
from datajuicer.claims import _pid_alive

_SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_memo = threading.local()  # (path, mtime_ns, size, value) of the last successful checker parse


def make_dir(path: str) -> None:
    """Create the directory that will contain file ``path`` (no-op for a bare file name)."""
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)


def safe_name(table: str) -> str:
    """``table`` if it is a plain file name, else ``<slug>-<sha256[:10]>`` (stable, collision-resistant)."""
    if _SAFE.fullmatch(table) and len(table) <= 100:
        return table
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", table).strip("._-")[:40] or "table"
    return f"{slug}-{hashlib.sha256(table.encode('utf-8')).hexdigest()[:10]}"


def result_path(cache_dir: str, table: str, sid: int, ext: str) -> str:
    """``<cache_dir>/<table>_<sid>.<ext>`` with the table made file-name safe."""
    return os.path.join(os.fspath(cache_dir), f"{safe_name(table)}_{int(sid)}.{ext}")


def atomic_write(path: str, write: Callable[[BinaryIO], Any]) -> None:
    """Write ``path`` atomically: ``write(handle)`` fills a temp file with a host+pid+random name in the same
    directory, which is fsynced and renamed over ``path`` (removed if anything fails)."""
    path = os.fspath(path)
    make_dir(path)
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}.{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


STALE_TMP_SECONDS = 3600.0  # a temporary file this old (or whose writer on this host is dead) is debris
_TMP = re.compile(r"\.(?P<name_host>.+)\.(?P<pid>\d+)\.[0-9a-f]{12}\.tmp")  # atomic_write's names


def is_stale_tmp(name: str, age_seconds: float, pid_alive: Callable[[int], bool]) -> bool:
    """Whether file ``name`` is a temporary file of :func:`atomic_write` that no writer will rename any more:
    its writer on this host is dead, or it is older than ``STALE_TMP_SECONDS``."""
    match = _TMP.fullmatch(name)
    if match is None:
        return False
    ours = match["name_host"].endswith("." + socket.gethostname())
    dead = ours and not pid_alive(int(match["pid"]))
    return dead or age_seconds > STALE_TMP_SECONDS


def remove_stale_tmp(directory: str) -> list[str]:
    """Remove the stale :func:`atomic_write` temporary files (a ``kill -9`` leaves them) in ``directory``
    and its subfolders one level down; returns the removed paths."""
    removed, now = [], time.time()
    folders = [directory] + [e.path for e in _scan(directory) if e.is_dir(follow_symlinks=False)]
    for folder in folders:
        for entry in _scan(folder):
            with contextlib.suppress(OSError):
                if entry.is_file() and is_stale_tmp(entry.name, now - entry.stat().st_mtime, _pid_alive):
                    os.remove(entry.path)
                    removed.append(entry.path)
    return removed


def _scan(directory: str) -> list:
    try:
        return list(os.scandir(directory))
    except OSError:
        return []


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str, value: Any) -> None:
    """Tagged JSON of ``value`` (see :mod:`datajuicer.canonical`), written atomically."""
    atomic_write_text(path, canonical.dumps(value))


def read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as fh:
        return canonical.loads(fh.read())


def _stamp(path: str) -> tuple:
    st = os.stat(path)
    return (path, st.st_mtime_ns, st.st_size)


def _check(path: str, parse: Callable[[str], Any]) -> bool:
    """True if ``path`` parses; a corrupted file is removed (warning) and gives False."""
    _memo.entry = None
    try:
        stamp = _stamp(path)
        value = parse(path)
    except FileNotFoundError:
        return False
    except Exception as err:  # noqa: BLE001 - any parse failure means the file is unusable, whatever the parser raised
        warnings.warn(
            f"datajuicer: removing corrupted cache file {path}: {type(err).__name__}: {err}",
            RuntimeWarning,
            stacklevel=3,
        )
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
        return False
    _memo.entry = (stamp, value)
    return True


def _load(path: str, parse: Callable[[str], Any]) -> Any:
    entry, _memo.entry = getattr(_memo, "entry", None), None
    if entry is not None and entry[0] == _stamp(path):
        return entry[1]
    return parse(path)


def _read_pickle(path: str) -> Any:
    with open(path, "rb") as fh:
        return pickle.load(fh)


def easy_saver(sid: int, table: str, cache_dir: str, result: Any) -> None:
    """Default saver: tagged JSON at ``<cache_dir>/<table>_<sid>.json`` (atomic)."""
    atomic_write_json(result_path(cache_dir, table, sid, "json"), result)


def easy_loader(sid: int, table: str, cache_dir: str) -> Any:
    """Default loader (pairs with :func:`easy_saver`)."""
    return _load(result_path(cache_dir, table, sid, "json"), read_json)


def easy_checker(sid: int, table: str, cache_dir: str) -> bool:
    """Default checker: the JSON file exists and parses; a corrupted one is removed."""
    return _check(result_path(cache_dir, table, sid, "json"), read_json)


def pickle_saver(sid: int, table: str, cache_dir: str, result: Any) -> None:
    """Opt-in pickle saver, ``<cache_dir>/<table>_<sid>.pickle``. Only load pickles you made yourself."""
    atomic_write_bytes(result_path(cache_dir, table, sid, "pickle"), pickle.dumps(result, protocol=4))


def pickle_loader(sid: int, table: str, cache_dir: str) -> Any:
    return _load(result_path(cache_dir, table, sid, "pickle"), _read_pickle)


def pickle_checker(sid: int, table: str, cache_dir: str) -> bool:
    return _check(result_path(cache_dir, table, sid, "pickle"), _read_pickle)


json_saver, json_loader, json_checker = easy_saver, easy_loader, easy_checker

# The loader and checker that go with a saver when ``cachable`` is not told (saver=None: nothing to load).
MATCHING = {easy_saver: (easy_loader, easy_checker), pickle_saver: (pickle_loader, pickle_checker)}


def write_meta(cache_dir: str, table: str, sid: int, meta: dict) -> str:
    """Metadata sidecar ``<table>_<sid>.meta.json`` (inputs, status, timing, commit); returns its path."""
    path = result_path(cache_dir, table, sid, "meta.json")
    atomic_write_json(path, meta)
    return path
