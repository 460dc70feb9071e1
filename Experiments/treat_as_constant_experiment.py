"""figure_treat_as_constant (Resources/Figures/figure_treat_as_constant.{png,pdf,json} + _table; spec §1.2).

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

from architectures import speech_lsnn
from robustness import experiment_utils as eu
from robustness.plotting import plt
from robustness.profiles import get_profile

FIGURE = "figure_treat_as_constant"
LOSSES = {"full": ("kl", "reverse_kl", "l2"), "quick": (), "smoke": ("kl",)}
SETTINGS = (False, True)
BASE = {"attack_size_mismatch": 2.0, "beta_robustness": 1.0}


class treat_as_constant_experiment:
    @staticmethod
    def train_grid(profile="full") -> list[dict]:
        get_profile(profile)  # validates the name
        grid = [
            {**speech_lsnn.make(), **BASE, "boundary_loss": loss, "treat_as_constant": constant}
            for loss in LOSSES[profile]
            for constant in SETTINGS
        ]
        return eu.profile_grid(grid, profile, seeds=(0,))

    @staticmethod
    def visualize(profile="full", out_dir=None):
        grid = treat_as_constant_experiment.train_grid(profile)
        if not grid:
            print(f"treat_as_constant_experiment: nothing trained in profile {profile!r}; skipped")
            return None
        prof = get_profile(profile)
        # 1. load the trained models and their training logs
        models = eu.load(grid, "treat_as_constant_experiment", profile)

        # 2. cached evaluation: clean test accuracy
        models = eu.evaluate(models, eu.test_accuracy, "test_accuracy", "{*}", prof.test_limit)

        # 3. reduce: smoothed curves, final values
        numbers, rows = {"test_limit": prof.test_limit, "models": []}, []
        header = ["boundary loss", "treat_as_constant", "final train acc. (%)", "final attacked (%)"]
        header += ["best val. acc. (%)", "test acc. (%)"]
        for m in sorted(
            models, key=lambda m: (LOSSES["full"].index(m["boundary_loss"]), m["treat_as_constant"])
        ):
            entry = {"session_id": eu.sid(m), "boundary_loss": m["boundary_loss"]}
            entry["treat_as_constant"] = m["treat_as_constant"]
            for key in ("training_accuracy", "attacked_training_accuracy"):
                entry[key] = {"raw": m[key], **eu.smoothed([m[key]])}
            entry["best_validation_accuracy"] = m["best_validation_accuracy"][-1]
            entry["test_accuracy"] = m["test_accuracy"]
            numbers["models"].append(entry)
            finals = [entry[k]["mean"][-1] for k in ("training_accuracy", "attacked_training_accuracy")]
            values = [*finals, entry["best_validation_accuracy"], entry["test_accuracy"]]
            rows.append(
                [m["boundary_loss"], str(m["treat_as_constant"]), *(f"{100 * v:.2f}" for v in values)]
            )

        # 4. plot and save
        losses = [
            loss for loss in LOSSES["full"] if any(e["boundary_loss"] == loss for e in numbers["models"])
        ]
        fig, axes = plt.subplots(1, len(losses), figsize=(4 * len(losses), 3), squeeze=False)
        for ax, loss in zip(axes[0], losses):
            for entry in (e for e in numbers["models"] if e["boundary_loss"] == loss):
                style = "--" if entry["treat_as_constant"] else "-"
                tag = "constant" if entry["treat_as_constant"] else "gradient"
                ax.plot(entry["training_accuracy"]["mean"], style, color="C1", label=f"clean ({tag})")
                ax.plot(
                    entry["attacked_training_accuracy"]["mean"], style, color="C2", label=f"attacked ({tag})"
                )
            ax.set(title=f"boundary loss: {loss}", ylim=(0, 1), xlabel="log index")
        axes[0, 0].set_ylabel("Training accuracy (moving average)")
        axes[0, -1].legend(frameon=False, fontsize=6)
        return eu.save(
            fig,
            FIGURE,
            numbers,
            profile=profile,
            out_dir=out_dir,
            models=models,
            table=(header, rows),
            extra={"experiment": "treat_as_constant_experiment"},
        )
