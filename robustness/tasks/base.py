"""What a task is (``Task``: everything specific to speech, ECG or Fashion-MNIST) and what a config bound to
its network is (``Model``, returned by ``robustness.tasks.make_task``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from robustness.configs import TrainConfig, field_default
from robustness.paths import REPO_ROOT


@dataclass(frozen=True)
class Model:
    """A config bound to its network: ``init(key) -> params`` and ``forward(params, x, dropout_mask=None) ->
    (logits, spikes)``; ``n_units`` is the width of the dropout mask (one mask per neuron per sequence)."""

    config: TrainConfig
    init: Callable
    forward: Callable
    n_units: int
    n_classes: int


@dataclass(frozen=True)
class Task:
    """One task of the report. The shared loop, the Experiments and the launch layer ask this, never the
    config's type. A task module builds one ``TASK`` and ``robustness.tasks`` registers it."""

    config_cls: type  # the task's flags and their defaults (a TrainConfig subclass naming its ARCHITECTURE)
    title: str  # label in figures and tables
    code_file: str  # the training script, relative to the repository root
    data_env: str  # environment variable that overrides the default data folder (config field data_dir)
    dataset: Callable  # reader: dataset(config whose data_dir is resolved) -> robustness.datasets.Dataset
    model: Callable  # model(config, n_in or None) -> Model
    class_names: Callable  # class_names(config) -> display names in label order
    data_depends_on_seed: bool  # True: each seed has its own split selection (loaded once per seed)
    mismatch_levels: tuple[float, ...]  # figure_main: the σ of θ(1 + σN(0, 1)), 0 first
    panel_sigma: float  # figure_main: σ of the top panel's mismatch draw
    panel_examples: tuple  # figure_main: (classes shown, examples per class) in the top panel
    draw_panel: Callable  # draw_panel(fig, gridspec cell, panel numbers): figure_main's top panel
    # redraws_on_load(config): True when every construction of the reader draws a new sample, as the
    # original's ECG loader did (quirk 8): then each evaluation call (each mismatch draw) loads afresh
    redraws_on_load: Callable = lambda config: False
    # the original's done-checker for its own results logs (no "done" key): at least this many training
    # accuracies (speech: any; ECG: more than 50; CNN: at least 50); see artifacts.results_complete
    original_min_logs: int = 0
    # the main job's claim check (robustness.claims): standard clean test accuracy the quick profile must reach
    quick_clean_floor: float = 0.0
    # figure_main -panels=simulated (reductions.simulated_panel): the original's fake predictions,
    # ("relabel" | "frame", probability for standard, for robust); None: it showed no predictions
    simulated_panel: tuple | None = None

    @property
    def architecture(self) -> str:
        """``speech_lsnn`` / ``ecg_lsnn`` / ``cnn``: the original class names and datajuicer table names."""
        return self.config_cls.ARCHITECTURE

    def default_data_dir(self) -> str:
        """``$<data_env>`` when set, else the config's default ``data_dir`` under the repository root."""
        return os.environ.get(self.data_env) or str(REPO_ROOT / field_default(self.config_cls, "data_dir"))

    def data_dir_of(self, config: TrainConfig) -> str:
        """``config.data_dir`` if it was set to something other than the default, else ``default_data_dir``."""
        if config.data_dir and config.data_dir != field_default(self.config_cls, "data_dir"):
            return os.path.expandvars(config.data_dir)
        return self.default_data_dir()
