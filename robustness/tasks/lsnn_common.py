"""What the speech and ECG tasks share: the LSNN flags (``LsnnConfig``) and the LSNN bound to a config."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from robustness import lsnn
from robustness.configs import TrainConfig, flag
from robustness.tasks.base import Model


@dataclass(frozen=True, kw_only=True)
class LsnnConfig(TrainConfig):
    """The adaptive LIF network of docs/original.md §2.1 (speech and ECG share it)."""

    n_hidden: int = flag(256, "number of recurrent ALIF neurons", ge=1)
    n_layer: int = flag(1, "number of recurrent layers (only 1 is supported, as in the report)", ge=1)
    dt: float = flag(1.0, "time step (ms)", gt=0.0)
    tau: float = flag(20.0, "membrane time constant (ms); α = exp(-dt/τ)", gt=0.0)
    tau_adaptation: float = flag(98.0, "adaptation time constant (ms); ρ = exp(-dt/τ_a)", gt=0.0)
    # beta is the neurons' adaptation strength, not β = beta_robustness of the robust loss
    beta: float = flag(2.0, "adaptation strength: threshold A = thr + beta·b", ge=0.0)
    thr: float = flag(0.01, "baseline firing threshold", gt=0.0)
    thr_min: float = flag(0.005, "unused in the report (kept for flag compatibility)", ge=0.0)
    refr: int = flag(2, "refractory counter added per spike (2 → one blocked step)", ge=0)
    dampening_factor: float = flag(0.3, "surrogate-gradient scale 0.3·max(0, 1-|u|)", ge=0.0)
    in_repeat: int = flag(1, "input frame repetitions (report: 1)", ge=1)
    n_thr_spikes: int = flag(-1, "threshold-crossing input encoding (-1 = off, report)", ge=-1)


def lsnn_constants(config: LsnnConfig) -> dict:
    """The neuron constants ``lsnn.forward`` takes, from the config."""
    return {name: getattr(config, name) for name in lsnn.LsnnConstants._fields}


def lsnn_model(config: LsnnConfig, n_in: int | None = None) -> Model:
    """The LSNN of ``config``; ``n_in`` overrides the input width (default: the config's fingerprint width)."""
    if config.n_layer != 1:
        raise ValueError(f"-n_layer={config.n_layer}: only one recurrent layer is supported (report)")
    if config.n_thr_spikes != -1 or config.in_repeat != 1:
        raise ValueError("-n_thr_spikes/-in_repeat encodings are not supported (report: -1 and 1)")
    width = n_in or config.fingerprint_width
    return Model(
        config=config,
        init=functools.partial(_init, n_in=width, n_hidden=config.n_hidden, n_out=config.label_count),
        forward=functools.partial(lsnn.forward, **lsnn_constants(config)),
        n_units=config.n_hidden,
        n_classes=config.label_count,
    )


def _init(key, *, n_in, n_hidden, n_out):
    return lsnn.init_params(key, n_in, n_hidden, n_out)
