"""Which dataset a config trains on, and the summary command.

``load_dataset(config)`` resolves the config's data folder and builds the reader its task names
(``robustness.tasks``): Speech Commands (docs/original.md §3.1), MIT-BIH (§3.2) or Fashion-MNIST (§3.3). The
common
interface, ``DataError`` and the cache are in ``robustness.datasets``.

``python -m robustness.data [speech] [ecg] [fashion_mnist] [-seed=N] [-json]`` prints split sizes and class
counts.
"""

from __future__ import annotations

import dataclasses
import json
import sys

from robustness.datasets import DataError, Dataset
from robustness.tasks import TASKS, task_of


def load_dataset(config) -> Dataset:
    """The dataset of ``config`` (a task's config), read from its resolved data folder."""
    task = task_of(config)
    return task.dataset(dataclasses.replace(config, data_dir=task.data_dir_of(config)))


DATASETS = {task.dataset.name: task for task in TASKS.values()}  # speech, ecg, fashion_mnist


def format_summary(name: str, summary: dict) -> str:
    """A few readable lines: one per split with its size and per-class counts."""
    extra = {k: v for k, v in summary.items() if k not in ("splits", "classes", "name")}
    lines = [f"{name}: " + ", ".join(f"{k}={v}" for k, v in extra.items() if not isinstance(v, (dict, list)))]
    for key, value in extra.items():
        if isinstance(value, (dict, list)):
            lines.append(f"  {key}: {value}")
    for split, entry in summary["splits"].items():
        counts = " ".join(f"{c}={n}" for c, n in entry["counts"].items())
        lines.append(f"  {split:<10} {entry['size']:>7}   {counts}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print each dataset's split sizes and class counts (``-json``: one JSON object per line); exit 1 if
    any dataset failed to load."""
    argv = list(sys.argv[1:] if argv is None else argv)
    seed, as_json, names = 0, False, []
    for arg in argv:
        if arg.lstrip("-").startswith("seed="):
            seed = int(arg.split("=", 1)[1])
        elif arg.lstrip("-") == "json":
            as_json = True
        elif arg in DATASETS:
            names.append(arg)
        else:
            print(
                f"usage: python -m robustness.data [{' '.join(DATASETS)}] [-seed=N] [-json]", file=sys.stderr
            )
            return 2
    failed = 0
    for name in names or list(DATASETS):
        config = DATASETS[name].config_cls(seed=seed)
        try:
            summary = load_dataset(config).summary()
        except DataError as err:
            failed += 1
            print(json.dumps({"dataset": name, "error": str(err)}) if as_json else f"{name}: ERROR: {err}")
            continue
        print(json.dumps({"dataset": name, **summary}) if as_json else format_summary(name, summary))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
