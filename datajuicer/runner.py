"""``run``: apply a function to every element of a grid, with templated arguments and caching (README
"`run`").

Differences from the original, all deliberate (README "Differences from the original"):

* keyword-argument templates are formatted per element (bug 1); ``store_key`` works for plain functions
  too (bug 2); the returned elements of a cachable call always carry ``session_id`` (bug 4);
* ``store_key="*"`` merges nothing for a ``None`` result; stored strings are :class:`Literal` and never
  template-expanded later (a loaded ``"{train({*})}"`` stays text);
* unknown ``run_mode``/``cache_mode`` values raise ``ValueError``;
* every element is attempted; afterwards the first failure (in grid order) is re-raised with a note
  naming its index and the indices of all failures;
* elements that another process is computing are deferred to a second pass, so two processes running
  the same grid share the work instead of queueing behind each other;
* the result is a :class:`RunResult` (a ``list``) whose ``outcomes``/``session_ids`` say, per grid
  element, what happened.
"""

from __future__ import annotations

import concurrent.futures
import copy
import functools
import os
from collections.abc import Callable, Mapping
from typing import Any

from datajuicer import cache
from datajuicer.template import Literal, TemplateError, format_template, get

RUN_MODES = ("normal", "force", "load", "load_any")
CACHE_MODES = ("normal", "no_save")


class NOMODEL:
    """Sentinel for "no valid session" in ``run_mode="load_any"``; such elements are dropped."""


class RunResult(list):
    """The list ``run`` returns, plus per-grid-element ``outcomes`` and ``session_ids``.

    Outcomes: ``called`` (plain function), ``computed`` (new session), ``recomputed`` (an earlier session
    of the same key that was failed, dead or rejected by the checker, recomputed under its id), ``loaded``,
    ``missing`` (``load_any`` found nothing; the element is not in the list).
    """

    def __init__(self, values=(), outcomes=(), session_ids=()):
        super().__init__(values)
        self.outcomes: list[str] = list(outcomes)
        self.session_ids: list[int | None] = list(session_ids)

    def counts(self) -> dict[str, int]:
        """``{outcome: number of elements}``, e.g. ``{"computed": 3, "loaded": 7}``."""
        out: dict[str, int] = {}
        for outcome in self.outcomes:
            out[outcome] = out.get(outcome, 0) + 1
        return out


def _literal(value: Any) -> Any:
    return Literal(value) if type(value) is str else value


def _store(data: dict, ret: Any, store_key: str | None, index: int, name: str) -> Any:
    if store_key is None:
        return ret
    if store_key == "*":
        if ret is None:
            return data
        if not isinstance(ret, Mapping):
            raise TypeError(
                f"store_key='*' needs a dict result, but {name} returned a {type(ret).__name__} "
                f"for element {index}"
            )
        data.update({k: _literal(v) for k, v in ret.items()})
        return data
    data[store_key] = _literal(ret)
    return data


def _resolve_func(data: dict, func: Any, index: int) -> Callable:
    if not isinstance(func, str):
        return func
    value = get(data, func)
    if not callable(value):
        raise TypeError(
            f"run: func key {func!r} gives a {type(value).__name__}, not a callable, for element {index}"
        )
    return value


def _one(grid: list, func: Any, args: tuple, kwargs: dict, opts: dict, blocking: bool, index: int):
    """Run one element: ``(value, outcome, sid)`` or :data:`cache.DEFER`."""
    element = grid[index]
    if not isinstance(element, Mapping):
        raise TypeError(f"grid element {index} is a {type(element).__name__}, not a dict")
    data = copy.copy(element)
    try:
        f = _resolve_func(data, func, index)
        fargs = [format_template(data, a) if type(a) is str else a for a in args]
        fkwargs = {k: (format_template(data, v) if type(v) is str else v) for k, v in kwargs.items()}
    except TemplateError as err:
        err.index = index
        raise
    name = getattr(f, "__name__", repr(f))
    if not cache.is_cachable(f):
        return _store(data, f(*fargs, **fkwargs), opts["store_key"], index, name), "called", None
    result = cache.cached_call(
        f,
        fargs,
        fkwargs,
        data,
        index=index,
        run_mode=opts["run_mode"],
        cache_mode=opts["cache_mode"],
        cache_dir=opts["cache_dir"],
        blocking=blocking,
    )
    if result is cache.DEFER:
        return result
    outcome, sid, ret = result
    if outcome == "missing":
        return NOMODEL, outcome, None
    data["session_id"] = sid
    return _store(data, ret, opts["store_key"], index, name), outcome, sid


def _execute(indices: list[int], task: Callable, n_threads: int) -> dict[int, tuple[bool, Any]]:
    """``{index: (ok, result or exception)}``; every index runs even if others fail."""

    def safe(i: int) -> tuple[bool, Any]:
        try:
            return True, task(i)
        except Exception as err:  # noqa: BLE001 - collected and re-raised by _raise_first
            return False, err

    if n_threads == 1 or len(indices) <= 1:
        return {i: safe(i) for i in indices}
    with concurrent.futures.ThreadPoolExecutor(max_workers=n_threads) as pool:
        futures = {i: pool.submit(safe, i) for i in indices}
    return {i: f.result() for i, f in futures.items()}


def _raise_first(errors: dict[int, Exception], n: int, name: str) -> None:
    first = min(errors)
    err = errors[first]
    err.datajuicer_index = first  # type: ignore[attr-defined]
    err.add_note(
        f"datajuicer.run({name}): element {first} of {n} failed; failed elements: {sorted(errors)} "
        "(all other elements ran)"
    )
    raise err


def _run_grid(grid: Any, func: Any, args: tuple, kwargs: dict, opts: dict) -> RunResult:
    grid = [grid] if isinstance(grid, Mapping) else list(grid)
    done: dict[int, tuple] = {}
    errors: dict[int, Exception] = {}
    pending = list(range(len(grid)))
    for blocking in (False, True):  # first pass defers elements other processes are computing
        outcomes = _execute(
            pending, functools.partial(_one, grid, func, args, kwargs, opts, blocking), opts["n_threads"]
        )
        pending = []
        for i, (ok, res) in sorted(outcomes.items()):
            if not ok:
                errors[i] = res
            elif res is cache.DEFER:
                pending.append(i)
            else:
                done[i] = res
    if errors:
        _raise_first(errors, len(grid), getattr(func, "__name__", repr(func)))
    ordered = [done[i] for i in range(len(grid))]
    return RunResult(
        [v for v, _, _ in ordered if v is not NOMODEL], [o for _, o, _ in ordered], [s for _, _, s in ordered]
    )


def run(
    grid, func, n_threads=1, run_mode="normal", cache_mode="normal", cache_dir="Sessions/", store_key=None
):
    """Return ``runner(*args, **kwargs)`` that calls ``func`` once per grid element (README "`run`").

    ``func``: a callable or a key naming one in each element. String arguments are templates formatted
    against the element (``"{*}"`` passes the element itself). Cachable functions (``@cachable``) are looked
    up in / stored to ``<cache_dir>/sessions.db`` according to ``run_mode`` (normal | force | load |
    load_any) and ``cache_mode`` (normal | no_save). ``store_key``: ``None`` returns the results; ``"*"``
    merges a dict result into a copy of the element; any other string stores the result under that key.
    ``n_threads > 1`` uses a thread pool (results stay in grid order). Returns a :class:`RunResult`.
    """
    if run_mode not in RUN_MODES:
        raise ValueError(f"run_mode={run_mode!r}: expected one of {RUN_MODES}")
    if cache_mode not in CACHE_MODES:
        raise ValueError(f"cache_mode={cache_mode!r}: expected one of {CACHE_MODES}")
    if not isinstance(n_threads, int) or n_threads < 1:
        raise ValueError(f"n_threads={n_threads!r}: expected an int >= 1")
    if store_key is not None and not isinstance(store_key, str):
        raise TypeError(f"store_key={store_key!r}: expected None, '*' or a key name")

    def runner(*args, **kwargs) -> RunResult:
        opts = {
            "run_mode": run_mode,
            "cache_mode": cache_mode,
            "store_key": store_key,
            "n_threads": n_threads,
            "cache_dir": os.path.abspath(os.fspath(cache_dir)),
        }
        return _run_grid(grid, func, args, kwargs, opts)

    return runner
