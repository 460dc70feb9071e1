"""A *task* binds a config to its model: ``init(key)``, ``forward(params, x, dropout_mask)`` and the
keyword arguments of the shared loss and attack. The three scripts differ only here (and in the data)."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Callable

import jax

from robustness import cnn, lsnn
from robustness.configs import CnnConfig, LsnnConfig, TrainConfig

_LSNN_CONSTANTS = ("tau", "tau_adaptation", "thr", "beta", "refr", "dt", "dampening_factor")
_CNN_KERNELS = "[[64,1,4,4],[64,64,4,4]]"
_CNN_DENSE = "[[1600,256],[256,64],[64,10]]"


@dataclass(frozen=True)
class Task:
    config: TrainConfig
    init: Callable  # key -> params
    forward: Callable  # (params, x, dropout_mask=None) -> (logits, spikes)
    n_units: int  # width of the dropout mask (one mask per neuron per sequence)
    n_classes: int


def make_task(config: TrainConfig, n_in: int | None = None) -> Task:
    """Model functions for ``config``; ``n_in`` overrides the LSNN input width (default from the config)."""
    if isinstance(config, LsnnConfig):
        if config.n_layer != 1:
            raise ValueError(f"-n_layer={config.n_layer}: only one recurrent layer is supported (report)")
        if config.n_thr_spikes != -1 or config.in_repeat != 1:
            raise ValueError("-n_thr_spikes/-in_repeat encodings are not supported (report: -1 and 1)")
        width = n_in or config.fingerprint_width
        consts = {name: getattr(config, name) for name in _LSNN_CONSTANTS}
        return Task(
            config=config,
            init=functools.partial(
                _lsnn_init, n_in=width, n_hidden=config.n_hidden, n_out=config.label_count
            ),
            forward=functools.partial(lsnn.forward, **consts),
            n_units=config.n_hidden,
            n_classes=config.label_count,
        )
    if isinstance(config, CnnConfig):
        if _squash(config.Kernels) != _CNN_KERNELS or _squash(config.Dense) != _CNN_DENSE:
            raise ValueError(
                f"-Kernels/-Dense: only the report architecture {_CNN_KERNELS} / {_CNN_DENSE} is supported"
            )
        init = functools.partial(
            cnn.init_params,
            scalar_conv1_bias=config.scalar_conv1_bias,
            w3_reuses_w2_key=config.w3_reuses_w2_key,
        )
        return Task(config=config, init=init, forward=cnn.forward, n_units=1, n_classes=10)
    raise TypeError(f"no task for config type {type(config).__name__}")


def _squash(text: str) -> str:
    try:
        return json.dumps(json.loads(text), separators=(",", ":"))
    except json.JSONDecodeError:
        raise ValueError(f"malformed layer specification {text!r} (expected a JSON list of lists)") from None


def _lsnn_init(key, *, n_in, n_hidden, n_out):
    return lsnn.init_params(key, n_in, n_hidden, n_out)


def attack_kwargs(config: TrainConfig) -> dict:
    """The model's own attack settings (used in training and for the logged attacked accuracy)."""
    return dict(
        attack_size_mismatch=config.attack_size_mismatch,
        attack_size_constant=config.attack_size_constant,
        initial_std_mismatch=config.initial_std_mismatch,
        initial_std_constant=config.initial_std_constant,
        n_attack_steps=config.n_attack_steps,
        relative_step_uses_abs=config.relative_step_uses_abs,
        p_norm=config.p_norm,
    )


def loss_kwargs(config: TrainConfig) -> dict:
    """Keyword arguments of ``attack.training_loss`` beyond the attack settings."""
    return dict(
        beta_robustness=float(config.beta_robustness),
        treat_as_constant=config.treat_as_constant,
        boundary_loss=config.boundary_loss,
        kl_min_prob=config.kl_min_prob,
        reg=config.reg,
        **attack_kwargs(config),
    )


def dropout_mask(key, config: TrainConfig, n_units: int):
    """Report-era dropout: one (1, n_units) keep-mask U > p shared by the clean and attacked passes."""
    if config.dropout_prob <= 0.0:
        return None
    return (jax.random.uniform(key, (1, n_units)) > config.dropout_prob).astype("float32")
