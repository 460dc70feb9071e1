"""MIT-BIH N/L/R/V beats as a :class:`robustness.datasets.Dataset` (docs/original.md §3.2, quirk 8).

Report-era loader (``ECG/ecg_data_loader.py@90e46fd7``): drop bad-signal beats; per class sample up to 3000
beats; in each beat segment find channel-0 peaks (``find_peaks(height=0.2, distance=150)``), keep the beat
if the first peak p has p ≥ 50 and p + 50 ≤ segment length, window ``[p−50, p+50)`` × 2 leads (raw mV);
split 80/10/10 with ``train_test_split(random_state=42)`` twice (test first, then validation).
Default: the per-class sample is drawn once from a generator seeded with 42 (deterministic, no leak);
``ecg_resample_quirk=True`` re-draws it unseeded at every construction as the original did.
The data folder holds the original's extracted ``recordings.npy`` + ``annotations.csv`` (read when present)
or WFDB records (downloaded from PhysioNet when the folder has neither); see ``ECG.records``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.signal import find_peaks

from ECG.records import (
    CLASS_NAMES,
    RECORD_FILES,
    beat_table,
    download_mitdb,
    has_recordings,
    list_records,
    read_record,
    read_recordings,
    recordings_paths,
)
from robustness.datasets import (
    DataError,
    Dataset,
    cached,
    class_counts,
    epoch_batch_indices,
    file_manifest,
    manifest_digest,
    sklearn_split,
)

HALF_WINDOW = 50
PEAK_HEIGHT_MV = 0.2
PEAK_DISTANCE = 150
SPLIT_SEED = 42
SELECT_STREAM, BATCH_STREAM = 21, 22
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)  # train, validation, test


def beat_window(segment: np.ndarray) -> np.ndarray | None:
    """float [100, 2] around the first channel-0 peak of a beat segment [n, 2], or None if rejected."""
    peaks, _ = find_peaks(segment[:, 0], height=PEAK_HEIGHT_MV, distance=PEAK_DISTANCE)
    if len(peaks) == 0 or peaks[0] < HALF_WINDOW or segment.shape[0] < peaks[0] + HALF_WINDOW:
        return None
    return segment[peaks[0] - HALF_WINDOW : peaks[0] + HALF_WINDOW]


def extract_beats(data_dir) -> dict[str, np.ndarray]:
    """All beats of all records in ``data_dir`` with their N/L/R/V windows (cached on disk).

    ``data_dir`` holds either the original's extracted ``recordings.npy`` + ``annotations.csv`` (read when
    present, as the original's loader did) or WFDB records; both give the same beats and windows
    (``start`` counts from the record's first sample, or in the extracted format, which drops the samples
    before a record's first beat, from that beat; so an ``r_peak`` window of a record's first beat is
    rejected there). Returns ``record`` (index into ``names``), ``start``, ``target``, ``bad`` per beat,
    ``valid`` (window found) and ``windows`` float32 [n, 100, 2] (zeros where not a class-0..3 beat or
    rejected), ``names``; ``valid_r``/``windows_r`` are the same for windows centred on the annotated R peak
    (``ecg_window=r_peak``).
    """
    root = Path(data_dir)
    if has_recordings(root):
        files = recordings_paths(root)
        settings = {"format": "recordings", "files": manifest_digest(file_manifest(files, root))}

        def tables():
            return read_recordings(root)

    else:
        names = list_records(root)
        if not names:
            raise DataError(f"no MIT-BIH records (NNN.hea/.dat/.atr) in {root}")
        files = [root / (n + ext) for n in names for ext in RECORD_FILES]
        settings = {"files": manifest_digest(file_manifest(files, root))}

        def tables():
            for name in names:
                record = read_record(root, name)
                yield name, record.signal, beat_table(record)

    settings = {
        "root": str(root),
        **settings,
        "window": [HALF_WINDOW, PEAK_HEIGHT_MV, PEAK_DISTANCE],
        "version": 2,
    }

    def build():
        parts, names = [], []
        for i, (name, signal, table) in enumerate(tables()):
            parts.append(_record_beats(signal, table, i))
            names.append(name)
        out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        out["names"] = np.array(names)
        return out

    return cached("ecg-beats", settings, build)


def _record_beats(signal: np.ndarray, table, index: int) -> dict[str, np.ndarray]:
    """The beats of one record (its signal [samples, 2] and ``records.BeatTable``) with their windows."""
    n = table.start.size
    windows = np.zeros((n, 2 * HALF_WINDOW, 2), dtype=np.float32)
    windows_r = np.zeros_like(windows)
    valid = np.zeros(n, dtype=bool)
    valid_r = np.zeros(n, dtype=bool)
    for i in np.where(table.target < len(CLASS_NAMES))[0]:
        window = beat_window(signal[table.start[i] : table.end[i]])
        if window is not None:
            windows[i], valid[i] = window, True
        lo, hi = table.start[i] - HALF_WINDOW, table.start[i] + HALF_WINDOW
        if lo >= 0 and hi <= signal.shape[0]:
            windows_r[i], valid_r[i] = signal[lo:hi], True
    return {
        "valid_r": valid_r,
        "windows_r": windows_r,
        "record": np.full(n, index, np.int64),
        "start": table.start,
        "target": table.target,
        "bad": table.bad,
        "valid": valid,
        "windows": windows,
    }


def select_beats(
    beats: dict, per_class: int, rng: np.random.Generator, valid_key: str = "valid"
) -> np.ndarray:
    """Row indices: per class (N, L, R, V in turn) up to ``per_class`` good-signal beats drawn without
    replacement, then those whose window was rejected are dropped (the original's order of operations)."""
    chosen = []
    for c in range(len(CLASS_NAMES)):
        pool = np.where((beats["target"] == c) & ~beats["bad"])[0]
        pick = rng.choice(pool, size=min(per_class, pool.size), replace=False)
        chosen.append(pick[beats[valid_key][pick]])
    empty = [name for name, pick in zip(CLASS_NAMES, chosen) if pick.size == 0]
    if empty:
        records = ", ".join(str(n) for n in beats["names"])
        raise DataError(
            f"MIT-BIH class(es) {', '.join(empty)} have no usable beats (good signal, a window "
            f"around the first peak) in records {records}"
        )
    return np.concatenate(chosen)


def split_by_beat(n: int) -> dict[str, np.ndarray]:
    """Positions 0..n−1 split as the original: 80 % train, then the 20 % halved into test and validation."""
    train, rest = sklearn_split(n, 0.2, SPLIT_SEED)
    test_part, val_part = sklearn_split(rest.size, 0.5, SPLIT_SEED)
    return {"train": train, "validation": rest[val_part], "test": rest[test_part]}


def split_by_patient(records: np.ndarray, labels: np.ndarray, n_classes: int = 4) -> dict[str, np.ndarray]:
    """Assign whole records to train/validation/test (80/10/10 of each class's beats, greedily).

    First, for each class (rarest in records first), validation and test each receive one record holding
    it if they have none; then the remaining records, largest first, go where the squared deviation of the
    per-class fractions from 80/10/10 grows least. Ties are broken by a permutation seeded with 42.
    """
    ids = np.unique(records)
    counts = np.stack([np.bincount(labels[records == r], minlength=n_classes) for r in ids]).astype(float)
    totals = counts.sum(0)
    order = np.random.default_rng(SPLIT_SEED).permutation(ids.size)
    owner = np.full(ids.size, -1)
    fractions = np.array(SPLIT_FRACTIONS)

    def cost(assign):
        load = np.stack([counts[assign == s].sum(0) for s in range(3)]) / totals
        return float(((load - fractions[:, None]) ** 2).sum())

    def best(split_choices, record_choices):
        trials = [
            (cost(np.where(np.arange(ids.size) == r, s, owner)), k, r, s)
            for k, r in enumerate(record_choices)
            for s in split_choices
        ]
        return min(trials)

    for c in np.argsort((counts > 0).sum(0), kind="stable"):
        for s in (2, 1):
            if counts[owner == s, c].sum() > 0:
                continue
            holders = [r for r in order if owner[r] < 0 and counts[r, c] > 0]
            if not holders:
                raise DataError(
                    f"split_by_patient: too few records hold class {CLASS_NAMES[c]} to give "
                    f"train, validation and test one each (records: {list(ids[counts[:, c] > 0])})"
                )
            owner[best([s], holders)[2]] = s
    for r in sorted((r for r in order if owner[r] < 0), key=lambda r: -counts[r].sum()):
        owner[r] = best([0, 1, 2], [r])[3]
    out = {
        name: np.where(np.isin(records, ids[owner == s]))[0]
        for s, name in enumerate(("train", "validation", "test"))
    }
    for name, rows in out.items():
        missing = [CLASS_NAMES[c] for c in range(n_classes) if not np.any(labels[rows] == c)]
        if missing:
            raise DataError(f"split_by_patient: the {name} split has no beats of class {missing}")
    return out


class EcgDataset(Dataset):
    """4-class MIT-BIH beats, x float32 [100, 2] (raw mV, 360 Hz), y in 0..3 = N, L, R, V."""

    name = "ecg"
    n_classes = 4
    input_shape = (2 * HALF_WINDOW, 2)

    def __init__(self, config):
        """``config``: any object with the ECG flags of ``robustness.tasks.ecg.EcgConfig``;
        ``config.data_dir`` is the resolved data folder."""
        self.config = config
        self.root = Path(config.data_dir)
        if not (has_recordings(self.root) or (self.root.is_dir() and any(self.root.glob("*.hea")))):
            download_mitdb(self.root)
        beats = extract_beats(self.root)
        self.records = [str(n) for n in beats["names"]]
        # quirk 8: the original re-drew the sample (unseeded) at every loader construction
        rng = (
            np.random.default_rng()
            if config.ecg_resample_quirk
            else np.random.default_rng([SELECT_STREAM, SPLIT_SEED])
        )
        suffix = "_r" if config.ecg_window == "r_peak" else ""
        rows = select_beats(beats, config.beats_per_class, rng, valid_key="valid" + suffix)
        x = beats["windows" + suffix][rows]
        y, rec = beats["target"][rows].astype(np.int32), beats["record"][rows]
        parts = split_by_patient(rec, y) if config.split_by_patient else split_by_beat(rows.size)
        self._arrays = {name: (np.ascontiguousarray(x[p]), y[p]) for name, p in parts.items()}
        self.beats = beats  # the full beat table (see extract_beats), for figures and tests
        self.beat_rows = {name: rows[p] for name, p in parts.items()}  # split → rows of the beat table
        self._records = {name: sorted({self.records[i] for i in rec[p]}) for name, p in parts.items()}
        self._available = {
            name: int(np.sum((beats["target"] == c) & ~beats["bad"])) for c, name in enumerate(CLASS_NAMES)
        }
        self._bad = {
            name: int(np.sum((beats["target"] == c) & beats["bad"])) for c, name in enumerate(CLASS_NAMES)
        }
        self.n_train = len(self._arrays["train"][1])

    def train_batch(self, seed: int, step: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Epoch-wise shuffled sequential batches; epoch e permuted by ``default_rng([22, seed, e])``."""
        x, y = self._arrays["train"]
        idx = epoch_batch_indices(seed, step, batch_size, self.n_train, BATCH_STREAM)
        return x[idx], y[idx]

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        self._check_split_name(name)
        return self._arrays[name]

    def summary(self) -> dict:
        names = list(CLASS_NAMES)
        splits = {s: {"size": len(y), "counts": class_counts(y, names)} for s, (_, y) in self._arrays.items()}
        if self.config.split_by_patient:
            for s, entry in splits.items():
                entry["records"] = self._records[s]
        return {
            "name": self.name,
            "data_dir": str(self.root),
            "source": "recordings.npy + annotations.csv" if has_recordings(self.root) else "WFDB records",
            "records": self.records,
            "classes": names,
            "good_beats_available": self._available,
            "bad_signal_beats_dropped": self._bad,
            "beats_per_class": self.config.beats_per_class,
            "split_by_patient": self.config.split_by_patient,
            "resample_quirk": self.config.ecg_resample_quirk,
            "input_shape": list(self.input_shape),
            "splits": splits,
        }
