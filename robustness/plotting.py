"""Drawing shared by the figures: the house style, the method colours and seaborn split violins.

Nothing happens on import: ``use_style()`` (called by ``make_figures.py``) selects the headless Agg
backend and applies ``STYLE``; files are written by ``robustness.figure_files``.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

# the original's split-violin colours (docs/original.md §5.2)
STANDARD_COLOR, ROBUST_COLOR = "#4c84e6", "#6ea3ff"
STYLE = {
    "text.usetex": False,  # the original required a LaTeX install; mathtext covers our labels
    "font.family": "sans-serif",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "lines.markersize": 4.0,
    "image.cmap": "RdBu",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.bbox": "tight",
}

__all__ = ["ROBUST_COLOR", "STANDARD_COLOR", "STYLE", "mean_lines", "plt", "split_violin", "use_style"]


def use_style() -> None:
    """Headless rendering (Agg: no display, also on the cluster and in CI) in the figures' style."""
    matplotlib.use("Agg")
    plt.rcParams.update(STYLE)


def split_violin(
    ax,
    data_left: Sequence,
    data_right: Sequence,
    positions: Sequence,
    colors=(STANDARD_COLOR, ROBUST_COLOR),
    labels=("Standard", "Robust"),
    legend: bool = False,
):
    """Seaborn split violins (docs/original.md §5.2): per position, left half = ``data_left[i]``, right =
    ``data_right[i]``.

    ``inner="quartile"``, ``cut=0`` (no density beyond the data), widths scaled to the same maximum
    (``density_norm="width"``), y-limits [0, 1] (accuracies). ``positions`` label the categories in
    order (e.g. the mismatch levels). Returns ``ax``.
    """
    if not len(data_left) == len(data_right) == len(positions):
        raise ValueError(
            f"split_violin: {len(data_left)} left, {len(data_right)} right samples, {len(positions)} positions"
        )
    frames = []
    for pos, left, right in zip(positions, data_left, data_right, strict=True):
        for label, values in ((labels[0], left), (labels[1], right)):
            values = np.asarray(values, dtype=float).ravel()
            frames.append(pd.DataFrame({"position": str(pos), "value": values, "method": label}))
    sns.violinplot(
        data=pd.concat(frames, ignore_index=True),
        x="position",
        y="value",
        hue="method",
        order=[str(p) for p in positions],
        hue_order=list(labels),
        palette=dict(zip(labels, colors, strict=True)),
        split=True,
        inner="quartile",
        cut=0,
        density_norm="width",
        linewidth=0.6,
        legend=legend,
        ax=ax,
    )
    ax.set_ylim(0.0, 1.0)
    return ax


def mean_lines(ax, values: Sequence[float], colors: Sequence[str], labels: Sequence[str] = (), **kw):
    """Horizontal reference lines, e.g. mean(acc_σ)/mean(acc_0) per method (docs/original.md §5.2:
    red/green)."""
    labels = list(labels) or [None] * len(values)
    style = {"linewidth": 0.8, "linestyle": "--"} | kw
    return [
        ax.axhline(v, color=c, label=lab, **style) for v, c, lab in zip(values, colors, labels, strict=True)
    ]
