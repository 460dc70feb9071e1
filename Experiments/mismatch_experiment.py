"""figure_main (Resources/Figures/figure_main.{png,pdf,json} + figure_main_table.{md,tex}; docs/original.md
§5.2).

Claim under test: robust training (β = 1, relative attack ζ_rel) keeps test accuracy higher than standard
training (β = 0) when every weight is perturbed as θ(1 + σ·N(0, 1)), increasingly so at larger σ.
Trained: every task of robustness.tasks (speech LSNN, ECG LSNN, F-MNIST CNN) × β ∈ {0, 1} × seeds (full: 10
→ 60 models). Evaluated: per model and σ (the task's levels), ``n_draws`` mismatch draws (50 in full, 1 at
σ = 0); split violins standard | robust per σ; per task and σ a table with mean ± std, min, 95 % CI and a
two-sided Mann–Whitney U test (effect size r > 0 favours robust). Top panels: real predictions of the
seed-0 models under one draw at the task's panel σ (the original simulated them: -panels=simulated).
Commands: ``python train.py -exp mismatch_experiment``; ``python make_figures.py -exp mismatch_experiment``.
Expected: robust violins above standard ones for σ > 0, p ≪ 0.05; σ = 0 accuracies about equal.
"""

from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from architectures import ARCHITECTURES, load_models
from robustness import cached_evaluation as ce
from robustness import figures, reductions
from robustness.configs import FigureConfig
from robustness.paths import Dirs
from robustness.plotting import ROBUST_COLOR, STANDARD_COLOR, mean_lines, plt
from robustness.profiles import DEFAULT, get_profile
from robustness.tasks import TASKS

NAME, FIGURE = "mismatch_experiment", "figure_main"
# every other flag at the task's default: the report's ζ_rel (2 LSNN, 1 CNN), σ_rel 0.001, no constant attack
METHODS = {"standard": {"beta_robustness": 0.0}, "robust": {"beta_robustness": 1.0}}
NOTE = (
    "Top panels show real predictions of the seed-0 standard and robust models under one mismatch draw "
    "at panel_sigma (frame green = correct); the original simulated them (random label flips / borders; "
    "figure_config.panels = simulated draws those). Violins pool all seeds x draws; p-values are two-sided "
    "Mann-Whitney U (figure_config.p_value = legacy: SciPy<1.7's one-sided default, which the original "
    "printed); effect size r = P(robust > standard) - P(robust < standard)."
)


class mismatch_experiment:
    @staticmethod
    def train_grid(profile=DEFAULT) -> list[dict]:
        grid = [{**ARCHITECTURES[arch].make(), **method} for arch in TASKS for method in METHODS.values()]
        return get_profile(profile).grid(grid, experiment=NAME)

    @staticmethod
    def visualize(profile=DEFAULT, out_dir=None, dirs=Dirs(), figure_config=None) -> dict:
        prof, fc = get_profile(profile), figure_config or FigureConfig()
        grid = mismatch_experiment.train_grid(profile)
        models = load_models(grid, experiment=NAME, profile=profile, dirs=dirs)
        evaluated = []
        for arch, task in TASKS.items():
            of_task = [m for m in models if m["architecture"] == arch]
            evaluated += ce.mismatch_evaluation(
                of_task, task.mismatch_levels, prof.n_draws, prof.test_limit, dirs
            )
        panels = ce.panel_evaluation(models, dirs)
        numbers, table = reduce(evaluated, panels, prof, fc)
        extra = {"note": NOTE, "experiment": NAME}
        fig = draw(numbers)
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
            figure_config=fc,
        )


def reduce(evaluated: list[dict], panels: list[dict], prof, fc=FigureConfig()) -> tuple[dict, tuple]:
    """Per task: per σ the pooled samples, summaries and test (p column: ``fc.p_value``); the top panel's
    numbers (``fc.panels == "simulated"``: the original's random predictions); the table."""
    numbers = {"n_draws": prof.n_draws, "test_limit": prof.test_limit, "tasks": {}}
    rows = []
    for arch, task in TASKS.items():
        where = {"architecture": arch}
        levels, task_rows = reductions.compare_levels(
            evaluated, task.title, task.mismatch_levels, METHODS, tuple(METHODS), where, fc.p_value
        )
        panel = reductions.panel_numbers(panels, arch, task.panel_sigma)
        if fc.panels == "simulated":
            panel = reductions.simulated_panel(panel, task.simulated_panel)
        numbers["tasks"][arch] = {"title": task.title, "levels": levels, "panel": panel}
        rows += task_rows
    return numbers, (reductions.comparison_header("Standard", "Robust", fc.p_value), rows)


def draw(numbers: dict):
    """Top: each task's panel; bottom: its split violins with the σ = 0 means as dashed lines."""
    tasks = numbers["tasks"]
    fig = plt.figure(figsize=(14 * len(tasks) / 3, 6))
    outer = fig.add_gridspec(2, len(tasks), height_ratios=[1, 1.15], left=0.05, right=0.98, wspace=0.18)
    for col, (arch, task) in enumerate(tasks.items()):
        figures.draw_panel(fig, outer[0, col], arch, task["panel"])
        ax = fig.add_subplot(outer[1, col])
        figures.comparison_violins(ax, task["levels"])
        clean = [task["levels"][0][m]["summary"]["mean"] for m in METHODS]
        mean_lines(ax, clean, (STANDARD_COLOR, ROBUST_COLOR))  # σ = 0 accuracy per method
        top = (
            "simulated, as the original"
            if task["panel"].get("simulated")
            else f"σ = {task['panel']['panel_sigma']}"
        )
        ax.set(title=f"{task['title']} (top: {top})", xlabel="Mismatch level σ")
        ax.set_ylabel("Test accuracy" if col == 0 else "")
    handles = [Patch(color=c, label=n) for c, n in ((STANDARD_COLOR, "Standard"), (ROBUST_COLOR, "Robust"))]
    handles.append(Line2D([], [], color="0.4", ls="--", lw=0.8, label="σ = 0 mean"))
    ax.legend(handles=handles, frameon=False, loc="upper right")
    return fig
