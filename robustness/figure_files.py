"""Figure and table files: ``<name>.png``, ``<name>.pdf`` and ``<name>.json`` (every plotted number plus its
provenance), tables as ``<name>.md`` and ``<name>.tex``; all written atomically (``robustness.files``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from robustness import files, stats
from robustness.configs import FigureConfig, field_default
from robustness.provenance import provenance


def _label_profile(fig, profile: str) -> None:
    """A small grey "profile: <name>" in the lower right corner (replaced, not duplicated, on re-save)."""
    text = f"profile: {profile}"
    for artist in fig.texts:
        if artist.get_gid() == "profile-label":
            artist.set_text(text)
            return
    fig.text(0.995, 0.005, text, ha="right", va="bottom", fontsize=5, color="0.45", gid="profile-label")


def save_figure(
    fig,
    name: str,
    numbers: dict,
    *,
    out_dir,
    profile: str,
    session_ids=(),
    extra=None,
    dpi: int = field_default(FigureConfig, "dpi"),
) -> dict:
    """Save ``fig`` as ``<out_dir>/<name>.{png,pdf}`` (at ``dpi``, ``make_figures.py -dpi``) and its numbers
    as ``<name>.json``; return the paths.

    A small "profile: <profile>" label is added to the lower right corner so that a figure from a
    reduced run cannot be mistaken for the full one. The JSON is ``{"name", "numbers", "extra",
    "provenance"}`` (see ``robustness.provenance``); non-finite floats are stored as null.
    """
    out = Path(out_dir)
    payload = {
        "name": name,
        "numbers": numbers,
        "extra": extra or {},
        "provenance": provenance(profile, session_ids),
    }
    text = files.dumps(payload, indent=1) + "\n"  # fails before any file is written
    _label_profile(fig, profile)
    paths = {ext: out / f"{name}.{ext}" for ext in ("png", "pdf", "json")}
    for ext in ("png", "pdf"):
        files.atomic_write(paths[ext], lambda handle, ext=ext: fig.savefig(handle, format=ext, dpi=dpi))
    files.write_text(paths["json"], text)
    return paths


def save_table(name: str, header: Sequence, rows: Sequence[Sequence], *, out_dir) -> dict:
    """Write the table as ``<out_dir>/<name>.md`` (markdown) and ``<name>.tex`` (booktabs)."""
    out = Path(out_dir)
    paths = {"md": out / f"{name}.md", "tex": out / f"{name}.tex"}
    files.write_text(paths["md"], stats.markdown_table(header, rows))
    files.write_text(paths["tex"], stats.latex_table(header, rows))
    return paths
