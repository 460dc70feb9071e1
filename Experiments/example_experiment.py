"""figure_example (Resources/Figures/figure_example.{png,pdf,json} + _table; docs/original.md §5.6).

Claim under test: none — a minimal Experiment showing the protocol: the F-MNIST CNN with the report's
defaults (β = 1, ζ_rel = 1) trains and reaches a sensible test accuracy for every seed.
Trained: the CNN defaults, seeds 0..3 (``full``) or the profile's seeds — in ``quick``/``smoke`` these are
exactly figure_main's robust CNNs, so nothing extra is trained. Evaluated: clean test accuracy.
Commands: ``python train.py -exp example_experiment``; ``python make_figures.py -exp example_experiment``.
Expected: test accuracies within a few points of each other (full: ≈ 89–92 %, an estimate).
"""

import numpy as np

from architectures import cnn, load_models
from robustness import cached_evaluation as ce
from robustness import figures, reductions, stats
from robustness.paths import Dirs
from robustness.plotting import plt
from robustness.profiles import DEFAULT, get_profile

NAME, FIGURE = "example_experiment", "figure_example"
SEEDS = (0, 1, 2, 3)  # the report's; a profile may set "seeds" (None: the profile's own seeds)


class example_experiment:
    @staticmethod
    def train_grid(profile=DEFAULT) -> list[dict]:
        prof = get_profile(profile)
        return prof.grid([cnn.make()], experiment=NAME, seeds=prof.settings(NAME).get("seeds", SEEDS))

    @staticmethod
    def visualize(profile=DEFAULT, out_dir=None, dirs=Dirs(), figure_config=None) -> dict:
        prof = get_profile(profile)
        models = load_models(
            example_experiment.train_grid(profile), experiment=NAME, profile=profile, dirs=dirs
        )
        models = ce.evaluate(models, ce.test_accuracy, "test_accuracy", "{*}", prof.test_limit, dirs=dirs)
        models.sort(key=lambda m: m["seed"])
        accs = [m["test_accuracy"] for m in models]
        sids = [reductions.training_sid(m) for m in models]
        numbers = {"test_limit": prof.test_limit, "seeds": [m["seed"] for m in models], "session_ids": sids}
        numbers |= {"test_accuracy": accs, "summary": stats.summarize(accs)}
        rows = [[str(m["seed"]), str(s), f"{100 * a:.2f}"] for m, s, a in zip(models, sids, accs)]
        fig, ax = plt.subplots(figsize=(3, 2.5))
        ax.bar(np.arange(len(accs)), accs, color="C0")
        ax.set(
            xticks=np.arange(len(accs)), xticklabels=numbers["seeds"], xlabel="seed", ylabel="Test accuracy"
        )
        ax.set(ylim=(0, 1), title="F-MNIST CNN (defaults)")
        table = (["seed", "session id", "test acc. (%)"], rows)
        return figures.save(
            fig, FIGURE, numbers, profile=profile, out_dir=out_dir, dirs=dirs, models=models, table=table,
            extra={"experiment": NAME}, figure_config=figure_config,
        )  # fmt: skip
