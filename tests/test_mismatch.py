"""Mismatch perturbations and accuracy under mismatch (docs/original.md §5.1, §5.3)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from robustness import mismatch

KEY = jax.random.PRNGKey(0)


def batch_stat_forward(params, x, dropout_mask=None):
    """Linear classifier on batch-standardised inputs: like the CNN, its output depends on the batch."""
    return jax.nn.standardize(x, axis=0) @ params["W"] + params["b"], jnp.zeros((1, 1, 1))


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(250, 5)).astype(np.float32)
    w = rng.normal(size=(5, 3)).astype(np.float32)
    y = np.argmax(x @ w + rng.normal(scale=1.5, size=(250, 3)), axis=1)
    return {"W": jnp.asarray(w), "b": jnp.zeros(3)}, jnp.asarray(x), jnp.asarray(y)


def test_relative_gaussian_statistics_and_independence():
    params = {"a": jnp.ones((300, 300)), "b": jnp.full((300, 300), -2.0), "c": jnp.ones(7)}
    noisy = jax.jit(mismatch.perturb)(params, 0.3, key=KEY)
    for name in ("a", "b"):
        ratio = np.asarray(noisy[name] / params[name])
        assert ratio.mean() == pytest.approx(1.0, abs=0.005) and ratio.std() == pytest.approx(0.3, rel=0.01)
    noise_a, noise_b = np.asarray(noisy["a"]) - 1, np.asarray(noisy["b"]) / -2 - 1
    assert abs(np.corrcoef(noise_a.ravel(), noise_b.ravel())[0, 1]) < 0.01  # independent keys per tensor
    other = mismatch.perturb(params, 0.3, key=jax.random.PRNGKey(1))
    assert not np.allclose(other["a"], noisy["a"])
    again = mismatch.perturb(params, 0.3, key=KEY)
    np.testing.assert_array_equal(again["c"], noisy["c"])
    unchanged = mismatch.perturb(params, 0.0, key=KEY)
    np.testing.assert_array_equal(unchanged["b"], params["b"])


def test_surface_perturbation_moves_every_element_by_c():
    params = {"w": jnp.linspace(-1.0, 1.0, 10_000)}
    moved = np.asarray(mismatch.surface_perturb(params, 0.05, key=KEY)["w"] - params["w"])
    np.testing.assert_allclose(np.abs(moved), 0.05, rtol=1e-4)
    assert np.mean(moved > 0) == pytest.approx(0.5, abs=0.02)


def test_partial_batch_is_weighted_by_its_size(problem):
    params, x, y = problem
    got = int(mismatch.count_correct(batch_stat_forward, params, x, y, batch_size=100)) / 250
    correct = sum(
        int(jnp.sum(jnp.argmax(batch_stat_forward(params, x[i : i + 100])[0], axis=1) == y[i : i + 100]))
        for i in (0, 100, 200)  # batches of 100, 100 and 50, each standardised on its own
    )
    assert got == correct / 250
    assert 0.4 < got < 1.0


def test_vmapped_draws_equal_a_loop_over_the_same_keys(problem):
    params, x, y = problem

    def draws(sigma):
        return mismatch.accuracy_under_mismatch(
            batch_stat_forward, params, x, y, sigma, key=KEY, n_draws=5, batch_size=100, draws_per_chunk=2
        )

    one_draw = jax.jit(
        lambda k: mismatch.count_correct(batch_stat_forward, mismatch.perturb(params, 0.8, key=k), x, y, 100)
        / len(y)
    )
    loop = [float(one_draw(k)) for k in jax.random.split(KEY, 5)]
    np.testing.assert_allclose(draws(0.8), loop, atol=1e-7)
    assert len(set(np.round(loop, 6))) > 1  # the draws differ
    np.testing.assert_allclose(
        draws(0.0), int(mismatch.count_correct(batch_stat_forward, params, x, y, 100)) / len(y), atol=1e-7
    )
