"""figure_example (Resources/Figures/figure_example.{png,pdf,json} + _table; spec §5.6).

Claim under test: none — a minimal Experiment showing the protocol: the F-MNIST CNN with the report's
defaults (β = 1, ζ_rel = 1) trains and reaches a sensible test accuracy for every seed.
Trained: the CNN defaults, seeds 0..3 (``full``) or the profile's seeds — in ``quick``/``smoke`` these are
exactly figure_main's robust CNNs, so nothing extra is trained. Evaluated: clean test accuracy.
Commands: ``python train.py -exp example_experiment``; ``python make_figures.py -exp example_experiment``.
Expected: test accuracies within a few points of each other (full: ≈ 89–92 %, an estimate).
"""

import numpy as np

from architectures import cnn
from robustness import experiment_utils as eu
from robustness import stats
from robustness.plotting import plt
from robustness.profiles import get_profile

FIGURE = "figure_example"
SEEDS = {"full": (0, 1, 2, 3)}  # other profiles: the profile's seeds


class example_experiment:
    @staticmethod
    def train_grid(profile="full") -> list[dict]:
        return eu.profile_grid([cnn.make()], profile, seeds=SEEDS.get(profile))

    @staticmethod
    def visualize(profile="full", out_dir=None) -> dict:
        prof = get_profile(profile)
        # 1. load the trained models
        models = eu.load(example_experiment.train_grid(profile), "example_experiment", profile)

        # 2. cached evaluation: clean test accuracy
        models = eu.evaluate(models, eu.test_accuracy, "test_accuracy", "{*}", prof.test_limit)

        # 3. reduce
        models.sort(key=lambda m: m["seed"])
        accs = [m["test_accuracy"] for m in models]
        numbers = {
            "test_limit": prof.test_limit,
            "seeds": [m["seed"] for m in models],
            "session_ids": [eu.sid(m) for m in models],
            "test_accuracy": accs,
            "summary": stats.summarize(accs),
        }
        header = ["seed", "session id", "test acc. (%)"]
        rows = [[str(m["seed"]), str(eu.sid(m)), f"{100 * a:.2f}"] for m, a in zip(models, accs)]

        # 4. plot and save
        fig, ax = plt.subplots(figsize=(3, 2.5))
        ax.bar(np.arange(len(accs)), accs, color="C0")
        ax.set(
            xticks=np.arange(len(accs)), xticklabels=numbers["seeds"], xlabel="seed", ylabel="Test accuracy"
        )
        ax.set(ylim=(0, 1), title="F-MNIST CNN (defaults)")
        return eu.save(
            fig,
            FIGURE,
            numbers,
            profile=profile,
            out_dir=out_dir,
            models=models,
            table=(header, rows),
            extra={"experiment": "example_experiment"},
        )
