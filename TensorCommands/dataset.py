"""Speech Commands yes/no as a :class:`robustness.datasets.Dataset` (docs/original.md §3.1, quirk 7).

Training: indices drawn with replacement, each clip time-shifted ±100 ms and mixed with background noise
(probability 0.8, volume U(0, 0.1); silence always, volume U(0, 1)), then MFCC → [98, 40]; everything is
drawn from ``default_rng([stream, seed, step])`` so a batch is a pure function of ``(seed, step)``.
Validation/test: no shift, no noise on words; silence entries get seeded background noise at U(0, 1).
Training/validation selection uses ``config.seed``; the test selection uses ``config.eval_seed``
(59185, as the original's evaluation-time ``AudioProcessor``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robustness.datasets import DataError, Dataset, cached, class_counts, file_manifest, manifest_digest
from TensorCommands.audio import download_speech_commands, has_clips, load_background, load_clips
from TensorCommands.features import mfcc
from TensorCommands.index import build_index, scan_dataset, words_list

INDEX_STREAM, EVAL_NOISE_STREAM, TRAIN_STREAM = 11, 12, 13  # separate RNG streams derived from a seed
EVAL_CHUNK = 256


@dataclass(frozen=True)
class Background:
    """All background recordings concatenated (float32), with each one's start and length."""

    samples: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray

    @classmethod
    def from_list(cls, arrays: list[np.ndarray]) -> Background:
        lengths = np.array([len(a) for a in arrays], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        samples = np.concatenate(arrays) if arrays else np.zeros(0, np.float32)
        return cls(samples, starts, lengths)


@dataclass(frozen=True)
class Mixing:
    """The random choices for one batch: shift (samples, >0 delays), noise clip, offset and volume."""

    shift: np.ndarray
    bg_index: np.ndarray
    bg_offset: np.ndarray
    bg_volume: np.ndarray


def draw_mixing(rng, silence: np.ndarray, background: Background, config, training: bool) -> Mixing:
    """Draw the augmentation of a batch as the original ``get_data`` did, vectorised.

    Training: shift ~ U{−T, T−1} (T = 1600 samples), every entry gets a noise clip and offset; its volume
    is U(0, 1) for silence, else U(0, 0.1) with probability ``background_frequency`` and 0 otherwise.
    Evaluation: no shift; only silence entries get noise, at U(0, 1).
    """
    n, desired = silence.shape[0], config.desired_samples
    shift_max = config.time_shift_samples if training else 0
    shift = rng.integers(-shift_max, shift_max, n) if shift_max > 0 else np.zeros(n, np.int64)
    n_bg = len(background.lengths)
    if n_bg == 0:
        zeros = np.zeros(n, np.int64)
        return Mixing(shift, zeros, zeros, np.zeros(n, np.float32))
    bg_index = rng.integers(0, n_bg, n)
    bg_offset = rng.integers(0, background.lengths[bg_index] - desired)
    silence_volume = rng.uniform(0.0, 1.0, n)
    if training:
        use = rng.uniform(0.0, 1.0, n) < config.background_frequency
        word_volume = np.where(use, rng.uniform(0.0, config.background_volume, n), 0.0)
    else:
        word_volume = np.zeros(n)
    volume = np.where(silence, silence_volume, word_volume).astype(np.float32)
    return Mixing(shift, bg_index, bg_offset, volume)


def mix_audio(clips: np.ndarray, silence: np.ndarray, mixing: Mixing, background: Background) -> np.ndarray:
    """clip(shift(foreground) + volume · noise, −1, 1): int16 [B, S] → float32 [B, S] (docs/original.md §3.1
    order).

    Silence entries have foreground volume 0; a positive shift pads zeros in front, a negative one at the
    end. Rows are contiguous slice copies (a per-row loop is ~10× faster than fancy-index gathers here).
    """
    n, desired = clips.shape
    out = np.zeros((n, desired), dtype=np.float32)
    scale = np.float32(1.0 / 32768.0)
    has_noise = len(background.lengths) > 0
    for i in range(n):
        if not silence[i]:
            s = int(mixing.shift[i])
            dst, src = (
                (slice(s, desired), slice(0, desired - s))
                if s >= 0
                else (slice(0, desired + s), slice(-s, desired))
            )
            out[i, dst] = clips[i, src] * scale
        if has_noise and mixing.bg_volume[i] != 0:
            start = int(background.starts[mixing.bg_index[i]] + mixing.bg_offset[i])
            out[i] += mixing.bg_volume[i] * background.samples[start : start + desired]
    return np.clip(out, -1.0, 1.0, out=out)


class SpeechDataset(Dataset):
    """Speech Commands keyword spotting with labels ``[_silence_, _unknown_, *wanted_words]``."""

    name = "speech"

    def __init__(self, config):
        """``config``: any object with the speech flags of ``robustness.tasks.speech.SpeechConfig`` (and its
        derived sizes); ``config.data_dir`` is the resolved data folder."""
        self.config = config
        self.root = Path(config.data_dir)
        if not has_clips(self.root):
            if not config.data_url:
                raise DataError(f"no Speech Commands clips in {self.root} and no -data_url to download from")
            download_speech_commands(self.root, config.data_url)
        files = scan_dataset(self.root)
        wanted = [w.strip().lower() for w in config.wanted_words.split(",") if w.strip()]
        self.words = words_list(wanted)
        self.unknown_words = sorted(set(files.clips) - set(wanted))
        self.n_classes = len(self.words)
        self.input_shape = (config.spectrogram_length, config.fingerprint_width)
        self._background_files = files.background
        self.background = self._read_background(files)
        pct = (config.silence_percentage, config.unknown_percentage)
        pct += (config.validation_percentage, config.testing_percentage)
        index = build_index(files, wanted, np.random.default_rng([INDEX_STREAM, config.seed]), *pct)
        test_index = build_index(files, wanted, np.random.default_rng([INDEX_STREAM, config.eval_seed]), *pct)
        self._entries = {"train": index["training"], "validation": index["validation"]}
        self._entries["test"] = test_index["testing"]
        self._load_audio([p for w in wanted for p in files.clips[w]])
        self._train_rows, self._train_labels = self._rows("train")
        self.n_train = len(self._train_labels)
        self._eval = {}

    def _read_background(self, files) -> Background:
        c = self.config
        if c.silence_percentage > 0 and not files.background:
            raise DataError(
                f"{self.root}/_background_noise_/ has no WAV files, but silence entries need them"
            )
        background = Background.from_list(load_background(self.root, files.background, c.sample_rate))
        short = [f for f, n in zip(files.background, background.lengths) if n <= c.desired_samples]
        if short:
            raise DataError(f"background noise files shorter than {c.desired_samples} samples: {short}")
        return background

    def _load_audio(self, wanted_paths: list[str]) -> None:
        """Decode the clips in three cached groups: wanted words (shared by every seed), the unknowns of
        this seed's train/validation, and the test unknowns (eval_seed) not among them."""
        c = self.config
        unknown = {p for s in ("train", "validation") for lab, p in self._entries[s] if lab == 1}
        unknown_test = {p for lab, p in self._entries["test"] if lab == 1} - unknown
        groups = [wanted_paths, sorted(unknown), sorted(unknown_test)]
        self._audio = np.concatenate(
            [load_clips(self.root, g, c.desired_samples, c.sample_rate) for g in groups]
        )
        self._row_of = {p: i for i, p in enumerate(p for g in groups for p in g)}

    def _rows(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(clip row per entry, −1 for silence) and int32 labels of a split, in the split's shuffled order."""
        entries = self._entries[split]
        rows = np.array([-1 if p is None else self._row_of[p] for _, p in entries], dtype=np.int64)
        return rows, np.array([lab for lab, _ in entries], dtype=np.int32)

    def _clips(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        silence = rows < 0
        return self._audio[np.where(silence, 0, rows)], silence

    def features(self, rows: np.ndarray, rng, training: bool) -> np.ndarray:
        """float32 [B, 98, 40] MFCCs of the entries ``rows`` (−1 = silence), augmented from ``rng``."""
        clips, silence = self._clips(rows)
        mixing = draw_mixing(rng, silence, self.background, self.config, training)
        audio = mix_audio(clips, silence, mixing, self.background)
        c = self.config
        return mfcc(
            audio,
            c.sample_rate,
            c.window_size_samples,
            c.window_stride_samples,
            c.feature_bin_count,
            c.fingerprint_width,
        )

    def train_batch(self, seed: int, step: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices uniformly with replacement, then shift/noise/MFCC, all from ``default_rng([13, seed, step])``."""
        rng = np.random.default_rng([TRAIN_STREAM, int(seed), int(step)])
        pick = rng.integers(0, self.n_train, batch_size)
        x = self.features(self._train_rows[pick], rng, training=True)
        return x, self._train_labels[pick]

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Deterministic features of the validation (seed) or test (eval_seed) split, cached on disk."""
        self._check_split_name(name)
        if name not in self._eval:
            rows, labels = self._rows(name)
            noise_seed = self.config.eval_seed if name == "test" else self.config.seed
            self._eval[name] = (self._eval_features(name, rows, noise_seed), labels)
        return self._eval[name]

    def _eval_features(self, name: str, rows: np.ndarray, noise_seed: int) -> np.ndarray:
        c = self.config
        used = sorted({p for _, p in self._entries[name] if p is not None})
        settings = {
            "root": str(self.root),
            "split": name,
            "noise_seed": noise_seed,
            "entries": manifest_digest([[lab, p] for lab, p in self._entries[name]]),
            "files": manifest_digest(file_manifest([self.root / p for p in used], self.root)),
            "background": manifest_digest(
                file_manifest([self.root / p for p in self._background_files], self.root)
            ),
            "features": [
                c.sample_rate,
                c.desired_samples,
                c.window_size_samples,
                c.window_stride_samples,
                c.feature_bin_count,
                c.fingerprint_width,
                "mfcc-tf-v1",
            ],
        }

        def build():
            rng = np.random.default_rng([EVAL_NOISE_STREAM, noise_seed])
            chunks = [
                self.features(rows[i : i + EVAL_CHUNK], rng, training=False)
                for i in range(0, len(rows), EVAL_CHUNK)
            ]
            return {"x": np.concatenate(chunks) if chunks else np.zeros((0, *self.input_shape), np.float32)}

        return cached("speech-eval", settings, build)["x"]

    def summary(self) -> dict:
        splits = {"train": self._train_labels}
        splits.update({s: self._rows(s)[1] for s in ("validation", "test")})
        return {
            "name": self.name,
            "data_dir": str(self.root),
            "classes": self.words,
            "unknown_words": self.unknown_words,
            "background_files": len(self.background.lengths),
            "index_seed": self.config.seed,
            "test_seed": self.config.eval_seed,
            "input_shape": list(self.input_shape),
            "splits": {s: {"size": len(y), "counts": class_counts(y, self.words)} for s, y in splits.items()},
        }
