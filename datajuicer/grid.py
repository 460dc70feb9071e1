"""Grid operations: ``split``, ``configure``, ``query``, ``reduce_keys``, ``make_unique`` (README "Grids").

A grid is a list of dicts (a single dict is accepted and wrapped). Nothing here mutates its input: every
function returns new lists of shallow copies.

``where`` filters (``{key: value}``, all must hold, values read with ``get`` so templates resolve) treat an
element that **lacks** a key as a non-match, so heterogeneous grids work (README "Differences from the
original", item 7). A key missing
from *every* element of a non-empty grid is an error (``KeyError``): that is almost always a typo.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from datajuicer import canonical
from datajuicer.template import get

_MISSING = object()


def _as_grid(grid: Any) -> list:
    return [grid] if isinstance(grid, Mapping) else list(grid)


def _same(a: Any, b: Any) -> bool:
    """``a == b`` that tolerates arrays (falls back to identity when ``==`` is not a plain bool)."""
    if a is b:
        return True
    try:
        return bool(a == b)
    except (ValueError, TypeError):
        return False


def _value(element: Mapping, key: str) -> Any:
    return get(element, key, _MISSING)


def _check_keys(grid: list, keys, what: str) -> None:
    for key in keys:
        if grid and all(_value(e, key) is _MISSING for e in grid):
            raise KeyError(
                f"{what}: key {key!r} is in no element of the grid (a typo?); "
                f"keys of the first element: {list(grid[0])}"
            )


def _matches(element: Mapping, where: Mapping) -> bool:
    for key, want in where.items():
        have = _value(element, key)
        if have is _MISSING or not _same(have, want):
            return False
    return True


def split(grid, key, values, where=None) -> list:
    """One copy per value (``key`` set to it) of each element matching ``where``; element-major order."""
    grid, where = _as_grid(grid), dict(where or {})
    _check_keys(grid, where, "split where")
    out = []
    for element in grid:
        if _matches(element, where):
            out.extend({**element, key: value} for value in values)
        else:
            out.append(copy.copy(element))
    return out


def configure(grid, dictionary, where=None) -> list:
    """Copies of the grid with ``dictionary``'s items set (raw, unformatted) on elements matching ``where``."""
    grid, where = _as_grid(grid), dict(where or {})
    _check_keys(grid, where, "configure where")
    return [{**element, **dictionary} if _matches(element, where) else copy.copy(element) for element in grid]


def _group_index(groups: list[dict], group: dict) -> int | None:
    for i, existing in enumerate(groups):
        if all(_same(existing[k], group[k]) for k in group):
            return i
    return None


def _collect(matched: list, select, group_by: list) -> tuple[list[dict], list[dict]]:
    """Group ``matched`` (first-seen order) and list each selected key's values per group."""
    groups: list[dict] = []
    values: list[dict] = []
    for element in matched:
        group = {k: get(element, k, None) for k in group_by}
        i = _group_index(groups, group)
        if i is None:
            groups.append(group)
            values.append({})
            i = len(groups) - 1
        for key in select:
            value = _value(element, key)
            if value is not _MISSING:
                values[i].setdefault(key, []).append(value)
    return groups, values


def _reduce(values: dict, keys: list, reduction, flatten: bool) -> dict:
    out = {}
    for key in keys:
        if isinstance(reduction, Mapping):
            reduced = {name: fn(values.get(key, [])) for name, fn in reduction.items()}
        else:
            reduced = reduction(values.get(key, []))
        if flatten and isinstance(reduced, Mapping):
            out.update({f"{key}_{name}": v for name, v in reduced.items()})
        else:
            out[key] = reduced
    return out


def _identity(values: list) -> list:
    return values


def query(
    grid, select, where=None, group_by=None, reduction=_identity, return_func=False, flatten_reductions=False
):
    """Select values from the elements matching ``where``, grouped and reduced (README "Grids").

    ``select``: one key (each group collapses to its value list, unless ``flatten_reductions``), a list of
    keys (a dict per group), or ``"*"`` (the keys every element of the group has). Elements lacking a
    selected key contribute nothing to it. ``reduction``: a function of the value list, or ``{name: fn}``
    (``flatten_reductions`` turns those into keys ``<key>_<name>``). Returns, without ``group_by``, the one
    group's result (no match: ``[]`` / ``{key: []}``, or ``LookupError`` if a reduction was asked for);
    with ``group_by``: ``(groups, results)``, or with ``return_func`` a lookup ``f(group_dict)``.
    """
    grid, where = _as_grid(grid), dict(where or {})
    group_by = [group_by] if isinstance(group_by, str) else list(group_by or [])
    _check_keys(grid, where, "query where")
    matched = [e for e in grid if _matches(e, where)]
    single = isinstance(select, str) and select != "*" and not flatten_reductions
    if select == "*":
        keys = [k for k in (matched[0] if matched else []) if all(k in e for e in matched)]
    else:
        keys = [select] if isinstance(select, str) else list(select)
        _check_keys(matched, keys, "query select")
    groups, values = _collect(matched, keys, group_by)
    results = [_reduce(v, keys, reduction, flatten_reductions) for v in values]
    if single:
        results = [r[keys[0]] for r in results]
    if not group_by:
        if results:
            return results[0]
        if reduction is not _identity:
            raise LookupError(f"query: no element matches where={where}; nothing to reduce")
        return [] if single else {k: [] for k in keys}
    if return_func:
        return _lookup_function(groups, results)
    return groups, results


def _lookup_function(groups: list[dict], results: list) -> Callable[[Mapping], Any]:
    def lookup(group: Mapping) -> Any:
        i = _group_index(groups, {k: group[k] for k in groups[0]} if groups else {})
        if i is None:
            raise KeyError(f"query: no group {dict(group)}; groups are {groups}")
        return results[i]

    return lookup


def reduce_keys(grid, keys, reduction, where=None, group_by=None) -> list[dict]:
    """``[{**group, **reduced}]``: reduce ``keys`` over elements that agree on ``group_by`` (README "Grids").

    ``group_by=None`` groups by every other key that all elements have (keys of the first element first).
    """
    grid = _as_grid(grid)
    if not grid:
        return []
    reduced = [keys] if isinstance(keys, str) else list(keys)
    if group_by is None:
        group_by = [k for k in grid[0] if k not in reduced and all(k in e for e in grid)]
    groups, results = query(
        grid, reduced, where=where, group_by=group_by, reduction=reduction, flatten_reductions=True
    )
    return [{**group, **result} for group, result in zip(groups, results)]


def _identity_key(value: Any) -> str:
    """Text identity of a grid value for ``make_unique``: data by canonical JSON, functions by name."""
    if callable(value) and hasattr(value, "__qualname__"):
        table = f"@{value.table_name}:{value.version}" if hasattr(value, "table_name") else ""
        return f"<callable {getattr(value, '__module__', '')}.{value.__qualname__}{table}>"
    try:
        return canonical.canonical_json(value)
    except TypeError:
        return f"<object {type(value).__qualname__} id={id(value)}>"  # never equal to anything else


def make_unique(grid, keys=None) -> list:
    """Shallow copies of the grid without duplicates (first occurrence kept, order preserved; README "Grids").

    Two elements are duplicates when they have the same keys (or, with ``keys``, the same values for those
    keys) and equal values: data compared type-strictly by canonical JSON, callables by module and
    qualified name (two ``make()`` calls give equal ``train`` closures), other objects never equal.
    """
    seen: set[str] = set()
    out = []
    for element in _as_grid(grid):
        names = sorted(element, key=str) if keys is None else list(keys)
        ident = canonical.dumps_canonical([[str(k), _identity_key(element.get(k, _MISSING))] for k in names])
        if ident not in seen:
            seen.add(ident)
            out.append(copy.copy(element))
    return out
