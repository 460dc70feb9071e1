"""figure_sgd (Resources/Figures/figure_sgd.{png,pdf,json} + _table; spec §5.6).

Claim under test: small-batch SGD (flat minima) alone gives some robustness to weight mismatch compared
with large-batch SGD — the baseline the robust objective must beat.
Trained: speech LSNN, β = 0, optimizer sgd, lr "0.01,0.001", batch 8 with n_epochs "200,56" and batch 128
with "200,88", 10 seeds (20 models). Evaluated: seeds 0..4, the speech mismatch levels, ``n_draws`` draws;
split violins batch 128 (left) | batch 8 (right), table with two-sided Mann–Whitney U per σ.
Not one of the README figures: ``quick`` trains nothing here (skipped); ``smoke`` one seed per batch size.
Commands: ``python train.py -exp sgd_experiment``; ``python make_figures.py -exp sgd_experiment``.
Expected: batch 8 at or above batch 128 for σ > 0 (not confirmed in the report).
"""

from architectures import speech_lsnn
from robustness import experiment_utils as eu
from robustness.plotting import plt, split_violin
from robustness.profiles import get_profile

FIGURE = "figure_sgd"
BASE = {"beta_robustness": 0.0, "optimizer": "sgd", "learning_rate": "0.01,0.001", "eval_step_interval": 1000}
BASE |= {"attack_size_mismatch": 2.0, "attack_size_constant": 0.0, "initial_std_mismatch": 0.001}
GROUPS = {
    "batch 128": {"batch_size": 128, "n_epochs": "200,88"},
    "batch 8": {"batch_size": 8, "n_epochs": "200,56"},
}
LEVELS = (0.0, 0.5, 0.7, 0.9, 1.1, 1.5)
SEEDS = {"full": tuple(range(10)), "quick": (), "smoke": (0,)}
EVAL_SEEDS = {"full": tuple(range(5)), "quick": (), "smoke": (0,)}


class sgd_experiment:
    @staticmethod
    def train_grid(profile="full") -> list[dict]:
        get_profile(profile)  # validates the name
        grid = [{**speech_lsnn.make(), **BASE, **group} for group in GROUPS.values()]
        return eu.profile_grid(grid, profile, seeds=SEEDS[profile]) if SEEDS[profile] else []

    @staticmethod
    def visualize(profile="full", out_dir=None):
        grid = [m for m in sgd_experiment.train_grid(profile) if m["seed"] in EVAL_SEEDS[profile]]
        if not grid:
            print(f"sgd_experiment: nothing trained in profile {profile!r}; skipped")
            return None
        prof = get_profile(profile)
        # 1. load the trained models
        models = eu.load(grid, "sgd_experiment", profile)

        # 2. cached evaluation: mismatch draws per model and σ
        evaluated = eu.mismatch_evaluation(models, LEVELS, prof.n_draws, prof.test_limit)

        # 3. reduce: pooled samples per batch size, summaries and tests per σ
        names = tuple(GROUPS)
        numbers = {"n_draws": prof.n_draws, "test_limit": prof.test_limit, "levels": []}
        header, rows = eu.comparison_header("Batch 128", "Batch 8"), []
        for sigma in LEVELS:
            where = [{"mm_level": float(sigma), **group} for group in GROUPS.values()]
            pooled = [eu.samples(evaluated, "mismatch_list", w) for w in where]
            numbers["levels"].append({"sigma": sigma, **eu.compare(*pooled, names=names)})
            rows.append(eu.comparison_row("Speech SGD", sigma, numbers["levels"][-1], names=names))

        # 4. plot and save
        fig, ax = plt.subplots(figsize=(5, 3))
        shown = numbers["levels"][1:]
        data = [[lv[n]["values"] for lv in shown] for n in names]
        split_violin(ax, *data, [lv["sigma"] for lv in shown], labels=names, legend=True)
        ax.set(xlabel="Mismatch level σ", ylabel="Test accuracy", title="Speech LSNN, SGD, β = 0")
        return eu.save(
            fig,
            FIGURE,
            numbers,
            profile=profile,
            out_dir=out_dir,
            models=models,
            table=(header, rows),
            extra={"experiment": "sgd_experiment", "left": names[0], "right": names[1]},
        )
