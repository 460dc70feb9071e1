"""The shared training loop: determinism, vmapped seeds, resume after SIGKILL, divergence, artefacts."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from robustness import artifacts
from robustness.data import load_dataset
from robustness.evaluation import accuracy
from robustness.tasks import CnnConfig, EcgConfig, SpeechConfig, make_task
from robustness.training import STREAM_VAL, fit

REPO = Path(__file__).resolve().parent.parent
# A tiny but real ECG LSNN: real MIT-BIH beats, robust loss with a 2-step attack.
TINY = dict(n_hidden=16, max_steps=30, eval_step_interval=15, n_attack_steps=2, validation_limit=100)


def tiny(tmp_path, **kw) -> EcgConfig:
    return EcgConfig(resources_dir=str(tmp_path), **{**TINY, **kw})


def params_of(tmp_path, sid):
    return artifacts.load_model(tmp_path, sid)[1]


def test_same_seed_identical_different_seed_different(tmp_path, mitdb_dir):
    fit(tiny(tmp_path / "a", session_id=1111111111, seed=3))
    fit(tiny(tmp_path / "b", session_id=2222222222, seed=3))
    fit(tiny(tmp_path / "c", session_id=3333333333, seed=4))
    a, b, c = (
        params_of(tmp_path / d, s) for d, s in [("a", 1111111111), ("b", 2222222222), ("c", 3333333333)]
    )
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])  # bit-identical
    assert not np.allclose(a["W_rec"], c["W_rec"])
    log_a = json.loads(artifacts.results_path(tmp_path / "a", 1111111111).read_text())
    log_b = json.loads(artifacts.results_path(tmp_path / "b", 2222222222).read_text())
    assert log_a == log_b


def test_vmapped_seeds_match_single_seed_runs(tmp_path, mitdb_dir):
    seeds, sids = (0, 1, 2), (4000000001, 4000000002, 4000000003)
    fit(tiny(tmp_path / "v", vmap_seeds=seeds, session_ids=sids))
    for seed, sid in zip(seeds, sids):
        fit(tiny(tmp_path / "s", seed=seed, session_id=sid))
        vm, single = params_of(tmp_path / "v", sid), params_of(tmp_path / "s", sid)
        for name in vm:
            # float-level differences of the batched matmuls, amplified by spike thresholds and Adam's
            # normalised steps: bounded by one Adam step (lr 1e-3) and tiny in the median
            diff = np.abs(vm[name] - single[name])
            assert diff.max() <= 1e-3 and np.median(diff) <= 1e-6, (name, diff.max(), np.median(diff))
        flags_v = json.loads(artifacts.model_path(tmp_path / "v", sid).read_text())["params"]
        flags_s = json.loads(artifacts.model_path(tmp_path / "s", sid).read_text())["params"]
        # identical format: the vmapped model file records its own seed and session id
        assert flags_v == {**flags_s, "resources_dir": flags_v["resources_dir"]}
        assert flags_v["seed"] == seed and flags_v["vmap_seeds"] == ""
    w0, w1 = params_of(tmp_path / "v", sids[0]), params_of(tmp_path / "v", sids[1])
    assert not np.allclose(w0["W_in"], w1["W_in"])  # each seed its own init


def test_artefacts_hold_documented_keys(tmp_path, mitdb_dir):
    sid = 5555555555
    fit(tiny(tmp_path, session_id=sid, beta_robustness=0.0))
    model = json.loads(artifacts.model_path(tmp_path, sid).read_text())
    assert set(model) == {"params", "rng_key", "theta"}
    assert set(model["theta"]) == {"W_in", "W_rec", "W_out", "b_out"}
    assert np.asarray(model["theta"]["W_in"]).shape == (2, 16)
    assert np.all(np.diag(np.asarray(model["theta"]["W_rec"])) == 0.0)  # diagonal held at exactly 0
    assert len(model["rng_key"]) == 2 and model["params"]["beta_robustness"] == 0.0
    assert model["params"]["spectrogram_length"] == 100 and model["params"]["session_id"] == sid
    log = json.loads(artifacts.results_path(tmp_path, sid).read_text())
    n_logs = TINY["max_steps"] // 10
    for key in ("training_accuracy", "training_accuracies", "attacked_training_accuracy", "kl_over_time"):
        assert len(log[key]) == n_logs, key
    assert log["training_accuracy"] == log["training_accuracies"]
    assert all(
        len(kl) == TINY["n_attack_steps"] + 1 for kl in log["kl_over_time"]
    )  # N+1 values, also for β=0
    assert log["validation_step"] == [15, 30] and len(log["validation_kl_over_time"]) == 2
    assert log["attacked_validation_accuracy"] == log["attacked_validation_accuracies"]
    assert log["done"] == [True] and log["best_validation_accuracy"] == [max(log["validation_accuracy"])]
    assert not artifacts.checkpoint_path(tmp_path, sid).exists()
    assert artifacts.results_complete(tmp_path, sid)
    # a second call with the same session id is a no-op
    assert fit(tiny(tmp_path, session_id=sid, beta_robustness=0.0))[0]["status"] == "already done"


def _script(name, *flags, **popen):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, str(REPO / name), *flags], env=env, cwd=REPO, **popen)


def test_resume_after_sigkill_equals_uninterrupted_run(tmp_path, mitdb_dir):
    flags = [f"-{k}={v}" for k, v in {**TINY, "max_steps": 60, "checkpoint_seconds": 0}.items()]
    ref = _script("main_ecg_lsnn.py", *flags, f"-resources_dir={tmp_path / 'ref'}", "-session_id=6666666666")
    killed_dir = tmp_path / "killed"
    proc = _script(
        "main_ecg_lsnn.py",
        *flags,
        f"-resources_dir={killed_dir}",
        "-session_id=7777777777",
        stdout=subprocess.PIPE,
        text=True,
    )
    # kill -9 as soon as the run has checkpointed past iteration 20 (mid-way, between logs)
    deadline = time.time() + 240
    ckpt = artifacts.checkpoint_path(killed_dir, 7777777777)
    while time.time() < deadline:
        if ckpt.exists() and artifacts.load_checkpoint(killed_dir, 7777777777)[1]["step"] >= 20:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    step_at_kill = artifacts.load_checkpoint(killed_dir, 7777777777)[1]["step"]
    assert 20 <= step_at_kill < 60
    resumed = _script(
        "main_ecg_lsnn.py",
        *flags,
        f"-resources_dir={killed_dir}",
        "-session_id=7777777777",
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0 and f"resuming sessions [7777777777] from iteration {step_at_kill}" in out
    assert ref.wait(timeout=300) == 0
    ref_log = json.loads(artifacts.results_path(tmp_path / "ref", 6666666666).read_text())
    new_log = json.loads(artifacts.results_path(killed_dir, 7777777777).read_text())
    assert new_log == ref_log  # no lost or duplicated entries, same values
    a, b = params_of(tmp_path / "ref", 6666666666), params_of(killed_dir, 7777777777)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


def test_nan_loss_stops_with_clear_error(tmp_path, mitdb_dir):
    proc = _script(
        "main_ecg_lsnn.py",
        *[f"-{k}={v}" for k, v in TINY.items()],
        "-learning_rate=3e38,3e38",  # finite (nan is refused as a flag value); overflows at once
        f"-resources_dir={tmp_path}",
        "-session_id=8888888888",
        stderr=subprocess.PIPE,
        text=True,
    )
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 3
    assert "loss became" in err and "nan" in err.lower()
    assert not artifacts.model_path(tmp_path, 8888888888).exists()
    assert not any(p.name.endswith(".tmp") for p in tmp_path.rglob("*"))


@pytest.mark.parametrize("script", ["main_speech_lsnn.py", "main_ecg_lsnn.py", "main_CNN_jax.py"])
def test_cli_help_unknown_and_bad_values(script):
    out = subprocess.run([sys.executable, script, "--help"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0 and "-beta_robustness=1.0" in out.stdout and "-n_attack_steps=10" in out.stdout
    bad = subprocess.run([sys.executable, script, "-not_a_flag=1"], cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 2 and "-not_a_flag" in bad.stderr
    bad = subprocess.run(
        [sys.executable, script, "-boundary_loss=xx"], cwd=REPO, capture_output=True, text=True
    )
    assert bad.returncode == 2 and "kl, reverse_kl, l2, js" in bad.stderr


def test_missing_data_is_a_clear_error(tmp_path):
    env = {**os.environ, "MITDB_DIR": str(tmp_path / "nowhere")}
    proc = subprocess.run(
        [sys.executable, "main_ecg_lsnn.py", "-max_steps=1", f"-resources_dir={tmp_path}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 1 and "nowhere" in proc.stderr and "Traceback" not in proc.stderr


def test_checkpoint_of_another_seed_group_is_discarded(tmp_path, mitdb_dir, capsys):
    sid = 1313131313
    artifacts.save_checkpoint(
        tmp_path,
        sid,
        arrays={},
        meta={"step": 5, "seeds": [0, 1], "sids": [sid, 1414141414], "best": [0, 0], "logs": [{}, {}]},
    )
    fit(tiny(tmp_path, session_id=sid, max_steps=10))
    assert "ignoring checkpoint" in capsys.readouterr().err
    assert artifacts.results_complete(tmp_path, sid)


def test_saved_model_line_names_path_and_session_id(tmp_path, mitdb_dir, capsys):
    # the original README: look for "Saved model under XXXXXXXXXX_model.json" to find the session id
    sid = 6666666666
    fit(tiny(tmp_path, session_id=sid, eval_step_interval=5, beta_robustness=0.0))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Saved model under ")]
    path = artifacts.model_path(tmp_path, sid)
    assert all(line.startswith(f"Saved model under {path} (session id {sid}, ") for line in lines)
    accs = json.loads(artifacts.results_path(tmp_path, sid).read_text())["validation_accuracy"]
    new_best = [a for i, a in enumerate(accs) if a > max(accs[:i], default=-1.0)]
    assert len(accs) == 6 and len(lines) == len(new_best) + 1  # one per new best, one at the end
    assert [line.split("validation accuracy ")[1][:6] for line in lines[:-1]] == [
        f"{a:.4f}" for a in new_best
    ]
    assert lines[-1].endswith(f"best validation accuracy {max(accs):.4f}, training done)")


def test_validation_uses_the_original_batch_sizes(tmp_path, fashion_dir):
    # the report validated speech in batches of 100 and ECG and the CNN in batches of 200
    assert [c().validation_batch_size for c in (SpeechConfig, EcgConfig, CnnConfig)] == [100, 200, 200]
    sid = 7777777777
    config = CnnConfig(
        resources_dir=str(tmp_path), session_id=sid, beta_robustness=0.0, n_attack_steps=1, batch_size=50,
        max_steps=4, eval_step_interval=4, validation_limit=300,
    )  # fmt: skip
    fit(config, progress=False)
    [logged] = json.loads(artifacts.results_path(tmp_path, sid).read_text())["validation_accuracy"]
    saved, params, _ = artifacts.load_model(tmp_path, sid)
    x, y = load_dataset(saved).split("validation")
    model = make_task(saved)
    # the CNN standardises each batch with its own statistics: the batch size changes the accuracy
    by_size = {bs: accuracy(model, params, x[:300], y[:300], batch_size=bs) for bs in (100, 200, 300)}
    assert logged == by_size[200] and len(set(by_size.values())) > 1, by_size
    fit(dataclasses.replace(config, resources_dir=str(tmp_path / "b"), validation_batch_size=300))
    log = json.loads(artifacts.results_path(tmp_path / "b", sid).read_text())
    assert log["validation_accuracy"] == [by_size[300]]  # -validation_batch_size: same training, one batch


def test_final_validation_switch_gives_the_reports_rule(tmp_path, mitdb_dir):
    # deviation 13: by default one more validation after the last iteration; -final_validation=False (the
    # report) validates only every eval_step_interval, so the kept model is the best of those
    config = tiny(tmp_path, session_id=5151515151, max_steps=25, eval_step_interval=10, beta_robustness=0.0)
    fit(config, progress=False)
    ours = json.loads(artifacts.results_path(tmp_path, 5151515151).read_text())
    report = dataclasses.replace(config, resources_dir=str(tmp_path / "r"), final_validation=False)
    fit(report, progress=False)
    log = json.loads(artifacts.results_path(tmp_path / "r", 5151515151).read_text())
    assert ours["validation_step"] == [10, 20, 25] and log["validation_step"] == [10, 20]
    assert log["validation_accuracy"] == ours["validation_accuracy"][:2]  # the same training otherwise
    assert log["training_accuracy"] == ours["training_accuracy"] and len(log["training_accuracy"]) == 2
    saved, params, _ = artifacts.load_model(tmp_path / "r", 5151515151)
    x, y = load_dataset(saved).split("validation")
    again = accuracy(make_task(saved), params, x[:100], y[:100], batch_size=200)
    assert again == max(log["validation_accuracy"]) == log["best_validation_accuracy"][0]
    short = dataclasses.replace(report, resources_dir=str(tmp_path / "s"), max_steps=8)
    with pytest.raises(
        ValueError, match=r"-final_validation=False: no validation falls in iterations 1\.\.8"
    ):
        fit(short, progress=False)  # no validation at all: nothing would be saved
    assert not artifacts.model_path(tmp_path / "s", 5151515151).exists()


def test_pretrain_steps_train_standard_first_then_robust(tmp_path, mitdb_dir):
    # warm start: with -pretrain_steps=P the first P iterations are standard training (β = 0), then β applies
    runs = {"std": (0.0, 0), "all": (1.0, 30), "half": (1.0, 15), "rob": (1.0, 0)}
    logs = {}
    for i, (name, (beta, pre)) in enumerate(runs.items()):
        sid = 4444444440 + i
        fit(tiny(tmp_path / name, session_id=sid, beta_robustness=beta, pretrain_steps=pre, log_interval=10))
        logs[name] = json.loads(artifacts.results_path(tmp_path / name, sid).read_text())["training_loss"]
    # P >= max_steps: the robust model is the standard one (same losses at iterations 10, 20, 30)
    np.testing.assert_allclose(logs["all"], logs["std"], rtol=1e-6)
    # P = 15: iteration 10 is a standard step, iterations 20 and 30 robust ones (their loss adds β·KL > 0)
    np.testing.assert_allclose(logs["half"][0], logs["std"][0], rtol=1e-6)
    assert logs["half"][0] != pytest.approx(logs["rob"][0], rel=1e-6)
    assert logs["half"][1] != pytest.approx(logs["std"][1], rel=1e-4)


def test_init_from_continues_the_parent_with_one_fresh_adam_step(tmp_path, mitdb_dir):
    # -init_from=P: θ starts at P's saved θ, the optimiser afresh, iterations numbered on from P's last one.
    # Reference: one Adam step from a fresh state is θ − lr·g/(|g| + ε) (bias-corrected m̂ = g, v̂ = g²),
    # g = ∇(CE + rate_reg) at P's θ on training batch number 10 (P trained iterations 0..9), W_rec diagonal 0.
    import jax
    import jax.numpy as jnp

    from robustness import losses

    parent, child = 5555555550, 5555555551
    fit(tiny(tmp_path, session_id=parent, beta_robustness=0.0, max_steps=10, eval_step_interval=10))
    fit(tiny(tmp_path, session_id=child, beta_robustness=0.0, max_steps=11, init_from=parent))
    config, theta_p, _ = artifacts.load_model(tmp_path, parent)
    saved, theta_c, _ = artifacts.load_model(tmp_path, child)
    assert saved.init_from == parent
    data = load_dataset(config)
    x, y = data.train_batch(config.seed, 10, config.batch_size)
    model = make_task(config, n_in=x.shape[-1])

    def loss(p):
        logits, spikes = model.forward(p, jnp.asarray(x))
        return losses.cross_entropy(logits, jnp.asarray(y)) + losses.firing_rate_regulariser(
            spikes, config.reg
        )

    grads = jax.grad(loss)({k: jnp.asarray(v) for k, v in theta_p.items()})
    lr = config.learning_rate[0]
    for name, value in theta_p.items():
        g = np.asarray(grads[name], np.float64)
        if name == "W_rec":
            np.fill_diagonal(g, 0.0)
        expected = value - lr * g / (np.abs(g) + 1e-8)
        np.testing.assert_allclose(theta_c[name], expected, atol=2e-6)
    log = json.loads(artifacts.results_path(tmp_path, child).read_text())
    assert log["validation_step"] == [11]  # one iteration, number 11


def test_init_from_refuses_a_parent_that_does_not_fit(tmp_path, mitdb_dir):
    parent = 5555555560
    fit(tiny(tmp_path, session_id=parent, beta_robustness=0.0, max_steps=10, eval_step_interval=10))
    cases = {
        "no model file": dict(init_from=1234567890),
        r"do not fit this network \(W_in: \(2, 16\) in the file, \(2, 8\) here": dict(
            init_from=parent, n_hidden=8
        ),
        "already trained 10 iterations": dict(init_from=parent, max_steps=10),
    }
    for message, kw in cases.items():
        with pytest.raises((ValueError, FileNotFoundError), match=message):
            fit(tiny(tmp_path, session_id=5555555561, beta_robustness=0.0, **kw))
    with pytest.raises(ValueError, match="holds a ecg_lsnn model, this run trains cnn"):
        fit(CnnConfig(resources_dir=str(tmp_path), session_id=5555555562, init_from=parent, max_steps=20))


def test_model_selection_mismatch_keeps_the_checkpoint_with_the_best_mismatch_score(tmp_path, mitdb_dir):
    # -model_selection=mismatch: every 2 × eval_step_interval (and at the end) the mean validation accuracy
    # of model_selection_draws draws θ(1+σN) is logged (mm_val_robustness) and the best one is saved.
    # Reference: an independent re-evaluation of the saved model under the same draws gives its score.
    from robustness.mismatch import perturb

    sid = 5555555570
    kw = dict(beta_robustness=0.0, max_steps=40, eval_step_interval=10, model_selection="mismatch")
    fit(tiny(tmp_path, session_id=sid, model_selection_draws=4, **kw))
    log = json.loads(artifacts.results_path(tmp_path, sid).read_text())
    assert log["validation_step"] == [10, 20, 30, 40] and len(log["mm_val_robustness"]) == 2  # at 20 and 40
    scores = [float(np.mean(a)) for a in log["mm_val_robustness"]]
    assert log["best_validation_accuracy"] == [pytest.approx(max(scores))]
    config, params, _ = artifacts.load_model(tmp_path, sid)
    x, y = load_dataset(config).split("validation")
    x, y = x[:100], y[:100]
    model = make_task(config, n_in=x.shape[-1])
    import jax

    best = int(np.argmax(scores))
    step = (2 * best + 2) * 10 - 1  # the iteration index of that evaluation
    root = jax.random.fold_in(jax.random.PRNGKey(0), STREAM_VAL)
    key = jax.random.fold_in(jax.random.fold_in(root, step), 1)
    keys = jax.random.split(key, 4)
    accs = [accuracy(model, perturb(params, 0.3, key=k), x, y, batch_size=200) for k in keys]
    np.testing.assert_allclose(accs, log["mm_val_robustness"][best], atol=1e-6)
