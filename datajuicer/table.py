"""``Table``: pivot a grid into an N-dimensional table for visualisers (README "Tables and LaTeX").

Fixed relative to the original (README "Differences from the original", item 12): the grid is shallow-copied,
never deep-copied; the
caller's ``label_dict`` is never mutated (the table keeps its own copy, exposed as ``table.label_dict``);
synthetic axes get deterministic names ``__axis<i>__`` whose labels are registered (a ``Dummy_Var`` label is
``""``); ``Product_Var`` works and ``dim`` merges the *leading* axes into one product axis; axis values of
mixed types sort; ``order`` is a dict ``{key or label: [preferred values or labels]}`` (the newer form),
or, as in the older version, a list with one index permutation (or ``None``) per axis.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from datajuicer.template import get


def _same(a: Any, b: Any) -> bool:
    try:
        return a is b or bool(a == b)
    except (ValueError, TypeError):
        return False


def _sorted_unique(values: list) -> list:
    unique: list = []
    for v in values:
        if not any(_same(v, u) for u in unique):
            unique.append(v)
    try:
        return sorted(unique)
    except TypeError:  # mixed types / None: group by type name, then by value text
        return sorted(unique, key=lambda v: (v is not None, type(v).__name__, str(v)))


class Table:
    """Axes: one per independent key (plus synthetic ones); the last axis indexes ``dependent_keys``."""

    class Key_Var:
        """An axis over the values of one key (``get(element, key, key)``)."""

        def __init__(self, key: str):
            self.key, self.label = key, None

        def value(self, element: Mapping, labels: Mapping) -> Any:
            return get(element, self.key, self.key)

    class Deviation_Var:
        """An axis describing how an element deviates from ``default`` ("Standard" if it does not)."""

        def __init__(self, default: dict, label: str):
            self.default, self.label = default, label

        def value(self, element: Mapping, labels: Mapping) -> str:
            parts = []
            for key, want in self.default.items():
                have = get(element, key, want)  # a missing key is not a deviation
                if not _same(have, want):
                    text = f"{labels.get(key, key)} = {have}"
                    parts.append(labels.get(text, text))
            return ", ".join(parts) if parts else "Standard"

    class Product_Var:
        """One axis whose value joins ``"<label> = <value>"`` of several keys (or axes)."""

        def __init__(self, keys: list, label: str = ""):
            self.vars = [Table.Key_Var(k) if isinstance(k, str) else k for k in keys]
            self.label = label

        def value(self, element: Mapping, labels: Mapping) -> str:
            parts = []
            for var in self.vars:
                v = var.value(element, labels)
                parts.append(
                    f"{labels.get(var.key, var.key)} = {v}" if isinstance(var, Table.Key_Var) else str(v)
                )
            return ", ".join(parts)

    class Dummy_Var:
        """A padding axis with the single value ``""`` (used when ``dim`` exceeds the number of keys + 1)."""

        def __init__(self):
            self.label = ""

        def value(self, element: Mapping, labels: Mapping) -> str:
            return ""

    def __init__(self, grid, independent_keys, dependent_keys, label_dict=None, dim=None, order=None):
        grid = [grid] if isinstance(grid, Mapping) else list(grid)
        self.label_dict = dict(label_dict or {})
        self.dependent_keys = list(dependent_keys)
        variables = self._fit_dim(
            [Table.Key_Var(k) if isinstance(k, str) else k for k in independent_keys], dim
        )
        self.independent_keys = []
        for i, var in enumerate(variables):
            name = var.key if isinstance(var, Table.Key_Var) else f"__axis{i}__"
            if not isinstance(var, Table.Key_Var):
                self.label_dict[name] = var.label
            self.independent_keys.append(name)
        coords = [[var.value(e, self.label_dict) for var in variables] for e in grid]
        self.order = {k: _sorted_unique([c[a] for c in coords]) for a, k in enumerate(self.independent_keys)}
        self._apply_order(order)
        self._cells: dict[tuple, list] = {}
        for element, c in zip(grid, coords):
            idx = tuple(
                next(j for j, v in enumerate(self.order[k]) if _same(v, c[a]))
                for a, k in enumerate(self.independent_keys)
            )
            self._cells.setdefault(idx, []).append(element)

    @staticmethod
    def _fit_dim(variables: list, dim: int | None) -> list:
        if dim is None or len(variables) + 1 == dim:
            return variables
        if dim < 2:
            raise ValueError(f"Table: dim={dim} leaves no room for an independent axis")
        if len(variables) + 1 > dim:
            merged = len(variables) - dim + 2  # leading axes that become one product axis
            return [Table.Product_Var(variables[:merged])] + variables[merged:]
        return [Table.Dummy_Var() for _ in range(dim - len(variables) - 1)] + variables

    def _axis_of(self, key_or_label: Any) -> str | None:
        if key_or_label in self.independent_keys:
            return key_or_label
        return next((k for k in self.independent_keys if self.label_dict.get(k) == key_or_label), None)

    def _apply_order(self, order) -> None:
        if order is None:
            return
        if isinstance(order, Mapping):
            for key_or_label, preferred in order.items():
                axis = self._axis_of(key_or_label)
                if axis is None:
                    raise KeyError(f"Table order: {key_or_label!r} is not an independent key or its label")
                values = self.order[axis]
                first = [v for p in preferred for v in values if _same(v, p) or self._label(v) == p]
                first = [v for i, v in enumerate(first) if not any(_same(v, w) for w in first[:i])]
                self.order[axis] = first + [v for v in values if not any(_same(v, w) for w in first)]
        elif isinstance(order, (list, tuple)):
            for axis, perm in zip(self.independent_keys, order):
                if perm is not None:
                    self.order[axis] = [self.order[axis][i] for i in perm]
        else:
            raise TypeError(f"Table order must be a dict or a list of index permutations, got {type(order)}")

    def shape(self) -> list[int]:
        """``[number of values per independent axis] + [number of dependent keys]``."""
        return [len(self.order[k]) for k in self.independent_keys] + [len(self.dependent_keys)]

    def get_val(self, *indices: int) -> list | None:
        """The values of dependent key ``indices[-1]`` in the cell ``indices[:-1]`` (a list), or ``None``."""
        key = self.dependent_keys[indices[-1]]
        values = [
            get(e, key) for e in self._cells.get(tuple(indices[:-1]), []) if get(e, key, None) is not None
        ]
        return values or None

    def _label(self, key: Any) -> str:
        try:
            return str(self.label_dict.get(key, key))
        except TypeError:  # unhashable axis value
            return str(key)

    def get_label(self, axis: int, index: int | None = None) -> str:
        """Label of an axis (``index=None``) or of one of its values; ``axis == n_indep`` is the dependent axis."""
        if axis == len(self.independent_keys):
            return "" if index is None else self._label(self.dependent_keys[index])
        key = self.independent_keys[axis]
        return self._label(key) if index is None else self._label(self.order[key][index])
