"""Figure ``figure_mismatch`` (Resources/Figures/figure_mismatch.{png,pdf,json}; docs/original.md §5.5).

Claim under test: on a mixed-signal chip the spread of a parameter grows in proportion to its mean
(σ ∝ μ), which motivates the relative mismatch model θ(1 + σ·N(0, 1)) used everywhere else.
Uses: chip measurements only (W_AMPA/W_NMDA PSP peaks and τ_mem at several bias settings); nothing is
trained. Data: ``$FIGURE_MISMATCH_DIR``, else ``FigureMismatch/Resources/`` (three .npy files).
Command: ``python make_figures.py -exp figure_mismatch``, or ``cd FigureMismatch && python plot.py``.
Expected: lower-GMM ticks a = 3, 7, 14, 19 mV; b = 15, 31, 39, 60 ms; c = 2, 7, 12, 18 mV; in (d) a
positive σ-vs-μ slope for all three quantities (R² ≈ 0.99 for both weights, ≈ 0.6 for τ_mem).
"""

from pathlib import Path

from FigureMismatch.plot import find_data_dir, make_figure
from robustness.figures import figure_dir
from robustness.paths import Dirs
from robustness.profiles import DEFAULT


class figure_mismatch:  # lower-case: make_figures looks the class up by the module name
    @staticmethod
    def train_grid(profile=DEFAULT) -> list:
        """Nothing to train: the figure uses hardware measurements only."""
        return []

    @staticmethod
    def visualize(profile=DEFAULT, out_dir=None, dirs=Dirs(), data_dir=None, figure_config=None) -> dict:
        """Load the measurements, fit, draw and save; returns the plotted numbers (also in the JSON)."""
        data_dir = find_data_dir() if data_dir is None else data_dir
        out = figure_dir(profile, out_dir, dirs.resources_dir)
        dpi = None if figure_config is None else figure_config.dpi
        return make_figure(Path(data_dir), out, profile=profile, dpi=dpi)
