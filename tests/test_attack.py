"""The θ* attack and the robust loss (docs/original.md §1.1-1.2): golden steps, box, Jacobian, equivalences,
guards."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from robustness import attack, losses, lsnn
from robustness.configs import loss_kwargs
from robustness.tasks import SpeechConfig
from robustness.tasks.lsnn_common import lsnn_constants

KEY = jax.random.PRNGKey(42)
# The report's settings as the config builds them: β 1, ζ_rel 2, σ_rel 0.001, N 10, KL, reg 0.001, ...
LOSS = loss_kwargs(SpeechConfig())
SETTINGS = {name: LOSS[name] for name in attack.AttackSettings._fields}
LSNN = functools.partial(lsnn.forward, **lsnn_constants(SpeechConfig()))
STATIC = ("n_attack_steps", "relative_step_uses_abs", "p_norm", "boundary_loss", "kl_min_prob")


def elementwise_forward(params, x, dropout_mask=None):
    """A 3-class toy model: logits = x ⊙ w (x: (batch, 3)), no spikes."""
    return x * params["w"], jnp.zeros((1, 1, 1))


def mlp_forward(params, x, dropout_mask=None):
    """A small MLP standing in for a network: hidden units play the neurons (one "time step")."""
    hidden = jnp.tanh(x @ params["W1"] + params["b1"])
    hidden = hidden if dropout_mask is None else hidden * dropout_mask
    return hidden @ params["W2"] + params["b2"], hidden[:, None, :]


def expected_init(params, key, sigma_rel, sigma_const=0.0, use_abs=False):
    """`_expected_init` always called with the same signature, so that it compiles once per model."""
    return _expected_init(params, key, sigma_rel, sigma_const, use_abs=use_abs)


@functools.partial(jax.jit, static_argnames="use_abs")
def _expected_init(params, key, sigma_rel, sigma_const, use_abs):
    """θ*_0 from the documented key scheme: split(key, n_tensors) by sorted name, (ε₁, ε₂) = normal(k, (2, ...))."""
    names = sorted(params)
    init, eps = {}, {}
    for name, tensor_key in zip(names, jax.random.split(key, len(names))):
        theta = params[name]
        eps[name], eps_const = jax.random.normal(tensor_key, (2, *theta.shape))
        relative = (
            theta + jnp.abs(theta) * sigma_rel * eps[name] if use_abs else theta * (1 + sigma_rel * eps[name])
        )
        init[name] = relative + sigma_const * eps_const
    return init, eps


@functools.partial(jax.jit, static_argnums=0)
def _kl_value_and_grad(forward, theta, x, clean):
    return jax.value_and_grad(lambda t: losses.kl_divergence(clean, forward(t, x, None)[0], 0.0))(theta)


@functools.partial(jax.jit, static_argnames="use_abs")
def _loop_update(theta, sign_sum, grads, params, zeta, n_steps, use_abs):
    signs = {k: jnp.sign(g) for k, g in grads.items()}
    step = {k: zeta * (jnp.abs(v) if use_abs else v) / n_steps for k, v in params.items()}
    return {k: theta[k] + step[k] * signs[k] for k in theta}, {k: sign_sum[k] + signs[k] for k in theta}


def loop_attack(forward, params, x, key, zeta, sigma_rel, n_steps, use_abs=False):
    """The original `make_theta_star` loop, step by step: θ* ← θ* + a·sign(g). Returns θ*, trajectory, Σ sign, ε₁."""
    clean = jax.jit(forward)(params, x, None)[0]
    theta, eps = expected_init(params, key, sigma_rel, 0.0, use_abs=use_abs)
    trajectory, sign_sum = [], {k: jnp.zeros_like(v) for k, v in params.items()}
    for _ in range(n_steps):
        value, grads = _kl_value_and_grad(forward, theta, x, clean)
        trajectory.append(float(value))
        theta, sign_sum = _loop_update(theta, sign_sum, grads, params, zeta, n_steps, use_abs=use_abs)
    trajectory.append(float(_kl_value_and_grad(forward, theta, x, clean)[0]))
    return theta, np.asarray(trajectory), sign_sum, eps


_attack = jax.jit(attack.attack_parameters, static_argnums=0, static_argnames=STATIC)


def run_attack(forward, params, x, key=KEY, **kw):
    """The jitted attack with every setting passed (the report's, 3 steps, unless given), so that calls
    differing only in numbers share a compilation."""
    return _attack(forward, params, x, key=key, **{**SETTINGS, "n_attack_steps": 3, **kw})


@pytest.fixture(scope="module")
def mlp():
    """MLP params with mixed-sign weights, inputs (8, 4), labels of 3 classes."""
    rng = np.random.default_rng(1)
    params = {
        "W1": rng.normal(size=(4, 6)),
        "b1": rng.normal(size=6),
        "W2": 2 * rng.normal(size=(6, 3)),
        "b2": rng.normal(size=3),
    }
    params = {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}
    return params, jnp.asarray(rng.normal(size=(8, 4)), jnp.float32), jnp.asarray(np.arange(8) % 3)


@pytest.fixture(scope="module")
def tiny():
    """A small LSNN whose neurons spike: params, x (batch 4, T 20, 3 inputs), labels."""
    params = lsnn.init_params(jax.random.PRNGKey(0), 3, 6, 2)
    params["W_out"] = params["W_out"] * 100.0  # readout large enough for a non-trivial KL landscape
    x = jnp.asarray(3.0 * np.random.default_rng(0).normal(size=(4, 20, 3)), jnp.float32)
    return params, x, jnp.asarray([0, 1, 1, 0])


def test_zero_steps_returns_the_random_initialisation(mlp):
    params, x, _ = mlp

    @jax.jit
    def both(p):
        kwargs = {"initial_std_mismatch": 0.1, "initial_std_constant": 0.05}
        return run_attack(mlp_forward, p, x, n_attack_steps=0, **kwargs), expected_init(p, KEY, 0.1, 0.05)[0]

    (theta_star, trajectory), want = both(params)
    for name in params:
        np.testing.assert_array_equal(theta_star[name], want[name])
        assert not np.allclose(theta_star[name], params[name])
    assert trajectory.shape == (1,)


@pytest.mark.parametrize("p_norm", ["inf", "2"])
def test_golden_single_step_on_three_elements(p_norm):
    params, x = {"w": jnp.asarray([0.5, -1.0, 2.0])}, jnp.asarray([[1.0, 2.0, -1.0], [0.5, -1.0, 1.0]])
    init, _ = expected_init(params, KEY, 0.1, 0.0)
    clean = elementwise_forward(params, x)[0]
    g = np.asarray(_kl_value_and_grad(elementwise_forward, init, x, clean)[1]["w"])
    assert np.all(g != 0)
    direction = np.sign(g) if p_norm == "inf" else g / np.linalg.norm(g)  # p_norm "2": g/‖g‖₂ (ICLR era)
    theta_star, _ = run_attack(
        elementwise_forward,
        params,
        x,
        n_attack_steps=1,
        p_norm=p_norm,
        attack_size_mismatch=0.6,
        initial_std_mismatch=0.1,
    )
    # θ* = θ*_0 + (ζ·θ/N)·sign(g): the signed step of the report (quirk 1).
    np.testing.assert_allclose(theta_star["w"], init["w"] + 0.6 * params["w"] * direction, rtol=1e-6)


def test_scan_attack_equals_the_original_loop_and_stays_in_the_box(tiny):
    params, x, _ = tiny
    theta_star, trajectory = run_attack(LSNN, params, x, n_attack_steps=6)
    want, want_trajectory, _, eps = loop_attack(LSNN, params, x, KEY, 2.0, 0.001, 6)
    assert trajectory.shape == (7,)
    np.testing.assert_allclose(trajectory, want_trajectory, rtol=1e-4, atol=1e-7)  # float32 KL near 0
    for name in params:
        np.testing.assert_allclose(theta_star[name], want[name], rtol=1e-5, atol=1e-8)
        # Box: each of the N steps moves an element by at most |a| = ζ|θ|/N around the initialisation.
        theta, star = np.asarray(params[name]), np.asarray(theta_star[name])
        init = theta * (1 + 0.001 * np.asarray(eps[name]))
        assert np.all(np.abs(star - init) <= 2.0 * np.abs(theta) * (1 + 1e-5) + 1e-12)
    assert np.all(
        theta_star["W_rec"][np.eye(6, dtype=bool)] == 0.0
    )  # relative attack keeps the diagonal at 0
    # Constant attack (same compiled program): every element within ζ_const = 0.01 of its initialisation.
    theta_star, _ = run_attack(
        LSNN,
        params,
        x,
        n_attack_steps=6,
        attack_size_mismatch=0.0,
        initial_std_mismatch=0.0,
        attack_size_constant=0.01,
        initial_std_constant=0.001,
    )
    init, _ = expected_init(params, KEY, 0.0, 0.001)
    for name in params:
        displacement = np.abs(np.asarray(theta_star[name] - init[name]))
        assert displacement.max() <= 0.01 + 1e-6 and displacement.max() > 0.005


def test_jacobian_of_theta_star_is_the_closed_form_diagonal(mlp):
    params, x, _ = mlp
    zeta, sigma, n = 1.0, 0.01, 3

    def theta_star_fn(p, use_abs):
        return run_attack(
            mlp_forward,
            p,
            x,
            relative_step_uses_abs=use_abs,
            attack_size_mismatch=zeta,
            initial_std_mismatch=sigma,
        )[0]

    @jax.jit
    def everything(p):
        return [
            (
                jax.jacfwd(theta_star_fn)(p, use_abs),
                theta_star_fn(p, use_abs),
                expected_init(p, KEY, sigma, 0.0, use_abs=use_abs),
            )
            for use_abs in (False, True)
        ]

    for use_abs, (jacobian, theta_star, (init, eps)) in zip((False, True), everything(params)):
        for name, theta in params.items():
            theta = np.asarray(theta)
            slope = np.sign(theta) if use_abs else 1.0  # d|θ|/dθ = sign θ
            # S = Σ_t sign(g_t), read off the displacement θ* − θ*_0 = a·S (integers, θ ≠ 0 here).
            sign_sum = np.round(np.asarray(theta_star[name] - init[name]) / (zeta * slope * theta / n))
            assert np.abs(sign_sum).max() > 0
            want = 1 + slope * sigma * np.asarray(eps[name]) + (zeta / n) * slope * sign_sum
            block = np.asarray(jacobian[name][name]).reshape(theta.size, theta.size)
            np.testing.assert_allclose(np.diag(block), np.ravel(want), rtol=1e-5)
            np.testing.assert_array_equal(block - np.diag(np.diag(block)), 0.0)
            for other in params:
                if other != name:
                    np.testing.assert_array_equal(jacobian[name][other], 0.0)


def test_abs_variant_ascends_and_signed_step_must_not_match_it(mlp):
    params, x, _ = mlp
    # One step from the same initialisation (additive noise only): positive weights move alike, negative
    # ones in opposite directions.
    kwargs = {
        "n_attack_steps": 1,
        "attack_size_mismatch": 0.5,
        "initial_std_mismatch": 0.0,
        "initial_std_constant": 0.01,
    }

    @jax.jit
    def runs(p):
        ascent = run_attack(mlp_forward, p, x, relative_step_uses_abs=True, attack_size_mismatch=0.5)[1]
        signed = run_attack(mlp_forward, p, x, **kwargs)[0]
        fixed = run_attack(mlp_forward, p, x, relative_step_uses_abs=True, **kwargs)[0]
        return ascent, signed, fixed, expected_init(p, KEY, 0.0, 0.01)[0]

    trajectory, signed, fixed, init = runs(params)
    assert np.all(np.diff(trajectory) > 0) and trajectory[-1] > 10 * trajectory[0]
    moved = np.asarray(fixed["W2"] - init["W2"])
    negative = np.asarray(params["W2"]) < 0
    assert negative.any() and np.abs(moved[negative]).min() > 0
    np.testing.assert_allclose(
        signed["W2"] - init["W2"], np.where(negative, -moved, moved), rtol=1e-5, atol=1e-9
    )


_training_grad = jax.jit(
    jax.grad(attack.training_loss, argnums=1),
    static_argnums=0,
    static_argnames=("beta_robustness", "treat_as_constant", *STATIC),
)


def _task_loss(params, x, y, mask=None):
    logits, spikes = mlp_forward(params, x, mask)
    return losses.cross_entropy(logits, y) + losses.firing_rate_regulariser(spikes, reg=0.001)


def test_beta_zero_gradient_is_the_task_loss_gradient(mlp):
    params, x, y = mlp
    got = _training_grad(mlp_forward, params, x, y, key=KEY, **{**LOSS, "beta_robustness": 0.0})
    want = jax.jit(jax.grad(_task_loss))(params, x, y)
    for name in params:
        np.testing.assert_array_equal(got[name], want[name])


def test_gradient_through_attack_and_treat_as_constant(mlp):
    params, x, y = mlp
    kwargs = {"key": KEY, **SETTINGS, "n_attack_steps": 3}

    def reference_loss(p, theta_star):
        logits = mlp_forward(p, x)[0]
        if (
            theta_star is None
        ):  # the original loop under autodiff: a(θ), θ*_0(θ) differentiable, sign(g) constant
            theta_star, _ = expected_init(p, KEY, 0.001, 0.0)
            for _ in range(3):
                g = jax.grad(
                    lambda t: losses.kl_divergence(jax.lax.stop_gradient(logits), mlp_forward(t, x)[0], 0.0)
                )(theta_star)
                theta_star = {
                    k: theta_star[k] + 2.0 * p[k] / 3 * jax.lax.stop_gradient(jnp.sign(g[k])) for k in p
                }
        return _task_loss(p, x, y) + losses.kl_divergence(logits, mlp_forward(theta_star, x)[0], 0.0)

    @jax.jit  # one program: XLA shares the identical random draws, which dominate the compile time
    def gradients(p):
        grad = jax.grad(attack.training_loss, argnums=1)
        theta_star = jax.lax.stop_gradient(attack.attack_parameters(mlp_forward, p, x, **kwargs)[0])
        return (
            grad(mlp_forward, p, x, y, beta_robustness=1.0, treat_as_constant=False, reg=0.001, **kwargs),
            grad(mlp_forward, p, x, y, beta_robustness=1.0, treat_as_constant=True, reg=0.001, **kwargs),
            jax.grad(reference_loss)(p, None),
            jax.grad(reference_loss)(p, theta_star),
        )

    through, constant, want_through, want_constant = gradients(params)
    for name in params:
        scale = float(jnp.abs(want_through[name]).max())
        np.testing.assert_allclose(through[name], want_through[name], rtol=1e-4, atol=1e-5 * scale)
        np.testing.assert_allclose(constant[name], want_constant[name], rtol=1e-4, atol=1e-5 * scale)
    assert max(float(jnp.abs(through[n] - constant[n]).max()) for n in params) > 1e-3


def test_same_dropout_mask_in_every_attacked_pass(mlp):
    params, x, y = mlp
    mask = jnp.asarray([[1.0, 1.0, 0.0, 1.0, 1.0, 1.0]])

    @jax.jit
    def gradients(p):
        robust = jax.grad(attack.training_loss, argnums=1)(
            mlp_forward, p, x, y, key=KEY, dropout_mask=mask, **LOSS
        )
        return robust, jax.grad(_task_loss)(p, x, y, mask)

    grads, task = gradients(params)
    # A dropped unit is silent in the clean and in every attacked pass, so nothing reaches its readout row,
    # while the robust term does change the other rows.
    np.testing.assert_array_equal(grads["W2"][2], 0.0)
    assert float(jnp.abs(grads["W2"] - task["W2"]).max()) > 1e-3


def test_evaluation_attack_is_the_kl_attack_without_dropout(mlp):
    params, x, _ = mlp

    @jax.jit
    def both(p):
        own = {k: v for k, v in SETTINGS.items() if k not in ("boundary_loss", "kl_min_prob")}
        evaluated = attack.evaluation_attack(
            mlp_forward, p, x, key=KEY, **{**own, "n_attack_steps": 3}, boundary_loss="l2"
        )
        theta_star, trajectory = run_attack(mlp_forward, p, x)
        return evaluated, trajectory, mlp_forward(theta_star, x)[0]

    (logits, trajectory), want_trajectory, want_logits = both(params)
    np.testing.assert_allclose(trajectory, want_trajectory, rtol=1e-6)
    np.testing.assert_allclose(logits, want_logits, rtol=1e-6)


def test_step_count_does_not_grow_the_program(tiny):
    params, x, y = tiny

    def n_equations(n):
        f = functools.partial(attack.training_loss, LSNN, key=KEY, **{**LOSS, "n_attack_steps": n})
        return len(jax.make_jaxpr(lambda p: f(p, x, y))(params).eqns)

    assert n_equations(1) == n_equations(25)


def test_same_key_same_theta_star_and_other_key_differs(mlp):
    params, x, _ = mlp
    a, b = run_attack(mlp_forward, params, x)[0], run_attack(mlp_forward, params, x)[0]
    c = run_attack(mlp_forward, params, x, key=jax.random.PRNGKey(1))[0]
    for name in params:
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.array_equal(a["W1"], c["W1"])


def test_mask_recurrent_diagonal_and_bad_arguments():
    grads = {"W_rec": jnp.ones((2, 3, 3)), "W_in": jnp.ones((2, 3))}
    masked = attack.mask_recurrent_diagonal(grads)
    np.testing.assert_array_equal(masked["W_rec"], np.broadcast_to(1 - np.eye(3), (2, 3, 3)))
    np.testing.assert_array_equal(masked["W_in"], grads["W_in"])
    cnn_like = {"K1": jnp.ones((2, 2))}
    assert attack.mask_recurrent_diagonal(cnn_like) is cnn_like
    with pytest.raises(ValueError, match="reverse_kl"):
        attack.attack_parameters(
            elementwise_forward,
            {"w": jnp.ones(3)},
            jnp.ones((1, 3)),
            key=KEY,
            **{**SETTINGS, "boundary_loss": "kld"},
        )
    args = (elementwise_forward, {"w": jnp.ones(3)}, jnp.ones((1, 3)), jnp.zeros(1, int))
    with pytest.raises(TypeError, match="n_attack_steps"):
        misspelt = {k: v for k, v in LOSS.items() if k != "n_attack_steps"}
        attack.training_loss(*args, key=KEY, **misspelt, n_attack_step=3)
    with pytest.raises(TypeError, match=r"missing \['p_norm'\]"):  # no defaults: the config builds them all
        attack.training_loss(*args, key=KEY, **{k: v for k, v in LOSS.items() if k != "p_norm"})
