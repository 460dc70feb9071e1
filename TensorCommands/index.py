"""Which clip goes where: the Speech Commands hash split and the silence/unknown index (docs/original.md
§3.1).

Reproduces ``AudioProcessor.prepare_data_index`` of ``TensorCommands/input_data.py@47ed9584`` with a
seeded ``numpy.random.Generator`` in place of the global ``random`` module, on whatever word folders exist
(the full v0.02 set or a partial copy): every folder that is not a wanted word feeds ``_unknown_``.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robustness.datasets import DataError, ceil_percent

SILENCE_LABEL = "_silence_"
UNKNOWN_WORD_LABEL = "_unknown_"
SILENCE_INDEX = 0
UNKNOWN_WORD_INDEX = 1
BACKGROUND_NOISE_DIR_NAME = "_background_noise_"
MAX_NUM_WAVS_PER_CLASS = 2**27 - 1  # ~134M, the dataset's constant
SPLITS = ("validation", "testing", "training")  # the original's processing order (it matters for the RNG)


@functools.cache
def percentage_hash(filename: str) -> float:
    """SHA-1 of the file name without ``_nohash_…``, mod 2²⁷, scaled to [0, 100]."""
    hash_name = re.sub(r"_nohash_.*$", "", Path(filename).name)
    hashed = int(hashlib.sha1(hash_name.encode("utf-8")).hexdigest(), 16)
    return (hashed % (MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / MAX_NUM_WAVS_PER_CLASS)


def which_set(filename: str, validation_percentage: float = 10.0, testing_percentage: float = 10.0) -> str:
    """The dataset's stable split rule on :func:`percentage_hash`: < 10 validation, < 20 testing, else
    training. All clips of one speaker (same prefix) land in the same split."""
    share = percentage_hash(str(filename))
    if share < validation_percentage:
        return "validation"
    if share < testing_percentage + validation_percentage:
        return "testing"
    return "training"


def words_list(wanted_words: list[str]) -> list[str]:
    """Class names in label order: ``[_silence_, _unknown_, *wanted]``."""
    return [SILENCE_LABEL, UNKNOWN_WORD_LABEL, *wanted_words]


@dataclass(frozen=True)
class DatasetFiles:
    """The clips found under a Speech Commands directory (paths relative to ``root``, sorted)."""

    root: Path
    clips: dict[str, tuple[str, ...]]  # word folder (lower case) → relative wav paths
    background: tuple[str, ...]  # relative paths of _background_noise_/*.wav


def scan_dataset(data_dir) -> DatasetFiles:
    """List ``<word>/*.wav`` and ``_background_noise_/*.wav`` (sorted, so results never depend on the
    file system's listing order)."""
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"Speech Commands directory {root} does not exist")
    clips, background = {}, ()
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        wavs = tuple(sorted(str(p.relative_to(root)) for p in folder.glob("*.wav")))
        if not wavs:
            continue
        if folder.name == BACKGROUND_NOISE_DIR_NAME:
            background = wavs
        else:
            clips.setdefault(folder.name.lower(), ())
            clips[folder.name.lower()] += wavs
    if not clips:
        raise DataError(f"no <word>/*.wav clips found in {root} (expected the Speech Commands v0.02 layout)")
    return DatasetFiles(root, clips, background)


def build_index(
    files: DatasetFiles,
    wanted_words: list[str],
    rng: np.random.Generator,
    silence_percentage: float = 10.0,
    unknown_percentage: float = 10.0,
    validation_percentage: float = 10.0,
    testing_percentage: float = 10.0,
) -> dict[str, list[tuple[int, str | None]]]:
    """``{split: [(label, relative path or None for silence), …]}`` as ``prepare_data_index``.

    Per split (in the order validation, testing, training, one generator throughout): the wanted-word
    clips of the hash split, ``ceil(silence% · n_wanted)`` silence entries, then ``ceil(unknown% ·
    n_wanted)`` unknowns from a shuffled list of the other words' clips of that split; finally each split
    is shuffled.
    """
    missing = [w for w in wanted_words if w not in files.clips]
    if missing:
        raise DataError(
            f"wanted words {missing} have no folder in {files.root}; found: {', '.join(sorted(files.clips))}"
        )
    label_of = {word: i + 2 for i, word in enumerate(wanted_words)}
    index = {s: [] for s in SPLITS}
    unknown = {s: [] for s in SPLITS}
    for word, paths in files.clips.items():
        for path in paths:
            split = which_set(path, validation_percentage, testing_percentage)
            if word in label_of:
                index[split].append((label_of[word], path))
            else:
                unknown[split].append((UNKNOWN_WORD_INDEX, path))
    for split in SPLITS:
        set_size = len(index[split])
        index[split] += [(SILENCE_INDEX, None)] * ceil_percent(set_size, silence_percentage)
        pool = unknown[split]
        order = rng.permutation(len(pool))
        index[split] += [pool[i] for i in order[: ceil_percent(set_size, unknown_percentage)]]
    for split in SPLITS:
        index[split] = [index[split][i] for i in rng.permutation(len(index[split]))]
    return index
