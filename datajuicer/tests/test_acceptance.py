"""The original README examples with their exact output, and acceptance checks (store_key, {*}, split order,
where, run_mode load/load_any/force, no_save, dependency templates)."""

import os

import pytest

import datajuicer as dj
from datajuicer.tests.conftest import run_python

ADD_SCRIPT = """
import datajuicer as dj

@dj.cachable()
def add(a, b):
    print("calculating...")
    return a + b

grid = [{}]
grid = dj.split(grid, "a", [1,2,3])
grid = dj.split(grid, "b", [10,20,30])
print(dj.run(grid, add)("{a}", "{b}"))
grid.append({"a":1, "b":1})
print(dj.run(grid, add)("{a}", "{b}"))
"""


def test_readme_example_1_print(workdir, capsys):
    grid = [{"text": "hi", "number": 1}, {"text": "hello", "number": 2}]
    assert dj.run(grid, print)("{text} {number}") == [None, None]
    assert capsys.readouterr().out == "hi 1\nhello 2\n"


def test_readme_example_2_function_from_key(workdir, capsys):
    grid = [
        {"text": "hi", "number": 1, "func": (lambda x: print("logging", x))},
        {"text": "hello", "number": 2, "func": print},
    ]
    assert dj.run(grid, "func")("{text} {number}") == [None, None]
    assert capsys.readouterr().out == "logging hi 1\nhello 2\n"


def test_readme_example_3_favourites(workdir, capsys):
    grid = [
        {"mood": "good", "topic": "food", "fav_food": "cheese"},
        {"mood": "lousy", "topic": "drink", "fav_drink": "juice"},
    ]

    def say(mood, msg):
        return "Today is a great day! I just want to say: " + msg if mood == "good" else msg

    grid = dj.configure(
        grid, {"say": say, "favorites": "{say({mood},My favorite {topic} is {fav_{topic}}.)}"}
    )
    assert dj.run(grid, print)("{favorites}") == [None, None]
    assert capsys.readouterr().out == (
        "Today is a great day! I just want to say: My favorite food is cheese.\nMy favorite drink is juice.\n"
    )


def test_readme_example_4_cachable_add_across_processes(workdir):
    first = run_python(ADD_SCRIPT, cwd=workdir)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[:9] == ["calculating..."] * 9
    assert lines[9] == "[11, 21, 31, 12, 22, 32, 13, 23, 33]"
    assert lines[10:] == ["calculating...", "[11, 21, 31, 12, 22, 32, 13, 23, 33, 2]"]
    again = run_python(ADD_SCRIPT, cwd=workdir)  # a new process: everything comes from the cache
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [
        "[11, 21, 31, 12, 22, 32, 13, 23, 33]",
        "[11, 21, 31, 12, 22, 32, 13, 23, 33, 2]",
    ]
    files = os.listdir(workdir / "Sessions")
    assert "sessions.db" in files
    assert len([f for f in files if f.startswith("add_") and f.endswith(".json") and "meta" not in f]) == 10
    assert (
        len(dj.database.list_sessions(str(workdir / "Sessions" / "sessions.db"), "add", status="done")) == 10
    )


def test_store_key_star_merges_into_copies(cache_dir):
    grid = [{"a": 1}, {"a": 2}]
    out = dj.run(grid, lambda a: {"double": 2 * a, "a": -a}, store_key="*")("{a}")
    assert out == [{"a": -1, "double": 2}, {"a": -2, "double": 4}]
    assert grid == [{"a": 1}, {"a": 2}]


@dj.cachable(dependencies=["a", "b"])
def _total(a, b):
    return a + b


def test_store_key_name_cachable_includes_session_id_fresh_and_loaded(cache_dir):
    grid = [{"a": 1, "b": 10}, {"a": 1, "b": 20}]
    fresh = dj.run(grid, _total, store_key="sum", cache_dir=cache_dir)("{a}", "{b}")
    loaded = dj.run(grid, _total, store_key="sum", cache_dir=cache_dir)("{a}", "{b}")
    assert [{k: v for k, v in e.items() if k != "session_id"} for e in fresh] == [
        {"a": 1, "b": 10, "sum": 11},
        {"a": 1, "b": 20, "sum": 21},
    ]
    assert fresh == loaded  # same shape, same session ids (README "Differences from the original", item 4)
    assert all(1_000_000_000 <= e["session_id"] <= 9_999_999_999 for e in fresh)
    assert fresh.outcomes == ["computed", "computed"] and loaded.outcomes == ["loaded", "loaded"]


def test_star_indirection_and_calls(workdir):
    seen = []
    element = {
        "x": 3,
        "y": "Y",
        "topic": "food",
        "fav_food": "cheese",
        "f": lambda *a: seen.append(a) or "ok",
    }
    assert dj.format_template(element, "{*}") is element
    assert dj.format_template(element, "{fav_{topic}}") == "cheese"
    assert dj.format_template(element, "{f({x},text {y})}") == "ok"
    assert seen == [(3, "text Y")]  # the raw int and the formatted text


def test_split_is_element_major_and_where_limits_it():
    grid = dj.split([{"m": "A"}, {"m": "B"}], "s", [0, 1])
    assert grid == [{"m": "A", "s": 0}, {"m": "A", "s": 1}, {"m": "B", "s": 0}, {"m": "B", "s": 1}]
    only_a = dj.split([{"m": "A"}, {"m": "B"}], "s", [0, 1], where={"m": "A"})
    assert only_a == [{"m": "A", "s": 0}, {"m": "A", "s": 1}, {"m": "B"}]
    configured = dj.configure(grid, {"lr": 0.1}, where={"s": 1})
    assert [e.get("lr") for e in configured] == [None, 0.1, None, 0.1]


def test_run_modes_load_load_any_force_no_save(cache_dir):
    calls = []

    @dj.cachable()
    def square(x):
        calls.append(x)
        return x * x

    dj.run([{"x": 2}], square, cache_dir=cache_dir)("{x}")
    with pytest.raises(dj.NoSessionError, match=r"element 1 of table 'square'.*\{\"x\":3\}"):
        dj.run([{"x": 2}, {"x": 3}], square, run_mode="load", cache_dir=cache_dir)("{x}")
    some = dj.run([{"x": 2}, {"x": 3}], square, run_mode="load_any", cache_dir=cache_dir)("{x}")
    assert some == [4] and some.outcomes == ["loaded", "missing"]
    forced = dj.run([{"x": 2}], square, run_mode="force", cache_dir=cache_dir)("{x}")
    assert forced == [4] and calls == [2, 2]
    assert dj.run([{"x": 5}], square, cache_mode="no_save", cache_dir=cache_dir)("{x}") == [25]
    assert dj.run([{"x": 5}], square, run_mode="load_any", cache_dir=cache_dir)("{x}") == []
    assert calls == [2, 2, 5]


def test_template_dependency_resolves_per_element_and_ignores_other_args(cache_dir):
    calls = []

    @dj.cachable(dependencies=["model:{architecture}_session_id", "level"])
    def evaluate(model, level, data_dir):
        calls.append((model["architecture"], level, data_dir))
        return level

    grid = [{"architecture": "cnn", "cnn_session_id": 11}, {"architecture": "lsnn", "lsnn_session_id": 22}]
    dj.run(grid, evaluate, cache_dir=cache_dir)("{*}", 0.1, "/data/one")
    again = dj.run(grid, evaluate, cache_dir=cache_dir)("{*}", 0.1, "/elsewhere")  # data_dir is no dependency
    assert again.outcomes == ["loaded", "loaded"] and len(calls) == 2
    rows = dj.database.list_sessions(os.path.join(cache_dir, "sessions.db"), "evaluate")
    assert [r["dependencies"]["model:{architecture}_session_id"] for r in rows] == [11, 22]
