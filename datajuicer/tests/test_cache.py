"""``@cachable`` semantics: keys, versions, statuses, re-runs, the fire-and-forget training-runner pattern."""

import json
import os

import pytest

import datajuicer as dj
from datajuicer import database, in_out


def _rows(cache_dir, table):
    return database.list_sessions(os.path.join(cache_dir, "sessions.db"), table)


def test_decorator_validates_and_keeps_the_function():
    def f(a, b=2):
        return a + b

    assert dj.cachable()(f) is f and f.dependencies == ["a", "b"] and f.table_name == "f" and f.version == "0"
    assert f(1) == 3  # a direct call does no caching
    with pytest.raises(
        ValueError, match=r"dependency 'c' does not name a parameter; parameters are \['a', 'b'\]"
    ):
        dj.cachable(dependencies=["c"])(f)
    with pytest.raises(ValueError, match="duplicate"):
        dj.cachable(dependencies=["a", "a"])(f)
    with pytest.raises(ValueError, match="custom saver needs an explicit loader and checker"):
        dj.cachable(saver=lambda *a: None)(f)
    with pytest.raises(ValueError, match="reserved"):
        dj.cachable(table_name="sqlite_master")(f)


def test_version_salt_invalidates_code_edits_do_not(cache_dir):
    calls = []

    def make(version, offset):
        @dj.cachable(table_name="score", version=version)
        def score(x):
            calls.append(version)
            return x + offset

        return score

    assert dj.run([{"x": 1}], make("1", 10), cache_dir=cache_dir)("{x}") == [11]
    assert dj.run([{"x": 1}], make("1", 99), cache_dir=cache_dir)("{x}") == [11]  # edited body, same version
    assert dj.run([{"x": 1}], make("2", 99), cache_dir=cache_dir)("{x}") == [100]
    assert calls == ["1", "2"] and [r["version"] for r in _rows(cache_dir, "score")] == ["1", "2"]


def test_failed_element_is_recorded_and_recomputed_under_the_same_sid(cache_dir):
    attempts = []

    @dj.cachable()
    def flaky(x):
        attempts.append(x)
        if len(attempts) == 1:
            raise RuntimeError("transient")
        return x

    with pytest.raises(RuntimeError, match="transient"):
        dj.run([{"x": 1}], flaky, cache_dir=cache_dir)("{x}")
    (row,) = _rows(cache_dir, "flaky")
    assert row["status"] == "failed" and "RuntimeError: transient" in row["error"]
    out = dj.run([{"x": 1}], flaky, cache_dir=cache_dir)("{x}")
    assert out == [1] and out.outcomes == ["recomputed"] and out.session_ids == [row["session_id"]]
    assert [r["status"] for r in _rows(cache_dir, "flaky")] == ["done"]


def test_force_adds_a_new_session_and_keeps_the_old(cache_dir):
    @dj.cachable()
    def g(x):
        return x

    first = dj.run([{"x": 1}], g, cache_dir=cache_dir)("{x}")
    forced = dj.run([{"x": 1}], g, run_mode="force", cache_dir=cache_dir)("{x}")
    later = dj.run([{"x": 1}], g, cache_dir=cache_dir)("{x}")
    assert forced.session_ids != first.session_ids and later.session_ids == forced.session_ids  # newest wins
    assert len(_rows(cache_dir, "g")) == 2


def test_loader_failure_warns_and_recomputes(cache_dir):
    @dj.cachable()
    def h(x):
        return x * 2

    sid = dj.run([{"x": 4}], h, cache_dir=cache_dir)("{x}").session_ids[0]
    broken_loader = h.loader
    h.loader = lambda *a: 1 / 0
    with pytest.warns(RuntimeWarning, match="loading session .* failed, recomputing: ZeroDivisionError"):
        out = dj.run([{"x": 4}], h, cache_dir=cache_dir)("{x}")
    h.loader = broken_loader
    assert out == [8] and out.outcomes == ["recomputed"] and out.session_ids == [sid]


def test_no_save_writes_nothing(cache_dir):
    seen = []

    @dj.cachable()
    def k(model):
        seen.append(model["session_id"])
        return 1

    assert dj.run([{"a": 1}], k, cache_mode="no_save", cache_dir=cache_dir)("{*}") == [1]
    assert 1_000_000_000 <= seen[0] <= 9_999_999_999 and not os.path.exists(cache_dir)


def test_metadata_sidecar(cache_dir):
    @dj.cachable(dependencies=["a"], version="3")
    def meta(a, log_dir):
        return a

    sid = dj.run([{"a": 7}], meta, cache_dir=cache_dir)("{a}", "/tmp/x").session_ids[0]
    with open(in_out.result_path(cache_dir, "meta", sid, "meta.json")) as fh:
        record = json.load(fh)
    assert record["status"] == "done" and record["dependencies"] == {"a": 7} and record["version"] == "3"
    assert record["session_id"] == sid and record["duration_s"] >= 0 and "git_commit" in record


def test_dependency_errors_name_the_element(cache_dir):
    @dj.cachable(dependencies=["fn"])
    def takes(fn):
        return 1

    with pytest.raises(TypeError, match=r"takes \(element 1\): dependencies\['fn'\] has type builtins\."):
        dj.run([{"f": 1}, {"f": print}], takes, cache_dir=cache_dir)("{f}")

    @dj.cachable(dependencies=["m:missing"])
    def needs(m):
        return 1

    with pytest.raises(KeyError, match="missing"):
        dj.run([{"a": 1}], needs, cache_dir=cache_dir)("{*}")
    with pytest.raises(TypeError, match=r"needs \(element 0\): cannot bind the arguments"):
        dj.run([{"a": 1}], needs, cache_dir=cache_dir)("{*}", "extra")


class FakeCluster:
    """The lead's training runner in miniature: submit (fire-and-forget), completion decided by files."""

    def __init__(self, root):
        self.root, self.submitted = root, []

    def path(self, sid):
        return os.path.join(self.root, f"{sid}_model.json")

    def make_runner(self):
        @dj.cachable(
            dependencies=["model:lr", "model:seed"],
            saver=None,
            loader=self.loader,
            checker=self.checker,
            table_name="speech_lsnn",
            version="1",
        )
        def train(model):
            info = dj.current_session()
            self.submitted.append((model["session_id"], info.reused, info.previous_status))

        return train

    def finish(self, sid):
        in_out.atomic_write_json(self.path(sid), {"training_accuracy": [0.5, 0.9]})

    def checker(self, sid, table, cache_dir):
        return os.path.exists(self.path(sid))

    def loader(self, sid, table, cache_dir):
        return {**in_out.read_json(self.path(sid)), "speech_lsnn_session_id": sid}


def test_fire_and_forget_runner_lifecycle(cache_dir, workdir):
    cluster = FakeCluster(str(workdir))
    train = cluster.make_runner()
    grid = [{"lr": 0.1, "seed": s, "data_dir": "/scratch"} for s in (0, 1)]
    launched = dj.run(grid, train, store_key="*", cache_dir=cache_dir)("{*}")
    assert (
        launched.counts() == {"computed": 2} and [e["session_id"] for e in launched] == launched.session_ids
    )
    assert [r["status"] for r in _rows(cache_dir, "speech_lsnn")] == ["done", "done"]  # saver=None: rows kept
    with pytest.raises(dj.NoSessionError, match=r'"model:lr":0.1,"model:seed":0.*the checker rejected it'):
        dj.run(grid, train, run_mode="load", store_key="*", cache_dir=cache_dir)("{*}")
    cluster.finish(launched.session_ids[0])
    again = dj.run(grid, train, store_key="*", cache_dir=cache_dir)("{*}")  # seed 1 not done: resubmitted
    assert again.outcomes == ["loaded", "recomputed"] and again.session_ids == launched.session_ids
    assert cluster.submitted[-1] == (launched.session_ids[1], True, "done")
    assert (
        again[0]["training_accuracy"] == [0.5, 0.9]
        and again[0]["speech_lsnn_session_id"] == again[0]["session_id"]
    )
    some = dj.run(grid, train, run_mode="load_any", store_key="*", cache_dir=cache_dir)("{*}")
    assert [e["seed"] for e in some] == [0] and some.outcomes == ["loaded", "missing"]
    assert dj.current_session() is None
