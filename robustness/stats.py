"""Statistics and table helpers shared by every Experiment (docs/original.md §5.2–§5.4).

* ``summarize``: n, mean, std, min, max, median and the 95 % confidence interval of the mean.
* ``mann_whitney``: the two-sided Mann–Whitney U test with a rank-biserial effect size. The original
  printed ``scipy.stats.mannwhitneyu(a, b)`` with the SciPy < 1.7 default ``alternative=None``, which
  returned a *one-sided* p-value; that legacy value is returned as well, for comparison only.
* ``markdown_table`` / ``latex_table`` / ``format_mean_std``: text tables (no LaTeX install needed).
* ``moving_average``: the original's causal moving average (docs/original.md §5.3), window
``MOVING_AVERAGE_WINDOW``.
"""

from collections.abc import Sequence

import numpy as np
from scipy import stats as sps

MOVING_AVERAGE_WINDOW = 50  # the original's moving-average length (docs/original.md §5.3)


def _as_1d(values, what: str) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError(f"{what}: need at least one value, got an empty sequence")
    return x


def summarize(values, *, ddof: int = 1) -> dict:
    """Summary statistics of a 1-D sample (any shape is flattened).

    ``std`` is the sample standard deviation (``ddof=1`` by default; pass ``ddof=0`` for ``np.std``).
    ``ci95_low``/``ci95_high`` bound the 95 % confidence interval of the *mean* from Student's t with
    n − 1 degrees of freedom: mean ± t_{0.975, n−1} · s / √n, with s the ddof=1 standard deviation
    (the interval ``scipy.stats.t.interval(0.95, n-1, mean, sem)`` gives). For n = 1 the spread and
    the interval are undefined and returned as NaN (the JSON writer stores them as null).
    """
    x = _as_1d(values, "summarize")
    n = int(x.size)
    mean = float(np.mean(x))
    if n > 1:
        std = float(np.std(x, ddof=ddof))
        half = float(sps.t.ppf(0.975, n - 1) * np.std(x, ddof=1) / np.sqrt(n))
    else:
        std = float("nan") if ddof >= 1 else 0.0
        half = float("nan")
    return {
        "n": n,
        "mean": mean,
        "std": std,
        "min": float(np.min(x)),
        "max": float(np.max(x)),
        "median": float(np.median(x)),
        "ci95_low": mean - half,
        "ci95_high": mean + half,
    }


def _legacy_one_sided_p(a: np.ndarray, b: np.ndarray) -> float:
    """The p-value SciPy < 1.7 printed for ``mannwhitneyu(a, b)`` (``alternative=None``).

    Normal approximation with tie correction and continuity correction, one-sided in whichever
    direction the data point: p = sf(|max(U1, U2) − n1·n2/2 − 0.5| / sd_U).
    """
    n1, n2 = a.size, b.size
    ranks = sps.rankdata(np.concatenate([a, b]))
    u1 = float(np.sum(ranks[:n1]) - n1 * (n1 + 1) / 2)
    big_u = max(u1, n1 * n2 - u1)
    tie = sps.tiecorrect(ranks)
    sd = np.sqrt(tie * n1 * n2 * (n1 + n2 + 1) / 12.0)
    if sd == 0:  # all values equal: no evidence in either direction
        return 1.0
    return float(sps.norm.sf(abs(big_u - n1 * n2 / 2.0 - 0.5) / sd))


def mann_whitney(a, b) -> dict:
    """Two-sided Mann–Whitney U test of samples ``a`` and ``b`` (e.g. a = standard, b = robust).

    Returns ``u`` (SciPy's U of ``a``: the number of pairs with a > b, ties counting ½), ``p_value``
    (two-sided; exact for small samples without ties, asymptotic otherwise — SciPy's ``method="auto"``),
    ``alternative="two-sided"``, ``effect_size`` and two one-sided p-values for reference:

    * ``effect_size`` is the rank-biserial correlation r = 1 − 2U/(n1·n2) ∈ [−1, 1]. **Sign convention:
      r > 0 means b tends to be larger than a** (r = P(b > a) − P(a > b)); r = 1 when every b exceeds
      every a. With a = standard and b = robust accuracies, r > 0 favours robust training.
    * ``p_one_sided``: the one-sided p for H1 "b tends to be larger than a".
    * ``p_legacy``: the value the original printed (SciPy < 1.7 default ``alternative=None``: one-sided,
      asymptotic, direction chosen by the data; docs/original.md §5.2). Do not use it as a two-sided p.
    """
    a = _as_1d(a, "mann_whitney(a)")
    b = _as_1d(b, "mann_whitney(b)")
    two = sps.mannwhitneyu(a, b, alternative="two-sided")
    # SciPy names the alternative for the distribution of a relative to b: "less" = a < b = b larger.
    one = sps.mannwhitneyu(a, b, alternative="less")
    u = float(two.statistic)
    return {
        "u": u,
        "p_value": float(two.pvalue),
        "alternative": "two-sided",
        "effect_size": 1.0 - 2.0 * u / (a.size * b.size),
        "p_one_sided": float(one.pvalue),
        "p_legacy": _legacy_one_sided_p(a, b),
        "n_a": int(a.size),
        "n_b": int(b.size),
    }


def format_mean_std(mean: float, std: float, percent: bool = True, digits: int = 2) -> str:
    """``"91.23 ± 1.05"``; with ``percent`` the fractions are multiplied by 100 (no % sign added). A
    non-finite std (one seed: no spread) prints as ``"91.23 ± –"``."""
    scale = 100.0 if percent else 1.0
    spread = f"{std * scale:.{digits}f}" if np.isfinite(std) else "–"
    return f"{mean * scale:.{digits}f} ± {spread}"


def _cells(header: Sequence, rows: Sequence[Sequence]) -> tuple[list[str], list[list[str]]]:
    head = [str(h) for h in header]
    body = [[str(c) for c in row] for row in rows]
    for i, row in enumerate(body):
        if len(row) != len(head):
            raise ValueError(f"table row {i} has {len(row)} cells, the header has {len(head)}")
    return head, body


def markdown_table(header: Sequence, rows: Sequence[Sequence]) -> str:
    """A GitHub-flavoured markdown table; cells are ``str()``-ed, ``|`` inside cells is escaped."""
    head, body = _cells(header, rows)

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", r"\|") for c in cells) + " |"

    return "\n".join([line(head), "|" + "|".join("---" for _ in head) + "|", *map(line, body)]) + "\n"


_LATEX_ESCAPES = {"&": r"\&", "%": r"\%", "#": r"\#", "_": r"\_", "±": r"$\pm$", "σ": r"$\sigma$"}
_LATEX_ESCAPES |= {"β": r"$\beta$", "ζ": r"$\zeta$", "Δ": r"$\Delta$"}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def latex_table(header: Sequence, rows: Sequence[Sequence]) -> str:
    """A booktabs ``tabular`` (needs ``\\usepackage{booktabs}``); first column left, others right.

    ``& % # _`` are escaped and ``± σ β ζ Δ`` become math symbols, so plain cell text is safe.
    """
    head, body = _cells(header, rows)
    spec = "l" + "r" * (len(head) - 1)
    lines = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule", " & ".join(map(_latex_escape, head)) + r" \\"]
    lines.append(r"\midrule")
    lines += [" & ".join(map(_latex_escape, row)) + r" \\" for row in body]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def moving_average(x, n: int = MOVING_AVERAGE_WINDOW) -> np.ndarray:
    """Causal moving average with the original's semantics (docs/original.md §5.3), same length as ``x``.

    ``np.convolve(x, ones(n)/n, mode="full")[:len(x)]``: y[t] = (x[t] + … + x[t−n+1]) / n with
    x[<0] = 0. **Warm-up:** the first n − 1 outputs divide a partial sum by the full n, so they are
    biased towards 0 (y[0] = x[0]/n); the curves of the original start near zero for that reason.
    """
    if n < 1:
        raise ValueError(f"moving_average: window n must be ≥ 1, got {n}")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"moving_average: expected a 1-D series, got shape {x.shape}")
    return np.convolve(x, np.ones(n) / n, mode="full")[: x.size]
