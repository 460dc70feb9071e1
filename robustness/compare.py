"""Compare trained models of one task under mismatch on the test split, outside any Experiment.

    python -m robustness.compare -session_ids=STANDARD,ROBUST[,...] [-resources_dir=DIR] \
        [-sigmas=0,0.5,0.7] [-n_draws=50] [-test_limit=0]

Prints, per σ, each model's mean test accuracy over ``n_draws`` draws θ(1+σN(0,1)) (σ = 0: the clean
accuracy), and for every model after the first its difference to the first and the one-sided Mann–Whitney p
("this model tends to be more accurate than the first"). Without ``-sigmas`` the σ list is the task's
figure_main list (``Task.mismatch_levels``: 0 first); the models must all be of one task. It uses the same
draw keys, test split and model functions as the figures (``robustness.cached_evaluation``). This is how
the README's full-protocol ECG comparison is computed.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from robustness import artifacts, cached_evaluation, evaluation, paths, stats
from robustness.tasks import get_task


def _floats(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if any(not np.isfinite(v) or v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"σ values must be finite and >= 0, got {text!r}")
    return values


def _ids(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated session ids, got {text!r}") from None


def compare(session_ids, sigmas=None, *, n_draws: int, test_limit: int, resources_dir) -> dict:
    """``{σ: {session id: [accuracy per draw]}}`` (one value at σ = 0); ``sigmas=None``: the task's
    figure_main levels. Models of different tasks raise ``ValueError``."""
    configs = {sid: artifacts.load_model(resources_dir, sid)[0] for sid in session_ids}
    architectures = sorted({c.architecture for c in configs.values()})
    if len(architectures) > 1:
        raise ValueError(f"the sessions {list(session_ids)} are models of different tasks ({architectures})")
    if sigmas is None:
        sigmas = get_task(architectures[0]).mismatch_levels
    models = {}
    for sid, config in configs.items():
        element = {"architecture": config.architecture, f"{config.architecture}_session_id": sid}
        models[sid] = cached_evaluation._prepare(element, test_limit, resources_dir)
    out: dict = {}
    for sigma in sigmas:
        out[sigma] = {}
        for sid, (task, params, x, y, s) in models.items():
            if sigma == 0:
                out[sigma][sid] = [float(evaluation.accuracy(task, params, x, y, cached_evaluation.BATCH))]
            else:
                key = cached_evaluation.eval_key(s, "mismatch", sigma)
                accs = evaluation.mismatch_accuracies(task, params, x, y, sigma, key=key, n_draws=n_draws)
                out[sigma][sid] = [float(a) for a in accs]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m robustness.compare", description=__doc__, allow_abbrev=False,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("-session_ids", type=_ids, required=True, help="the first one is the reference")
    p.add_argument("-resources_dir", default=str(paths.RESOURCES))
    p.add_argument("-sigmas", type=_floats, default=None, help="default: the task's figure_main σ list")
    p.add_argument("-n_draws", type=int, default=50)
    p.add_argument("-test_limit", type=int, default=0, help="first N test examples (0: all)")
    opts = p.parse_args(sys.argv[1:] if argv is None else argv)
    if opts.n_draws < 1 or opts.test_limit < 0:
        p.error("-n_draws must be >= 1 and -test_limit >= 0")
    try:
        result = compare(opts.session_ids, opts.sigmas, n_draws=opts.n_draws, test_limit=opts.test_limit,
                         resources_dir=opts.resources_dir)  # fmt: skip
    except (OSError, ValueError, KeyError) as err:
        print(f"robustness.compare: error: {err}", file=sys.stderr)
        return 1
    ref = opts.session_ids[0]
    for sigma, row in result.items():
        cells = [f"σ={sigma:g}"]
        for sid, values in row.items():
            cells.append(f"{sid}: {100 * np.mean(values):.2f} %")
            if sid != ref:
                diff = 100 * (np.mean(values) - np.mean(row[ref]))
                p_one = stats.mann_whitney(row[ref], values)["p_one_sided"] if sigma else float("nan")
                cells[-1] += f" ({diff:+.2f} pp, one-sided p {p_one:.2g})"
        print("  ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
