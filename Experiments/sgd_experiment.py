"""figure_sgd (Resources/Figures/figure_sgd.{png,pdf,json} + _table; docs/original.md §5.6).

Claim under test: small-batch SGD (flat minima) alone gives some robustness to weight mismatch compared
with large-batch SGD — the baseline the robust objective must beat.
Trained: speech LSNN, β = 0, optimizer sgd, lr "0.01,0.001", batch 8 with n_epochs "200,56" and batch 128
with "200,88", 10 seeds (20 models). Evaluated: seeds 0..4, the speech mismatch levels, ``n_draws`` draws;
split violins batch 128 (left) | batch 8 (right), table with two-sided Mann–Whitney U per σ.
Not one of the README figures: ``quick`` trains nothing here (skipped); ``smoke`` one seed per batch size.
Commands: ``python train.py -exp sgd_experiment``; ``python make_figures.py -exp sgd_experiment``.
Expected: batch 8 at or above batch 128 for σ > 0 (not confirmed in the report).
"""

from architectures import load_models, speech_lsnn
from robustness.configs import FigureConfig
from robustness import cached_evaluation as ce
from robustness import figures, reductions
from robustness.paths import Dirs
from robustness.plotting import plt
from robustness.profiles import DEFAULT, get_profile
from robustness.tasks import get_task

NAME, FIGURE = "sgd_experiment", "figure_sgd"
BASE = {"beta_robustness": 0.0, "optimizer": "sgd", "learning_rate": "0.01,0.001", "eval_step_interval": 1000}
GROUPS = {  # left | right half of the violins
    "batch 128": {"batch_size": 128, "n_epochs": "200,88"},
    "batch 8": {"batch_size": 8, "n_epochs": "200,56"},
}
SEEDS, EVAL_SEEDS = tuple(range(10)), tuple(range(5))  # the report's: trained, evaluated (profiles narrow)
LEVELS = get_task("speech_lsnn").mismatch_levels  # figure_main's speech levels


class sgd_experiment:
    @staticmethod
    def train_grid(profile=DEFAULT, base=BASE, groups=GROUPS) -> list[dict]:
        prof = get_profile(profile)
        seeds = prof.settings(NAME).get("seeds", SEEDS)
        grid = [{**speech_lsnn.make(), **base, **group} for group in groups.values()]
        return prof.grid(grid, experiment=NAME, seeds=seeds) if seeds else []

    @staticmethod
    def visualize(profile=DEFAULT, out_dir=None, dirs=Dirs(), base=BASE, groups=GROUPS, figure_config=None):
        prof = get_profile(profile)
        eval_seeds = prof.settings(NAME).get("eval_seeds", EVAL_SEEDS)
        grid = [m for m in sgd_experiment.train_grid(profile, base, groups) if m["seed"] in eval_seeds]
        if not grid:
            print(f"{NAME}: nothing trained in profile {profile!r}; skipped")
            return None
        models = load_models(grid, experiment=NAME, profile=profile, dirs=dirs)
        evaluated = ce.mismatch_evaluation(models, LEVELS, prof.n_draws, prof.test_limit, dirs)
        names, fc = tuple(groups), figure_config or FigureConfig()
        levels, rows = reductions.compare_levels(
            evaluated, "Speech SGD", LEVELS, groups, names, None, fc.p_value
        )
        numbers = {"n_draws": prof.n_draws, "test_limit": prof.test_limit, "levels": levels}
        fig, ax = plt.subplots(figsize=(5, 3))
        figures.comparison_violins(ax, levels, names, labels=names, legend=True)
        ax.set(xlabel="Mismatch level σ", ylabel="Test accuracy", title="Speech LSNN, SGD, β = 0")
        table = (reductions.comparison_header("Batch 128", "Batch 8", fc.p_value), rows)
        extra = {"experiment": NAME, "left": names[0], "right": names[1]}
        return figures.save(
            fig, FIGURE, numbers, profile=profile, out_dir=out_dir, dirs=dirs, models=models, table=table,
            extra=extra, figure_config=fc,
        )  # fmt: skip
