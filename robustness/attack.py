"""The parameter attack θ* and the robust training loss (docs/original.md §1.1-1.2, report-era
`loss_jax.py@8119e742`).

    for every tensor k:  θ*_k ← θ_k ⊙ (1 + σ_rel·ε₁) + σ_const·ε₂          ε₁, ε₂ ~ N(0, I), own key per tensor
                         a_k  = (ζ_rel·θ_k + ζ_const) / N                   signed θ (report, quirk 1); |θ| if abs
    repeat N times:      g    = ∇_{θ*} D(f_θ(X) held fixed, f_θ*(X))         D = boundary_loss (KL by default)
                         θ*_k ← θ*_k + a_k ⊙ sign(g_k)                      (p_norm "2": g_k/‖g_k‖₂)
    trajectory           = [D before each step] + [D after the last]        N + 1 values
    L(θ) = CE(y, f_θ(X)) + reg·Σ_{b,n}(r̄ − 0.01)² + β·D(f_θ(X), f_θ*(X))

Equivalences the tests check: β = 0 ⇒ the gradient is the task-loss gradient (no attack runs);
`n_attack_steps = 0` ⇒ θ* is the random initialisation; with `treat_as_constant=False` the gradient flows
through the initialisation and the step sizes, so ∂θ*/∂θ = diag(1 + σ_rel·ε₁ + (ζ_rel/N)·Σ_t sign(g_t)).
Implementation: the N steps run in `lax.scan` on stop-gradient copies and only accumulate S = Σ_t sign(g_t);
θ* = θ*_0(θ) + a(θ)·S afterwards. sign has zero derivative, so this is the same gradient as differentiating
through the loop, without storing the loop for the backward pass.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from robustness import losses


P_NORMS = ("inf", "2")  # the valid values of -p_norm


class AttackSettings(NamedTuple):
    """Attack hyperparameters (docs/original.md §1.3 names), all required: the config builds them
    (``robustness.configs.attack_kwargs``). Python values: the strings, bools and N are static."""

    attack_size_mismatch: float  # ζ_rel
    attack_size_constant: float  # ζ_const
    initial_std_mismatch: float  # σ_rel
    initial_std_constant: float  # σ_const
    n_attack_steps: int  # N
    boundary_loss: str  # one of losses.BOUNDARY_LOSSES
    relative_step_uses_abs: bool  # quirk 1: False = report's signed ζ·θ/N step
    p_norm: str  # "inf": sign(g) (report); "2": g/‖g‖₂ per tensor (ICLR era)
    kl_min_prob: float  # quirk 2: floor on attacked probabilities (report: 0, none)


def _settings(**kwargs) -> AttackSettings:
    unknown = set(kwargs) - set(AttackSettings._fields)
    missing = [name for name in AttackSettings._fields if name not in kwargs]
    if unknown or missing:
        raise TypeError(
            f"attack: unknown argument(s) {sorted(unknown)}, missing {missing}; every one of "
            f"{AttackSettings._fields} is required"
        )
    settings = AttackSettings(**kwargs)
    losses.check_boundary_loss(settings.boundary_loss)
    if settings.p_norm not in P_NORMS:
        raise ValueError(f"p_norm must be one of {P_NORMS}, got {settings.p_norm!r}")
    if int(settings.n_attack_steps) < 0:
        raise ValueError(f"n_attack_steps must be >= 0, got {settings.n_attack_steps}")
    return settings


def _tree_map(fn, *trees):
    return jax.tree_util.tree_map(fn, *trees)


def initial_theta_star(params: dict, key: jax.Array, s: AttackSettings) -> dict:
    """θ ⊙ (1 + σ_rel·ε₁) + σ_const·ε₂ per tensor (abs variant: θ + |θ|·σ_rel·ε₁ + σ_const·ε₂).

    The tensors get keys `split(key, n_tensors)` in sorted-name order; (ε₁, ε₂) = normal(tensor key, (2, *shape))
    (one draw per tensor: every threefry call adds ~0.2 s of XLA compile time).
    """
    names = sorted(params)
    theta_star = {}
    for name, tensor_key in zip(names, jax.random.split(key, len(names))):
        theta = params[name]
        eps_rel, eps_const = jax.random.normal(tensor_key, (2, *theta.shape), theta.dtype)
        if s.relative_step_uses_abs:
            relative = theta + jnp.abs(theta) * (s.initial_std_mismatch * eps_rel)
        else:
            relative = theta * (1.0 + s.initial_std_mismatch * eps_rel)
        theta_star[name] = relative + s.initial_std_constant * eps_const
    return theta_star


def step_sizes(params: dict, s: AttackSettings) -> dict:
    """a_k = (ζ_rel·θ_k + ζ_const)/N (report: signed θ_k, quirk 1) or (ζ_rel·|θ_k| + ζ_const)/N."""
    magnitude = jnp.abs if s.relative_step_uses_abs else (lambda theta: theta)
    return _tree_map(
        lambda t: (s.attack_size_mismatch * magnitude(t) + s.attack_size_constant) / s.n_attack_steps, params
    )


def _direction(grad, p_norm):
    if p_norm == "inf":
        return jnp.sign(grad)
    norm = jnp.sqrt(jnp.sum(jnp.square(grad)))  # per-tensor ‖g‖₂ over all elements (jnp.linalg.norm)
    return jnp.where(norm > 0, grad / jnp.where(norm > 0, norm, 1.0), 0.0)  # all-zero g: no step, not NaN


def search_theta_star(forward, params, x, clean_logits, dropout_mask, key, s: AttackSettings, objective=None):
    """θ* (differentiable in θ through θ*_0 and a) and the N objective values before each step.

    ``objective(attacked_logits) -> scalar`` is what the attack ascends; default: the boundary loss
    D(f_θ(X) held fixed, f_θ*(X)). AWP (``robustness.methods``) passes the cross-entropy at θ* (the ICLR
    era's ``boundary_loss=madry``)."""
    theta_init = initial_theta_star(params, key, s)
    if s.n_attack_steps == 0:
        return theta_init, jnp.zeros((0,), clean_logits.dtype)
    steps = step_sizes(params, s)
    frozen_init, frozen_steps = jax.lax.stop_gradient((theta_init, steps))
    fixed_logits = jax.lax.stop_gradient(clean_logits)  # the clean output is a constant inside the attack

    def boundary(attacked_logits):
        return losses.boundary_loss(s.boundary_loss, fixed_logits, attacked_logits, s.kl_min_prob)

    of_logits = boundary if objective is None else objective

    def attack_objective(theta_star):
        attacked_logits, _ = forward(theta_star, x, dropout_mask)
        return of_logits(attacked_logits)

    def attack_step(direction_sum, _):
        theta_star = _tree_map(lambda t0, a, d: t0 + a * d, frozen_init, frozen_steps, direction_sum)
        value, grads = jax.value_and_grad(attack_objective)(theta_star)
        return _tree_map(lambda d, g: d + _direction(g, s.p_norm), direction_sum, grads), value

    zeros = _tree_map(jnp.zeros_like, frozen_init)
    direction_sum, values = jax.lax.scan(attack_step, zeros, None, length=int(s.n_attack_steps))
    return _tree_map(lambda t0, a, d: t0 + a * d, theta_init, steps, direction_sum), values


def _attack(forward, params, x, key, dropout_mask, s: AttackSettings):
    clean_logits, _ = forward(params, x, dropout_mask)
    theta_star, values = search_theta_star(forward, params, x, clean_logits, dropout_mask, key, s)
    attacked_logits, _ = forward(theta_star, x, dropout_mask)
    final = losses.boundary_loss(
        s.boundary_loss, jax.lax.stop_gradient(clean_logits), attacked_logits, s.kl_min_prob
    )
    return theta_star, attacked_logits, jnp.concatenate([values, final[None]])


def attack_parameters(
    forward,
    params,
    x,
    *,
    key,
    attack_size_mismatch,
    attack_size_constant,
    initial_std_mismatch,
    initial_std_constant,
    n_attack_steps,
    boundary_loss,
    relative_step_uses_abs,
    p_norm,
    kl_min_prob,
    dropout_mask=None,
):
    """θ* for inputs x and the N+1 boundary-loss values (`kl_trajectory`, before each step + after the last).

    `forward(params, x, dropout_mask) -> (logits, spikes)`; arguments as `AttackSettings` (docs/original.md
    §1.2-1.3).
    θ* is differentiable w.r.t. params (through θ*_0 and the step sizes; the sign terms are constants).
    """
    s = _settings(
        attack_size_mismatch=attack_size_mismatch, attack_size_constant=attack_size_constant,
        initial_std_mismatch=initial_std_mismatch, initial_std_constant=initial_std_constant,
        n_attack_steps=n_attack_steps, boundary_loss=boundary_loss, relative_step_uses_abs=relative_step_uses_abs,
        p_norm=p_norm, kl_min_prob=kl_min_prob,
    )  # fmt: skip
    theta_star, _, trajectory = _attack(forward, params, x, key, dropout_mask, s)
    return theta_star, trajectory


def evaluation_attack(
    forward,
    params,
    x,
    *,
    key,
    attack_size_mismatch,
    attack_size_constant,
    initial_std_mismatch,
    initial_std_constant,
    n_attack_steps,
    relative_step_uses_abs,
    p_norm,
    boundary_loss=None,
):
    """Evaluation-time attack (`attack_network`): the same search, always KL, all-ones dropout mask.

    Returns (attacked logits (batch, n_classes), kl_trajectory (N+1,)). `boundary_loss` is accepted and
    ignored (quirk 11: the model's training boundary loss does not apply at evaluation, nor does a floor).
    """
    del boundary_loss
    s = _settings(
        attack_size_mismatch=attack_size_mismatch, attack_size_constant=attack_size_constant,
        initial_std_mismatch=initial_std_mismatch, initial_std_constant=initial_std_constant,
        n_attack_steps=n_attack_steps, relative_step_uses_abs=relative_step_uses_abs, p_norm=p_norm,
        boundary_loss="kl", kl_min_prob=0.0,  # quirk 11: the plain KL, whatever the model trained with
    )  # fmt: skip
    _, attacked_logits, trajectory = _attack(forward, params, x, key, None, s)
    return attacked_logits, trajectory


def training_loss_and_aux(
    forward,
    params,
    x,
    y,
    *,
    key,
    beta_robustness,
    treat_as_constant,
    reg,
    dropout_mask=None,
    **attack_kwargs,
):
    """L = CE + rate_reg + β·D(f_θ, f_θ*) and aux dict(cross_entropy, rate_reg, robust_loss, logits, ...).

    `attack_kwargs`: every `AttackSettings` field (the config builds them: `robustness.configs.loss_kwargs`).
    β == 0 (a Python number) ⇒ no attack at all (aux robust_loss = 0). `treat_as_constant=True` makes θ* a
    constant (stop_gradient); False lets the gradient flow through θ*(θ). The one `dropout_mask` is used
    for the clean pass and every attacked pass. aux adds attacked_logits and kl_trajectory (N+1) if β ≠ 0.
    """
    s = _settings(**attack_kwargs)
    robust_training = not (isinstance(beta_robustness, (int, float)) and beta_robustness == 0)
    logits, spikes = forward(params, x, dropout_mask)
    cross_entropy = losses.cross_entropy(logits, y)
    rate_reg = losses.firing_rate_regulariser(spikes, reg)
    aux = {"cross_entropy": cross_entropy, "rate_reg": rate_reg, "logits": logits}
    if not robust_training:
        aux["robust_loss"] = jnp.zeros((), logits.dtype)
        return cross_entropy + rate_reg, aux
    theta_star, values = search_theta_star(forward, params, x, logits, dropout_mask, key, s)
    if treat_as_constant:
        theta_star = jax.lax.stop_gradient(theta_star)
    attacked_logits, _ = forward(theta_star, x, dropout_mask)
    robust = losses.boundary_loss(s.boundary_loss, logits, attacked_logits, s.kl_min_prob)
    aux.update(
        robust_loss=robust,
        attacked_logits=attacked_logits,
        kl_trajectory=jnp.concatenate([values, jax.lax.stop_gradient(robust)[None]]),
    )
    return cross_entropy + rate_reg + beta_robustness * robust, aux


def training_loss(forward, params, x, y, *, key, beta_robustness, treat_as_constant, **attack_kwargs):
    """The scalar training loss of `training_loss_and_aux` (docs/original.md §1.1); `attack_kwargs` holds
    `reg` and
    every `AttackSettings` field (all required: `robustness.configs.loss_kwargs(config)` builds them)."""
    loss, _ = training_loss_and_aux(
        forward,
        params,
        x,
        y,
        key=key,
        beta_robustness=beta_robustness,
        treat_as_constant=treat_as_constant,
        **attack_kwargs,
    )
    return loss


def mask_recurrent_diagonal(grads: dict) -> dict:
    """Zero the diagonal of the W_rec gradient (docs/original.md §1.1) so self-connections stay exactly 0;
    else no-op.

    Works on (n, n) and on seed-batched (..., n, n) gradients.
    """
    if "W_rec" not in grads:
        return grads
    w_rec = grads["W_rec"]
    diagonal = jnp.eye(w_rec.shape[-1], dtype=bool)
    return {**grads, "W_rec": jnp.where(diagonal, jnp.zeros_like(w_rec), w_rec)}
