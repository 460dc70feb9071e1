"""Task and boundary losses (docs/original.md §1.1) against values computed by hand."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from robustness import losses

CLEAN = jnp.asarray([[0.0, 0.0], [1.0, 2.0]])  # p = (1/2, 1/2) and softmax(1, 2)
ATTACKED = jnp.asarray([[0.0, math.log(3.0)], [1.0, 2.0]])  # p* = (1/4, 3/4); second row unchanged


def test_cross_entropy_golden():
    # −log softmax: row 0 label 1 → log 2; row 1 label 0 → log(1 + e).
    got = losses.cross_entropy(CLEAN, jnp.asarray([1, 0]))
    assert float(got) == pytest.approx((math.log(2) + math.log(1 + math.e)) / 2, rel=1e-6)


def test_kl_reverse_kl_js_l2_golden():
    kl_row = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)  # = ½ log(4/3)
    reverse_row = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    m = (0.375, 0.625)
    js_row = 0.5 * (0.5 * math.log(0.5 / m[0]) + 0.5 * math.log(0.5 / m[1])) + 0.5 * (
        0.25 * math.log(0.25 / m[0]) + 0.75 * math.log(0.75 / m[1])
    )
    # The batch mean includes the identical second row (distance 0).
    assert float(losses.boundary_loss("kl", CLEAN, ATTACKED, 0.0)) == pytest.approx(kl_row / 2, rel=1e-5)
    assert float(losses.boundary_loss("reverse_kl", CLEAN, ATTACKED, 0.0)) == pytest.approx(
        reverse_row / 2, rel=1e-5
    )
    assert float(losses.boundary_loss("js", CLEAN, ATTACKED, 0.0)) == pytest.approx(js_row / 2, rel=1e-5)
    shifted = CLEAN + jnp.asarray([[3.0, 4.0], [0.0, 0.0]])
    assert float(losses.boundary_loss("l2", CLEAN, shifted, 0.0)) == pytest.approx(
        2.5, rel=1e-6
    )  # (‖(3,4)‖ + 0)/2
    assert kl_row != pytest.approx(reverse_row, rel=1e-3)  # the direction matters


def test_kl_floor_and_saturation():
    clean, attacked = jnp.asarray([[0.0, 0.0]]), jnp.asarray([[0.0, -40.0]])
    q = 1 / (1 + math.exp(-40.0))
    no_floor = 0.5 * math.log(0.5 / q) + 0.5 * (math.log(0.5) + 40.0 + math.log(1 + math.exp(-40.0)))
    assert float(losses.kl_divergence(clean, attacked, 0.0)) == pytest.approx(
        no_floor, rel=1e-5
    )  # report: no floor
    floored = 0.5 * math.log(0.5 / q) + 0.5 * math.log(0.5 / 1e-6)
    assert float(losses.kl_divergence(clean, attacked, min_prob=1e-6)) == pytest.approx(floored, rel=1e-5)
    saturated = losses.kl_divergence(jnp.asarray([[0.0, -200.0]]), jnp.asarray([[0.0, 0.0]]), 0.0)
    assert np.isfinite(float(saturated)) and float(saturated) == pytest.approx(math.log(2), rel=1e-5)


def test_l2_gradient_is_finite_at_zero_distance():
    grad = jax.grad(lambda a: losses.l2_distance(a, CLEAN))(CLEAN)
    np.testing.assert_array_equal(grad, np.zeros((2, 2)))


def test_firing_rate_penalty_hand_example_summed():
    # Batch 2 × 3 neurons × T 4; rates [[1/4, 0, 1/2], [0, 3/4, 1/4]].
    spikes = np.zeros((2, 4, 3), np.float32)
    spikes[0, :1, 0] = spikes[0, :2, 2] = spikes[1, :3, 1] = spikes[1, 3:, 2] = 1.0
    squares = 0.24**2 + 0.01**2 + 0.49**2 + 0.01**2 + 0.74**2 + 0.24**2  # = 0.9031
    assert float(losses.firing_rate_regulariser(jnp.asarray(spikes), reg=0.001)) == pytest.approx(
        0.001 * squares, rel=1e-5
    )
    got_mean = losses.firing_rate_regulariser(jnp.asarray(spikes), reg=0.5, reduction="mean")
    assert float(got_mean) == pytest.approx(0.5 * squares / 6, rel=1e-5)
    with pytest.raises(ValueError, match="sum"):
        losses.firing_rate_regulariser(jnp.asarray(spikes), reg=0.001, reduction="max")


def test_unknown_boundary_loss_names_the_choices():
    with pytest.raises(ValueError, match="kl.*reverse_kl.*l2.*js"):
        losses.boundary_loss("madry", CLEAN, ATTACKED, 0.0)
