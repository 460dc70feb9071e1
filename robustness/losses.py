"""Task loss and boundary (robustness) losses of the report (docs/original.md §1.1, `loss_jax.py@8119e742`).

    L_nat = CE(y, f_θ(X)) + reg · Σ_{b,n} (mean_t z_{b,t,n} − 0.01)²        (summed: quirk 4)
    L_rob = D(f_θ(X), f_θ*(X)),  D ∈ {kl, reverse_kl, l2, js}

All logits are (batch, n_classes); labels are integer class indices (batch,). Hyperparameters (``reg``,
``kl_min_prob``) have no defaults here: the config builds them (``robustness.configs.loss_kwargs``).
"""

import jax
import jax.numpy as jnp
from jax.scipy.special import xlogy

BOUNDARY_LOSSES = ("kl", "reverse_kl", "l2", "js")  # the valid values of -boundary_loss
RATE_TARGET = 0.01  # target firing rate: 0.01 spikes per 1-ms step = 10 Hz (the report)
RATE_REDUCTION = "sum"  # quirk 4: summed over batch × neurons (the report); "mean" averages


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Batch mean of −log softmax(logits)[label]; a scalar."""
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(log_probs, labels[:, None].astype(jnp.int32), axis=-1))


def firing_rate_regulariser(spikes, reg, rate_target=RATE_TARGET, reduction: str = RATE_REDUCTION):
    """reg · Σ_{b,n} (mean_t spikes − rate_target)², spikes: (batch, T, n_hidden) with 0/1 per 1-ms step.

    `reduction="sum"` is the report (quirk 4); "mean" averages instead.
    """
    # Time average as a contraction with ones (integer counts, then / T: equal to jnp.mean). On XLA:CPU
    # jnp.mean(spikes, 1) of the LSNN's (transposed, time-major) spikes is ~30× slower, and so is the
    # einsum with the operands swapped ("btn,t->bn" materialises a transpose); measured in a 10-ms step.
    counts = jnp.einsum("t,btn->bn", jnp.ones(spikes.shape[1], spikes.dtype), spikes)
    squared = jnp.square(counts / spikes.shape[1] - rate_target)
    if reduction == "sum":
        return reg * jnp.sum(squared)
    if reduction == "mean":
        return reg * jnp.mean(squared)
    raise ValueError(f"firing_rate_regulariser: reduction must be 'sum' or 'mean', got {reduction!r}")


def _log_probs(logits, min_prob):
    # min_prob = 0 (report era, no clipping: quirk 2) uses log_softmax, which is the same value as
    # log(softmax) but cannot produce log(0) = −inf for a saturated softmax. The ICLR era floors at 1e-6.
    if isinstance(min_prob, (int, float)) and min_prob == 0:
        return jax.nn.log_softmax(logits, axis=-1)
    return jnp.log(jnp.maximum(jax.nn.softmax(logits, axis=-1), min_prob))


def kl_divergence(logits_p, logits_q, min_prob):
    """Batch mean of KL(p ‖ q) = Σ_c p_c log(p_c / q_c), p = softmax(logits_p), q floored at `min_prob`."""
    log_p = jax.nn.log_softmax(logits_p, axis=-1)
    kl = jnp.sum(jnp.exp(log_p) * (log_p - _log_probs(logits_q, min_prob)), axis=-1)
    return jnp.mean(kl)


def js_divergence(logits_p, logits_q, min_prob):
    """Batch mean of ½·KL(p ‖ m) + ½·KL(q ‖ m), m = (p + q)/2 (ICLR-era `loss_js`, m floored at `min_prob`)."""
    p, q = jax.nn.softmax(logits_p, axis=-1), jax.nn.softmax(logits_q, axis=-1)
    log_m = jnp.log(jnp.maximum(0.5 * (p + q), min_prob))

    def kl_to_m(a):  # xlogy: 0·log 0 = 0 for saturated probabilities
        return jnp.sum(xlogy(a, a) - a * log_m, axis=-1)

    return jnp.mean(0.5 * (kl_to_m(p) + kl_to_m(q)))


def l2_distance(logits, logits_star):
    """Batch mean of ‖logits − logits*‖₂ on logits (not probabilities)."""
    squared = jnp.sum(jnp.square(logits - logits_star), axis=-1)
    # Double `where`: the norm's gradient at 0 would be NaN (0/0); define it as 0 there.
    positive = squared > 0
    return jnp.mean(jnp.where(positive, jnp.sqrt(jnp.where(positive, squared, 1.0)), 0.0))


def boundary_loss(name: str, clean_logits, attacked_logits, kl_min_prob):
    """The distance `name` between clean (θ) and attacked (θ*) outputs; a scalar (docs/original.md §1.1
    L_rob)."""
    if name == "kl":
        return kl_divergence(clean_logits, attacked_logits, kl_min_prob)
    if name == "reverse_kl":
        return kl_divergence(attacked_logits, clean_logits, kl_min_prob)
    if name == "l2":
        return l2_distance(clean_logits, attacked_logits)
    if name == "js":
        return js_divergence(attacked_logits, clean_logits, kl_min_prob)
    raise ValueError(f"boundary_loss must be one of {BOUNDARY_LOSSES}, got {name!r}")


def check_boundary_loss(name: str) -> str:
    """Raise early (before tracing) for an unknown boundary-loss name; returns the name."""
    if name not in BOUNDARY_LOSSES:
        raise ValueError(f"boundary_loss must be one of {BOUNDARY_LOSSES}, got {name!r}")
    return name
