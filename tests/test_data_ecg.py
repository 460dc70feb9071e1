"""MIT-BIH on the 27 real records: beat table, report-era windowing, splits, errors."""

import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ECG import records
from ECG.dataset import beat_window, extract_beats, split_by_beat
from robustness import artifacts, evaluation
from robustness import cached_evaluation as ce
from robustness.tasks import EcgConfig, make_task
from robustness.data import load_dataset
from robustness.datasets import CACHE_ENV, DataError

# SOURCE.md: annotation symbol totals over the 27 records
SOURCE_TOTALS = {"N": 39016, "L": 8075, "R": 7259, "V": 6680}


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    patch = pytest.MonkeyPatch()
    patch.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("ecg_cache")))
    yield
    patch.undo()


@pytest.fixture(scope="module")
def dataset(mitdb_dir):
    return load_dataset(EcgConfig())


def _counts(table):
    return dict(zip(*np.unique(table.target, return_counts=True)))


def test_beat_table_of_known_records(mitdb_dir):
    rec100 = records.read_record(mitdb_dir, "100")
    assert rec100.signal.shape == (650000, 2)
    table = records.beat_table(rec100)
    assert _counts(table) == {0: 2239, 3: 1, 5: 33} and not table.bad.any()  # SOURCE.md: N 2239, V 1, A 33
    assert table.start[0] == rec100.sample[rec100.symbol != "+"][0]
    np.testing.assert_array_equal(table.end[:-1], table.start[1:])
    assert table.end[-1] == 650000
    assert _counts(records.beat_table(records.read_record(mitdb_dir, "109")))[1] == 2492  # all L of 109


def test_relabelling_and_bad_signal_marks(mitdb_dir):
    rec201 = records.read_record(mitdb_dir, "201")
    counts = _counts(records.beat_table(rec201))
    x_marks = int(np.sum(rec201.symbol == "x"))
    assert x_marks == 37 and counts[17] > x_marks  # x itself plus the normal beat before each x
    assert counts[18] > 0 and counts[0] < 1625  # beats inside (AFIB periods leave class N
    rec105 = records.read_record(mitdb_dir, "105")
    table = records.beat_table(rec105)
    quality = np.where(rec105.symbol == "~")[0][:2]
    assert list(rec105.sample[quality]) == [30739, 31306] and list(rec105.subtype[quality]) == [2, 0]
    inside = np.where((table.start > 30739) & (table.start < 31306))[0]
    assert table.bad[inside].all() and table.bad[inside[0] - 1]  # the original starts one beat early
    assert not table.bad[inside[-1] + 1] and not table.bad[inside[0] - 2]


def test_beat_window_first_peak_rule():
    seg = np.zeros((300, 2))
    seg[120] = [1.0, -0.5]
    seg[270, 0] = 2.0  # ≥ 150 samples later: a second peak, but only the first counts
    window = beat_window(seg)
    assert window.shape == (100, 2) and window[50, 0] == 1.0 and window[50, 1] == -0.5
    early, late, low = np.zeros((300, 2)), np.zeros((300, 2)), np.zeros((300, 2))
    early[30, 0] = 1.0  # p < 50
    late[260, 0] = 1.0  # p + 50 > 300
    low[120, 0] = 0.19  # below the 0.2 mV height
    assert beat_window(early) is None and beat_window(late) is None and beat_window(low) is None


def test_class_totals_match_the_annotations(dataset):
    s = dataset.summary()
    assert len(s["records"]) == 27
    total = {c: s["good_beats_available"][c] + s["bad_signal_beats_dropped"][c] for c in "NLRV"}
    # L and R never fall in (AFIB/(AFL/(PREX periods here, so their totals are the raw symbol counts
    assert total["L"] == SOURCE_TOTALS["L"] and total["R"] == SOURCE_TOTALS["R"]
    assert total["N"] < SOURCE_TOTALS["N"] and total["V"] < SOURCE_TOTALS["V"]


def test_default_split_is_fixed_80_10_10_and_disjoint(dataset, mitdb_dir):
    s = dataset.summary()["splits"]
    n = sum(v["size"] for v in s.values())
    assert s["validation"]["size"] + s["test"]["size"] == int(np.ceil(0.2 * n))
    assert abs(s["validation"]["size"] - s["test"]["size"]) <= 1
    per_class = [sum(s[k]["counts"][c] for k in s) for c in "NLRV"]
    assert all(0 < c <= 3000 for c in per_class)
    rows = dataset.beat_rows
    assert sum(r.size for r in rows.values()) == n
    assert np.unique(np.concatenate(list(rows.values()))).size == n  # no beat in two splits
    assert np.all(dataset.beats["valid"][rows["train"]]) and not dataset.beats["bad"][rows["test"]].any()
    xt, yt = dataset.split("test")
    assert xt.shape == (s["test"]["size"], 100, 2) and xt.dtype == np.float32 and yt.dtype == np.int32
    again = load_dataset(EcgConfig(seed=9))  # the split does not depend on the training seed
    np.testing.assert_array_equal(again.split("test")[0], xt)
    assert split_by_beat(10)["train"].size == 8


def test_resample_quirk_redraws_the_beats(dataset):
    a, b = load_dataset(EcgConfig(ecg_resample_quirk=True)), load_dataset(EcgConfig(ecg_resample_quirk=True))
    assert not np.array_equal(a.beat_rows["test"], b.beat_rows["test"])
    leaked = np.intersect1d(a.beat_rows["test"], b.beat_rows["train"]).size
    assert leaked > 0  # quirk 8: one evaluation's test beats were another's training beats


def test_split_by_patient_keeps_records_apart(mitdb_dir):
    ds = load_dataset(EcgConfig(split_by_patient=True))
    s = ds.summary()["splits"]
    recs = [set(s[k]["records"]) for k in ("train", "validation", "test")]
    assert not (recs[0] & recs[1]) and not (recs[0] & recs[2]) and not (recs[1] & recs[2])
    assert all(s[k]["counts"][c] > 0 for k in s for c in "NLRV")
    rec_of = ds.beats["record"]
    for k, rows in ds.beat_rows.items():
        assert {ds.records[i] for i in rec_of[rows]} == set(s[k]["records"])


def test_train_batches_cover_an_epoch(dataset):
    steps = dataset.n_train // 100
    ys = [dataset.train_batch(1, s, 100)[1] for s in range(steps)]
    x, _ = dataset.train_batch(1, 0, 100)
    assert x.shape == (100, 100, 2) and x.dtype == np.float32
    counts = np.bincount(np.concatenate(ys), minlength=4)
    full = np.bincount(dataset._arrays["train"][1], minlength=4)
    assert np.all(counts <= full) and counts.sum() == steps * 100 and np.abs(full - counts).sum() < 100
    np.testing.assert_array_equal(
        dataset.train_batch(1, steps, 100)[1], dataset.train_batch(1, steps, 100)[1]
    )


def test_missing_incomplete_and_corrupt_records_fail_clearly(mitdb_dir, tmp_path):
    with pytest.raises(DataError, match="no MIT-BIH records"):
        extract_beats(tmp_path)
    for ext in (".hea", ".atr"):
        shutil.copy(mitdb_dir / ("100" + ext), tmp_path / ("100" + ext))
    with pytest.raises(DataError, match=r"100 is incomplete: missing 100\.dat"):
        records.list_records(tmp_path)
    data = (mitdb_dir / "100.dat").read_bytes()
    (tmp_path / "100.dat").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"100\.dat is truncated: 975000 bytes, its header needs 1950000"):
        records.read_record(tmp_path, "100")
    damaged = bytearray(data)
    damaged[1000] ^= 0x55
    (tmp_path / "100.dat").write_bytes(bytes(damaged))
    with pytest.raises(DataError, match=r"100\.dat fails the header checksum"):
        records.read_record(tmp_path, "100")
    (tmp_path / "100.dat").write_bytes(data)  # record 100 alone: 1 usable V window, none of N/L/R
    (tmp_path / "100.atr").write_bytes(b"\x00\x01garbage")
    with pytest.raises(DataError, match=r"cannot read MIT-BIH file .*100\.atr"):
        records.read_record(tmp_path, "100")
    shutil.copy(mitdb_dir / "100.atr", tmp_path / "100.atr")
    with pytest.raises(DataError, match=r"class\(es\) N, L, R have no usable beats .* records 100"):
        load_dataset(EcgConfig(data_dir=str(tmp_path)))


def test_r_peak_windows_are_centred_on_the_annotation(dataset, mitdb_dir):
    r = load_dataset(EcgConfig(data_dir=str(mitdb_dir), ecg_window="r_peak"))
    sizes = {
        name: len(r.split(name)[1]) if name != "train" else r.n_train
        for name in ("train", "validation", "test")
    }
    # every sampled beat keeps its window: 4 classes x 3000 = 12,000 beats, split 80/10/10
    assert sizes == {"train": 9598, "validation": 1200, "test": 1200}
    assert r.n_train > 4 * dataset.n_train
    beats = r.beats
    rows = r.beat_rows["test"][:20]
    signal = records.read_record(mitdb_dir, str(beats["names"][beats["record"][rows[0]]])).signal
    start = beats["start"][rows[0]]
    np.testing.assert_array_equal(r.split("test")[0][0], signal[start - 50 : start + 50].astype(np.float32))


@pytest.mark.parametrize("quirk", [True, False])
def test_resample_quirk_gives_every_evaluation_its_own_test_beats(dataset, tmp_path, monkeypatch, quirk):
    """Under -ecg_resample_quirk=True each evaluation call (and each mismatch draw) builds the data afresh,
    as the original's per-call ECGDataLoader did; by default every evaluation sees the same test beats."""
    config = EcgConfig(n_hidden=16, ecg_resample_quirk=quirk)
    sid = 1212121212 + int(quirk)
    params = make_task(config, n_in=2).init(jax.random.PRNGKey(0))
    artifacts.save_model(tmp_path, sid, config, params, jax.random.PRNGKey(1))
    model = {"architecture": "ecg_lsnn", "ecg_lsnn_session_id": sid}
    seen = []  # the test beats (rows of the beat table) of every dataset an evaluation builds

    def spy(cfg):
        ds = load_dataset(cfg)
        seen.append(ds.beat_rows["test"])
        return ds

    monkeypatch.setattr(ce, "load_dataset", spy)
    ce._cached_test_split.cache_clear()
    first = ce.test_accuracy(model, 0, resources_dir=tmp_path)
    second = ce.test_accuracy(model, 0, resources_dir=tmp_path)
    accs = ce.mismatch_list(model, 0.0, 2, 0, resources_dir=tmp_path)  # σ = 0: each draw = clean accuracy
    if not quirk:
        assert len(seen) == 1 and first == second and accs == [first] * 2  # one load, the same test beats
        np.testing.assert_array_equal(seen[0], dataset.beat_rows["test"])
        return
    assert len(seen) == 2 + 2 and len({r.tobytes() for r in seen}) == 4  # a new test sample per call/draw
    assert np.intersect1d(seen[0], seen[1]).size < 0.5 * seen[0].size
    # each draw's accuracy is the model's accuracy on that draw's own test beats
    task, p = make_task(config, n_in=2), {k: jnp.asarray(v) for k, v in params.items()}
    x, y = dataset.beats["windows"], dataset.beats["target"]
    expected = [evaluation.accuracy(task, p, x[r], y[r].astype(np.int32)) for r in seen]
    assert [first, second] == pytest.approx(expected[:2], abs=1e-12)
    assert accs == pytest.approx(expected[2:], abs=1e-12)
