"""Run profiles: how much of the report's protocol ``train.py``/``make_figures.py`` reproduce. The profile
names live here and nowhere else.

- ``full``: the report's grid (10 seeds, report epochs, 50 mismatch draws per model and level).
- ``quick``: the same figures from a reduced grid (fewer seeds, iterations and draws) that trains and plots
  end to end on a 2-core CPU in about half an hour (README "Main job").
- ``smoke``: a minimal but real pass through the whole chain (train → evaluate → figures) for CI.

Training overrides are ordinary config flags, so they are part of each model's cache key: a quick model
is never mistaken for a full one. An Experiment's grid is the report's unless the profile narrows it
(``settings(experiment)``, e.g. fewer seeds or sweep values).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import datajuicer as dj

DEFAULT = "full"  # the report's protocol: the default of train.py, make_figures.py and every Experiment


@dataclass(frozen=True)
class Profile:
    name: str
    seeds: tuple[int, ...]  # seeds per configuration
    train: dict = field(default_factory=dict)  # architecture -> training flag overrides
    n_draws: int = 50  # mismatch draws per model and level (1 at σ = 0)
    surface_draws: int = 2  # draws of the ±c·sign(U) "surface" perturbation (docs/original.md §5.3)
    test_limit: int = 0  # evaluate on the first N test examples (0 = the whole test set)
    # experiment -> flag overrides on top of ``train``; a dict value under an architecture's name holds
    # overrides for that architecture's models of that experiment only
    experiment_train: dict = field(default_factory=dict)
    experiment_settings: dict = field(default_factory=dict)  # experiment -> grid settings (see ``settings``)
    # architecture -> K: every model of that architecture continues (``-init_from``) from its seed's
    # standard model trained for K iterations (README "Warm start"); {} = from scratch, the report's
    warm_start: dict = field(default_factory=dict)
    cold_start: tuple = ()  # Experiments whose models train from scratch despite ``warm_start``

    @property
    def reduced(self) -> bool:
        """Whether this is a reduced profile (its figures go to ``Figures/<name>/``)."""
        return self.name != DEFAULT

    def overrides(self, architecture: str, experiment: str | None = None) -> dict:
        own = self.experiment_train.get(experiment, {})
        flat = {k: v for k, v in own.items() if not isinstance(v, dict)}
        return {**self.train.get(architecture, {}), **flat, **own.get(architecture, {})}

    def settings(self, experiment: str) -> dict:
        """How this profile narrows ``experiment``'s grid (names the Experiment defines); {} = the report's."""
        return self.experiment_settings.get(experiment, {})

    def parent(self, architecture: str, seed: int) -> dict:
        """The warm-start parent of ``architecture``'s models of ``seed``: standard training (β = 0) for
        ``warm_start[architecture]`` iterations with the profile's flags (shared by every Experiment)."""
        steps = self.warm_start[architecture]
        return {"architecture": architecture, **self.train.get(architecture, {}), "beta_robustness": 0.0,
                "max_steps": steps, "seed": seed}  # fmt: skip

    def grid(self, elements: list[dict], *, experiment: str | None = None, seeds=None) -> list[dict]:
        """The profile's training overrides (per architecture, then per ``experiment``) on every element,
        then one copy per seed (the profile's unless ``seeds`` is given); with a ``warm_start`` for the
        architecture (and ``experiment`` not in ``cold_start``) each copy continues from its seed's ``parent``."""
        grid = [{**e, **self.overrides(e["architecture"], experiment)} for e in elements]
        grid = dj.split(grid, "seed", list(self.seeds if seeds is None else seeds))
        warm = {} if experiment in self.cold_start else self.warm_start
        return [
            {**e, "init_from": self.parent(e["architecture"], e["seed"])} if e["architecture"] in warm
            else e
            for e in grid
        ]  # fmt: skip


_QUICK_COMMON = dict(eval_step_interval=100, validation_limit=500, n_attack_steps=3, log_interval=50)
# quick (README "Results of the main job", each setting next to the report's value there): one seed; every
# task trains a standard parent for 800 iterations, then standard and robust (β = 1) continue from it to 1200
# (-init_from), so the pair differs only in β over the last 400 iterations; 3 attack steps (report 10); a
# training-batch log every 50 iterations (report 10; the logs change no weights, only what is plotted); the
# CNN's attack box ζ = 0.75 (report 1.0, which cost 2.6 pp clean accuracy in 400 robust iterations; 0.5 left
# the robust CNN no better than the standard one at σ = 1.5); figure_main's speech models ζ = 1.0 (report 2.0,
# whose 400 robust iterations left the robust model 0.4 pp behind at σ = 0.5; the constant-attack speech
# models keep their own attack); README "Results of the main job"
_SMOKE_COMMON = dict(max_steps=20, eval_step_interval=10, validation_limit=100, n_hidden=32)

PROFILES = {
    DEFAULT: Profile(name=DEFAULT, seeds=tuple(range(10))),
    "quick": Profile(
        name="quick",
        seeds=(0,),
        train={
            "speech_lsnn": dict(max_steps=1200, **_QUICK_COMMON),
            "ecg_lsnn": dict(max_steps=1200, **_QUICK_COMMON),
            "cnn": dict(max_steps=1200, attack_size_mismatch=0.75, **_QUICK_COMMON),
        },
        experiment_train={
            "mismatch_experiment": {"speech_lsnn": dict(attack_size_mismatch=1.0)},
            # its training curves and the methods figure's KL-over-training come from the logs: every 10
            "constant_attack_experiment": dict(max_steps=1000, log_interval=10),
            # opt-in: 1 seed × 7 methods, ECG only, from scratch (README "Method comparison")
            "methods_comparison_experiment": dict(max_steps=150, n_attack_steps=10),  # as measured
        },
        warm_start={"speech_lsnn": 800, "ecg_lsnn": 800, "cnn": 800},
        cold_start=("methods_comparison_experiment",),
        n_draws=50,
        test_limit=1000,
        experiment_settings={  # only the README figures: the other Experiments train nothing
            "treat_as_constant_experiment": {"boundary_losses": ()},
            "sgd_experiment": {"seeds": (), "eval_seeds": ()},
            "ecg_experiment": {"sweep": ((), ())},
            "example_experiment": {"seeds": None},  # the profile's seeds: figure_main's robust CNNs
            "methods_comparison_experiment": {"seeds": (0,), "n_draws": 10, "tasks": ("ecg_lsnn",)},
        },
    ),
    "smoke": Profile(
        name="smoke",
        seeds=(0,),
        train={
            "speech_lsnn": dict(_SMOKE_COMMON),
            "ecg_lsnn": dict(_SMOKE_COMMON),
            "cnn": dict(max_steps=20, eval_step_interval=10, validation_limit=100),
        },
        n_draws=3,
        surface_draws=1,
        test_limit=200,
        experiment_settings={  # one tiny model or pair each
            "treat_as_constant_experiment": {"boundary_losses": ("kl",)},
            "sgd_experiment": {"seeds": (0,), "eval_seeds": (0,)},
            "ecg_experiment": {"sweep": ((2.0,), (0.7,))},
            "example_experiment": {"seeds": None},
            "methods_comparison_experiment": {"seeds": (0,), "n_draws": 3, "tasks": ("ecg_lsnn",)},
        },
    ),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; valid profiles: {', '.join(PROFILES)}") from None
