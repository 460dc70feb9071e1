"""Evaluation shared by training (validation) and the Experiments (test, attack, mismatch, surface).

All functions evaluate a split in batches of ``batch_size`` (``EVAL_BATCH_SIZE`` = 100, as the original: the
CNN standardises with batch statistics, so its accuracy depends on the batch) and count correct predictions
exactly with ``mismatch.count_correct`` (the original weighted a final partial batch as a full one; see
README "Deviations").
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from robustness import attack, mismatch
from robustness.configs import attack_kwargs
from robustness.tasks.base import Model


EVAL_BATCH_SIZE = 100  # the original's evaluation batch


def batches(x, y, batch_size: int):
    for start in range(0, len(y), batch_size):
        yield x[start : start + batch_size], y[start : start + batch_size]


_count_correct = jax.jit(mismatch.count_correct, static_argnames=("forward", "batch_size"))


@functools.lru_cache(maxsize=None)
def _attacked_fn(forward, kwargs_items):
    kwargs = dict(kwargs_items)

    @jax.jit
    def fn(params, x, y, key):
        logits, _ = forward(params, x)
        attacked_logits, kl = attack.evaluation_attack(forward, params, x, key=key, **kwargs)
        correct = jnp.sum(jnp.argmax(logits, -1) == y)
        return correct, jnp.sum(jnp.argmax(attacked_logits, -1) == y), kl

    return fn


def accuracy(task: Model, params, x, y, batch_size: int = EVAL_BATCH_SIZE) -> float:
    """Clean accuracy over (x, y)."""
    return int(_count_correct(task.forward, params, x, y, batch_size=batch_size)) / len(y)


def attacked_accuracy(task: Model, params, x, y, *, key, batch_size: int = EVAL_BATCH_SIZE, settings=None):
    """``(clean_acc, attacked_acc, mean KL trajectory [N+1])`` under the evaluation-time attack.

    ``settings`` defaults to the model's own attack flags (quirk 11: always KL, all-ones dropout mask).
    """
    settings = settings if settings is not None else attack_kwargs(task.config)
    fn = _attacked_fn(task.forward, tuple(sorted(settings.items())))
    clean = att = 0
    kls = []
    for i, (xb, yb) in enumerate(batches(x, y, batch_size)):
        c, a, kl = fn(params, xb, yb, jax.random.fold_in(key, i))
        clean, att = clean + int(c), att + int(a)
        kls.append(np.asarray(kl))
    return clean / len(y), att / len(y), np.mean(kls, axis=0).tolist()


def mismatch_accuracies(
    task: Model, params, x, y, sigma: float, *, key, n_draws: int, batch_size=EVAL_BATCH_SIZE
):
    """Test accuracy of ``n_draws`` independent draws θ(1+σN(0,1)) (vmapped over draw keys)."""
    accs = mismatch.accuracy_under_mismatch(
        task.forward, params, x, y, sigma, key=key, n_draws=n_draws, batch_size=batch_size
    )
    return np.asarray(accs, np.float64).tolist()


def surface_accuracies(task: Model, params, x, y, c: float, *, key, n_draws: int, batch_size=EVAL_BATCH_SIZE):
    """Accuracy after θ + c·sign(U(−1,1)) (docs/original.md §5.3 "surface"), one value per draw."""
    out = []
    for i in range(n_draws):
        perturbed = mismatch.surface_perturb(params, c, key=jax.random.fold_in(key, i))
        out.append(accuracy(task, perturbed, x, y, batch_size))
    return out
