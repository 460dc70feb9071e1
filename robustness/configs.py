"""The flags every task shares (``TrainConfig``), the one flag parser and the conversions between configs,
flag dicts and command lines. Every default of the report lives in exactly one config field.

Each task's own flags are a subclass in its task module (``robustness.tasks.speech.SpeechConfig``,
``...ecg.EcgConfig``, ``...fashion_mnist.CnnConfig``; the LSNN ones in ``...lsnn_common.LsnnConfig``). Field
names are the original flag names (``architectures.py`` of jubueche/BPTT-Lipschitzness), so ``python
main_speech_lsnn.py -beta_robustness=0.0`` and datajuicer grids keep working. Each field's one-line doc is its
``--help`` text. Quirk switches default to the report's behaviour unless the original leaked test data or
corrupted a measurement (README, "Deviations"). The valid values of a choice flag come from the code that
implements them (``losses.BOUNDARY_LOSSES``, ``attack.P_NORMS``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import typing
from dataclasses import dataclass, field
from typing import ClassVar

from robustness.attack import P_NORMS
from robustness.losses import BOUNDARY_LOSSES
from robustness.paths import REPO_ROOT

OPTIMIZERS = ("adam", "sgd", "esgd", "abcd")  # esgd, abcd: robustness.methods (ICLR era)
MODEL_SELECTIONS = ("validation", "mismatch")
VALIDATION_BATCH_DOC = (
    "validation batch size (report: 100 speech, 200 ECG and CNN; the CNN uses batch statistics)"
)


def flag(
    default, doc, choices=None, *, ge=None, gt=None, le=None, lt=None, allow_inf=False, some_positive=False
):
    """A config field: its default (the one place it is written), help text and allowed values.

    Numeric fields declare their valid range (``ge``/``gt``/``le``/``lt``; a tuple field's elements each);
    non-finite values are refused unless ``allow_inf`` (NaN never passes); ``some_positive``: a tuple field
    needs one element > 0. ``parse_value`` checks all of it (README "Reliability")."""
    meta = {"doc": doc}
    if choices is not None:
        meta["choices"] = tuple(choices)
    bounds = {k: v for k, v in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt)) if v is not None}
    if bounds:
        meta["range"] = bounds
    if allow_inf:
        meta["allow_inf"] = True
    if some_positive:
        meta["some_positive"] = True
    return field(default=default, metadata=meta)


def redefault(cls, name: str, default, doc: str | None = None):
    """Field ``name`` of ``cls`` (its range, choices and doc) with another default, for a task's config."""
    meta = dict(fields_of(cls)[name].metadata)
    meta["doc"] = doc or meta["doc"]
    return field(default=default, metadata=meta)


_RANGE_WORDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def range_text(meta) -> str:
    """``'>= 1 (finite)'``, ``'>= 0 and < 1 (finite)'``: the valid values of a numeric field."""
    parts = [f"{_RANGE_WORDS[k]} {v}" for k, v in meta.get("range", {}).items()]
    return " and ".join(parts or ["any number"]) + ("" if meta.get("allow_inf") else " (finite)")


def check_range(meta, name: str, value) -> None:
    """ConfigError naming ``-name`` and its range when ``value`` (each element of a tuple) is outside it."""
    items = value if isinstance(value, tuple) else (value,)
    bounds = meta.get("range", {})
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            continue
        ok = (math.isfinite(item) or (meta.get("allow_inf") and not math.isnan(item))) and all(
            _holds(op, item, bound) for op, bound in bounds.items()
        )
        if not ok:
            each = "each value " if isinstance(value, tuple) else ""
            raise ConfigError(f"bad value {item!r} for -{name}: {each}must be {range_text(meta)}")
    if meta.get("some_positive") and not any(v > 0 for v in items):
        raise ConfigError(f"bad value {value!r} for -{name}: at least one value must be > 0")


def _holds(op: str, x, bound) -> bool:
    return {"ge": x >= bound, "gt": x > bound, "le": x <= bound, "lt": x < bound}[op]


def field_default(cls, name: str):
    """The default of field ``name`` of config class ``cls``."""
    return fields_of(cls)[name].default


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Robust-training, optimiser and bookkeeping flags shared by the three tasks (docs/original.md §1.3,
    §4)."""

    # --- the robust objective and its attack (docs/original.md §1.1-1.2) ---
    # beta_robustness is the report's β; the LSNN's `beta` (adaptation strength) is unrelated.
    beta_robustness: float = flag(
        1.0, "β: weight of the KL(f_θ ‖ f_θ*) robustness term (0 = standard training)", ge=0.0
    )
    n_attack_steps: int = flag(10, "N: sign-gradient ascent steps of the θ* attack", ge=1)
    attack_size_mismatch: float = flag(2.0, "ζ_rel: relative attack box size, step ζ·θ/N per element", ge=0.0)
    attack_size_constant: float = flag(
        0.0, "ζ_const: constant attack box size, step ζ_const/N per element", ge=0.0
    )
    initial_std_mismatch: float = flag(
        0.001, "σ_rel: std of the relative Gaussian initialisation of θ*", ge=0.0
    )
    initial_std_constant: float = flag(
        0.0, "σ_const: std of the additive Gaussian initialisation of θ*", ge=0.0
    )
    boundary_loss: str = flag(
        "kl", "distance between clean and attacked outputs in training", BOUNDARY_LOSSES
    )
    treat_as_constant: bool = flag(
        False, "True: θ* is a constant in the gradient (report: False, gradient flows)"
    )
    relative_step_uses_abs: bool = flag(
        False, "quirk 1: True uses the later ζ·|θ|/N step; report: signed ζ·θ/N"
    )
    p_norm: str = flag("inf", "attack step direction: inf = sign(g) (report), 2 = g/‖g‖₂", P_NORMS)
    kl_min_prob: float = flag(
        0.0, "quirk 2: floor on attacked probabilities in the KL (report: 0, no clipping)", ge=0.0, lt=1.0
    )
    dropout_prob: float = flag(
        0.0, "dropout probability (one mask per neuron per sequence); report: 0", ge=0.0, lt=1.0
    )
    # --- ICLR-era comparison methods (robustness.methods, docs/methods.md); 0/False = standard training ---
    noisy_forward_std: float = flag(
        0.0,
        "η: forward-noise injection, every training forward pass uses θ + stop_grad(|θ|·η·N(0,1))",
        ge=0.0,
    )
    awp: bool = flag(
        False,
        "AWP: gradient at θ + γ(θ* − θ), θ* = the relative-box attack ascending CE (boundary loss madry)",
    )
    awp_gamma: float = flag(
        0.1, "γ of -awp=True: θ_AWP = θ + γ(θ* − θ) (0 = standard training)", ge=0.0, le=1.0
    )
    awp_perturb_input: bool = flag(
        False, "-awp=True: first an ℓ∞ input PGA of radius -eps_pga (3 iterations, uniform start)"
    )
    eps_pga: float = flag(0.0, "ℓ∞ radius of the AWP input PGA (-awp_perturb_input=True)", ge=0.0)
    amp_epsilon: float = flag(
        0.0, "AMP: gradient at θ + ε·g/‖g‖₂ (g = ∇L(θ), global ℓ2 norm), applied to θ (0 = standard)", ge=0.0
    )
    abcd_L: int = flag(
        2, "-optimizer=abcd: inner loops (ascent on a random mask, Adam on its complement)", ge=1
    )
    abcd_etaA: float = flag(0.1, "-optimizer=abcd: η_A, ascent step w + η_A·M_a⊙∇L(w)", ge=0.0)
    reg: float = flag(
        0.001, "firing-rate regulariser weight (summed over batch × neurons, target 10 Hz)", ge=0.0
    )
    # --- optimisation (docs/original.md §4) ---
    learning_rate: tuple[float, ...] = flag((0.001, 0.0001), "piecewise learning rates 'a,b'", gt=0.0)
    n_epochs: tuple[int, ...] = flag(
        (32, 8), "epochs per learning-rate phase 'e1,e2'", ge=0, some_positive=True
    )
    lr_schedule_quirk: bool = flag(True, "quirk 3: report's in-place cumsum schedule (e1 @a, then e1+e2 @b)")
    max_steps: int = flag(0, "cap on the total number of training iterations (0 = no cap)", ge=0)
    pretrain_steps: int = flag(
        0,
        "warm start: the first P iterations train with β = 0, the rest with β (report: 0, β from the start)",
        ge=0,
    )
    init_from: int = flag(
        0,
        "warm start: θ from the model file of this session id (same task and shapes), a fresh optimiser, "
        "iterations numbered on from the parent's (0 = random initialisation, the report's)",
        ge=0,
        le=9_999_999_999,
    )
    init_froms: tuple[int, ...] = flag(
        (), "one -init_from per vmapped seed (train.py sets it for seed groups)", ge=0, le=9_999_999_999
    )
    batch_size: int = flag(100, "training batch size", ge=1)
    optimizer: str = flag(
        "adam",
        "optimiser: adam, sgd, esgd = Entropy-SGD (L = 10 Langevin steps), abcd = ABCD (docs/methods.md)",
        OPTIMIZERS,
    )
    seed: int = flag(0, "seed of initialisation, data order, dropout and attack noise", ge=0)
    vmap_seeds: tuple[int, ...] = flag(
        (), "train these seeds at once with jax.vmap (one artefact pair per seed)", ge=0
    )
    eval_step_interval: int = flag(200, "iterations between validation passes (best model is kept)", ge=1)
    log_interval: int = flag(
        10, "iterations between training-batch logs (accuracy, attacked accuracy, KL)", ge=1
    )
    validation_limit: int = flag(0, "cap on validation examples per evaluation (0 = the whole split)", ge=0)
    validation_batch_size: int = flag(100, VALIDATION_BATCH_DOC, ge=1)
    model_selection: str = flag(
        "validation",
        "which checkpoint is kept: validation = best validation accuracy (report); mismatch = best mean "
        "validation accuracy under mismatch θ(1+σN), every 2 × eval_step_interval (a later ECG main's rule)",
        MODEL_SELECTIONS,
    )
    model_selection_sigma: float = flag(0.3, "σ of -model_selection=mismatch (later ECG main: 0.3)", gt=0.0)
    model_selection_draws: int = flag(
        100, "mismatch draws per -model_selection=mismatch evaluation (later ECG main: 100)", ge=1
    )
    final_validation: bool = flag(
        True,
        "deviation 13: validate once more after the last iteration (report: False, only every eval_step_interval)",
    )
    checkpoint_seconds: float = flag(
        60.0, "min seconds between resume checkpoints (0 = at every log)", ge=0.0
    )
    # --- bookkeeping ---
    session_id: int = flag(
        0, "10-digit id naming the artefacts (0 = draw one at random)", ge=0, le=9_999_999_999
    )
    session_ids: tuple[int, ...] = flag(
        (), "one session id per vmapped seed (default: drawn at random)", ge=0, le=9_999_999_999
    )
    resources_dir: str = flag("Resources", "where Models/ and TrainingResults/ are written")
    data_dir: str = flag("", "dataset directory")

    ARCHITECTURE: ClassVar[str | None] = None  # set by each task's config: its datajuicer table name

    @property
    def architecture(self) -> str:
        """The task's architecture name (``speech_lsnn``, ``ecg_lsnn``, ``cnn``); stored in model files."""
        if self.ARCHITECTURE is None:
            raise TypeError(f"{type(self).__name__} belongs to no task (use a task's config class)")
        return self.ARCHITECTURE


P_VALUES = ("two-sided", "legacy")  # stats.mann_whitney's p_value and p_legacy
PANELS = ("real", "simulated")


@dataclass(frozen=True, kw_only=True)
class FigureConfig:
    """How ``make_figures.py`` draws (its flags ``-dpi``, ``-p_value``, ``-panels``; README "Deviations" 15,
    16). Drawing only: the trained models and the cached evaluations do not depend on these."""

    dpi: int = flag(
        300, "resolution of the figure files in dots per inch (the original saved at 1200)", ge=10, le=2400
    )
    p_value: str = flag(
        "two-sided",
        "deviation 16: p-value column of the tables: two-sided Mann-Whitney U, or legacy = the one-sided "
        "value of SciPy < 1.7's default that the original printed",
        P_VALUES,
    )
    panels: str = flag(
        "real",
        "deviation 15: figure_main's top panels: real predictions under one mismatch draw, or simulated = "
        "the original's random label flips and frames",
        PANELS,
    )


def resolve_resources_dir(config: TrainConfig) -> str:
    """``config.resources_dir``; the default ``Resources`` means ``<repo>/Resources`` whatever the cwd."""
    default = field_default(TrainConfig, "resources_dir")
    if config.resources_dir == default:
        return str(REPO_ROOT / default)
    return os.path.expandvars(config.resources_dir)


def attack_kwargs(config: TrainConfig) -> dict:
    """The model's own attack settings (``attack.evaluation_attack``: the logged and evaluated attack)."""
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
    """Every keyword argument of ``attack.training_loss`` besides the key and the dropout mask."""
    return dict(
        beta_robustness=float(config.beta_robustness),
        treat_as_constant=config.treat_as_constant,
        boundary_loss=config.boundary_loss,
        kl_min_prob=config.kl_min_prob,
        reg=config.reg,
        **attack_kwargs(config),
    )


# ------------------------------------------------------------------------------------------------
# Conversions between configs, flag dicts and the -key=value command line
# ------------------------------------------------------------------------------------------------


class ConfigError(ValueError):
    """A flag name or value that the config does not accept; the message names the flag."""


def fields_of(cls) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def _base_type(cls, name):
    hints = typing.get_type_hints(cls)
    return hints[name]


def control_characters(text) -> list[str]:
    """The control characters (C0, DEL, C1) in ``text``, as escapes (``['\\n']``); [] for non-strings."""
    if not isinstance(text, str):
        return []
    return sorted({repr(c)[1:-1] for c in text if ord(c) < 32 or 127 <= ord(c) < 160})


def check_text(name: str, raw) -> None:
    """ConfigError naming ``-name`` when ``raw`` holds a control character: a newline in a value would end
    a line of a dry-run script (a shell injection) and no flag of this package needs one."""
    for item in raw if isinstance(raw, (list, tuple)) else [raw]:
        if bad := control_characters(item):
            raise ConfigError(
                f"bad value {item!r} for -{name}: control characters {' '.join(bad)} are refused"
            )


def parse_value(cls, name: str, raw) -> typing.Any:
    """Convert ``raw`` (usually a command-line string) to the declared type of field ``name``."""
    flds = fields_of(cls)
    if name not in flds:
        raise ConfigError(f"unknown flag -{name}; valid flags: {', '.join(sorted(flds))}")
    check_text(name, raw)
    typ = _base_type(cls, name)
    try:
        value = _convert(typ, raw)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"bad value {raw!r} for -{name} (expected {_type_name(typ)}): {err}") from None
    choices = flds[name].metadata.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"bad value {raw!r} for -{name}; valid choices: {', '.join(choices)}")
    check_range(flds[name].metadata, name, value)
    return value


def _type_name(typ) -> str:
    if typing.get_origin(typ) is tuple:
        return f"comma-separated {typing.get_args(typ)[0].__name__}s"
    return getattr(typ, "__name__", str(typ))


def _convert(typ, raw):
    if typing.get_origin(typ) is tuple:
        (item,) = typing.get_args(typ)[:1]
        if isinstance(raw, (list, tuple)):
            return tuple(_convert(item, r) for r in raw)
        text = str(raw).strip().strip("[]()")
        return tuple(_convert(item, part) for part in text.split(",") if part.strip())
    if typ is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise ValueError("booleans are True/False/1/0")
    if typ is int:
        if isinstance(raw, bool):
            raise ValueError("not an integer")
        if isinstance(raw, float):
            if not raw.is_integer():
                raise ValueError("not an integer")
            return int(raw)
        return int(str(raw).strip())
    if typ is float:
        return float(raw)
    if typ is str:
        return str(raw)
    raise TypeError(f"unsupported field type {typ}")


def make_config(cls, overrides: dict | None = None):
    """Build ``cls`` from ``overrides`` (raw values are converted and validated)."""
    values = {name: parse_value(cls, name, raw) for name, raw in (overrides or {}).items()}
    return cls(**values)


def to_flags(config) -> dict:
    """All fields as a JSON-able dict (tuples become 'a,b' strings, the original flag format)."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        out[f.name] = ",".join(str(v) for v in value) if isinstance(value, tuple) else value
    return out


def derived_fields(config) -> dict:
    """Derived quantities stored next to the flags in the model JSON (never written back)."""
    names = [n for n, v in vars(type(config)).items() if isinstance(v, property)]
    for base in type(config).__mro__[1:]:
        names += [n for n, v in vars(base).items() if isinstance(v, property)]
    return {n: getattr(config, n) for n in sorted(set(names))}


def from_flags(cls, flags: dict):
    """Rebuild a ``cls`` config from a model JSON's ``params`` (unknown/derived keys are ignored)."""
    known = fields_of(cls)
    return make_config(cls, {k: v for k, v in flags.items() if k in known})


def help_text(cls, prog: str) -> str:
    lines = [f"usage: python {prog} [-flag=value ...]   (also --flag=value)", "", "flags:"]
    for f in dataclasses.fields(cls):
        default = to_flags(cls())[f.name]
        choices = f.metadata.get("choices")
        extra = f" {{{', '.join(choices)}}}" if choices else ""
        lines.append(f"  -{f.name}={default!s}{extra}\n      {f.metadata.get('doc', '')}")
    return "\n".join(lines)


def parse_flags(argv: list[str], is_bool) -> dict[str, str]:
    """The one ``-key=value`` parser (the scripts' flags, ``train.py``'s overrides): ``-key=value``,
    ``--key=value`` or a bare ``-key`` (True, when ``is_bool(key)``: argparse's store_true of the original)
    → ``{key: raw value}``. Names and values are checked by the caller (``parse_value``); a malformed
    argument raises ConfigError."""
    out = {}
    for arg in argv:
        if not arg.startswith("-") or arg.strip("-") == "":
            raise ConfigError(f"unexpected argument {arg!r}; flags look like -key=value")
        key, sep, value = arg.lstrip("-").partition("=")
        if control_characters(key):
            raise ConfigError(f"bad flag name {key!r}: control characters are refused")
        if not sep:
            if not is_bool(key):
                raise ConfigError(f"-{key} needs a value: -{key}=VALUE")
            value = "True"
        if key in out:
            raise ConfigError(f"-{key} is given twice ({out[key]!r} and {value!r}); give it once")
        out[key] = value
    return out


def parse_cli(cls, argv: list[str], prog: str = "main.py"):
    """Parse ``-key=value`` / ``--key=value`` arguments into ``cls``.

    ``--help``/``-h`` prints every flag with its default and meaning and exits 0; an unknown flag or a bad
    value prints a message naming the flag (and the valid choices) and exits 2.
    """
    if any(arg in ("-h", "--help", "-help") for arg in argv):
        print(help_text(cls, prog))
        raise SystemExit(0)
    try:
        return make_config(
            cls, parse_flags(argv, lambda key: key in fields_of(cls) and _base_type(cls, key) is bool)
        )
    except ConfigError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
