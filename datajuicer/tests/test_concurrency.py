"""Several processes (and threads) on one cache: each element is computed exactly once; dead claims are
taken over; live ones are waited for (README "Concurrency")."""

import json
import os
import signal
import sqlite3
import subprocess
import threading
import time

import pytest

import datajuicer as dj
from datajuicer import canonical, claims, database
from datajuicer.tests.conftest import child_env, python_argv

WORKER = """
import json, os, sys, time
import datajuicer as dj

@dj.cachable(table_name="work")
def work(x):
    with open("calls.log", "a") as fh:  # O_APPEND: one whole line per call
        fh.write(f"{x} {os.getpid()}\\n")
    time.sleep(float(os.environ.get("WORK_SECONDS", "0.15")))
    return x * x

while not os.path.exists("go"):
    time.sleep(0.005)
out = dj.run([{"x": i} for i in range(int(os.environ["N"]))], work, cache_dir="Sessions")("{x}")
print(json.dumps({"out": list(out), "outcomes": out.outcomes, "sids": out.session_ids}))
"""


def _start(workdir, **env):
    return subprocess.Popen(
        python_argv(WORKER),
        cwd=workdir,
        env=child_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(proc, timeout=60):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return json.loads(out)


def test_three_processes_compute_each_element_once(workdir):
    procs = [_start(workdir, N="6") for _ in range(3)]
    (workdir / "go").touch()
    results = [_result(p) for p in procs]
    calls = (workdir / "calls.log").read_text().split("\n")[:-1]
    assert sorted(int(line.split()[0]) for line in calls) == [0, 1, 2, 3, 4, 5]  # exactly once each
    for r in results:
        assert r["out"] == [0, 1, 4, 9, 16, 25]
        assert r["sids"] == results[0]["sids"]  # everyone sees the same sessions
    computed = sum(r["outcomes"].count("computed") for r in results)
    assert computed == 6 and sum(r["outcomes"].count("loaded") for r in results) == 12
    rows = database.list_sessions(str(workdir / "Sessions" / "sessions.db"), "work")
    assert len(rows) == 6 and {r["status"] for r in rows} == {"done"}


def test_claim_of_a_killed_process_is_taken_over_by_a_waiting_one(workdir):
    victim = _start(workdir, N="1", WORK_SECONDS="120")
    (workdir / "go").touch()
    while not (workdir / "calls.log").exists():
        time.sleep(0.01)
    waiter = _start(workdir, N="1", WORK_SECONDS="0")
    time.sleep(0.5)  # the waiter is now polling the victim's live claim
    assert waiter.poll() is None
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    result = _result(waiter)
    assert result["out"] == [0] and result["outcomes"] == ["recomputed"]
    (row,) = database.list_sessions(str(workdir / "Sessions" / "sessions.db"), "work")
    assert row["status"] == "done" and row["session_id"] == result["sids"][0]
    assert len((workdir / "calls.log").read_text().splitlines()) == 2


def _foreign_claim(cache_dir, heartbeat_age):
    """A running row owned by a process on another host, as left by a cluster node."""

    @dj.cachable(table_name="remote")
    def remote(x):
        return x + 100

    key = canonical.cache_key("remote", "0", {"x": 1})
    db = os.path.join(cache_dir, "sessions.db")
    with database.transaction(db) as conn:
        database.ensure_session_table(conn, "remote")
        database.insert_session(
            conn,
            "remote",
            {
                "session_id": 1234567890,
                "cache_key": key,
                "version": "0",
                "dependencies": '{"x":1}',
                "status": "running",
                "owner": "node-17.cluster:4242:abcd",
                "heartbeat": time.time() - heartbeat_age,
                "start_time": 0,
            },
        )
    return remote


def test_live_remote_claim_is_waited_for(cache_dir, monkeypatch):
    remote = _foreign_claim(cache_dir, heartbeat_age=1)
    monkeypatch.setattr(claims, "WAIT_TIMEOUT_SECONDS", 0.3)
    with pytest.raises(TimeoutError, match="still being computed by node-17.cluster:4242:abcd"):
        dj.run([{"x": 1}], remote, cache_dir=cache_dir)("{x}")


def test_stale_remote_claim_is_taken_over(cache_dir, monkeypatch):
    monkeypatch.setattr(claims, "STALE_AFTER_SECONDS", 30)
    remote = _foreign_claim(cache_dir, heartbeat_age=31)
    out = dj.run([{"x": 1}], remote, cache_dir=cache_dir)("{x}")
    assert out == [101] and out.outcomes == ["recomputed"] and out.session_ids == [1234567890]


def test_threads_with_duplicate_elements_compute_once(cache_dir):
    calls = []

    @dj.cachable()
    def dup(x):
        calls.append(x)
        time.sleep(0.1)
        return -x

    out = dj.run([{"x": 1}] * 4, dup, n_threads=4, cache_dir=cache_dir)("{x}")
    assert (
        out == [-1] * 4
        and calls == [1]
        and sorted(out.outcomes) == ["computed", "loaded", "loaded", "loaded"]
    )


def test_heartbeat_is_refreshed_while_computing(cache_dir, monkeypatch):
    monkeypatch.setattr(claims, "HEARTBEAT_SECONDS", 0.05)
    beats = []
    db = os.path.join(cache_dir, "sessions.db")

    @dj.cachable()
    def long(x):
        sid = dj.current_session().session_id
        for _ in range(3):
            time.sleep(0.15)
            with database.reading(db) as conn:
                beats.append(
                    conn.execute('SELECT heartbeat FROM "long" WHERE session_id = ?', [sid]).fetchone()[0]
                )
        return x

    dj.run([{"x": 1}], long, cache_dir=cache_dir)("{x}")
    assert beats[0] < beats[1] < beats[2]


def test_owner_liveness_rules(monkeypatch):
    now = time.time()
    me = claims.owner_id()
    host, pid, _ = me.rsplit(":", 2)
    assert claims.is_alive(me, now - 10_000, now)  # another thread of this process
    assert not claims.is_alive(f"{host}:{pid}:othertoken", now, now)  # our pid, earlier process
    assert not claims.is_alive(f"{host}:99999999:tok", now, now)  # no such pid here
    assert claims.is_alive(f"{host}:{os.getppid()}:tok", now, now)  # a live process on this host
    assert claims.is_alive("elsewhere:1:tok", now - 5, now)
    monkeypatch.setattr(claims, "STALE_AFTER_SECONDS", 4)
    assert not claims.is_alive("elsewhere:1:tok", now - 5, now) and not claims.is_alive(None, now, now)


def test_threads_opening_a_fresh_database_together_all_get_through(tmp_path):
    """Opening a fresh database switches it to WAL, and SQLite answers a switch that meets a concurrent one
    with an immediate "database is locked" (no busy wait). The code before the fix fails this test (it also
    failed CI once, in test_threads_with_duplicate_elements_compute_once)."""
    failures = []
    for trial in range(400):
        db = str(tmp_path / f"s{trial}.db")
        barrier = threading.Barrier(4)

        def worker(t, db=db, barrier=barrier):
            barrier.wait()
            try:
                with database.transaction(db) as conn:
                    conn.execute("CREATE TABLE IF NOT EXISTS t (w INTEGER)")
                    conn.execute("INSERT INTO t VALUES (?)", (t,))
            except sqlite3.OperationalError as err:
                failures.append((trial, repr(err)))

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []
    conn = database.connect(str(tmp_path / "s399.db"))
    assert sorted(r[0] for r in conn.execute("SELECT w FROM t")) == [0, 1, 2, 3]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


RACER = """
import os, sys, time
from datajuicer import database
while not os.path.exists("go"):
    time.sleep(0.001)
for i in range(int(sys.argv[1])):
    with database.transaction(f"s{i}.db") as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t (w INTEGER)")
        conn.execute("INSERT INTO t VALUES (?)", (os.getpid(),))
"""


def test_processes_opening_fresh_databases_together_all_succeed(tmp_path):
    """Four processes open the same 150 fresh databases in the same order at the same time: each process
    switches each file's journal mode itself (no shared in-process lock), and every insert lands."""
    procs = [
        subprocess.Popen(python_argv(RACER) + ["150"], cwd=tmp_path, env=child_env(), stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    time.sleep(1.5)  # all four interpreters are up and waiting
    (tmp_path / "go").touch()
    errors = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    pids = sorted(p.pid for p in procs)
    for i in (0, 75, 149):
        conn = sqlite3.connect(tmp_path / f"s{i}.db")
        assert sorted(r[0] for r in conn.execute("SELECT w FROM t")) == pids
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()


class _LockedConnection:
    """Answers ``PRAGMA journal_mode`` with the given errors first (as SQLite does when another process
    switches the mode at the same moment), then succeeds."""

    def __init__(self, *errors):
        self.errors, self.calls = list(errors), 0

    def execute(self, sql):
        assert sql == f"PRAGMA journal_mode={database.JOURNAL_MODE}"
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)


def test_journal_mode_switch_retries_only_while_locked(monkeypatch):
    conn = _LockedConnection(*[sqlite3.OperationalError("database is locked")] * 3)
    database._set_journal_mode(conn)
    assert conn.calls == 4  # three locked answers, then the switch
    conn = _LockedConnection(sqlite3.OperationalError("disk I/O error"))
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        database._set_journal_mode(conn)  # any other error at once
    assert conn.calls == 1
    monkeypatch.setattr(database, "BUSY_TIMEOUT_SECONDS", 0.05)  # locked for good: gives up after the timeout
    conn = _LockedConnection(*[sqlite3.OperationalError("database is locked")] * 1000)
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        database._set_journal_mode(conn)
    assert 0.05 <= time.monotonic() - started < 2 and 2 <= conn.calls < 1000
