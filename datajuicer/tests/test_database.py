"""SQLite layer: quoted identifiers, bound values, hostile strings, WAL (README "Lower-level modules";
"Differences from the original", items 8–10)."""

import os
import sqlite3

import pytest

import datajuicer as dj
from datajuicer import database

HOSTILE = [
    'Robert"); DROP TABLE "add"; --',
    "it's; rm -rf ~ && echo $(whoami) `id` | cat > /tmp/x",
    "{not a template}",
    "tab\tnew\nline ünïcødé \\ backslash",
    "add",
]


def test_hostile_table_name_and_values_round_trip(cache_dir):
    calls = []
    table = HOSTILE[0] + HOSTILE[1]

    @dj.cachable(table_name=table)
    def store(v, w):
        calls.append(v)
        return [v, w]

    grid = [{"v": dj.Literal(v), "w": i} for i, v in enumerate(HOSTILE)]
    first = dj.run(grid, store, cache_dir=cache_dir)("{v}", "{w}")
    second = dj.run(grid, store, cache_dir=cache_dir)("{v}", "{w}")
    assert first == second == [[v, i] for i, v in enumerate(HOSTILE)]
    assert second.outcomes == ["loaded"] * len(HOSTILE) and len(calls) == len(HOSTILE)
    db = os.path.join(cache_dir, "sessions.db")
    assert database.get_tables(db) == [table]
    rows = database.list_sessions(db, table, where={"v": HOSTILE[1]})
    assert [r["dependencies"] for r in rows] == [{"v": HOSTILE[1], "w": 1}]
    assert database.select(db, "session_id", table, {"v": HOSTILE[0], "status": "done"}) == [
        first.session_ids[0]
    ]


def test_generic_helpers_bind_values_and_grow_columns(tmp_path):
    db = str(tmp_path / "generic.db")
    database.insert(db, "add", {"a": 1, "name": 'x"y', "session_id": 5}, primary_key="session_id")
    database.insert(
        db, "add", {"a": 2, "name": "a", "session_id": 6, "extra": [1, 2]}, primary_key="session_id"
    )
    assert database.select(db, "session_id", "add", {"name": 'x"y'}) == [5]
    assert database.select(db, "session_id", "add", {"name": "a"}) == [6]  # a value equal to a column name
    assert database.select(db, "extra", "add", {"extra": None}) == [None]
    assert database.select(db, "session_id", "add", order_by="session_id") == [6, 5]
    assert (
        database.select(db, "session_id", "no such table") == []
        and database.select(str(tmp_path / "none.db"), "a", "t") == []
    )
    with pytest.raises(KeyError, match="has no column"):
        database.select(db, "session_id", "add", {"nope": 1})
    assert database.remove(db, "add", "name", 'x"y') == 1 and database.select(db, "a", "add") == [2]
    assert database.get_tables(db) == ["add"]


def test_wal_mode_and_identifier_quoting(cache_dir):
    @dj.cachable(table_name="select")
    def sql_keyword(x):
        return x

    dj.run([{"x": 1}], sql_keyword, cache_dir=cache_dir)("{x}")
    conn = sqlite3.connect(os.path.join(cache_dir, "sessions.db"))
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert database.quote_ident('a"b') == '"a""b"'
    with pytest.raises(ValueError, match="NUL"):
        database.quote_ident("a\x00b")


def test_foreign_schema_is_refused(cache_dir):
    database.insert(os.path.join(cache_dir, "sessions.db"), "old", {"a": 1, "session_id": 1, "start_time": 0})

    @dj.cachable(table_name="old")
    def old(a):
        return a

    with pytest.raises(RuntimeError, match="not a datajuicer session table"):
        dj.run([{"a": 1}], old, cache_dir=cache_dir)("{a}")
