"""Pieces the tasks' figure_main panels share. Drawing goes through the figure and axes objects passed in
(no pyplot here, so importing a task never loads a plotting backend).

A panel's numbers (``robustness.reductions.panel_numbers``): ``x`` (the examples), ``labels``,
``class_names`` and per method (``standard``, ``robust``) the predictions under one mismatch draw (or, with
``simulated``, the original's random ones: ``reductions.simulated_panel``).
"""

from __future__ import annotations

ROWS = (("Robust", "robust"), ("Standard", "standard"))  # row label, method: top row robust


def frame(ax, panel: dict, predictions: list | None, i: int, title: bool) -> None:
    """Green frame: the prediction under mismatch is right; red: wrong (title: true → predicted class).
    ``predictions`` None (a simulated panel of a task whose original showed none): a grey frame, the class."""
    ax.set(xticks=[], yticks=[])
    names = panel["class_names"]
    if predictions is None:
        color, text = "0.6", names[panel["labels"][i]]
    else:
        right = predictions[i] == panel["labels"][i]
        color = "#2ca02c" if right else "#d62728"
        text = f"{names[panel['labels'][i]]} → {names[predictions[i]]}"
    for spine in ax.spines.values():
        spine.set(visible=True, color=color, linewidth=1.2)
    if title:
        ax.set_title(text, fontsize=5, pad=1)


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
