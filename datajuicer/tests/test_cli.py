"""``python -m datajuicer``: list tables and sessions, filtered by dependency values."""

import json

import datajuicer as dj
from datajuicer.__main__ import main
from datajuicer.tests.conftest import run_python


def _fill(cache_dir):
    @dj.cachable(dependencies=["model:lr", "seed"], table_name='speech "lsnn"; --')
    def train(model, seed):
        return seed

    grid = dj.split([{"lr": 0.1}, {"lr": 0.01}], "seed", [0, 1])
    return dj.run(grid, train, cache_dir=cache_dir)("{*}", "{seed}")


def test_tables_and_filtered_listing(cache_dir, capsys):
    out = _fill(cache_dir)
    assert main(["--cache-dir", cache_dir, "tables"]) == 0
    assert capsys.readouterr().out == 'speech "lsnn"; --\n'
    assert main(["--cache-dir", cache_dir, "list", 'speech "lsnn"; --', "lr=0.01", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["dependencies"] for r in rows] == [{"model:lr": 0.01, "seed": 0}, {"model:lr": 0.01, "seed": 1}]
    assert [r["session_id"] for r in rows] == out.session_ids[2:]
    assert main(["--cache-dir", cache_dir, "list", 'speech "lsnn"; --', "seed=1", "model:lr=0.1"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 2 and table[1].startswith(str(out.session_ids[1])) and " done " in table[1]
    assert main(["--cache-dir", cache_dir, "list", 'speech "lsnn"; --', 'seed="1"']) == 0  # str "1" ≠ int 1
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_cli_in_a_subprocess_and_errors(cache_dir, workdir):
    _fill(cache_dir)
    proc = run_python(
        "import sys, runpy; sys.argv = ['datajuicer', 'list', 'missing']; "
        "runpy.run_module('datajuicer', run_name='__main__')",
        cwd=workdir,
    )
    assert proc.returncode == 1 and "no table 'missing'" in proc.stderr
    ok = run_python(
        "import sys, runpy; sys.argv = ['datajuicer', '--cache-dir', 'Sessions', 'list', "
        "'speech \"lsnn\"; --', '--status', 'done']; runpy.run_module('datajuicer', run_name='__main__')",
        cwd=workdir,
    )
    assert ok.returncode == 0 and len(ok.stdout.splitlines()) == 5
