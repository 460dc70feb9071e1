"""Command-line view of a session cache.

    python -m datajuicer [--cache-dir Sessions] tables
    python -m datajuicer [--cache-dir Sessions] list TABLE [KEY=VALUE ...] [--status done] [--json]

``KEY=VALUE`` filters on dependency values: ``KEY`` is a dependency name (``arg:key`` names may be given
as just ``key``), ``VALUE`` is parsed as JSON when possible (``a=1`` is the int 1, ``flag=true`` a bool,
``m=alpha`` or ``m='"1"'`` strings), and matching is type-strict like the cache itself. Exit status 2 for
bad usage, 1 when the table does not exist.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys

from datajuicer import canonical, database


def _parse_filter(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"filter {text!r} is not KEY=VALUE")
    key, raw = text.split("=", 1)
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def _format_rows(rows: list[dict]) -> str:
    lines = [f"{'session_id':<12} {'status':<8} {'started':<19} {'seconds':>8}  dependencies"]
    for row in rows:
        seconds = f"{(row['end_time'] - row['start_time']) / 1000:.1f}" if row["end_time"] else "-"
        deps = canonical.dumps_canonical(canonical.encode(row["dependencies"], for_key=True))
        lines.append(
            f"{row['session_id']:<12} {row['status']:<8} {_when(row['start_time']):<19} {seconds:>8}  {deps}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m datajuicer", description="List cached datajuicer sessions."
    )
    parser.add_argument(
        "--cache-dir", default="Sessions", help="directory holding sessions.db (default: Sessions)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("tables", help="list the tables (one per cachable function)")
    lister = sub.add_parser("list", help="list the sessions of one table")
    lister.add_argument("table")
    lister.add_argument("filters", nargs="*", type=_parse_filter, metavar="KEY=VALUE")
    lister.add_argument("--status", choices=["running", "done", "failed"])
    lister.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args(argv)
    db_file = os.path.join(args.cache_dir, "sessions.db")
    if args.command == "tables":
        for name in database.get_tables(db_file):
            print(name)
        return 0
    if args.table not in database.get_tables(db_file):
        print(f"no table {args.table!r} in {db_file}", file=sys.stderr)
        return 1
    rows = database.list_sessions(db_file, args.table, dict(args.filters), args.status)
    if args.json:
        for row in rows:
            print(canonical.dumps(row))
    else:
        print(_format_rows(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
