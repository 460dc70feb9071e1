"""One entry per trainable architecture, for ``train.py`` and the Experiments (spec datajuicer.md §4.5-4.7).

``speech_lsnn``, ``ecg_lsnn`` and ``cnn`` (the original class names) each bundle:

* ``config_cls`` — the typed config in ``robustness/configs.py``, the single source of every default;
* ``code_file`` — the entry script (relative to the repository root);
* ``default_hyperparameters()`` — ``to_flags(config_cls())`` minus the fields in ``NOT_DEPENDENCIES``. These
  keys are the cache dependencies (the ``<arch>`` table of ``Sessions/sessions.db``): every training
  hyperparameter, quirk switches and ``max_steps``/``eval_step_interval``/``validation_limit``/
  ``log_interval`` included, because they change the trained model or its results log;
* ``make()`` — one grid element: the defaults plus ``architecture``, ``code_file`` and ``train``;
* ``train`` — the cachable runner. It launches nothing: it records ``(session id, element)`` as pending in
  the surrounding :func:`collect_pending` block; ``train.py`` launches the pending models afterwards;
* ``checker(sid, table, cache_dir)`` — done only when the results log says ``done`` and the model file
  parses (``artifacts.results_complete``), so a failed or killed job is simply launched again;
* ``loader(sid, table, cache_dir)`` — the results log plus ``session_id`` and ``<arch>_session_id`` (never
  the weights: use ``robustness.artifacts.load_model`` for those).

Values keep one canonical form everywhere (grid, cache key, argv): the ``to_flags`` form — config types,
tuples as ``'a,b'`` strings (``"0.001,0.0001"``, the original's database format). :func:`normalize` converts
any accepted spelling (``(1, 1)``, ``"1, 1"``, ``1`` for a float) to it, because datajuicer keys are
type-strict and ``1``/``"1"``/``1.0`` would be three different models.

Where models live: ``current_resources_dir()`` (default ``<repo>/Resources``) and ``current_cache_dir()``
(the sessions database, default ``<repo>/Sessions``), both changed for a block with :func:`using_dirs`. The
checker has no other way to learn the resources directory (datajuicer passes it ``(sid, table, cache_dir)``
only); tests of Experiments can use it to point ``load_models`` at temporary directories.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import datajuicer as dj
from robustness import artifacts, files, paths
from robustness.configs import field_default, fields_of, make_config, to_flags
from robustness.tasks import TASKS

VERSION = "1"  # cache-key salt of the train tables: bump when a change makes old models invalid
RESERVED = ("session_id", "session_ids", "vmap_seeds", "resources_dir")  # set by train.py per launch
ENVIRONMENT = ("data_dir", "data_url", "checkpoint_seconds")  # passed to the script; never change the model
NOT_DEPENDENCIES = RESERVED + ENVIRONMENT

_state = {"resources_dir": None, "cache_dir": None, "pending": None}
_lock = threading.Lock()


def current_resources_dir() -> Path:
    """Where the checker and loader look for ``Models/`` and ``TrainingResults/``."""
    return Path(_state["resources_dir"] or paths.RESOURCES)


def current_cache_dir() -> Path:
    """The datajuicer sessions directory ``load_models`` reads by default."""
    return Path(_state["cache_dir"] or paths.SESSIONS)


@contextlib.contextmanager
def using_dirs(*, resources_dir=None, cache_dir=None):
    """Within the block, checkers, loaders and ``load_models`` use these directories (None: unchanged)."""
    old = dict(_state)
    _state.update({k: v for k, v in (("resources_dir", resources_dir), ("cache_dir", cache_dir)) if v})
    try:
        yield
    finally:
        _state.update(resources_dir=old["resources_dir"], cache_dir=old["cache_dir"])


@contextlib.contextmanager
def collect_pending():
    """Collect the models the train runners are asked to compute: a list of ``{"session_id", "model",
    "reused", "previous_status"}`` (``model`` is the grid element; ``reused``: same id as an earlier try)."""
    old, _state["pending"] = _state["pending"], []
    try:
        yield _state["pending"]
    finally:
        _state["pending"] = old


class Architecture:
    """Base of the entries; each is made from one task of ``robustness.tasks`` (see ``_architecture``)."""

    task = None  # the robustness.tasks.Task
    config_cls: type
    code_file: str
    train = None  # the cachable runner, set by _register

    @classmethod
    def default_hyperparameters(cls) -> dict:
        """The cache dependencies with their default values, in config field order."""
        return {k: v for k, v in to_flags(cls.config_cls()).items() if k not in NOT_DEPENDENCIES}

    @classmethod
    def make(cls) -> dict:
        """One grid element with the report's defaults."""
        extra = {"architecture": cls.__name__, "code_file": cls.code_file, "train": cls.train}
        return {**cls.default_hyperparameters(), **extra}

    @staticmethod
    def checker(sid, table, cache_dir) -> bool:
        """Done = results log complete (``done`` + training accuracy) and a parsable model file."""
        return artifacts.results_complete(current_resources_dir(), sid)

    @staticmethod
    def loader(sid, table, cache_dir) -> dict:
        """The training results log plus ``session_id`` and ``<table>_session_id`` (no weights)."""
        log = files.read_json(artifacts.results_path(current_resources_dir(), sid), what="training results")
        return {**log, "session_id": sid, f"{table}_session_id": sid}


def _architecture(task) -> type[Architecture]:
    """The entry of ``task``: a class named after its architecture (the original's lower-case class names
    ``speech_lsnn``, ``ecg_lsnn``, ``cnn``, which are also the database table names)."""
    body = {"task": task, "config_cls": task.config_cls, "code_file": task.code_file, "__module__": __name__}
    return type(task.architecture, (Architecture,), body)


ARCHITECTURES = {name: _architecture(task) for name, task in TASKS.items()}
globals().update(ARCHITECTURES)  # architectures.speech_lsnn, .ecg_lsnn, .cnn, as in the original


def _register(arch: type[Architecture]) -> None:
    """Build ``arch.train``: a cachable runner whose table is the architecture's name."""
    deps = [f"model:{k}" for k in arch.default_hyperparameters()]

    @dj.cachable(deps, None, arch.loader, arch.checker, table_name=arch.__name__, version=VERSION)
    def train(model):
        """Record ``model`` and its session id as pending (``train.py`` launches it); returns None."""
        info = dj.current_session()
        pending = _state["pending"]
        if pending is None:
            raise RuntimeError(
                f"{arch.__name__}.train only records models to launch; train them with `python train.py` "
                "(or call it inside architectures.collect_pending())"
            )
        entry = {"session_id": info.session_id, "model": dict(model)}
        entry.update(reused=info.reused, previous_status=info.previous_status)
        with _lock:
            pending.append(entry)

    train.__qualname__ = f"{arch.__name__}.train"  # make_unique compares callables by qualified name
    arch.train = staticmethod(train)


for _arch in ARCHITECTURES.values():
    _register(_arch)


def architecture_of(element: dict) -> type[Architecture]:
    name = element.get("architecture")
    if name not in ARCHITECTURES:
        raise ValueError(f"grid element has architecture {name!r}; expected one of {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[name]


def normalize(element: dict) -> dict:
    """A copy of ``element`` with every config field in canonical form (validated; errors name the flag).

    Missing hyperparameters are filled with the defaults; ``train``/``code_file`` are (re)set from the
    architecture; keys that are not config fields (labels such as ``method``) are kept unchanged.
    """
    arch = architecture_of(element)
    known = fields_of(arch.config_cls)
    for name in RESERVED:
        if name in element:
            raise ValueError(f"grid element sets -{name}, which train.py assigns itself; remove it")
    given = {k: v for k, v in element.items() if k in known}
    canonical = to_flags(make_config(arch.config_cls, given))
    out = {**arch.default_hyperparameters(), **element}
    out.update({k: canonical[k] for k in given})
    out.update(architecture=arch.__name__, code_file=arch.code_file, train=arch.train)
    return out


def model_of(element: dict) -> dict:
    """Only what defines and launches the model: hyperparameters, environment flags present, bookkeeping."""
    arch = architecture_of(element)
    keys = [*arch.default_hyperparameters(), *(k for k in ENVIRONMENT if k in element)]
    extra = {"architecture": arch.__name__, "code_file": arch.code_file, "train": arch.train}
    return {**{k: element[k] for k in keys}, **extra}


def command_flags(models: list[dict], session_ids: list[int], mode: str, resources_dir=None) -> dict:
    """The ``-key=value`` flags of one training process, in the original order: hyperparameters, environment
    flags, ``data_dir``, (``resources_dir``,) ``session_id`` — or, for several models that differ only in
    ``seed``, ``vmap_seeds`` + ``session_ids`` in place of ``seed`` + ``session_id``.

    ``data_dir``: the element's own if it has one; else nothing in direct mode (the script resolves it) and
    for bsub/sbatch ``$SCRATCH/<dataset>`` when ``$SCRATCH`` is set (the original), else the local default.
    """
    model, arch = models[0], architecture_of(models[0])
    flags = {k: model[k] for k in arch.default_hyperparameters()}
    flags.update({k: model[k] for k in ENVIRONMENT if k in model and k != "data_dir"})
    if "data_dir" in model:
        flags["data_dir"] = model["data_dir"]
    elif mode != "direct":
        dataset = Path(field_default(arch.config_cls, "data_dir")).name  # speech_dataset, mitdb, ...
        scratch = os.environ.get("SCRATCH")
        flags["data_dir"] = f"$SCRATCH/{dataset}" if scratch else arch.task.default_data_dir()
    if resources_dir is not None:
        flags["resources_dir"] = str(resources_dir)
    if len(models) == 1:
        flags["session_id"] = session_ids[0]
    else:
        del flags["seed"]
        flags["vmap_seeds"] = ",".join(str(m["seed"]) for m in models)
        flags["session_ids"] = ",".join(map(str, session_ids))
    return flags


class MissingModelsError(LookupError):
    """``load_models`` found models that are not trained (yet); the message says how to train them."""


def describe(model: dict) -> str:
    """``ecg_lsnn seed=1 beta_robustness=0.0 ...``: the architecture and the non-default hyperparameters."""
    arch = architecture_of(model)
    defaults = arch.default_hyperparameters()
    diff = [f"{k}={model[k]}" for k in defaults if k in model and model[k] != defaults[k] and k != "seed"]
    return " ".join([arch.__name__, f"seed={model.get('seed', defaults['seed'])}", *diff])


def load_models(grid, *, experiment=None, profile="full", cache_dir=None, resources_dir=None) -> list[dict]:
    """Every element of ``grid`` with its training results merged in (``run_mode="load"``, ``store_key="*"``).

    Raises MissingModelsError listing each untrained model and the ``python train.py ...`` command that
    trains it (``experiment``/``profile`` name the Experiment that needs them). Read-only: writes nothing.
    """
    grid = [normalize(e) for e in ([grid] if isinstance(grid, dict) else grid)]
    with using_dirs(resources_dir=resources_dir, cache_dir=cache_dir):
        res, cache = current_resources_dir(), str(current_cache_dir())
        result = dj.run(grid, "train", run_mode="load_any", store_key="*", cache_dir=cache)("{*}")
    missing = [e for e, outcome in zip(grid, result.outcomes) if outcome == "missing"]
    if missing:
        command = ["python", "train.py"] + (["-exp", experiment] if experiment else [])
        command += [f"-profile={profile}"] if profile != "full" else []
        command += [f"-cache_dir={cache}"] if Path(cache) != paths.SESSIONS else []
        command += [f"-resources_dir={res}"] if res != paths.RESOURCES else []
        lines = "\n".join(f"  {describe(e)}" for e in missing[:20])
        more = f"\n  ... and {len(missing) - 20} more" if len(missing) > 20 else ""
        raise MissingModelsError(
            f"{len(missing)} of {len(grid)} models are not trained (or not finished) in {cache} / {res}:\n"
            f"{lines}{more}\ntrain them with: {' '.join(command)}"
        )
    return list(result)
