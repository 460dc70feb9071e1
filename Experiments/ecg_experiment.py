"""figure_ecg_sweep (Resources/Figures/figure_ecg_sweep.{png,pdf,json} + _table; spec §5.6).

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

from architectures import ecg_lsnn
from robustness import experiment_utils as eu
from robustness import stats
from robustness.plotting import plt
from robustness.profiles import get_profile

FIGURE = "figure_ecg_sweep"
BASE = {
    "attack_size_constant": 0.0,
    "initial_std_constant": 0.0,
    "initial_std_mismatch": 0.001,
    "n_epochs": "64,16",
}
SWEEP = {"full": ((1.0, 2.0), (0.7, 0.9, 1.1, 1.3)), "quick": ((), ()), "smoke": ((2.0,), (0.7,))}
LEVELS = (0.0, 0.3, 0.5, 0.7)


class ecg_experiment:
    @staticmethod
    def train_grid(profile="full") -> list[dict]:
        get_profile(profile)  # validates the name
        zetas, betas = SWEEP[profile]
        grid = [
            {**ecg_lsnn.make(), **BASE, "attack_size_mismatch": zeta, "beta_robustness": beta}
            for zeta in zetas
            for beta in betas
        ]
        return eu.profile_grid(grid, profile, seeds=(0,))

    @staticmethod
    def visualize(profile="full", out_dir=None):
        grid = ecg_experiment.train_grid(profile)
        if not grid:
            print(f"ecg_experiment: nothing trained in profile {profile!r}; skipped")
            return None
        prof = get_profile(profile)
        # 1. load the trained models and their training logs
        models = eu.load(grid, "ecg_experiment", profile)

        # 2. cached evaluation: mismatch draws per model and σ
        evaluated = eu.mismatch_evaluation(models, LEVELS, prof.n_draws, prof.test_limit)

        # 3. reduce: per (ζ, β) and σ the summary of the draws
        numbers = {"n_draws": prof.n_draws, "test_limit": prof.test_limit, "levels": LEVELS, "models": []}
        header = ["ζ_rel", "β", "best val. acc. (%)", *(f"σ = {s:g} (%)" for s in LEVELS)]
        rows = []
        for m in sorted(models, key=lambda m: (m["attack_size_mismatch"], m["beta_robustness"])):
            values = [
                e["mismatch_list"]
                for s in LEVELS
                for e in evaluated
                if eu.sid(e) == eu.sid(m) and e["mm_level"] == s
            ]
            summaries = [stats.summarize(v, ddof=0) for v in values]
            entry = {"session_id": eu.sid(m), "zeta": m["attack_size_mismatch"], "beta": m["beta_robustness"]}
            entry |= {"best_validation_accuracy": m["best_validation_accuracy"][-1], "values": values}
            numbers["models"].append({**entry, "summaries": summaries})
            cells = [stats.format_mean_std(s["mean"], s["std"]) for s in summaries]
            rows.append(
                [
                    f"{entry['zeta']:g}",
                    f"{entry['beta']:g}",
                    f"{100 * entry['best_validation_accuracy']:.2f}",
                    *cells,
                ]
            )

        # 4. plot and save
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
        return eu.save(
            fig,
            FIGURE,
            numbers,
            profile=profile,
            out_dir=out_dir,
            models=models,
            table=(header, rows),
            extra={"experiment": "ecg_experiment", "std": "ddof 0, over draws"},
        )
