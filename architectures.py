"""One entry per trainable architecture, for ``train.py`` and the Experiments (docs/original.md §4,
"Experiment manager").

``speech_lsnn``, ``ecg_lsnn`` and ``cnn`` (the original class names, made from the tasks of
``robustness.tasks``) each bundle:

* ``task``, ``config_cls`` and ``code_file`` — the task, its typed config (the single source of every
  default) and its entry script (relative to the repository root);
* ``default_hyperparameters()`` — ``to_flags(config_cls())`` minus the fields in ``NOT_DEPENDENCIES``. These
  keys are the cache dependencies (the ``<arch>`` table of ``Sessions/sessions.db``): every training
  hyperparameter, quirk switches and ``max_steps``/``eval_step_interval``/``validation_limit``/
  ``log_interval`` included, because they change the trained model or its results log;
* ``make()`` — one grid element: the defaults plus ``architecture``, ``code_file`` and ``train``.

``train`` is the datajuicer runner of the element (``dj.run(models, "train")``, the original API). It
launches nothing: :func:`runner` binds it to a resources directory, whose results logs and model files
tell whether a model is done, and to a ``record`` callback that receives the models still to train;
``train.py`` launches those afterwards (:func:`plan`). A model is done only when its results log says
``done`` and its model file parses (``artifacts.results_complete``), so a failed or killed job is simply
launched again; a results log written by the original code (no ``done``) is accepted by the original's
checker (speech: any training accuracy; ECG: more than 50 entries; CNN: at least 50). Loading
(:func:`load_models`) returns the results log plus ``session_id`` and ``<arch>_session_id`` (never the
weights: use ``robustness.artifacts.load_model`` for those).

Values keep one canonical form everywhere (grid, cache key, argv): the ``to_flags`` form — config types,
tuples as ``'a,b'`` strings (``"0.001,0.0001"``, the original's database format). :func:`normalize` converts
any accepted spelling (``(1, 1)``, ``"1, 1"``, ``1`` for a float) to it, because datajuicer keys are
type-strict and ``1``/``"1"``/``1.0`` would be three different models.
"""

from __future__ import annotations

import inspect
import json
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import datajuicer as dj
from robustness import artifacts, files, paths
from robustness.configs import (
    ConfigError,
    field_default,
    fields_of,
    make_config,
    parse_flags,
    parse_value,
    to_flags,
)
from robustness.paths import Dirs
from robustness.profiles import DEFAULT
from robustness.tasks import TASKS

VERSION = "1"  # cache-key salt of the train tables: bump when a change makes old models invalid
RESERVED = ("session_id", "session_ids", "vmap_seeds", "init_froms", "resources_dir")  # train.py sets them
ENVIRONMENT = ("data_dir", "data_url", "checkpoint_seconds")  # passed to the script; never change the model
NOT_DEPENDENCIES = RESERVED + ENVIRONMENT


class Architecture:
    """Base of the entries; each is made from one task of ``robustness.tasks`` (see ``_architecture``)."""

    task = None  # the robustness.tasks.Task
    config_cls: type
    code_file: str
    train = None  # the runner for <repo>/Resources that records nothing (grid elements carry it)

    @classmethod
    def default_hyperparameters(cls) -> dict:
        """The cache dependencies with their default values, in config field order."""
        return {k: v for k, v in to_flags(cls.config_cls()).items() if k not in NOT_DEPENDENCIES}

    @classmethod
    def make(cls) -> dict:
        """One grid element with the report's defaults."""
        extra = {"architecture": cls.__name__, "code_file": cls.code_file, "train": cls.train}
        return {**cls.default_hyperparameters(), **extra}


def runner(arch: type[Architecture], resources_dir, record: Callable | None = None):
    """The cachable ``train`` runner of ``arch`` (table = the architecture's name) for the models in
    ``resources_dir``. Computing an element means "not trained yet": the runner passes ``{"session_id",
    "model", "reused", "previous_status"}`` to ``record`` (``reused``: the same id as an earlier try)."""
    resources_dir = Path(resources_dir)
    deps = [f"model:{k}" for k in arch.default_hyperparameters()]

    def checker(sid, table, cache_dir) -> bool:
        """Done = a parsable model file and a complete results log: ours says ``done``; one written by the
        original code passes the original's checker (``artifacts.results_complete``)."""
        return artifacts.results_complete(resources_dir, sid, arch.__name__)

    def loader(sid, table, cache_dir) -> dict:
        """The training results log plus ``session_id`` and ``<table>_session_id`` (no weights)."""
        log = files.read_json(artifacts.results_path(resources_dir, sid), what="training results")
        return {**log, "session_id": sid, f"{table}_session_id": sid}

    @dj.cachable(deps, None, loader, checker, table_name=arch.__name__, version=VERSION)
    def train(model):
        """Record ``model`` and its session id as pending (``train.py`` launches it); returns None."""
        if record is None:
            raise RuntimeError(
                f"{arch.__name__}.train only records models to launch; train them with `python train.py` "
                "(or bind a runner with architectures.runner(arch, resources_dir, record))"
            )
        info = dj.current_session()
        record({"session_id": info.session_id, "model": dict(model), "reused": info.reused,
                "previous_status": info.previous_status})  # fmt: skip

    train.__qualname__ = f"{arch.__name__}.train"  # make_unique compares callables by qualified name
    return train


def _architecture(task) -> type[Architecture]:
    """The entry of ``task``: a class named after its architecture (the original's lower-case class names
    ``speech_lsnn``, ``ecg_lsnn``, ``cnn``, which are also the database table names)."""
    body = {"task": task, "config_cls": task.config_cls, "code_file": task.code_file, "__module__": __name__}
    arch = type(task.architecture, (Architecture,), body)
    arch.train = staticmethod(runner(arch, paths.RESOURCES))
    return arch


ARCHITECTURES = {name: _architecture(task) for name, task in TASKS.items()}
globals().update(ARCHITECTURES)  # architectures.speech_lsnn, .ecg_lsnn, .cnn, as in the original


def architecture_of(element: dict) -> type[Architecture]:
    name = element.get("architecture")
    if name not in ARCHITECTURES:
        raise ValueError(f"grid element has architecture {name!r}; expected one of {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[name]


def bind(elements: list[dict], resources_dir, record: Callable | None = None) -> list[dict]:
    """``elements`` with their ``train`` runner bound to ``resources_dir`` and ``record`` (see ``runner``)."""
    runners = {name: runner(arch, resources_dir, record) for name, arch in ARCHITECTURES.items()}
    return [{**e, "train": runners[architecture_of(e).__name__]} for e in elements]


def normalize(element: dict) -> dict:
    """A copy of ``element`` with every config field in canonical form (validated; errors name the flag).

    Missing hyperparameters are filled with the defaults; ``train``/``code_file`` are (re)set from the
    architecture; keys that are not config fields (labels such as ``method``) are kept unchanged. An
    ``init_from`` that is a grid element (the parent model: a warm start, see :func:`parent_spec`) is
    normalised too and kept as that parent's :func:`parent_spec`.
    """
    parent = element.get("init_from")
    if isinstance(parent, dict):
        out = normalize({**element, "init_from": 0})
        out["init_from"] = parent_spec(normalize(parent))
        return out
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


def parent_spec(element: dict) -> dict:
    """What identifies a model as a warm-start parent: its architecture and hyperparameters (pure data).

    A grid element whose ``init_from`` is such a dict (or any grid element, normalised to one) continues
    from that parent model: ``train.py`` trains the parent first and then passes its session id as
    ``-init_from`` (README "Warm start"); the child's cache key holds the parent's session id."""
    arch = architecture_of(element)
    return {"architecture": arch.__name__, **{k: element[k] for k in arch.default_hyperparameters()}}


def parent_of(model: dict) -> dict | None:
    """The parent's :func:`parent_spec` of a model that continues from a grid element, else None."""
    parent = model.get("init_from")
    return parent if isinstance(parent, dict) else None


def _identity(model: dict) -> str:
    return json.dumps(parent_spec(model), sort_keys=True)


def _lineage(model: dict) -> list[dict]:
    """The model's parents, the root first, then the model."""
    chain = [model]
    while (parent := parent_of(chain[0])) is not None:
        chain.insert(0, model_of(normalize(parent)))
    return chain


def _stages(models: list[dict]) -> list[list[dict]]:
    """``models`` with every parent added, in stages: parents come in an earlier stage than children."""
    by_depth: dict[int, list[dict]] = {}
    for model in models:
        for depth, member in enumerate(_lineage(model)):
            by_depth.setdefault(depth, []).append(member)
    return [dj.make_unique(by_depth[d]) for d in sorted(by_depth)]


def _resolved(model: dict, sids: dict) -> dict | None:
    """``model`` with a grid-element ``init_from`` replaced by the parent's session id (None: unknown)."""
    parent = parent_of(model)
    if parent is None:
        return model
    sid = sids.get(_identity(model_of(normalize(parent))))
    return None if sid is None else {**model, "init_from": sid}


# every flag of the main scripts -> the config classes that have it (train.py's -key=value overrides)
FLAG_OWNERS = {
    name: [a.config_cls for a in ARCHITECTURES.values() if name in fields_of(a.config_cls)]
    for name in sorted(set().union(*(fields_of(a.config_cls) for a in ARCHITECTURES.values())))
}


def parse_overrides(argv: list[str]) -> dict:
    """``train.py``'s ``-key=value`` overrides (``configs.parse_flags``) → ``{key: raw value}``, each checked
    against every config that has the field (converted per model later); ValueError names the flag."""
    is_bool = lambda k: k in FLAG_OWNERS and isinstance(field_default(FLAG_OWNERS[k][0], k), bool)  # noqa: E731
    raw = parse_flags(argv, is_bool)
    for key, value in raw.items():
        if key in RESERVED:
            raise ValueError(f"-{key} is set by train.py for each launch and cannot be overridden")
        if key not in FLAG_OWNERS:
            valid = ", ".join(n for n in FLAG_OWNERS if n not in RESERVED)
            raise ValueError(f"unknown flag -{key}: not a train.py option (see --help); overrides: {valid}")
        for cls in FLAG_OWNERS[key]:
            parse_value(cls, key, value)
    return raw


def grid_models(experiments, profile: str, overrides: dict) -> list[dict]:
    """The de-duplicated models of ``[(name, Experiment class)]`` for ``profile``, with the ``-key=value``
    ``overrides`` applied to every model whose config has the flag; ValueError naming the Experiment."""
    models = []
    for name, cls in experiments:
        # an Experiment whose train_grid() takes no profile has one grid for every profile
        takes_profile = "profile" in inspect.signature(cls.train_grid).parameters
        for i, element in enumerate(cls.train_grid(profile=profile) if takes_profile else cls.train_grid()):
            try:
                models.append(model_of(_overridden(normalize(element), overrides)))
            except (ValueError, ConfigError) as err:
                raise ValueError(f"Experiment {name}, model {i}: {err}") from None
    return dj.make_unique(models)


def _overridden(element: dict, overrides: dict) -> dict:
    """``element`` (and its warm-start parents) with the ``overrides`` its config has."""
    parent = parent_of(element)
    if parent is not None:
        parent = parent_spec(_overridden(normalize(parent), overrides))
    known = fields_of(architecture_of(element).config_cls)
    out = normalize({**element, "init_from": 0, **{k: v for k, v in overrides.items() if k in known}})
    if parent is not None and "init_from" not in overrides:
        out["init_from"] = parent
    return out


def recover_sessions(dirs: Dirs) -> None:
    """Start-up check of the sessions database: a corrupt one is moved aside (datajuicer says so on stderr)
    and the models trained in ``dirs.resources_dir`` are recorded in the fresh one (:func:`adopt_models`);
    evaluations are recomputed when needed."""
    if dj.database.recover_if_corrupt(str(Path(dirs.cache_dir) / "sessions.db")) is not None:
        n = adopt_models(dirs)
        print(f"found {n} trained model(s) again in {Path(dirs.resources_dir) / 'Models'}", file=sys.stderr)


def adopt_models(dirs: Dirs) -> int:
    """Record every complete model of ``dirs.resources_dir`` (model file + finished results log) as a done
    ``train`` session under its own session id and the cache key its flags give; returns how many."""
    db, n = str(Path(dirs.cache_dir) / "sessions.db"), 0
    for path in sorted((Path(dirs.resources_dir) / "Models").glob("*_model.json")):
        try:
            flags = files.read_json(path, what="model file")["params"]
            arch, sid = ARCHITECTURES[flags["architecture"]], int(flags["session_id"])
            if not artifacts.results_complete(dirs.resources_dir, sid, arch.__name__):
                continue
            element = normalize({k: flags[k] for k in ("architecture", *arch.default_hyperparameters())})
        except (KeyError, TypeError, ValueError):  # not a model of ours: left alone
            continue
        deps = {f"model:{k}": element[k] for k in arch.default_hyperparameters()}
        row = {"session_id": sid, "cache_key": dj.canonical.cache_key(arch.__name__, VERSION, deps),
               "version": VERSION, "dependencies": dj.canonical.canonical_json(deps)}  # fmt: skip
        n += dj.database.add_done_session(db, arch.__name__, row)
    return n


def plan(models: list[dict], *, dirs: Dirs, force: bool = False) -> tuple[list[dict], dict]:
    """Run the ``train`` runners of ``models``: ``(pending, outcome counts)``, pending = the models that are
    not trained in ``dirs`` yet, each with a session id (``force``: all of them, under new ids).

    Warm-start parents (grid-element ``init_from``) are planned first, stage by stage; a child gets its
    parent's session id as ``init_from`` and, while the parent is still pending, ``"after"`` = that id
    (train.py launches it only once the parent is trained). Pending models come parents first."""
    out: list[dict] = []
    counts: dict[str, int] = {}
    sids: dict[str, int] = {}
    for stage in _stages(models):
        elements = [_resolved(m, sids) for m in stage]
        pending: list[dict] = []
        bound = bind(elements, dirs.resources_dir, pending.append)
        mode = "force" if force else "normal"
        result = dj.run(bound, "train", run_mode=mode, cache_dir=str(dirs.cache_dir))("{*}")
        waiting = {p["session_id"] for p in out}
        for model, sid in zip(stage, result.session_ids):
            sids[_identity(model)] = sid
        unique = {p["session_id"]: p for p in pending}  # one sid per model even if a grid repeats it
        for p in sorted(unique.values(), key=lambda p: result.session_ids.index(p["session_id"])):
            parent = p["model"].get("init_from")
            out.append({**p, "after": parent if parent in waiting else None})
        for outcome, n in result.counts().items():
            counts[outcome] = counts.get(outcome, 0) + n
    return out, counts


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
        if any(int(m.get("init_from", 0)) for m in models):  # each seed continues its own parent
            del flags["init_from"]
            flags["init_froms"] = ",".join(str(m["init_from"]) for m in models)
    return flags


class MissingModelsError(LookupError):
    """``load_models`` found models that are not trained (yet); the message says how to train them."""


def describe(model: dict) -> str:
    """``ecg_lsnn seed=1 beta_robustness=0.0 ...``: the architecture and the non-default hyperparameters."""
    arch = architecture_of(model)
    defaults = arch.default_hyperparameters()
    diff = [
        f"init_from=<{describe(model[k])}>" if k == "init_from" and isinstance(model[k], dict)
        else f"{k}={shlex.quote(str(model[k]))}"
        for k in defaults
        if k in model and model[k] != defaults[k] and k != "seed"
    ]  # fmt: skip
    return " ".join([arch.__name__, f"seed={model.get('seed', defaults['seed'])}", *diff])


def load_models(grid, *, experiment=None, profile=DEFAULT, dirs: Dirs = Dirs()) -> list[dict]:
    """Every element of ``grid`` with its training results (in ``dirs``) merged in (``run_mode="load_any"``,
    ``store_key="*"``).

    Raises MissingModelsError listing each untrained model and the ``python train.py ...`` command that
    trains it (``experiment``/``profile`` name the Experiment that needs them). Read-only: writes nothing.
    """
    grid = [normalize(e) for e in ([grid] if isinstance(grid, dict) else grid)]
    cache = str(dirs.cache_dir)
    sids: dict[str, int | None] = {}
    for stage in _stages(grid)[:-1]:  # warm-start parents: their session ids, None when missing
        ready = [(m, r) for m in stage if (r := _resolved(m, sids)) is not None]
        found = dj.run(bind([r for _, r in ready], dirs.resources_dir), "train", run_mode="load_any",
                       cache_dir=cache)("{*}")  # fmt: skip
        for (m, _), sid, outcome in zip(ready, found.session_ids, found.outcomes):
            sids[_identity(m)] = None if outcome == "missing" else sid
    resolved = [_resolved(e, sids) for e in grid]
    ready = bind([r for r in resolved if r is not None], dirs.resources_dir)
    result = dj.run(ready, "train", run_mode="load_any", store_key="*", cache_dir=cache)("{*}")
    outcomes = iter(result.outcomes)
    missing = [e for e, r in zip(grid, resolved) if r is None or next(outcomes) == "missing"]
    if missing:
        command = ["python", "train.py"] + (["-exp", experiment] if experiment else [])
        command += [f"-profile={profile}"] if profile != DEFAULT else []
        command += [f"-cache_dir={cache}"] if Path(cache) != paths.SESSIONS else []
        command += (
            [f"-resources_dir={dirs.resources_dir}"] if Path(dirs.resources_dir) != paths.RESOURCES else []
        )
        lines = "\n".join(f"  {describe(e)}" for e in missing[:20])
        more = f"\n  ... and {len(missing) - 20} more" if len(missing) > 20 else ""
        raise MissingModelsError(
            f"{len(missing)} of {len(grid)} models are not trained (or not finished) in {cache} / "
            f"{dirs.resources_dir}:\n{lines}{more}\ntrain them with: {' '.join(command)}"
        )
    return list(result)
