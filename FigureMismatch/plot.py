"""Chip-measurement figure ``figure_mismatch`` (docs/original.md §5.5).

Mismatch measured on a mixed-signal neuromorphic chip (256 neurons of one core): per-synapse PSP peaks
of the slow (W_AMPA) and fast (W_NMDA) excitatory synapses and per-neuron membrane time constants, each
at several bias settings. Panels (a) W_AMPA, (b) τ_mem, (c) W_NMDA: histograms at 4 bias settings with
the lower component of a 2-Gaussian mixture dashed and its mean as the x-tick. Panel (d): per bias
setting, the fitted σ against μ with a linear fit per quantity; σ ∝ μ motivates the relative mismatch
model θ(1 + σN). Fits run on the raw SI values (V, s) as in the original — the GMM's ``reg_covar=1e-6``
and tolerance are scale-dependent — and everything is plotted and reported in mV / ms.

``cd FigureMismatch && python plot.py`` (the original README's command; also ``python -m FigureMismatch.plot``)
draws the figure into ``Resources/Figures/`` — the file ``python make_figures.py`` writes — from the first of
``$FIGURE_MISMATCH_DIR`` and ``FigureMismatch/Resources/`` that holds the three files; ``-out_dir=DIR`` writes
elsewhere. Exit 1 naming the missing files (and the variable) when neither folder has them.
"""

import hashlib
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

if __name__ == "__main__" and not __package__:  # run as a script from FigureMismatch/: find the repository
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402
from sklearn.mixture import GaussianMixture  # noqa: E402
from sklearn.neighbors import LocalOutlierFactor  # noqa: E402

from robustness.figure_files import save_figure  # noqa: E402
from robustness.paths import REPO_ROOT  # noqa: E402
from robustness.plotting import plt  # noqa: E402

# name -> (file, sha256, shape); the checksums of the published files (docs/original.md §5.5).
FILES = {
    "tau_mem": (
        "vals_per_tau_bias_c0c1_0.3_0.45.npy",
        "eb11f28d2dc802406766e2ad6f40e896c458593403a89ca646e3234721c36ab6",
        (16, 256),
    ),
    "w_fast": (
        "c0_fast_exc_weight.npy",
        "7ad61209ceaaa2e96e4ca80b29e4f56b595b2510cdc072ca8b9a139cde5f20cf",
        (17, 256),
    ),
    "w_slow": (
        "c0_slow_exc_weight.npy",
        "98d04f5d5ee3330f2500faa11464e6c8b9cd4b65764d88745fce98737e70c887",
        (17, 256),
    ),
}
ORIGIN = "synsense/Robust-Classification-EBN@225ef961 FigureMismatch/Resources/"
INVALID_FROM = 100.0  # the script keeps x < 100: drops the 9.9e37 "no valid measurement" markers
GMM_SEED = 0  # the original did not seed its GaussianMixture; seed 0 reproduces its published ticks
DATA_ENV = "FIGURE_MISMATCH_DIR"
DEFAULT_DATA_DIR = REPO_ROOT / "FigureMismatch" / "Resources"


@dataclass(frozen=True)
class Panel:
    """One measured quantity: which rows (bias settings) feed its histograms and the σ-vs-μ fit."""

    key: str
    hist_rows: tuple[int, ...]
    fit_rows: tuple[int, ...]
    xlabel: str
    label: str
    color: str


# Row numbers are those of the .npy files. The original drops rows before indexing: τ keeps rows 4..12
# reversed and takes list positions 1, 4, 5, 7 (= rows 11, 8, 7, 5); W_slow keeps 0..12, W_fast 0..13.
PANELS = {
    "a": Panel(
        key="w_slow",
        hist_rows=(2, 5, 7, 8),
        fit_rows=tuple(range(13)),
        xlabel=r"$W_\mathrm{AMPA}$ [mV$_\mathrm{peak}$]",
        label=r"$W_\mathrm{AMPA}$",
        color="#db3262",
    ),
    "b": Panel(
        key="tau_mem",
        hist_rows=(11, 8, 7, 5),
        fit_rows=tuple(range(12, 3, -1)),
        xlabel=r"$\tau_\mathrm{mem}$ [ms]",
        label=r"$\tau_\mathrm{mem}$",
        color="#3262db",
    ),
    "c": Panel(
        key="w_fast",
        hist_rows=(2, 10, 12, 13),
        fit_rows=tuple(range(14)),
        xlabel=r"$W_\mathrm{NMDA}$ [mV$_\mathrm{peak}$]",
        label=r"$W_\mathrm{NMDA}$",
        color="#29a624",
    ),
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def missing_files(data_dir) -> list[str]:
    """The names of the three measurement files that ``data_dir`` does not hold."""
    return [name for name, _, _ in FILES.values() if not (Path(data_dir) / name).is_file()]


def find_data_dir() -> Path:
    """``$FIGURE_MISMATCH_DIR`` when it holds the three files, else ``FigureMismatch/Resources/`` when it does;
    FileNotFoundError naming, per folder tried, the missing files (and the variable) when neither has them."""
    candidates = ([Path(os.environ[DATA_ENV])] if os.environ.get(DATA_ENV) else []) + [DEFAULT_DATA_DIR]
    for folder in candidates:
        if not missing_files(folder):
            return folder
    tried = "; ".join(
        f"{', '.join(gone)} {'is' if len(gone) == 1 else 'are'} missing in {folder}"
        for folder, gone in ((folder, missing_files(folder)) for folder in candidates)
    )
    unset = "" if os.environ.get(DATA_ENV) else f" (${DATA_ENV} is not set)"
    raise FileNotFoundError(
        f"chip-measurement files not found{unset}: {tried}. Put the three files "
        f"({', '.join(f[0] for f in FILES.values())}) from {ORIGIN} into one folder and point "
        f"${DATA_ENV} at it, or copy them into FigureMismatch/Resources/."
    )


def load_measurements(data_dir) -> dict[str, np.ndarray]:
    """The three float64 arrays ``{"tau_mem": (16, 256) s, "w_fast": (17, 256) V, "w_slow": (17, 256) V}``.

    Raises FileNotFoundError naming the missing file and where to get it, and ValueError naming a file
    whose sha256, dtype or shape is not the published one.
    """
    data_dir = Path(data_dir)
    arrays = {}
    for key, (name, sha, shape) in FILES.items():
        path = data_dir / name
        if not path.is_file():
            raise FileNotFoundError(
                f"chip-measurement file {path} is missing. Put the three files "
                f"({', '.join(f[0] for f in FILES.values())}) from {ORIGIN} into one folder and point "
                f"$FIGURE_MISMATCH_DIR at it, or copy them into FigureMismatch/Resources/."
            )
        if (found := _sha256(path)) != sha:
            raise ValueError(f"{path} is corrupt or a different version: sha256 {found}, expected {sha}")
        array = np.load(path, allow_pickle=False)
        if array.dtype != np.float64 or array.shape != shape:
            raise ValueError(f"{path}: expected float64 {shape}, found {array.dtype} {array.shape}")
        arrays[key] = array
    return arrays


def valid(row: np.ndarray) -> np.ndarray:
    """Drop NaNs and the ≥ 100 instrument markers (as the original script does)."""
    row = row[~np.isnan(row)]
    return row[row < INVALID_FROM]


def remove_outliers(x: np.ndarray) -> np.ndarray:
    """Keep the inliers of ``LocalOutlierFactor(n_neighbors=2)`` (1-D values)."""
    with warnings.catch_warnings():
        # The values are quantised (0.5 ms / 0.195 mV steps), so sklearn warns about duplicates; the
        # original ran with the same duplicates, and its inlier set is what we reproduce.
        warnings.filterwarnings("ignore", message="Duplicate values", category=UserWarning)
        keep = LocalOutlierFactor(n_neighbors=2).fit_predict(x.reshape(-1, 1)) == 1
    return x[keep]


def lower_gaussian(x: np.ndarray, seed: int = GMM_SEED) -> tuple[float, float]:
    """(μ, σ) of the lower-mean component of a 2-component GaussianMixture fitted to 1-D ``x``."""
    gmm = GaussianMixture(n_components=2, random_state=seed).fit(x.reshape(-1, 1))
    i = int(np.argmin(gmm.means_[:, 0]))
    return float(gmm.means_[i, 0]), float(np.sqrt(gmm.covariances_[i, 0, 0]))


def histogram_numbers(row: np.ndarray) -> dict:
    """Clean → LOF → GMM for one bias setting; values in mV / ms (×1000), tick = int(μ), as "%d" did."""
    x = remove_outliers(valid(row))
    mu, sigma = lower_gaussian(x)
    return {"values": 1000 * x, "gmm_mu": 1000 * mu, "gmm_sigma": 1000 * sigma, "tick": int(1000 * mu)}


def sigma_vs_mu(rows: list[np.ndarray]) -> dict:
    """Per row ``norm.fit`` (MLE: μ, σ with ddof 0) of the cleaned values ×1000, and σ = slope·μ + b."""
    mu, sigma = np.array([stats.norm.fit(1000 * valid(r)) for r in rows]).T
    fit = stats.linregress(mu, sigma)
    return {"mu": mu, "sigma": sigma, "slope": fit.slope, "intercept": fit.intercept, "r2": fit.rvalue**2}


def _draw_histograms(ax, letter: str, panel: Panel, hists: list[dict]) -> list[dict]:
    """Panel a/b/c; returns the drawn bar heights (density) and bin edges per histogram."""
    drawn = []
    for h in hists:
        density, edges, _ = ax.hist(h["values"], bins=20, density=True, alpha=0.3)
        drawn.append({"hist_density": density, "hist_edges": edges})
        x = np.linspace(h["values"].min(), h["values"].max(), 100)
        ax.plot(x, stats.norm.pdf(x, h["gmm_mu"], h["gmm_sigma"]), "k--", linewidth=1.5)
    ax.set_xticks([h["gmm_mu"] for h in hists], [str(h["tick"]) for h in hists])
    # As the original: from just below 0 to 4 σ beyond the largest lower-component mean.
    ax.set_xlim(-1.0, max(h["gmm_mu"] for h in hists) + 4 * max(h["gmm_sigma"] for h in hists))
    ax.set_yticks([])
    ax.spines[["left", "top", "right", "bottom"]].set_visible(False)
    ax.set_xlabel(panel.xlabel)
    ax.set_title(letter, loc="left", fontweight="bold")
    return drawn


def _draw_fits(ax, fits: dict[str, dict]) -> None:
    """Panel d: σ against μ per bias setting, one colour and regression line per quantity."""
    for letter, fit in fits.items():
        panel = PANELS[letter]
        ax.scatter(fit["mu"], fit["sigma"], color=panel.color, alpha=0.4, label=panel.label)
        x = np.linspace(fit["mu"].min(), fit["mu"].max(), 100)
        ax.plot(x, fit["slope"] * x + fit["intercept"], color=panel.color)
    ax.set_xticks([20, 40, 60])
    ax.set_yticks([2, 4, 6])
    ax.set_xlabel(r"$\mu$ [ms, mV]")
    ax.set_ylabel(r"$\sigma$ [ms, mV]")
    ax.legend(frameon=False, loc="best")
    ax.set_title("d", loc="left", fontweight="bold")


def compute_numbers(data: dict[str, np.ndarray]) -> dict:
    """Per panel letter: the 4 histogram fits (with their values) and the σ-vs-μ fit, before drawing."""
    out = {}
    for letter, panel in PANELS.items():
        rows = data[panel.key]
        out[letter] = {
            "quantity": panel.key,
            "hist_rows": panel.hist_rows,
            "hists": [histogram_numbers(rows[r]) for r in panel.hist_rows],
            "fit_rows": panel.fit_rows,
            "fit": sigma_vs_mu([rows[r] for r in panel.fit_rows]),
        }
    return out


def _plotted(panel: dict, drawn: list[dict]) -> dict:
    """The JSON form of one panel: the raw values are replaced by their count and the drawn bars."""
    hists = [
        {k: v for k, v in h.items() if k != "values"} | {"n": int(h["values"].size)} | d
        for h, d in zip(panel["hists"], drawn, strict=True)
    ]
    return panel | {"hists": hists}


def make_figure(data_dir, out_dir, profile: str = "full", dpi: int | None = None) -> dict:
    """Draw ``figure_mismatch.{png,pdf}`` (at ``dpi``, default ``save_figure``'s) plus ``.json`` into
    ``out_dir``; return the plotted numbers.

    The numbers are ``{"a"|"b"|"c": {"quantity", "hist_rows", "hists": [{"gmm_mu", "gmm_sigma", "tick",
    "n", "hist_density", "hist_edges"}], "fit_rows", "fit": {"mu", "sigma", "slope", "intercept", "r2"}},
    "units", "files"}`` in mV / ms.
    """
    computed = compute_numbers(load_measurements(data_dir))
    fig, axes = plt.subplots(2, 2, figsize=(5, 4), layout="constrained")
    numbers = {}
    for ax, letter in zip(axes.flat[:3], PANELS, strict=True):
        drawn = _draw_histograms(ax, letter, PANELS[letter], computed[letter]["hists"])
        numbers[letter] = _plotted(computed[letter], drawn)
    _draw_fits(axes[1, 1], {letter: computed[letter]["fit"] for letter in ("b", "a", "c")})
    numbers["units"] = {"tau_mem": "ms", "w_slow": "mV", "w_fast": "mV"}
    numbers["files"] = {key: {"name": f[0], "sha256": f[1]} for key, f in FILES.items()}
    try:
        resolution = {} if dpi is None else {"dpi": dpi}
        save_figure(fig, "figure_mismatch", numbers, out_dir=out_dir, profile=profile, **resolution)
    finally:
        plt.close(fig)
    return numbers


def main(argv: list[str] | None = None) -> int:
    """``python plot.py [-out_dir=DIR]``: draw figure_mismatch (default into ``Resources/Figures/``)."""
    from robustness.figures import figure_dir
    from robustness.paths import RESOURCES
    from robustness.plotting import use_style
    from robustness.profiles import DEFAULT

    args = sys.argv[1:] if argv is None else argv
    out_dir = figure_dir(DEFAULT, None, RESOURCES)
    for arg in args:
        if not arg.lstrip("-").startswith("out_dir="):
            print(f"usage: python plot.py [-out_dir=DIR] (got {arg!r})", file=sys.stderr)
            return 2
        out_dir = Path(arg.split("=", 1)[1])
    try:
        data_dir = find_data_dir()
        use_style()
        make_figure(data_dir, out_dir)
    except (FileNotFoundError, ValueError) as err:
        print(f"plot.py: error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {out_dir / 'figure_mismatch.png'} (and .pdf, .json) from {data_dir}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
