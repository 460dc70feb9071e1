"""constant_attack_figure (Resources/Figures/constant_attack_figure.{png,pdf,json} + _table; docs/original.md
§5.3).

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

from architectures import load_models, speech_lsnn
from robustness import cached_evaluation as ce
from robustness import figures, reductions, stats
from robustness.paths import Dirs
from robustness.plotting import plt
from robustness.profiles import DEFAULT, get_profile

NAME, FIGURE = "constant_attack_experiment", "constant_attack_figure"
BETAS = (0.0, 0.1, 1.0, 10.0)
CURVE_BETAS = (0.0, 0.1, 10.0)  # panel (a)
CURVES = ("training_accuracy", "attacked_training_accuracy")
SURFACE = (0.01, 0.05)
ATTACK = {"attack_size_constant": 0.01, "attack_size_mismatch": 0.0, "initial_std_constant": 0.001}
ATTACK |= {"initial_std_mismatch": 0.0}
METRICS = {  # key in the reduced numbers: (label, colour, marker, line style)
    "attacked": ("Attacked 0.01", "C2", "o", "dashed"),
    "surface_0.01": ("Surface 0.01", "C4", ".", "dotted"),
    "surface_0.05": ("Surface 0.05", "C6", "s", "solid"),
}
HEADER = ["β", "Test acc. (%)", "Attacked 0.01 (%)", "Surface 0.01 (%)", "Surface 0.05 (%)", "n"]
NOTE = "errorbars: median ± std (ddof 0) over seeds; table: mean ± sample std; MA window in curves.*.window"


class constant_attack_experiment:
    @staticmethod
    def train_grid(profile=DEFAULT) -> list[dict]:
        grid = [{**speech_lsnn.make(), **ATTACK, "beta_robustness": beta} for beta in BETAS]
        return get_profile(profile).grid(grid, experiment=NAME)

    @staticmethod
    def visualize(profile=DEFAULT, out_dir=None, dirs=Dirs(), figure_config=None) -> dict:
        prof = get_profile(profile)
        grid = constant_attack_experiment.train_grid(profile)
        models = load_models(grid, experiment=NAME, profile=profile, dirs=dirs)
        ev = ce.evaluate(models, ce.attacked_test_accuracy, "attacked", "{*}", prof.test_limit, dirs=dirs)
        for c in SURFACE:
            args = ("{*}", c, prof.surface_draws, prof.test_limit)
            ev = ce.evaluate(ev, ce.surface_mean, f"surface_{c}", *args, dirs=dirs)
        numbers, table = reduce(models, ev, prof)
        # short reduced runs stay below the original's 0.3 floor of the curves
        fig = draw(numbers, models[0]["log_interval"], floor=0.0 if prof.reduced else 0.3)
        extra = {"note": NOTE, "experiment": NAME}
        return figures.save(
            fig,
            FIGURE,
            numbers,
            profile=profile,
            out_dir=out_dir,
            dirs=dirs,
            models=models,
            table=table,
            extra=extra,
            figure_config=figure_config,
        )


def reduce(models: list[dict], ev: list[dict], prof) -> tuple[dict, tuple]:
    """Per β the per-seed values, median ± std (plot) and summaries (table); training curves per β."""
    numbers = {"test_limit": prof.test_limit, "surface_draws": prof.surface_draws, "test": {}, "curves": {}}
    rows, by_sid = [], {reductions.training_sid(m): m for m in ev}
    for beta in BETAS:
        chosen = reductions.samples(ev, "attacked", {"beta_robustness": beta})
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
        numbers["curves"][str(beta)] = reductions.curves(
            [m for m in models if m["beta_robustness"] == beta], CURVES
        )
    return numbers, (HEADER, rows)


def draw(numbers: dict, log_interval: int, floor: float):
    """(a) clean and attacked training accuracy per β; (b) test accuracy under the attacks against β."""
    fig = plt.figure(figsize=(10, 5))
    grid = fig.add_gridspec(2, 3, left=0.07, right=0.98, hspace=0.35, wspace=0.2)
    for i, beta in enumerate(CURVE_BETAS):
        ax = fig.add_subplot(grid[0, i])
        c = numbers["curves"][str(beta)]
        figures.plot_curves(ax, c["training_accuracy"]["raw"], c["training_accuracy"], "C1", "Normal")
        attacked = c["attacked_training_accuracy"]
        figures.plot_curves(ax, attacked["raw"], attacked, "C2", "Attacked")
        ax.set(ylim=(floor, 1.0), title=f"β = {beta:g}", xlabel=f"log index (every {log_interval} it.)")
    fig.axes[0].set_ylabel("Training accuracy")
    fig.axes[-1].legend(frameon=False)
    fig.axes[0].text(-0.15, 1.08, "a", transform=fig.axes[0].transAxes, fontweight="bold", fontsize=11)
    ax = fig.add_subplot(grid[1, :])
    x = np.arange(len(BETAS))
    for key, (label, color, marker, style) in METRICS.items():
        med = [numbers["test"][str(b)][key]["median"] for b in BETAS]
        err = [numbers["test"][str(b)][key]["std"] for b in BETAS]
        ax.errorbar(x, med, err, label=label, color=color, marker=marker, linestyle=style, capsize=3)
    ax.set(xticks=x, xticklabels=[f"{b:g}" for b in BETAS], ylim=(0.2 if floor else 0.0, 1.0))
    ax.set(xlabel="β", ylabel="Test accuracy")
    ax.legend(frameon=False)
    ax.text(-0.05, 1.05, "b", transform=ax.transAxes, fontweight="bold", fontsize=11)
    return fig
