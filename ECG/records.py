"""MIT-BIH Arrhythmia records: checked reading of WFDB ``.hea/.dat/.atr`` files and of the original's
extracted ``recordings.npy`` + ``annotations.csv``, download, the beat table, and the export between them.

The beat table reproduces ``extract_data_from_files`` of ``ECG/ecg_input.py@88d2bb57`` (docs/original.md §3.2)
per record: one row per beat annotation (the 16 beat symbols plus ``|`` and ``x``), ``start`` = its sample,
``end`` = the next beat's sample (the record's end for the last one), a target code (0 N, 1 L, 2 R, 3 V, …),
with N beats followed by ``|``/``x`` relabelled 16/17, beats inside ``(AFIB``/``(AFL``/``(PREX`` rhythm
periods relabelled 18/19/20, and ``bad`` set between a ``~`` with subtype > 0 and the next ``~`` with
subtype 0 (the original's pairing, including its off-by-one start one beat early).

The extracted format (the original README's Google-Drive ``ecg_recordings/`` folder) is the same table for
all records at once: ``recordings.npy`` (float64 [samples, 2], mV) holds the records end to end, each cut
to begin at its first beat, and ``annotations.csv`` one row per beat (``idx_start``, ``idx_end`` in those
joined samples, ``target``, ``recording``, ``bad_signal``, ``is_anomal``). ``read_recordings`` reads it back
into per-record tables; ``python -m ECG.records -export_recordings=DIR -data_dir=WFDB_DIR`` writes it from
WFDB records.
"""

from __future__ import annotations

import csv
import struct
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robustness.datasets import DataError
from robustness.files import atomic_write, write_text

TRANSLATE = {
    "N": 0,
    "L": 1,
    "R": 2,
    "V": 3,
    "/": 4,
    "A": 5,
    "f": 6,
    "F": 7,
    "!": 8,
    "a": 9,
    "j": 10,
    "E": 11,
    "J": 12,
    "e": 13,
    "S": 14,
    "Q": 15,
    "|": 16,
    "x": 17,
    "(AFIB": 18,
    "(AFL": 19,
    "(PREX": 20,
}
BEAT_SYMBOLS = tuple(k for k, v in TRANSLATE.items() if not k.startswith("("))
INNER_ANNOTATIONS = ("|", "x")
PLUS_ANNOTATIONS = ("(AFIB", "(AFL", "(PREX")
CLASS_NAMES = ("N", "L", "R", "V")
RECORD_FILES = (".hea", ".dat", ".atr")


@dataclass(frozen=True)
class Record:
    """One record: signal float64 [samples, 2] in mV (``p_signal``) and its reference annotations."""

    name: str
    signal: np.ndarray
    sample: np.ndarray  # annotation positions (int64)
    symbol: np.ndarray  # annotation symbols (str)
    subtype: np.ndarray  # int64
    aux_note: np.ndarray  # str, trailing NULs removed


def list_records(data_dir) -> list[str]:
    """Names of the complete records (``NNN.hea`` + ``.dat`` + ``.atr``) in ``data_dir``, sorted; a record
    with a missing companion file is an error naming it."""
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"MIT-BIH directory {root} does not exist")
    names = sorted(p.stem for p in root.glob("*.hea"))
    for name in names:
        missing = [name + ext for ext in RECORD_FILES if not (root / (name + ext)).is_file()]
        if missing:
            raise DataError(f"MIT-BIH record {root / name} is incomplete: missing {', '.join(missing)}")
    return names


def read_record(data_dir, name: str) -> Record:
    """Read ``name`` with wfdb; DataError naming the file on unreadable, truncated or corrupt input.

    The header's per-signal checksums (sum of samples mod 2¹⁶) are verified, so a truncated or damaged
    ``.dat`` file is reported instead of silently read.
    """
    import wfdb

    base = str(Path(data_dir) / name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        header = _wfdb_call(wfdb.rdheader, base, ".hea")
        _check_dat_size(base, header)
        record = _wfdb_call(lambda b: wfdb.rdrecord(b, physical=False), base, ".dat")
        ann = _wfdb_call(lambda b: wfdb.rdann(b, "atr"), base, ".atr")
    digital = record.d_signal
    if digital is None or digital.ndim != 2 or digital.shape[1] != 2:
        raise DataError(f"{base}.dat: expected 2 signals, header/data give {getattr(digital, 'shape', None)}")
    if record.sig_len != digital.shape[0]:
        raise DataError(f"{base}.dat is truncated: {digital.shape[0]} of {record.sig_len} samples")
    if record.checksum is not None:
        sums = [int(np.sum(digital[:, i].astype(np.int64))) % 65536 for i in range(2)]
        expected = [int(c) % 65536 for c in record.checksum]
        if sums != expected:
            raise DataError(
                f"{base}.dat fails the header checksum ({sums} ≠ {expected}): corrupt or truncated"
            )
    gain = np.asarray(record.adc_gain, dtype=np.float64)
    baseline = np.asarray(record.baseline, dtype=np.float64)
    signal = (digital - baseline) / gain  # what wfdb's p_signal holds
    if len(ann.sample) == 0:
        raise DataError(f"{base}.atr holds no annotations")
    check_annotations(f"{base}.atr", np.asarray(ann.sample, np.int64), list(ann.symbol), digital.shape[0])
    aux = np.array([(a or "").rstrip("\x00") for a in ann.aux_note], dtype=object)
    return Record(
        name,
        signal,
        np.asarray(ann.sample, np.int64),
        np.array(ann.symbol, dtype=object),
        np.asarray(ann.subtype, np.int64),
        aux,
    )


def known_symbols() -> frozenset[str]:
    """Every annotation symbol of the WFDB standard (wfdb's label table, without code 0, "not a label")."""
    from wfdb.io.annotation import ann_label_table

    return frozenset(s for s in ann_label_table.symbol if s.strip())


def check_annotations(path: str, sample: np.ndarray, symbol: list, n_samples: int) -> None:
    """DataError naming ``path`` unless every annotation lies inside the record's ``n_samples``, the sample
    indices never decrease and every symbol is a WFDB one. wfdb reads any bytes as *some* annotations (4000
    random bytes give ~1000 "beats", some at sample 10⁹); these checks catch that."""
    outside = np.flatnonzero((sample < 0) | (sample >= n_samples))
    if outside.size:
        i = int(outside[0])
        raise DataError(
            f"corrupt MIT-BIH annotation file {path}: annotation {i} is at sample {sample[i]}, outside the "
            f"record's {n_samples} samples ({outside.size} of {sample.size} annotations are)"
        )
    backwards = np.flatnonzero(np.diff(sample) < 0)
    if backwards.size:
        i = int(backwards[0])
        raise DataError(
            f"corrupt MIT-BIH annotation file {path}: annotation {i + 1} (sample {sample[i + 1]}) comes "
            f"before annotation {i} (sample {sample[i]}); samples must not decrease"
        )
    unknown = sorted({str(s) for s in symbol} - known_symbols())
    if unknown:
        raise DataError(f"corrupt MIT-BIH annotation file {path}: unknown annotation symbols {unknown}")


# what wfdb raises on bad input (HeaderSyntaxError is a ValueError; numpy reshape/broadcast errors too)
WFDB_ERRORS = (ValueError, IndexError, KeyError, TypeError, ArithmeticError, OSError, EOFError, struct.error)
BYTES_PER_SAMPLE = {
    "212": 1.5,
    "16": 2,
    "61": 2,
    "80": 1,
    "8": 1,
    "24": 3,
    "32": 4,
    "310": 4 / 3,
    "311": 4 / 3,
}


def _wfdb_call(read, base: str, ext: str):
    """``read(base)``, turning wfdb's assorted exceptions into a DataError naming ``base + ext``."""
    try:
        return read(base)
    except WFDB_ERRORS as err:
        raise DataError(f"cannot read MIT-BIH file {base}{ext}: {type(err).__name__}: {err}") from None


def _check_dat_size(base: str, header) -> None:
    """A ``.dat`` shorter than the header's samples × signals × format width is a truncated copy."""
    fmts = {str(f) for f in (header.fmt or [])}
    if len(fmts) != 1 or not header.sig_len or next(iter(fmts)) not in BYTES_PER_SAMPLE:
        return
    need = int(np.ceil(header.sig_len * header.n_sig * BYTES_PER_SAMPLE[fmts.pop()]))
    have = Path(base + ".dat").stat().st_size
    if have < need:
        raise DataError(f"MIT-BIH file {base}.dat is truncated: {have} bytes, its header needs {need}")


@dataclass(frozen=True)
class BeatTable:
    """One row per beat annotation of one record (docs/original.md §3.2)."""

    start: np.ndarray  # int64, beat annotation sample (the R peak)
    end: np.ndarray  # int64, next beat's sample or the record length
    target: np.ndarray  # int64, TRANSLATE codes after relabelling
    bad: np.ndarray  # bool, inside a bad-signal-quality period


def beat_table(record: Record) -> BeatTable:
    """The per-record part of ``extract_data_from_files`` (see the module docstring)."""
    symbols, samples = record.symbol, record.sample
    is_beat = np.isin(symbols, BEAT_SYMBOLS)
    starts = samples[is_beat]
    targets = np.array([TRANSLATE[s] for s in symbols[is_beat]], dtype=np.int64)
    if starts.size == 0:
        raise DataError(f"MIT-BIH record {record.name}: no beat annotations in its .atr file")
    for annot in INNER_ANNOTATIONS:  # a | or x marks the beat before it, if that beat is normal
        before = np.searchsorted(starts, samples[symbols == annot]) - 1
        normal = targets[before] == TRANSLATE["N"]
        targets[before[normal]] = TRANSLATE[annot]
    _relabel_rhythms(record, starts, targets)
    bad = _bad_signal(record, starts)
    ends = np.r_[starts[1:], record.signal.shape[0]]
    return BeatTable(starts, ends, targets, bad)


def _relabel_rhythms(record: Record, starts: np.ndarray, targets: np.ndarray) -> None:
    """Beats from the one before a ``+ (AFIB|AFL|PREX`` annotation up to the next ``+`` take its code."""
    plus = np.where(record.symbol == "+")[0]
    relabel = np.where(np.isin(record.aux_note[plus], PLUS_ANNOTATIONS))[0]
    ext_samples = np.r_[record.sample, record.signal.shape[0]]
    ext_plus = np.r_[plus, record.sample.size]
    first = np.searchsorted(starts, record.sample[plus[relabel]]) - 1
    last = np.searchsorted(starts, ext_samples[ext_plus[relabel + 1]])
    for i, j, note in zip(first, last, record.aux_note[plus[relabel]]):
        targets[i:j] = TRANSLATE[note]


def _bad_signal(record: Record, starts: np.ndarray) -> np.ndarray:
    """The original's ``_mark_bad_signal``: k-th good→bad ``~`` paired with the k-th subtype-0 ``~``."""
    bad = np.zeros(starts.size, dtype=bool)
    quality = np.where(record.symbol == "~")[0]
    is_bad = record.subtype[quality] > 0
    worse = is_bad & np.r_[True, ~is_bad[:-1]]
    first = np.searchsorted(starts, record.sample[quality[worse]]) - 1
    last = np.searchsorted(starts, record.sample[quality[~is_bad]])
    for i, j in zip(first, last):
        bad[i:j] = True
    return bad


def download_mitdb(data_dir, records: list[str] | None = None) -> Path:
    """Download MIT-BIH (PhysioNet ``mitdb``) records into ``data_dir`` with wfdb; DataError when offline."""
    import wfdb

    root = Path(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    try:
        wfdb.dl_database(
            "mitdb", str(root), records="all" if records is None else records, annotators=["atr"]
        )
    except (OSError, ValueError) as err:  # requests' and urllib's errors are OSError subclasses
        raise DataError(
            f"could not download MIT-BIH (PhysioNet 'mitdb') into {root} ({type(err).__name__}: {err}); put the "
            f"records' NNN.hea/.dat/.atr files there, or point -data_dir / $MITDB_DIR at a copy"
        ) from None
    return root


# ------------------------------------------------------------------------------------------------
# The original's extracted format: recordings.npy + annotations.csv (docs/original.md §3.2)
# ------------------------------------------------------------------------------------------------

RECORDINGS_FILES = ("recordings.npy", "annotations.csv")
CSV_COLUMNS = ("idx_start", "idx_end", "target", "recording", "bad_signal", "is_anomal")
MAX_RECORDING = 255  # the original stored the record number as uint8
BOOLS = {"True": True, "False": False, "1": True, "0": False}


def has_recordings(folder) -> bool:
    """Whether ``folder`` holds (either file of) the extracted format; a reader then uses that format and
    names the other file if it is missing."""
    return any((Path(folder) / name).is_file() for name in RECORDINGS_FILES)


def recordings_paths(folder) -> tuple[Path, Path]:
    """``folder/recordings.npy`` and ``folder/annotations.csv``; DataError naming the one that is missing."""
    paths = tuple(Path(folder) / name for name in RECORDINGS_FILES)
    for path in paths:
        if not path.is_file():
            raise DataError(
                f"ECG recordings folder {folder} has no {path.name} (it needs {', '.join(RECORDINGS_FILES)})"
            )
    return paths


def export_recordings(data_dir, out_dir) -> dict:
    """Write the WFDB records of ``data_dir`` as ``out_dir/recordings.npy`` + ``annotations.csv``, the
    format of the original's ``extract_data_from_files`` (unfiltered; records in name order, each from its
    first beat on). Returns the two paths and the numbers of records, beats and samples written."""
    names = list_records(data_dir)
    if not names:
        raise DataError(f"no MIT-BIH records (NNN.hea/.dat/.atr) in {data_dir} to export")
    bad = [n for n in names if not (n.isdigit() and int(n) <= MAX_RECORDING)]
    if bad:
        raise DataError(
            f"cannot export records {bad} of {data_dir}: the format stores record names as numbers 0..255"
        )
    signals, lines, offset = [], [",".join(("", *CSV_COLUMNS))], 0
    for name in names:
        record = read_record(data_dir, name)
        table = beat_table(record)
        first = int(table.start[0])
        signals.append(record.signal[first:])
        shift = offset - first
        for start, end, target, is_bad in zip(
            table.start + shift, table.end + shift, table.target, table.bad
        ):
            row = (len(lines) - 1, start, end, target, name, bool(is_bad), bool(target != TRANSLATE["N"]))
            lines.append(",".join(str(v) for v in row))
        offset += record.signal.shape[0] - first
    out = Path(out_dir)
    paths = {"recordings": out / RECORDINGS_FILES[0], "annotations": out / RECORDINGS_FILES[1]}
    signal = np.concatenate(signals).astype(np.float64)
    atomic_write(paths["recordings"], lambda handle: np.save(handle, signal))
    write_text(paths["annotations"], "\n".join(lines) + "\n")
    return {**paths, "records": len(names), "beats": len(lines) - 1, "samples": int(signal.shape[0])}


def read_recordings(folder) -> list[tuple[str, np.ndarray, BeatTable]]:
    """Per record, in file order, ``(name, signal [samples, 2] from its first beat on, its BeatTable)``
    with the table's samples counted from that first beat. DataError naming the file when either file is
    missing, unreadable or inconsistent (rows must tile the joined signal: the first beat at 0, each beat
    ending where the next begins, the last at the signal's end; each record in one block of rows)."""
    npy, table_path = recordings_paths(folder)
    signal = _load_signal(npy)
    cols = _load_annotations(table_path)
    start, end = cols["idx_start"], cols["idx_end"]
    where = f"ECG annotations {table_path}"
    if start[0] != 0:
        raise DataError(f"{where}: the first beat starts at {start[0]}, not 0")
    gaps = np.flatnonzero(end[:-1] != start[1:])
    if gaps.size:
        i = int(gaps[0])
        raise DataError(f"{where}: row {i} ends at {end[i]} but row {i + 1} starts at {start[i + 1]}")
    backwards = np.flatnonzero(end < start)
    if backwards.size:
        i = int(backwards[0])
        raise DataError(f"{where}: row {i} ends at {end[i]}, before its start {start[i]}")
    if end[-1] != signal.shape[0]:
        raise DataError(f"{where}: the last beat ends at {end[-1]} but {npy} holds {signal.shape[0]} samples")
    bounds = np.r_[0, np.flatnonzero(np.diff(cols["recording"])) + 1, start.size]
    ids = cols["recording"][bounds[:-1]]
    if np.unique(ids).size != ids.size:
        raise DataError(
            f"{where}: the rows of a recording must be consecutive (recordings in order: {ids.tolist()})"
        )
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        offset, stop = int(start[lo]), int(end[hi - 1])
        table = BeatTable(
            start[lo:hi] - offset, end[lo:hi] - offset, cols["target"][lo:hi], cols["bad_signal"][lo:hi]
        )
        out.append((str(int(cols["recording"][lo])), signal[offset:stop], table))
    return out


def _load_signal(path: Path) -> np.ndarray:
    try:
        signal = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise DataError(f"cannot read ECG recordings {path}: {type(err).__name__}: {err}") from None
    if signal.ndim != 2 or signal.shape[1] != 2 or signal.shape[0] == 0 or signal.dtype.kind != "f":
        raise DataError(
            f"ECG recordings {path}: expected float samples × 2 leads, got {signal.dtype} {signal.shape}"
        )
    return signal


def _load_annotations(path: Path) -> dict[str, np.ndarray]:
    """The columns of ``annotations.csv`` (pandas ``to_csv`` layout: an unnamed index column first)."""
    need = CSV_COLUMNS[:-1]  # is_anomal is derived from target; not needed to read
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read ECG annotations {path}: {type(err).__name__}: {err}") from None
    header = rows[0] if rows else []
    missing = [c for c in need if c not in header]
    if missing:
        raise DataError(f"ECG annotations {path}: no column(s) {', '.join(missing)} in the header {header}")
    if len(rows) < 2:
        raise DataError(f"ECG annotations {path} holds no beats")
    at = {c: header.index(c) for c in need}
    cols = {c: [] for c in need}
    for line, row in enumerate(rows[1:], start=2):
        try:
            for c in need:
                raw = row[at[c]].strip()
                cols[c].append(BOOLS[raw] if c == "bad_signal" else int(raw))
        except (IndexError, KeyError, ValueError):
            raise DataError(f"ECG annotations {path}, line {line}: malformed row {row}") from None
    out = {c: np.asarray(v, dtype=bool if c == "bad_signal" else np.int64) for c, v in cols.items()}
    codes = set(TRANSLATE.values())
    unknown = sorted(set(np.unique(out["target"]).tolist()) - codes)
    if unknown:
        raise DataError(f"ECG annotations {path}: unknown target codes {unknown} (valid: 0..{max(codes)})")
    return out


USAGE = "usage: python -m ECG.records -export_recordings=DIR -data_dir=WFDB_DIR"


def main(argv: list[str] | None = None) -> int:
    """``-export_recordings=DIR -data_dir=WFDB_DIR``: write the extracted format (exit 0); a bad or missing
    flag exits 2 naming it, missing or corrupt records exit 1 naming the file."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help", "-help") for a in argv):
        print(f"{USAGE}\n\n{__doc__}")
        return 0
    flags = {}
    for arg in argv:
        key, sep, value = arg.lstrip("-").partition("=")
        if not arg.startswith("-") or key not in ("export_recordings", "data_dir") or not sep or not value:
            print(f"python -m ECG.records: error: bad argument {arg!r}\n{USAGE}", file=sys.stderr)
            return 2
        flags[key] = value
    for key, what in (
        ("export_recordings", "the folder to write"),
        ("data_dir", "the folder of the WFDB records"),
    ):
        if key not in flags:
            print(f"python -m ECG.records: error: -{key}=DIR ({what}) is needed\n{USAGE}", file=sys.stderr)
            return 2
    try:
        done = export_recordings(flags["data_dir"], flags["export_recordings"])
    except DataError as err:
        print(f"python -m ECG.records: error: {err}", file=sys.stderr)
        return 1
    print(
        f"wrote {done['recordings']} and {done['annotations']}: {done['records']} records, "
        f"{done['beats']} beats, {done['samples']} samples",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
