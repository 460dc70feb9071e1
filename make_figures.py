"""Draw the figures of the Experiments from the trained models, headless (README "Figures:
`make_figures.py`").

    python make_figures.py                                  # every Experiments/*.py, profile full
    python make_figures.py -exp mismatch_experiment -profile=quick
    python make_figures.py -profile=smoke -out_dir=/tmp/f -cache_dir=/tmp/S -resources_dir=/tmp/R

For each Experiment ``<name>`` this calls ``<name>.visualize(profile=..., out_dir=..., dirs=...,
figure_config=...)`` with the sessions database (``-cache_dir``) and the models (``-resources_dir``) in
``dirs`` and the drawing flags ``-dpi``, ``-p_value``, ``-panels`` (``robustness.configs.FigureConfig``; the
original's drawing: ``-dpi=1200 -p_value=legacy -panels=simulated``) in ``figure_config``. Each figure is written as
``<out_dir>/<figure>.{png,pdf,json}`` (the JSON holds every plotted number, the models' session ids, the git
commit and the profile) and its table as ``<figure>_table.{md,tex}``. The default ``out_dir`` is
``<resources_dir>/Figures`` for ``full`` and ``<resources_dir>/Figures/<profile>`` otherwise. Mismatch, attack
and surface evaluations are cached per model and setting in the sessions database, so only new models or
settings are computed. No LaTeX installation is needed.

Errors: a failing Experiment is reported with its name and traceback and the others still run; models
that are not trained are listed with the ``python train.py ...`` command that trains them. Exit status:
0 all done (or skipped: nothing trained for that profile), 1 if any Experiment failed, 2 bad usage.
"""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")  # headless before anything imports pyplot

import argparse
import dataclasses
import inspect
import sys
import time
import traceback
from pathlib import Path

from architectures import MissingModelsError, recover_sessions
from robustness import paths, plotting
from robustness.configs import ConfigError, FigureConfig, parse_value
from robustness.experiments import EXPERIMENTS_DIR, UsageError, experiment_names, load_experiments
from robustness.figures import figure_dir
from robustness.profiles import DEFAULT, PROFILES


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="make_figures.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    p.add_argument("-exp", nargs="+", metavar="NAME", help="Experiments to draw (default: all in -exp_dir)")
    p.add_argument("-exp_dir", default=str(EXPERIMENTS_DIR), help="where the Experiments are")
    p.add_argument(
        "-profile", default=DEFAULT, choices=list(PROFILES), help="which grid's models to draw (default full)"
    )
    p.add_argument("-out_dir", help="output folder (default <resources_dir>/Figures[/<profile>])")
    p.add_argument("-cache_dir", default=str(paths.SESSIONS), help="datajuicer sessions directory")
    p.add_argument("-resources_dir", default=str(paths.RESOURCES), help="Models/ and TrainingResults/")
    for f in dataclasses.fields(FigureConfig):
        choices = f.metadata.get("choices")
        p.add_argument(
            f"-{f.name}",
            type=_figure_flag(f.name),
            default=f.default,
            metavar="{" + ",".join(choices) + "}" if choices else type(f.default).__name__.upper(),
            help=f"{f.metadata['doc']} (default {f.default})",
        )
    opts = p.parse_args(argv)
    if empty := paths.empty_flags({k: getattr(opts, k) for k in ("resources_dir", "cache_dir", "out_dir")}):
        p.error(f"{empty[0]} is empty; give a folder (or leave the flag out for its default)")
    return opts


def _figure_flag(name: str):
    """argparse ``type=`` of a FigureConfig flag: ``configs.parse_value`` (its choices and range)."""

    def parse(raw: str):
        try:
            return parse_value(FigureConfig, name, raw)
        except ConfigError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    return parse


def figure_config_of(opts: argparse.Namespace) -> FigureConfig:
    return FigureConfig(**{f.name: getattr(opts, f.name) for f in dataclasses.fields(FigureConfig)})


def run_one(name: str, opts, out_dir: Path, dirs: paths.Dirs) -> str:
    """``"done"``, ``"skipped"`` (visualize returned None: nothing to draw) or ``"failed"``."""
    try:
        [(_, cls)] = load_experiments([name], opts.exp_dir)  # prints the traceback of import errors
        accepted = inspect.signature(cls.visualize).parameters
        given = {
            "profile": opts.profile,
            "out_dir": out_dir,
            "dirs": dirs,
            "figure_config": figure_config_of(opts),
        }
        result = cls.visualize(**{k: v for k, v in given.items() if k in accepted})
    except MissingModelsError as err:
        print(f"{name}: FAILED, models missing:\n{err}", file=sys.stderr, flush=True)
        return "failed"
    except UsageError as err:
        print(f"{name}: FAILED: {err}", file=sys.stderr, flush=True)
        return "failed"
    except Exception:  # noqa: BLE001 - any error in one Experiment: report it, go on with the others
        print(f"{name}: FAILED with this traceback:", file=sys.stderr, flush=True)
        traceback.print_exc()
        sys.stderr.flush()
        return "failed"
    return "skipped" if result is None else "done"


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    dirs = paths.Dirs(
        resources_dir=Path(os.path.expandvars(opts.resources_dir)).resolve(),
        cache_dir=Path(os.path.expandvars(opts.cache_dir)).resolve(),
    )
    try:
        names = experiment_names(opts.exp, opts.exp_dir)
    except UsageError as err:
        print(f"make_figures.py: error: {err}", file=sys.stderr)
        return 2
    out_dir = (
        Path(opts.out_dir).resolve() if opts.out_dir else figure_dir(opts.profile, None, dirs.resources_dir)
    )
    if problem := paths.check_folders({"cache_dir": dirs.cache_dir, "out_dir": out_dir}):
        print(f"make_figures.py: error: {problem}", file=sys.stderr)
        return 1
    recover_sessions(dirs)
    paths.enable_compilation_cache()
    plotting.use_style()
    status = {}
    for name in names:
        print(f"=== {name} (profile {opts.profile}) ===", flush=True)
        start = time.monotonic()
        status[name] = run_one(name, opts, out_dir, dirs)
        print(f"=== {name}: {status[name]} in {time.monotonic() - start:.1f} s ===", flush=True)
    failed = [n for n, s in status.items() if s == "failed"]
    counts = {s: sum(v == s for v in status.values()) for s in ("done", "skipped", "failed")}
    print(f"figures in {out_dir}: " + ", ".join(f"{k} {v}" for k, v in counts.items()), flush=True)
    if failed:
        print(f"make_figures.py: failed: {' '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
