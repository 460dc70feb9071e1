"""The spike non-linearity with the report's surrogate derivative (docs/original.md §2.1, quirk 6).

Forward: the Heaviside step ``H(u) = [u > 0]`` of the normalised membrane ``u = (v − A)/A``.
Backward: the pseudo-derivative ``dampening_factor · max(0, 1 − |u|)``; the original hard-codes 0.3, which
is the ``-dampening_factor`` default of the LSNN config (the only place defaults live), so the default
reproduces it exactly.
"""

import jax
import jax.numpy as jnp


def pseudo_derivative(u: jax.Array, dampening_factor: float | jax.Array) -> jax.Array:
    """The surrogate dH/du = dampening_factor · max(0, 1 − |u|) (a triangle of half-width 1 around u = 0)."""
    return dampening_factor * jnp.maximum(0.0, 1.0 - jnp.abs(u))


@jax.custom_jvp
def spike(u: jax.Array, dampening_factor: float | jax.Array) -> jax.Array:
    """Heaviside ``[u > 0]`` (same shape and dtype as ``u``); derivative given by the surrogate below."""
    return (u > 0.0).astype(u.dtype)


@spike.defjvp
def _spike_jvp(primals, tangents):
    # A JVP rule (not a VJP) keeps `spike` usable under jacfwd; reverse mode transposes the linear
    # tangent map, so grad sees dampening_factor·max(0, 1−|u|) as dz/du. The factor itself gets no tangent.
    u, dampening_factor = primals
    du, _ = tangents
    return spike(u, dampening_factor), pseudo_derivative(u, dampening_factor) * du
