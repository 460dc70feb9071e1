"""From evaluated models to the numbers a figure plots: per-model samples, pooled comparisons with their
statistics, table rows, smoothed training curves and figure_main's panel numbers (no plotting here).

Models are the dicts ``architectures.load_models`` returns (training log + grid element), with cached
evaluations merged in (``robustness.cached_evaluation``).
"""

from __future__ import annotations

import numpy as np

from robustness import stats

PANEL_SHARED = ("indices", "labels", "class_names", "x")  # identical for both models of a panel


def training_sid(model: dict) -> int:
    """The session id of the model's training run, ``<architecture>_session_id``. (``session_id`` itself is
    the id of the last datajuicer call that returned the element: every cached evaluation sets its own.)"""
    return int(model[f"{model['architecture']}_session_id"])


def session_ids(models) -> list[int]:
    """The sorted training session ids of ``models``."""
    return sorted({training_sid(m) for m in models})


def samples(evaluated, key: str, where: dict) -> dict:
    """``{"session_ids": [...], "values": [per model]}`` of the elements matching ``where``, seed order."""
    chosen = [e for e in evaluated if all(k in e and e[k] == v for k, v in where.items())]
    chosen.sort(key=lambda m: m["seed"])
    return {"session_ids": [training_sid(m) for m in chosen], "values": [m[key] for m in chosen]}


def compare(a: dict, b: dict, names=("standard", "robust")) -> dict:
    """Pooled (all models × draws) ``summarize`` of both + two-sided Mann–Whitney U (b vs a)."""
    flat_a, flat_b = np.ravel(a["values"]), np.ravel(b["values"])
    out = {name: {**s, "summary": stats.summarize(np.ravel(s["values"]))} for name, s in zip(names, (a, b))}
    out["mann_whitney"] = stats.mann_whitney(flat_a, flat_b)
    out["delta_mean"] = float(np.mean(flat_b) - np.mean(flat_a))
    return out


def _pct(x) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{100 * x:.2f}"


# -p_value (configs.FigureConfig): the Mann-Whitney result's key and the table column of each choice
P_COLUMNS = {
    "two-sided": ("p_value", "p (two-sided MWU)"),
    "legacy": ("p_legacy", "p (one-sided MWU, SciPy < 1.7 default)"),
}


def comparison_header(a: str, b: str, p_value: str = "two-sided") -> list[str]:
    """The columns of ``comparison_row`` for methods named ``a`` (left) and ``b`` (right)."""
    return [
        "Task",
        "σ",
        *(f"{m} mean ± std (%)" for m in (a, b)),
        "Δ mean (pp)",
        *(f"{m} min (%)" for m in (a, b)),
        *(f"{m} 95% CI (%)" for m in (a, b)),
        P_COLUMNS[p_value][1],
        "effect size r",
        f"n {a}/{b}",
    ]


def comparison_row(
    task: str, sigma: float, cmp: dict, names=("standard", "robust"), p_value: str = "two-sided"
) -> list[str]:
    """One table row of a ``compare`` result: means ± std, Δ, minima, 95 % CIs, p (``P_COLUMNS``), effect
    size, n."""
    sa, sb = (cmp[n]["summary"] for n in names)
    mw = cmp["mann_whitney"]
    row = [task, f"{sigma:g}"]
    row += [f"{_pct(s['mean'])} ± {_pct(s['std'])}" for s in (sa, sb)]
    row += [f"{100 * cmp['delta_mean']:+.2f}", _pct(sa["min"]), _pct(sb["min"])]
    row += [f"[{_pct(s['ci95_low'])}, {_pct(s['ci95_high'])}]" for s in (sa, sb)]
    p = mw[P_COLUMNS[p_value][0]]
    return row + [f"{p:.2e}", f"{mw['effect_size']:+.3f}", f"{sa['n']}/{sb['n']}"]


def compare_levels(
    evaluated, title: str, levels, groups: dict, names, where=None, p_value: str = "two-sided"
) -> tuple[list, list]:
    """Per σ in ``levels``: ``compare`` of the ``mismatch_list`` samples of the two ``groups`` (name → the
    keys that select its models, plus ``where``); returns the per-level entries and their table rows
    (p column: ``p_value``, see ``P_COLUMNS``)."""
    entries, rows = [], []
    for sigma in levels:
        pooled = [
            samples(evaluated, "mismatch_list", {**(where or {}), "mm_level": float(sigma), **groups[n]})
            for n in names
        ]
        entries.append({"sigma": sigma, **compare(*pooled, names=names)})
        rows.append(comparison_row(title, sigma, entries[-1], names=names, p_value=p_value))
    return entries, rows


def smoothed(series: list[list[float]]) -> dict:
    """Per-seed moving averages and their mean; the window is the original's (``stats``) or a fifth of a
    short log."""
    n = min(len(s) for s in series)
    window = min(stats.MOVING_AVERAGE_WINDOW, max(1, n // 5))
    ma = [stats.moving_average(np.asarray(s[:n], float), window) for s in series]
    return {"window": window, "per_seed": [m.tolist() for m in ma], "mean": np.mean(ma, 0).tolist()}


def curves(models, keys) -> dict:
    """``{"session_ids", key: {"raw": per seed, **smoothed}}`` of the logged ``keys`` of ``models``, seed order."""
    chosen = sorted(models, key=lambda m: m["seed"])
    out = {"session_ids": [training_sid(m) for m in chosen]}
    for key in keys:
        raw = [m[key] for m in chosen]
        out[key] = {"raw": raw, **smoothed(raw)}
    return out


def panel_numbers(evaluated: list[dict], architecture: str, sigma: float) -> dict:
    """One task's panel from the ``panel`` results of its two seed-0 models: the examples once, then
    per method its session id and predictions (clean, under mismatch)."""
    pair = {m["beta_robustness"]: m for m in evaluated if m["architecture"] == architecture}
    std, rob = (pair[beta] for beta in sorted(pair))  # β = 0 first
    out = {"panel_sigma": sigma, **{k: std["panel"][k] for k in PANEL_SHARED}}
    for name, m in (("standard", std), ("robust", rob)):
        out[name] = {
            "session_id": training_sid(m),
            **{k: v for k, v in m["panel"].items() if k not in PANEL_SHARED},
        }
    return out


def simulated_panel(panel: dict, rule) -> dict:
    """``panel`` with its predictions replaced as the original drew figure_main's top panels
    (``-panels=simulated``, deviation 15; docs/original.md §5.2): not model outputs but random ones, from a
    generator seeded with the two models' session ids. ``rule`` is the task's ``simulated_panel``:
    ``("relabel", q_standard, q_robust)`` replaces each label by a uniformly drawn class (possibly itself)
    with probability q (the original's ECG rows); ``("frame", q_standard, q_robust)`` makes a prediction
    wrong (another class, uniformly) with probability q (its CNN frames); None: the original showed no
    predictions (speech), so there are none (``None``)."""
    labels = np.asarray(panel["labels"])
    n_classes = len(panel["class_names"])
    rng = np.random.default_rng([panel["standard"]["session_id"], panel["robust"]["session_id"]])
    out = {**panel, "simulated": True}
    for i, method in enumerate(("standard", "robust")):
        shown = None
        if rule is not None:
            kind, q = rule[0], rule[1 + i]
            hit = rng.random(labels.size) < q
            if kind == "relabel":
                drawn = rng.integers(0, n_classes, labels.size)
            else:  # "frame": a wrong class
                drawn = (labels + rng.integers(1, n_classes, labels.size)) % n_classes
            shown = np.where(hit, drawn, labels).tolist()
        out[method] = {**panel[method], "mismatch": shown}
    return out
