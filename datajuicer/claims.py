"""Who is computing what: claim owners, liveness, heartbeats, and waiting for another process.

A claim is a session row with ``status='running'``, ``owner='<host>:<pid>:<token>'`` and a ``heartbeat``
(epoch seconds) that a daemon thread of the owning process refreshes every ``HEARTBEAT_SECONDS``. A claim
is **dead** when its heartbeat is older than ``STALE_AFTER_SECONDS``, or, on the same host, as soon as its
pid no longer exists (or is a zombie). Dead claims are taken over by the next process that needs the entry.
The per-process random token keeps a recycled pid from impersonating a dead owner.

Settings are module attributes (tests and clusters may change them); the environment variables
``DATAJUICER_HEARTBEAT_SECONDS`` and ``DATAJUICER_STALE_AFTER_SECONDS`` set their initial values.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import threading
import time
import warnings

from datajuicer import database

HEARTBEAT_SECONDS = float(os.environ.get("DATAJUICER_HEARTBEAT_SECONDS", "10"))
STALE_AFTER_SECONDS = float(os.environ.get("DATAJUICER_STALE_AFTER_SECONDS", "120"))
POLL_MAX_SECONDS = 1.0  # longest sleep between two looks at a claim we wait for
WAIT_TIMEOUT_SECONDS: float | None = None  # None: wait as long as the owner is alive

_identity: tuple[int, str] | None = None
_active: dict[tuple[str, str, int], str] = {}  # (db_file, table, sid) -> owner, for the heartbeat thread
_lock = threading.Lock()
_wake = threading.Event()
_thread: threading.Thread | None = None
_commit: list = []


def owner_id() -> str:
    """``host:pid:token`` of this process (a new token after ``fork``)."""
    global _identity
    pid = os.getpid()
    if _identity is None or _identity[0] != pid:
        _identity = (pid, f"{socket.gethostname()}:{pid}:{secrets.token_hex(4)}")
    return _identity[1]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"  # a zombie has finished
    except OSError:
        return True


def is_alive(owner: str | None, heartbeat: float | None, now: float | None = None) -> bool:
    """Whether a running claim's owner may still be computing (see the module docstring)."""
    if not owner:
        return False
    if owner == owner_id():
        return True  # another thread of this very process
    now = time.time() if now is None else now
    if heartbeat is None or now - heartbeat > STALE_AFTER_SECONDS:
        return False
    host, pid, _token = (owner.rsplit(":", 2) + ["", ""])[:3]
    if host == socket.gethostname() and pid.isdigit():
        # Our own pid with another token is an earlier process that had the same pid (e.g. a restarted
        # container): it is gone.
        return int(pid) != os.getpid() and _pid_alive(int(pid))
    return True


def git_commit() -> str | None:
    """HEAD of the git checkout in the current directory (once per process), or None."""
    if not _commit:
        try:
            out = subprocess.run(
                ["git", "rev-parse", "HEAD"], check=False, capture_output=True, text=True, timeout=10
            )
            _commit.append(out.stdout.strip() if out.returncode == 0 else None)
        except (OSError, subprocess.SubprocessError):
            _commit.append(None)
    return _commit[0]


def _beat_once() -> None:
    with _lock:
        claims = dict(_active)
    now = time.time()
    for (db_file, table, sid), owner in claims.items():
        try:
            with database.transaction(db_file) as conn:
                database.update_session(conn, table, sid, {"heartbeat": now}, owner=owner)
        except Exception as err:  # noqa: BLE001 - a missed beat is survivable; the next one retries
            warnings.warn(f"datajuicer: heartbeat for {table!r} session {sid} failed: {err}", RuntimeWarning)


def _beat_forever() -> None:
    while True:
        _wake.wait(HEARTBEAT_SECONDS)
        _wake.clear()
        _beat_once()


def hold(db_file: str, table: str, sid: int, owner: str) -> None:
    """Keep the heartbeat of this claim fresh until :func:`release`."""
    global _thread
    with _lock:
        _active[(db_file, table, sid)] = owner
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_beat_forever, name="datajuicer-heartbeat", daemon=True)
            _thread.start()
    _wake.set()  # beat now, and pick up a changed HEARTBEAT_SECONDS


def release(db_file: str, table: str, sid: int) -> None:
    with _lock:
        _active.pop((db_file, table, sid), None)


def wait_while_running(db_file: str, table: str, sid: int, what: str) -> None:
    """Block until session ``sid`` is no longer a live running claim (done, failed, or owner dead)."""
    start, delay = time.monotonic(), 0.05
    while True:
        with database.reading(db_file) as conn:
            row = conn.execute(
                f"SELECT status, owner, heartbeat FROM {database.quote_ident(table)} WHERE session_id = ?",
                [sid],
            ).fetchone()
        if row is None or row["status"] != "running" or not is_alive(row["owner"], row["heartbeat"]):
            return
        if WAIT_TIMEOUT_SECONDS is not None and time.monotonic() - start > WAIT_TIMEOUT_SECONDS:
            raise TimeoutError(
                f"{what}: session {sid} of table {table!r} is still being computed by "
                f"{row['owner']} after {WAIT_TIMEOUT_SECONDS} s"
            )
        time.sleep(delay)
        delay = min(delay * 2, POLL_MAX_SECONDS)
