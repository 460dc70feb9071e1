"""The ICLR-era comparison methods (robustness.methods, docs/methods.md): each one training step on a tiny
network against the rule recomputed independently here, zero strengths = the standard step, the CNN's
dropout masks, the flags' ranges, --help and cache key."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from architectures import ARCHITECTURES
from robustness import cnn, methods
from robustness.configs import help_text, parse_cli
from robustness.tasks import CnnConfig, EcgConfig
from robustness.tasks.base import Model
from robustness.training import make_optimizer, make_step

LR = 0.05
X = jax.random.normal(jax.random.PRNGKey(1), (8, 3))
Y = jnp.arange(8) % 2
KEY = jax.random.PRNGKey(7)
NEW_FLAGS = (
    "noisy_forward_std", "awp", "awp_gamma", "awp_perturb_input", "eps_pga", "amp_epsilon", "abcd_L", "abcd_etaA",
)  # fmt: skip


def mlp(params, x, dropout_mask=None):
    hidden = jnp.tanh(x @ params["W1"] + params["b1"])
    hidden = hidden if dropout_mask is None else hidden * dropout_mask
    return hidden @ params["W2"] + params["b2"], jnp.zeros((1, 1, 1))


def init_params():
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    return {
        "W1": jax.random.normal(k1, (3, 4)) * 0.8,
        "b1": jnp.full((4,), 0.1),
        "W2": jax.random.normal(k2, (4, 2)) * 0.8,
        "b2": jnp.array([0.05, -0.05]),
    }


def config(**kw):
    """β = 0, SGD at LR: the reference update is θ − LR·g; reg makes the constant term reg·0.01²."""
    return EcgConfig(**{"beta_robustness": 0.0, "optimizer": "sgd", **kw})


def one_step(cfg, params=None, n_steps=1):
    params = init_params() if params is None else params
    task = Model(config=cfg, init=None, forward=mlp, n_units=4, n_classes=2)
    opt = make_optimizer(cfg, np.full(100, LR))
    step = make_step(task, cfg, opt)
    stacked = jax.tree_util.tree_map(lambda a: a[None], params)
    state = jax.vmap(opt.init)(stacked)
    for i in range(n_steps):
        stacked, state, loss = step(stacked, state, X[None], Y[None], jax.random.fold_in(KEY, i)[None])
    return {k: np.asarray(v[0]) for k, v in stacked.items()}, float(loss[0])


def ce_np_grad(params, x=X, y=Y):
    """∇θ of the batch-mean cross-entropy of the MLP (independent of robustness.losses)."""

    def ce(p):
        logits = jnp.tanh(x @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
        logz = jnp.log(jnp.sum(jnp.exp(logits), -1))
        return jnp.mean(logz - logits[jnp.arange(len(y)), y])

    return {k: np.asarray(v, np.float64) for k, v in jax.grad(ce)(params).items()}


def sgd(params, grads):
    return {k: np.asarray(params[k]) - LR * grads[k] for k in params}


def attack_key():
    return jax.random.split(jax.random.fold_in(KEY, 0))[1]  # make_step: k_drop, k_attack = split(step key)


def assert_close(a, b, **tol):
    for k in a:
        np.testing.assert_allclose(a[k], b[k], **({"rtol": 1e-5, "atol": 1e-6} | tol), err_msg=k)


def test_standard_step_is_sgd_on_the_cross_entropy():
    new, _ = one_step(config())
    assert_close(new, sgd(init_params(), ce_np_grad(init_params())))


@pytest.mark.parametrize(
    "kw", [dict(noisy_forward_std=0.0), dict(awp=True, awp_gamma=0.0), dict(amp_epsilon=0.0)], ids=str
)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_zero_strengths_are_bitwise_the_standard_step(kw, optimizer):
    standard, loss0 = one_step(config(optimizer=optimizer), n_steps=3)
    other, loss1 = one_step(config(optimizer=optimizer, **kw), n_steps=3)
    assert loss0 == loss1
    for k in standard:
        np.testing.assert_array_equal(standard[k], other[k])


def test_forward_noise_gradient_is_taken_at_the_noisy_parameters():
    eta, p = 0.3, init_params()
    new, _ = one_step(config(noisy_forward_std=eta))
    # the documented draw: key fold_in(k_attack, STREAM_NOISE), split by sorted tensor name
    k = jax.random.fold_in(attack_key(), methods.STREAM_NOISE)
    names = sorted(p)
    eps = {
        n: np.asarray(jax.random.normal(kk, p[n].shape))
        for n, kk in zip(names, jax.random.split(k, len(names)))
    }
    noisy = {n: np.asarray(p[n]) + np.abs(np.asarray(p[n])) * eta * eps[n] for n in names}
    expected = sgd(p, ce_np_grad({n: jnp.asarray(v) for n, v in noisy.items()}))
    assert_close(new, expected)
    assert not np.allclose(new["W1"], sgd(p, ce_np_grad(p))["W1"])  # the noise changed the step


def test_forward_noise_with_beta_runs_the_robust_loss_at_the_noisy_point():
    standard, loss_plain = one_step(config(noisy_forward_std=0.3))
    robust, loss_robust = one_step(config(noisy_forward_std=0.3, beta_robustness=0.5, n_attack_steps=2))
    assert loss_robust > loss_plain and not np.allclose(standard["W1"], robust["W1"])


def test_awp_gradient_at_theta_plus_gamma_times_the_ce_attack():
    gamma, zeta, n, p = 0.1, 0.5, 3, init_params()
    cfg = config(
        awp=True, awp_gamma=gamma, attack_size_mismatch=zeta, n_attack_steps=n, initial_std_mismatch=0.0
    )
    new, _ = one_step(cfg)
    # θ*₀ = θ (σ_rel = 0); N signed steps (ζ·θ/N)·sign(∇ CE(θ*)), written out here
    theta = {k: np.asarray(v, np.float64) for k, v in p.items()}
    star = dict(theta)
    for _ in range(n):
        g = ce_np_grad({k: jnp.asarray(v, jnp.float32) for k, v in star.items()})
        star = {k: star[k] + zeta * theta[k] / n * np.sign(g[k]) for k in theta}
    point = {k: theta[k] + gamma * (star[k] - theta[k]) for k in theta}
    expected = sgd(p, ce_np_grad({k: jnp.asarray(v, jnp.float32) for k, v in point.items()}))
    assert_close(new, expected)


def test_awp_input_pga_stays_in_the_linf_ball_and_raises_the_loss():
    p, eps = init_params(), 0.2
    xa = methods.input_pga(mlp, p, X, Y, jax.random.PRNGKey(3), eps)
    assert float(jnp.max(jnp.abs(xa - X))) <= eps + 1e-6

    def ce(x):
        logits = mlp(p, x)[0]
        return float(jnp.mean(jax.nn.logsumexp(logits, -1) - logits[jnp.arange(8), Y]))

    assert ce(xa) > ce(X)
    new, _ = one_step(config(awp=True, awp_perturb_input=True, eps_pga=eps))
    assert all(np.all(np.isfinite(v)) for v in new.values())


def test_amp_gradient_at_the_normalised_gradient_step():
    epsilon, p = 0.5, init_params()
    new, _ = one_step(config(amp_epsilon=epsilon))
    g = ce_np_grad(p)
    norm = np.sqrt(sum(np.sum(v**2) for v in g.values()))
    point = {k: np.asarray(p[k], np.float64) + epsilon * g[k] / norm for k in p}
    assert np.isclose(np.sqrt(sum(np.sum((point[k] - np.asarray(p[k])) ** 2) for k in p)), epsilon)
    expected = sgd(p, ce_np_grad({k: jnp.asarray(v, jnp.float32) for k, v in point.items()}))
    assert_close(new, expected)


A_QUAD = {"a": np.array([1.0, 2.0, 0.5]), "b": np.array([[3.0, 0.2]])}


def quad_oracle(w, key):
    """L(w) = ½ Σ a ⊙ w² → ∇L = a ⊙ w."""
    del key
    loss = 0.5 * sum(jnp.sum(A_QUAD[k] * w[k] ** 2) for k in w)
    return loss, {k: A_QUAD[k] * w[k] for k in w}


W0 = {"a": jnp.array([1.0, -1.0, 2.0]), "b": jnp.array([[0.5, -2.0]])}


def test_esgd_step_matches_the_rule_written_out():
    h = methods.EsgdHyper(eps=0.0)  # noise off: the rest of the rule is deterministic
    opt = methods.RuleOptimizer("esgd", h, lambda count: 0.3)
    state = opt.init(W0)
    w1, state1, _ = opt.step(W0, state, quad_oracle, KEY)
    w2, _, _ = opt.step(w1, state1, quad_oracle, KEY)
    # numpy, two iterations
    theta = {k: np.asarray(v, np.float64) for k, v in W0.items()}
    buf = {k: np.zeros_like(v) for k, v in theta.items()}
    for t in range(2):
        gamma = 1e-2 * (1 + 1e-3) ** t
        w, mu, b = dict(theta), dict(theta), {k: np.zeros_like(v) for k, v in theta.items()}
        for _ in range(10):
            dw = {k: A_QUAD[k] * w[k] + gamma * (w[k] - theta[k]) for k in w}
            b = {k: 0.9 * b[k] + dw[k] for k in w}
            dw = {k: dw[k] + 0.9 * b[k] for k in w}
            w = {k: w[k] - 0.1 * dw[k] for k in w}
            mu = {k: 0.75 * mu[k] + 0.25 * w[k] for k in w}
        d = {k: theta[k] - mu[k] for k in theta}
        buf = {k: 0.9 * buf[k] + d[k] for k in theta}
        theta = {k: theta[k] - 0.3 * (d[k] + 0.9 * buf[k]) for k in theta}
        if t == 0:
            assert_close({k: np.asarray(v) for k, v in w1.items()}, theta)
    assert_close({k: np.asarray(v) for k, v in w2.items()}, theta)
    assert int(state1["count"]) == 1


def test_esgd_langevin_noise_is_small_and_keyed():
    opt = methods.RuleOptimizer("esgd", methods.EsgdHyper(), lambda count: 0.3)
    noiseless = methods.RuleOptimizer("esgd", methods.EsgdHyper(eps=0.0), lambda count: 0.3)
    a, _, _ = opt.step(W0, opt.init(W0), quad_oracle, KEY)
    b, _, _ = opt.step(W0, opt.init(W0), quad_oracle, KEY)
    c, _, _ = noiseless.step(W0, opt.init(W0), quad_oracle, KEY)
    for k in W0:
        np.testing.assert_array_equal(a[k], b[k])
        assert 0 < np.max(np.abs(a[k] - c[k])) < 1e-2


def test_abcd_step_matches_the_rule_written_out():
    h = methods.AbcdHyper(L=2, eta_a=0.1)
    opt = methods.RuleOptimizer("abcd", h, lambda count: 0.01)
    w1, state, _ = opt.step(W0, opt.init(W0), quad_oracle, KEY)
    names = sorted(W0)
    w = {k: np.asarray(v, np.float64) for k, v in W0.items()}
    m = {k: np.zeros_like(v) for k, v in w.items()}
    v = {k: np.zeros_like(x) for k, x in w.items()}
    mask_key = jax.random.fold_in(KEY, methods.STREAM_MASK)
    for inner in range(2):
        keys = dict(zip(names, jax.random.split(jax.random.fold_in(mask_key, inner), len(names))))
        m_a = {n: np.round(np.asarray(jax.random.uniform(keys[n], w[n].shape))) for n in names}
        half = {n: w[n] + 0.1 * m_a[n] * A_QUAD[n] * w[n] for n in names}
        g = {n: (1 - m_a[n]) * A_QUAD[n] * half[n] for n in names}
        m = {n: 0.9 * m[n] + 0.1 * g[n] for n in names}
        v = {n: 0.999 * v[n] + 0.001 * g[n] ** 2 for n in names}
        w = {n: half[n] - 0.01 * (m[n] / 0.1) / (np.sqrt(v[n] / 0.001) + 1e-8) for n in names}
    assert_close({k: np.asarray(x) for k, x in w1.items()}, w, rtol=1e-4, atol=1e-5)
    assert int(state["count"]) == 1


@pytest.mark.parametrize("optimizer", ["esgd", "abcd"])
def test_rule_optimizers_train_in_the_one_step(optimizer):
    p = init_params()
    new, loss = one_step(config(optimizer=optimizer), n_steps=2)
    assert np.isfinite(loss) and not np.allclose(new["W1"], np.asarray(p["W1"]))


def test_cnn_dropout_masks_each_dense_layer_input():
    params = cnn.init_params(jax.random.PRNGKey(0), scalar_conv1_bias=True, w3_reuses_w2_key=True)
    x = jax.random.normal(jax.random.PRNGKey(1), (4, 1, 28, 28))
    ones = jnp.ones((1, cnn.DROPOUT_UNITS))
    np.testing.assert_array_equal(cnn.forward(params, x, ones)[0], cnn.forward(params, x)[0])
    last = ones.at[:, -64:].set(0.0)  # W3's inputs all dropped: logits = B3
    np.testing.assert_allclose(cnn.forward(params, x, last)[0], jnp.broadcast_to(params["B3"], (4, 10)))
    # dropping input j of dense layer l is zeroing row j of its weight matrix
    for offset, weight, j in ((0, "W1", 17), (1600, "W2", 5), (1856, "W3", 9)):
        mask = ones.at[:, offset + j].set(0.0)
        zeroed = {**params, weight: params[weight].at[j].set(0.0)}
        np.testing.assert_allclose(
            cnn.forward(params, x, mask)[0], cnn.forward(zeroed, x)[0], rtol=1e-5, atol=1e-5
        )


@pytest.mark.parametrize(
    "flag",
    ["-noisy_forward_std=-0.1", "-awp_gamma=1.5", "-amp_epsilon=-1", "-eps_pga=-0.01", "-optimizer=entropy",
     "-abcd_L=0", "-abcd_etaA=-1", "-awp=maybe", "-noisy_forward_std=nan"],
)  # fmt: skip
def test_invalid_method_values_exit_2(flag, capsys):
    with pytest.raises(SystemExit) as err:
        parse_cli(CnnConfig, [flag], prog="main_CNN_jax.py")
    assert err.value.code == 2
    assert flag.split("=")[0] in capsys.readouterr().err


def test_method_flags_are_in_help_and_in_every_cache_key():
    text = help_text(EcgConfig, "main_ecg_lsnn.py")
    for name in NEW_FLAGS:
        assert f"-{name}=" in text
        for arch in ARCHITECTURES.values():
            assert name in arch.default_hyperparameters()
    assert "esgd" in text and "abcd" in text
