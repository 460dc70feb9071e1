"""SQLite storage for sessions (README "Lower-level modules" and "`@cachable`", "Rows and statuses"), with the
original's bugs fixed.

* Identifiers are always quoted (``"`` doubled) and every value is a bound parameter: no SQL text is
  ever built from a grid value, so quotes, semicolons, ``inf``/``nan`` or a value equal to a column name
  are stored and matched literally (README "Differences from the original", items 8, 9).
* Connections use WAL mode and a busy timeout (``BUSY_TIMEOUT_SECONDS``); writers that must not race use
  ``BEGIN IMMEDIATE`` (:func:`transaction`). Errors are raised, not swallowed; only "no such table" reads
  as "no rows".
* **Session tables** (one per cachable function, named by its ``table_name``) have a fixed, schema-free
  layout: the dependency values live in one canonical-JSON column, so a new dependency never needs an
  ``ALTER TABLE`` (README "Differences from the original", items 10, 11). Columns: ``SESSION_COLUMNS``.
* The generic helpers ``select``/``insert``/``remove``/``get_tables`` keep the original names. ``select``
  on a session table also filters on dependency names (exact, type-strict match on the JSON values).

WAL needs a local file system: on NFS/GPFS keep ``cache_dir`` on node-local disk or set
``JOURNAL_MODE = "DELETE"`` (README "Concurrency").
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from datajuicer import canonical

BUSY_TIMEOUT_SECONDS = 60.0
JOURNAL_MODE = "WAL"
REGISTRY = "_datajuicer_session_ids"  # every session id ever drawn, across tables (ids name artefacts)
SESSION_COLUMNS = {
    "session_id": "INTEGER PRIMARY KEY",
    "cache_key": "TEXT NOT NULL",  # sha256 of canonical JSON (table, version, dependencies)
    "version": "TEXT NOT NULL",
    "dependencies": "TEXT NOT NULL",  # canonical JSON object {dependency name: value}
    "status": "TEXT NOT NULL",  # running | done | failed
    "owner": "TEXT",  # host:pid:token of the process holding (or last holding) the claim
    "heartbeat": "REAL",  # epoch seconds, refreshed while running
    "start_time": "INTEGER",  # epoch ms (as in the original)
    "end_time": "INTEGER",  # epoch ms
    "git_commit": "TEXT",
    "error": "TEXT",
}
_prepared: set[str] = set()
_prepared_lock = threading.Lock()
_connections = threading.local()  # pid, {absolute path: (connection, (st_dev, st_ino))}


def quote_ident(name: str) -> str:
    """``name`` as an SQL identifier (any text except NUL)."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise ValueError(f"invalid SQL identifier {name!r}: need a non-empty str without NUL")
    return '"' + name.replace('"', '""') + '"'


def check_table_name(name: str) -> str:
    """Reject names SQLite or this module reserve; return ``name``."""
    quote_ident(name)
    if name.lower().startswith(("sqlite_", "_datajuicer")):
        raise ValueError(f"table name {name!r} is reserved (prefixes 'sqlite_' and '_datajuicer')")
    return name


def _open(db_file: str) -> sqlite3.Connection:
    os.makedirs(os.path.dirname(os.path.abspath(db_file)), exist_ok=True)
    conn = sqlite3.connect(
        db_file, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA synchronous=NORMAL")  # with WAL: consistent after a crash, far fewer fsyncs
    key = os.path.abspath(db_file)
    with _prepared_lock:  # one thread of this process switches the journal mode; the others wait for it
        if key not in _prepared:
            _set_journal_mode(conn)
            _prepared.add(key)
    return conn


def _set_journal_mode(conn: sqlite3.Connection) -> None:
    """``PRAGMA journal_mode``, retried while another process holds the lock. SQLite answers a journal-mode
    change that meets a concurrent one with "database is locked" at once, without waiting out the busy
    timeout, so two processes opening a fresh database together would otherwise fail."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    delay = 0.005
    while True:
        try:
            conn.execute(f"PRAGMA journal_mode={JOURNAL_MODE}")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def quick_check(db_file: str) -> str | None:
    """Why ``db_file`` is not a sound SQLite database (``PRAGMA quick_check`` failed or raised), or None
    (also None when the file does not exist: a fresh database is created on first use)."""
    if not os.path.exists(db_file):
        return None
    try:
        conn = sqlite3.connect(db_file, timeout=BUSY_TIMEOUT_SECONDS)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
        finally:
            conn.close()
    except sqlite3.DatabaseError as err:
        return str(err)
    return None if rows == ["ok"] else "; ".join(map(str, rows[:3]))


def recover_if_corrupt(db_file: str) -> str | None:
    """If ``db_file`` fails :func:`quick_check`, move it (and its ``-wal``/``-shm``) aside to
    ``<db_file>.corrupt-<UTC time>``, say so on stderr and return that path; a fresh database is created on
    the next use. None when the database is sound."""
    problem = quick_check(db_file)
    if problem is None:
        return None
    aside = f"{db_file}.corrupt-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db_file + suffix):
            os.replace(db_file + suffix, aside + suffix)
    _prepared.discard(os.path.abspath(db_file))
    print(
        f"datajuicer: the sessions database {db_file} is corrupt ({problem}); moved it to {aside} and "
        "started a fresh one",
        file=sys.stderr,
        flush=True,
    )
    return aside


def connect(db_file: str) -> sqlite3.Connection:
    """This thread's connection to ``db_file`` (autocommit, busy timeout, WAL), reused across calls.

    Reuse avoids a WAL checkpoint on every close; a connection is reopened after ``fork`` or when the
    file was deleted or replaced (someone removed ``Sessions/`` to start afresh).
    """
    path = os.path.abspath(db_file)
    cache = getattr(_connections, "by_path", None)
    if cache is None or _connections.pid != os.getpid():
        cache = _connections.by_path = {}
        _connections.pid = os.getpid()
    try:
        st = os.stat(path)
        ident = (st.st_dev, st.st_ino)
    except FileNotFoundError:
        ident = None
    entry = cache.get(path)
    if entry is not None and ident is not None and entry[1] == ident:
        return entry[0]
    if entry is not None:
        entry[0].close()
    conn = _open(path)
    st = os.stat(path)
    cache[path] = (conn, (st.st_dev, st.st_ino))
    return conn


@contextlib.contextmanager
def transaction(db_file: str) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error): one writer at a time across processes."""
    conn = connect(db_file)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # never leave this thread's cached connection inside a transaction
            conn.execute("ROLLBACK")
        raise


@contextlib.contextmanager
def reading(db_file: str) -> Iterator[sqlite3.Connection | None]:
    """A connection for reads, or ``None`` when the database file does not exist (nothing cached yet)."""
    yield connect(db_file) if os.path.exists(db_file) else None


def table_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    """Column names of ``table`` ([] if it does not exist)."""
    return [r["name"] for r in conn.execute(f"PRAGMA table_info({quote_ident(table)})")]


def _sql_value(value: Any) -> Any:
    """Bindable form: numbers/str/bytes/None as they are; containers as canonical JSON text."""
    value = canonical._numpy_scalar(value)
    if value is None or isinstance(value, (int, float, str, bytes)):
        return str(value) if isinstance(value, str) else value
    return canonical.canonical_json(value)


def _where(where: dict, columns: list[str]) -> tuple[str, list]:
    clauses, params = [], []
    for name, value in where.items():
        if value is None:
            clauses.append(f"{quote_ident(name)} IS NULL")
        else:
            clauses.append(f"{quote_ident(name)} = ?")
            params.append(_sql_value(value))
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def dependency_matches(dependencies: dict, where: dict) -> bool:
    """Type-strict match of decoded dependency values; a where-name may omit the ``arg:`` prefix."""
    for name, value in where.items():
        found = [v for k, v in dependencies.items() if k == name or k.split(":", 1)[-1] == name]
        want = canonical.canonical_json(value)
        if not any(canonical.canonical_json(v) == want for v in found):
            return False
    return True


def select(
    db_file: str, column: str, table: str, where: dict | None = None, order_by: str | None = None
) -> list:
    """Values of ``column`` for rows matching ``where`` (newest ``order_by`` first); [] if no table/db."""
    where = dict(where or {})
    with reading(db_file) as conn:
        if conn is None or not (columns := table_columns(conn, table)):
            return []
        in_sql = {k: v for k, v in where.items() if k in columns}
        in_json = {k: v for k, v in where.items() if k not in columns}
        if in_json and "dependencies" not in columns:
            raise KeyError(f"table {table!r} in {db_file} has no column(s) {sorted(in_json)}")
        clause, params = _where(in_sql, columns)
        extra = ', "dependencies"' if in_json else ""
        sql = f"SELECT {quote_ident(column)}{extra} FROM {quote_ident(table)}{clause}"
        if order_by:
            sql += f" ORDER BY {quote_ident(order_by)} DESC"
        rows = conn.execute(sql, params).fetchall()
    if in_json:
        rows = [r for r in rows if dependency_matches(canonical.loads(r["dependencies"]), in_json)]
    return [r[0] for r in rows]


def insert(db_file: str, table: str, row: dict, primary_key: str | None = None) -> None:
    """Insert ``row``; creates the table (types from this row) and adds columns it does not have yet."""
    types = {int: "INTEGER", float: "REAL", bool: "INTEGER"}
    with transaction(db_file) as conn:
        columns = table_columns(conn, table)
        if not columns:
            defs = [
                f"{quote_ident(k)} {types.get(type(v), 'TEXT')}"
                + (" PRIMARY KEY" if k == primary_key else "")
                for k, v in row.items()
            ]
            conn.execute(f"CREATE TABLE {quote_ident(table)} ({', '.join(defs)})")
        for k, v in row.items():
            if columns and k not in columns:
                conn.execute(
                    f"ALTER TABLE {quote_ident(table)} ADD COLUMN {quote_ident(k)} "
                    f"{types.get(type(v), 'TEXT')}"
                )
        names = ", ".join(quote_ident(k) for k in row)
        marks = ", ".join("?" for _ in row)
        conn.execute(
            f"INSERT INTO {quote_ident(table)} ({names}) VALUES ({marks})",
            [_sql_value(v) for v in row.values()],
        )


def remove(db_file: str, table: str, key_name: str, value: Any) -> int:
    """Delete rows whose ``key_name`` equals ``value``; returns the number of rows deleted."""
    with transaction(db_file) as conn:
        if not table_columns(conn, table):
            return 0
        cur = conn.execute(
            f"DELETE FROM {quote_ident(table)} WHERE {quote_ident(key_name)} = ?", [_sql_value(value)]
        )
        return cur.rowcount


def get_tables(db_file: str) -> list[str]:
    """User tables of the database (no ``sqlite_*``/``_datajuicer*`` internals); [] if there is no file."""
    with reading(db_file) as conn:
        if conn is None:
            return []
        names = [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
    return [n for n in names if not n.lower().startswith(("sqlite_", "_datajuicer"))]


# ------------------------------------------------------------------------------------------ session tables
def _session_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    """Columns of an existing session table ([] if absent); a table with another schema is an error."""
    columns = table_columns(conn, table)
    if columns and not set(SESSION_COLUMNS) <= set(columns):
        raise RuntimeError(
            f"table {table!r} exists with columns {columns}, not a datajuicer session table "
            "(made by the original datajuicer?); use another table_name or cache_dir"
        )
    return columns


def ensure_session_table(conn: sqlite3.Connection, table: str) -> None:
    """Create the session table (and the id registry) if needed; refuse a table with another schema."""
    if not _session_columns(conn, table):
        defs = ", ".join(f"{quote_ident(k)} {t}" for k, t in SESSION_COLUMNS.items())
        conn.execute(f"CREATE TABLE IF NOT EXISTS {quote_ident(table)} ({defs})")
        conn.execute(
            f"CREATE INDEX IF NOT EXISTS {quote_ident(table + '__cache_key')} "
            f"ON {quote_ident(table)} (cache_key)"
        )
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {REGISTRY} (session_id INTEGER PRIMARY KEY, table_name TEXT NOT NULL)"
    )


def session_rows(conn: sqlite3.Connection | None, table: str, cache_key: str) -> list[dict]:
    """All rows for one cache key, newest first ([] without a database or table)."""
    if conn is None or not _session_columns(conn, table):
        return []
    sql = f"SELECT * FROM {quote_ident(table)} WHERE cache_key = ? ORDER BY start_time DESC, session_id DESC"
    return [dict(r) for r in conn.execute(sql, [cache_key])]


def register_session_id(conn: sqlite3.Connection, table: str, sid: int) -> bool:
    """Reserve ``sid`` globally (inside the caller's transaction); False if it is already taken."""
    cur = conn.execute(
        f"INSERT OR IGNORE INTO {REGISTRY} (session_id, table_name) VALUES (?, ?)", [sid, table]
    )
    return cur.rowcount == 1


def insert_session(conn: sqlite3.Connection, table: str, row: dict) -> None:
    names = ", ".join(quote_ident(k) for k in row)
    marks = ", ".join("?" for _ in row)
    conn.execute(f"INSERT INTO {quote_ident(table)} ({names}) VALUES ({marks})", list(row.values()))


def add_done_session(db_file: str, table: str, row: dict) -> bool:
    """Record an already computed session (``row``: session_id, cache_key, version, dependencies JSON, ...)
    as ``done``; False (nothing written) when its session id is taken."""
    with transaction(db_file) as conn:
        ensure_session_table(conn, table)
        if not register_session_id(conn, table, row["session_id"]):
            return False
        insert_session(conn, table, {"status": "done", **row})
    return True


def update_session(
    conn: sqlite3.Connection, table: str, sid: int, fields: dict, owner: str | None = None
) -> int:
    """Set ``fields`` on row ``sid`` (only while ``owner`` still holds it, if given); returns rows changed."""
    sets = ", ".join(f"{quote_ident(k)} = ?" for k in fields)
    sql = f"UPDATE {quote_ident(table)} SET {sets} WHERE session_id = ?"
    params = [*fields.values(), sid]
    if owner is not None:
        sql += " AND owner = ?"
        params.append(owner)
    return conn.execute(sql, params).rowcount


def list_sessions(
    db_file: str, table: str, where: dict | None = None, status: str | None = None
) -> list[dict]:
    """Rows of a session table (oldest first) with ``dependencies`` decoded, filtered by dependency values."""
    with reading(db_file) as conn:
        if conn is None or not table_columns(conn, table):
            return []
        rows = [
            dict(r)
            for r in conn.execute(f"SELECT * FROM {quote_ident(table)} ORDER BY start_time, session_id")
        ]
    out = []
    for row in rows:
        row["dependencies"] = canonical.loads(row["dependencies"])
        if (status is None or row["status"] == status) and dependency_matches(
            row["dependencies"], where or {}
        ):
            out.append(row)
    return out
