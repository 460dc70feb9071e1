"""Check the report's claims on the figure JSONs the main job writes (README "Results of the main job").

    python -m robustness.claims [-profile=NAME | FIGURES_DIR]   # default: the quick profile's figure folder

Reads only the public fields of the figure JSONs:

* ``figure_main.json`` → ``numbers.tasks.<task>.levels[].{sigma, standard.values, robust.values}`` (per model,
  the per-draw test accuracies). Per task: the robust mean is above the standard mean at every σ > 0; at the
  two largest σ the difference is significant (one-sided Mann–Whitney p < 0.01 over the pooled draws, robust
  greater); robust clean accuracy (σ = 0) is at most 2 pp below standard; standard clean accuracy reaches
  the task's ``quick_clean_floor`` (speech 85 %, ECG 80 %, CNN 85 %).
* ``constant_attack_figure.json`` → ``numbers.test.<β>.attacked.values``: attacked test accuracy strictly
  increases over β = 0, 0.1, 1, and β = 10 is above β = 0.
* ``methods_figure.json`` → ``numbers.final_kl.<β>.raw`` (per seed, the final-step KL per logged step): the
  mean over the last tenth of the logs is above the first tenth for β = 0 (the KL grows) and below it for
  β = 1 (robust training shrinks it).

Prints one ``holds``/``FAILS`` line per claim, writes ``<FIGURES_DIR>/claims.json`` (``{"claims": [{claim,
holds, detail}], "all_hold"}``) and exits 0 when every claim holds, 1 when one fails or a figure file is
missing or unreadable (the message names it), 2 on bad arguments.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from robustness import files, stats
from robustness.figures import figure_dir
from robustness.profiles import PROFILES
from robustness.tasks import TASKS

P_MAX = 0.01  # one-sided Mann–Whitney p at the two largest σ
CLEAN_MARGIN = 0.02  # robust clean accuracy may be at most 2 pp below standard


def _pooled(level: dict, method: str) -> np.ndarray:
    return np.concatenate([np.ravel(v) for v in level[method]["values"]]).astype(float)


def _claim(claim: str, holds: bool, detail: str) -> dict:
    return {"claim": claim, "holds": bool(holds), "detail": detail}


def figure_main(numbers: dict) -> list[dict]:
    """The four figure_main claims per task (see the module docstring)."""
    out = []
    for arch, task in TASKS.items():
        levels = sorted(numbers["tasks"][arch]["levels"], key=lambda lv: lv["sigma"])
        std = {lv["sigma"]: _pooled(lv, "standard") for lv in levels}
        rob = {lv["sigma"]: _pooled(lv, "robust") for lv in levels}
        noisy = [s for s in std if s > 0]
        diffs = {s: 100 * (rob[s].mean() - std[s].mean()) for s in noisy}
        text = ", ".join(f"σ={s:g}: {d:+.1f} pp" for s, d in diffs.items())
        out.append(_claim(f"figure_main {arch}: robust mean above standard at every σ > 0",
                          all(d > 0 for d in diffs.values()), text))  # fmt: skip
        ps = {s: stats.mann_whitney(std[s], rob[s])["p_one_sided"] for s in noisy[-2:]}
        out.append(_claim(f"figure_main {arch}: one-sided Mann–Whitney p < {P_MAX} at the two largest σ",
                          all(p < P_MAX for p in ps.values()),
                          ", ".join(f"σ={s:g}: p={p:.2g}" for s, p in ps.items())))  # fmt: skip
        s0, r0 = std[0.0].mean(), rob[0.0].mean()
        out.append(_claim(f"figure_main {arch}: robust clean accuracy at most 2 pp below standard",
                          r0 >= s0 - CLEAN_MARGIN, f"standard {100 * s0:.1f} %, robust {100 * r0:.1f} %"))  # fmt: skip
        floor = task.quick_clean_floor
        out.append(_claim(f"figure_main {arch}: standard clean accuracy >= {100 * floor:.0f} %",
                          s0 >= floor, f"standard {100 * s0:.1f} %"))  # fmt: skip
    return out


def constant_attack(numbers: dict) -> list[dict]:
    """Attacked test accuracy rises over β = 0, 0.1, 1; β = 10 above β = 0."""
    test = numbers["test"]
    mean = {float(b): float(np.mean(test[b]["attacked"]["values"])) for b in test}
    detail = ", ".join(f"β={b:g}: {100 * m:.1f} %" for b, m in sorted(mean.items()))
    rising = mean[0.0] < mean[0.1] < mean[1.0]
    return [
        _claim(
            "constant_attack_figure: attacked accuracy strictly increases over β = 0, 0.1, 1", rising, detail
        ),
        _claim(
            "constant_attack_figure: β = 10 attacked accuracy above β = 0", mean[10.0] > mean[0.0], detail
        ),
    ]


def _tenths(raw: list) -> tuple[float, float]:
    """Mean (over seeds) of the first and the last tenth of the logged final-step KL."""
    curve = np.mean(np.asarray(raw, dtype=float), axis=0)
    n = max(1, len(curve) // 10)
    return float(curve[:n].mean()), float(curve[-n:].mean())


def methods(numbers: dict) -> list[dict]:
    """The final-step KL grows over training for β = 0 and falls for β = 1."""
    kl = numbers["final_kl"]
    (a0, b0), (a1, b1) = _tenths(kl["0.0"]["raw"]), _tenths(kl["1.0"]["raw"])
    return [
        _claim(
            "methods_figure: final-step KL grows over training for β = 0", b0 > a0, f"{a0:.3f} → {b0:.3f}"
        ),
        _claim(
            "methods_figure: final-step KL falls over training for β = 1", b1 < a1, f"{a1:.3f} → {b1:.3f}"
        ),
    ]


CHECKS = {"figure_main": figure_main, "constant_attack_figure": constant_attack, "methods_figure": methods}


def check(figures_dir) -> list[dict]:
    """Every claim of every figure in ``figures_dir``; ValueError naming a missing or unreadable file."""
    out = []
    for figure, fn in CHECKS.items():
        path = Path(figures_dir) / f"{figure}.json"
        try:
            numbers = files.read_json(path, what=f"{figure} numbers")["numbers"]
            out += fn(numbers)
        except (OSError, KeyError, TypeError, ValueError) as err:
            raise ValueError(f"cannot check {path}: {type(err).__name__}: {err}") from None
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    profiles = [a.removeprefix("-profile=") for a in argv if a.startswith("-profile=")]
    rest = [a for a in argv if not a.startswith("-profile=")]
    if (
        len(rest) > 1
        or len(profiles) > 1
        or any(a.startswith("-") for a in rest)
        or not set(profiles) <= set(PROFILES)
    ):
        print("usage: python -m robustness.claims [-profile=NAME | FIGURES_DIR]", file=sys.stderr)
        return 2
    figures_dir = Path(rest[0]) if rest else figure_dir(profiles[0] if profiles else "quick")
    try:
        claims = check(figures_dir)
    except ValueError as err:
        print(f"claims: error: {err}", file=sys.stderr)
        return 1
    for c in claims:
        print(f"{'holds' if c['holds'] else 'FAILS'}  {c['claim']}  ({c['detail']})")
    held = sum(c["holds"] for c in claims)
    print(f"{held} of {len(claims)} claims hold")
    files.write_json(figures_dir / "claims.json", {"claims": claims, "all_hold": held == len(claims)})
    return 0 if held == len(claims) else 1


if __name__ == "__main__":
    sys.exit(main())
