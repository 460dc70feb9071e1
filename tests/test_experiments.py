"""The Experiment modules (docs/original.md §5): protocol, grids per profile (valid configs,
no duplicates, the report's sizes and settings, shared models), evaluation keys and the reductions that
feed the figures' tables. The smoke chain itself (train → figures on real data) is in test_make_figures.py.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

import architectures as A
import datajuicer as dj
from robustness import cached_evaluation as ce
from robustness import figures, reductions, stats
from robustness.configs import P_VALUES
from robustness.experiments import OPT_IN, experiment_names
from robustness.paths import REPO_ROOT
from robustness.profiles import PROFILES
from robustness.tasks import TASKS

NAMES = sorted(p.stem for p in (REPO_ROOT / "Experiments").glob("*.py"))
DEFAULT_SET = [n for n in NAMES if n not in OPT_IN]  # what train.py / make_figures.py run with no -exp
README_FIGURES = ("mismatch_experiment", "constant_attack_experiment", "methods_experiment")
FULL_SIZES = {  # docs/original.md §5.2-5.6
    "mismatch_experiment": 60,
    "constant_attack_experiment": 40,
    "methods_experiment": 40,
    "treat_as_constant_experiment": 6,
    "sgd_experiment": 20,
    "ecg_experiment": 8,
    "example_experiment": 4,
    "figure_mismatch": 0,
    "methods_comparison_experiment": 210,  # opt-in (OPT_IN): 3 tasks × 7 methods × 10 seeds
}


def experiment(name):
    return getattr(importlib.import_module(f"Experiments.{name}"), name)


@functools.cache
def _models(name, profile):
    return tuple(A.model_of(A.normalize(e)) for e in experiment(name).train_grid(profile=profile))


def models(name, profile):
    """The grid as train.py sees it: normalised, only what defines the model (computed once per test run:
    normalising ~200 elements takes seconds)."""
    return [dict(m) for m in _models(name, profile)]


def keyset(grid):
    return {dj.canonical.canonical_json({k: v for k, v in m.items() if k != "train"}) for m in grid}


def test_every_module_is_an_experiment_that_reads_like_its_caption():
    assert set(FULL_SIZES) == set(NAMES)
    assert experiment_names(None) == DEFAULT_SET and OPT_IN == {"methods_comparison_experiment"}
    for name in NAMES:
        path = REPO_ROOT / "Experiments" / f"{name}.py"
        source = path.read_text()
        cls = experiment(name)
        for method in ("train_grid", "visualize"):
            assert isinstance(inspect.getattr_static(cls, method), staticmethod), (name, method)
            assert "profile" in inspect.signature(getattr(cls, method)).parameters, (name, method)
        tree = ast.parse(source)
        doc = ast.get_docstring(tree)
        assert 5 <= len(doc.splitlines()) <= 12 and "make_figures.py" in doc, name
        assert len(source.splitlines()) <= 150, name
        [visualize] = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "visualize"]
        assert visualize.end_lineno - visualize.lineno < 30, name  # evaluate → reduce → draw, no more
        assert "import *" not in source and "plt.show" not in source and "np.random." not in source, name


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_grids_build_valid_configs_without_duplicates(profile):
    for name in NAMES:
        grid = models(name, profile)  # normalize() built each typed config: raises on a bad flag or value
        for element in grid:
            arch = A.architecture_of(element)
            assert element["seed"] in (PROFILES[profile].seeds if profile != "full" else range(10))
            # methods_experiment draws the constant-attack models (same grid, same per-experiment overrides)
            owner = "constant_attack_experiment" if name == "methods_experiment" else name
            for key, value in PROFILES[profile].overrides(arch.__name__, owner).items():
                assert element[key] == value, (name, key)  # profile overrides are part of the cache key
        assert len(dj.make_unique(grid)) == len(grid), f"{name} ({profile}) has duplicate models"


def test_per_experiment_architecture_overrides_reach_only_their_models():
    """quick: figure_main's speech models attack with ζ 1.0; the constant-attack speech models keep their
    own attack (ζ_rel 0, ζ_const 0.01), and both continue from the same 800-iteration parent."""
    main = [m for m in models("mismatch_experiment", "quick") if m["architecture"] == "speech_lsnn"]
    const = models("constant_attack_experiment", "quick")
    assert {m["attack_size_mismatch"] for m in main} == {1.0} and len(main) == 2
    assert {(m["attack_size_mismatch"], m["attack_size_constant"]) for m in const} == {(0.0, 0.01)}
    parents = {repr(sorted(m["init_from"].items())) for m in main + const}
    assert len(parents) == 1
    others = [m for m in models("mismatch_experiment", "quick") if m["architecture"] != "speech_lsnn"]
    assert {(m["architecture"], m["attack_size_mismatch"]) for m in others} == {
        ("ecg_lsnn", 2.0),
        ("cnn", 0.75),
    }


def test_full_grids_have_the_reports_sizes_and_settings():
    assert {n: len(models(n, "full")) for n in NAMES} == FULL_SIZES
    main = models("mismatch_experiment", "full")
    for arch, zeta in (("speech_lsnn", 2.0), ("ecg_lsnn", 2.0), ("cnn", 1.0)):
        of = [m for m in main if m["architecture"] == arch]
        assert len(of) == 20 and {m["attack_size_mismatch"] for m in of} == {zeta}
        assert sorted({(m["beta_robustness"], m["seed"]) for m in of}) == [
            (b, s) for b in (0.0, 1.0) for s in range(10)
        ]
        assert {
            (m["attack_size_constant"], m["initial_std_constant"], m["initial_std_mismatch"]) for m in of
        } == {(0.0, 0.0, 0.001)}
    const = models("constant_attack_experiment", "full")
    assert {m["architecture"] for m in const} == {"speech_lsnn"}
    assert {
        (m["attack_size_constant"], m["attack_size_mismatch"], m["initial_std_constant"]) for m in const
    } == {(0.01, 0.0, 0.001)}
    assert sorted({m["beta_robustness"] for m in const}) == [0.0, 0.1, 1.0, 10.0]
    sgd = models("sgd_experiment", "full")
    assert {(m["batch_size"], m["n_epochs"]) for m in sgd} == {(8, "200,56"), (128, "200,88")}
    assert {(m["optimizer"], m["learning_rate"], m["beta_robustness"]) for m in sgd} == {
        ("sgd", "0.01,0.001", 0.0)
    }
    treat = models("treat_as_constant_experiment", "full")
    assert {(m["treat_as_constant"], m["boundary_loss"]) for m in treat} == {
        (t, b) for t in (False, True) for b in ("kl", "reverse_kl", "l2")
    }
    ecg = models("ecg_experiment", "full")
    assert {(m["attack_size_mismatch"], m["beta_robustness"], m["n_epochs"]) for m in ecg} == {
        (z, b, "64,16") for z in (1.0, 2.0) for b in (0.7, 0.9, 1.1, 1.3)
    }


@pytest.mark.parametrize("profile", ["quick", "smoke"])
def test_reduced_profiles_train_little_beyond_the_readme_figures(profile):
    """quick: the other Experiments add no model (example reuses figure_main's robust CNNs); smoke adds
    only a few tiny ones (1 treat_as_constant, 2 SGD, 1 ECG sweep model)."""
    main = set().union(*(keyset(models(n, profile)) for n in README_FIGURES))
    extra = set().union(*(keyset(models(n, profile)) for n in DEFAULT_SET)) - main
    assert len(extra) == (0 if profile == "quick" else 4)
    assert keyset(models("example_experiment", profile)) <= main  # the robust CNNs of figure_main
    seeds = PROFILES[profile].seeds
    assert len(models("mismatch_experiment", profile)) == 6 * len(seeds)


def test_evaluation_keys_are_explicit_and_independent():
    key = ce.eval_key(3, "mismatch", 0.5)
    assert key.dtype == np.uint32 and key.shape == (2,)
    assert np.array_equal(key, ce.eval_key(3, "mismatch", 0.5))  # a pure function of its inputs
    others = [ce.eval_key(4, "mismatch", 0.5), ce.eval_key(3, "surface", 0.5)]
    others.append(ce.eval_key(3, "mismatch", 0.7))
    assert len({tuple(np.asarray(k)) for k in [key, *others]}) == 4
    seq = np.random.SeedSequence([3, ce.PURPOSES["mismatch"], 500000])
    assert np.array_equal(key, seq.generate_state(2, np.uint32))


def test_samples_and_compare_pool_models_and_draws():
    grid = [
        {
            "architecture": "cnn",
            "cnn_session_id": 10 + s,
            "seed": s,
            "beta_robustness": b,
            "acc": [b + s / 10, b],
        }
        for b in (0.0, 1.0)
        for s in (1, 0)
    ]
    std = reductions.samples(grid, "acc", {"beta_robustness": 0.0})
    rob = reductions.samples(grid, "acc", {"beta_robustness": 1.0})
    assert std == {"session_ids": [10, 11], "values": [[0.0, 0.0], [0.1, 0.0]]}  # seed order
    cmp = reductions.compare(std, rob)
    assert cmp["standard"]["summary"]["mean"] == pytest.approx(0.025)
    assert cmp["robust"]["summary"]["n"] == 4 and cmp["delta_mean"] == pytest.approx(1.0)
    ref = sps.mannwhitneyu([0.0, 0.0, 0.1, 0.0], [1.0, 1.0, 1.1, 1.0], alternative="two-sided")
    assert (
        cmp["mann_whitney"]["p_value"] == pytest.approx(ref.pvalue)
        and cmp["mann_whitney"]["effect_size"] == 1.0
    )
    row = reductions.comparison_row("CNN", 0.5, cmp)
    assert row[:7] == ["CNN", "0.5", "2.50 ± 5.00", "102.50 ± 5.00", "+100.00", "0.00", "100.00"]
    assert row[-1] == "4/4" and row[-2] == "+1.000" and row[-3] == f"{ref.pvalue:.2e}"
    half = sps.t.ppf(0.975, 3) * 0.05 / 2  # n = 4, s = 0.05: mean ± t·s/√n
    assert row[7] == f"[{100 * (0.025 - half):.2f}, {100 * (0.025 + half):.2f}]"
    assert len(reductions.comparison_header("Standard", "Robust")) == len(row)


def test_p_value_switch_gives_the_originals_one_sided_value():
    # -p_value=legacy: the table shows what the original printed, SciPy < 1.7's mannwhitneyu(a, b) default
    cmp = reductions.compare(
        {"session_ids": [1], "values": [[1.0, 2.0, 3.0]]}, {"session_ids": [2], "values": [[4.0, 5.0, 6.0]]}
    )
    # by hand: U = 0 / 9, normal approximation with continuity: z = (9 - 4.5 - 0.5) / sqrt(9·7/12)
    legacy = sps.norm.sf(4.0 / np.sqrt(9 * 7 / 12))
    assert legacy == pytest.approx(0.040428, abs=1e-6)
    assert reductions.comparison_row("x", 0.5, cmp)[-3] == "1.00e-01"  # exact two-sided: 2 / C(6, 3)
    assert reductions.comparison_row("x", 0.5, cmp, p_value="legacy")[-3] == f"{legacy:.2e}" == "4.04e-02"
    header = reductions.comparison_header("Standard", "Robust", "legacy")
    assert header[-3] == "p (one-sided MWU, SciPy < 1.7 default)"
    assert reductions.comparison_header("Standard", "Robust")[-3] == "p (two-sided MWU)"
    assert set(reductions.P_COLUMNS) == set(P_VALUES)  # every -p_value choice has a column


def test_simulated_panels_draw_the_originals_random_predictions():
    n = 4000
    labels = list(np.arange(n) % 4)
    panel = {
        "panel_sigma": 0.5, "labels": labels, "class_names": ["N", "L", "R", "V"], "indices": [], "x": [],
        "standard": {"session_id": 11, "clean": labels, "mismatch": labels},
        "robust": {"session_id": 12, "clean": labels, "mismatch": labels},
    }  # fmt: skip
    frame = reductions.simulated_panel(panel, ("frame", 0.5, 0.1))
    relabel = reductions.simulated_panel(panel, ("relabel", 0.4, 0.1))
    y = np.asarray(labels)
    for sim, method, p_wrong in (
        (frame, "standard", 0.5),
        (frame, "robust", 0.1),
        (relabel, "standard", 0.4 * 3 / 4),  # a random class among 4 is the true one a quarter of the time
        (relabel, "robust", 0.1 * 3 / 4),
    ):
        shown = np.asarray(sim[method]["mismatch"])
        assert set(shown) <= {0, 1, 2, 3}
        wrong = np.mean(shown != y)
        assert abs(wrong - p_wrong) < 4 * np.sqrt(p_wrong * (1 - p_wrong) / n), (method, wrong)
        assert sim[method]["clean"] == labels and sim[method]["session_id"] == panel[method]["session_id"]
    assert frame["simulated"] and "simulated" not in panel  # the real panel is left as it was
    again = reductions.simulated_panel(panel, ("frame", 0.5, 0.1))
    assert again == frame  # seeded by the two session ids
    other = reductions.simulated_panel(
        {**panel, "robust": {**panel["robust"], "session_id": 13}}, ("frame", 0.5, 0.1)
    )
    assert other["standard"]["mismatch"] != frame["standard"]["mismatch"]
    speech = reductions.simulated_panel(panel, None)  # the original showed no predictions for speech
    assert speech["standard"]["mismatch"] is None and speech["robust"]["mismatch"] is None
    rules = {arch: task.simulated_panel for arch, task in TASKS.items()}
    assert rules == {"speech_lsnn": None, "ecg_lsnn": ("relabel", 0.4, 0.1), "cnn": ("frame", 0.5, 0.1)}


@pytest.mark.parametrize(("n", "window"), [(1100, 50), (250, 50), (30, 6), (2, 1)])
def test_smoothed_curves_use_the_original_moving_average(n, window):
    series = [list(np.linspace(0, 1, n)), list(np.linspace(1, 0, n) ** 2)]
    out = reductions.smoothed(series)
    assert out["window"] == window
    expected = [np.convolve(s, np.ones(window) / window, mode="full")[:n] for s in series]
    np.testing.assert_allclose(out["per_seed"], expected)
    np.testing.assert_allclose(out["mean"], np.mean(expected, 0))
    assert stats.moving_average(series[0], window).tolist() == out["per_seed"][0]


def test_figure_dir_per_profile(tmp_path):
    assert figures.figure_dir("full", resources_dir=tmp_path) == tmp_path / "Figures"
    assert figures.figure_dir("quick", resources_dir=tmp_path) == tmp_path / "Figures" / "quick"
    assert figures.figure_dir("smoke", out_dir="x", resources_dir=tmp_path) == Path("x")
