"""The ECG task: MIT-BIH beats N/L/R/V, 100 samples × 2 leads, with an LSNN (docs/original.md §3.2,
``main_ecg_lsnn.py``).

Class names are the reader's (``ECG.records.CLASS_NAMES``). The beat selection is seeded once (42), not per
training seed (deviation 8), so one dataset serves every seed of a vmapped run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ECG.dataset import EcgDataset
from ECG.records import CLASS_NAMES
from robustness.configs import TrainConfig, flag, redefault
from robustness.tasks import panels
from robustness.tasks.base import Task
from robustness.tasks.lsnn_common import LsnnConfig, lsnn_model

CLASS_COLORS = ["#9b59b6", "#3498db", "#95a5a6", "#e74c3c"]  # the original's colours of N, L, R, V


@dataclass(frozen=True, kw_only=True)
class EcgConfig(LsnnConfig):
    """MIT-BIH beats N/L/R/V, 100 samples × 2 leads (docs/original.md §3.2)."""

    ARCHITECTURE: ClassVar[str] = "ecg_lsnn"

    eval_step_interval: int = redefault(TrainConfig, "eval_step_interval", 400)
    validation_batch_size: int = redefault(TrainConfig, "validation_batch_size", 200)
    data_dir: str = flag(
        "ECG/ecg_recordings/",
        "MIT-BIH folder: the original's recordings.npy + annotations.csv, or WFDB records .hea/.dat/.atr",
    )
    beats_per_class: int = flag(3000, "max beats drawn per class (report: 3000)", ge=1)
    split_by_patient: bool = flag(False, "split train/val/test by record instead of by beat")
    ecg_resample_quirk: bool = flag(
        False,
        "quirk 8: re-draw the per-class beat sample at every load: per run, evaluation call and mismatch draw (leaks test)",
    )
    ecg_window: str = flag(
        "first_peak",
        "beat window: first_peak = around the first find_peaks peak of the segment (report; keeps ~22 % of "
        "beats, mostly T waves), r_peak = centred on the annotated R peak",
        ("first_peak", "r_peak"),
    )

    @property
    def spectrogram_length(self) -> int:
        return 100

    @property
    def fingerprint_width(self) -> int:
        return 2

    @property
    def label_count(self) -> int:
        return 4


def class_names(config: EcgConfig) -> list[str]:
    return list(CLASS_NAMES)


def draw_panel(fig, cell, panel: dict) -> None:
    """Rows Truth / Robust / Standard: the beats one after another (both leads), each shaded in the colour
    of its true class or of the model's prediction under mismatch."""
    x = np.asarray(panel["x"])
    inner = cell.subgridspec(3, 1, hspace=0.15)
    signal = x.reshape(-1, x.shape[-1])
    rows = [("Truth", panel["labels"])] + [(name, panel[m]["mismatch"]) for name, m in panels.ROWS]
    for r, (name, labels) in enumerate(rows):
        ax = fig.add_subplot(inner[r])
        ax.plot(signal, lw=0.5, color="k", alpha=0.8)
        for i, c in enumerate(labels):
            ax.axvspan(i * x.shape[1], (i + 1) * x.shape[1], color=CLASS_COLORS[c], alpha=0.4, lw=0)
        ax.set(xticks=[], yticks=[], xlim=(0, len(signal)))
        ax.set_ylabel(name, fontsize=6)


TASK = Task(
    config_cls=EcgConfig,
    title="ECG (LSNN)",
    code_file="main_ecg_lsnn.py",
    data_env="MITDB_DIR",
    dataset=EcgDataset,
    model=lsnn_model,
    class_names=class_names,
    data_depends_on_seed=False,
    mismatch_levels=(0.0, 0.2, 0.3, 0.5, 0.7, 0.9),
    panel_sigma=0.5,
    panel_examples=((0, 1, 2, 3), 2),  # two beats of each class
    draw_panel=draw_panel,
    original_min_logs=51,
    quick_clean_floor=0.80,
    redraws_on_load=lambda config: config.ecg_resample_quirk,
    simulated_panel=("relabel", 0.4, 0.1),  # each label swapped for a random class: Normal 0.4, Robust 0.1
)
