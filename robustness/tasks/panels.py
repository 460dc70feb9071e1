"""Pieces the tasks' figure_main panels share. Drawing goes through the figure and axes objects passed in
(no pyplot here, so importing a task never loads a plotting backend).

A panel's numbers (``robustness.reductions.panel_numbers``): ``x`` (the examples), ``labels``,
``class_names`` and per method (``standard``, ``robust``) the predictions under one mismatch draw.
"""

from __future__ import annotations

ROWS = (("Robust", "robust"), ("Standard", "standard"))  # row label, method: top row robust


def frame(ax, panel: dict, predictions: list, i: int, title: bool) -> None:
    """Green frame: the prediction under mismatch is right; red: wrong (title: true → predicted class)."""
    right = predictions[i] == panel["labels"][i]
    ax.set(xticks=[], yticks=[])
    for spine in ax.spines.values():
        spine.set(visible=True, color="#2ca02c" if right else "#d62728", linewidth=1.2)
    if title:
        names = panel["class_names"]
        ax.set_title(f"{names[panel['labels'][i]]} → {names[predictions[i]]}", fontsize=5, pad=1)


def example_grid(fig, cell, panel: dict, cols: int, draw_example, titles: bool) -> None:
    """Rows Robust / Standard of the examples, ``cols`` per row, each drawn by ``draw_example(ax, i)`` and
    framed by the correctness of that model's prediction under mismatch."""
    n = len(panel["labels"])
    per_method = n // cols
    inner = cell.subgridspec(2 * per_method, cols, wspace=0.06, hspace=0.3)
    for r, (name, method) in enumerate(ROWS):
        predictions = panel[method]["mismatch"]
        for i in range(n):
            ax = fig.add_subplot(inner[r * per_method + i // cols, i % cols])
            draw_example(ax, i)
            frame(ax, panel, predictions, i, title=titles)
            if i == 0:
                ax.set_ylabel(name, fontsize=6)
