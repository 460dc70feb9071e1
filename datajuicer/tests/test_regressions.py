"""Regression tests for the README's "Differences from the original": each asserts the fixed behaviour, which
differs from what the original was observed to do (quoted in each docstring)."""

import math
import os
import random

import pytest

import datajuicer as dj


def _db(cache_dir):
    return os.path.join(cache_dir, "sessions.db")


def test_bug1_keyword_templates_resolved_per_element(cache_dir):
    """Original: ``run([{v:1},{v:2},{v:3}], show)(x="{v}")`` returned [1, 1, 1]."""
    grid = [{"v": 1}, {"v": 2}, {"v": 3}]
    assert dj.run(grid, lambda x: x)(x="{v}") == [1, 2, 3]
    assert dj.run(grid, lambda x: x, n_threads=3)(x="{v}") == [1, 2, 3]


def test_bug2_store_key_honoured_for_plain_functions():
    """Original: ``store_key`` was ignored without @cachable and returned [10, 20]."""
    out = dj.run([{"x": 1}, {"x": 2}], lambda x: x * 10, store_key="y")("{x}")
    assert out == [{"x": 1, "y": 10}, {"x": 2, "y": 20}]
    assert out.outcomes == ["called", "called"] and out.session_ids == [None, None]


def test_bug3_make_unique_deduplicates():
    """Original: a no-op; ``[{a:1},{a:1},{a:2}]`` came back unchanged."""
    assert dj.make_unique([{"a": 1}, {"a": 1}, {"a": 2}]) == [{"a": 1}, {"a": 2}]

    def make():  # like <Arch>.make(): a fresh closure per call, equal by qualified name
        def train(model):
            return model

        return {"lr": 0.1, "train": train}

    assert len(dj.make_unique([make(), make(), {**make(), "lr": 0.2}])) == 2
    assert dj.make_unique([{"a": 1}, {"a": 1.0}, {"a": True}, {"a": "1"}]) == [
        {"a": 1},
        {"a": 1.0},
        {"a": True},
        {"a": "1"},
    ]
    assert dj.make_unique([{"a": 1, "s": 0}, {"a": 1, "s": 1}], keys=["a"]) == [{"a": 1, "s": 0}]


def test_bug4_shape_independent_of_cache_state_and_none_merge(cache_dir):
    """Original: ``session_id`` only on a fresh compute; ``store_key="*"`` with None raised TypeError."""

    @dj.cachable(saver=None)
    def launch(model):
        return None

    first = dj.run([{"a": 3}], launch, store_key="*", cache_dir=cache_dir)("{*}")
    second = dj.run([{"a": 3}], launch, store_key="*", cache_dir=cache_dir)("{*}")
    assert first == second == [{"a": 3, "session_id": first[0]["session_id"]}]
    assert first.outcomes == ["computed"] and second.outcomes == ["loaded"]


def test_bug5_cache_hit_without_loader_gives_none(cache_dir):
    """Original: ``loader=None`` plus a cache hit raised UnboundLocalError."""

    @dj.cachable(loader=None)
    def f(x):
        return x + 1

    assert dj.run([{"x": 1}], f, cache_dir=cache_dir)("{x}") == [2]
    assert dj.run([{"x": 1}], f, cache_dir=cache_dir)("{x}") == [None]


def test_bug6_numeric_arg_key_dependencies(cache_dir):
    """Original: ``"arg:0"`` crashed with AttributeError: 'int' object has no attribute 'split'."""
    calls = []

    @dj.cachable(dependencies=["pair:0", "table:1"])
    def first(pair, table):
        calls.append(pair)
        return pair[0]

    grid = [{"p": [1, 9], "t": {1: "one"}}, {"p": [1, 8], "t": {1: "one"}}, {"p": [2, 9], "t": {1: "one"}}]
    assert dj.run(grid, first, cache_dir=cache_dir)("{p}", "{t}") == [1, 1, 2]
    assert len(calls) == 2  # [1, 8] shares the key of [1, 9]: only index 0 is a dependency


def test_bug7_query_no_match_and_heterogeneous_where():
    """Original: no match raised IndexError; a ``where`` key missing from an element raised KeyError."""
    grid = [{"m": "A", "acc": 0.5}, {"m": "B", "acc": 0.9, "eps_pga": 0.1}]
    assert dj.query(grid, "acc", where={"m": "C"}) == []
    assert dj.query(grid, "acc", where={"eps_pga": 0.1}) == [0.9]
    assert dj.split(grid, "s", [0, 1], where={"eps_pga": 0.1}) == [
        grid[0],
        {**grid[1], "s": 0},
        {**grid[1], "s": 1},
    ]
    assert dj.configure(grid, {"x": 1}, where={"eps_pga": 0.1})[0] == grid[0]
    with pytest.raises(KeyError, match="eps_pgx"):  # missing from every element: a typo, not a filter
        dj.query(grid, "acc", where={"eps_pgx": 0.1})


def test_bug8_value_equal_to_a_dependency_name_does_not_alias(cache_dir):
    """Original: after ``q("alpha")``, ``q("s")`` returned 'result for alpha' (``"s"`` read as a column)."""

    @dj.cachable()
    def q(s):
        return f"result for {s}"

    assert dj.run([{"v": "alpha"}], q, cache_dir=cache_dir)("{v}") == ["result for alpha"]
    assert dj.run([{"v": "s"}], q, cache_dir=cache_dir)("{v}") == ["result for s"]


def test_bug9_quotes_inf_nan_values(cache_dir):
    """Original: a value containing ``"`` was an SQL syntax error; ``inf``/``nan`` produced invalid SQL."""
    calls = []

    @dj.cachable()
    def echo(v):
        calls.append(v)
        return v

    values = ['say "hi"', "it's", float("inf"), float("nan"), -float("inf")]
    grid = [{"v": v} for v in values]
    first = dj.run(grid, echo, cache_dir=cache_dir)("{v}")
    second = dj.run(grid, echo, cache_dir=cache_dir)("{v}")
    assert second.outcomes == ["loaded"] * 5 and len(calls) == 5
    assert first[:3] == second[:3] == values[:3] and math.isnan(second[3]) and second[4] == -math.inf


def test_bug10_and_11_new_dependency_needs_no_schema_change(cache_dir):
    """Original: the schema froze at the first insert (``table evo has no column named b``), and column
    names depended on the other dependencies (``["m:x", "x"]`` renamed the first column)."""

    @dj.cachable(dependencies=["a"], table_name="evo")
    def evo_v1(a, b):
        return a

    @dj.cachable(dependencies=["a", "b", "m:x"], table_name="evo")
    def evo_v2(a, b, m):
        return a + b

    dj.run([{"a": 1, "b": 2}], evo_v1, cache_dir=cache_dir)("{a}", "{b}")
    out = dj.run([{"a": 1, "b": 2, "m": {"x": 5}}], evo_v2, cache_dir=cache_dir)("{a}", "{b}", "{m}")
    assert out == [3] and out.outcomes == ["computed"]
    rows = dj.database.list_sessions(_db(cache_dir), "evo")
    assert [r["dependencies"] for r in rows] == [{"a": 1}, {"a": 1, "b": 2, "m:x": 5}]


def test_bug13_reduce_keys_group_by_skips_keys_missing_somewhere():
    """Original: deleted from ``group_by`` while iterating it, which could skip entries."""
    grid = [
        {"m": "A", "x": 1, "y": 1, "acc": 0.5},
        {"m": "A", "acc": 0.7, "y": 1},
        {"m": "B", "y": 1, "acc": 0.9},
    ]
    out = dj.reduce_keys(grid, "acc", {"mean": lambda v: sum(v) / len(v)})
    assert out == [{"m": "A", "y": 1, "acc_mean": pytest.approx(0.6)}, {"m": "B", "y": 1, "acc_mean": 0.9}]


def test_bug14_empty_templates_zero_arg_calls_and_cache_dir_without_slash(workdir):
    """Original: ``""``, ``"{}"`` and ``"{g()}"`` raised IndexError; ``cache_dir="Sessions"`` raised
    FileNotFoundError."""
    assert dj.format_template({}, "") == ""
    assert dj.format_template({"g": lambda: 42}, "{g()}") == 42
    with pytest.raises(dj.TemplateError, match="empty key"):
        dj.format_template({}, "{}")

    @dj.cachable()
    def one(x):
        return x

    assert dj.run([{"x": 1}], one, cache_dir="NoSlash")("{x}") == [1]
    assert os.path.exists(workdir / "NoSlash" / "sessions.db")


def test_types_do_not_alias(cache_dir):
    """Original: after ``si(1)``, ``si("1")`` hit the cache and returned the int 1 (SQLite affinity)."""

    @dj.cachable()
    def si(v):
        return [type(v).__name__, v]

    grid = [{"v": 1}, {"v": "1"}, {"v": True}, {"v": 1.0}]
    first = dj.run(grid, si, cache_dir=cache_dir)("{v}")
    assert first == [["int", 1], ["str", "1"], ["bool", True], ["float", 1.0]]
    again = dj.run(grid, si, cache_dir=cache_dir)("{v}")
    assert again.outcomes == ["loaded"] * 4 and [type(x[1]) for x in again] == [int, str, bool, float]


def test_global_random_state_untouched(cache_dir):
    """Original: ``random.seed()`` reseeded the global RNG on every new session."""

    @dj.cachable()
    def f(x):
        return x

    random.seed(1234)
    expected = [random.random() for _ in range(3)]
    random.seed(1234)
    dj.run([{"x": i} for i in range(3)], f, cache_dir=cache_dir)("{x}")
    assert [random.random() for _ in range(3)] == expected


def test_unknown_modes_are_errors():
    """Original: any other ``run_mode`` acted as "normal"; another ``cache_mode`` left orphan files."""
    with pytest.raises(ValueError, match="run_mode='nromal'"):
        dj.run([{}], print, run_mode="nromal")
    with pytest.raises(ValueError, match="cache_mode='nosave'"):
        dj.run([{}], print, cache_mode="nosave")
