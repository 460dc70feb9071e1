"""methods_figure (Resources/Figures/methods_figure.{png,pdf,json} + _table; docs/original.md §5.4).

Claim under test: robust training flattens the loss surface against the attack: the KL the attack
reaches (its last step) is much smaller for β > 0 and falls over training, while for β = 0 it grows.
Trained: the constant-attack speech models of ``constant_attack_experiment`` (same grid, same models).
Evaluated: nothing new; the KL trajectories over the N attack steps are logged during training
(``kl_over_time``, every ``log_interval`` iterations, also for β = 0: quirk 10).
Panels: (a) a schematic of the algorithm (the original left it empty); (b) final attack KL over training
for β 0 and 0.1; (c) KL trajectories over attack steps, coloured by training time (RdBu), β 0, 0.1, 1.
Commands: ``python train.py -exp methods_experiment``; ``python make_figures.py -exp methods_experiment``.
Expected: (b) β = 0 rising, β = 0.1 lower and falling; (c) flatter, lower trajectories for larger β.
"""

import matplotlib as mpl
import numpy as np

from architectures import load_models
from Experiments.constant_attack_experiment import constant_attack_experiment
from robustness import figures, reductions
from robustness.paths import Dirs
from robustness.plotting import plt
from robustness.profiles import DEFAULT

NAME, FIGURE = "methods_experiment", "methods_figure"
FINAL_BETAS = (0.0, 0.1)  # panel (b)
TRAJECTORY_BETAS = (0.0, 0.1, 1.0)  # panel (c)
STEPS = (  # panel (a): the training step, one box per stage
    "θ",
    "θ* ← θ⊙(1+σ_rel ε₁) + σ_const ε₂",
    "N ×  θ* ← θ* + a⊙sign(∇_θ* KL(f_θ ‖ f_θ*))\na = (ζ_rel θ + ζ_const)/N",
    "L = CE(y, f_θ) + β·KL(f_θ ‖ f_θ*)",
    "θ ← Adam(∇_θ L)",
)
HEADER = ["β", "final KL, first 10 % of logs", "final KL, last 10 % of logs", "seeds"]
NOTE = "panel (a) is a schematic (the original left it empty); KL values are the logged kl_over_time"


class methods_experiment:
    @staticmethod
    def train_grid(profile=DEFAULT) -> list[dict]:
        """The constant-attack grid (identical models: trained once, used by both figures)."""
        return constant_attack_experiment.train_grid(profile)

    @staticmethod
    def visualize(profile=DEFAULT, out_dir=None, dirs=Dirs(), figure_config=None) -> dict:
        grid = methods_experiment.train_grid(profile)
        models = load_models(grid, experiment=NAME, profile=profile, dirs=dirs)
        numbers, table = reduce(models)  # no evaluation: the KL trajectories come from the training logs
        fig = draw(numbers, models[0]["log_interval"])
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


def reduce(models: list[dict]) -> tuple[dict, tuple]:
    """Final KL per logged step (per seed, smoothed, mean) per β; the trajectories as logged."""
    numbers, rows = {"final_kl": {}, "trajectories": {}}, []
    for beta in sorted(set(FINAL_BETAS) | set(TRAJECTORY_BETAS)):
        chosen = sorted((m for m in models if m["beta_robustness"] == beta), key=lambda m: m["seed"])
        final = [[traj[-1] for traj in m["kl_over_time"]] for m in chosen]
        tenth = max(1, min(map(len, final)) // 10)
        first, last = np.mean([f[:tenth] for f in final]), np.mean([f[-tenth:] for f in final])
        rows.append([f"{beta:g}", f"{first:.4g}", f"{last:.4g}", str(len(chosen))])
        sids = [reductions.training_sid(m) for m in chosen]
        numbers["final_kl"][str(beta)] = {"session_ids": sids, "raw": final, **reductions.smoothed(final)}
        numbers["final_kl"][str(beta)] |= {"first_tenth_mean": float(first), "last_tenth_mean": float(last)}
        if beta in TRAJECTORY_BETAS:
            numbers["trajectories"][str(beta)] = {
                "session_ids": sids,
                "kl": [m["kl_over_time"] for m in chosen],
            }
    return numbers, (HEADER, rows)


def schematic(ax) -> None:
    """Panel (a): the boxes of STEPS joined by arrows (drawn with matplotlib only)."""
    ax.set_axis_off()
    xs = np.linspace(0.06, 0.94, len(STEPS))
    for i, (x, text) in enumerate(zip(xs, STEPS)):
        ax.text(x, 0.5, text, ha="center", va="center", fontsize=7, bbox={"boxstyle": "round", "fc": "0.93"})
        if i:
            ax.annotate("", (x - 0.075, 0.5), (xs[i - 1] + 0.075, 0.5), arrowprops={"arrowstyle": "->"})


def draw(numbers: dict, log_interval: int):
    """(a) the schematic; (b) the final attack KL over training; (c) KL over the attack steps."""
    fig = plt.figure(figsize=(12, 8))
    grid = fig.add_gridspec(3, 6, left=0.06, right=0.97, hspace=0.4, wspace=0.6)
    axes_a = fig.add_subplot(grid[0, :])
    schematic(axes_a)
    for i, beta in enumerate(FINAL_BETAS):
        ax = fig.add_subplot(grid[1, 3 * i : 3 * i + 3])
        entry = numbers["final_kl"][str(beta)]
        figures.plot_curves(ax, entry["raw"], entry, "C2", f"β = {beta:g}", alpha=0.5)
        ax.set(xlabel=f"training (log index, every {log_interval} it.)")
        ax.legend(frameon=False)
    fig.axes[1].set_ylabel(r"$\mathcal{L}_{KL}$ after the attack")
    cmap, axes_c = mpl.colormaps["RdBu"], []
    for i, beta in enumerate(TRAJECTORY_BETAS):
        ax = fig.add_subplot(grid[2, 2 * i : 2 * i + 2])
        for per_seed in numbers["trajectories"][str(beta)]["kl"]:
            for ti, traj in zip(np.linspace(0.0, 1.0, len(per_seed)), per_seed):
                ax.plot(traj, color=cmap(ti), alpha=0.2, lw=0.7)
        n_attack = len(per_seed[0]) - 1
        ax.set(xticks=[0, n_attack], xticklabels=["0", r"$N_{attack}$"], xlabel=f"β = {beta:g}")
        axes_c.append(ax)
    axes_c[0].set_ylabel(r"$\mathcal{L}_{KL}$")
    bar = fig.colorbar(mpl.cm.ScalarMappable(mpl.colors.Normalize(0, 1), cmap), ax=axes_c, ticks=[0, 1])
    bar.ax.set_yticklabels(["t=0", "t=T"])
    for ax, letter in zip((axes_a, fig.axes[1], axes_c[0]), "abc"):
        ax.text(-0.02 if ax is axes_a else -0.12, 1.02, letter, transform=ax.transAxes, fontweight="bold")
    return fig
