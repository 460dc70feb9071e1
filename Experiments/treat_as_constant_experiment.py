"""figure_treat_as_constant (Resources/Figures/figure_treat_as_constant.{png,pdf,json} + _table;
docs/original.md §1.2).

Claim under test: letting the gradient flow through θ* (``treat_as_constant=False``, the report's
setting) trains as well as treating θ* as a constant, for the KL, reverse-KL and ℓ2 boundary losses.
Trained: speech LSNN, ζ_rel = 2, β = 1, seed 0, treat_as_constant ∈ {False, True} × boundary_loss ∈ {kl,
reverse_kl, l2} (6 models). Evaluated: training and attacked training accuracy curves (training logs) and
the clean test accuracy. Not one of the README figures: ``quick`` trains nothing here (the figure is then
skipped); ``smoke`` keeps the kl pair (its False model is figure_main's robust speech model).
Commands: ``python train.py -exp treat_as_constant_experiment``;
``python make_figures.py -exp treat_as_constant_experiment``.
Expected: similar clean curves; attacked accuracy close to clean for all six.
"""

from architectures import load_models, speech_lsnn
from robustness import cached_evaluation as ce
from robustness import figures, reductions
from robustness.paths import Dirs
from robustness.plotting import plt
from robustness.profiles import DEFAULT, get_profile

NAME, FIGURE = "treat_as_constant_experiment", "figure_treat_as_constant"
BOUNDARY_LOSSES = ("kl", "reverse_kl", "l2")  # the report's (a profile may narrow them: "boundary_losses")
SETTINGS = (False, True)  # treat_as_constant; every other flag at the speech default (ζ_rel 2, β 1)
CURVES = ("training_accuracy", "attacked_training_accuracy")
HEADER = ["boundary loss", "treat_as_constant", "final train acc. (%)", "final attacked (%)"]
HEADER += ["best val. acc. (%)", "test acc. (%)"]


class treat_as_constant_experiment:
    @staticmethod
    def train_grid(profile=DEFAULT, settings=SETTINGS) -> list[dict]:
        prof = get_profile(profile)
        losses = prof.settings(NAME).get("boundary_losses", BOUNDARY_LOSSES)
        grid = [
            {**speech_lsnn.make(), "boundary_loss": loss, "treat_as_constant": constant}
            for loss in losses
            for constant in settings
        ]
        return prof.grid(grid, experiment=NAME, seeds=(0,))

    @staticmethod
    def visualize(profile=DEFAULT, out_dir=None, dirs=Dirs(), settings=SETTINGS, figure_config=None):
        grid = treat_as_constant_experiment.train_grid(profile, settings)
        if not grid:
            print(f"{NAME}: nothing trained in profile {profile!r}; skipped")
            return None
        prof = get_profile(profile)
        models = load_models(grid, experiment=NAME, profile=profile, dirs=dirs)
        models = ce.evaluate(models, ce.test_accuracy, "test_accuracy", "{*}", prof.test_limit, dirs=dirs)
        numbers, table = reduce(models, prof)
        return figures.save(
            draw(numbers), FIGURE, numbers, profile=profile, out_dir=out_dir, dirs=dirs, models=models,
            table=table, extra={"experiment": NAME}, figure_config=figure_config,
        )  # fmt: skip


def reduce(models: list[dict], prof) -> tuple[dict, tuple]:
    """Per model: smoothed clean and attacked training curves, best validation and test accuracy."""
    numbers, rows = {"test_limit": prof.test_limit, "models": []}, []
    order = sorted(models, key=lambda m: (BOUNDARY_LOSSES.index(m["boundary_loss"]), m["treat_as_constant"]))
    for m in order:
        entry = {"session_id": reductions.training_sid(m), "boundary_loss": m["boundary_loss"]}
        entry["treat_as_constant"] = m["treat_as_constant"]
        for key in CURVES:
            entry[key] = {"raw": m[key], **reductions.smoothed([m[key]])}
        entry["best_validation_accuracy"] = m["best_validation_accuracy"][-1]
        entry["test_accuracy"] = m["test_accuracy"]
        numbers["models"].append(entry)
        finals = [entry[k]["mean"][-1] for k in CURVES]
        values = [*finals, entry["best_validation_accuracy"], entry["test_accuracy"]]
        rows.append([m["boundary_loss"], str(m["treat_as_constant"]), *(f"{100 * v:.2f}" for v in values)])
    return numbers, (HEADER, rows)


def draw(numbers: dict):
    """One panel per boundary loss: the clean and attacked curves, solid with gradient, dashed constant."""
    losses = [loss for loss in BOUNDARY_LOSSES if any(e["boundary_loss"] == loss for e in numbers["models"])]
    fig, axes = plt.subplots(1, len(losses), figsize=(4 * len(losses), 3), squeeze=False)
    for ax, loss in zip(axes[0], losses):
        for entry in (e for e in numbers["models"] if e["boundary_loss"] == loss):
            style = "--" if entry["treat_as_constant"] else "-"
            tag = "constant" if entry["treat_as_constant"] else "gradient"
            ax.plot(entry["training_accuracy"]["mean"], style, color="C1", label=f"clean ({tag})")
            attacked = entry["attacked_training_accuracy"]["mean"]
            ax.plot(attacked, style, color="C2", label=f"attacked ({tag})")
        ax.set(title=f"boundary loss: {loss}", ylim=(0, 1), xlabel="log index")
    axes[0, 0].set_ylabel("Training accuracy (moving average)")
    axes[0, -1].legend(frameon=False, fontsize=6)
    return fig
