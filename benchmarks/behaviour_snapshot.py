"""Behaviour snapshot: prove that a code change leaves training and figures bit-identical.

Runs the smoke profile end to end in a checkout (``train.py -profile=smoke`` then ``make_figures.py
-profile=smoke``, into a scratch folder) and writes a normalised snapshot: for every trained model, the
SHA-256 of its parameters and of its results log, keyed by its flags (session ids and folders removed,
because they are random or machine-specific); for every figure, its JSON numbers with session ids replaced
by the model keys and the provenance block removed. Two snapshots are compared with ``compare``.

Mismatch draws are keyed by the models' session ids, which are random, so figures are compared on the same
trained models: ``figures`` copies a finished run's models and sessions database, drops every cached
evaluation, and draws the figures again with the checkout under test.

    python benchmarks/behaviour_snapshot.py run --repo /path/to/old/checkout --out /tmp/old
    python benchmarks/behaviour_snapshot.py run --repo . --out /tmp/new          # training: models + logs
    python benchmarks/behaviour_snapshot.py figures --repo . --models /tmp/old --out /tmp/new_figs
    python benchmarks/behaviour_snapshot.py compare /tmp/old/snapshot.json /tmp/new/snapshot.json --models
    python benchmarks/behaviour_snapshot.py compare /tmp/old/snapshot.json /tmp/new_figs/snapshot.json

``compare`` prints every difference and exits 1 if there is any (``--models``: only the trained models and
logs). Training on CPU is bit-deterministic for a given machine, so all runs must be made on one machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

VOLATILE_FLAGS = {"session_id", "session_ids", "resources_dir", "vmap_seeds"}
TRAIN_TABLES = {"speech_lsnn", "ecg_lsnn", "cnn", "_datajuicer_session_ids"}


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def _run(repo: Path, out: Path, train: bool = True) -> None:
    out.mkdir(parents=True, exist_ok=True)
    common = [f"-resources_dir={out / 'Resources'}", f"-cache_dir={out / 'Sessions'}"]
    steps = [
        [sys.executable, "train.py", "-profile=smoke", *common],
        [sys.executable, "make_figures.py", "-profile=smoke", *common, f"-out_dir={out / 'Figures'}"],
    ]
    for argv in steps[0 if train else 1 :]:
        with open(out / f"{Path(argv[1]).stem}.log", "w") as log:
            rc = subprocess.run(argv, cwd=repo, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
        if rc != 0:
            sys.exit(f"{' '.join(argv)} exited with {rc}; see {out}")


def _copy_models(source: Path, out: Path) -> None:
    """``source``'s Resources/ and Sessions/ into ``out``, without any cached evaluation."""
    for name in ("Resources", "Sessions"):
        shutil.copytree(source / name, out / name, dirs_exist_ok=False)
    shutil.rmtree(out / "Resources" / "Figures", ignore_errors=True)
    db = sqlite3.connect(out / "Sessions" / "sessions.db")
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    for table in set(tables) - TRAIN_TABLES:
        db.execute(f'DROP TABLE "{table}"')
        for path in (out / "Sessions").glob(f"{table}_*"):
            path.unlink()
    db.commit()
    db.close()


def _replace_sids(obj, names: dict):
    if isinstance(obj, dict):
        return {k: _replace_sids(v, names) for k, v in obj.items() if k != "provenance"}
    if isinstance(obj, list):
        return [_replace_sids(v, names) for v in obj]
    if isinstance(obj, (int, str)) and not isinstance(obj, bool) and str(obj) in names:
        return names[str(obj)]
    return obj


def snapshot(out: Path) -> dict:
    """The normalised snapshot of a finished run in ``out``."""
    models, names = {}, {}
    for path in sorted((out / "Resources" / "Models").glob("*_model.json")):
        data = json.loads(path.read_text())
        sid = str(data["params"]["session_id"])
        flags = {k: v for k, v in data["params"].items() if k not in VOLATILE_FLAGS}
        key = f"model:{_digest(flags)}"
        names[sid] = key
        log = json.loads((out / "Resources" / "TrainingResults" / f"{sid}.json").read_text())
        models[key] = {
            "flags": flags,
            "theta": _digest(data["theta"]),
            "rng_key": data["rng_key"],
            "log": _digest(log),
        }
    figures = {
        p.stem: _replace_sids(json.loads(p.read_text()), names)
        for p in sorted((out / "Figures").glob("*.json"))
    }
    return {"models": models, "figures": figures}


def _diff(a, b, path="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}/{k}: only in the first" for k in a.keys() - b.keys()]
        out += [f"{path}/{k}: only in the second" for k in b.keys() - a.keys()]
        for k in sorted(a.keys() & b.keys()):
            out += _diff(a[k], b[k], f"{path}/{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _diff(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {json.dumps(a)[:120]} != {json.dumps(b)[:120]}"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the smoke profile in --repo and write <out>/snapshot.json")
    r.add_argument("--repo", default=".", type=Path)
    r.add_argument("--out", required=True, type=Path)
    f = sub.add_parser("figures", help="draw the figures of --models' trained models with --repo")
    f.add_argument("--repo", default=".", type=Path)
    f.add_argument("--models", required=True, type=Path, help="the --out folder of an earlier run")
    f.add_argument("--out", required=True, type=Path)
    c = sub.add_parser("compare", help="compare two snapshot.json files")
    c.add_argument("first", type=Path)
    c.add_argument("second", type=Path)
    c.add_argument("--models", action="store_true", help="compare only the trained models and logs")
    opts = p.parse_args(argv)
    if opts.cmd in ("run", "figures"):
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
        if opts.cmd == "figures":
            _copy_models(opts.models.resolve(), opts.out.resolve())
        _run(opts.repo.resolve(), opts.out.resolve(), train=opts.cmd == "run")
        snap = snapshot(opts.out.resolve())
        (opts.out / "snapshot.json").write_text(json.dumps(snap, indent=1, sort_keys=True))
        print(f"{len(snap['models'])} models, {len(snap['figures'])} figures → {opts.out / 'snapshot.json'}")
        return 0
    first, second = (json.loads(f.read_text()) for f in (opts.first, opts.second))
    if opts.models:
        first, second = first["models"], second["models"]
    diffs = _diff(first, second)
    print("\n".join(diffs) if diffs else "identical")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
