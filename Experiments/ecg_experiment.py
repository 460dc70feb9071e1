"""figure_ecg_sweep (Resources/Figures/figure_ecg_sweep.{png,pdf,json} + _table; docs/original.md §5.6).

Claim under test: how the ECG LSNN's robustness to mismatch depends on the attack size ζ_rel and on β
(the report-era sweep; the original's visualize did nothing).
Trained: ECG LSNN, ζ_rel ∈ {1, 2} × β ∈ {0.7, 0.9, 1.1, 1.3}, n_epochs "64,16", σ_rel = 0.001, seed 0
(8 models). Evaluated: best validation accuracy (training log) and test accuracy under mismatch at
σ ∈ LEVELS (``n_draws`` draws); mean ± std per (ζ, β) against β, one panel per ζ.
Not one of the README figures: ``quick`` trains nothing here (skipped); ``smoke`` one model (ζ 2, β 0.7).
Commands: ``python train.py -exp ecg_experiment``; ``python make_figures.py -exp ecg_experiment``.
Expected: no strong trend within this β range; higher σ lowers all accuracies.
"""

import numpy as np

from architectures import ecg_lsnn, load_models
from robustness import cached_evaluation as ce
from robustness import figures, reductions, stats
from robustness.paths import Dirs
from robustness.plotting import plt
from robustness.profiles import DEFAULT, get_profile

NAME, FIGURE = "ecg_experiment", "figure_ecg_sweep"
BASE = {"n_epochs": "64,16"}  # longer than the ECG default; every other flag at its default (σ_rel 0.001)
SWEEP = ((1.0, 2.0), (0.7, 0.9, 1.1, 1.3))  # the report's ζ_rel × β (a profile may narrow it: "sweep")
LEVELS = (0.0, 0.3, 0.5, 0.7)


class ecg_experiment:
    @staticmethod
    def train_grid(profile=DEFAULT, base=BASE, sweep=None) -> list[dict]:
        prof = get_profile(profile)
        zetas, betas = sweep or prof.settings(NAME).get("sweep", SWEEP)
        grid = [
            {**ecg_lsnn.make(), **base, "attack_size_mismatch": zeta, "beta_robustness": beta}
            for zeta in zetas
            for beta in betas
        ]
        return prof.grid(grid, experiment=NAME, seeds=(0,))

    @staticmethod
    def visualize(profile=DEFAULT, out_dir=None, dirs=Dirs(), base=BASE, sweep=None, figure_config=None):
        grid = ecg_experiment.train_grid(profile, base, sweep)
        if not grid:
            print(f"{NAME}: nothing trained in profile {profile!r}; skipped")
            return None
        prof = get_profile(profile)
        models = load_models(grid, experiment=NAME, profile=profile, dirs=dirs)
        evaluated = ce.mismatch_evaluation(models, LEVELS, prof.n_draws, prof.test_limit, dirs)
        numbers, table = reduce(models, evaluated, prof)
        extra = {"experiment": NAME, "std": "ddof 0, over draws"}
        return figures.save(
            draw(numbers), FIGURE, numbers, profile=profile, out_dir=out_dir, dirs=dirs, models=models,
            table=table, extra=extra, figure_config=figure_config,
        )  # fmt: skip


def reduce(models: list[dict], evaluated: list[dict], prof) -> tuple[dict, tuple]:
    """Per (ζ, β) model: its best validation accuracy and per σ the summary of the draws."""
    numbers = {"n_draws": prof.n_draws, "test_limit": prof.test_limit, "levels": LEVELS, "models": []}
    header = ["ζ_rel", "β", "best val. acc. (%)", *(f"σ = {s:g} (%)" for s in LEVELS)]
    rows = []
    for m in sorted(models, key=lambda m: (m["attack_size_mismatch"], m["beta_robustness"])):
        sid = reductions.training_sid(m)
        values = [
            e["mismatch_list"]
            for s in LEVELS
            for e in evaluated
            if reductions.training_sid(e) == sid and e["mm_level"] == s
        ]
        summaries = [stats.summarize(v, ddof=0) for v in values]
        entry = {"session_id": sid, "zeta": m["attack_size_mismatch"], "beta": m["beta_robustness"]}
        entry |= {"best_validation_accuracy": m["best_validation_accuracy"][-1], "values": values}
        numbers["models"].append({**entry, "summaries": summaries})
        cells = [stats.format_mean_std(s["mean"], s["std"]) for s in summaries]
        best = f"{100 * entry['best_validation_accuracy']:.2f}"
        rows.append([f"{entry['zeta']:g}", f"{entry['beta']:g}", best, *cells])
    return numbers, (header, rows)


def draw(numbers: dict):
    """Test accuracy (mean ± std over draws) against β, one line per σ, one panel per ζ_rel."""
    zetas = sorted({e["zeta"] for e in numbers["models"]})
    fig, axes = plt.subplots(1, len(zetas), figsize=(4 * len(zetas), 3), squeeze=False, sharey=True)
    for ax, zeta in zip(axes[0], zetas):
        chosen = [e for e in numbers["models"] if e["zeta"] == zeta]
        betas = [e["beta"] for e in chosen]
        for i, sigma in enumerate(LEVELS):
            mean = [e["summaries"][i]["mean"] for e in chosen]
            std = [e["summaries"][i]["std"] for e in chosen]
            ax.errorbar(betas, mean, std, marker="o", capsize=3, label=f"σ = {sigma:g}")
        ax.set(title=f"ζ_rel = {zeta:g}", xlabel="β", ylim=(0, 1), xticks=np.unique(betas))
    axes[0, 0].set_ylabel("Test accuracy (mean ± std over draws)")
    axes[0, -1].legend(frameon=False)
    return fig
