r"""``visualizer`` and ``latex`` (README "Tables and LaTeX").

``@visualizer(dim)`` turns ``f(table, **kw)`` into ``g(grid, independent_keys, dependent_keys,
label_dict=None, order=None, **kw)``, which builds a :class:`~datajuicer.table.Table` and calls ``f``.

``latex`` (``dim=4``) renders a booktabs tabular: axis 0 = section header rows, axis 1 = column groups,
axis 2 = rows, axis 3 = dependent keys as sub-columns. Fixed relative to the original: a missing cell is
``missing`` (default an en dash), never ``-1``; without ``bold_order`` nothing is bold and ``decimals`` is
honoured; bold marks the best of the *present* values; a cell with several values shows the first one
(as the newer original did). The plot-style constants (``METHOD_COLORS`` …) are figure styling and live
with the project's plotting code, not here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from datajuicer.table import Table


def visualizer(dim: int | None = None) -> Callable:
    """Decorator: build ``Table(grid, independent_keys, dependent_keys, label_dict, dim, order)`` for ``f``."""

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(grid, independent_keys, dependent_keys, label_dict=None, order=None, **kwargs):
            return func(Table(grid, independent_keys, dependent_keys, label_dict, dim, order), **kwargs)

        return wrapper

    return decorate


def _formatter(decimals: int, missing: str) -> Callable[[Any], str]:
    def fmt(value: Any) -> str:
        if isinstance(value, list):
            value = value[0] if value else None
        if value is None:
            return missing
        if isinstance(value, float):
            return f"{value:.{decimals}f}"
        if isinstance(value, str):
            return value.replace("_", r"\_")
        return str(value)

    return fmt


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _bold(rows: list[list[str]], bold_order: list | None) -> list[list[str]]:
    """Wrap the best present value of each sub-column (per ``bold_order[i]``) across column groups."""
    if bold_order is None:
        return rows
    out = [list(r) for r in rows]
    for i, pick in enumerate(bold_order):
        numbers = [n for r in rows if (n := _number(r[i])) is not None]
        if not numbers:
            continue
        best = pick(numbers)
        for r, o in zip(rows, out):
            if _number(r[i]) == best:
                o[i] = r"\bf{" + r[i] + "}"
    return out


def _section(table: Table, i0: int, relevant: list[int], padding: str, fmt, bold_order) -> str:
    shape = table.shape()
    n_sub = shape[3]
    text = "".join(
        r"&& \multicolumn{" + str(n_sub) + "}{l}{" + fmt(table.get_label(1, i)) + "} " for i in relevant
    )
    rules = "".join(
        r"\cmidrule(r){" + f"{i * (n_sub + 1) + 3}-{(i + 1) * (n_sub + 1) + 1}" + "}"
        for i in range(len(relevant))
    )
    text += padding + r"\\" + rules + "\n"
    if n_sub > 1:
        subs = " & ".join(fmt(table.get_label(3, i)) for i in range(n_sub))
        text += fmt(table.get_label(2)) + (" && " + subs) * len(relevant) + padding + r" \\" + "\n"
    for i2 in range(shape[2]):
        cells = [[table.get_val(i0, i1, i2, i3) for i3 in range(n_sub)] for i1 in relevant]
        if all(c is None for row in cells for c in row):
            continue
        rows = _bold([[fmt(c) for c in row] for row in cells], bold_order)
        text += (
            fmt(table.get_label(2, i2))
            + "".join(" && " + " & ".join(r) for r in rows)
            + padding
            + r"\\"
            + "\n"
        )
    return text


@visualizer(dim=4)
def latex(table: Table, decimals: int = 2, bold_order: list | None = None, missing: str = "–") -> str:
    r"""A booktabs ``tabular`` wrapped in ``\resizebox{\columnwidth}{!}{…}`` (see the module docstring)."""
    shape = table.shape()
    fmt = _formatter(decimals, missing)
    relevant = []
    for i0 in range(shape[0]):
        present = {
            i1
            for i1 in range(shape[1])
            for i2 in range(shape[2])
            for i3 in range(shape[3])
            if table.get_val(i0, i1, i2, i3) is not None
        }
        relevant.append(sorted(present))
    diff = [shape[1] - len(r) for r in relevant]
    mdiff = min(diff, default=0)
    cols = "lc" + "c".join(["l" * shape[3]] * (shape[1] - mdiff))
    text = r"\resizebox{\columnwidth}{!}{%" + "\n" + r"\begin{tabular}{" + cols + "}\n" + r"\toprule" + "\n"
    for i0 in range(shape[0]):
        if i0 > 0:
            text += r"\midrule" + " \n"
        text += (
            r"\multicolumn{"
            + str(len(cols))
            + r"}{l}{\bfseries "
            + fmt(table.get_label(0, i0))
            + r"}\\"
            + "\n"
        )
        padding = " & " * ((diff[i0] - mdiff) * (shape[3] + 1))
        text += _section(table, i0, relevant[i0], padding, fmt, bold_order)
    return text + r"\bottomrule" + "\n" + r"\end{tabular}%" + "\n}"
