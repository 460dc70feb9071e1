"""Reliability guarantees (README "Reliability"): what a hostile or careless user gets. Each test fails on the
code before its fix: shell injection through dry-run scripts, concurrent train.py processes, out-of-range and
non-finite flag values, diverged runs, a corrupt sessions database, unwritable folders, garbage ECG
annotations, stale temporary files and file modes."""

from __future__ import annotations

import dataclasses
import os
import random
import shlex
import subprocess
import sys
import typing

import numpy as np
import pytest

import train
from ECG.records import check_annotations, read_record
from robustness.datasets import DataError
from robustness.configs import TrainConfig, parse_cli, parse_value, to_flags
from robustness.launch import script_comment
from robustness.paths import REPO_ROOT
from robustness.tasks import TASKS, EcgConfig, LsnnConfig, SpeechConfig

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "experiments"


# ------------------------------------------------------------------ 1. no shell injection via -dry_run
@pytest.mark.parametrize(
    "args, flag",
    [
        (["-mode=bsub", "-wanted_words=yes\ntouch pwned\n#"], "-wanted_words"),
        (["-mode=sbatch", "-log_dir=logs\ntouch pwned"], "-log_dir"),
        (["-mode=bsub", "-Kernels=[[8,1,5,5]]\r\n$(touch pwned)"], "-Kernels"),
        (["-mode=sbatch", "-queue=q\x1b[2J"], "-queue"),
    ],
)
def test_control_characters_in_train_py_flags_exit_2(args, flag, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        train.main(
            [f"-exp_dir={FIXTURES}", "-exp", "golden_speech", "-dry_run", f"-cache_dir={tmp_path}", *args]
        )
    out, err = capsys.readouterr()
    assert exc.value.code == 2 and flag in err and "control characters" in err
    assert out == ""  # nothing of a script was printed


def test_control_characters_in_script_flags_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        parse_cli(SpeechConfig, ["-wanted_words=yes\n$(touch pwned)"], prog="main_speech_lsnn.py")
    assert exc.value.code == 2 and "-wanted_words" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_cli(SpeechConfig, ["-a\nb=1"])
    assert "bad flag name 'a\\nb'" in capsys.readouterr().err


def test_script_comment_is_one_line():
    assert script_comment("x=a\nb\r$(c)\x00") == "# x=a\\nb\\r$(c)\\x00"


@pytest.mark.parametrize("mode", ["bsub", "sbatch"])
def test_dry_run_script_with_odd_values_is_inert_and_exact(mode, tmp_path, capsys):
    """Spaces, quotes, ``$(...)``, backticks and ``;`` in values: the printed script passes ``bash -n``,
    running it (with a recording stand-in for the scheduler) creates no file, and the scheduler receives
    exactly the values given."""
    words = "yes;$(touch pwned1) 'a' \"b\" `touch pwned2` & touch pwned3"
    log_dir = str(tmp_path / "log dir $(touch pwned4); 'q'")
    rc = train.main(
        [f"-exp_dir={FIXTURES}", "-exp", "golden_speech", f"-mode={mode}", "-dry_run"]
        + [f"-cache_dir={tmp_path / 'S'}", f"-log_dir={log_dir}", f"-wanted_words={words}"]
    )
    script = capsys.readouterr().out
    assert rc == 0 and f"wanted_words={shlex.quote(words)}" in script
    script_file = tmp_path / "s.sh"
    script_file.write_text(script)
    assert subprocess.run(["bash", "-n", str(script_file)], check=False).returncode == 0
    bin_dir, run_dir = tmp_path / "bin", tmp_path / "run"
    bin_dir.mkdir()
    run_dir.mkdir()
    fake = bin_dir / mode
    fake.write_text("#!/bin/sh\nprintf '%s\\0' \"$@\"\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin"}
    proc = subprocess.run(["bash", str(script_file)], cwd=run_dir, env=env, capture_output=True, check=True)
    assert list(run_dir.iterdir()) == []
    assert not list(tmp_path.glob("**/pwned*"))
    argv = proc.stdout.decode().split("\0")[:-1]
    python = shlex.split(argv[-1])  # the command the job's shell runs
    assert python[1] == "main_speech_lsnn.py" or python[1].endswith("/main_speech_lsnn.py")
    assert f"-wanted_words={words}" in python
    log = argv[argv.index("-o") + 1] if mode == "bsub" else next(a for a in argv if a.startswith("--output="))
    assert log.removeprefix("--output=").startswith(log_dir + "/")


# ------------------------------------------------------------------ 3. ranges, non-finite values, repeats
def _numeric(typ) -> bool:
    if typing.get_origin(typ) is tuple:
        typ = typing.get_args(typ)[0]
    return typ in (int, float)


CONFIG_CLASSES = [TrainConfig, LsnnConfig, *(t.config_cls for t in TASKS.values())]


@pytest.mark.parametrize("cls", CONFIG_CLASSES, ids=lambda c: c.__name__)
def test_every_numeric_field_declares_a_range_that_holds_its_default(cls):
    hints = typing.get_type_hints(cls)
    numeric = [f for f in dataclasses.fields(cls) if _numeric(hints[f.name])]
    assert len(numeric) >= 20
    missing = [f.name for f in numeric if not f.metadata.get("range")]
    assert missing == []
    defaults = to_flags(cls())
    for f in numeric:  # the default itself passes the check
        assert parse_value(cls, f.name, defaults[f.name]) == getattr(cls(), f.name)


BAD_VALUES = [
    ("n_hidden", "0", ">= 1"),
    ("eval_step_interval", "0", ">= 1"),
    ("log_interval", "0", ">= 1"),
    ("max_steps", "-5", ">= 0"),
    ("batch_size", "0", ">= 1"),
    ("n_epochs", "0,0", "at least one value must be > 0"),
    ("n_epochs", "2,-1", "each value must be >= 0"),
    ("learning_rate", "0.001,inf", "each value must be > 0.0 (finite)"),
    ("thr", "nan", "> 0.0 (finite)"),
    ("beta_robustness", "inf", ">= 0.0 (finite)"),
    ("dropout_prob", "1.0", ">= 0.0 and < 1.0"),
    ("session_id", "99999999999", "<= 9999999999"),
]


@pytest.mark.parametrize("name, value, why", BAD_VALUES)
def test_out_of_range_values_exit_2_naming_flag_and_range(name, value, why, capsys):
    with pytest.raises(SystemExit) as exc:
        parse_cli(EcgConfig, [f"-{name}={value}"], prog="main_ecg_lsnn.py")
    err = capsys.readouterr().err
    assert exc.value.code == 2 and f"for -{name}" in err and why in err


@pytest.mark.parametrize("name, value, why", BAD_VALUES[:8])
def test_train_py_refuses_out_of_range_overrides(name, value, why, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        train.main(
            [
                f"-exp_dir={FIXTURES}",
                "-exp",
                "tiny_ecg",
                "-dry_run",
                f"-cache_dir={tmp_path}",
                f"-{name}={value}",
            ]
        )
    out, err = capsys.readouterr()
    assert exc.value.code == 2 and f"-{name}" in err and why in err and out == ""
    assert not (tmp_path / "sessions.db").exists()  # refused before any session id is reserved


def test_a_flag_given_twice_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        parse_cli(EcgConfig, ["-seed=1", "-max_steps=3", "--seed=2"])
    assert exc.value.code == 2 and "-seed is given twice" in capsys.readouterr().err
    for twice in (["-seed=1", "-seed=1"], ["-mode=bsub", "-mode=sbatch"]):
        with pytest.raises(SystemExit) as exc:
            train.main(
                [f"-exp_dir={FIXTURES}", "-exp", "tiny_ecg", "-dry_run", f"-cache_dir={tmp_path}", *twice]
            )
        assert exc.value.code == 2 and "given twice" in capsys.readouterr().err


# ------------------------------------------------------------------ 7. garbage ECG annotations
def _garbage_record_100(mitdb_dir, folder, seed=19):
    """Record 100 (real .hea/.dat) with 4000 random bytes as its .atr: wfdb reads these as ~1000 annotations
    (seed 19: 1005, most at samples far outside the 650,000-sample record)."""
    folder.mkdir()
    for ext in (".hea", ".dat"):
        (folder / f"100{ext}").write_bytes((mitdb_dir / f"100{ext}").read_bytes())
    rng = random.Random(seed)
    (folder / "100.atr").write_bytes(bytes(rng.randrange(256) for _ in range(4000)))
    return folder


def test_garbage_annotation_file_is_refused_naming_it(mitdb_dir, tmp_path):
    folder = _garbage_record_100(mitdb_dir, tmp_path / "mitdb")
    with pytest.raises(
        DataError, match=r"corrupt MIT-BIH annotation file .*100\.atr: annotation \d+ is at sample"
    ):
        read_record(folder, "100")
    record = read_record(mitdb_dir, "100")  # the real file passes: 2274 annotations inside 650,000 samples
    assert record.sample.size == 2274 and record.sample.max() < record.signal.shape[0] == 650000


def test_annotation_checks_each_rule():
    check_annotations("x.atr", np.array([0, 5, 9]), ["N", "+", "V"], 10)  # valid
    with pytest.raises(DataError, match="x.atr: annotation 2 is at sample 10, outside the record's 10"):
        check_annotations("x.atr", np.array([0, 5, 10]), ["N", "N", "N"], 10)
    with pytest.raises(DataError, match=r"x.atr: annotation 2 \(sample 4\) comes before annotation 1"):
        check_annotations("x.atr", np.array([0, 5, 4]), ["N", "N", "N"], 10)
    with pytest.raises(DataError, match=r"x.atr: unknown annotation symbols \['Z'\]"):
        check_annotations("x.atr", np.array([0, 5, 6]), ["N", "Z", "N"], 10)


def test_training_on_garbage_annotations_exits_1_naming_the_file(mitdb_dir, tmp_path):
    folder = _garbage_record_100(mitdb_dir, tmp_path / "mitdb")
    proc = subprocess.run(
        [
            sys.executable,
            "main_ecg_lsnn.py",
            "-max_steps=1",
            f"-data_dir={folder}",
            f"-resources_dir={tmp_path / 'R'}",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1 and f"{folder}/100.atr" in proc.stderr and "Traceback" not in proc.stderr


# ------------------------------------------------------------------ 4. a diverged run leaves no model
TINY_ECG = ["-n_hidden=16", "-max_steps=30", "-eval_step_interval=10", "-n_attack_steps=2"]
TINY_ECG += ["-validation_limit=100", "-checkpoint_seconds=0", "-n_epochs=1,1"]


def _script(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False, **kw
    )


def test_a_diverged_run_removes_its_model_checkpoint_and_results(mitdb_dir, tmp_path):
    """Phase 1 (lr 0.001, ~21 iterations) saves a model and checkpoints; phase 2 (lr 3e38) overflows."""
    from robustness import artifacts

    sid, res = 5555555555, tmp_path / "R"
    argv = ["main_ecg_lsnn.py", *TINY_ECG, "-learning_rate=0.001,3e38", f"-resources_dir={res}"]
    proc = _script(*argv, f"-session_id={sid}")
    assert proc.returncode == 3 and "training diverged" in proc.stderr and "Saved model" in proc.stdout
    assert str(artifacts.model_path(res, sid)) in proc.stderr  # it existed and was removed
    for path in (artifacts.model_path, artifacts.results_path, artifacts.checkpoint_path):
        assert not path(res, sid).exists()
    assert "-learning_rate" in proc.stderr  # how to retry
    again = _script(*argv, f"-session_id={sid}")
    assert again.returncode == 3 and "resuming" not in again.stdout  # afresh, not from a checkpoint


# ------------------------------------------------------------------ 6. unwritable folders, 8. empty folder flags
def _under_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    return str(tmp_path / "file" / "sub")  # unwritable even for root: a path under a regular file


@pytest.mark.parametrize("flag", ["resources_dir", "cache_dir", "log_dir"])
def test_train_py_refuses_an_unwritable_folder_at_start_up(flag, tmp_path):
    folders = {"resources_dir": tmp_path / "R", "cache_dir": tmp_path / "S", "log_dir": tmp_path / "L"}
    folders[flag] = _under_a_file(tmp_path)
    args = [f"-exp_dir={FIXTURES}", "-exp", "tiny_ecg", *(f"-{k}={v}" for k, v in folders.items())]
    proc = _script("train.py", *args)
    assert proc.returncode == 1 and f"cannot write to {folders[flag]} (-{flag})" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("flag", ["cache_dir", "out_dir"])
def test_make_figures_refuses_an_unwritable_folder_at_start_up(flag, tmp_path):
    folders = {"cache_dir": tmp_path / "S", "out_dir": tmp_path / "F", flag: _under_a_file(tmp_path)}
    proc = _script("make_figures.py", "-exp", "figure_mismatch", *(f"-{k}={v}" for k, v in folders.items()))
    assert proc.returncode == 1 and f"cannot write to {folders[flag]} (-{flag})" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("script", ["main_speech_lsnn.py", "main_ecg_lsnn.py", "main_CNN_jax.py"])
def test_training_scripts_refuse_an_unwritable_resources_dir(script, tmp_path):
    folder = _under_a_file(tmp_path)
    proc = _script(script, "-max_steps=1", f"-resources_dir={folder}")
    assert proc.returncode == 1 and f"cannot write to {folder} (-resources_dir)" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["train.py", "-resources_dir="], "-resources_dir"),
        (["train.py", "-cache_dir="], "-cache_dir"),
        (["train.py", "-log_dir="], "-log_dir"),
        (["make_figures.py", "-out_dir="], "-out_dir"),
        (["make_figures.py", "-cache_dir="], "-cache_dir"),
        (["main_ecg_lsnn.py", "-resources_dir="], "-resources_dir"),
    ],
)
def test_an_empty_folder_flag_exits_2_naming_it(argv, flag):
    before = sorted(p.name for p in REPO_ROOT.iterdir())
    proc = _script(*argv)
    assert proc.returncode == 2 and f"{flag} is empty" in proc.stderr
    assert sorted(p.name for p in REPO_ROOT.iterdir()) == before  # nothing written into the repository


# ------------------------------------------------------------------ 8. stale temporary files, file modes
def test_stale_temporary_files_of_killed_writers_are_removed_at_start_up(tmp_path):
    """A real writer killed with SIGKILL in the middle of an atomic write leaves its ``.tmp``; the next
    train.py start removes it (dead pid), and an old one of another host (age), but not a live writer's."""
    import socket
    import time

    models = tmp_path / "R" / "Models"
    models.mkdir(parents=True)
    writer = subprocess.Popen(
        [sys.executable, "-c", "import time\nfrom datajuicer.in_out import atomic_write\n"
         f"atomic_write({str(models / 'x.json')!r}, lambda fh: (fh.write(b'{{'), fh.flush(), time.sleep(600)))"],
        cwd=REPO_ROOT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not list(models.glob(".*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.1)
    writer.kill()
    writer.wait()
    [killed] = list(models.glob(".*.tmp"))
    old = models / ".y.json.otherhost.12.0123456789ab.tmp"
    old.write_text("{")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    live = models / f".z.json.{socket.gethostname()}.{os.getpid()}.0123456789ab.tmp"
    live.write_text("{")
    folders = [f"-resources_dir={tmp_path / 'R'}", f"-cache_dir={tmp_path / 'S'}"]
    proc = _script("train.py", f"-exp_dir={FIXTURES}", "-exp", "tiny_ecg", "-dry_run", *folders)
    assert proc.returncode == 0, proc.stderr
    assert not killed.exists() and not old.exists() and live.exists()


def test_atomic_writes_respect_the_umask(tmp_path):
    from robustness import files

    old = os.umask(0o022)
    try:
        files.write_json(tmp_path / "a.json", {})
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644


# ------------------------------------------------------------------ 5. a corrupt sessions database
def _corrupt(db, how: str) -> None:
    data = bytearray(db.read_bytes())
    rng = random.Random(5)
    if how == "header":
        data[:100] = bytes(rng.randrange(256) for _ in range(100))
    elif how == "pages":
        data[4096:] = bytes(rng.randrange(256) for _ in range(len(data) - 4096))
    else:  # truncation
        del data[len(data) // 2 :]
    db.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def trained_tiny(mitdb_dir, tmp_path_factory):
    """The two tiny_ecg models trained by a real train.py; the database checkpointed into one file."""
    import sqlite3

    root = tmp_path_factory.mktemp("tiny")
    args = [
        f"-exp_dir={FIXTURES}",
        "-exp",
        "tiny_ecg",
        f"-cache_dir={root / 'S'}",
        f"-resources_dir={root / 'R'}",
    ]
    proc = _script("train.py", *args)
    assert proc.returncode == 0 and "launched 2" in proc.stdout, proc.stdout + proc.stderr
    conn = sqlite3.connect(root / "S" / "sessions.db")
    conn.execute("PRAGMA journal_mode=DELETE")  # folds the WAL into the file
    conn.close()
    assert (root / "S" / "sessions.db").stat().st_size > 3 * 4096
    return root


@pytest.mark.parametrize("how", ["header", "pages", "truncation"])
@pytest.mark.parametrize("script", ["train.py", "make_figures.py"])
def test_a_corrupt_sessions_db_is_moved_aside_and_the_models_found_again(script, how, trained_tiny, tmp_path):
    import shutil

    for sub in ("R", "S"):
        shutil.copytree(trained_tiny / sub, tmp_path / sub)
    db = tmp_path / "S" / "sessions.db"
    _corrupt(db, how)
    args = [f"-exp_dir={FIXTURES}", "-exp", "tiny_ecg", f"-cache_dir={tmp_path / 'S'}"]
    args += [f"-resources_dir={tmp_path / 'R'}"] + (
        ["-out_dir=" + str(tmp_path / "F")] if script != "train.py" else []
    )
    proc = _script(script, *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"sessions database {db} is corrupt" in proc.stderr and "Traceback" not in proc.stderr
    assert len(list(db.parent.glob("sessions.db.corrupt-*"))) == 1
    assert "found 2 trained model(s) again" in proc.stderr
    if script == "train.py":
        assert "launched 0 (jobs 0), already done 2" in proc.stdout  # nothing retrained
    else:
        assert "done 1" in proc.stdout
