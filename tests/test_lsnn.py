"""LSNN dynamics (docs/original.md §2.1): a hand trace, parity with a NumPy loop, surrogate values, BPTT,
init."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from robustness import attack, losses, lsnn
from robustness.surrogate import spike
from robustness.tasks.lsnn_common import LsnnConfig, lsnn_constants

REPORT = lsnn_constants(LsnnConfig())  # τ 20, τ_a 98, thr 0.01, beta 2, refr 2, dt 1, dampening 0.3


def numpy_reference(w_in, w_rec, x, mask=None, **consts):
    """The docs/original.md §2.1 equations in float64 NumPy, one Python step at a time. x: (batch, T,
    n_in)."""
    c = {**REPORT, **consts}
    alpha, rho = math.exp(-c["dt"] / c["tau"]), math.exp(-c["dt"] / c["tau_adaptation"])
    batch, steps, _ = x.shape
    n = w_rec.shape[0]
    mask = np.ones((1, n)) if mask is None else np.asarray(mask, np.float64)
    v, b, r, z = (np.zeros((batch, n)) for _ in range(4))
    trace = {key: [] for key in ("v", "b", "A", "z", "r")}
    for t in range(steps):
        b = rho * b + (1 - rho) * z
        threshold = c["thr"] + c["beta"] * b
        v = alpha * v + (1 - alpha) * (x[:, t] @ w_in + z @ w_rec) - z * threshold * c["dt"]
        z = mask * (r <= 0.1) * ((v - threshold) / threshold > 0) / c["dt"]
        r = np.clip(r + c["refr"] * z - 1, 0, c["refr"])
        for key, value in zip(trace, (v, b, threshold, z, r)):
            trace[key].append(value)
    return {key: np.stack(values, axis=0) for key, values in trace.items()}  # (T, batch, n)


def test_hand_trace_spike_refractory_block_and_reset():
    # Neuron 0 is driven hard (x·W_in = 2 per step): it spikes at t=0, is blocked at t=1 although its
    # membrane is above threshold, and spikes again at t=2. Neuron 1 only gets input through W_rec.
    w_in = np.array([[2.0, 0.0]])
    w_rec = np.array([[0.0, 0.3], [-0.2, 0.0]])
    x = np.ones((1, 8, 1))
    alpha, rho = math.exp(-1 / 20), math.exp(-1 / 98)
    # First three steps by hand, straight from the equations of docs/original.md §2.1.
    v0 = (1 - alpha) * 2.0
    b1 = (1 - rho) * 1.0
    a1 = 0.01 + 2.0 * b1
    v1 = alpha * v0 + (1 - alpha) * 2.0 - 1.0 * a1  # reset by subtraction with the *current* A_1
    assert v1 > a1  # would spike, but r_0 = 1 blocks it
    b2 = rho * b1
    # Neuron 1 reaches (1−α)·0.3 > thr at t=1 through W_rec and spikes; that inhibits neuron 0 (−0.2) at t=2.
    v2 = alpha * v1 + (1 - alpha) * (2.0 - 0.2)
    params = {"W_in": jnp.asarray(w_in, jnp.float32), "W_rec": jnp.asarray(w_rec, jnp.float32)}
    state, aux = lsnn.simulate(params, jnp.asarray(x, jnp.float32), **REPORT)
    np.testing.assert_allclose(state.v[:3, 0, 0], [v0, v1, v2], rtol=1e-5)
    np.testing.assert_allclose(aux.threshold[:3, 0, 0], [0.01, a1, 0.01 + 2.0 * b2], rtol=1e-5)
    np.testing.assert_array_equal(state.z[:4, 0, 0], [1.0, 0.0, 1.0, 0.0])
    np.testing.assert_array_equal(state.r[:4, 0, 0], [1.0, 0.0, 1.0, 0.0])
    np.testing.assert_allclose(state.v[1, 0, 1], (1 - alpha) * 0.3, rtol=1e-5)
    np.testing.assert_array_equal(state.z[:2, 0, 1], [0.0, 1.0])
    ref = numpy_reference(w_in, w_rec, x)
    for key, value in (("v", state.v), ("b", state.b), ("A", aux.threshold), ("z", state.z), ("r", state.r)):
        np.testing.assert_allclose(value, ref[key], rtol=2e-5, atol=1e-7, err_msg=key)


def test_scan_equals_numpy_loop_on_random_network():
    params = lsnn.init_params(jax.random.PRNGKey(3), 4, 12, 3)
    x = jnp.asarray(2.0 * np.random.default_rng(0).normal(size=(3, 40, 4)), jnp.float32)
    mask = jnp.asarray([[1.0] * 10 + [0.0] * 2])
    consts = {**REPORT, "tau": 15.0, "beta": 1.5, "refr": 3.0}
    state, aux = jax.jit(lsnn.simulate)(params, x, mask, **consts)
    ref = numpy_reference(
        np.asarray(params["W_in"], np.float64),
        np.asarray(params["W_rec"], np.float64),
        np.asarray(x, np.float64),
        mask,
        **consts,
    )
    assert ref["z"].sum() > 20 and ref["z"][..., 10:].sum() == 0  # spikes happen; masked neurons are silent
    np.testing.assert_array_equal(state.z, ref["z"])
    np.testing.assert_allclose(state.v, ref["v"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(aux.threshold, ref["A"], rtol=1e-5)
    logits, spikes = jax.jit(lsnn.forward)(params, x, mask, **consts)
    np.testing.assert_array_equal(spikes, np.swapaxes(ref["z"], 0, 1))
    expected = ref["z"].mean(axis=0) @ np.asarray(params["W_out"]) + np.asarray(params["b_out"])
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("u, value", [(0.0, 0.3), (0.5, 0.15), (-0.5, 0.15), (1.0, 0.0), (-1.5, 0.0)])
def test_surrogate_gradient_values(u, value):
    assert float(jax.grad(spike)(jnp.float32(u), 0.3)) == pytest.approx(value, abs=1e-7)
    assert float(jax.grad(lambda w: spike(w, 0.5))(jnp.float32(u))) == pytest.approx(
        value / 0.3 * 0.5, abs=1e-7
    )


def test_spike_forward_is_strict_heaviside():
    np.testing.assert_array_equal(spike(jnp.asarray([-1e-6, 0.0, 1e-6]), 0.3), [0.0, 0.0, 1.0])


def _task_loss(forward, params, x, y, mask=None, **consts):
    logits, spikes = forward(params, x, mask, **{**REPORT, **consts})
    return losses.cross_entropy(logits, y) + losses.firing_rate_regulariser(spikes, reg=0.001)


_task_grad = jax.jit(jax.grad(_task_loss, argnums=1), static_argnums=0)


def test_hand_written_backward_equals_autodiff():
    params = lsnn.init_params(jax.random.PRNGKey(1), 5, 16, 3)
    x = jnp.asarray(2.0 * np.random.default_rng(2).normal(size=(4, 30, 5)), jnp.float32)
    y = jnp.asarray([0, 1, 2, 1])
    mask = (jnp.arange(16) % 5 != 0).astype(jnp.float32)[None]
    consts = {"tau": 12.0, "tau_adaptation": 50.0, "beta": 1.0, "refr": 3.0, "dampening_factor": 0.5}
    grad = jax.jit(jax.grad(_task_loss, argnums=(1, 2)), static_argnums=0, static_argnames=tuple(consts))
    grads = grad(lsnn.forward, params, x, y, mask, **consts)
    ref = grad(lsnn.forward_reference, params, x, y, mask, **consts)
    for got, want in zip(jax.tree.leaves(grads), jax.tree.leaves(ref)):
        assert float(jnp.abs(want).max()) > 0
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * float(jnp.abs(want).max()))


def test_recurrent_diagonal_stays_zero_under_adam():
    initial = lsnn.init_params(jax.random.PRNGKey(0), 4, 10, 2)
    x = jnp.asarray(3.0 * np.random.default_rng(1).normal(size=(8, 25, 4)), jnp.float32)
    y = jnp.asarray(np.arange(8) % 2)
    optimizer = optax.adam(1e-2)

    @jax.jit
    def train(params):
        state = optimizer.init(params)
        for _ in range(4):
            grads = attack.mask_recurrent_diagonal(
                jax.grad(_task_loss, argnums=1)(lsnn.forward, params, x, y)
            )
            updates, state = optimizer.update(grads, state, params)
            params = optax.apply_updates(params, updates)
        return params, jax.grad(_task_loss, argnums=1)(lsnn.forward, initial, x, y)

    params, raw = train(initial)
    assert float(jnp.abs(jnp.diag(raw["W_rec"])).max()) > 0  # without the mask the diagonal would move
    assert jnp.all(jnp.diag(params["W_rec"]) == 0.0)
    assert float(jnp.abs(params["W_rec"] - initial["W_rec"]).max()) > 1e-3


def test_gradients_vmap_over_seeds():
    # Seed-batched training vmaps the custom backward pass; both cotangent paths (spikes used by the rate
    # term, or only the logits as in the attack's KL) must equal the per-seed gradients.
    seeds = jax.vmap(lambda k: lsnn.init_params(k, 4, 10, 2))(jax.random.split(jax.random.PRNGKey(0), 2))
    x = jnp.asarray(3.0 * np.random.default_rng(1).normal(size=(8, 25, 4)), jnp.float32)
    y = jnp.asarray(np.arange(8) % 2)

    def logits_only(p):
        return jnp.sum(lsnn.forward(p, x, **REPORT)[0] ** 2)

    def grads(p):
        return jax.grad(_task_loss, argnums=1)(lsnn.forward, p, x, y), jax.grad(logits_only)(p)

    vmapped, single = jax.jit(jax.vmap(grads))(seeds), jax.jit(grads)
    for i in range(2):
        seed = {name: value[i] for name, value in seeds.items()}
        for got, want in zip(jax.tree.leaves(vmapped), jax.tree.leaves(single(seed))):
            np.testing.assert_allclose(got[i], want, rtol=1e-5, atol=1e-7)


def test_init_matches_original_recipe_and_scales():
    key = jax.random.PRNGKey(7)

    @jax.jit
    def draws(k):
        _, *sks = jax.random.split(k, 5)
        scale = math.sqrt(2 / 296) / 0.87962566103423978
        return lsnn.init_params(k, 40, 256, 4), jax.random.truncated_normal(sks[1], -2, 2, (40, 256)) * scale

    params, expected_in = draws(key)
    np.testing.assert_allclose(params["W_in"], expected_in, rtol=1e-6)
    off_diagonal = np.asarray(params["W_rec"])[~np.eye(256, dtype=bool)]
    assert np.all(np.diag(np.asarray(params["W_rec"])) == 0.0)
    assert np.std(params["W_in"]) == pytest.approx(math.sqrt(2 / 296), rel=0.03)
    assert np.std(off_diagonal) == pytest.approx(math.sqrt(1 / 256), rel=0.02)
    assert np.std(params["W_out"]) == pytest.approx(0.01 * 0.87962566, rel=0.1)
    assert np.abs(off_diagonal).max() <= 2 * math.sqrt(1 / 256) / 0.87962566 + 1e-7  # truncated at ±2
    np.testing.assert_array_equal(params["b_out"], np.zeros(4))


def test_constants_are_all_required_and_named():
    params, x = lsnn.init_params(jax.random.PRNGKey(0), 4, 10, 2), jnp.ones((1, 2, 4))
    with pytest.raises(TypeError, match="tau_adaptation"):
        lsnn.forward(params, x, **REPORT, taus=3.0)  # a misspelt constant is refused, naming the valid ones
    with pytest.raises(TypeError, match=r"missing \['dampening_factor'\]"):
        lsnn.forward(params, x, **{k: v for k, v in REPORT.items() if k != "dampening_factor"})
