"""The main job (README "Results of the main job") as a test: ``train.py -profile=quick`` and
``make_figures.py -profile=quick`` on real data, then the claims the README says the quick figures
reproduce, and the clean accuracies it quotes. ~27 min on 2 cores, so marked ``full`` (deselected in CI,
which runs the same chain at smoke size in test_make_figures.py):

    python -m pytest -m full tests/test_quick_profile.py

Training is deterministic (same flags → bit-identical models), so these numbers are the README's.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from robustness.paths import REPO_ROOT

pytestmark = [pytest.mark.full, pytest.mark.slow, pytest.mark.timeout(3600)]
EXPERIMENTS = ("mismatch_experiment", "constant_attack_experiment", "methods_experiment")


@pytest.fixture(scope="module")
def figures(tmp_path_factory, speech_dir, mitdb_dir, fashion_dir):
    root = tmp_path_factory.mktemp("quick")
    dirs = [f"-cache_dir={root / 'Sessions'}", f"-resources_dir={root / 'Resources'}"]
    for script, extra in (("train.py", ["-group_seeds=2"]), ("make_figures.py", [])):
        argv = [sys.executable, script, "-profile=quick", "-exp", *EXPERIMENTS, *extra, *dirs]
        proc = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    out = root / "Resources" / "Figures" / "quick"

    def numbers(name):
        return json.loads((out / f"{name}.json").read_text())["numbers"]

    return numbers


def test_methods_claim_attack_kl_falls_for_robust_and_grows_for_standard(figures):
    kl = figures("methods_figure")["final_kl"]
    assert kl["1.0"]["last_tenth_mean"] < kl["1.0"]["first_tenth_mean"]
    assert kl["0.0"]["last_tenth_mean"] > 3 * kl["0.0"]["first_tenth_mean"]
    assert kl["0.1"]["last_tenth_mean"] < kl["0.0"]["last_tenth_mean"]


def test_constant_attack_claim_attacked_accuracy_rises_up_to_beta_1(figures):
    test = figures("constant_attack_figure")["test"]
    attacked = [test[b]["attacked"]["summary"]["mean"] for b in ("0.0", "0.1", "1.0")]
    assert attacked[0] < attacked[1] < attacked[2] and attacked[2] - attacked[0] > 0.08


def test_clean_accuracies_are_the_readmes_early_training_levels(figures):
    tasks = figures("figure_main")["tasks"]
    clean = {
        a: [t["levels"][0][m]["summary"]["mean"] for m in ("standard", "robust")] for a, t in tasks.items()
    }
    assert clean["speech_lsnn"] == pytest.approx([0.7843, 0.7773], abs=0.02)
    assert clean["ecg_lsnn"] == pytest.approx([0.7127, 0.6381], abs=0.03)
    assert clean["cnn"] == pytest.approx([0.8140, 0.6745], abs=0.03)
