"""Running training processes for ``train.py``: which earlier jobs are still queued (``squeue``/``bjobs``),
grouping seeds into one vmapped process, and starting the jobs (in a thread pool for parallel direct runs).

A ``Job`` is one process: its argv (``launch.launch_argv``), the session ids it trains (a seed group is
logged and recorded under its first id) and a label for messages.
"""

from __future__ import annotations

import concurrent.futures
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import architectures as A
from robustness import artifacts, files, locks, paths
from robustness.launch import LaunchError, LaunchSettings, launch_argv, log_path, python_argv, submit

# squeue states after which a job can no longer write its model; any other state counts as queued
SLURM_DONE = {"COMPLETED", "COMPLETING", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED"}
SLURM_DONE |= {"OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "SPECIAL_EXIT"}
LSF_ACTIVE = {"PEND", "RUN", "PSUSP", "USUSP", "SSUSP", "WAIT", "PROV"}


@dataclass(frozen=True)
class Job:
    argv: list[str]
    session_ids: list[int]
    label: str


def still_queued(sid: int, log_dir, warned: set) -> bool:
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


def claim(pending: list[dict], dirs: paths.Dirs, log_dir, *, say: Callable, warned: set):
    """``(to launch, claims by session id, skipped)``: each model is claimed (``robustness.locks``) before it is
    launched; one that another ``train.py`` holds is skipped and said so, and one that became trained or
    queued while we planned (the other process finished it) is released and skipped."""
    keep, held, skipped = [], {}, 0
    for p in pending:
        sid, what = p["session_id"], A.describe(p["model"])
        got = locks.try_claim(dirs.cache_dir, sid)
        if not isinstance(got, locks.Claim):
            say(f"{what}: session {sid} is being trained by {locks.describe_holder(got)}; skipped")
            skipped += 1
            continue
        if artifacts.results_complete(dirs.resources_dir, sid, p["model"]["architecture"]) or still_queued(
            sid, log_dir, warned
        ):
            locks.release(got)
            say(f"{what}: session {sid} was trained or submitted by another train.py meanwhile; skipped")
            skipped += 1
            continue
        keep.append(p)
        held[sid] = got
    return keep, held, skipped


def waves(pending: list[dict], settings: LaunchSettings, resources_dir, *, dry_run: bool, say: Callable):
    """Yield ``pending`` in waves: first the models whose warm-start parent is trained (``"after"`` None),
    then — in direct mode, once a wave has run — the children of the parents it trained, and so on. A child
    whose parent did not finish is not launched (said why); bsub/sbatch jobs are fire-and-forget, so their
    children wait for the next ``train.py`` (said so)."""
    remaining = list(pending)
    ready: set[int] = set()
    while remaining:
        wave = [p for p in remaining if p.get("after") is None or p["after"] in ready]
        if not wave:
            break
        remaining = [p for p in remaining if p not in wave]
        yield wave
        if settings.mode != "direct":
            break
        ready |= {
            p["session_id"]
            for p in wave
            if dry_run
            or artifacts.results_complete(resources_dir, p["session_id"], p["model"]["architecture"])
        }
    for p in remaining:
        why = (
            "run train.py again once it has finished"
            if settings.mode != "direct"
            else "it did not finish, so this model was not launched"
        )
        say(f"{A.describe(p['model'])}: session {p['session_id']} continues from session {p['after']}: {why}")


def group_seeds(pending: list[dict], size: int) -> list[list[dict]]:
    """Models identical except ``seed`` (and their ``-init_from`` parent, one per seed) go together, ``size``
    at a time (seed order); grid order otherwise."""
    buckets: dict[str, list[dict]] = {}
    for p in pending:
        key = {k: v for k, v in p["model"].items() if k not in ("seed", "train", "session_id", "init_from")}
        buckets.setdefault(json.dumps(key, sort_keys=True), []).append(p)
    out = []
    for members in buckets.values():
        members.sort(key=lambda p: p["model"]["seed"])
        out += [members[i : i + size] for i in range(0, len(members), size)]
    return out


def make_jobs(groups: list[list[dict]], settings: LaunchSettings, resources_dir) -> list[Job]:
    """One job per seed group: the script and its flags (``architectures.command_flags``) as an argv."""
    here = Path.cwd().resolve() == paths.REPO_ROOT  # print the original's relative main_*.py
    out = []
    for members in groups:
        model, sids = members[0]["model"], [m["session_id"] for m in members]
        code = model["code_file"] if here else str(paths.REPO_ROOT / model["code_file"])
        flags = A.command_flags([m["model"] for m in members], sids, settings.mode, resources_dir)
        argv = launch_argv(python_argv(code, flags, settings), sids[0], settings)
        out.append(Job(argv=argv, session_ids=sids, label=A.describe(model)))
    return out


def run_jobs(
    jobs: list[Job],
    settings: LaunchSettings,
    *,
    n_threads: int,
    dry_run: bool,
    say: Callable,
    held: dict[int, locks.Claim] | None = None,
):
    """Start every job; ``(models launched, processes/jobs, failures)``. Direct runs with ``n_threads > 1``
    run in a thread pool; scheduler submissions stop at the first refusal (the next would be refused too).
    ``held``: the claims (:func:`claim`); a direct training inherits its models' locks, and each claim is
    released once its job has ended (direct) or been submitted (bsub/sbatch)."""
    held = {} if held is None else held

    def one(job: Job) -> str | None:
        sid = job.session_ids[0]
        say(f"{job.label}: session(s) {','.join(map(str, job.session_ids))} (log {log_path(sid, settings)})")
        tee = settings.mode == "direct" and n_threads == 1
        mine = [held.pop(s) for s in job.session_ids if s in held]
        try:
            result = submit(
                job.argv, session_id=sid, settings=settings, dry_run=dry_run, tee=tee, check=False,
                pass_fds=[c.fd for c in mine],
            )  # fmt: skip
        finally:
            for c in mine:
                locks.release(c)
        if not dry_run:
            _record_group(result.log_path, job.session_ids)
        if result.returncode != 0:
            return f"sessions {job.session_ids} exited with {result.returncode} (log {result.log_path})"
        return None

    launched = sum(len(job.session_ids) for job in jobs)
    if settings.mode == "direct" and n_threads > 1 and not dry_run:
        with concurrent.futures.ThreadPoolExecutor(n_threads) as pool:
            results = list(pool.map(one, jobs))
        return launched, len(jobs), [r for r in results if r]
    failures, started = [], 0
    for job in jobs:
        try:
            failure = one(job)
        except LaunchError as err:
            return sum(len(j.session_ids) for j in jobs[:started]), started, failures + [str(err)]
        started += 1
        failures += [failure] if failure else []
    return launched, started, failures


def _record_group(log: Path, sids: list[int]) -> None:
    """Copy ``<sid0>.submit.json`` to every session of a group, so each sid's queue state can be asked."""
    record = json.loads(log.with_name(f"{log.stem}.submit.json").read_text())
    for sid in sids:
        files.write_json(
            log.with_name(f"{sid}.submit.json"), {**record, "session_id": str(sid), "session_ids": sids}
        )
