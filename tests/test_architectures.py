"""architectures.py: defaults from the one config source, canonical values (no cache aliasing), the
cachable train runner bound to a resources directory, its done-checker and loader, and load_models
(docs/original.md §4, "Experiment manager")."""

from __future__ import annotations

import json
import os

import pytest

import architectures as A
import datajuicer as dj
from robustness import artifacts, files
from robustness.paths import REPO_ROOT, Dirs
from robustness.configs import ConfigError, fields_of, to_flags
from robustness.tasks import TASKS, EcgConfig, SpeechConfig

NOT_DEPS = {
    "session_id",
    "session_ids",
    "vmap_seeds",
    "init_froms",
    "resources_dir",
    "data_dir",
    "data_url",
    "checkpoint_seconds",
}


def fake_trained(resources, sid, *, done=True, accuracies=(0.5,)):
    """The two files a finished training leaves behind (contents as robustness.training writes them)."""
    log = {"training_accuracy": list(accuracies), "training_loss": [1.0] * len(accuracies)}
    log["validation_accuracy"] = [0.25]
    if done:
        log["done"] = [True]
    artifacts.write_results(resources, sid, log)
    files.write_json(artifacts.model_path(resources, sid), {"params": {}, "rng_key": [0, 1], "theta": {}})


@pytest.mark.parametrize("name", ["speech_lsnn", "ecg_lsnn", "cnn"])
def test_defaults_are_the_config_defaults_minus_bookkeeping(name):
    arch = A.ARCHITECTURES[name]
    assert arch.__name__ == name and arch.config_cls is TASKS[name].config_cls
    assert (REPO_ROOT / arch.code_file).is_file()
    flags = to_flags(arch.config_cls())
    defaults = arch.default_hyperparameters()
    assert list(defaults) == [k for k in flags if k not in NOT_DEPS]  # config field order, nothing else
    assert defaults == {k: flags[k] for k in defaults}
    assert set(flags) - set(defaults) == NOT_DEPS & set(flags)
    # what changes the trained model or its results log is a dependency (quirk switches included)
    for key in (
        "seed",
        "max_steps",
        "eval_step_interval",
        "validation_limit",
        "log_interval",
        "lr_schedule_quirk",
    ):
        assert key in defaults
    element = arch.make()
    assert element == {**defaults, "architecture": name, "code_file": arch.code_file, "train": arch.train}
    assert arch.train.table_name == name and arch.train.version == A.VERSION
    assert arch.train.dependencies == [f"model:{k}" for k in defaults]


def test_report_defaults_reach_the_grid():
    speech, ecg, cnn = (
        A.ARCHITECTURES[n].default_hyperparameters() for n in ("speech_lsnn", "ecg_lsnn", "cnn")
    )
    assert (speech["n_epochs"], ecg["n_epochs"], cnn["n_epochs"]) == ("64,16", "32,8", "32,8")
    assert speech["learning_rate"] == "0.001,0.0001" and speech["beta_robustness"] == 1.0
    assert (speech["eval_step_interval"], ecg["eval_step_interval"], cnn["eval_step_interval"]) == (
        200,
        400,
        1000,
    )
    assert (speech["n_hidden"], ecg["n_hidden"], cnn["attack_size_mismatch"]) == (256, 256, 1.0)
    assert "n_hidden" not in cnn and "wanted_words" not in ecg


def test_normalize_gives_one_spelling_per_value():
    base = A.ecg_lsnn.make()
    spellings = [
        {"n_epochs": (32, 8), "beta_robustness": 1, "learning_rate": [1e-3, 1e-4], "seed": 2.0},
        {"n_epochs": "32, 8", "beta_robustness": "1.0", "learning_rate": "1e-3,1e-4", "seed": "2"},
        {"n_epochs": "32,8", "beta_robustness": 1.0, "learning_rate": "0.001,0.0001", "seed": 2},
    ]
    out = [A.normalize({**base, **s, "method": "label"}) for s in spellings]
    assert out[0] == out[1] == out[2]
    assert (out[0]["n_epochs"], out[0]["beta_robustness"], out[0]["learning_rate"]) == (
        "32,8",
        1.0,
        "0.001,0.0001",
    )
    assert type(out[0]["seed"]) is int and out[0]["method"] == "label"  # labels are kept untouched
    partial = A.normalize({"architecture": "cnn", "seed": 3})  # missing hyperparameters get the defaults
    assert partial == {**A.cnn.make(), "seed": 3}
    with pytest.raises(ConfigError, match="bad value 'x' for -n_hidden"):
        A.normalize({**base, "n_hidden": "x"})
    with pytest.raises(ValueError, match="grid element sets -session_id"):
        A.normalize({**base, "session_id": 5})
    with pytest.raises(ValueError, match="architecture 'lstm'"):
        A.normalize({"architecture": "lstm"})


def test_runner_records_pending_models_and_spellings_share_one_session(tmp_path):
    grid = [A.normalize({**A.ecg_lsnn.make(), "n_epochs": e}) for e in [(1, 1), "1,1", "2,2"]]
    pending = []
    first = dj.run(A.bind(grid, tmp_path, pending.append), "train", cache_dir=tmp_path / "S")("{*}")
    assert first.outcomes == ["computed", "recomputed", "computed"]  # 2nd: same key, checker says not done
    assert first.session_ids[0] == first.session_ids[1] != first.session_ids[2]
    assert [p["session_id"] for p in pending] == first.session_ids
    assert pending[0]["model"]["n_epochs"] == "1,1" and pending[1]["previous_status"] == "done"
    fake_trained(tmp_path, first.session_ids[0])
    pending = []
    again = dj.run(A.bind(grid, tmp_path, pending.append), "train", cache_dir=tmp_path / "S")("{*}")
    assert again.outcomes == ["loaded", "loaded", "recomputed"] and again.session_ids == first.session_ids
    assert [p["session_id"] for p in pending] == [first.session_ids[2]]
    with pytest.raises(RuntimeError, match="train them with `python train.py`"):
        dj.run(grid[2:], "train", cache_dir=tmp_path / "S")("{*}")  # the grid's own runner records nothing


def test_checker_needs_a_finished_log_and_a_parsable_model(tmp_path):
    sid = 1234567890
    check = A.runner(A.ecg_lsnn, tmp_path).checker  # the resources directory is bound, not global
    assert check(sid, "ecg_lsnn", "unused") is False  # nothing there
    fake_trained(tmp_path, sid, done=False)
    assert check(sid, "ecg_lsnn", "unused") is False  # killed mid-training: no "done"
    fake_trained(tmp_path, sid, accuracies=())
    assert check(sid, "ecg_lsnn", "unused") is False  # done but nothing logged
    fake_trained(tmp_path, sid)
    assert check(sid, "ecg_lsnn", "unused") is True
    assert A.runner(A.ecg_lsnn, tmp_path / "elsewhere").checker(sid, "ecg_lsnn", "unused") is False
    artifacts.model_path(tmp_path, sid).write_text('{"params": ')  # truncated model file
    assert check(sid, "ecg_lsnn", "unused") is False
    os.remove(artifacts.model_path(tmp_path, sid))
    assert check(sid, "ecg_lsnn", "unused") is False


def original_log(resources, sid, n, key="training_accuracies"):
    """A results log as the original code wrote it (architectures.log: no "done", none of our keys)."""
    log = {key: [0.5] * n, "attacked_training_accuracies": [0.25] * n, "kl_over_time": [[0.0] * 11] * n}
    artifacts.write_results(resources, sid, {**log, "validation_accuracy": [0.5]})
    files.write_json(artifacts.model_path(resources, sid), {"params": {}, "rng_key": [0, 1], "theta": {}})


@pytest.mark.parametrize(
    ("arch", "too_few", "enough"), [("speech_lsnn", None, 0), ("ecg_lsnn", 50, 51), ("cnn", 49, 50)]
)
def test_original_format_logs_pass_the_original_checkers(tmp_path, arch, too_few, enough):
    # the original's checkers: speech any training accuracy, ECG more than 50 entries, CNN at least 50
    sid = 1357913579
    check = A.runner(A.ARCHITECTURES[arch], tmp_path).checker
    if too_few is not None:
        original_log(tmp_path, sid, too_few)
        assert check(sid, arch, "unused") is False
    original_log(tmp_path, sid, enough)
    assert check(sid, arch, "unused") is True
    original_log(tmp_path, sid, enough, key="training_accuracy")  # either spelling, as the original
    assert check(sid, arch, "unused") is True
    assert artifacts.results_complete(tmp_path, sid) is False  # no architecture: no original rule
    os.remove(artifacts.model_path(tmp_path, sid))  # the original's loader needed the model too
    assert check(sid, arch, "unused") is False
    # our own runs keep the stricter rule: 100 logged entries, killed before "done", are not accepted
    fake_trained(tmp_path, sid, done=False, accuracies=[0.5] * 100)
    assert check(sid, arch, "unused") is False


def test_loader_returns_the_log_and_the_session_ids_but_no_weights(tmp_path):
    fake_trained(tmp_path, 42)
    loaded = A.runner(A.cnn, tmp_path).loader(42, "cnn", "unused")
    assert loaded == {
        "training_accuracy": [0.5],
        "training_loss": [1.0],
        "validation_accuracy": [0.25],
        "done": [True],
        "session_id": 42,
        "cnn_session_id": 42,
    }


def test_load_models_merges_results_or_says_how_to_train(tmp_path):
    grid = dj.split([{**A.ecg_lsnn.make(), "max_steps": 10, "method": "standard"}], "seed", [0, 1])
    pending, dirs = [], Dirs(resources_dir=tmp_path, cache_dir=tmp_path / "S")
    models = A.bind([A.model_of(A.normalize(e)) for e in grid], tmp_path, pending.append)
    dj.run(models, "train", cache_dir=tmp_path / "S")("{*}")
    sids = [p["session_id"] for p in pending]
    fake_trained(tmp_path, sids[0])
    with pytest.raises(A.MissingModelsError) as err:
        A.load_models(grid, experiment="tiny", profile="smoke", dirs=dirs)
    message = str(err.value)
    assert "1 of 2 models are not trained" in message
    assert "  ecg_lsnn seed=1 max_steps=10\n" in message and "seed=0" not in message
    expected = (
        f"python train.py -exp tiny -profile=smoke -cache_dir={tmp_path / 'S'} -resources_dir={tmp_path}"
    )
    assert message.endswith(f"train them with: {expected}")
    fake_trained(tmp_path, sids[1], accuracies=(0.5, 0.75))
    loaded = A.load_models(grid, dirs=dirs)
    assert [m["ecg_lsnn_session_id"] for m in loaded] == [m["session_id"] for m in loaded] == sids
    assert [m["training_accuracy"] for m in loaded] == [[0.5], [0.5, 0.75]]
    assert [m["method"] for m in loaded] == ["standard", "standard"] and "theta" not in loaded[0]
    db = json.dumps(dj.database.list_sessions(str(tmp_path / "S" / "sessions.db"), "ecg_lsnn"), default=str)
    assert db.count('"status": "done"') == 2  # load_models wrote nothing


def test_command_flags_follow_the_original_order_and_data_dir_rules(monkeypatch):
    models = [A.normalize({**A.speech_lsnn.make(), "seed": s}) for s in (4, 5)]
    monkeypatch.setenv("SCRATCH", "/scratch/me")
    single = A.command_flags(models[:1], [111], "bsub")
    keys = list(single)
    assert keys == [*A.speech_lsnn.default_hyperparameters(), "data_dir", "session_id"]
    assert (single["data_dir"], single["session_id"], single["seed"]) == ("$SCRATCH/speech_dataset", 111, 4)
    assert A.command_flags(models[:1], [111], "direct").keys() == single.keys() - {"data_dir"}
    monkeypatch.delenv("SCRATCH")
    monkeypatch.setenv("MITDB_DIR", "/data/mitdb")
    ecg = A.normalize(A.ecg_lsnn.make())
    assert A.command_flags([ecg], [1], "sbatch", "/res")["data_dir"] == "/data/mitdb"
    assert A.command_flags([ecg], [1], "sbatch", "/res")["resources_dir"] == "/res"
    own = {**ecg, "data_dir": "$HOME/x", "checkpoint_seconds": 0.0}
    flags = A.command_flags([own], [1], "direct")
    assert (flags["data_dir"], flags["checkpoint_seconds"]) == ("$HOME/x", 0.0)  # expanded by launch
    group = A.command_flags(models, [111, 222], "direct")
    assert "seed" not in group and (group["vmap_seeds"], group["session_ids"]) == ("4,5", "111,222")
    assert list(group)[-2:] == ["vmap_seeds", "session_ids"]
    assert fields_of(SpeechConfig).keys() >= group.keys() and fields_of(EcgConfig).keys() >= flags.keys()
