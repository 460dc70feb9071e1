"""Grid operations (README "Grids"): the observed results of the original plus the documented fixes."""

import pytest

import datajuicer as dj

G = [{"m": "A", "acc": 0.5, "s": 0}, {"m": "A", "acc": 0.7, "s": 1}, {"m": "B", "acc": 0.9, "s": 0}]


def mean(values):
    return sum(values) / len(values)


def test_query_observed_results():
    assert dj.query(G, "acc", where={"m": "A"}) == [0.5, 0.7]
    assert dj.query(G, "acc", group_by="m") == ([{"m": "A"}, {"m": "B"}], [[0.5, 0.7], [0.9]])
    assert dj.query(G, ["acc", "s"], where={"m": "A"}) == {"acc": [0.5, 0.7], "s": [0, 1]}


def test_query_reductions_flatten_and_lookup():
    groups, results = dj.query(
        G, "acc", group_by=["m"], reduction={"mean": mean, "n": len}, flatten_reductions=True
    )
    assert groups == [{"m": "A"}, {"m": "B"}]
    assert results == [{"acc_mean": pytest.approx(0.6), "acc_n": 2}, {"acc_mean": 0.9, "acc_n": 1}]
    lookup = dj.query(G, "acc", group_by="m", reduction=max, return_func=True)
    assert lookup({"m": "A"}) == 0.7 and lookup({"m": "B", "other": 1}) == 0.9
    with pytest.raises(KeyError, match="no group"):
        lookup({"m": "C"})


def test_query_star_selects_common_keys_and_empty_results():
    assert dj.query([{"a": 1, "b": 2}, {"a": 3}], "*") == {"a": [1, 3]}
    assert dj.query(G, ["acc", "s"], where={"m": "Z"}) == {"acc": [], "s": []}
    with pytest.raises(LookupError, match="nothing to reduce"):
        dj.query(G, "acc", where={"m": "Z"}, reduction=max)
    with pytest.raises(KeyError, match="'acx'"):
        dj.query(G, "acx")


def test_query_reads_through_templates():
    grid = [{"x": 2, "y": "{x}"}, {"x": 3, "y": "{x}"}]
    assert dj.query(grid, "y", where={"y": 3}) == [3]


def test_reduce_keys_observed_and_default_group_by():
    assert dj.reduce_keys(G, "acc", {"mean": mean}, group_by=["m"]) == [
        {"m": "A", "acc_mean": pytest.approx(0.6)},
        {"m": "B", "acc_mean": 0.9},
    ]
    by_all = dj.reduce_keys(G, ["acc"], {"max": max}, where={"s": 0})
    assert by_all == [{"m": "A", "s": 0, "acc_max": 0.5}, {"m": "B", "s": 0, "acc_max": 0.9}]
    assert dj.reduce_keys([], "acc", {"mean": mean}) == []


def test_split_configure_accept_a_dict_and_never_mutate():
    base = {"a": 1}
    assert dj.split(base, "b", [1, 2]) == [{"a": 1, "b": 1}, {"a": 1, "b": 2}]
    grid = [base]
    out = dj.configure(grid, {"a": 2, "t": "{a}"})
    assert out == [{"a": 2, "t": "{a}"}] and base == {"a": 1} and out[0] is not base  # values stay raw
    assert dj.split([{"a": 1}], "b", []) == []  # no values: a matching element disappears


def test_where_compares_arrays_without_crashing():
    np = pytest.importorskip("numpy")
    grid = [{"w": np.zeros(3), "k": 1}, {"w": np.ones(3), "k": 2}]
    assert dj.query(grid, "k", where={"k": 2}) == [2]
    assert dj.make_unique(grid) == grid  # arrays compared by value (canonical JSON)
    assert len(dj.make_unique([grid[0], {"w": np.zeros(3), "k": 1}])) == 1
