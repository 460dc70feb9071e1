"""Reliability guarantees (README "Reliability"): what a hostile or careless user gets. Each test fails on the
code before its fix: shell injection through dry-run scripts, concurrent train.py processes, out-of-range and
non-finite flag values, diverged runs, a corrupt sessions database, unwritable folders, garbage ECG
annotations, stale temporary files and file modes."""

from __future__ import annotations

import dataclasses
import os
import random
import re
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


# ------------------------------------------------------------------ 2. two train.py: each model trained once
def _tiny(root) -> list[str]:
    return [sys.executable, "train.py", f"-exp_dir={FIXTURES}", "-exp", "tiny_ecg",
            f"-cache_dir={root / 'S'}", f"-resources_dir={root / 'R'}"]  # fmt: skip


def _launched(stdout: str) -> int:
    return int(re.search(r"^launched (\d+) \(jobs", stdout, re.M).group(1))


def test_two_concurrent_train_py_train_each_model_once(mitdb_dir, tmp_path):
    """Started together on one checkout: before the claims, both launched both models (every log line twice)."""
    procs = [subprocess.Popen(_tiny(tmp_path), cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]  # fmt: skip
    outs = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert sum(_launched(out) for out, _ in outs) == 2, outs
    logs = sorted((tmp_path / "R" / "Logs").glob("*.log"))
    assert len(logs) == 2 and all(log.read_text().count("training done)") == 1 for log in logs)
    assert not list((tmp_path / "S" / "training").glob("*.lock"))  # every claim released


def test_a_live_claim_is_skipped_and_a_dead_one_taken_over(mitdb_dir, tmp_path):
    dry = subprocess.run(_tiny(tmp_path) + ["-dry_run"], cwd=REPO_ROOT, capture_output=True, text=True)
    sids = re.findall(r"session\(s\) (\d+)", dry.stdout)
    assert dry.returncode == 0 and len(sids) == 2, dry.stdout + dry.stderr
    hold = (f"import sys, time; from robustness import locks; [locks.try_claim({str(tmp_path / 'S')!r}, s) "
            f"for s in {sids}]; print('held', flush=True); time.sleep(600)")  # fmt: skip
    holder = subprocess.Popen([sys.executable, "-c", hold], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        busy = subprocess.run(_tiny(tmp_path), cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
        assert busy.returncode == 0 and _launched(busy.stdout) == 0, busy.stdout + busy.stderr
        for sid in sids:
            assert f"session {sid} is being trained by pid {holder.pid} (" in busy.stdout
        assert "being trained elsewhere 2" in busy.stdout
    finally:
        holder.kill()
        holder.wait()
    assert len(list((tmp_path / "S" / "training").glob("*.lock"))) == 2  # left behind by the killed holder
    after = subprocess.run(_tiny(tmp_path), cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert after.returncode == 0 and _launched(after.stdout) == 2, after.stdout + after.stderr
    assert "being trained by" not in after.stdout and sorted(
        re.findall(r"session\(s\) (\d+)", after.stdout)
    ) == sorted(sids)


def test_a_claim_lives_on_in_the_training_process_it_was_passed_to(tmp_path):
    """train.py hands its lock to the training process: killing train.py must not free the model."""
    from robustness import locks

    claim = locks.try_claim(tmp_path, 1234567890)
    child = subprocess.Popen(["sleep", "600"], pass_fds=[claim.fd])
    try:
        os.close(claim.fd)  # train.py gone: only the training process holds the descriptor
        other = locks.try_claim(tmp_path, 1234567890)
        assert isinstance(other, dict) and other["pid"] == os.getpid()
        assert "which has exited" not in locks.describe_holder(other)  # this process is alive
        gone = subprocess.Popen(["true"])
        gone.wait()
        assert "which has exited" in locks.describe_holder({**other, "pid": gone.pid})
    finally:
        child.kill()
        child.wait()
    assert isinstance(locks.try_claim(tmp_path, 1234567890), locks.Claim)


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


def test_downloads_respect_the_umask_and_clean_up_after_killed_ones(fashion_dir, tmp_path, monkeypatch):
    """The Fashion-MNIST downloader over real HTTP (a local server with the IDX files): the files get the
    umask's mode (the old mkstemp files were 0600), a killed download's temporary file is removed, and a
    file whose MD5 differs is refused and not kept."""
    import functools
    import hashlib
    import http.server
    import threading

    from CNN import fashion_mnist

    # the Debian package recompresses the official .gz files: expect its MD5s for the first download
    served = {n: hashlib.md5((fashion_dir / n).read_bytes()).hexdigest() for n in fashion_mnist.FILES}
    official = dict(fashion_mnist.FILES)
    monkeypatch.setattr(fashion_mnist, "FILES", served)

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(fashion_dir))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    out = tmp_path / "fm"
    out.mkdir()
    gone = subprocess.Popen(["true"])
    gone.wait()
    leftover = out / f".train-images-idx3-ubyte.gz.{os.uname().nodename}.{gone.pid}.0123456789ab.tmp"
    leftover.write_bytes(b"partial")
    old = os.umask(0o022)
    try:
        fashion_mnist.download(out, url)
    finally:
        os.umask(old)
    for name in fashion_mnist.FILES:
        assert (out / name).read_bytes() == (fashion_dir / name).read_bytes()
        assert (out / name).stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in out.iterdir()) == sorted(fashion_mnist.FILES)  # the leftover is gone
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train-images-idx3-ubyte.gz").write_bytes(b"not the official file")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(bad))
    handler.log_message = lambda *a: None
    server.shutdown()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(fashion_mnist, "FILES", official)
    try:
        with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: MD5 .* differs from the official"):
            fashion_mnist.download(tmp_path / "fm2", f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        server.shutdown()
    assert not list((tmp_path / "fm2").iterdir())


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
