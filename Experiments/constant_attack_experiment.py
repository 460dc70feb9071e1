"""constant_attack_figure (Resources/Figures/constant_attack_figure.{png,pdf,json} + _table; spec §5.3).

Claim under test: a larger β makes the speech LSNN more robust to a constant (absolute) parameter attack:
attacked and "surface" test accuracy grow with β, and during training the attacked accuracy tracks the
clean one more closely for large β.
Trained: speech LSNN, constant attack ζ_const = 0.01, σ_const = 0.001 (ζ_rel = σ_rel = 0), β ∈ {0, 0.1, 1,
10} × seeds (full: 10 → 40 models, shared with methods_experiment). Evaluated: test accuracy under the
model's own attack (KL, 10 steps) and after θ + c·sign(U(−1, 1)), c ∈ {0.01, 0.05} (``surface_draws``).
Commands: ``python train.py -exp constant_attack_experiment``;
``python make_figures.py -exp constant_attack_experiment``.
Expected: (a) attacked training accuracy closer to clean for β = 10; (b) all three curves rise with β.
"""

import numpy as np

from architectures import speech_lsnn
from robustness import experiment_utils as eu
from robustness import stats
from robustness.plotting import plt
from robustness.profiles import get_profile

FIGURE = "constant_attack_figure"
BETAS = (0.0, 0.1, 1.0, 10.0)
CURVE_BETAS = (0.0, 0.1, 10.0)  # panel (a)
SURFACE = (0.01, 0.05)
ATTACK = {"attack_size_constant": 0.01, "attack_size_mismatch": 0.0, "initial_std_constant": 0.001}
ATTACK |= {"initial_std_mismatch": 0.0}
METRICS = {  # key in the reduced numbers: (label, colour, marker, line style)
    "attacked": ("Attacked 0.01", "C2", "o", "dashed"),
    "surface_0.01": ("Surface 0.01", "C4", ".", "dotted"),
    "surface_0.05": ("Surface 0.05", "C6", "s", "solid"),
}


class constant_attack_experiment:
    @staticmethod
    def train_grid(profile="full") -> list[dict]:
        grid = [{**speech_lsnn.make(), **ATTACK, "beta_robustness": beta} for beta in BETAS]
        return eu.profile_grid(grid, profile, experiment="constant_attack_experiment")

    @staticmethod
    def visualize(profile="full", out_dir=None) -> dict:
        prof = get_profile(profile)
        # 1. load the trained models and their training logs
        models = eu.load(
            constant_attack_experiment.train_grid(profile), "constant_attack_experiment", profile
        )

        # 2. cached evaluations: own attack on the test set, surface perturbations
        ev = eu.evaluate(models, eu.attacked_test_accuracy, "attacked", "{*}", prof.test_limit)
        for c in SURFACE:
            args = ("{*}", c, prof.surface_draws, prof.test_limit)
            ev = eu.evaluate(ev, eu.surface_mean, f"surface_{c}", *args)

        # 3. reduce: per β the per-seed values, median ± std (plot) and summaries (table)
        numbers = {
            "test_limit": prof.test_limit,
            "surface_draws": prof.surface_draws,
            "test": {},
            "curves": {},
        }
        header = ["β", "Test acc. (%)", "Attacked 0.01 (%)", "Surface 0.01 (%)", "Surface 0.05 (%)", "n"]
        rows, by_sid = [], {eu.sid(m): m for m in ev}
        for beta in BETAS:
            chosen = eu.samples(ev, "attacked", {"beta_robustness": beta})
            per_model = [by_sid[s] for s in chosen["session_ids"]]
            values = {
                "clean": [m["attacked"]["test_accuracy"] for m in per_model],
                "attacked": [m["attacked"]["attacked_test_accuracy"] for m in per_model],
                **{f"surface_{c}": [m[f"surface_{c}"]["mean"] for m in per_model] for c in SURFACE},
            }
            entry = {"session_ids": chosen["session_ids"]}
            for key, v in values.items():
                entry[key] = {"values": v, "median": float(np.median(v)), "std": float(np.std(v))}
                entry[key]["summary"] = stats.summarize(v)
            numbers["test"][str(beta)] = entry
            cells = [
                stats.format_mean_std(entry[k]["summary"]["mean"], entry[k]["summary"]["std"]) for k in values
            ]
            rows.append([f"{beta:g}", *cells, str(len(per_model))])
        for beta in CURVE_BETAS:
            chosen = sorted((m for m in models if m["beta_robustness"] == beta), key=lambda m: m["seed"])
            curves = {"session_ids": [eu.sid(m) for m in chosen]}
            for key in ("training_accuracy", "attacked_training_accuracy"):
                raw = [m[key] for m in chosen]
                curves[key] = {"raw": raw, **eu.smoothed(raw)}
            numbers["curves"][str(beta)] = curves

        # 4. plot and save
        fig = plt.figure(figsize=(10, 5))
        grid = fig.add_gridspec(2, 3, left=0.07, right=0.98, hspace=0.35, wspace=0.2)
        low = 0.3 if profile == "full" else 0.0  # short reduced runs stay below the original's 0.3 floor
        for i, beta in enumerate(CURVE_BETAS):
            ax = fig.add_subplot(grid[0, i])
            c = numbers["curves"][str(beta)]
            eu.plot_curves(ax, c["training_accuracy"]["raw"], c["training_accuracy"], "C1", "Normal")
            eu.plot_curves(
                ax, c["attacked_training_accuracy"]["raw"], c["attacked_training_accuracy"], "C2", "Attacked"
            )
            ax.set(
                ylim=(low, 1.0),
                title=f"β = {beta:g}",
                xlabel=f"log index (every {models[0]['log_interval']} it.)",
            )
        fig.axes[0].set_ylabel("Training accuracy")
        fig.axes[-1].legend(frameon=False)
        fig.axes[0].text(-0.15, 1.08, "a", transform=fig.axes[0].transAxes, fontweight="bold", fontsize=11)
        ax = fig.add_subplot(grid[1, :])
        x = np.arange(len(BETAS))
        for key, (label, color, marker, style) in METRICS.items():
            med = [numbers["test"][str(b)][key]["median"] for b in BETAS]
            err = [numbers["test"][str(b)][key]["std"] for b in BETAS]
            ax.errorbar(x, med, err, label=label, color=color, marker=marker, linestyle=style, capsize=3)
        ax.set(xticks=x, xticklabels=[f"{b:g}" for b in BETAS], ylim=(0.2 if low else 0.0, 1.0))
        ax.set(xlabel="β", ylabel="Test accuracy")
        ax.legend(frameon=False)
        ax.text(-0.05, 1.05, "b", transform=ax.transAxes, fontweight="bold", fontsize=11)
        note = "errorbars: median ± std (ddof 0) over seeds; table: mean ± sample std; MA window in curves.*.window"
        return eu.save(
            fig,
            FIGURE,
            numbers,
            profile=profile,
            out_dir=out_dir,
            models=models,
            table=(header, rows),
            extra={"note": note, "experiment": "constant_attack_experiment"},
        )
