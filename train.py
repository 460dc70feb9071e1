"""Train every model the Experiments need that is not trained yet (README "The experiment grid";
docs/cluster.md §4).

    python train.py                                   # all Experiments/*.py, one local run after another
    python train.py -exp mismatch_experiment -profile=quick   # only these Experiments, reduced grids
    python train.py -mode=sbatch -n_cpus=4 -wall_time=4:00 -group_seeds=5
    python train.py -mode=bsub -dry_run               # print the bsub commands (a runnable shell script)
    python train.py -beta_robustness=0.0              # any -flag=value of the main scripts, for all models

Flow: import each Experiment module, concatenate ``<name>.train_grid(profile)``, normalise and de-duplicate
the models, apply the ``-key=value`` overrides, then ``datajuicer.run(models, "train")`` finds the models
already done (database row + results log complete and model file parses). The rest get a session id (the
same one as in an earlier, unfinished try) and are launched: one process per model, or per group of
``-group_seeds`` seeds trained together with ``-vmap_seeds``. bsub/sbatch jobs are fire-and-forget; run
``train.py`` again later: finished models are skipped, failed or killed ones are launched again, and models
whose previous job is still pending or running are left alone. Each model is claimed before it is
launched (``robustness.locks``), so a second ``train.py`` on the same sessions database skips the models the
first one is training and says so.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from pathlib import Path

import architectures as A
from robustness import jobs, locks, paths
from robustness.experiments import EXPERIMENTS_DIR, load_experiments
from robustness.configs import check_text
from robustness.launch import MODES, LaunchSettings, script_comment
from robustness.profiles import DEFAULT, PROFILES

DEFAULTS = LaunchSettings()


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
    a("-exp_dir", default=str(EXPERIMENTS_DIR), help="where the Experiments are")
    a("-profile", default=DEFAULT, choices=list(PROFILES), help="grid size passed to every train_grid()")
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
    if empty := paths.empty_flags({k: getattr(opts, k) for k in ("resources_dir", "cache_dir", "log_dir")}):
        p.error(f"{empty[0]} is empty; give a folder (or leave the flag out for its default)")
    given = [a.lstrip("-").split("=")[0] for a in argv if a.startswith("-")]
    if twice := sorted({g for g in given if given.count(g) > 1 and g in vars(opts)}):
        p.error(f"-{twice[0]} is given twice; give it once")
    try:
        for name, value in vars(opts).items():
            check_text(name, value)  # a newline would end a line of the -dry_run script
        return opts, A.parse_overrides(extra)
    except ValueError as err:  # ConfigError included
        p.error(str(err))


def _epilog() -> str:
    names = [n for n in A.FLAG_OWNERS if n not in A.RESERVED]
    return (
        "overrides: -key=value (or --key=value; a bare -key means True for a boolean) sets that flag of the\n"
        "main scripts for every model whose architecture has it, e.g. -max_steps=100. Valid keys:\n"
        + textwrap.fill(" ".join(names), 100, initial_indent="  ", subsequent_indent="  ")
        + "\nIn bsub/sbatch mode the scripts get -data_dir=$SCRATCH/<dataset> if $SCRATCH is set, else the "
        "local dataset\ndirectory; direct mode lets the script resolve it. Each run ends with the line\n"
        "'launched N (jobs J), already done M, still queued K'."
    )


def main(argv: list[str] | None = None) -> int:
    opts, overrides = parse_args(sys.argv[1:] if argv is None else argv)
    if opts.resources_dir is not None:
        opts.resources_dir = str(Path(os.path.expandvars(opts.resources_dir)).resolve())
    log_dir = opts.log_dir or (
        str(Path(opts.resources_dir) / "Logs") if opts.resources_dir else DEFAULTS.log_dir
    )
    python = opts.python or (sys.executable if opts.mode == "direct" else DEFAULTS.python)

    def say(message: str) -> None:  # in a dry run our lines are shell comments: the output is a script
        print(script_comment(message) if opts.dry_run else message, flush=True)

    try:
        resources = {k: getattr(opts, k) for k in ("n_cpus", "mem_per_cpu", "wall_time", "queue", "gpus")}
        settings = LaunchSettings(mode=opts.mode, log_dir=log_dir, python=python, **resources)
        models = A.grid_models(load_experiments(opts.exp, opts.exp_dir), opts.profile, overrides)
    except ValueError as err:  # UsageError, bad settings, bad grid elements
        print(f"train.py: error: {err}", file=sys.stderr)
        return 2
    dirs = paths.Dirs(resources_dir=opts.resources_dir or paths.RESOURCES, cache_dir=opts.cache_dir)
    folders = {"resources_dir": dirs.resources_dir, "cache_dir": dirs.cache_dir}
    if not opts.dry_run and opts.mode == "direct":  # a scheduler's log folder may exist only on the cluster
        folders["log_dir"] = log_dir
    if problem := paths.check_folders(folders):
        print(f"train.py: error: {problem}", file=sys.stderr)
        return 1
    A.recover_sessions(dirs)
    pending, counts = A.plan(models, dirs=dirs, force=opts.force)
    warned: set = set()
    queued = [] if opts.force else [p for p in pending if jobs.still_queued(p["session_id"], log_dir, warned)]
    for p in queued:
        say(f"{A.describe(p['model'])}: session {p['session_id']} is still queued; not submitted again")
    todo = [p for p in pending if p not in queued]
    held: dict = {}  # a dry run launches nothing, so claims nothing
    elsewhere = 0
    if not opts.dry_run:  # exactly once: another train.py may be launching the same models (robustness.locks)
        todo, held, elsewhere = jobs.claim(todo, dirs, log_dir, say=say, warned=warned)
    launched = started = 0
    failures: list[str] = []
    for wave in jobs.waves(todo, settings, dirs.resources_dir, dry_run=opts.dry_run, say=say):
        job_list = jobs.make_jobs(jobs.group_seeds(wave, opts.group_seeds), settings, opts.resources_dir)
        n, j, failed = jobs.run_jobs(
            job_list, settings, n_threads=opts.n_threads, dry_run=opts.dry_run, say=say, held=held
        )
        launched, started, failures = launched + n, started + j, failures + failed
    for claim in held.values():  # children whose parent did not finish
        locks.release(claim)
    verb = "dry run: would launch" if opts.dry_run else "launched"
    summary = f"{verb} {launched} (jobs {started}), already done {counts.get('loaded', 0)}, still queued {len(queued)}"
    summary += f", being trained elsewhere {elsewhere}" if elsewhere else ""
    say(summary + (f", failed {len(failures)}" if failures else ""))
    for failure in failures:
        print(f"train.py: error: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
