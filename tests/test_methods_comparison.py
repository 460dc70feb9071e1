"""methods_comparison_experiment (README "Method comparison"): opt-in, its grid, and the smoke chain
train.py → make_figures.py on real data (7 tiny ECG models), with the table recomputed independently from
the per-draw accuracies in the figure JSON and the p-values checked against scipy.stats.mannwhitneyu."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as sps

import architectures as A
from Experiments.methods_comparison_experiment import FULL, METHODS, methods_comparison_experiment
from robustness.experiments import OPT_IN, experiment_names
from robustness.paths import REPO_ROOT
from robustness.profiles import get_profile

NAME, FIGURE = "methods_comparison_experiment", "methods_comparison_figure"


def test_opt_in_the_default_set_is_unchanged():
    assert NAME in OPT_IN and NAME not in experiment_names(None)
    assert experiment_names([NAME]) == [NAME]
    assert len(experiment_names(None)) == 8  # the 7 Experiments with models + figure_mismatch


def test_full_grid_is_the_protocol():
    grid = [A.model_of(A.normalize(e)) for e in methods_comparison_experiment.train_grid("full")]
    assert len(grid) == 3 * 7 * 10 and FULL["n_draws"] == 100
    assert FULL["levels"] == (0.0, 0.1, 0.2, 0.3, 0.5, 0.7)
    for name, flags in METHODS.items():  # each method's flags select exactly its models
        of = [m for m in grid if all(m[k] == v for k, v in flags.items())]
        assert len(of) == 30 and sorted({m["seed"] for m in of}) == list(range(10)), name
    beta = [m for m in grid if m["beta_robustness"] == 0.25 and m["noisy_forward_std"] == 0.0]
    assert {m["attack_size_mismatch"] for m in beta} == {0.1}
    assert {m["dropout_prob"] for m in grid} == {0.0, 0.3} and {m["amp_epsilon"] for m in grid} == {0.0, 0.5}


def test_reduced_profiles():
    quick, smoke = (methods_comparison_experiment.train_grid(p) for p in ("quick", "smoke"))
    assert len(quick) == 7 and {m["max_steps"] for m in quick} == {150}
    assert len(smoke) == 7 and {m["architecture"] for m in smoke} == {"ecg_lsnn"}


def _cell(values) -> str:
    x = np.asarray(values, float)
    std = f"{100 * np.std(x, ddof=1):.2f}" if x.size > 1 else "–"
    return f"{100 * x.mean():.2f} ± {std} ({100 * x.min():.2f})"


@pytest.mark.slow
def test_smoke_chain_table_and_tests_are_recomputed(tmp_path, mitdb_dir):
    dirs = [f"-cache_dir={tmp_path / 'S'}", f"-resources_dir={tmp_path / 'R'}"]
    for script in ("train.py", "make_figures.py"):
        argv = [sys.executable, script, "-exp", NAME, "-profile=smoke", *dirs]
        argv += ["-n_threads=2"] if script == "train.py" else []
        proc = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    out = tmp_path / "R" / "Figures" / "smoke"
    for ext in (".png", ".pdf", ".json", "_table.md", "_table.tex"):
        assert (out / f"{FIGURE}{ext}").stat().st_size > 100, ext
    data = json.loads((out / f"{FIGURE}.json").read_text())["numbers"]
    smoke = get_profile("smoke")
    assert (data["n_draws"], data["test_limit"]) == (3, smoke.test_limit)
    [(arch, task)] = data["tasks"].items()
    assert arch == "ecg_lsnn" and [lv["sigma"] for lv in task["levels"]] == list(FULL["levels"])
    rows = {r[1]: r[2:] for r in data["table"]["rows"]}
    assert len(rows) == 7
    labels = dict(zip(METHODS, rows))  # rows in METHODS order
    ids = set()
    for i, level in enumerate(task["levels"]):
        draws = 1 if level["sigma"] == 0 else 3
        std = np.ravel(level["methods"]["standard"]["values"])
        for name, entry in level["methods"].items():
            values = np.ravel(entry["values"])
            assert len(entry["values"]) == 1 and values.size == draws
            ids.update(entry["session_ids"])
            assert rows[labels[name]][i] == _cell(values), (name, level["sigma"])
            if name == "standard":
                continue
            ref = sps.mannwhitneyu(std, values, alternative="two-sided")
            mw = entry["vs_standard"]["mann_whitney"]
            assert mw["p_value"] == pytest.approx(ref.pvalue) and mw["alternative"] == "two-sided"
            assert mw["effect_size"] == pytest.approx(1 - 2 * ref.statistic / (std.size * values.size))
            assert entry["vs_standard"]["delta_mean"] == pytest.approx(values.mean() - std.mean())
    assert len(ids) == 7  # one trained model per method
    md = (out / f"{FIGURE}_table.md").read_text()
    assert all(cell in md for row in rows.values() for cell in row)
