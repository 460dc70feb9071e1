"""What the Experiments share: profiles → grids, loading models, cached evaluations, reductions, panels.

Cached evaluations (spec original-code.md §5.1-5.3) are ``datajuicer.cachable`` functions keyed by the
model's training session id + architecture + the evaluation settings (plus ``EVAL_VERSION``); results are
JSON in the sessions directory (``architectures.current_cache_dir()``):

* ``test_accuracy(model, test_limit)`` → float;
* ``mismatch_list(model, mm_level, n_draws, test_limit)`` → ``n_draws`` accuracies of θ(1+σN(0,1)), draws
  vmapped (``robustness.mismatch``);
* ``attacked_test_accuracy(model, test_limit)`` → clean / attacked accuracy and mean KL trajectory under
  the model's own attack (quirk 11: always KL);
* ``surface_mean(model, surface_dist, n_draws, test_limit)`` → mean and draws of θ + c·sign(U(−1, 1));
* ``panel_predictions(model, mm_level)`` → a few test examples with the model's clean predictions and its
  predictions under one mismatch draw (figure_main's top panels; the original simulated these).

Every draw uses an explicit key from (session id, purpose, σ) — never a global RNG. Evaluation uses the
test split (its first ``test_limit`` examples when > 0) in batches of 100.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import architectures
import datajuicer as dj
from robustness import artifacts, evaluation, mismatch, stats
from robustness.configs import TrainConfig, fields_of, to_flags
from robustness.data import load_dataset
from robustness.plotting import plt, save_figure, save_table
from robustness.profiles import get_profile
from robustness.tasks import get_task, make_task

EVAL_VERSION = "1"  # salt of every evaluation table: bump when an evaluation's output changes
PURPOSES = {"mismatch": 1, "attack": 2, "surface": 3, "panel": 4, "test": 5}
BATCH = 100

# ------------------------------------------------------------------------------------- grids, loading


def figure_dir(profile: str, out_dir=None, resources_dir=None) -> Path:
    """``out_dir``, else ``<resources>/Figures`` (full) or ``<resources>/Figures/<profile>``; ``<resources>``
    is ``resources_dir`` or the current one (``architectures.using_dirs``)."""
    if out_dir is not None:
        return Path(out_dir)
    base = Path(resources_dir or architectures.current_resources_dir()) / "Figures"
    return base if profile == "full" else base / profile


def profile_grid(elements: list[dict], profile: str, seeds=None, experiment: str | None = None) -> list[dict]:
    """The profile's training overrides (per architecture, then per ``experiment``) on every element, then
    one copy per seed (the profile's by default)."""
    prof = get_profile(profile)
    grid = [{**e, **prof.overrides(e["architecture"], experiment)} for e in elements]
    return dj.split(grid, "seed", list(prof.seeds if seeds is None else seeds))


def load(grid: list[dict], experiment: str, profile: str) -> list[dict]:
    """The trained models of ``grid`` with their results logs (MissingModelsError names what is missing)."""
    return architectures.load_models(grid, experiment=experiment, profile=profile)


def sid(model: dict) -> int:
    """The training session id (``session_id`` is overwritten by every cached evaluation's own id)."""
    return int(model[f"{model['architecture']}_session_id"])


def session_ids(models) -> list[int]:
    return sorted({sid(m) for m in models})


def evaluate(grid: list[dict], func, store_key: str, *args) -> list[dict]:
    """``dj.run(grid, func, store_key=...)(*args)`` one element at a time, with a progress bar (tty) and a
    summary line; cached results are loaded, missing ones computed and stored."""
    from tqdm import tqdm

    counts, start, out = {}, time.monotonic(), []
    cache = str(architectures.current_cache_dir())
    for element in tqdm(grid, desc=func.table_name, disable=None, leave=False):
        result = dj.run([element], func, store_key=store_key, cache_dir=cache)(*args)
        counts[result.outcomes[0]] = counts.get(result.outcomes[0], 0) + 1
        out += result
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    print(f"{func.table_name}: {summary} ({time.monotonic() - start:.1f} s)", flush=True)
    return out


# ------------------------------------------------------------------------------ cached evaluations


def eval_key(session_id: int, purpose: str, value: float = 0.0) -> jax.Array:
    """A raw uint32[2] JAX key from (session id, purpose, σ or c): independent streams, no global RNG."""
    seq = np.random.SeedSequence([int(session_id), PURPOSES[purpose], round(float(value) * 1e6)])
    return jnp.asarray(seq.generate_state(2, np.uint32))


def _data_key(config) -> tuple:
    """What the test split (and the model function) depends on: task fields, not training flags."""
    train_fields = set(fields_of(TrainConfig))
    stored = config.data_dir  # the absolute path at training time; elsewhere the local default
    data_dir = (
        stored if stored and os.path.isdir(stored) else get_task(config.architecture).default_data_dir()
    )
    items = tuple((k, v) for k, v in to_flags(config).items() if k not in train_fields)
    return config.architecture, data_dir, items


_TEST_SPLITS: dict = {}
_TASKS: dict = {}


def _test_split(config) -> tuple[np.ndarray, np.ndarray]:
    # the speech test split depends on eval_seed only, ECG/F-MNIST on nothing seed-like: one per task
    key = _data_key(config)
    if key not in _TEST_SPLITS:
        x, y = load_dataset(dataclasses.replace(config, data_dir=key[1])).split("test")
        _TEST_SPLITS[key] = np.asarray(x), np.asarray(y)
    return _TEST_SPLITS[key]


def _task(config, n_in: int):
    # one model function per task: jit caches are keyed by it, so all models share one compilation
    key = (_data_key(config), n_in)
    if key not in _TASKS:
        _TASKS[key] = make_task(config, n_in=n_in)
    return dataclasses.replace(_TASKS[key], config=config)


@functools.lru_cache(maxsize=16)
def _weights(resources_dir: str, session_id: int):
    config, params, _ = artifacts.load_model(resources_dir, session_id)
    return config, {k: jnp.asarray(v) for k, v in params.items()}


def _prepare(model: dict, test_limit: int):
    """``(task, params, x, y, sid)`` of a trained model on its test split (first ``test_limit``)."""
    config, params = _weights(str(architectures.current_resources_dir()), sid(model))
    x, y = _test_split(config)
    task = _task(config, int(x.shape[-1]))
    if test_limit:
        x, y = x[:test_limit], y[:test_limit]
    return task, params, x, y, sid(model)


DEPENDENCIES = ["model:{architecture}_session_id", "model:architecture"]


@dj.cachable(DEPENDENCIES + ["test_limit"], version=EVAL_VERSION)
def test_accuracy(model, test_limit):
    task, params, x, y, _ = _prepare(model, test_limit)
    return float(evaluation.accuracy(task, params, x, y, BATCH))


@dj.cachable(DEPENDENCIES + ["mm_level", "n_draws", "test_limit"], version=EVAL_VERSION)
def mismatch_list(model, mm_level, n_draws, test_limit):
    task, params, x, y, s = _prepare(model, test_limit)
    key = eval_key(s, "mismatch", mm_level)
    accs = evaluation.mismatch_accuracies(task, params, x, y, float(mm_level), key=key, n_draws=n_draws)
    return [round(a * len(y)) / len(y) for a in accs]  # correct/n, exact again after float32 (count < 2^24)


@dj.cachable(DEPENDENCIES + ["test_limit"], version=EVAL_VERSION)
def attacked_test_accuracy(model, test_limit):
    task, params, x, y, s = _prepare(model, test_limit)
    clean, attacked, kl = evaluation.attacked_accuracy(task, params, x, y, key=eval_key(s, "attack"))
    return {"test_accuracy": clean, "attacked_test_accuracy": attacked, "kl_over_attack": kl}


@dj.cachable(DEPENDENCIES + ["surface_dist", "n_draws", "test_limit"], version=EVAL_VERSION)
def surface_mean(model, surface_dist, n_draws, test_limit):
    task, params, x, y, s = _prepare(model, test_limit)
    key = eval_key(s, "surface", surface_dist)
    accs = evaluation.surface_accuracies(task, params, x, y, float(surface_dist), key=key, n_draws=n_draws)
    return {"mean": float(np.mean(accs)), "accuracies": [float(a) for a in accs]}


@functools.cache
def _predict_fn(forward):
    return jax.jit(lambda params, x: jnp.argmax(forward(params, x)[0], -1))


def _predict(task, params, x):
    fn = _predict_fn(task.forward)
    return np.concatenate([np.asarray(fn(params, x[i : i + BATCH])) for i in range(0, len(x), BATCH)])


@dj.cachable(DEPENDENCIES + ["mm_level"], version=EVAL_VERSION)
def panel_predictions(model, mm_level):
    """The first examples of the task's panel classes (class-major), their clean predictions and those under
    one draw θ(1+σN); predicted in the batches of 100 they belong to (the CNN uses batch statistics)."""
    task, params, x, y, s = _prepare(model, 0)
    classes, per_class = get_task(model["architecture"]).panel_examples
    idx = np.concatenate([np.flatnonzero(y == c)[:per_class] for c in classes])
    n = min(len(y), -(-(int(idx.max()) + 1) // BATCH) * BATCH)
    perturbed = mismatch.perturb(params, float(mm_level), key=eval_key(s, "panel", mm_level))
    names = get_task(model["architecture"]).class_names(task.config)
    return {
        "indices": idx.tolist(),
        "labels": y[idx].tolist(),
        "clean": _predict(task, params, x[:n])[idx].tolist(),
        "mismatch": _predict(task, perturbed, x[:n])[idx].tolist(),
        "class_names": names,
        "x": np.round(x[idx].astype(np.float64), 5).tolist(),
    }


def mismatch_evaluation(models: list[dict], levels, n_draws: int, test_limit: int) -> list[dict]:
    """Every model × σ with ``mismatch_list`` stored (``n_draws`` draws, 1 at σ = 0, spec §5.2)."""
    grid = [
        {**m, "mm_level": float(s), "n_draws": 1 if s == 0 else int(n_draws)} for m in models for s in levels
    ]
    return evaluate(grid, mismatch_list, "mismatch_list", "{*}", "{mm_level}", "{n_draws}", test_limit)


# ---------------------------------------------------------------------------------------- reductions


def samples(evaluated, key: str, where: dict) -> dict:
    """``{"session_ids": [...], "values": [per model]}`` of the elements matching ``where``, seed order."""
    chosen = [e for e in evaluated if all(k in e and e[k] == v for k, v in where.items())]
    chosen.sort(key=lambda m: m["seed"])
    return {"session_ids": [sid(m) for m in chosen], "values": [m[key] for m in chosen]}


def compare(a: dict, b: dict, names=("standard", "robust")) -> dict:
    """Pooled (all models × draws) ``summarize`` of both + two-sided Mann–Whitney U (b vs a)."""
    flat_a, flat_b = np.ravel(a["values"]), np.ravel(b["values"])
    out = {name: {**s, "summary": stats.summarize(np.ravel(s["values"]))} for name, s in zip(names, (a, b))}
    out["mann_whitney"] = stats.mann_whitney(flat_a, flat_b)
    out["delta_mean"] = float(np.mean(flat_b) - np.mean(flat_a))
    return out


def _pct(x) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{100 * x:.2f}"


def comparison_header(a: str, b: str) -> list[str]:
    """The columns of ``comparison_row`` for methods named ``a`` (left) and ``b`` (right)."""
    return [
        "Task",
        "σ",
        *(f"{m} mean ± std (%)" for m in (a, b)),
        "Δ mean (pp)",
        *(f"{m} min (%)" for m in (a, b)),
        *(f"{m} 95% CI (%)" for m in (a, b)),
        "p (two-sided MWU)",
        "effect size r",
        f"n {a}/{b}",
    ]


def comparison_row(task: str, sigma: float, cmp: dict, names=("standard", "robust")) -> list[str]:
    sa, sb = (cmp[n]["summary"] for n in names)
    mw = cmp["mann_whitney"]
    row = [task, f"{sigma:g}"]
    row += [f"{_pct(s['mean'])} ± {_pct(s['std'])}" for s in (sa, sb)]
    row += [f"{100 * cmp['delta_mean']:+.2f}", _pct(sa["min"]), _pct(sb["min"])]
    row += [f"[{_pct(s['ci95_low'])}, {_pct(s['ci95_high'])}]" for s in (sa, sb)]
    return row + [f"{mw['p_value']:.2e}", f"{mw['effect_size']:+.3f}", f"{sa['n']}/{sb['n']}"]


def smoothed(series: list[list[float]]) -> dict:
    """Per-seed moving averages and their mean; the window is 50 (spec) or a fifth of a short log."""
    n = min(len(s) for s in series)
    window = min(stats.MOVING_AVERAGE_WINDOW, max(1, n // 5))
    ma = [stats.moving_average(np.asarray(s[:n], float), window) for s in series]
    return {"window": window, "per_seed": [m.tolist() for m in ma], "mean": np.mean(ma, 0).tolist()}


def plot_curves(ax, raw: list, sm: dict, color: str, label: str, alpha: float = 0.3) -> None:
    """Seeds faint (raw α/3, moving average α), the mean of the moving averages bold."""
    for i, (r, m) in enumerate(zip(raw, sm["per_seed"])):
        ax.plot(r, color=color, alpha=alpha / 3, lw=0.6)
        ax.plot(m, color=color, alpha=alpha, lw=0.8, label=None)
    ax.plot(sm["mean"], color=color, lw=1.6, label=label)


def save(fig, name, numbers, *, profile, out_dir, models, table=None, extra=None) -> dict:
    """Save the figure (+ ``<name>_table.md/.tex``), print the table; numbers/table/sids go to the JSON."""
    out = figure_dir(profile, out_dir)
    if table is not None:
        header, rows = table
        numbers = {**numbers, "table": {"header": header, "rows": rows}}
        save_table(f"{name}_table", header, rows, out_dir=out)
        print(f"\n{name} ({profile}):\n{stats.markdown_table(header, rows)}", flush=True)
    paths = save_figure(
        fig, name, numbers, out_dir=out, profile=profile, session_ids=session_ids(models), extra=extra
    )
    plt.close(fig)
    print(f"wrote {', '.join(str(p) for p in paths.values())}", flush=True)
    return numbers


# ------------------------------------------------------------------- figure_main top panels (real)

SHARED = ("indices", "labels", "class_names", "x")  # identical for both models of a panel


def panel_numbers(evaluated: list[dict], architecture: str, sigma: float) -> dict:
    """One task's panel from the ``panel`` results of its two seed-0 models: the examples once, then
    per method its session id and predictions (clean, under mismatch)."""
    pair = {m["beta_robustness"]: m for m in evaluated if m["architecture"] == architecture}
    std, rob = (pair[beta] for beta in sorted(pair))  # β = 0 first
    out = {"panel_sigma": sigma, **{k: std["panel"][k] for k in SHARED}}
    for name, m in (("standard", std), ("robust", rob)):
        out[name] = {"session_id": sid(m), **{k: v for k, v in m["panel"].items() if k not in SHARED}}
    return out


def draw_panel(fig, cell, architecture: str, panel: dict) -> None:
    """figure_main's top panel of one task (``panel_numbers``), drawn by the task."""
    get_task(architecture).draw_panel(fig, cell, panel)
