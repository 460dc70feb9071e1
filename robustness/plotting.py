"""Shared figure utilities: headless style, provenance-carrying artefacts, split violins (style.md G8–G9).

Every figure is saved by ``save_figure`` as ``<name>.png``, ``<name>.pdf`` and ``<name>.json``; the JSON
holds every plotted number plus provenance (profile, session ids, git commit, versions, time). Tables
are saved by ``save_table`` as ``<name>.md`` and ``<name>.tex``. All files are written atomically.
Importing this module selects the Agg backend and applies ``STYLE`` (no LaTeX, no ``plt.show``).
"""

import contextlib
import json
import math
import os
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: figures are rendered headless, also on the cluster and in CI
import matplotlib.pyplot as plt
import numpy as np

from robustness import stats
from robustness.paths import REPO_ROOT

STANDARD_COLOR, ROBUST_COLOR = "#4c84e6", "#6ea3ff"  # the original's split-violin colours (spec §5.2)
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
plt.rcParams.update(STYLE)
_VERSIONED = ("numpy", "scipy", "jax", "jaxlib", "matplotlib", "seaborn", "scikit-learn")


# ---------------------------------------------------------------------------------------------- I/O


def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Write through ``write(tmp_path)`` into a temp file next to ``path``, then ``os.replace`` it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; artefacts are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _write_text(path: Path, text: str) -> None:
    _atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def to_jsonable(obj):
    """numpy arrays/scalars → lists/Python numbers, tuples → lists, NaN/±inf → None (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a figure's numbers JSON: {obj!r}")


def code_version() -> dict:
    """``{"git_commit": <HEAD sha or "unknown">, "git_dirty": bool | None}`` of the repository.

    ``git_dirty`` is True when *tracked* files differ from HEAD (untracked outputs such as figures do
    not count); None outside a git checkout.
    """
    try:
        # check=False: a non-zero exit (not a checkout) is handled below, not raised.
        run = {"cwd": REPO_ROOT, "capture_output": True, "text": True}
        head = subprocess.run(["git", "rev-parse", "HEAD"], check=False, **run)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], check=False, **run)
    except OSError:  # no git executable
        return {"git_commit": "unknown", "git_dirty": None}
    if head.returncode != 0 or status.returncode != 0:  # not a git checkout (e.g. an exported tarball)
        return {"git_commit": "unknown", "git_dirty": None}
    return {"git_commit": head.stdout.strip(), "git_dirty": bool(status.stdout.strip())}


def _versions() -> dict:
    found = {}
    for name in _VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def provenance(profile: str, session_ids: Sequence = ()) -> dict:
    """The provenance block every figure/number file carries."""
    return {
        "profile": profile,
        "session_ids": [str(s) for s in session_ids],
        **code_version(),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": _versions(),
    }


def _label_profile(fig, profile: str) -> None:
    """A small grey "profile: <name>" in the lower right corner (replaced, not duplicated, on re-save)."""
    text = f"profile: {profile}"
    for artist in fig.texts:
        if artist.get_gid() == "profile-label":
            artist.set_text(text)
            return
    fig.text(0.995, 0.005, text, ha="right", va="bottom", fontsize=5, color="0.45", gid="profile-label")


def save_figure(
    fig, name: str, numbers: dict, *, out_dir, profile: str, session_ids=(), extra=None, dpi: int = 300
) -> dict:
    """Save ``fig`` as ``<out_dir>/<name>.{png,pdf}`` and its numbers as ``<name>.json``; return the paths.

    A small "profile: <profile>" label is added to the lower right corner so that a figure from a
    reduced run cannot be mistaken for the full one. The JSON is ``{"name", "numbers", "extra",
    "provenance"}`` (see ``provenance``); non-finite floats are stored as null.
    """
    out = Path(out_dir)
    payload = {"name": name, "numbers": to_jsonable(numbers), "extra": to_jsonable(extra or {})}
    payload["provenance"] = provenance(profile, session_ids)
    text = json.dumps(payload, indent=1, allow_nan=False) + "\n"  # fail before any file is written
    _label_profile(fig, profile)
    paths = {ext: out / f"{name}.{ext}" for ext in ("png", "pdf", "json")}
    for ext in ("png", "pdf"):
        _atomic_write(paths[ext], lambda tmp, ext=ext: fig.savefig(tmp, format=ext, dpi=dpi))
    _write_text(paths["json"], text)
    return paths


def save_table(name: str, header: Sequence, rows: Sequence[Sequence], *, out_dir) -> dict:
    """Write the table as ``<out_dir>/<name>.md`` (markdown) and ``<name>.tex`` (booktabs)."""
    out = Path(out_dir)
    paths = {"md": out / f"{name}.md", "tex": out / f"{name}.tex"}
    _write_text(paths["md"], stats.markdown_table(header, rows))
    _write_text(paths["tex"], stats.latex_table(header, rows))
    return paths


# ------------------------------------------------------------------------------------------- panels


def split_violin(
    ax,
    data_left: Sequence,
    data_right: Sequence,
    positions: Sequence,
    colors=(STANDARD_COLOR, ROBUST_COLOR),
    labels=("Standard", "Robust"),
    legend: bool = False,
):
    """Seaborn split violins (spec §5.2): per position, left half = ``data_left[i]``, right = ``data_right[i]``.

    ``inner="quartile"``, ``cut=0`` (no density beyond the data), widths scaled to the same maximum
    (``density_norm="width"``), y-limits [0, 1] (accuracies). ``positions`` label the categories in
    order (e.g. the mismatch levels). Returns ``ax``.
    """
    import pandas as pd  # imported lazily: only violin figures need pandas/seaborn
    import seaborn as sns

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
    """Horizontal reference lines, e.g. mean(acc_σ)/mean(acc_0) per method (spec §5.2: red/green)."""
    labels = list(labels) or [None] * len(values)
    style = {"linewidth": 0.8, "linestyle": "--"} | kw
    return [
        ax.axhline(v, color=c, label=lab, **style) for v, c, lab in zip(values, colors, labels, strict=True)
    ]
