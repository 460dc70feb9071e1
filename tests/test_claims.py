"""robustness.claims: the main job's claim check, on hand-built figure JSONs with known answers."""

import json
import math
from pathlib import Path

import pytest

from robustness import claims
from robustness.tasks import TASKS

REPO = Path(__file__).resolve().parents[1]
QUICK = REPO / "Resources" / "Figures" / "quick"  # the committed quick figures


def _level(sigma, std, rob):
    return {"sigma": sigma, "standard": {"values": std}, "robust": {"values": rob}}


def _write(
    tmp_path, std_noisy, rob_noisy, clean=(0.9, 0.9), betas=(0.4, 0.5, 0.6, 0.45), kl=((1, 2), (2, 1))
):
    tasks = {}
    for arch, task in TASKS.items():
        levels = [_level(0.0, [[clean[0]], [clean[0]]], [[clean[1]], [clean[1]]])]
        levels += [_level(s, std_noisy, rob_noisy) for s in task.mismatch_levels[1:]]
        tasks[arch] = {"levels": levels}
    test = {str(b): {"attacked": {"values": [v, v]}} for b, v in zip((0.0, 0.1, 1.0, 10.0), betas)}
    final_kl = {str(b): {"raw": [[a] * 10 + [b_] * 10] * 2} for b, (a, b_) in zip((0.0, 1.0), kl)}
    for name, numbers in [("figure_main", {"tasks": tasks}), ("constant_attack_figure", {"test": test}),
                          ("methods_figure", {"final_kl": final_kl})]:  # fmt: skip
        (tmp_path / f"{name}.json").write_text(json.dumps({"numbers": numbers}))


def test_separated_draws_hold_with_the_exact_mann_whitney_p(tmp_path):
    # 2 models x 4 distinct draws each side, every robust draw above every standard one: exact one-sided
    # p = 1 / C(16, 8) = 7.8e-5 < 0.01
    _write(
        tmp_path,
        [[0.1, 0.2, 0.3, 0.4], [0.15, 0.25, 0.35, 0.45]],
        [[0.5, 0.6, 0.7, 0.8], [0.55, 0.65, 0.75, 0.85]],
    )
    assert claims.main([str(tmp_path)]) == 0
    out = json.loads((tmp_path / "claims.json").read_text())
    assert out["all_hold"] and len(out["claims"]) == 4 * len(TASKS) + 4
    p = 1 / math.comb(16, 8)
    assert f"p={p:.2g}" in out["claims"][1]["detail"]


def test_each_claim_fails_on_its_own_counterexample(tmp_path):
    # overlapping draws (mean above, not significant), robust clean 3 pp lower, standard clean 70 %,
    # β = 1 attacked below β = 0.1, β = 10 below β = 0, KL falling for β = 0 and growing for β = 1
    _write(tmp_path, [[0.5, 0.6]] * 2, [[0.52, 0.61]] * 2, clean=(0.70, 0.67), betas=(0.5, 0.6, 0.55, 0.4),
           kl=((2, 1), (1, 2)))  # fmt: skip
    assert claims.main([str(tmp_path)]) == 1
    held = {c["claim"]: c["holds"] for c in json.loads((tmp_path / "claims.json").read_text())["claims"]}
    assert [k for k, v in held.items() if v] == [f"figure_main {a}: robust mean above standard at every σ > 0"
                                                  for a in TASKS]  # fmt: skip


def test_the_committed_quick_figures_hold_what_the_readme_says(tmp_path, capsys):
    # the committed quick figures (README claims table, first column): 12 of 16 claims hold
    for name in claims.CHECKS:
        (tmp_path / f"{name}.json").write_text((QUICK / f"{name}.json").read_text())
    assert claims.main([str(tmp_path)]) == 1
    assert "12 of 16 claims hold" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["-x"], ["a", "b"]])
def test_bad_arguments_exit_2(argv):
    assert claims.main(argv) == 2


def test_missing_figure_exits_1_naming_it(tmp_path, capsys):
    assert claims.main([str(tmp_path)]) == 1
    assert str(tmp_path / "figure_main.json") in capsys.readouterr().err


@pytest.mark.parametrize("figure", ["figure_main", "constant_attack_figure", "methods_figure"])
def test_the_readme_shows_the_committed_quick_tables(figure):
    # the README's "Results of the main job" tables are the committed figures' own tables, verbatim
    table = (QUICK / f"{figure}_table.md").read_text().strip()
    assert table in (REPO / "README.md").read_text()
