"""Result files: atomic writes, the JSON codec, corruption recovery, opt-in pickle (README "Lower-level
modules", "`@cachable`")."""

import math
import os

import pytest

import datajuicer as dj
from datajuicer import canonical, in_out


def test_codec_round_trips_tagged_values():
    np = pytest.importorskip("numpy")
    value = {
        "t": (1, 2.5),
        "s": {3, 1},
        "i": {1: "one", 2: "two"},
        "f": [float("inf"), -float("inf")],
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "__tuple__": "a user key that looks like a tag",
        "n": np.int64(7),
    }
    back = canonical.loads(canonical.dumps(value))
    assert back["t"] == (1, 2.5) and back["s"] == {1, 3} and back["i"] == {1: "one", 2: "two"}
    assert back["f"] == [math.inf, -math.inf] and back["__tuple__"] == value["__tuple__"] and back["n"] == 7
    assert back["a"].dtype == np.float32 and back["a"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert math.isnan(canonical.loads(canonical.dumps(float("nan"))))


def test_key_form_is_type_strict_but_tuple_equals_list():
    key = canonical.canonical_json
    assert len({key(1), key(1.0), key("1"), key(True)}) == 4
    assert key((1, 2)) == key([1, 2]) and key({"b": 1, "a": 2}) == '{"a":2,"b":1}'
    with pytest.raises(TypeError, match=r"value has type builtins.object"):
        key(object())


def test_atomic_write_replaces_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "sub" / "r.json"
    in_out.atomic_write_json(path, {"v": 1})
    in_out.atomic_write_json(path, {"v": 2})
    assert in_out.read_json(path) == {"v": 2} and os.listdir(tmp_path / "sub") == ["r.json"]

    with pytest.raises(TypeError):
        in_out.atomic_write_json(path, object())  # not encodable: fails before touching the file
    with pytest.raises(TypeError):
        in_out.atomic_write_bytes(path, None)  # fails while writing the temp file
    assert in_out.read_json(path) == {"v": 2} and os.listdir(tmp_path / "sub") == ["r.json"]


def test_safe_file_names_for_hostile_tables():
    assert in_out.safe_name("get_mismatch_list") == "get_mismatch_list"
    hostile = in_out.safe_name('x"; rm -rf / #$(id)')
    assert "/" not in hostile and '"' not in hostile and hostile != in_out.safe_name('x"; rm -rf / #$(idd)')


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupted_result_is_removed_and_recomputed(cache_dir, damage):
    calls = []

    @dj.cachable()
    def evaluate(x):
        calls.append(x)
        return {"acc": [0.1 * x] * 50}

    grid = [{"x": 1}, {"x": 2}]
    first = dj.run(grid, evaluate, cache_dir=cache_dir)("{x}")
    victim = in_out.result_path(cache_dir, "evaluate", first.session_ids[0], "json")
    with open(victim) as fh:
        text = fh.read()
    with open(victim, "w") as fh:
        fh.write({"truncate": text[: len(text) // 2], "garbage": "\x00\xff{", "empty": ""}[damage])
    with pytest.warns(RuntimeWarning, match="removing corrupted cache file"):
        again = dj.run(grid, evaluate, cache_dir=cache_dir)("{x}")
    assert again == first and again.outcomes == ["recomputed", "loaded"] and calls == [1, 2, 1]
    assert again.session_ids == first.session_ids  # the same session, rewritten in place
    assert in_out.read_json(victim) == first[0]  # and the other entry was never touched


def test_pickle_is_opt_in(cache_dir):
    class Point:
        def __init__(self, x):
            self.x = x

    @dj.cachable()
    def as_json(x):
        return Point(x)

    with pytest.raises(TypeError, match="no canonical JSON form"):
        dj.run([{"x": 1}], as_json, cache_dir=cache_dir)("{x}")

    @dj.cachable(saver=in_out.pickle_saver)
    def as_pickle(x):
        return (x, [x])

    dj.run([{"x": 1}], as_pickle, cache_dir=cache_dir)("{x}")
    assert as_pickle.loader is in_out.pickle_loader and as_pickle.checker is in_out.pickle_checker
    assert dj.run([{"x": 1}], as_pickle, cache_dir=cache_dir)("{x}") == [(1, [1])]


def test_make_dir_accepts_bare_file_names(workdir):
    in_out.make_dir("file.json")  # the original failed on dirname ""
    in_out.make_dir(os.path.join("a", "b", "file.json"))
    assert (workdir / "a" / "b").is_dir()
