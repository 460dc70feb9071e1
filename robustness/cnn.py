"""Fashion-MNIST CNN of the report (docs/original.md §2.2, `CNN_Jax.py@2cb78a00`, report-era
`main_CNN_jax.py`).

    x (B,1,28,28) → standardise over (B,H,W) → conv K1 (64,1,4,4) pad ((2,1),(2,1)) + CB1 → ReLU → pool 2×2
      → conv K2 (64,64,4,4) VALID + CB2 → ReLU → pool 2×2 (floor: 11 → 5) → flatten (C,H,W) = 1600
      → W1 + B1 → ReLU → W2 + B2 → ReLU → standardise over B → W3 + B3 → logits (B,10)

Batch statistics are used at training *and* test time (quirk 5), eps 1e-5 as `jax.nn.standardize`.
Parameters keep the original layouts (NCHW biases, OIHW kernels). Internally the convolutions run in NHWC
as matmuls (`conv2d`): `lax.conv_general_dilated` inside `lax.scan` (the attack loop) is ~50× slower on
XLA:CPU (benchmarks/bench_core.py, README "Benchmarks"); the tests check equality with
`lax.conv_general_dilated`.
"""

import functools

import jax
import jax.numpy as jnp

KERNELS = ((64, 1, 4, 4), (64, 64, 4, 4))  # OIHW; the only value of the flag `-Kernels` (its default)
DENSE = ((1600, 256), (256, 64), (64, 10))  # the only value of the flag `-Dense` (its default)
CONV1_PADDING = ((2, 1), (2, 1))  # 28 + 3 − 4 + 1 = 28: the original's asymmetric 'SAME'
CONV2_PADDING = ((0, 0), (0, 0))  # VALID: 14 − 4 + 1 = 11
PATCH_MAX_IN_CH = 16  # conv2d: patch matmul below this many input channels, shifted-matmul sum above


def _glorot_scale(shape) -> float:
    """The original's kernel scale sqrt(6/(O·I·KH + O·I·KW)) (no truncated-normal std correction)."""
    out_ch, in_ch, kh, kw = shape
    return (6.0 / (out_ch * in_ch * kh + out_ch * in_ch * kw)) ** 0.5


@functools.partial(jax.jit, static_argnames=("scalar_conv1_bias", "w3_reuses_w2_key"))
def init_params(key: jax.Array, *, scalar_conv1_bias: bool, w3_reuses_w2_key: bool) -> dict:
    """Report initialisation: `_, *sks = split(key, 10)`, each tensor TN[−2, 2] × scale, biases B* zero.

    Quirk 5 switches (report: both True, the defaults of `-scalar_conv1_bias`/`-w3_reuses_w2_key`): `scalar_conv1_bias` gives CB1 the shape (1,1,1,1) (the code used
    the in-channel count 1) instead of (1,64,1,1); `w3_reuses_w2_key` draws W3 from W2's key sks[4]
    (else from the otherwise unused sks[5]).
    """
    _, *sks = jax.random.split(key, 10)  # as the original: 9 keys sks[0..8]; sks[0], sks[5], sks[8] unused

    def tn(k, shape, scale):
        return jax.random.truncated_normal(k, -2.0, 2.0, shape, jnp.float32) * scale

    (k1, k2), (d1, d2, d3) = KERNELS, DENSE
    cb1_channels = k1[1] if scalar_conv1_bias else k1[0]
    return {
        "K1": tn(sks[1], k1, _glorot_scale(k1)),
        "CB1": tn(sks[6], (1, cb1_channels, 1, 1), _glorot_scale(k1)),
        "K2": tn(sks[2], k2, _glorot_scale(k2)),
        "CB2": tn(sks[7], (1, k2[1], 1, 1), _glorot_scale(k2)),
        "W1": tn(sks[3], d1, (6.0 / sum(d1)) ** 0.5),
        "W2": tn(sks[4], d2, (6.0 / sum(d2)) ** 0.5),
        "W3": tn(sks[4] if w3_reuses_w2_key else sks[5], d3, (6.0 / sum(d3)) ** 0.5),
        "B1": jnp.zeros((d1[1],), jnp.float32),
        "B2": jnp.zeros((d2[1],), jnp.float32),
        "B3": jnp.zeros((d3[1],), jnp.float32),
    }


def conv2d(x: jax.Array, kernel: jax.Array, padding) -> jax.Array:
    """Stride-1 cross-correlation as `lax.conv_general_dilated`: x (B,H,W,I) NHWC, kernel OIHW → (B,H',W',O).

    Few input channels (conv 1): the KH·KW shifted copies are stacked to (B,H',W',KH·KW·I) patches and
    multiplied by the kernel in one matmul. Many (conv 2): a sum of KH·KW matmuls of shifted views,
    which never builds the 16× larger patch array (measured ~1.5× faster, forward + backward, on XLA:CPU).
    """
    out_ch, in_ch, kh, kw = kernel.shape
    x = jnp.pad(x, ((0, 0), tuple(padding[0]), tuple(padding[1]), (0, 0)))
    height, width = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    shifts = [(i, j) for i in range(kh) for j in range(kw)]
    if in_ch < PATCH_MAX_IN_CH:
        patches = jnp.concatenate([x[:, i : i + height, j : j + width, :] for i, j in shifts], axis=-1)
        weights = jnp.transpose(kernel, (2, 3, 1, 0)).reshape(kh * kw * in_ch, out_ch)  # rows (i, j, in)
        return patches @ weights
    return sum(x[:, i : i + height, j : j + width, :] @ kernel[:, :, i, j].T for i, j in shifts)


def max_pool(x: jax.Array) -> jax.Array:
    """2×2 max-pool, stride 2, NHWC; odd trailing rows/columns are dropped (floor), as the original."""
    batch, height, width, channels = x.shape
    h, w = height // 2, width // 2
    return jnp.max(x[:, : 2 * h, : 2 * w, :].reshape(batch, h, 2, w, 2, channels), axis=(2, 4))


DROPOUT_UNITS = sum(n_in for n_in, _ in DENSE)  # 1600 + 256 + 64: the inputs of the three dense layers


def _dense_masks(dropout_mask):
    """Three functions h -> h ⊙ mask_l (identity without a mask), one per dense layer's input."""
    if dropout_mask is None:
        return [lambda h: h] * len(DENSE)
    mask = jnp.reshape(jnp.asarray(dropout_mask), (-1, DROPOUT_UNITS))
    bounds = [0]
    for n_in, _ in DENSE:
        bounds.append(bounds[-1] + n_in)
    return [lambda h, a=a, b=b: h * mask[:, a:b].astype(h.dtype) for a, b in zip(bounds[:-1], bounds[1:])]


def _nchw_bias_to_nhwc(bias: jax.Array) -> jax.Array:
    return jnp.transpose(bias, (0, 2, 3, 1))


def forward(params: dict, x: jax.Array, dropout_mask=None):
    """Logits (batch, 10) and a zero "spikes" placeholder (1, 1, 1) for images x: (batch, 1, 28, 28).

    `dropout_mask` (None: no dropout, the report's): a (1, DROPOUT_UNITS) keep-mask, split into one mask
    before each dense layer (its 1600, 256 and 64 inputs; the ICLR-era ``-dropout_prob``), shared by the
    batch, not rescaled (as the LSNN's). The placeholder makes the firing-rate term the constant reg·0.01²
    (docs/original.md §1.1).
    """
    masks = _dense_masks(dropout_mask)
    x = jax.nn.standardize(x, axis=(0, 2, 3))  # batch statistics, also at test time (quirk 5)
    h = jnp.transpose(x, (0, 2, 3, 1))
    h = conv2d(h, params["K1"], CONV1_PADDING) + _nchw_bias_to_nhwc(params["CB1"])
    h = max_pool(jax.nn.relu(h))
    h = conv2d(h, params["K2"], CONV2_PADDING) + _nchw_bias_to_nhwc(params["CB2"])
    h = max_pool(jax.nn.relu(h))
    h = jnp.transpose(h, (0, 3, 1, 2)).reshape(h.shape[0], -1)  # flatten in the original's (C, H, W) order
    h = jax.nn.relu(masks[0](h) @ params["W1"] + params["B1"])
    h = jax.nn.relu(masks[1](h) @ params["W2"] + params["B2"])
    h = jax.nn.standardize(h, axis=0)  # per feature over the batch (quirk 5)
    logits = masks[2](h) @ params["W3"] + params["B3"]
    return logits, jnp.zeros((1, 1, 1), logits.dtype)
