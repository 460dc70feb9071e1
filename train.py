"""Train every model the Experiments need that is not trained yet (spec datajuicer.md §5, cluster.md §4).

    python train.py                                   # all Experiments/*.py, one local run after another
    python train.py -exp mismatch_experiment -profile=quick   # only these Experiments, reduced grids
    python train.py -mode=sbatch -n_cpus=4 -wall_time=4:00 -group_seeds=5
    python train.py -mode=bsub -dry_run               # print the bsub commands (a runnable shell script)
    python train.py -beta_robustness=0.0              # any -flag=value of the main scripts, for all models

Flow: import each Experiment module, concatenate ``<name>.train_grid(profile)``, normalise and de-duplicate
the models, apply the ``-key=value`` overrides, then ``datajuicer.run(models, "train")`` finds the models
already done (database row + ``architectures`` checker: results log complete and model file parses). The
rest get a session id (the same one as in an earlier, unfinished try) and are launched: one process per
model, or per group of ``-group_seeds`` seeds trained together with ``-vmap_seeds``. bsub/sbatch jobs are
fire-and-forget; run ``train.py`` again later: finished models are skipped, failed or killed ones are
launched again, and models whose previous job is still pending or running are left alone.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib
import importlib.util
import inspect
import json
import os
import shutil
import subprocess
import sys
import textwrap
import traceback
from pathlib import Path

import architectures
import datajuicer as dj
from architectures import RESERVED, architecture_of, command_flags, describe, model_of, normalize
from robustness import files, paths
from robustness.configs import ConfigError, field_default, fields_of, parse_flags, parse_value
from robustness.profiles import PROFILES
from robustness.launch import MODES, LaunchError, LaunchSettings, launch_argv, log_path, python_argv, submit
from robustness.tasks import TASKS

# squeue states after which a job can no longer write its model; any other state counts as queued
SLURM_DONE = {"COMPLETED", "COMPLETING", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED"}
SLURM_DONE |= {"OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "SPECIAL_EXIT"}
LSF_ACTIVE = {"PEND", "RUN", "PSUSP", "USUSP", "SSUSP", "WAIT", "PROV"}
DEFAULTS = LaunchSettings()
CONFIGS = [task.config_cls for task in TASKS.values()]
FIELDS = sorted(set().union(*map(fields_of, CONFIGS)))
OWNERS = {name: [c for c in CONFIGS if name in fields_of(c)] for name in FIELDS}  # configs per flag


class UsageError(ValueError):
    """A bad command line or Experiment; printed without a traceback, exit status 2."""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the examples' line breaks and shows every default (except None/False)."""

    def _get_help_string(self, action):
        return action.help if action.default in (None, False) else super()._get_help_string(action)


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, dict]:
    """``(options, overrides)``; overrides are ``{flag: raw string}``, checked (usage error, exit 2)."""
    p = argparse.ArgumentParser(
        prog="train.py",
        description=__doc__,
        allow_abbrev=False,
        epilog=_epilog(),
        formatter_class=_HelpFormatter,
    )
    a = p.add_argument
    a("-exp", nargs="+", metavar="NAME", help="Experiment modules to use (default: every *.py in -exp_dir)")
    a("-exp_dir", default=str(paths.REPO_ROOT / "Experiments"), help="where the Experiments are")
    a("-profile", default="full", choices=list(PROFILES), help="grid size passed to every train_grid()")
    a("-mode", default="direct", choices=MODES, help="direct: run here; bsub/sbatch: submit jobs")
    a("-n_threads", type=int, default=1, help="direct mode: trainings run at the same time")
    a("-dry_run", action="store_true", help="print the commands (and reserve session ids); launch nothing")
    a(
        "-force",
        action="store_true",
        help="retrain every model under new session ids (older ones count until then)",
    )
    a("-group_seeds", type=int, default=1, help="models differing only in seed: up to N per process")
    a("-n_cpus", type=int, default=DEFAULTS.n_cpus, help="cores per job (bsub -n, --cpus-per-task)")
    a("-mem_per_cpu", type=int, default=DEFAULTS.mem_per_cpu, help="MB per core (rusage[mem], --mem-per-cpu)")
    a("-wall_time", default=DEFAULTS.wall_time, help="LSF [hours:]minutes (bsub -W; sbatch --time=H:MM:00)")
    a("-queue", default=DEFAULTS.queue, help="bsub -q / sbatch --partition (default: the scheduler's)")
    a("-gpus", type=int, default=DEFAULTS.gpus, help="GPUs per job (rusage[ngpus_excl_p], --gres=gpu:N)")
    a("-log_dir", help="for <sid>.log, <sid>.submit.json (default Resources/Logs or <resources_dir>/Logs)")
    a("-python", help="interpreter of the jobs (default: this one in direct mode, python3 for bsub/sbatch)")
    a("-cache_dir", default=str(paths.SESSIONS), help="datajuicer sessions database directory")
    a("-resources_dir", help="Models/ and TrainingResults/ (default <repo>/Resources); passed to the scripts")
    opts, extra = p.parse_known_args(argv)
    if opts.n_threads < 1 or opts.group_seeds < 1:
        p.error("-n_threads and -group_seeds must be >= 1")
    try:
        return opts, parse_overrides(extra)
    except UsageError as err:
        p.error(str(err))


def _epilog() -> str:
    names = [n for n in FIELDS if n not in RESERVED]
    return (
        "overrides: -key=value (or --key=value; a bare -key means True for a boolean) sets that flag of the\n"
        "main scripts for every model whose architecture has it, e.g. -max_steps=100. Valid keys:\n"
        + textwrap.fill(" ".join(names), 100, initial_indent="  ", subsequent_indent="  ")
        + "\nIn bsub/sbatch mode the scripts get -data_dir=$SCRATCH/<dataset> if $SCRATCH is set, else the "
        "local dataset\ndirectory; direct mode lets the script resolve it. Each run ends with the line\n"
        "'launched N (jobs J), already done M, still queued K'."
    )


def parse_overrides(extra: list[str]) -> dict:
    """The main scripts' flags in ``extra`` → ``{key: raw value}`` (``configs.parse_flags``), each checked
    against every config that has the field (values are converted per model later)."""
    try:
        raw = parse_flags(extra, lambda k: k in OWNERS and isinstance(field_default(OWNERS[k][0], k), bool))
        for key, value in raw.items():
            if key in RESERVED:
                raise UsageError(f"-{key} is set by train.py for each launch and cannot be overridden")
            if key not in OWNERS:
                valid = ", ".join(n for n in FIELDS if n not in RESERVED)
                raise UsageError(
                    f"unknown flag -{key}: not a train.py option (see --help); overrides: {valid}"
                )
            for cls in OWNERS[key]:
                parse_value(cls, key, value)
    except ConfigError as err:
        raise UsageError(str(err)) from None
    return raw


def experiment_names(names: list[str] | None, exp_dir: str) -> list[str]:
    """``names`` (default: every ``<exp_dir>/*.py``, in name order), checked to exist (UsageError)."""
    folder = Path(exp_dir).resolve()
    if not folder.is_dir():
        raise UsageError(f"-exp_dir {folder} is not a directory")
    available = sorted(p.stem for p in folder.glob("*.py") if not p.name.startswith("_"))
    unknown = [n for n in names or [] if n not in available]
    if unknown:
        raise UsageError(f"no Experiment {unknown} in {folder}; available: {', '.join(available)}")
    return list(names or available)


def load_experiments(names: list[str] | None, exp_dir: str) -> list[tuple[str, type]]:
    """``[(name, class)]`` from ``<exp_dir>/<name>.py`` (default: all, in name order)."""
    folder = Path(exp_dir).resolve()
    out = []
    for name in experiment_names(names, exp_dir):
        try:
            if folder == paths.REPO_ROOT / "Experiments":  # the namespace package, as make_figures sees it
                if str(paths.REPO_ROOT) not in sys.path:
                    sys.path.insert(0, str(paths.REPO_ROOT))
                module = importlib.import_module(f"Experiments.{name}")
            else:
                spec = importlib.util.spec_from_file_location(
                    f"train_experiment_{name}", folder / f"{name}.py"
                )
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
        except Exception as err:  # noqa: BLE001 - any error in an Experiment: name the file
            traceback.print_exc()
            raise UsageError(f"cannot import Experiment {name} ({folder / name}.py): {err}") from None
        if not isinstance(getattr(module, name, None), type):
            raise UsageError(f"{folder / name}.py defines no class {name} (the Experiment protocol)")
        out.append((name, getattr(module, name)))
    return out


def build_models(experiments, profile: str, overrides: dict) -> list[dict]:
    """The de-duplicated models of all Experiments with the overrides applied, in canonical form."""
    models = []
    for name, cls in experiments:
        # an Experiment whose train_grid() takes no profile has one grid for every profile
        takes_profile = "profile" in inspect.signature(cls.train_grid).parameters
        for i, element in enumerate(cls.train_grid(profile=profile) if takes_profile else cls.train_grid()):
            try:
                element = normalize(element)
                arch = architecture_of(element)
                known = fields_of(arch.config_cls)
                element = normalize({**element, **{k: v for k, v in overrides.items() if k in known}})
            except (ValueError, ConfigError) as err:
                raise UsageError(f"Experiment {name}, model {i}: {err}") from None
            models.append(model_of(element))
    return dj.make_unique(models)


def plan(models: list[dict], opts) -> tuple[list[dict], dict]:
    """Run the train runners: ``(pending [{"session_id", "model", ...}], outcome counts)``."""
    with (
        architectures.using_dirs(resources_dir=opts.resources_dir),
        architectures.collect_pending() as pending,
    ):
        result = dj.run(
            models, "train", run_mode="force" if opts.force else "normal", cache_dir=opts.cache_dir
        )("{*}")
    unique = {p["session_id"]: p for p in pending}  # one sid per model even if a grid repeats it
    return sorted(unique.values(), key=lambda p: result.session_ids.index(p["session_id"])), result.counts()


def skip_queued(pending: list[dict], log_dir: str, opts) -> list[dict]:
    """``pending`` without the models whose previous bsub/sbatch job is still pending or running."""
    warned: set = set()
    todo = []
    for p in pending:
        if still_queued(p["session_id"], log_dir, warned):
            say(
                f"{describe(p['model'])}: session {p['session_id']} is still queued; not submitted again",
                opts,
            )
        else:
            todo.append(p)
    return todo


def still_queued(sid: int, log_dir: str, warned: set) -> bool:
    """Whether the job in ``<log_dir>/<sid>.submit.json`` is pending or running (asks squeue / bjobs)."""
    try:
        record = json.loads((Path(log_dir) / f"{sid}.submit.json").read_text())
    except (OSError, ValueError):
        return False
    mode, job = record.get("mode"), record.get("job_id")
    if mode not in ("bsub", "sbatch") or not job:
        return False
    argv = (
        ["squeue", "-h", "-j", str(job), "-o", "%T"]
        if mode == "sbatch"
        else ["bjobs", "-noheader", "-o", "stat", str(job)]
    )
    if shutil.which(argv[0]) is None:
        if argv[0] not in warned:
            print(
                f"warning: {argv[0]} not found: cannot tell whether earlier {mode} jobs are still queued; "
                "treating them as finished (cancel them first, or they may train twice)",
                file=sys.stderr,
            )
            warned.add(argv[0])
        return False
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    states = proc.stdout.split() if proc.returncode == 0 else []  # unknown (purged) job ids are errors
    if mode == "sbatch":
        return any(s not in SLURM_DONE for s in states)
    return any(s in LSF_ACTIVE for s in states)


def group(pending: list[dict], size: int) -> list[list[dict]]:
    """Models identical except ``seed`` go together, ``size`` at a time (seed order); grid order otherwise."""
    buckets: dict[str, list[dict]] = {}
    for p in pending:
        key = {k: v for k, v in p["model"].items() if k not in ("seed", "train", "session_id")}
        buckets.setdefault(json.dumps(key, sort_keys=True), []).append(p)
    out = []
    for members in buckets.values():
        members.sort(key=lambda p: p["model"]["seed"])
        out += [members[i : i + size] for i in range(0, len(members), size)]
    return out


def launch(groups: list[list[dict]], settings: LaunchSettings, opts) -> tuple[int, int, list[str]]:
    """Launch every group; ``(models launched, processes/jobs, failures)``."""
    here = Path.cwd().resolve() == paths.REPO_ROOT

    def one(members):
        model, sids = members[0]["model"], [m["session_id"] for m in members]
        code = model["code_file"] if here else str(paths.REPO_ROOT / model["code_file"])
        flags = command_flags([m["model"] for m in members], sids, settings.mode, opts.resources_dir)
        sid = sids[0]  # a group is logged and recorded under its first session id
        argv = launch_argv(python_argv(code, flags, settings), sid, settings)
        say(f"{describe(model)}: session(s) {','.join(map(str, sids))} (log {log_path(sid, settings)})", opts)
        tee = settings.mode == "direct" and opts.n_threads == 1
        result = submit(argv, session_id=sid, settings=settings, dry_run=opts.dry_run, tee=tee, check=False)
        if not opts.dry_run:
            _record_group(result.log_path, sids)
        if result.returncode != 0:
            return f"sessions {sids} exited with {result.returncode} (log {result.log_path})"
        return None

    failures, jobs = [], 0
    if settings.mode == "direct" and opts.n_threads > 1 and not opts.dry_run:
        with concurrent.futures.ThreadPoolExecutor(opts.n_threads) as pool:
            results = list(pool.map(one, groups))
        return sum(map(len, groups)), len(groups), [r for r in results if r]
    for members in groups:
        try:
            failure = one(members)
        except LaunchError as err:  # the scheduler refused: stop, the next jobs would be refused as well
            return sum(map(len, groups[:jobs])), jobs, failures + [str(err)]
        jobs += 1
        failures += [failure] if failure else []
    return sum(map(len, groups)), jobs, failures


def _record_group(log: Path, sids: list[int]) -> None:
    """Copy ``<sid0>.submit.json`` to every session of a group, so each sid's queue state can be asked."""
    record = json.loads(log.with_name(f"{log.stem}.submit.json").read_text())
    for sid in sids:
        files.write_json(
            log.with_name(f"{sid}.submit.json"), {**record, "session_id": str(sid), "session_ids": sids}
        )


def say(message: str, opts) -> None:
    """Our own lines; in a dry run they are shell comments, so the output is a runnable script."""
    print(("# " if opts.dry_run else "") + message, flush=True)


def main(argv: list[str] | None = None) -> int:
    opts, overrides = parse_args(sys.argv[1:] if argv is None else argv)
    if opts.resources_dir is not None:
        opts.resources_dir = str(Path(os.path.expandvars(opts.resources_dir)).resolve())
    default_logs = str(Path(opts.resources_dir) / "Logs") if opts.resources_dir else DEFAULTS.log_dir
    log_dir = opts.log_dir or default_logs
    python = opts.python or (sys.executable if opts.mode == "direct" else DEFAULTS.python)
    try:
        resources = {k: getattr(opts, k) for k in ("n_cpus", "mem_per_cpu", "wall_time", "queue", "gpus")}
        settings = LaunchSettings(mode=opts.mode, log_dir=log_dir, python=python, **resources)
        models = build_models(load_experiments(opts.exp, opts.exp_dir), opts.profile, overrides)
    except (UsageError, ValueError) as err:
        print(f"train.py: error: {err}", file=sys.stderr)
        return 2
    pending, counts = plan(models, opts)
    todo = pending if opts.force else skip_queued(pending, log_dir, opts)
    launched, jobs, failures = launch(group(todo, opts.group_seeds), settings, opts)
    verb = "dry run: would launch" if opts.dry_run else "launched"
    done, queued = counts.get("loaded", 0), len(pending) - len(todo)
    summary = f"{verb} {launched} (jobs {jobs}), already done {done}, still queued {queued}"
    say(summary + (f", failed {len(failures)}" if failures else ""), opts)
    for failure in failures:
        print(f"train.py: error: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
