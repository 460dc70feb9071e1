"""``python -m robustness.compare``: the same numbers as the figures' cached evaluation (same draw keys, test
split and model function), Mann–Whitney p-values as SciPy computes them, clear errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.stats as sps

from robustness import artifacts, cached_evaluation, compare
from robustness.paths import REPO_ROOT

TINY = [
    "-n_hidden=16",
    "-max_steps=20",
    "-eval_step_interval=10",
    "-n_attack_steps=1",
    "-validation_limit=100",
]


@pytest.fixture(scope="module")
def two_models(mitdb_dir, tmp_path_factory):
    res = tmp_path_factory.mktemp("R")
    for sid, seed in ((1111111111, 0), (2222222222, 1)):
        argv = [sys.executable, "main_ecg_lsnn.py", *TINY, f"-seed={seed}", f"-session_id={sid}",
                f"-resources_dir={res}", f"-data_dir={mitdb_dir}"]  # fmt: skip
        proc = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return res


def test_compare_gives_the_figures_numbers_and_scipys_p_values(two_models, capsys):
    sids = [1111111111, 2222222222]
    # σ 3: the tiny models predict one class, and smaller σ rarely changes their accuracy
    out = compare.compare(sids, [0.0, 3.0], n_draws=6, test_limit=200, resources_dir=two_models)
    for sid in sids:
        element = {"architecture": "ecg_lsnn", "ecg_lsnn_session_id": sid}
        figure = cached_evaluation.mismatch_list(element, 3.0, 6, 200, resources_dir=two_models)
        assert np.allclose(out[3.0][sid], figure, atol=1 / 200 / 2)  # the figures round to correct/n
        clean = cached_evaluation.test_accuracy(element, 200, resources_dir=two_models)
        assert out[0.0][sid] == pytest.approx([clean])
    assert len(set(out[3.0][sids[0]])) > 1  # the draws differ
    assert compare.main(["-session_ids=1111111111,2222222222", f"-resources_dir={two_models}",
                         "-sigmas=3", "-n_draws=6", "-test_limit=200"]) == 0  # fmt: skip
    a, b = out[3.0][sids[0]], out[3.0][sids[1]]
    p = sps.mannwhitneyu(b, a, alternative="greater").pvalue
    diff = 100 * (np.mean(b) - np.mean(a))
    assert f"({diff:+.2f} pp, one-sided p {p:.2g})" in capsys.readouterr().out


def test_models_of_one_seed_share_their_draws_whatever_their_session_id(two_models):
    """Draws are keyed by the model's seed (paired comparisons, the same draws in every run): the same
    weights saved under another session id give the same accuracies draw for draw; another seed does not."""
    config, params, rng_key = artifacts.load_model(two_models, 1111111111)
    artifacts.save_model(two_models, 3333333333, config, params, rng_key)
    lists = {
        sid: cached_evaluation.mismatch_list(
            {"architecture": "ecg_lsnn", "ecg_lsnn_session_id": sid}, 3.0, 6, 200, resources_dir=two_models
        )
        for sid in (1111111111, 3333333333)
    }
    assert lists[1111111111] == lists[3333333333] and len(set(lists[1111111111])) > 1
    sids = (1111111111, 2222222222, 3333333333)
    streams = tuple(cached_evaluation.draw_stream(artifacts.load_model(two_models, s)[0]) for s in sids)
    assert streams == (0, 1, 0)


def test_without_sigmas_the_tasks_figure_main_levels_are_compared(two_models):
    out = compare.compare([1111111111], n_draws=2, test_limit=50, resources_dir=two_models)
    assert list(out) == [0.0, 0.2, 0.3, 0.5, 0.7, 0.9]  # the ECG row of figure_main (docs: README)


def test_models_of_different_tasks_are_refused(two_models, monkeypatch):
    real = artifacts.load_model

    class AsCnn:  # the ECG model's config, claiming to be a CNN model
        def __init__(self, config):
            self.config = config

        def __getattr__(self, name):
            return "cnn" if name == "architecture" else getattr(self.config, name)

    def load(res, sid):
        config, params, key = real(res, sid)
        return (AsCnn(config) if sid == 2222222222 else config), params, key

    monkeypatch.setattr(artifacts, "load_model", load)
    with pytest.raises(ValueError, match=r"different tasks \(\['cnn', 'ecg_lsnn'\]\)"):
        compare.compare([1111111111, 2222222222], n_draws=2, test_limit=50, resources_dir=two_models)


@pytest.mark.parametrize("argv, code, text", [
    (["-session_ids=1,x"], 2, "comma-separated session ids"),
    (["-session_ids=1", "-sigmas=0.5,nan"], 2, "finite"),
    (["-session_ids=1", "-n_draws=0"], 2, "-n_draws"),
    (["-session_ids=1234567890", "-resources_dir=/nonexistent"], 1, "1234567890_model.json"),
])  # fmt: skip
def test_bad_input_exits_with_a_clear_error(argv, code, text):
    proc = subprocess.run([sys.executable, "-m", "robustness.compare", *argv], cwd=REPO_ROOT,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode == code and text in proc.stderr and "Traceback" not in proc.stderr
