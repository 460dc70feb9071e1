"""Per-model training-step time: S seeds trained at once with jax.vmap vs one seed (issue 5).

Uses the real jitted step of ``robustness.training`` (loss, attack, masked gradient, Adam update) on random
inputs of the task's shape, timing every case in turn in each round so machine noise hits all cases alike.

    python benchmarks/bench_training.py [--quick] [--seeds 10] [--tasks speech_lsnn,cnn]
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from robustness.schedule import lr_table
from robustness.tasks import get_task, make_task
from robustness.training import make_optimizer, make_step

INPUT_SHAPE = {"speech_lsnn": (98, 40), "ecg_lsnn": (100, 2), "cnn": (1, 28, 28)}


def build_case(arch: str, beta: float, n_seeds: int):
    config = get_task(arch).config_cls(beta_robustness=beta)
    task = make_task(config, n_in=INPUT_SHAPE[arch][-1])
    optimizer = make_optimizer(config, lr_table(config.learning_rate, config.n_epochs, 10_000, 100, True))
    step = make_step(task, config, optimizer)
    params = jax.tree_util.tree_map(
        lambda *xs: jnp.stack(xs), *[task.init(jax.random.PRNGKey(s)) for s in range(n_seeds)]
    )
    opt_state = jax.vmap(optimizer.init)(params)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n_seeds, 100, *INPUT_SHAPE[arch])).astype(np.float32)
    if arch == "cnn":
        x = np.abs(x)
    y = rng.integers(0, task.n_classes, size=(n_seeds, 100)).astype(np.int32)
    keys = jax.random.split(jax.random.PRNGKey(1), n_seeds)
    state = {"params": params, "opt": opt_state}

    def run():
        state["params"], state["opt"], loss = step(state["params"], state["opt"], x, y, keys)
        loss.block_until_ready()

    t0 = time.perf_counter()
    run()  # compile + first step
    return run, time.perf_counter() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 7")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--tasks", default="speech_lsnn,ecg_lsnn,cnn")
    args = parser.parse_args()
    rounds = 3 if args.quick else 7
    cases = {}
    for arch in args.tasks.split(","):
        for beta in (0.0, 1.0):
            for n in (1, args.seeds):
                cases[(arch, beta, n)], compile_s = build_case(arch, beta, n)
                print(f"compiled {arch} beta={beta} seeds={n} in {compile_s:.1f} s", flush=True)
    times = {k: [] for k in cases}
    for _ in range(rounds):
        for k, run in cases.items():
            t0 = time.perf_counter()
            run()
            times[k].append(time.perf_counter() - t0)
    print(
        f"\n{'task':<12} {'beta':>4} {'1 seed (s)':>11} {f'{args.seeds} seeds (s)':>13} {'per model':>10}  goal <= 0.5"
    )
    for arch in args.tasks.split(","):
        for beta in (0.0, 1.0):
            one = statistics.median(times[(arch, beta, 1)])
            many = statistics.median(times[(arch, beta, args.seeds)])
            print(f"{arch:<12} {beta:>4} {one:>11.3f} {many:>13.3f} {many / args.seeds / one:>10.2f}")


if __name__ == "__main__":
    main()
