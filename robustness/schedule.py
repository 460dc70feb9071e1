"""Piecewise learning-rate schedule ``learning_rate="a,b"`` / ``n_epochs="e1,e2"`` (docs/original.md §4).

steps_i = ceil(e_i · N_train / batch_size). The report-era ``get_lr_schedule`` turned its ``iteration``
array into a cumulative sum *in place*, and the main loop then ran ``sum(iteration)`` iterations, i.e.
steps_1 + (steps_1 + steps_2). Its lr table was built for t = 1, 2, … (shifted by one step) and JAX clamps
out-of-range indices, so the effective schedule is: lr_1 for the first steps_1 − 1 iterations, then lr_2
until the end (quirk 3, ``lr_schedule_quirk=True``). The fixed schedule runs steps_1 at lr_1, then steps_2
at lr_2, …
"""

from __future__ import annotations

import math

import numpy as np


def phase_steps(n_epochs, n_train: int, batch_size: int) -> list[int]:
    """Iterations per phase: ceil(e · N_train / batch_size) for each entry of ``n_epochs``."""
    if n_train <= 0 or batch_size <= 0:
        raise ValueError(f"n_train ({n_train}) and batch_size ({batch_size}) must be positive")
    return [math.ceil(e * n_train / batch_size) for e in n_epochs]


def lr_table(learning_rate, n_epochs, n_train: int, batch_size: int, quirk: bool) -> np.ndarray:
    """The learning rate of every training iteration (its length is the number of iterations)."""
    lrs = [float(v) for v in learning_rate]
    if len(lrs) != len(n_epochs):
        raise ValueError(
            f"-learning_rate and -n_epochs must have the same length, got {len(lrs)} and {len(n_epochs)}"
        )
    steps = phase_steps(n_epochs, n_train, batch_size)
    if not quirk:
        return np.concatenate([np.full(s, lr, np.float64) for s, lr in zip(steps, lrs)])
    bounds = np.cumsum(steps)  # the in-place cumsum of the original
    total = int(np.sum(bounds))  # the loop ran sum(iteration) over the *mutated* array
    # lr_sched[idx] = lr of t = idx + 1 for idx < sum(steps) - 1; later indices clamp to the last entry.
    t = np.minimum(np.arange(total) + 1, max(int(sum(steps)) - 1, 0))
    phase = np.searchsorted(bounds, t, side="right")
    return np.asarray(lrs, np.float64)[np.minimum(phase, len(lrs) - 1)]


def lr_table_of(config, n_train: int) -> np.ndarray:
    """``lr_table`` of a config's ``-learning_rate``, ``-n_epochs``, ``-batch_size`` and ``-lr_schedule_quirk``."""
    return lr_table(
        config.learning_rate, config.n_epochs, n_train, config.batch_size, config.lr_schedule_quirk
    )


def total_steps(config, n_train: int) -> int:
    """Number of training iterations of ``config`` (after the optional ``max_steps`` cap)."""
    n = len(lr_table_of(config, n_train))
    return min(n, config.max_steps) if config.max_steps > 0 else n
