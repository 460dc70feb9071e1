"""methods_comparison_figure (Resources/Figures/methods_comparison_figure.{png,pdf,json} + _table.{md,tex};
docs/methods.md). Opt-in: runs only when named with -exp (robustness.experiments.OPT_IN).

Question: which training method keeps test accuracy highest under θ(1 + σ·N(0, 1))? Per task (speech LSNN,
ECG LSNN, F-MNIST CNN): standard, β (β 0.25, ζ_rel 0.1), forward noise (η 0.3), forward noise + β, AWP
(γ 0.1, ζ_rel 0.1), AMP (ε 0.5), dropout 0.3; full: 10 seeds (210 models), σ ∈ {0, 0.1, 0.2, 0.3, 0.5, 0.7},
100 draws per model and level (1 at σ = 0). Output: mean / std / min (%) per method × σ (table), one panel
per task (mean ± std vs σ, minima dotted), and per method and σ a two-sided Mann–Whitney U test against
standard with effect size r (> 0: the method is better), all in the JSON.
Commands: ``python train.py -exp methods_comparison_experiment``; ``python make_figures.py -exp
methods_comparison_experiment``.
"""

import numpy as np

from architectures import ARCHITECTURES, load_models
from robustness import cached_evaluation as ce
from robustness import figures, reductions, stats
from robustness.configs import FigureConfig
from robustness.paths import Dirs
from robustness.plotting import plt
from robustness.profiles import DEFAULT, get_profile
from robustness.tasks import TASKS

NAME, FIGURE = "methods_comparison_experiment", "methods_comparison_figure"
# every method flag given, so that each method's models are selected by these keys alone
_OFF = {
    "beta_robustness": 0.0,
    "noisy_forward_std": 0.0,
    "awp": False,
    "amp_epsilon": 0.0,
    "dropout_prob": 0.0,
}
_BETA = {"beta_robustness": 0.25, "attack_size_mismatch": 0.1}  # the ICLR-era β and ζ_rel
METHODS = {  # name -> flags (docs/methods.md); standard keeps the task's ζ_rel (it is unused at β = 0)
    "standard": {**_OFF},
    "beta": {**_OFF, **_BETA},
    "forward_noise": {**_OFF, "noisy_forward_std": 0.3},
    "forward_noise_beta": {**_OFF, **_BETA, "noisy_forward_std": 0.3},
    "awp": {**_OFF, "awp": True, "awp_gamma": 0.1, "attack_size_mismatch": 0.1},
    "amp": {**_OFF, "amp_epsilon": 0.5},
    "dropout": {**_OFF, "dropout_prob": 0.3},
}
LABELS = {"standard": "Standard", "beta": "β", "forward_noise": "Forward noise",
          "forward_noise_beta": "Forward noise + β", "awp": "AWP", "amp": "AMP", "dropout": "Dropout 0.3"}  # fmt: skip
# the protocol; a profile narrows it with experiment_settings[NAME] (seeds None = the profile's)
FULL = {"tasks": tuple(TASKS), "methods": tuple(METHODS), "levels": (0.0, 0.1, 0.2, 0.3, 0.5, 0.7),
        "n_draws": 100, "seeds": None}  # fmt: skip


def settings(profile=DEFAULT) -> dict:
    return {**FULL, **get_profile(profile).settings(NAME)}


class methods_comparison_experiment:
    @staticmethod
    def train_grid(profile=DEFAULT) -> list[dict]:
        s = settings(profile)
        grid = [{**ARCHITECTURES[a].make(), **METHODS[m]} for a in s["tasks"] for m in s["methods"]]
        return get_profile(profile).grid(grid, experiment=NAME, seeds=s["seeds"])

    @staticmethod
    def visualize(profile=DEFAULT, out_dir=None, dirs=Dirs(), figure_config=None) -> dict:
        prof, s, fc = get_profile(profile), settings(profile), figure_config or FigureConfig()
        models = load_models(methods_comparison_experiment.train_grid(profile), experiment=NAME,
                             profile=profile, dirs=dirs)  # fmt: skip
        evaluated = []
        for arch in s["tasks"]:
            of_task = [m for m in models if m["architecture"] == arch]
            evaluated += ce.mismatch_evaluation(of_task, s["levels"], s["n_draws"], prof.test_limit, dirs)
        numbers, table = reduce(evaluated, s, prof.test_limit)
        extra = {"experiment": NAME, "methods": METHODS, "note": NOTE}
        return figures.save(draw(numbers), FIGURE, numbers, profile=profile, out_dir=out_dir, dirs=dirs,
                            models=models, table=table, extra=extra, figure_config=fc)  # fmt: skip


NOTE = (
    "Per task, method and sigma: all seeds x draws pooled; table cells mean +- std (min) in %; vs_standard: "
    "two-sided Mann-Whitney U of the method against standard, effect size r = P(method > standard) - "
    "P(method < standard)."
)


def cell(summary: dict) -> str:
    """``"mean ± std (min)"`` in %, "–" for an undefined std (one value)."""
    pct = [reductions._pct(summary[k]) for k in ("mean", "std", "min")]
    return f"{pct[0]} ± {pct[1]} ({pct[2]})"


def reduce(evaluated: list[dict], s: dict, test_limit: int) -> tuple[dict, tuple]:
    """Per task and σ: each method's samples and summary, and its test against standard; the table (one row
    per task × method, one column per σ)."""
    numbers = {"n_draws": s["n_draws"], "test_limit": test_limit, "levels": list(s["levels"]), "tasks": {}}
    rows = []
    for arch in s["tasks"]:
        levels = []
        for sigma in s["levels"]:
            where = {"architecture": arch, "mm_level": float(sigma)}
            entry = {"sigma": sigma, "methods": {}}
            for m in s["methods"]:
                got = reductions.samples(evaluated, "mismatch_list", {**where, **METHODS[m]})
                entry["methods"][m] = {**got, "summary": stats.summarize(np.ravel(got["values"]))}
            base = np.ravel(entry["methods"]["standard"]["values"])
            for m in s["methods"][1:]:
                mine = np.ravel(entry["methods"][m]["values"])
                entry["methods"][m]["vs_standard"] = {
                    "mann_whitney": stats.mann_whitney(base, mine),
                    "delta_mean": float(np.mean(mine) - np.mean(base)),
                }
            levels.append(entry)
        numbers["tasks"][arch] = {"title": TASKS[arch].title, "levels": levels}
        for m in s["methods"]:
            rows.append([TASKS[arch].title, LABELS[m], *(cell(lv["methods"][m]["summary"]) for lv in levels)])
    header = ["Task", "Method", *(f"σ = {sigma:g}: mean ± std (min) (%)" for sigma in s["levels"])]
    return numbers, (header, rows)


def draw(numbers: dict):
    """One panel per task: per method the mean accuracy against σ, a ±std band and the minimum (dotted)."""
    tasks = numbers["tasks"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.8 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks.values()):
        sigmas = [lv["sigma"] for lv in task["levels"]]
        for i, m in enumerate(task["levels"][0]["methods"]):
            summaries = [lv["methods"][m]["summary"] for lv in task["levels"]]
            mean, std = (np.array([x[k] for x in summaries], float) for k in ("mean", "std"))
            std = np.nan_to_num(std)
            color = f"C{i}"
            ax.plot(sigmas, mean, "o-", color=color, lw=1.4, ms=3, label=LABELS[m])
            ax.fill_between(sigmas, mean - std, mean + std, color=color, alpha=0.12, lw=0)
            ax.plot(sigmas, [x["min"] for x in summaries], ":", color=color, lw=0.8)
        ax.set(title=task["title"], xlabel="Mismatch level σ", ylim=(0, 1))
    axes[0][0].set_ylabel("Test accuracy (mean ± std; dotted: min)")
    axes[0][-1].legend(frameon=False, fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig
