"""Device-mismatch perturbations and accuracy under mismatch (docs/original.md §5.1, §5.3;
`experiment_utils.py@ce9b2ed8`).

    θ̃ = θ ⊙ (1 + σ·N(0, 1))      every element of every tensor, biases included (relative Gaussian mismatch)
    θ̃ = θ + c·sign(U(−1, 1))     "surface" perturbation of the constant-attack figure: each element ±c

Unlike the original (numpy global RNG re-seeded inside the evaluation, docs/original.md §5.1), every draw has
its own
key, so draws are independent. Accuracies count correct predictions over the whole set (a final partial
batch is weighted by its size); the CNN's batch statistics make the batch size part of the evaluation.
"""

import functools

import jax
import jax.numpy as jnp


def _tensor_keys(params: dict, key: jax.Array) -> dict:
    """One independent key per tensor: `split(key, n_tensors)` in sorted-name order."""
    names = sorted(params)
    return dict(zip(names, jax.random.split(key, len(names))))


def perturb(params: dict, sigma, *, key: jax.Array) -> dict:
    """θ ⊙ (1 + σ·ε), ε ~ N(0, 1) per element, independent keys per tensor; σ = 0 returns θ exactly."""
    keys = _tensor_keys(params, key)
    return {
        name: theta * (1.0 + sigma * jax.random.normal(keys[name], theta.shape, theta.dtype))
        for name, theta in params.items()
    }


def surface_perturb(params: dict, c, *, key: jax.Array) -> dict:
    """θ + c·sign(U(−1, 1)): every element moved by exactly ±c (docs/original.md §5.3 "Surface c")."""
    keys = _tensor_keys(params, key)
    return {
        name: theta + c * jnp.sign(jax.random.uniform(keys[name], theta.shape, theta.dtype, -1.0, 1.0))
        for name, theta in params.items()
    }


def _count_correct(forward, params, x, y):
    logits, _ = forward(params, x, None)
    return jnp.sum(jnp.argmax(logits, axis=-1) == y)


def count_correct(forward, params, x, y, batch_size: int) -> jax.Array:
    """The number of correct argmax predictions over x: (n, ...) / y: (n,), in sequential batches of
    batch_size (the one accuracy computation: clean, under mismatch, under surface perturbations).

    Full batches run under `lax.map`; a final partial batch (n mod batch_size examples) is one more call
    whose correct count enters with its true size. No dropout (all-ones mask).
    """
    n = x.shape[0]
    n_full = n // batch_size
    correct = jnp.zeros((), jnp.int32)
    if n_full:
        full_x = x[: n_full * batch_size].reshape(n_full, batch_size, *x.shape[1:])
        full_y = y[: n_full * batch_size].reshape(n_full, batch_size)
        per_batch = jax.lax.map(lambda xy: _count_correct(forward, params, *xy), (full_x, full_y))
        correct = correct + jnp.sum(per_batch)
    if n % batch_size:
        correct = correct + _count_correct(
            forward, params, x[n_full * batch_size :], y[n_full * batch_size :]
        )
    return correct


@functools.partial(jax.jit, static_argnames=("forward", "n_draws", "batch_size", "draws_per_chunk"))
def accuracy_under_mismatch(
    forward, params, x, y, sigma, *, key, n_draws: int, batch_size: int, draws_per_chunk: int = 5
) -> jax.Array:
    """Test accuracies (n_draws,) of `n_draws` independent mismatch draws θ ⊙ (1 + σ·N(0, 1)).

    Draw d uses `perturb(params, sigma, key=split(key, n_draws)[d])`. Draws are vmapped in chunks of
    `draws_per_chunk` (memory: each chunk holds that many copies of one batch's activations). Static:
    forward (hashable), n_draws, batch_size, draws_per_chunk; sigma and the arrays may vary without recompiling.
    """
    keys = jax.random.split(key, n_draws)

    def one_draw(draw_key):
        return count_correct(forward, perturb(params, sigma, key=draw_key), x, y, batch_size) / x.shape[0]

    return jax.lax.map(one_draw, keys, batch_size=min(draws_per_chunk, n_draws))
