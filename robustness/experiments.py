"""Finding and importing Experiments (``Experiments/<name>.py``, each defining a class ``<name>`` with
``train_grid(profile)`` and ``visualize(profile, out_dir, dirs)``), for ``train.py`` and ``make_figures.py``.

Opt-in Experiments (``OPT_IN``) are left out of the default set (``train.py`` / ``make_figures.py`` with no
``-exp``, the main job): they run only when named, e.g. ``python train.py -exp methods_comparison_experiment``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from pathlib import Path

from robustness import paths

EXPERIMENTS_DIR = paths.REPO_ROOT / "Experiments"
# run only when named with -exp (large grids beyond the report's figures; README "Method comparison")
OPT_IN = frozenset({"methods_comparison_experiment"})


class UsageError(ValueError):
    """A bad command line or Experiment; printed without a traceback, exit status 2."""


def experiment_names(names: list[str] | None, exp_dir=EXPERIMENTS_DIR) -> list[str]:
    """``names`` (default: every ``<exp_dir>/*.py`` not in ``OPT_IN``, in name order), checked to exist
    (UsageError)."""
    folder = Path(exp_dir).resolve()
    if not folder.is_dir():
        raise UsageError(f"-exp_dir {folder} is not a directory")
    available = sorted(p.stem for p in folder.glob("*.py") if not p.name.startswith("_"))
    unknown = [n for n in names or [] if n not in available]
    if unknown:
        raise UsageError(f"no Experiment {unknown} in {folder}; available: {', '.join(available)}")
    return list(names or [n for n in available if n not in OPT_IN])


def _import(name: str, folder: Path):
    if folder == EXPERIMENTS_DIR:  # the namespace package, so that Experiments can import each other
        if str(paths.REPO_ROOT) not in sys.path:
            sys.path.insert(0, str(paths.REPO_ROOT))
        return importlib.import_module(f"Experiments.{name}")
    spec = importlib.util.spec_from_file_location(f"train_experiment_{name}", folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_experiments(names: list[str] | None, exp_dir=EXPERIMENTS_DIR) -> list[tuple[str, type]]:
    """``[(name, class)]`` from ``<exp_dir>/<name>.py`` (default: all, in name order); an import error is
    printed with its traceback and raised as a UsageError naming the file."""
    folder = Path(exp_dir).resolve()
    out = []
    for name in experiment_names(names, folder):
        try:
            module = _import(name, folder)
        except Exception as err:  # noqa: BLE001 - any error in an Experiment: name the file
            traceback.print_exc()
            raise UsageError(f"cannot import Experiment {name} ({folder / name}.py): {err}") from None
        if not isinstance(getattr(module, name, None), type):
            raise UsageError(f"{folder / name}.py defines no class {name} (the Experiment protocol)")
        out.append((name, getattr(module, name)))
    return out
