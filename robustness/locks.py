"""Exactly-once launches: ``train.py`` claims each model it is about to train or submit.

A claim is an exclusive ``flock`` on ``<cache_dir>/training/<session id>.lock``; the file says who holds it
(pid, host, start time, command). The operating system drops the lock when the holder dies, so a claim
of a killed ``train.py`` is never stale: the next ``train.py`` simply takes it. In direct mode the training
process inherits the locked descriptor, so the model stays claimed while its training runs even if the
``train.py`` that started it is killed. bsub/sbatch: the claim covers the submission; afterwards the queue
record (``<log_dir>/<sid>.submit.json``, asked with squeue/bjobs) says the model is taken.

Two ``train.py`` that share a sessions database therefore never train one model twice: the second one
skips the models the first one holds and says so (README "Reliability guarantees").
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from datajuicer.claims import _pid_alive

FOLDER = "training"  # under the sessions database directory


@dataclass
class Claim:
    session_id: int
    path: Path
    fd: int


def lock_path(cache_dir, session_id: int) -> Path:
    return Path(cache_dir) / FOLDER / f"{int(session_id)}.lock"


def holder(path: Path) -> dict:
    """What the lock file says about its holder (``{}`` when unreadable or empty)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def try_claim(cache_dir, session_id: int) -> Claim | dict:
    """The claim on ``session_id``, or — when another live process holds it — what its lock file says."""
    path = lock_path(cache_dir, session_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return holder(path) or {"pid": "?"}
        try:  # the file may have been released and removed between our open and our lock: lock the new one
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
          "argv": sys.argv}  # fmt: skip
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(me).encode(), 0)
    return Claim(int(session_id), path, fd)


def release(claim: Claim) -> None:
    """Remove the lock file (while still holding it, so nobody locks a removed file) and drop the lock."""
    try:
        if os.stat(claim.path).st_ino == os.fstat(claim.fd).st_ino:
            os.unlink(claim.path)
    except OSError:
        pass
    os.close(claim.fd)


def describe_holder(info: dict) -> str:
    """``pid N (host, since T)`` for messages; says so when that ``train.py`` has exited but the training
    process it started still holds the claim."""
    where = ", ".join(str(info[k]) for k in ("host", "since") if info.get(k))
    pid, text = info.get("pid", "?"), f"pid {info.get('pid', '?')}" + (f" ({where})" if where else "")
    if info.get("host") == socket.gethostname() and isinstance(pid, int) and not _pid_alive(pid):
        text += ", which has exited; the training process it started is still running"
    return text
