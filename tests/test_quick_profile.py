"""The main job (README "Results of the main job") as a test: ``train.py -profile=quick -group_seeds=2`` and
``make_figures.py -profile=quick`` on real data from empty caches, then the report's claims read from the
figure JSONs by ``robustness.claims`` (the public fields only). About an hour on 2 cores, so marked ``full``
(deselected in CI, which runs the same chain at smoke size in test_make_figures.py):

    python -m pytest -m full tests/test_quick_profile.py

Each claim the README's claims table marks as holding in every measured run must hold; the ones that
failed in all are ``xfail(strict=True)`` (the test notices when a change makes them hold), the ones that
depend on the CPU (the CNN at the 2 pp line) are ``xfail(strict=False)``. Floats
differ slightly across CPUs, so the quoted accuracies are compared with margins, not digits.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from robustness import claims
from robustness.paths import REPO_ROOT

pytestmark = [pytest.mark.full, pytest.mark.slow, pytest.mark.timeout(7200)]

FAILING = {  # failed in every measured run (README claims table)
    "figure_main ecg_lsnn: robust mean above standard at every σ > 0",
    "figure_main ecg_lsnn: one-sided Mann–Whitney p < 0.01 at the two largest σ",
    "figure_main ecg_lsnn: robust clean accuracy at most 2 pp below standard",
}
DRAW_SENSITIVE = {  # decided by the CPU's last digits: the draws are paired and keyed by the seed, so
    # one CPU gives the same verdicts in every run, but the CNN's clean margin sits at the 2 pp line and its
    # σ 1.5 p-value failed with earlier (session-keyed) draws
    "figure_main cnn: robust mean above standard at every σ > 0",
    "figure_main cnn: one-sided Mann–Whitney p < 0.01 at the two largest σ",
    "figure_main cnn: robust clean accuracy at most 2 pp below standard",
}
# standard clean test accuracy the README quotes (first 1000 test examples), ± 3 pp across CPUs (measured:
# the same speech flags gave 89.1 % on one machine and 91.3 % on another)
CLEAN = {"speech_lsnn": 0.891, "ecg_lsnn": 0.854, "cnn": 0.907}


@pytest.fixture(scope="module")
def figures_dir(tmp_path_factory, speech_dir, mitdb_dir, fashion_dir):
    root = tmp_path_factory.mktemp("quick")
    dirs = [f"-cache_dir={root / 'Sessions'}", f"-resources_dir={root / 'Resources'}"]
    for script, extra in (("train.py", ["-group_seeds=2"]), ("make_figures.py", [])):
        argv = [sys.executable, script, "-profile=quick", *extra, *dirs]
        proc = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return root / "Resources" / "Figures" / "quick"


@pytest.fixture(scope="module")
def verdicts(figures_dir):
    return {c["claim"]: c for c in claims.check(figures_dir)}


CLAIMS = [
    *(
        f"figure_main {arch}: {what}"
        for arch, floor in (("speech_lsnn", 85), ("ecg_lsnn", 80), ("cnn", 85))
        for what in (
            "robust mean above standard at every σ > 0",
            "one-sided Mann–Whitney p < 0.01 at the two largest σ",
            "robust clean accuracy at most 2 pp below standard",
            f"standard clean accuracy >= {floor} %",
        )
    ),
    "constant_attack_figure: attacked accuracy strictly increases over β = 0, 0.1, 1",
    "constant_attack_figure: β = 10 attacked accuracy above β = 0",
    "methods_figure: final-step KL grows over training for β = 0",
    "methods_figure: final-step KL falls over training for β = 1",
]
XFAIL = pytest.mark.xfail(strict=True, reason="README claims table: not shown by the quick profile yet")
MAYBE = pytest.mark.xfail(strict=False, reason="README claims table: decided by the CPU's last digits")


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=XFAIL if n in FAILING else MAYBE) if n in FAILING | DRAW_SENSITIVE else n
        for n in CLAIMS
    ],
)
def test_claim(verdicts, name):
    assert name in verdicts, sorted(verdicts)
    assert verdicts[name]["holds"], verdicts[name]["detail"]


def test_every_claim_is_listed(verdicts):
    assert sorted(verdicts) == sorted(CLAIMS) and FAILING <= set(CLAIMS)


def test_standard_clean_accuracies_are_the_readmes(figures_dir):
    tasks = claims.files.read_json(figures_dir / "figure_main.json")["numbers"]["tasks"]
    for arch, expected in CLEAN.items():
        level = min(tasks[arch]["levels"], key=lambda lv: lv["sigma"])
        assert claims._pooled(level, "standard").mean() == pytest.approx(expected, abs=0.03), arch
