"""robustness.stats: hand-computed golden values and parity with scipy.stats."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from robustness import stats


def test_summarize_golden_values():
    s = stats.summarize([1.0, 2.0, 3.0, 4.0])
    assert s["n"] == 4 and s["mean"] == 2.5 and s["median"] == 2.5
    assert (s["min"], s["max"]) == (1.0, 4.0)
    assert s["std"] == pytest.approx(math.sqrt(5 / 3), rel=1e-12)  # Σ(x−2.5)² = 5, ddof = 1
    # t_{0.975, 3} = 3.182446305284263 (table value); half-width = t · s / √4
    half = 3.182446305284263 * math.sqrt(5 / 3) / 2
    assert (s["ci95_low"], s["ci95_high"]) == pytest.approx((2.5 - half, 2.5 + half), rel=1e-12)
    assert stats.summarize([1.0, 2.0, 3.0, 4.0], ddof=0)["std"] == pytest.approx(math.sqrt(5 / 4))


def test_summarize_ci_matches_scipy_t_interval():
    x = np.random.default_rng(3).normal(0.8, 0.05, size=37)
    s = stats.summarize(x)
    low, high = sps.t.interval(0.95, x.size - 1, loc=x.mean(), scale=sps.sem(x))
    assert (s["ci95_low"], s["ci95_high"]) == pytest.approx((low, high), rel=1e-12)


def test_summarize_single_value_and_empty():
    s = stats.summarize([0.7])
    assert s["n"] == 1 and s["mean"] == s["min"] == s["max"] == s["median"] == 0.7
    assert math.isnan(s["std"]) and math.isnan(s["ci95_low"]) and math.isnan(s["ci95_high"])
    with pytest.raises(ValueError, match="empty"):
        stats.summarize([])


def test_mann_whitney_golden_tiny_case():
    r = stats.mann_whitney([1, 2, 3], [4, 5, 6])
    # No pair has a > b: U = 0. Exact null: 1 of C(6,3) = 20 rank splits is this extreme on each side.
    assert r["u"] == 0.0
    assert r["p_value"] == pytest.approx(2 / 20, abs=1e-12)
    assert r["p_one_sided"] == pytest.approx(1 / 20, abs=1e-12)
    assert r["effect_size"] == 1.0 and r["alternative"] == "two-sided"
    # Legacy SciPy: z = (9 − 4.5 − 0.5) / √(3·3·7/12), one-sided normal tail.
    z = 4.0 / math.sqrt(63 / 12)
    assert r["p_legacy"] == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)), rel=1e-12)


def test_mann_whitney_sign_convention_flips():
    r = stats.mann_whitney([4, 5, 6], [1, 2, 3])
    assert r["u"] == 9.0 and r["effect_size"] == -1.0
    assert r["p_value"] == pytest.approx(0.1) and r["p_one_sided"] == pytest.approx(1.0)


def test_mann_whitney_with_ties_matches_pair_counting_and_scipy():
    rng = np.random.default_rng(0)
    a = np.round(rng.normal(0.70, 0.05, 60), 2)  # rounded: many ties, as accuracies on 100 samples
    b = np.round(rng.normal(0.73, 0.05, 45), 2)
    r = stats.mann_whitney(a, b)
    greater = np.sum(a[:, None] > b[None, :]) + 0.5 * np.sum(a[:, None] == b[None, :])
    assert r["u"] == greater
    assert r["effect_size"] == pytest.approx(
        (np.sum(b[None, :] > a[:, None]) - np.sum(a[:, None] > b[None, :])) / (a.size * b.size)
    )
    assert r["effect_size"] > 0  # b was drawn larger
    assert r["p_value"] == sps.mannwhitneyu(a, b, alternative="two-sided").pvalue
    # The legacy one-sided p is the asymptotic, continuity-corrected tail in the data's direction.
    asym = [sps.mannwhitneyu(a, b, alternative=h, method="asymptotic").pvalue for h in ("less", "greater")]
    assert r["p_legacy"] == pytest.approx(min(asym), rel=1e-10)


def test_format_mean_std():
    assert stats.format_mean_std(0.91234, 0.01049) == "91.23 ± 1.05"
    assert stats.format_mean_std(2.5, 0.125, percent=False, digits=3) == "2.500 ± 0.125"
    assert stats.format_mean_std(0.5, float("nan")) == "50.00 ± –"  # one seed: no sample std


def test_markdown_table_golden():
    text = stats.markdown_table(["σ", "Standard"], [[0.5, "91.0 ± 1.0"], ["a|b", 2]])
    assert text == "| σ | Standard |\n|---|---|\n| 0.5 | 91.0 ± 1.0 |\n| a\\|b | 2 |\n"
    with pytest.raises(ValueError, match="row 0 has 1 cells, the header has 2"):
        stats.markdown_table(["a", "b"], [[1]])


def test_latex_table_golden():
    text = stats.latex_table(["σ", "acc_%"], [["0.5", "91 ± 1"]])
    expected = (
        "\\begin{tabular}{lr}\n\\toprule\n$\\sigma$ & acc\\_\\% \\\\\n\\midrule\n"
        "0.5 & 91 $\\pm$ 1 \\\\\n\\bottomrule\n\\end{tabular}\n"
    )
    assert text == expected


def test_moving_average_golden_and_warm_up():
    assert stats.moving_average([1.0, 2.0, 3.0, 4.0], n=2) == pytest.approx([0.5, 1.5, 2.5, 3.5])
    # A constant series ramps up over the first n − 1 points: the warm-up divides by the full n.
    assert stats.moving_average(np.full(6, 2.0), n=4) == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.0, 2.0])


def test_moving_average_equals_causal_loop():
    x = np.random.default_rng(1).normal(size=120)
    loop = [x[max(0, t - 49) : t + 1].sum() / 50 for t in range(x.size)]
    assert stats.moving_average(x) == pytest.approx(loop, rel=1e-12, abs=1e-12)
    with pytest.raises(ValueError, match="window"):
        stats.moving_average(x, n=0)
