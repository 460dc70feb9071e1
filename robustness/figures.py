"""Figure pieces the Experiments share: where figures go, saving a figure with its table, training curves,
comparison violins and figure_main's task panels (each task draws its own, ``robustness.tasks``)."""

from __future__ import annotations

from pathlib import Path

from robustness import stats
from robustness.configs import FigureConfig, to_flags
from robustness.figure_files import save_figure, save_table
from robustness.paths import RESOURCES, Dirs
from robustness.plotting import plt, split_violin
from robustness.profiles import get_profile
from robustness.reductions import session_ids
from robustness.tasks import get_task


def figure_dir(profile: str, out_dir=None, resources_dir=RESOURCES) -> Path:
    """``out_dir``, else ``<resources_dir>/Figures`` for the full profile and ``<resources_dir>/Figures/<profile>``
    for a reduced one (a quick figure never overwrites a full one)."""
    if out_dir is not None:
        return Path(out_dir)
    base = Path(resources_dir) / "Figures"
    return base / profile if get_profile(profile).reduced else base


def save(
    fig, name, numbers, *, profile, out_dir, dirs: Dirs, models, table=None, extra=None, figure_config=None
) -> dict:
    """Save the figure (+ ``<name>_table.md/.tex``) in ``figure_dir`` at ``figure_config.dpi``, print the
    table; the numbers, the table, the models' session ids and the ``figure_config`` (``make_figures.py``'s
    drawing flags) go to ``<name>.json``. Returns the numbers."""
    figure_config = FigureConfig() if figure_config is None else figure_config
    extra = {**(extra or {}), "figure_config": to_flags(figure_config)}
    out = figure_dir(profile, out_dir, dirs.resources_dir)
    if table is not None:
        header, rows = table
        numbers = {**numbers, "table": {"header": header, "rows": rows}}
        save_table(f"{name}_table", header, rows, out_dir=out)
        print(f"\n{name} ({profile}):\n{stats.markdown_table(header, rows)}", flush=True)
    paths = save_figure(
        fig, name, numbers, out_dir=out, profile=profile, session_ids=session_ids(models), extra=extra,
        dpi=figure_config.dpi,
    )  # fmt: skip
    plt.close(fig)
    print(f"wrote {', '.join(str(p) for p in paths.values())}", flush=True)
    return numbers


def plot_curves(ax, raw: list, sm: dict, color: str, label: str, alpha: float = 0.3) -> None:
    """Seeds faint (raw α/3, moving average α), the mean of the moving averages bold (``reductions.smoothed``)."""
    for r, m in zip(raw, sm["per_seed"]):
        ax.plot(r, color=color, alpha=alpha / 3, lw=0.6)
        ax.plot(m, color=color, alpha=alpha, lw=0.8, label=None)
    ax.plot(sm["mean"], color=color, lw=1.6, label=label)


def comparison_violins(
    ax, levels: list[dict], names=("standard", "robust"), labels=("Standard", "Robust"), legend=False
):
    """Split violins of the σ > 0 entries of ``reductions.compare_levels``: left ``names[0]``, right ``names[1]``."""
    shown = levels[1:]
    data = [[level[n]["values"] for level in shown] for n in names]
    split_violin(ax, *data, [level["sigma"] for level in shown], labels=labels, legend=legend)


def draw_panel(fig, cell, architecture: str, panel: dict) -> None:
    """figure_main's top panel of one task (``reductions.panel_numbers``), drawn by the task."""
    get_task(architecture).draw_panel(fig, cell, panel)
