"""The Experiments' evaluations of trained models, cached in the datajuicer sessions database.

Each is a ``datajuicer.cachable`` function keyed by the model's training session id + architecture + the
evaluation settings (plus ``EVAL_VERSION``; docs/original.md §5.1-5.3); results are JSON in the
sessions directory. The weights are read from ``resources_dir`` (not part of the key):

* ``test_accuracy(model, test_limit)`` → float;
* ``mismatch_list(model, mm_level, n_draws, test_limit)`` → ``n_draws`` accuracies of θ(1+σN(0,1)), draws
  vmapped (``robustness.mismatch``);
* ``attacked_test_accuracy(model, test_limit)`` → clean / attacked accuracy and mean KL trajectory under
  the model's own attack (quirk 11: always KL);
* ``surface_mean(model, surface_dist, n_draws, test_limit)`` → mean and draws of θ + c·sign(U(−1, 1));
* ``panel_predictions(model, mm_level)`` → a few test examples with the model's clean predictions and its
  predictions under one mismatch draw (figure_main's top panels; the original simulated these).

Every draw uses an explicit key from (the model's seed, purpose, σ) — never a global RNG. Keying by the
seed, not the session id, pairs the draws: the standard and robust models of one seed see the same noise ε
in draw i, and a rerun from empty caches draws the same noise again (README deviation 7b). Evaluation uses the
test split (its first ``test_limit`` examples when > 0) in the original's batches of 100. Under
``-ecg_resample_quirk=True`` every evaluation call and every mismatch or surface draw loads the ECG data
afresh and so sees a new test sample, as the original's per-call loader did (docs/original.md §3.2).
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
from tqdm import tqdm

import datajuicer as dj
from robustness import artifacts, evaluation, mismatch
from robustness.configs import TrainConfig, fields_of
from robustness.data import load_dataset
from robustness.paths import RESOURCES, Dirs
from robustness.reductions import training_sid
from robustness.tasks import get_task, make_task, task_of

EVAL_VERSION = "2"  # salt of every evaluation table: bump when an evaluation's output changes
PURPOSES = {"mismatch": 1, "attack": 2, "surface": 3, "panel": 4, "test": 5}
BATCH = evaluation.EVAL_BATCH_SIZE
DEPENDENCIES = ["model:{architecture}_session_id", "model:architecture"]


def eval_key(stream: int, purpose: str, value: float = 0.0) -> jax.Array:
    """A raw uint32[2] JAX key from (draw stream, purpose, σ or c): independent streams, no global RNG.
    The stream is the model's seed (``draw_stream``)."""
    seq = np.random.SeedSequence([int(stream), PURPOSES[purpose], round(float(value) * 1e6)])
    return jnp.asarray(seq.generate_state(2, np.uint32))


def draw_stream(config: TrainConfig) -> int:
    """The draw stream of a trained model: its ``-seed``. Models of one seed (any β, ζ or method) get the
    same perturbations, so their difference under mismatch is not blurred by independent draws."""
    return int(config.seed)


def task_config(config: TrainConfig) -> TrainConfig:
    """``config`` with every training flag at its default: what the test split and the model function
    depend on (the task's own flags and the data folder: the stored one if it exists here, else the local
    default). Models that share it share one test split and one compiled model function."""
    task = task_of(config)
    stored = config.data_dir
    data_dir = stored if stored and os.path.isdir(stored) else task.default_data_dir()
    own = {
        f.name: getattr(config, f.name)
        for f in dataclasses.fields(config)
        if f.name not in fields_of(TrainConfig)
    }
    return task.config_cls(**own, data_dir=data_dir)


def _load_test_split(config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    x, y = load_dataset(config).split("test")
    return np.asarray(x), np.asarray(y)


_cached_test_split = functools.lru_cache(maxsize=8)(_load_test_split)


def evaluation_split(config: TrainConfig, test_limit: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The test split of ``task_config(config)`` (its first ``test_limit`` examples when > 0): loaded once
    per process, or — when the task redraws its sample at every load (``-ecg_resample_quirk=True``) —
    loaded afresh at every call, as the original built a new loader for every evaluation."""
    config = task_config(config)
    fresh = task_of(config).redraws_on_load(config)
    x, y = (_load_test_split if fresh else _cached_test_split)(config)
    return (x[:test_limit], y[:test_limit]) if test_limit else (x, y)


def redraws(task) -> bool:
    """Whether ``task`` (a bound model) gets a new test sample at every evaluation call (quirk 8)."""
    return task_of(task.config).redraws_on_load(task.config)


@functools.lru_cache(maxsize=8)
def _model(config: TrainConfig, n_in: int):
    return make_task(config, n_in=n_in)  # one model function per task: jit caches are keyed by it


@functools.lru_cache(maxsize=16)
def _weights(resources_dir: str, session_id: int):
    config, params, _ = artifacts.load_model(resources_dir, session_id)
    return config, {k: jnp.asarray(v) for k, v in params.items()}


def _prepare(model: dict, test_limit: int, resources_dir):
    """``(model functions, params, x, y, draw stream)`` of a trained model on its test split (first
    ``test_limit``)."""
    config, params = _weights(str(resources_dir), training_sid(model))
    x, y = evaluation_split(config, test_limit)
    bound = dataclasses.replace(_model(task_config(config), int(x.shape[-1])), config=config)
    return bound, params, x, y, draw_stream(config)


@dj.cachable(DEPENDENCIES + ["test_limit"], version=EVAL_VERSION)
def test_accuracy(model, test_limit, resources_dir=RESOURCES):
    task, params, x, y, _ = _prepare(model, test_limit, resources_dir)
    return float(evaluation.accuracy(task, params, x, y, BATCH))


@dj.cachable(DEPENDENCIES + ["mm_level", "n_draws", "test_limit"], version=EVAL_VERSION)
def mismatch_list(model, mm_level, n_draws, test_limit, resources_dir=RESOURCES):
    task, params, x, y, s = _prepare(model, test_limit, resources_dir)
    key = eval_key(s, "mismatch", mm_level)
    if redraws(task):  # quirk 8: the original built a new loader, so drew a new test sample, per draw
        splits = [(x, y)] + [evaluation_split(task.config, test_limit) for _ in range(n_draws - 1)]
        keys = [jax.random.fold_in(key, i) for i in range(n_draws)]
    else:
        splits, keys = [(x, y)], [key]
    out = []
    for (xs, ys), k in zip(splits, keys):
        n = n_draws if len(splits) == 1 else 1
        accs = evaluation.mismatch_accuracies(task, params, xs, ys, float(mm_level), key=k, n_draws=n)
        out += [round(a * len(ys)) / len(ys) for a in accs]  # correct/n, exact again after float32
    return out


@dj.cachable(DEPENDENCIES + ["test_limit"], version=EVAL_VERSION)
def attacked_test_accuracy(model, test_limit, resources_dir=RESOURCES):
    task, params, x, y, s = _prepare(model, test_limit, resources_dir)
    clean, attacked, kl = evaluation.attacked_accuracy(task, params, x, y, key=eval_key(s, "attack"))
    return {"test_accuracy": clean, "attacked_test_accuracy": attacked, "kl_over_attack": kl}


@dj.cachable(DEPENDENCIES + ["surface_dist", "n_draws", "test_limit"], version=EVAL_VERSION)
def surface_mean(model, surface_dist, n_draws, test_limit, resources_dir=RESOURCES):
    task, params, x, y, s = _prepare(model, test_limit, resources_dir)
    key, c = eval_key(s, "surface", surface_dist), float(surface_dist)
    if redraws(task):  # quirk 8: a new test sample for every draw, as the original's per-call loader
        accs = []
        for i in range(n_draws):  # the keys of evaluation.surface_accuracies
            xs, ys = (x, y) if i == 0 else evaluation_split(task.config, test_limit)
            perturbed = mismatch.surface_perturb(params, c, key=jax.random.fold_in(key, i))
            accs.append(evaluation.accuracy(task, perturbed, xs, ys, BATCH))
    else:
        accs = evaluation.surface_accuracies(task, params, x, y, c, key=key, n_draws=n_draws)
    return {"mean": float(np.mean(accs)), "accuracies": [float(a) for a in accs]}


@functools.cache
def _predict_fn(forward):
    return jax.jit(lambda params, x: jnp.argmax(forward(params, x)[0], -1))


def _predict(task, params, x):
    fn = _predict_fn(task.forward)
    return np.concatenate([np.asarray(fn(params, x[i : i + BATCH])) for i in range(0, len(x), BATCH)])


@dj.cachable(DEPENDENCIES + ["mm_level"], version=EVAL_VERSION)
def panel_predictions(model, mm_level, resources_dir=RESOURCES):
    """The first examples of the task's panel classes (class-major), their clean predictions and those
    under one draw θ(1+σN); predicted in the batches of 100 they belong to (the CNN uses batch statistics)."""
    task, params, x, y, s = _prepare(model, 0, resources_dir)
    classes, per_class = get_task(model["architecture"]).panel_examples
    idx = np.concatenate([np.flatnonzero(y == c)[:per_class] for c in classes])
    n = min(len(y), -(-(int(idx.max()) + 1) // BATCH) * BATCH)
    perturbed = mismatch.perturb(params, float(mm_level), key=eval_key(s, "panel", mm_level))
    return {
        "indices": idx.tolist(),
        "labels": y[idx].tolist(),
        "clean": _predict(task, params, x[:n])[idx].tolist(),
        "mismatch": _predict(task, perturbed, x[:n])[idx].tolist(),
        "class_names": get_task(model["architecture"]).class_names(task.config),
        "x": np.round(x[idx].astype(np.float64), 5).tolist(),
    }


def evaluate(grid: list[dict], func, store_key: str, *args, dirs: Dirs) -> list[dict]:
    """``dj.run(grid, func, store_key=...)(*args)`` one element at a time (weights from
    ``dirs.resources_dir``, cache in ``dirs.cache_dir``), with a progress bar (tty) and a summary line;
    cached results are loaded, missing ones computed and stored."""
    counts, start, out = {}, time.monotonic(), []
    for element in tqdm(grid, desc=func.table_name, disable=None, leave=False):
        run = dj.run([element], func, store_key=store_key, cache_dir=str(dirs.cache_dir))
        result = run(*args, resources_dir=Path(dirs.resources_dir))
        counts[result.outcomes[0]] = counts.get(result.outcomes[0], 0) + 1
        out += result
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    print(f"{func.table_name}: {summary} ({time.monotonic() - start:.1f} s)", flush=True)
    return out


def mismatch_evaluation(models: list[dict], levels, n_draws: int, test_limit: int, dirs: Dirs) -> list[dict]:
    """Every model × σ with ``mismatch_list`` stored (``n_draws`` draws, 1 at σ = 0, docs/original.md
    §5.2)."""
    grid = [
        {**m, "mm_level": float(s), "n_draws": 1 if s == 0 else int(n_draws)} for m in models for s in levels
    ]
    return evaluate(
        grid, mismatch_list, "mismatch_list", "{*}", "{mm_level}", "{n_draws}", test_limit, dirs=dirs
    )


def panel_evaluation(models: list[dict], dirs: Dirs) -> list[dict]:
    """``panel_predictions`` of the first seed's models, each at its task's panel σ (figure_main)."""
    first_seed = min(m["seed"] for m in models)
    pairs = [
        {**m, "mm_level": get_task(m["architecture"]).panel_sigma} for m in models if m["seed"] == first_seed
    ]
    return evaluate(pairs, panel_predictions, "panel", "{*}", "{mm_level}", dirs=dirs)
