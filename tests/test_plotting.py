"""Figures: artefact files (robustness.figure_files), exact JSON round trip, provenance, atomic writes
(robustness.files), the style, split violins (robustness.plotting)."""

import json
import re
import subprocess
import sys

import matplotlib
import matplotlib.image
import numpy as np
import pytest

from robustness import figure_files, files, plotting, provenance, stats
from robustness.plotting import plt


@pytest.fixture
def line_figure():
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1, 2], [0.1, 0.9, 0.4], color="C1")
    yield fig
    plt.close(fig)


def test_style_is_applied_by_the_entry_point_not_on_import():
    code = "import matplotlib, robustness.plotting as p; print(matplotlib.rcParams['font.size'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert float(out) == matplotlib.rcParamsDefault["font.size"] != plotting.STYLE["font.size"]  # untouched
    with matplotlib.rc_context():
        plotting.use_style()
        assert matplotlib.get_backend().lower() == "agg"
        assert plt.rcParams["text.usetex"] is False and plt.rcParams["font.size"] == 8


def test_save_figure_writes_three_files_and_round_trips_numbers(tmp_path, line_figure):
    numbers = {
        "acc": np.array([0.1, 1 / 3, 0.9123456789012345]),
        "mean": np.float64(2 / 3),
        "n": np.int64(500),
        "levels": (0.5, 0.7),
        "nested": {"ci": [np.float32(0.25), float("nan")]},
    }
    paths = figure_files.save_figure(
        line_figure,
        "fig_x",
        numbers,
        out_dir=tmp_path,
        profile="quick",
        session_ids=[1234567890],
        extra={"k": 1},
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig_x.json", "fig_x.pdf", "fig_x.png"]
    assert {k: p.name for k, p in paths.items()} == {
        "png": "fig_x.png",
        "pdf": "fig_x.pdf",
        "json": "fig_x.json",
    }
    saved = json.loads(paths["json"].read_text())
    assert saved["numbers"]["acc"] == [0.1, 1 / 3, 0.9123456789012345]  # exact, not approximately
    assert saved["numbers"]["mean"] == 2 / 3 and saved["numbers"]["n"] == 500
    assert saved["numbers"]["levels"] == [0.5, 0.7]
    assert saved["numbers"]["nested"]["ci"] == [0.25, None]  # NaN is stored as null (strict JSON)
    assert saved["extra"] == {"k": 1} and saved["name"] == "fig_x"
    prov = saved["provenance"]
    assert prov["profile"] == "quick" and prov["session_ids"] == ["1234567890"]
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", prov["git_commit"])
    assert prov["versions"]["numpy"] == np.__version__
    assert paths["pdf"].read_bytes()[:5] == b"%PDF-"


def test_png_is_valid_and_not_blank(tmp_path, line_figure):
    path = figure_files.save_figure(line_figure, "f", {}, out_dir=tmp_path, profile="full")["png"]
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 50 and pixels.shape[1] > 50
    assert np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0).shape[0] > 10  # not a single colour
    assert [t.get_text() for t in line_figure.texts] == ["profile: full"]
    figure_files.save_figure(line_figure, "f", {}, out_dir=tmp_path, profile="quick")  # re-save: relabelled
    assert [t.get_text() for t in line_figure.texts] == ["profile: quick"]


def test_unserialisable_numbers_write_nothing(tmp_path, line_figure):
    with pytest.raises(TypeError, match="cannot store object"):
        figure_files.save_figure(line_figure, "f", {"bad": object()}, out_dir=tmp_path, profile="full")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_failure_leaves_no_temp_file_and_keeps_old_content(tmp_path):
    target = tmp_path / "table.md"
    target.write_text("old")

    def broken(handle):
        handle.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        files.atomic_write(target, broken)
    assert [p.name for p in tmp_path.iterdir()] == ["table.md"] and target.read_text() == "old"


def test_save_table_writes_markdown_and_latex(tmp_path):
    header, rows = ["σ", "Standard", "Robust"], [[0.5, "80.00 ± 1.00", "85.00 ± 1.00"]]
    paths = figure_files.save_table("tab", header, rows, out_dir=tmp_path)
    assert paths["md"].read_text() == stats.markdown_table(header, rows)
    assert paths["tex"].read_text() == stats.latex_table(header, rows)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tab.md", "tab.tex"]


def test_code_version_outside_git_is_unknown(tmp_path):
    assert provenance.code_version(root=tmp_path) == {"git_commit": "unknown", "git_dirty": None}


def test_split_violin_halves_extents_and_quartiles():
    rng = np.random.default_rng(0)
    left = [rng.uniform(0.2, 0.6, 50), rng.uniform(0.1, 0.5, 40)]
    right = [rng.uniform(0.5, 0.9, 50), rng.uniform(0.4, 0.95, 30)]
    fig, ax = plt.subplots()
    plotting.split_violin(ax, left, right, positions=[0.5, 0.7])
    assert ax.get_ylim() == (0.0, 1.0)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.5", "0.7"]
    # Collections: (pos 0 left, pos 0 right, pos 1 left, pos 1 right); half-width 0.4 (scaled to width).
    samples = [left[0], right[0], left[1], right[1]]
    for i, (coll, data) in enumerate(zip(ax.collections, samples, strict=True)):
        xs, ys = coll.get_paths()[0].vertices.T
        center, side = i // 2, (-1 if i % 2 == 0 else 1)
        assert (ys.min(), ys.max()) == pytest.approx((data.min(), data.max()))  # cut=0: data range only
        assert side * (xs - center) == pytest.approx(np.abs(xs - center), abs=1e-9)  # correct half
        assert np.abs(xs - center).max() == pytest.approx(0.4)
    # inner="quartile": three horizontal lines per half at the sample quartiles.
    quartile_ys = sorted(line.get_ydata()[0] for line in ax.lines[:3])
    assert quartile_ys == pytest.approx(np.percentile(left[0], [25, 50, 75]))
    plotting.mean_lines(ax, [0.3, 0.8], ["red", "green"])
    assert [line.get_ydata()[0] for line in ax.lines[-2:]] == [0.3, 0.8]
    plt.close(fig)
