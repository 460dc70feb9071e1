"""The ICLR-era comparison methods as update rules of the one training step (docs/methods.md).

Every function is pure, on dict parameters, with explicit PRNG keys. ``robustness.training.make_step``
builds a gradient *oracle* ``oracle(params, key) -> (loss, grads)`` (the one training loss of
``attack.training_loss``, with the W_rec diagonal of the gradient masked) and combines these rules with it:

* forward noise (``-noisy_forward_std=η``): the loss is evaluated at θ + stop_gradient(|θ|·η·ε), ε ~ N(0, 1)
  drawn afresh every step (every forward pass of that loss — clean, attack, attacked — sees the noisy θ);
  the gradient w.r.t. θ is the loss gradient at the noisy point;
* AWP (``-awp=True``, ``-awp_gamma=γ``): θ* from the relative-box sign-gradient attack
  (``attack.search_theta_star``) with the cross-entropy at θ* as the attack objective; the gradient of the
  loss is taken at θ_AWP = θ + stop_gradient(γ(θ* − θ)) and applied to θ; optional input PGA
  (``-awp_perturb_input=True``, ``-eps_pga``) first replaces the batch by an ℓ∞ adversarial one;
* AMP (``-amp_epsilon=ε``, Zheng et al. 2021): g = ∇θ L(θ), δ = ε·g/‖g‖₂ (one global norm over every
  parameter), the gradient of L at θ + δ is applied to θ;
* Entropy-SGD (``-optimizer=esgd``) and ABCD (``-optimizer=abcd``): optimisers that call the oracle several
  times per iteration (``esgd_step``, ``abcd_step``).

Zero strengths (η = 0, γ = 0, ε = 0) are the standard step: the training step skips the rule, so the
update is bitwise the standard one.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from robustness import attack, losses

# streams folded into a step's attack key, so that the standard keys (dropout, β attack) stay unchanged
STREAM_NOISE, STREAM_AWP, STREAM_PGA, STREAM_LANGEVIN, STREAM_MASK = 11, 12, 13, 14, 15
PGA_ITERATIONS = 3  # nb_iter of the ICLR-era input PGA
PGA_STEP = 2.5 / PGA_ITERATIONS  # step α = 2.5·ε_pga / nb_iter (Madry et al.'s rule of thumb)


def _map(fn, *trees):
    return jax.tree_util.tree_map(fn, *trees)


# ------------------------------------------------------------------------------------------------
# perturbations of the point at which the gradient is taken
# ------------------------------------------------------------------------------------------------


def noisy_params(params: dict, key: jax.Array, eta: float) -> dict:
    """θ + stop_gradient(|θ|·η·ε) per tensor, ε ~ N(0, 1); tensor k (sorted names) uses ``split(key)[k]``.

    The derivative w.r.t. θ is the identity, so ∇θ L(noisy_params(θ)) = ∇L at the noisy point."""
    names = sorted(params)
    out = {}
    for name, k in zip(names, jax.random.split(key, len(names))):
        theta = params[name]
        eps = jax.random.normal(k, theta.shape, theta.dtype)
        out[name] = theta + jax.lax.stop_gradient(jnp.abs(theta) * eta * eps)
    return out


def input_pga(forward, params, x, y, key, eps: float, dropout_mask=None, n_iter: int = PGA_ITERATIONS):
    """ℓ∞ projected gradient ascent on the inputs: x₀ = x + U(−ε, ε), then ``n_iter`` times
    x ← clip(x + α·sign(∇ₓ CE(y, f_θ(x))), x − ε, x + ε), α = 2.5ε/n_iter; a constant (stop_gradient)."""
    params = jax.lax.stop_gradient(params)

    def ce(xa):
        return losses.cross_entropy(forward(params, xa, dropout_mask)[0], y)

    xa = x + jax.random.uniform(key, x.shape, x.dtype, -eps, eps)
    for _ in range(n_iter):
        xa = jnp.clip(xa + PGA_STEP * eps * jnp.sign(jax.grad(ce)(xa)), x - eps, x + eps)
    return jax.lax.stop_gradient(xa)


def awp_point(forward, params, x, y, key, gamma: float, settings: attack.AttackSettings, dropout_mask=None):
    """θ_AWP = θ + stop_gradient(γ(θ* − θ)), θ* = the relative-box attack ascending CE(y, f_θ*(X))."""
    clean_logits, _ = forward(params, x, dropout_mask)

    def objective(attacked_logits):
        return losses.cross_entropy(attacked_logits, y)

    theta_star, _ = attack.search_theta_star(
        forward, params, x, clean_logits, dropout_mask, key, settings, objective=objective
    )
    v = jax.lax.stop_gradient(_map(lambda ts, t: gamma * (ts - t), theta_star, params))
    return _map(lambda t, d: t + d, params, v)


def global_norm(tree) -> jax.Array:
    """‖g‖₂ over every element of every tensor."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree_util.tree_leaves(tree)))


def amp_point(params: dict, grads: dict, epsilon: float) -> dict:
    """θ + δ, δ = ε·g/‖g‖₂ (global norm; δ = 0 where g = 0): the worst case in the ℓ2 ball of radius ε to
    first order (one normalised gradient step, Zheng et al. 2021)."""
    norm = global_norm(grads)
    scale = jnp.where(norm > 0, epsilon / jnp.where(norm > 0, norm, 1.0), 0.0)
    return _map(lambda t, g: t + jax.lax.stop_gradient(scale * g), params, grads)


# ------------------------------------------------------------------------------------------------
# optimisers that evaluate the gradient several times per iteration
# ------------------------------------------------------------------------------------------------


class EsgdHyper(NamedTuple):
    """Entropy-SGD settings of the ICLR-era runs (Chaudhari et al. 2017)."""

    momentum: float = 0.9
    damp: float = 0.0
    nesterov: bool = True
    L: int = 10  # Langevin steps per iteration
    eps: float = 1e-4  # Langevin noise scale
    gamma0: float = 1e-2  # scoping γ = γ0 (1 + γ1)^t
    gamma1: float = 1e-3
    langevin_lr: float = 0.1
    langevin_beta1: float = 0.75


class AbcdHyper(NamedTuple):
    """ABCD settings (the ICLR era's ``abcd_L``, ``abcd_etaA``; Adam b1, b2, eps)."""

    L: int = 2
    eta_a: float = 0.1
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8


class RuleOptimizer(NamedTuple):
    """An optimiser that is an update rule: ``init(params) -> state``; ``step(params, state, oracle, key)
    -> (params, state, loss)``; ``schedule(count) -> learning rate``."""

    name: str
    hyper: Any
    schedule: Any

    def init(self, params):
        zeros = _map(jnp.zeros_like, params)
        if self.name == "esgd":
            return {"count": jnp.zeros((), jnp.int32), "momentum": zeros}
        return {"count": jnp.zeros((), jnp.int32), "m": zeros, "v": _map(jnp.zeros_like, params)}

    def step(self, params, state, oracle, key):
        rule = esgd_step if self.name == "esgd" else abcd_step
        return rule(params, state, oracle, key, self.schedule(state["count"]), self.hyper)


def _momentum(buf, dw, h):
    """buf ← m·buf + (1 − damp)·dw; returns (buf, dw + m·buf if Nesterov else buf)."""
    buf = _map(lambda b, d: h.momentum * b + (1.0 - h.damp) * d, buf, dw)
    out = _map(lambda d, b: d + h.momentum * b, dw, buf) if h.nesterov else buf
    return buf, out


def esgd_step(params, state, oracle, key, lr, h: EsgdHyper = EsgdHyper()):
    """One Entropy-SGD iteration (the reference PyTorch implementation's rule, weight decay 0):

        γ = γ0 (1 + γ1)^t;  w' = μ = θ;  Langevin momentum b' = 0
        L times:  dw = ∇L(w') + γ(w' − θ);  b' ← m·b' + (1−damp)·dw;  dw ← dw + m·b' (Nesterov)
                  w' ← w' − η'·(dw + eps/√(η'/2)·ε),  ε ~ N(0, 1);  μ ← β1·μ + (1 − β1)·w'
        dθ = θ − μ (W_rec diagonal masked);  b ← m·b + (1−damp)·dθ;  θ ← θ − lr·(dθ + m·b)

    ``oracle(w, key) -> (loss, masked grads)``; the Langevin step k uses ``fold_in(key, k)`` for its
    oracle call and ``fold_in(fold_in(key, STREAM_LANGEVIN), k)`` for ε. Returns the loss at θ."""
    t = state["count"]
    gamma = h.gamma0 * (1.0 + h.gamma1) ** t.astype(jnp.float32)
    llr = h.langevin_lr
    noise_key = jax.random.fold_in(key, STREAM_LANGEVIN)
    names = sorted(params)

    def langevin(carry, k):
        w, mu, buf, first_loss = carry
        loss, df = oracle(w, jax.random.fold_in(key, k))
        dw = _map(lambda g, wi, ti: g + gamma * (wi - ti), df, w, params)
        buf, dw = _momentum(buf, dw, h)
        keys = dict(zip(names, jax.random.split(jax.random.fold_in(noise_key, k), len(names))))
        w = {n: w[n] - llr * (dw[n] + h.eps / jnp.sqrt(0.5 * llr) * jax.random.normal(keys[n], w[n].shape))
             for n in names}  # fmt: skip
        mu = _map(lambda m, wi: h.langevin_beta1 * m + (1.0 - h.langevin_beta1) * wi, mu, w)
        first_loss = jnp.where(k == 0, loss, first_loss)
        return (w, mu, buf, first_loss), None

    zeros = _map(jnp.zeros_like, params)
    carry = (params, params, zeros, jnp.zeros((), jnp.float32))
    (_, mu, _, loss), _ = jax.lax.scan(langevin, carry, jnp.arange(h.L))
    d_theta = attack.mask_recurrent_diagonal(_map(lambda t_, m: t_ - m, params, mu))
    buf, d_theta = _momentum(state["momentum"], d_theta, h)
    new = _map(lambda t_, d: t_ - lr * d, params, d_theta)
    return new, {"count": t + 1, "momentum": buf}, loss


def abcd_step(params, state, oracle, key, lr, h: AbcdHyper = AbcdHyper()):
    """One ABCD iteration: L inner loops, each

        M_a ~ Bernoulli(½) per element (round(U(0, 1))), M_b = 1 − M_a
        w½ = w + η_A·M_a ⊙ ∇L(w)                        (ascent on block a)
        g  = M_b ⊙ ∇L(w½)                                (gradient at w½, block b)
        m ← b1·m + (1−b1)·g;  v ← b2·v + (1−b2)·g²;  m̂, v̂ bias-corrected with the iteration count t+1
        w ← w½ − lr·m̂/(√v̂ + eps)                         (Adam step from w½)

    (the original's clip of w½ to the relative box was a no-op and is not reproduced). Inner loop l uses
    ``fold_in(key, 2l)``/``fold_in(key, 2l+1)`` for its two oracle calls and
    ``fold_in(fold_in(key, STREAM_MASK), l)`` for M_a. Returns the loss at θ (the first call)."""
    t = state["count"] + 1
    m, v, w = state["m"], state["v"], params
    names = sorted(params)
    mask_key = jax.random.fold_in(key, STREAM_MASK)
    first_loss = None
    for inner in range(h.L):
        keys = dict(zip(names, jax.random.split(jax.random.fold_in(mask_key, inner), len(names))))
        m_a = {n: jnp.round(jax.random.uniform(keys[n], w[n].shape, w[n].dtype)) for n in names}
        loss, g1 = oracle(w, jax.random.fold_in(key, 2 * inner))
        first_loss = loss if first_loss is None else first_loss
        w_half = {n: w[n] + h.eta_a * m_a[n] * g1[n] for n in names}
        _, g2 = oracle(w_half, jax.random.fold_in(key, 2 * inner + 1))
        g = {n: (1.0 - m_a[n]) * g2[n] for n in names}
        m = _map(lambda mi, gi: h.b1 * mi + (1.0 - h.b1) * gi, m, g)
        v = _map(lambda vi, gi: h.b2 * vi + (1.0 - h.b2) * jnp.square(gi), v, g)
        tf = t.astype(jnp.float32)
        w = {
            n: w_half[n] - lr * (m[n] / (1 - h.b1**tf)) / (jnp.sqrt(v[n] / (1 - h.b2**tf)) + h.eps)
            for n in names
        }
    return w, {"count": t, "m": m, "v": v}, first_loss
