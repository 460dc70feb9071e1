"""``@cachable`` and the per-element cache algorithm (README "`@cachable`"), concurrency-safe.

One element of a ``run`` over a cachable function:

1. Bind the formatted arguments, resolve the dependencies (``"name"`` or ``"arg:key"``) and hash them
   with the table name and the function's ``version`` into the cache key (:func:`canonical.cache_key`).
2. Unless ``run_mode="force"``: rows with this key and ``status='done'`` are checked newest first; the
   first one the checker accepts is loaded (``loader``; ``None`` gives ``None``). A loader that raises
   counts as invalid (warning) and the search goes on.
3. Otherwise, in one ``BEGIN IMMEDIATE`` transaction, the element is **claimed**: if another live process
   is computing it, we wait (or, in ``run``'s first pass, defer it) and then load its result; else the
   newest existing row is reused (**same session id**: a failed, dead or checker-rejected entry is
   recomputed in place) or a new row with a fresh 10-digit id is inserted. ``force`` always inserts.
4. ``data["session_id"] = sid``; the function runs while a heartbeat keeps the claim alive; the saver
   writes the result; the row becomes ``done`` (or ``failed`` with the error) and a metadata sidecar
   ``<table>_<sid>.meta.json`` is written.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import secrets
import socket
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from datajuicer import canonical, claims, database, in_out
from datajuicer.template import TemplateError, get

_AUTO = object()
DEFER = object()  # "another live process computes this element; come back later"
_local = threading.local()


class NoSessionError(LookupError):
    """``run_mode="load"`` found no valid session; the message names the element and its dependencies."""


@dataclasses.dataclass(frozen=True)
class SessionInfo:
    """What a cachable function may learn about its own call via :func:`current_session`."""

    session_id: int
    table: str
    version: str
    cache_key: str
    dependencies: dict
    cache_dir: str
    index: int
    reused: bool  # True: an earlier row for the same key is recomputed under its session id
    previous_status: str | None  # that row's status before (done = the checker rejected it, failed, running)


def current_session() -> SessionInfo | None:
    """The session being computed by the calling thread (inside a cachable function run by ``run``)."""
    return getattr(_local, "info", None)


def cachable(
    dependencies=None, saver=in_out.easy_saver, loader=_AUTO, checker=_AUTO, table_name=None, version="0"
):
    """Mark a function as cachable by ``run`` (README "`@cachable`"); returns the same function with
    attributes.

    ``dependencies``: parameter names or ``"arg:key"`` (``key`` is a ``get`` key on that argument, e.g.
    ``"model:{architecture}_session_id"``; a numeric key indexes a list). Default: all parameters.
    ``version``: a salt of the cache key; bump it when the function's output changes.
    ``loader``/``checker`` default to the saver's partners; with ``saver=None`` both default to ``None``
    (the database row alone records completion). Called directly, the function does no caching.
    """

    def decorate(func: Callable) -> Callable:
        params = inspect.signature(func).parameters
        deps = list(params) if dependencies is None else list(dependencies)
        _validate_dependencies(func, deps, params)
        func.table_name = database.check_table_name(func.__name__ if table_name is None else table_name)
        func.dependencies = deps
        func.saver = saver
        func.loader, func.checker = _partners(func, saver, loader, checker)
        func.version = str(version)
        return func

    return decorate


def _partners(func: Callable, saver, loader, checker) -> tuple:
    if saver is None:
        default = (None, None)
    elif saver in in_out.MATCHING:
        default = in_out.MATCHING[saver]
    elif loader is _AUTO or checker is _AUTO:
        raise ValueError(f"@cachable on {func.__name__}: a custom saver needs an explicit loader and checker")
    else:
        default = (None, None)
    return (default[0] if loader is _AUTO else loader), (default[1] if checker is _AUTO else checker)


def _validate_dependencies(func: Callable, deps: list, params: Mapping) -> None:
    for dep in deps:
        arg = dep.split(":", 1)[0] if isinstance(dep, str) else None
        if arg not in params:
            raise ValueError(
                f"@cachable on {func.__name__}: dependency {dep!r} does not name a parameter; "
                f"parameters are {list(params)}"
            )
    if len(set(deps)) != len(deps):
        raise ValueError(f"@cachable on {func.__name__}: duplicate dependencies in {deps}")


def is_cachable(func: Any) -> bool:
    return hasattr(func, "table_name") and hasattr(func, "dependencies")


def _dependency_value(value: Any, key: str) -> Any:
    """``get(value, key)``; a numeric key indexes a list (or an int-keyed dict) — README "Differences from the
    original", item 6."""
    if key.isdigit():
        if isinstance(value, Sequence) and not isinstance(value, str):
            return value[int(key)]
        if isinstance(value, Mapping) and key not in value:
            return value[int(key)]
    return get(value, key)


def resolve_dependencies(func: Callable, args: list, kwargs: dict, index: int) -> dict:
    """``{dependency name: value}`` for one call; errors name the function, the element and the dependency."""
    try:
        bound = inspect.signature(func).bind(*args, **kwargs)
    except TypeError as err:
        raise TypeError(f"{func.__name__} (element {index}): cannot bind the arguments: {err}") from None
    bound.apply_defaults()
    deps = {}
    for dep in func.dependencies:
        arg, _, key = dep.partition(":")
        try:
            deps[dep] = _dependency_value(bound.arguments[arg], key) if key else bound.arguments[arg]
        except TemplateError as err:
            err.index = index
            raise
        except (KeyError, IndexError, TypeError) as err:
            raise KeyError(f"{func.__name__} (element {index}): dependency {dep!r}: {err!r}") from None
    return deps


class _Element:
    """Everything about one element's cached call (kept together so the steps below stay small)."""

    def __init__(self, func, args, kwargs, data, index, cache_dir):
        self.func, self.args, self.kwargs, self.data, self.index = func, args, kwargs, data, index
        self.table, self.version, self.cache_dir = func.table_name, func.version, cache_dir
        self.db = os.path.join(cache_dir, "sessions.db")
        self.deps = resolve_dependencies(func, args, kwargs, index)
        try:
            self.key = canonical.cache_key(self.table, self.version, self.deps)
            self.deps_json = canonical.canonical_json(self.deps)
        except TypeError as err:
            raise TypeError(f"{func.__name__} (element {index}): {err}") from None
        self.rejected: dict[int, str] = {}  # session id -> why it was not usable
        self.rows: list[dict] = []

    def describe(self) -> str:
        return (
            f"element {self.index} of table {self.table!r} (version {self.version!r}, cache_dir "
            f"{self.cache_dir!r}) with dependencies {self.deps_json}"
        )


def _find_valid(el: _Element) -> tuple[int, Any] | None:
    """(sid, loaded value) of the newest done row the checker accepts, or None."""
    with database.reading(el.db) as conn:
        rows = el.rows = database.session_rows(conn, el.table, el.key)
    for row in rows:
        sid = row["session_id"]
        if row["status"] != "done" or sid in el.rejected:
            continue
        checker = el.func.checker
        if checker is not None and not checker(sid, el.table, el.cache_dir):
            el.rejected[sid] = "the checker rejected it"
            continue
        if el.func.loader is None:
            return sid, None
        try:
            return sid, el.func.loader(sid, el.table, el.cache_dir)
        except Exception as err:  # noqa: BLE001 - any loader failure: recompute (joblib policy)
            warnings.warn(
                f"datajuicer: loading session {sid} ({el.describe()}) failed, recomputing: "
                f"{type(err).__name__}: {err}",
                RuntimeWarning,
                stacklevel=2,
            )
            el.rejected[sid] = f"the loader raised {type(err).__name__}: {err}"
    return None


def _new_sid(conn, table: str) -> int:
    while True:  # 9e9 ids: a collision is rare, but it must be a retry, not a crash (README "Concurrency")
        sid = 1_000_000_000 + secrets.randbelow(9_000_000_000)
        if database.register_session_id(conn, table, sid):
            return sid


def _claim(el: _Element, force: bool) -> tuple[str, int | None, str | None]:
    """("claimed", sid, previous status or None) | ("wait", sid, None) | ("recheck", None, None)."""
    owner, now = claims.owner_id(), time.time()
    fields = {
        "status": "running",
        "owner": owner,
        "heartbeat": now,
        "start_time": int(now * 1000),
        "end_time": None,
        "error": None,
        "git_commit": claims.git_commit(),
    }
    with database.transaction(el.db) as conn:
        database.ensure_session_table(conn, el.table)
        rows = [] if force else database.session_rows(conn, el.table, el.key)
        if any(r["status"] == "done" and r["session_id"] not in el.rejected for r in rows):
            return "recheck", None, None
        running = [r for r in rows if r["status"] == "running"]
        live = [r for r in running if claims.is_alive(r["owner"], r["heartbeat"], now)]
        if live:
            return "wait", live[0]["session_id"], None
        for r in running:  # dead owners; the newest row is reused below, older ones are closed
            if r is not rows[0]:
                database.update_session(
                    conn, el.table, r["session_id"], {"status": "failed", "error": f"owner {r['owner']} died"}
                )
        if rows:
            sid = rows[0]["session_id"]
            database.update_session(conn, el.table, sid, fields)
            return "claimed", sid, rows[0]["status"]
        sid = _new_sid(conn, el.table)
        row = {"session_id": sid, "cache_key": el.key, "version": el.version, "dependencies": el.deps_json}
        database.insert_session(conn, el.table, {**row, **fields})
        return "claimed", sid, None


def _finish(el: _Element, sid: int, status: str, error: str | None) -> None:
    end = int(time.time() * 1000)
    owner = claims.owner_id()
    with database.transaction(el.db) as conn:
        changed = database.update_session(
            conn, el.table, sid, {"status": status, "end_time": end, "error": error}, owner=owner
        )
        row = dict(
            conn.execute(
                f"SELECT * FROM {database.quote_ident(el.table)} WHERE session_id = ?", [sid]
            ).fetchone()
        )
    if not changed:
        warnings.warn(
            f"datajuicer: the claim on session {sid} ({el.describe()}) was taken over by "
            f"{row['owner']} while this process computed it",
            RuntimeWarning,
            stacklevel=3,
        )
        return
    meta = {
        **row,
        "dependencies": el.deps,
        "host": socket.gethostname(),
        "table": el.table,
        "duration_s": (end - row["start_time"]) / 1000.0,
    }
    in_out.write_meta(el.cache_dir, el.table, sid, meta)


def _compute(el: _Element, sid: int, save: bool, previous: str | None, reused: bool) -> Any:
    el.data["session_id"] = sid  # "{*}" passed this very dict: the function sees its session id
    info = SessionInfo(sid, el.table, el.version, el.key, el.deps, el.cache_dir, el.index, reused, previous)
    outer, _local.info = current_session(), info
    if save:
        claims.hold(el.db, el.table, sid, claims.owner_id())
    try:
        ret = el.func(*el.args, **el.kwargs)
        if save and el.func.saver is not None:
            el.func.saver(sid, el.table, el.cache_dir, ret)
    except BaseException as err:
        if save:
            claims.release(el.db, el.table, sid)
            _finish(el, sid, "failed", "".join(traceback.format_exception_only(err)).strip())
        raise
    finally:
        _local.info = outer
    if save:
        claims.release(el.db, el.table, sid)
        _finish(el, sid, "done", None)
    return ret


def cached_call(func, args, kwargs, data, *, index, run_mode, cache_mode, cache_dir, blocking):
    """One element: ``(outcome, sid, value)`` with outcome loaded | computed | recomputed | missing, or
    :data:`DEFER` when ``blocking`` is False and another process holds the claim."""
    el = _Element(func, args, kwargs, data, index, cache_dir)
    if run_mode != "force" and (hit := _find_valid(el)) is not None:
        return ("loaded", *hit)
    if run_mode == "load":
        reasons = (
            "; ".join(
                f"session {r['session_id']}: {el.rejected.get(r['session_id'], r['status'])}" for r in el.rows
            )
            or "no session recorded"
        )
        raise NoSessionError(f"run_mode='load': no valid session for {el.describe()} ({reasons})")
    if run_mode == "load_any":
        return "missing", None, None
    if cache_mode == "no_save":
        sid = 1_000_000_000 + secrets.randbelow(9_000_000_000)
        return "computed", sid, _compute(el, sid, save=False, previous=None, reused=False)
    while True:
        verdict, sid, previous = _claim(el, force=run_mode == "force")
        if verdict == "claimed":
            value = _compute(el, sid, save=True, previous=previous, reused=previous is not None)
            return ("recomputed" if previous is not None else "computed"), sid, value
        if verdict == "wait":
            if not blocking:
                return DEFER
            claims.wait_while_running(el.db, el.table, sid, el.describe())
        if (hit := _find_valid(el)) is not None:
            return ("loaded", *hit)
