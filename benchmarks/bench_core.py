"""Benchmark of the numerical core on CPU: standard vs robust train steps, compile time, achieved GFLOP/s.

    python benchmarks/bench_core.py [--quick]

Everything is measured side by side in one process, round-robin (each round times every case once), so a
neighbour's load hits all cases alike; the table shows the median and, in brackets, the best round.
A "train step" is jit(value_and_grad(training loss) → W_rec-diagonal mask → Adam update).
LSNN: batch 100, T 100, 40 → 256 → 4. CNN: batch 100 Fashion-MNIST-sized images. Robust: β = 1, N = 10.
FLOPs of the standard LSNN step are counted as T·B·(n_in·N_h + N_h·N_h)·2·3 (forward + 2× backward);
the peak is a 2048² float32 jit(jnp.dot) timed in the same rounds.
"""

import argparse
import functools
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from robustness import attack, cnn, lsnn
from robustness.configs import loss_kwargs
from robustness.tasks import CnnConfig, SpeechConfig
from robustness.tasks.lsnn_common import lsnn_constants

BATCH, STEPS, N_IN, N_HIDDEN, N_OUT = 100, 100, 40, 256, 4
LSNN_FORWARD = functools.partial(lsnn.forward, **lsnn_constants(SpeechConfig()))
LSNN_REFERENCE = functools.partial(lsnn.forward_reference, **lsnn_constants(SpeechConfig()))


def make_train_step(forward, config):
    """jit(params, opt_state, x, y, key) → (params, opt_state, loss): the loss and attack of ``config``, Adam."""
    optimizer = optax.adam(1e-3)
    loss_and_grad = jax.value_and_grad(attack.training_loss_and_aux, argnums=1, has_aux=True)
    kwargs = loss_kwargs(config)

    @jax.jit
    def train_step(params, opt_state, x, y, key):
        (loss, _), grads = loss_and_grad(forward, params, x, y, key=key, **kwargs)
        updates, opt_state = optimizer.update(attack.mask_recurrent_diagonal(grads), opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return train_step, optimizer


def step_case(forward, params, x, y, config):
    """A warmed-up (compiled) zero-argument train-step call."""
    train_step, optimizer = make_train_step(forward, config)
    args = (params, optimizer.init(params), x, y, jax.random.PRNGKey(1))
    jax.block_until_ready(train_step(*args))
    return lambda: train_step(*args)


def compile_seconds(forward, params, x, y, n_attack_steps) -> float:
    train_step, optimizer = make_train_step(forward, SpeechConfig(n_attack_steps=n_attack_steps))
    start = time.perf_counter()
    train_step.lower(params, optimizer.init(params), x, y, jax.random.PRNGKey(1)).compile()
    return time.perf_counter() - start


def conv_case(formulation: str):
    """3 attack-like iterations in lax.scan of conv 2 (100×64×14×14 ⊛ 64×64×4×4): forward + gradients
    w.r.t. input and kernel, with one of three formulations of the convolution."""
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(BATCH, 14, 14, 64)), jnp.float32)  # NHWC
    kernel = jnp.asarray(0.01 * rng.normal(size=(64, 64, 4, 4)), jnp.float32)

    def conv(xx, k):
        if formulation == "lax.conv":
            return jax.lax.conv_general_dilated(
                xx, k, (1, 1), "VALID", dimension_numbers=("NHWC", "OIHW", "NHWC")
            )
        if formulation == "patches":  # the 16 shifted views stacked into one (B, 11, 11, 1024) matmul
            patches = jnp.concatenate([xx[:, i : i + 11, j : j + 11] for i in range(4) for j in range(4)], -1)
            return patches @ jnp.transpose(k, (2, 3, 1, 0)).reshape(1024, 64)
        return cnn.conv2d(xx, k, cnn.CONV2_PADDING)  # sum of 16 shifted matmuls (what cnn.forward uses)

    @jax.jit
    def iterations(k):
        def body(carry, _):
            dx, dk = jax.grad(lambda xx, kk: jnp.sum(jnp.tanh(conv(xx, kk))), argnums=(0, 1))(x, carry)
            return carry + 1e-6 * jnp.sign(dk) + 1e-9 * jnp.sum(dx), None

        return jax.lax.scan(body, k, None, length=3)[0]

    jax.block_until_ready(iterations(kernel))
    return lambda: iterations(kernel)


def round_robin(cases: dict, rounds: int) -> dict:
    """{name: [seconds per round]}: every round calls each case once, in turn."""
    times = {name: [] for name in cases}
    for _ in range(rounds):
        for name, call in cases.items():
            start = time.perf_counter()
            jax.block_until_ready(call())
            times[name].append(time.perf_counter() - start)
    return times


def build_cases() -> tuple[dict, float, float]:
    """The timed cases (zero-argument calls, warmed up) and the robust compile times for N = 1 and 10."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(BATCH, STEPS, N_IN)), jnp.float32)
    y = jnp.asarray(rng.integers(0, N_OUT, BATCH))
    params = lsnn.init_params(jax.random.PRNGKey(0), N_IN, N_HIDDEN, N_OUT)
    images = jnp.asarray(rng.uniform(0, 1, size=(BATCH, 1, 28, 28)), jnp.float32)
    labels = jnp.asarray(rng.integers(0, 10, BATCH))
    cnn_config = CnnConfig()
    cnn_params = cnn.init_params(
        jax.random.PRNGKey(0),
        scalar_conv1_bias=cnn_config.scalar_conv1_bias,
        w3_reuses_w2_key=cnn_config.w3_reuses_w2_key,
    )
    matrix = jax.random.normal(jax.random.PRNGKey(0), (2048, 2048), jnp.float32)
    dot = jax.jit(jnp.dot)
    jax.block_until_ready(dot(matrix, matrix))
    compile_1 = compile_seconds(LSNN_FORWARD, params, x, y, 1)
    compile_10 = compile_seconds(LSNN_FORWARD, params, x, y, 10)
    cases = {
        "peak": lambda: dot(matrix, matrix),
        "standard": step_case(LSNN_FORWARD, params, x, y, SpeechConfig(beta_robustness=0.0)),
        "autodiff": step_case(LSNN_REFERENCE, params, x, y, SpeechConfig(beta_robustness=0.0)),
        "robust": step_case(LSNN_FORWARD, params, x, y, SpeechConfig()),  # β = 1, ζ_rel = 2, N = 10
        "cnn_standard": step_case(cnn.forward, cnn_params, images, labels, CnnConfig(beta_robustness=0.0)),
        "cnn_robust": step_case(cnn.forward, cnn_params, images, labels, cnn_config),  # β = 1, ζ_rel = 1
        **{f"conv {name}": conv_case(name) for name in ("patches", "shifted")},
    }
    return cases, compile_1, compile_10


def report(times: dict, rounds: int, compile_1: float, compile_10: float) -> None:
    """One line per case: median time (best round) and what it means."""
    med = {name: statistics.median(t) for name, t in times.items()}
    best = {name: min(t) for name, t in times.items()}
    flops = STEPS * BATCH * (N_IN * N_HIDDEN + N_HIDDEN * N_HIDDEN) * 2 * 3

    def ms(name, per=1):
        return f"{1e3 * med[name] / per:.0f} ms ({1e3 * best[name] / per:.0f})"

    def gflops(seconds):
        return flops / seconds / 1e9

    peak = 2 * 2048**3 / med["peak"] / 1e9
    rows = [
        ("matmul peak 2048² f32", f"{peak:.0f} GFLOP/s", f"best {2 * 2048**3 / best['peak'] / 1e9:.0f}"),
        ("LSNN standard step", ms("standard"), (f"{gflops(med['standard']):.0f} GFLOP/s = "
         f"{100 * gflops(med['standard']) / peak:.0f} % of peak (goal ≥ 30 %)")),
        ("LSNN robust step (β=1, N=10)", ms("robust"), f"ratio {med['robust'] / med['standard']:.1f} (goal ≤ 11)"),
        ("LSNN standard, plain autodiff", ms("autodiff"), (f"{gflops(med['autodiff']):.0f} GFLOP/s "
         "(forward_reference: backward by autodiff instead of the hand-written adjoint)")),
        ("LSNN robust compile N=1 / N=10", f"{compile_1:.1f} s / {compile_10:.1f} s", "flat in N (lax.scan)"),
        ("CNN standard step", ms("cnn_standard"), ""),
        ("CNN robust step (β=1, N=10)", ms("cnn_robust"), f"ratio {med['cnn_robust'] / med['cnn_standard']:.1f}"),
        ("conv 2 in lax.scan: lax.conv", ms("conv lax.conv", 3), "per attack-like iteration (fwd + bwd); 1 round"),
        ("conv 2 in lax.scan: patch matmul", ms("conv patches", 3), ""),
        ("conv 2 in lax.scan: shifted sum", ms("conv shifted", 3), "used by cnn.conv2d for conv 2"),
    ]  # fmt: skip
    print(f"jax {jax.__version__}, {jax.devices()[0].platform}; median of {rounds} rounds (best round)")
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>17}  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 7 (noisier)")
    rounds = 3 if parser.parse_args().quick else 7
    cases, compile_1, compile_10 = build_cases()
    times = round_robin(cases, rounds)
    times.update(round_robin({"conv lax.conv": conv_case("lax.conv")}, 1))  # ~50× slower: one round
    report(times, rounds, compile_1, compile_10)


if __name__ == "__main__":
    main()
