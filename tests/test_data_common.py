"""The shared data layer: the verified on-disk cache, batching helpers, dispatch and the summary command."""

import json

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from robustness import data, datasets
from robustness.configs import TrainConfig


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(datasets.CACHE_ENV, str(tmp_path))
    return tmp_path


def test_cache_roundtrip_is_keyed_by_settings_and_atomic(cache_dir):
    arrays = {"a": np.arange(12, dtype=np.int16).reshape(3, 4), "b": np.linspace(0, 1, 5, dtype=np.float32)}
    path = datasets.cache_path("kind", {"x": 1, "y": [2, 3]})
    assert path.parent == cache_dir and path.name.startswith("kind-")
    assert datasets.cache_path("kind", {"y": [2, 3], "x": 1}) == path  # key is order-independent
    assert datasets.cache_path("kind", {"x": 2, "y": [2, 3]}) != path
    datasets.write_cache(path, arrays, {"x": 1, "y": [2, 3]})
    assert sorted(p.name for p in cache_dir.iterdir()) == [path.name]  # no temp file left behind
    assert (path.stat().st_mode & 0o777) == 0o644
    loaded = datasets.read_cache(path, {"x": 1, "y": [2, 3]})
    assert set(loaded) == {"a", "b"}
    np.testing.assert_array_equal(loaded["a"], arrays["a"])
    assert loaded["b"].dtype == np.float32
    with pytest.warns(UserWarning, match="settings differ"):
        assert datasets.read_cache(path, {"x": 1, "y": [2, 4]}) is None


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_corrupt_cache_is_detected_and_rebuilt(cache_dir, damage):
    calls = []

    def build():
        calls.append(1)
        return {"v": np.arange(100_000, dtype=np.int32)}

    settings = {"k": damage}
    first = datasets.cached("t", settings, build)
    path = datasets.cache_path("t", settings)
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    elif damage == "flip":  # one byte in the middle of the array payload: only the SHA-256 notices
        raw[len(raw) // 2] ^= 0xFF
    else:
        raw = bytearray(b"not a zip file")
    path.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="corrupt"):
        again = datasets.cached("t", settings, build)
    assert len(calls) == 2
    np.testing.assert_array_equal(again["v"], first["v"])
    assert datasets.read_cache(path, settings) is not None  # rewritten intact


def test_epoch_batches_are_pure_permutations_per_epoch():
    n, bs = 1003, 100  # 10 steps per epoch, the last 3 examples of each epoch's permutation are dropped
    epoch0 = np.concatenate([datasets.epoch_batch_indices(7, s, bs, n, 5) for s in range(10)])
    assert epoch0.size == 1000 and np.unique(epoch0).size == 1000 and epoch0.max() < n
    np.testing.assert_array_equal(
        datasets.epoch_batch_indices(7, 3, bs, n, 5), epoch0[300:400]
    )  # resume = same
    epoch1 = np.concatenate([datasets.epoch_batch_indices(7, s, bs, n, 5) for s in range(10, 20)])
    assert np.unique(epoch1).size == 1000 and not np.array_equal(epoch0, epoch1)
    assert not np.array_equal(datasets.epoch_batch_indices(8, 0, bs, n, 5), epoch0[:100])  # seed matters
    assert not np.array_equal(datasets.epoch_batch_indices(7, 0, bs, n, 6), epoch0[:100])  # stream matters
    with pytest.raises(ValueError, match="exceeds"):
        datasets.epoch_batch_indices(0, 0, 2000, n, 5)


@pytest.mark.parametrize(
    "n,test_size,expected_test", [(180_000, 0.2, 36_000), (2677, 0.2, 536), (536, 0.5, 268)]
)
def test_sklearn_split_matches_train_test_split(n, test_size, expected_test):
    train, test = datasets.sklearn_split(n, test_size, 42)
    ref_train, ref_test = train_test_split(np.arange(n), test_size=test_size, random_state=42)
    np.testing.assert_array_equal(train, ref_train)
    np.testing.assert_array_equal(test, ref_test)
    assert test.size == expected_test and train.size == n - expected_test


def test_class_counts_and_ceil_percent():
    assert datasets.class_counts(np.array([0, 2, 2, 3]), ["a", "b", "c", "d"]) == {
        "a": 1,
        "b": 0,
        "c": 2,
        "d": 1,
    }
    assert datasets.ceil_percent(1893, 10.0) == 190 and datasets.ceil_percent(210, 10.0) == 21
    assert datasets.ceil_percent(297, 10.0) == 30 and datasets.ceil_percent(0, 10.0) == 0


def test_load_dataset_rejects_unknown_config():
    with pytest.raises(TypeError, match="TrainConfig"):
        data.load_dataset(TrainConfig())


def test_summary_command_prints_each_dataset(cache_dir, mitdb_dir, capsys):
    assert data.main(["ecg", "-seed=3", "-json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dataset"] == "ecg" and set(out["splits"]) == {"train", "validation", "test"}
    sizes = [out["splits"][s]["size"] for s in ("train", "validation", "test")]
    assert sizes == [sum(out["splits"][s]["counts"].values()) for s in ("train", "validation", "test")]
    assert data.main(["ecg"]) == 0
    text = capsys.readouterr().out
    for split in ("train", "validation", "test"):
        assert f"{split:<10} {out['splits'][split]['size']:>7}   N=" in text
    assert data.main(["nonsense"]) == 2


def test_summary_command_reports_missing_data_without_traceback(cache_dir, tmp_path, monkeypatch, capsys):
    empty = tmp_path / "no_fmnist"
    empty.mkdir()
    monkeypatch.setenv("FASHION_MNIST_DIR", str(empty))
    monkeypatch.setattr("CNN.fashion_mnist.SYSTEM_DIR", empty)
    monkeypatch.setattr("CNN.fashion_mnist.BASE_URL", "http://127.0.0.1:9/")  # refused at once: offline
    monkeypatch.setattr("CNN.fashion_mnist._has_tfds", lambda: False)
    assert data.main(["fashion_mnist", "-json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert "could not download" in out["error"] and str(empty) in out["error"]
