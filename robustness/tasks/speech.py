"""The speech task: Speech Commands yes/no keyword spotting with an LSNN (docs/original.md §3.1,
``main_speech_lsnn.py``).

Labels are ``[_silence_, _unknown_, *wanted_words]`` (``TensorCommands.index.words_list``); inputs are
98 × 40 MFCC frames. The unknown/silence selection of the training and validation splits depends on the
seed (the original's ``AudioProcessor(seed=FLAGS.seed)``), so each seed loads its own split; the test
split uses ``eval_seed`` (quirk 7).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from robustness.configs import TrainConfig, flag, redefault
from robustness.tasks import panels
from robustness.tasks.base import Task
from robustness.tasks.lsnn_common import LsnnConfig, lsnn_model
from TensorCommands.dataset import SpeechDataset
from TensorCommands.index import words_list


@dataclass(frozen=True, kw_only=True)
class SpeechConfig(LsnnConfig):
    """Speech Commands yes/no keyword spotting with 4 classes (docs/original.md §3.1)."""

    ARCHITECTURE: ClassVar[str] = "speech_lsnn"

    n_epochs: tuple[int, ...] = redefault(TrainConfig, "n_epochs", (64, 16))
    data_dir: str = flag("TensorCommands/speech_dataset/", "Speech Commands v0.02 directory")
    data_url: str = flag(
        "https://storage.googleapis.com/download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
        "where the official tarball is downloaded from",
    )
    wanted_words: str = flag("yes,no", "comma-separated keywords; labels are [_silence_, _unknown_, *words]")
    sample_rate: int = flag(16000, "audio sample rate (Hz)", ge=1)
    clip_duration_ms: int = flag(1000, "clip length (ms)", ge=1)
    window_size_ms: float = flag(30.0, "STFT frame length (ms)", gt=0.0)
    window_stride_ms: float = flag(10.0, "STFT frame step (ms)", gt=0.0)
    feature_bin_count: int = flag(40, "number of mel bins and MFCC coefficients kept", ge=1)
    preprocess: str = flag("mfcc", "feature type", ("mfcc",))
    silence_percentage: float = flag(10.0, "silence entries per split, % of the wanted-word count", ge=0.0)
    unknown_percentage: float = flag(
        10.0, "unknown-word entries per split, % of the wanted-word count", ge=0.0
    )
    validation_percentage: float = flag(10.0, "hash-split validation share (%)", ge=0.0, le=100.0)
    testing_percentage: float = flag(10.0, "hash-split test share (%)", ge=0.0, le=100.0)
    background_volume: float = flag(0.1, "max background-noise volume for words in training", ge=0.0)
    background_frequency: float = flag(
        0.8, "probability that a training word gets background noise", ge=0.0, le=1.0
    )
    time_shift_ms: float = flag(100.0, "max random time shift in training (ms)", ge=0.0)
    eval_seed: int = flag(
        59185, "quirk 7: seed of the evaluation-time unknown/silence selection (report: 59185)", ge=0
    )

    @property
    def desired_samples(self) -> int:
        return int(self.sample_rate * self.clip_duration_ms / 1000)

    @property
    def window_size_samples(self) -> int:
        return int(self.sample_rate * self.window_size_ms / 1000)

    @property
    def window_stride_samples(self) -> int:
        return int(self.sample_rate * self.window_stride_ms / 1000)

    @property
    def time_shift_samples(self) -> int:
        return int(self.sample_rate * self.time_shift_ms / 1000)

    @property
    def spectrogram_length(self) -> int:
        return 1 + (self.desired_samples - self.window_size_samples) // self.window_stride_samples

    @property
    def fingerprint_width(self) -> int:
        return self.feature_bin_count

    @property
    def label_count(self) -> int:
        return len(self.wanted_words.split(",")) + 2


def class_names(config: SpeechConfig) -> list[str]:
    """``silence``, ``unknown``, then the wanted words (the reader's labels without underscores)."""
    return [name.strip("_") for name in words_list(config.wanted_words.split(","))]


def draw_panel(fig, cell, panel: dict) -> None:
    """One row of MFCCs per model: coefficients 0..12, each z-scored over the examples (c0 dominates)."""
    x = np.asarray(panel["x"])
    z = (x - x.mean((0, 1))) / (x.std((0, 1)) + 1e-6)

    def mfcc(ax, i):
        ax.pcolormesh(z[i][:, :13].T, cmap="magma", vmin=-2, vmax=2)

    panels.example_grid(fig, cell, panel, len(panel["labels"]), mfcc, titles=True)


TASK = Task(
    config_cls=SpeechConfig,
    title="Speech (LSNN)",
    code_file="main_speech_lsnn.py",
    data_env="SPEECH_COMMANDS_DIR",
    dataset=SpeechDataset,
    model=lsnn_model,
    class_names=class_names,
    data_depends_on_seed=True,
    mismatch_levels=(0.0, 0.5, 0.7, 0.9, 1.1, 1.5),
    panel_sigma=0.9,
    panel_examples=((2, 3), 2),  # two "yes", two "no"
    quick_clean_floor=0.85,
    draw_panel=draw_panel,
)
