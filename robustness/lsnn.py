"""Adaptive leaky integrate-and-fire network (LSNN) of the report (docs/original.md §2.1,
`RNN_Jax.py@1a9f889c`).

One recurrent layer of ALIF neurons, features injected as currents, readout on time-averaged spikes.
With α = exp(−dt/τ), ρ = exp(−dt/τ_a), per time step t (row vectors, all states 0 at t = 0):

    b_t  = ρ·b_{t−1} + (1−ρ)·z_{t−1}
    A_t  = thr + beta·b_t                                    adaptive threshold
    v_t  = α·v_{t−1} + (1−α)·(x_t·W_in + z_{t−1}·W_rec) − z_{t−1}·A_t·dt
    z_t  = mask ⊙ [r_{t−1} ≤ 0.1] ⊙ H((v_t − A_t)/A_t) / dt
    r_t  = clip(r_{t−1} + refr·z_t − 1, 0, refr)
    logits = mean_t(z_t)·W_out + b_out

Gradients: surrogate dH/du = dampening_factor·max(0, 1−|u|) (`surrogate`), full BPTT, no stop_gradient.
`forward` scans `step` with a hand-derived backward pass (`_adjoint_step`, the exact transpose of `step`);
on XLA:CPU its train step is ~1.4× faster than autodiff (benchmarks/bench_core.py), because it stores 2
instead of 6 per-step arrays and never materialises a (T, batch, n) cotangent when only the logits are
differentiated (the attack). `forward_reference` is the same scan under plain autodiff (any
transformation, e.g. jacfwd); the tests check that both give the same gradients.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.custom_derivatives import CustomVJPPrimal, SymbolicZero

from robustness.surrogate import pseudo_derivative, spike

# Dividing a [−2, 2]-truncated standard normal by its std (0.8796…) gives unit variance (docs/original.md §2.1
# init).
TRUNCATED_NORMAL_STD = 0.87962566103423978
# lax.scan unroll factor of the time loops. Measured: 2 is ≤ 10 % faster for the standard step, no faster
# for the robust one, and compiles ~40 % longer.
SCAN_UNROLL = 1


class LsnnConstants(NamedTuple):
    """Neuron constants of docs/original.md §2.1 (times in ms), all passed to `forward` by keyword. No
    defaults here:
    the LSNN config (`robustness.tasks.lsnn_common.LsnnConfig`) is their one source."""

    tau: float
    tau_adaptation: float
    thr: float
    beta: float  # adaptation strength (not beta_robustness, the weight of the robust loss)
    refr: float
    dt: float
    dampening_factor: float


class LsnnState(NamedTuple):
    """Per-neuron state, each (batch, n_hidden): membrane v, adaptation b, refractory count r, spikes z."""

    v: jax.Array
    b: jax.Array
    r: jax.Array
    z: jax.Array


class StepAux(NamedTuple):
    """Per-step values besides the state: threshold A_t, u_t = (v_t − A_t)/A_t, gate mask·[r_{t−1} ≤ 0.1]/dt."""

    threshold: jax.Array
    u: jax.Array
    gate: jax.Array


def constants(**values) -> LsnnConstants:
    """`LsnnConstants` from keywords; an unknown or missing name raises, naming the valid ones."""
    unknown = set(values) - set(LsnnConstants._fields)
    missing = [name for name in LsnnConstants._fields if name not in values]
    if unknown or missing:
        raise TypeError(
            f"lsnn: unknown constant(s) {sorted(unknown)}, missing {missing}; every one of "
            f"{LsnnConstants._fields} is required"
        )
    return LsnnConstants(**values)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))  # one compilation instead of many eager ops
def init_params(key: jax.Array, n_in: int, n_hidden: int, n_out: int) -> dict:
    """Report initialisation (`main_speech_lsnn.py`): `_, *sks = split(key, 5)`, truncated normals.

    W_in (n_in, n_hidden), W_rec (n_hidden, n_hidden) with zero diagonal, W_out (n_hidden, n_out), b_out (n_out,).
    """
    _, *sks = jax.random.split(key, 5)  # as the original: the first of the 5 keys is discarded

    def tn(k, shape):
        return jax.random.truncated_normal(k, -2.0, 2.0, shape, jnp.float32)

    w_in = tn(sks[1], (n_in, n_hidden)) * (jnp.sqrt(2.0 / (n_in + n_hidden)) / TRUNCATED_NORMAL_STD)
    w_rec = tn(sks[2], (n_hidden, n_hidden)) * (jnp.sqrt(1.0 / n_hidden) / TRUNCATED_NORMAL_STD)
    w_rec = jnp.where(jnp.eye(n_hidden, dtype=bool), 0.0, w_rec)  # no self-connections (quirk 6)
    w_out = tn(sks[3], (n_hidden, n_out)) * 0.01
    return {"W_in": w_in, "W_rec": w_rec, "W_out": w_out, "b_out": jnp.zeros((n_out,), jnp.float32)}


def _decays(consts: LsnnConstants):
    return jnp.exp(-consts.dt / consts.tau), jnp.exp(-consts.dt / consts.tau_adaptation)


def step(w_in, w_rec, consts: LsnnConstants, mask, state: LsnnState, x_t):
    """Advance the network by one time step; x_t: (batch, n_in). Returns (new state, `StepAux`).

    This is the only place the dynamics are written down (both `forward` paths scan it).
    """
    alpha, rho = _decays(consts)
    b = rho * state.b + (1.0 - rho) * state.z
    threshold = consts.thr + consts.beta * b  # the same adaptation strength beta for all neurons
    current = x_t @ w_in + state.z @ w_rec
    # Reset by subtraction, using the *current* threshold A_t (not A_{t−1}): quirk 6.
    v = alpha * state.v + (1.0 - alpha) * current - state.z * threshold * consts.dt
    # refr = 2 → a spike at t blocks only t+1: r goes 2 → 1 (blocked) → 0 (free).
    gate = mask * (state.r <= 0.1).astype(v.dtype) / consts.dt
    u = (v - threshold) / threshold
    z = gate * spike(u, consts.dampening_factor)
    r = jnp.clip(state.r + consts.refr * z - 1.0, 0.0, consts.refr)
    return LsnnState(v=v, b=b, r=r, z=z), StepAux(threshold, u, gate)


def _zero_state(batch, n_hidden, dtype) -> LsnnState:
    zeros = jnp.zeros((batch, n_hidden), dtype)
    return LsnnState(zeros, zeros, zeros, zeros)


def _scan(params, xs, mask, consts, outputs):
    """Scan `step` over time-major xs (T, batch, n_in); `outputs(old, new, aux)` picks the stacked ys."""

    def body(state, x_t):
        new, aux = step(params["W_in"], params["W_rec"], consts, mask, state, x_t)
        return new, outputs(state, new, aux)

    init = _zero_state(xs.shape[1], params["W_rec"].shape[0], xs.dtype)
    return jax.lax.scan(body, init, xs, unroll=SCAN_UNROLL)[1]


def _adjoint_step(w_rec_t, consts, alpha, rho, adjoint, dz_out, z_prev, u, threshold, dz_du):
    """Transpose of `step` at time t. adjoint = (∂L/∂v_{t+1}, ∂L/∂b_{t+1}, ∂L/∂z_t via step t+1).

    Returns ∂L/∂I_t (I_t = the input + recurrent current) and the adjoint for step t−1. r and the
    refractory gate carry no gradient (comparisons), as under autodiff of `step`.
    """
    dv_next, db_next, dz_from_next = adjoint
    du = (dz_out + dz_from_next) * dz_du
    dv = du / threshold + alpha * dv_next  # u = (v − A)/A: ∂u/∂v = 1/A
    d_threshold = -du * (u + 1.0) / threshold - z_prev * consts.dt * dv  # ∂u/∂A = −v/A² = −(u+1)/A; reset
    db = consts.beta * d_threshold + rho * db_next
    d_current = (1.0 - alpha) * dv
    dz_prev = d_current @ w_rec_t - dv * threshold * consts.dt + (1.0 - rho) * db
    return d_current, (dv, db, dz_prev)


# Stored instead of u where the refractory gate or the dropout mask is shut: the surrogate is 0 for
# |u| ≥ 1, so ∂z/∂u = 0 there, and (u + 1)/A stays finite. Saves one (T, batch, n) residual (the gate).
_BLOCKED = 2.0


def _fast_scan(w_in, w_rec, xs, mask, consts, save_residuals: bool):
    """Scan `step` over time-major xs, writing spikes straight into a (batch, T, n) buffer.

    Returns spikes (batch, T, n), spike counts Σ_t z_t (batch, n) and, if asked, the residuals of the
    backward pass stacked as (T, 2, batch, n) = (u, A), u set to `_BLOCKED` where the gate is shut. Every
    scan output is a freshly zeroed array, and on this memory-bound CPU each (T, batch, n) one costs ~5 ms.
    """
    steps, batch, n_hidden = xs.shape[0], xs.shape[1], w_rec.shape[0]

    def body(carry, inputs):
        state, spikes, counts = carry
        t, x_t = inputs
        new, aux = step(w_in, w_rec, consts, mask, state, x_t)
        spikes = jax.lax.dynamic_update_index_in_dim(spikes, new.z, t, axis=1)
        gated_u = jnp.where(aux.gate != 0, aux.u, _BLOCKED)
        residual = jnp.stack([gated_u, aux.threshold]) if save_residuals else None
        return (new, spikes, counts + new.z), residual

    zeros = jnp.zeros((batch, n_hidden), xs.dtype)
    init = (_zero_state(batch, n_hidden, xs.dtype), jnp.zeros((batch, steps, n_hidden), xs.dtype), zeros)
    (_, spikes, counts), residuals = jax.lax.scan(body, init, (jnp.arange(steps), xs), unroll=SCAN_UNROLL)
    return spikes, counts, residuals


@jax.custom_vjp
def _spike_trains(w_in, w_rec, xs, mask, consts):
    """(spikes (batch, T, n), counts (batch, n)) for time-major xs; differentiable via `_adjoint_step`."""
    spikes, counts, _ = _fast_scan(w_in, w_rec, xs, mask, consts, save_residuals=False)
    return spikes, counts


def _spike_trains_fwd(*primals):
    # symbolic_zeros=True hands every input leaf over as CustomVJPPrimal(value, perturbed).
    w_in, w_rec, xs, mask, consts = jax.tree.map(
        lambda p: p.value, primals, is_leaf=lambda p: isinstance(p, CustomVJPPrimal)
    )
    spikes, counts, residuals = _fast_scan(w_in, w_rec, xs, mask, consts, save_residuals=True)
    return (spikes, counts), (w_in, w_rec, xs, mask, consts, spikes, residuals)


def _spike_trains_bwd(saved, cotangents):
    w_in, w_rec, xs, mask, consts, spikes, residuals = saved
    d_spikes, d_counts = cotangents
    # Symbolic zeros: the attack's KL only sees the counts, so no (batch, T, n) cotangent is materialised.
    if isinstance(d_counts, SymbolicZero):
        d_counts = jnp.zeros(spikes.shape[::2], spikes.dtype)
    alpha, rho = _decays(consts)
    w_rec_t = w_rec.T

    def body(carry, inputs):
        adjoint, d_w_in, d_w_rec = carry
        t, x_t, (u, threshold) = inputs
        dz_du = mask / consts.dt * pseudo_derivative(u, consts.dampening_factor)  # 0 where u = _BLOCKED
        dz_t = d_counts
        if not isinstance(d_spikes, SymbolicZero):
            dz_t = dz_t + jax.lax.dynamic_index_in_dim(d_spikes, t, axis=1, keepdims=False)
        # z_{t−1} is read from the spike output (z_0 = 0) rather than saved as one more residual.
        previous = jax.lax.dynamic_index_in_dim(spikes, jnp.maximum(t - 1, 0), axis=1, keepdims=False)
        z_prev = jnp.where(t > 0, previous, 0.0)
        d_current, adjoint = _adjoint_step(
            w_rec_t, consts, alpha, rho, adjoint, dz_t, z_prev, u, threshold, dz_du
        )
        # Weight gradients accumulate in the loop: XLA:CPU runs these (K = batch) matmuls faster than
        # one big (n, T·batch)×(T·batch, n) matmul after it (measured, benchmarks/bench_core.py).
        return (adjoint, d_w_in + x_t.T @ d_current, d_w_rec + z_prev.T @ d_current), d_current

    zeros = jnp.zeros(d_counts.shape, d_counts.dtype)
    init = ((zeros, zeros, zeros), jnp.zeros_like(w_in), jnp.zeros_like(w_rec))
    steps = jnp.arange(xs.shape[0])
    (_, d_w_in, d_w_rec), d_currents = jax.lax.scan(
        body, init, (steps, xs, residuals), reverse=True, unroll=SCAN_UNROLL
    )
    d_xs = d_currents @ w_in.T  # dropped by XLA unless someone differentiates w.r.t. the input
    # The dropout mask and the neuron constants are not trainable: no cotangent (None = zero).
    return d_w_in, d_w_rec, d_xs, None, None


_spike_trains.defvjp(_spike_trains_fwd, _spike_trains_bwd, symbolic_zeros=True)


def _prepare(params, x, dropout_mask, values):
    consts = constants(**values)
    consts = LsnnConstants(*(jnp.asarray(c, x.dtype) for c in consts))
    n_hidden = params["W_rec"].shape[0]
    mask = jnp.ones((1, n_hidden), x.dtype) if dropout_mask is None else jnp.asarray(dropout_mask, x.dtype)
    return jnp.swapaxes(x, 0, 1), mask, consts


def _logits(params, counts, steps):
    return (counts / steps) @ params["W_out"] + params["b_out"]  # readout of the time-averaged spikes


def forward(params, x, dropout_mask=None, **constants):
    """Logits (batch, n_out) and spikes (batch, T, n_hidden) for features x: (batch, T, n_in).

    `dropout_mask` broadcasts to (batch, n_hidden), e.g. (1, n_hidden); None keeps every neuron.
    `constants`: every `LsnnConstants` field (tau, tau_adaptation, thr, beta, refr, dt, dampening_factor), as
    the config builds them (`robustness.tasks.lsnn_common.lsnn_constants`).
    Reverse-mode only (custom VJP); use `forward_reference` for jvp/jacfwd.
    """
    xs, mask, consts = _prepare(params, x, dropout_mask, constants)
    spikes, counts = _spike_trains(params["W_in"], params["W_rec"], xs, mask, consts)
    return _logits(params, counts, x.shape[1]), spikes


def forward_reference(params, x, dropout_mask=None, **constants):
    """`forward` through plain autodiff of the scanned `step` (any transformation; slower backward)."""
    xs, mask, consts = _prepare(params, x, dropout_mask, constants)
    spikes = _scan(params, xs, mask, consts, lambda old, new, aux: new.z)
    # Time sum as a contraction with ones: XLA:CPU's reduce over the leading (time) axis of a
    # (T, batch, n) array is ~50× slower than this dot (measured). Integer spike counts: exact.
    counts = jnp.einsum("t,tbn->bn", jnp.ones(spikes.shape[0], spikes.dtype), spikes)
    return _logits(params, counts, x.shape[1]), jnp.swapaxes(spikes, 0, 1)


def simulate(params, x, dropout_mask=None, **constants):
    """The full trajectory: (LsnnState, StepAux), every field stacked to (T, batch, n_hidden)."""
    xs, mask, consts = _prepare(params, x, dropout_mask, constants)
    return _scan(params, xs, mask, consts, lambda old, new, aux: (new, aux))
