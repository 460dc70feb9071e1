"""Fashion-MNIST CNN (docs/original.md §2.2): patch-matmul convolution, batch statistics, initialisation
quirks."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from robustness import cnn, losses

KEY = jax.random.PRNGKey(0)
REPORT_QUIRKS = {"scalar_conv1_bias": True, "w3_reuses_w2_key": True}  # the -flag defaults (quirk 5)


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    return jnp.asarray(rng.uniform(0, 255, size=(16, 1, 28, 28)), jnp.float32)


def reference_forward(params, x):
    """docs/original.md §2.2 written with lax.conv_general_dilated (NCHW/OIHW) and reduce_window
    max-pooling."""

    def pool(h):
        return jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    h = jax.nn.standardize(x, axis=(0, 2, 3))
    h = pool(
        jax.nn.relu(jax.lax.conv_general_dilated(h, params["K1"], (1, 1), ((2, 1), (2, 1))) + params["CB1"])
    )
    h = pool(jax.nn.relu(jax.lax.conv_general_dilated(h, params["K2"], (1, 1), "VALID") + params["CB2"]))
    h = jax.nn.relu(h.reshape(h.shape[0], -1) @ params["W1"] + params["B1"])
    h = jax.nn.relu(h @ params["W2"] + params["B2"])
    return jax.nn.standardize(h, axis=0) @ params["W3"] + params["B3"]


@pytest.mark.parametrize("padding, in_ch, size", [(((2, 1), (2, 1)), 1, 28), (((0, 0), (0, 0)), 8, 14)])
def test_patch_matmul_conv_equals_lax_conv(padding, in_ch, size):
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(3, in_ch, size, size)), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(5, in_ch, 4, 4)), jnp.float32)
    want = jax.lax.conv_general_dilated(x, kernel, (1, 1), padding)
    got = jnp.transpose(cnn.conv2d(jnp.transpose(x, (0, 2, 3, 1)), kernel, padding), (0, 3, 1, 2))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-5 * float(jnp.abs(want).max()))


def test_forward_equals_lax_reference_and_placeholder_spikes(batch):
    params = cnn.init_params(KEY, **REPORT_QUIRKS)
    params = {**params, "B1": params["B1"] + 0.1, "B3": params["B3"] + jnp.arange(10.0)}  # non-zero biases
    (logits, spikes), want = jax.jit(lambda p, x: (cnn.forward(p, x), reference_forward(p, x)))(params, batch)
    assert logits.shape == (16, 10)
    np.testing.assert_allclose(logits, want, atol=1e-5 * float(jnp.abs(want).max()))
    np.testing.assert_array_equal(spikes, np.zeros((1, 1, 1)))
    assert float(losses.firing_rate_regulariser(spikes, reg=0.001)) == pytest.approx(
        0.001 * 0.01**2
    )  # constant 1e-7
    # Standardisation before W3: features have zero batch mean, so the batch mean of the logits is B3.
    np.testing.assert_allclose(logits.mean(axis=0), params["B3"], atol=1e-4)


def test_batch_statistics_make_predictions_depend_on_the_batch(batch):
    params = cnn.init_params(KEY, **REPORT_QUIRKS)
    forward = jax.jit(cnn.forward)
    logits = forward(params, batch)[0]
    # The input standardisation over (batch, H, W) removes any affine change of the whole batch ...
    np.testing.assert_allclose(forward(params, 3.0 * batch + 7.0)[0], logits, atol=1e-3)
    # ... but a different batch changes the output for the same image (batch statistics at test time).
    other = batch.at[1:].set(batch[1:] * 0.2)
    assert float(jnp.abs(forward(params, other)[0][0] - logits[0]).max()) > 1e-3


def test_init_quirk_switches_and_scales():
    scale2, scale3 = math.sqrt(6 / 320), math.sqrt(6 / 74)

    @jax.jit  # one program: XLA shares the identical random draws, which dominate the compile time
    def draws(key):
        _, *sks = jax.random.split(key, 10)

        def tn(k, shape):
            return jax.random.truncated_normal(k, -2, 2, shape)

        expected = {
            "W2": tn(sks[4], (256, 64)) * scale2,
            "W3": tn(sks[4], (64, 10)) * scale3,
            "W3_fixed": tn(sks[5], (64, 10)) * scale3,
            "K1": tn(sks[1], (64, 1, 4, 4)) * math.sqrt(6 / 512),
            "CB2": tn(sks[7], (1, 64, 1, 1)) * math.sqrt(6 / 32768),
        }
        fixed = cnn.init_params(key, scalar_conv1_bias=False, w3_reuses_w2_key=False)
        return cnn.init_params(key, **REPORT_QUIRKS), fixed, expected

    report, fixed, expected = draws(KEY)
    assert report["CB1"].shape == (1, 1, 1, 1) and fixed["CB1"].shape == (1, 64, 1, 1)
    np.testing.assert_allclose(report["W2"], expected["W2"], rtol=1e-6)
    np.testing.assert_allclose(report["W3"], expected["W3"], rtol=1e-6)  # quirk: W3 drawn with W2's key
    np.testing.assert_allclose(fixed["W3"], expected["W3_fixed"], rtol=1e-6)
    if (
        jax.config.jax_threefry_partitionable
    ):  # draws are indexed by position: W3 repeats W2's first 640 values
        np.testing.assert_allclose(
            report["W3"] / scale3, (report["W2"] / scale2).ravel()[:640].reshape(64, 10), rtol=1e-5
        )
    assert not np.allclose(fixed["W3"], report["W3"])
    np.testing.assert_allclose(report["K1"], expected["K1"], rtol=1e-6)
    np.testing.assert_allclose(report["CB2"], expected["CB2"], rtol=1e-6)
    assert np.std(report["W1"]) == pytest.approx(math.sqrt(6 / 1856) * 0.8796, rel=0.02)
    for name in ("B1", "B2", "B3"):
        np.testing.assert_array_equal(report[name], 0.0)
