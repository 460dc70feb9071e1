"""The original's extracted ECG format (``ecg_recordings/``: recordings.npy + annotations.csv) on the 27 real
MIT-BIH records: the export writes the original's layout, reads back to the WFDB beat tables, and the
dataset built from it has the same beats, windows and splits as the one built from the WFDB records."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import architectures as A
from ECG import records
from ECG.dataset import extract_beats
from robustness.data import load_dataset
from robustness.datasets import CACHE_ENV, DataError
from robustness.paths import REPO_ROOT
from robustness.tasks import EcgConfig

# the dtypes the original's load_from_file (ECG/ecg_input.py) read annotations.csv with
ORIGINAL_DTYPES = {
    "idx_start": "uint32",
    "idx_end": "uint32",
    "target": "uint8",
    "recording": "uint8",
    "bad_signal": "bool",
    "is_anomal": "bool",
}


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    patch = pytest.MonkeyPatch()
    patch.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("ecg_recordings_cache")))
    yield
    patch.undo()


@pytest.fixture(scope="module")
def exported(mitdb_dir, tmp_path_factory):
    """``python -m ECG.records -export_recordings=DIR -data_dir=<the real records>`` (in-process)."""
    out = tmp_path_factory.mktemp("ecg_recordings")
    assert records.main([f"-export_recordings={out}", f"-data_dir={mitdb_dir}"]) == 0
    return out


@pytest.fixture(scope="module")
def wfdb_tables(mitdb_dir):
    return {
        n: (r := records.read_record(mitdb_dir, n), records.beat_table(r))
        for n in records.list_records(mitdb_dir)
    }


def test_export_writes_the_originals_layout(exported, wfdb_tables):
    ann = pd.read_csv(exported / "annotations.csv", index_col=0, dtype=ORIGINAL_DTYPES)
    signal = np.load(exported / "recordings.npy")
    assert list(ann.columns) == list(ORIGINAL_DTYPES) and list(ann.index) == list(range(len(ann)))
    assert len(ann) == sum(t.start.size for _, t in wfdb_tables.values()) == 64545
    firsts = {n: int(t.start[0]) for n, (_, t) in wfdb_tables.items()}
    assert signal.dtype == np.float64 and signal.shape == (27 * 650000 - sum(firsts.values()), 2)
    rec100 = ann[ann.recording == 100]
    # record 100 comes first and starts at its first beat (sample 18 is a rhythm '+', the first N is at 77)
    assert firsts["100"] == 77 and rec100.idx_start.iloc[0] == 0 and rec100.idx_end.iloc[-1] == 650000 - 77
    assert rec100.target.value_counts().to_dict() == {0: 2239, 5: 33, 3: 1}  # N, A, V of record 100
    np.testing.assert_array_equal(signal[: 650000 - 77], wfdb_tables["100"][0].signal[77:])
    assert (ann.is_anomal == (ann.target != 0)).all()
    np.testing.assert_array_equal(ann.idx_end.to_numpy()[:-1], ann.idx_start.to_numpy()[1:])
    assert ann.idx_end.iloc[-1] == signal.shape[0]
    rec105 = ann[ann.recording == 105]
    np.testing.assert_array_equal(rec105.bad_signal.to_numpy(), wfdb_tables["105"][1].bad)


def test_recordings_read_back_to_the_wfdb_beat_tables(exported, wfdb_tables):
    back = records.read_recordings(exported)
    assert [name for name, _, _ in back] == list(wfdb_tables)
    for name, signal, table in back:
        record, wfdb = wfdb_tables[name]
        first = int(wfdb.start[0])
        np.testing.assert_array_equal(signal, record.signal[first:])
        np.testing.assert_array_equal(table.start, wfdb.start - first)
        np.testing.assert_array_equal(table.end, wfdb.end - first)
        np.testing.assert_array_equal(table.target, wfdb.target)
        np.testing.assert_array_equal(table.bad, wfdb.bad)


def test_same_beats_windows_and_splits_as_the_wfdb_records(exported, mitdb_dir):
    wfdb, rec = extract_beats(mitdb_dir), extract_beats(exported)
    for key in ("names", "record", "target", "bad", "valid", "windows"):
        np.testing.assert_array_equal(rec[key], wfdb[key], err_msg=key)
    first = np.r_[True, np.diff(wfdb["record"]) != 0]  # the first beat of every record
    np.testing.assert_array_equal(
        rec["start"], wfdb["start"] - np.repeat(wfdb["start"][first], np.bincount(wfdb["record"]))
    )
    # the extracted format drops the samples before a record's first beat: only those beats lose their
    # R-peak window (25 of the 27 records have their first beat 50 or more samples in)
    lost = wfdb["valid_r"] & ~rec["valid_r"]
    assert (
        np.array_equal(lost, wfdb["valid_r"] & first)
        and lost.sum() == 25
        and not (rec["valid_r"] & ~wfdb["valid_r"]).any()
    )
    np.testing.assert_array_equal(rec["windows_r"][~first], wfdb["windows_r"][~first])
    a, b = load_dataset(EcgConfig(data_dir=str(mitdb_dir))), load_dataset(EcgConfig(data_dir=str(exported)))
    assert (
        b.summary()["source"] == "recordings.npy + annotations.csv"
        and a.summary()["source"] == "WFDB records"
    )
    assert {k: v for k, v in a.summary().items() if k not in ("data_dir", "source")} == {
        k: v for k, v in b.summary().items() if k not in ("data_dir", "source")
    }
    for split in ("validation", "test"):
        for u, v in zip(a.split(split), b.split(split)):
            np.testing.assert_array_equal(u, v)
    for step in (0, a.n_train // 100):
        for u, v in zip(a.train_batch(3, step, 100), b.train_batch(3, step, 100)):
            np.testing.assert_array_equal(u, v)


def test_the_recordings_are_read_in_preference_to_wfdb_records(exported, mitdb_dir, tmp_path):
    both = tmp_path / "both"
    both.mkdir()
    for name in records.RECORDINGS_FILES:
        os.symlink(exported / name, both / name)
    for name in ("100", "101", "102"):  # WFDB records next to them (the original's loader ignored these)
        for ext in records.RECORD_FILES:
            os.symlink(mitdb_dir / f"{name}{ext}", both / f"{name}{ext}")
    assert len(extract_beats(both)["names"]) == 27
    (both / "annotations.csv").unlink()  # half of the format: an error naming the missing file, no fallback
    with pytest.raises(DataError, match=r"has no annotations\.csv"):
        load_dataset(EcgConfig(data_dir=str(both)))


def _write_copy(exported, folder, edit):
    folder.mkdir()
    os.symlink(exported / "recordings.npy", folder / "recordings.npy")
    lines = (exported / "annotations.csv").read_text().splitlines()
    (folder / "annotations.csv").write_text("\n".join(edit(lines)) + "\n")
    return folder


def test_broken_recordings_fail_naming_the_file(exported, tmp_path):
    cases = {
        "row": (
            lambda ls: [*ls[:5], "4,1154,1438,zero,100,False,False", *ls[6:]],
            r"annotations\.csv, line 6",
        ),
        "gap": (lambda ls: [ls[0], *ls[2:]], r"the first beat starts at 293, not 0"),
        "hole": (lambda ls: [*ls[:3], *ls[4:]], r"row 1 ends at 585 but row 2 starts at 869"),
        "short": (lambda ls: ls[:-1], r"the last beat ends at \d+ but .*recordings\.npy holds \d+ samples"),
        "code": (
            lambda ls: [ls[0], ls[1].replace(",0,100,", ",99,100,"), *ls[2:]],
            r"unknown target codes \[99\]",
        ),
        "column": (
            lambda ls: [ls[0].replace("bad_signal", "quality"), *ls[1:]],
            r"no column\(s\) bad_signal",
        ),
    }
    for name, (edit, message) in cases.items():
        folder = _write_copy(exported, tmp_path / name, edit)
        with pytest.raises(DataError, match=message) as err:
            records.read_recordings(folder)
        assert str(folder) in str(err.value), name
    (tmp_path / "npy").mkdir()
    (tmp_path / "npy" / "annotations.csv").symlink_to(exported / "annotations.csv")
    (tmp_path / "npy" / "recordings.npy").write_bytes((exported / "recordings.npy").read_bytes()[:1000])
    with pytest.raises(DataError, match=r"cannot read ECG recordings .*npy/recordings\.npy"):
        records.read_recordings(tmp_path / "npy")


def test_export_command_exits_2_on_bad_flags_and_1_on_missing_records(tmp_path):
    def run(*argv):
        proc = subprocess.run(
            [sys.executable, "-m", "ECG.records", *argv], cwd=REPO_ROOT, capture_output=True, text=True
        )
        return proc.returncode, proc.stderr

    rc, err = run(f"-data_dir={tmp_path}")
    assert rc == 2 and "-export_recordings=DIR (the folder to write) is needed" in err
    rc, err = run(f"-export_recordings={tmp_path / 'out'}")
    assert rc == 2 and "-data_dir=DIR (the folder of the WFDB records) is needed" in err
    rc, err = run(f"-export_recordings={tmp_path / 'out'}", f"-data_dir={tmp_path}", "-format=hpf")
    assert rc == 2 and "bad argument '-format=hpf'" in err
    rc, err = run(f"-export_recordings={tmp_path / 'out'}", f"-data_dir={tmp_path}")
    assert rc == 1 and f"no MIT-BIH records (NNN.hea/.dat/.atr) in {tmp_path} to export" in err
    assert not (tmp_path / "out").exists()


def test_cluster_jobs_read_the_originals_folders(monkeypatch):
    """bsub/sbatch without a data_dir: $SCRATCH/<the original's folder name> for every task."""
    monkeypatch.setenv("SCRATCH", "/cluster/scratch/me")
    got = {
        name: A.command_flags([A.normalize(arch.make())], [1], "bsub")["data_dir"]
        for name, arch in A.ARCHITECTURES.items()
    }
    assert got == {
        "speech_lsnn": "$SCRATCH/speech_dataset",
        "ecg_lsnn": "$SCRATCH/ecg_recordings",
        "cnn": "$SCRATCH/fashion_mnist",
    }
    monkeypatch.delenv("SCRATCH")
    monkeypatch.delenv("MITDB_DIR", raising=False)
    local = A.command_flags([A.normalize(A.ecg_lsnn.make())], [1], "sbatch")["data_dir"]
    assert local == str(REPO_ROOT / "ECG" / "ecg_recordings")  # the original's ECG/ecg_recordings/
