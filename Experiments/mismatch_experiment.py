"""figure_main (Resources/Figures/figure_main.{png,pdf,json} + figure_main_table.{md,tex}; spec §5.2).

Claim under test: robust training (β = 1, relative attack ζ_rel) keeps test accuracy higher than standard
training (β = 0) when every weight is perturbed as θ(1 + σ·N(0, 1)), increasingly so at larger σ.
Trained: speech LSNN, ECG LSNN, F-MNIST CNN × β ∈ {0, 1} × seeds (full: 10 → 60 models). Evaluated: per
model and σ, ``n_draws`` mismatch draws (50 in full, 1 at σ = 0) of the test accuracy; split violins
standard | robust per σ; per task and σ a table with mean ± std, min, 95 % CI and a two-sided Mann–Whitney
U test (p-value, effect size r > 0 favours robust). Top panels: real predictions of the seed-0 models
under one draw at PANEL_LEVEL (the original simulated them).
Commands: ``python train.py -exp mismatch_experiment``; ``python make_figures.py -exp mismatch_experiment``.
Expected: robust violins above standard ones for σ > 0, p ≪ 0.05; σ = 0 accuracies about equal.
"""

from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from architectures import ARCHITECTURES
from robustness import experiment_utils as eu
from robustness.plotting import ROBUST_COLOR, STANDARD_COLOR, mean_lines, plt, split_violin
from robustness.profiles import get_profile
from robustness.tasks import TASKS

FIGURE = "figure_main"
BETAS = (0.0, 1.0)  # standard, robust; every other flag at the task's default (the report's ζ_rel, σ_rel)
NOTE = (
    "Top panels show real predictions of the seed-0 standard and robust models under one mismatch draw "
    "at panel_sigma (frame green = correct); the original simulated them (random label flips / borders). "
    "Violins pool all seeds x draws; p-values are two-sided Mann-Whitney U (the original printed SciPy<1.7's "
    "one-sided default); effect size r = P(robust > standard) - P(robust < standard)."
)


class mismatch_experiment:
    @staticmethod
    def train_grid(profile="full") -> list[dict]:
        grid = [{**ARCHITECTURES[arch].make(), "beta_robustness": beta} for arch in TASKS for beta in BETAS]
        return eu.profile_grid(grid, profile)

    @staticmethod
    def visualize(profile="full", out_dir=None) -> dict:
        prof = get_profile(profile)
        # 1. load the trained models (MissingModelsError lists what to train)
        models = eu.load(mismatch_experiment.train_grid(profile), "mismatch_experiment", profile)

        # 2. cached evaluations: mismatch draws per model and σ; panel predictions of the seed-0 pair
        evaluated = []
        for arch, task in TASKS.items():
            of_task = [m for m in models if m["architecture"] == arch]
            evaluated += eu.mismatch_evaluation(of_task, task.mismatch_levels, prof.n_draws, prof.test_limit)
        first_seed = min(m["seed"] for m in models)
        pairs = [
            {**m, "mm_level": TASKS[m["architecture"]].panel_sigma} for m in models if m["seed"] == first_seed
        ]
        panels = eu.evaluate(pairs, eu.panel_predictions, "panel", "{*}", "{mm_level}")

        # 3. reduce: pooled samples, summaries and tests per task and σ
        numbers = {"n_draws": prof.n_draws, "test_limit": prof.test_limit, "tasks": {}}
        header, rows = eu.comparison_header("Standard", "Robust"), []
        for arch, task in TASKS.items():
            title, panel_sigma = task.title, task.panel_sigma
            per_level = []
            for sigma in task.mismatch_levels:
                where = {"architecture": arch, "mm_level": float(sigma)}
                std = eu.samples(evaluated, "mismatch_list", {**where, "beta_robustness": BETAS[0]})
                rob = eu.samples(evaluated, "mismatch_list", {**where, "beta_robustness": BETAS[1]})
                per_level.append({"sigma": sigma, **eu.compare(std, rob)})
                rows.append(eu.comparison_row(title, sigma, per_level[-1]))
            panel = eu.panel_numbers(panels, arch, panel_sigma)
            numbers["tasks"][arch] = {"title": title, "levels": per_level, "panel": panel}

        # 4. plot and save
        fig = plt.figure(figsize=(14, 6))
        outer = fig.add_gridspec(2, 3, height_ratios=[1, 1.15], left=0.05, right=0.98, wspace=0.18)
        for col, (arch, task) in enumerate(numbers["tasks"].items()):
            panel = task["panel"]
            eu.draw_panel(fig, outer[0, col], arch, panel)
            ax = fig.add_subplot(outer[1, col])
            shown = task["levels"][1:]  # σ > 0
            split_violin(
                ax,
                [lv["standard"]["values"] for lv in shown],
                [lv["robust"]["values"] for lv in shown],
                [lv["sigma"] for lv in shown],
            )
            clean = [task["levels"][0][m]["summary"]["mean"] for m in ("standard", "robust")]
            mean_lines(ax, clean, (STANDARD_COLOR, ROBUST_COLOR))  # σ = 0 accuracy per method
            ax.set(title=f"{task['title']} (top: σ = {panel['panel_sigma']})", xlabel="Mismatch level σ")
            ax.set_ylabel("Test accuracy" if col == 0 else "")
        handles = [
            Patch(color=c, label=n) for c, n in ((STANDARD_COLOR, "Standard"), (ROBUST_COLOR, "Robust"))
        ]
        handles.append(Line2D([], [], color="0.4", ls="--", lw=0.8, label="σ = 0 mean"))
        ax.legend(handles=handles, frameon=False, loc="upper right")
        return eu.save(
            fig,
            FIGURE,
            numbers,
            profile=profile,
            out_dir=out_dir,
            models=models,
            table=(header, rows),
            extra={"note": NOTE, "experiment": "mismatch_experiment"},
        )
