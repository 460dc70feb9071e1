"""Golden argv tests for robustness.launch (no daemons): the original Leonhard bsub line, its sbatch
equivalent, quoting, variable expansion, resource flags, and how submit() reports success and failure."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import pytest

from robustness import launch
from robustness.configs import make_config
from robustness.launch import LaunchError, LaunchSettings, launch_argv, python_argv, submit

# architectures.py@05d941a0 (docs/cluster.md §0); datajuicer formatted it and os.system ran it via /bin/sh.
ORIGINAL_BSUB = (
    'bsub -o ../logs/{session_id} -W 24:00 -n 16 -R "rusage[mem=4096]" "python3 {code_file} {args}"'
)
SID = 1234567890
FLAGS = {
    "beta_robustness": 0.0,
    "n_attack_steps": 10,
    "learning_rate": "0.001,0.0001",
    "n_epochs": (32, 8),
    "data_dir": "$SCRATCH/speech_dataset",
    "session_id": SID,
}
# What the original's `args` expand to on Leonhard (the submitting shell expanded $SCRATCH).
ARGS = (
    "-beta_robustness=0.0 -n_attack_steps=10 -learning_rate=0.001,0.0001 -n_epochs=32,8"
    " -data_dir=/cluster/scratch/jdoe/speech_dataset -session_id=1234567890"
)
# Values that a shell would mangle: spaces, both quotes, $, backticks, globs, ;, &, |, command substitution.
NASTY = {
    "note": 'it\'s a "quoted" value; with  two spaces & a | pipe',
    "money": "costs $ 5, $(touch PWNED) and `touch PWNED2`",
    "glob": "*.py ~ {a,b} > out.txt",
    "empty": "",
}


@pytest.fixture(autouse=True)
def scratch(monkeypatch):
    monkeypatch.setenv("SCRATCH", "/cluster/scratch/jdoe")


def test_bsub_defaults_equal_the_original_request_once_split():
    settings = LaunchSettings(mode="bsub")
    argv = launch_argv(python_argv("main_speech_lsnn.py", FLAGS, settings), SID, settings)
    original = shlex.split(ORIGINAL_BSUB.format(session_id=SID, code_file="main_speech_lsnn.py", args=ARGS))
    # The one documented difference: the log lives in Resources/Logs/<sid>.log instead of ../logs/<sid>.
    assert original[2] == "../logs/1234567890"
    original[2] = "Resources/Logs/1234567890.log"
    assert argv == original
    assert argv == [
        "bsub", "-o", "Resources/Logs/1234567890.log", "-W", "24:00", "-n", "16", "-R", "rusage[mem=4096]",
        "python3 main_speech_lsnn.py " + ARGS,
    ]  # fmt: skip


def test_sbatch_defaults_are_the_same_request_with_24_hours_not_24_minutes():
    settings = LaunchSettings(mode="sbatch")
    argv = launch_argv(python_argv("main_speech_lsnn.py", FLAGS, settings), SID, settings)
    assert argv == [
        "sbatch", "--parsable", "--job-name=1234567890", "--output=Resources/Logs/1234567890.log",
        "--open-mode=append", "--time=24:00:00", "--ntasks=1", "--cpus-per-task=16", "--mem-per-cpu=4096",
        "--wrap", "python3 main_speech_lsnn.py " + ARGS,
    ]  # fmt: skip
    assert "--time=24:00" not in argv  # SLURM reads 24:00 as 24 minutes (docs/cluster.md error 13)


@pytest.mark.parametrize(
    ("wall", "minutes", "slurm"),
    [("24:00", 1440, "24:00:00"), ("210", 210, "3:30:00"), ("0:05", 5, "0:05:00"), ("1:90", 150, "2:30:00")],
)
def test_wall_time_conversion(wall, minutes, slurm):
    assert launch.wall_minutes(wall) == minutes
    assert launch.slurm_time(wall) == slurm
    sb = launch_argv(["python3", "x.py"], 1, LaunchSettings(mode="sbatch", wall_time=wall))
    assert f"--time={slurm}" in sb


def test_gpu_queue_job_name_and_extra_args():
    s = LaunchSettings(
        mode="bsub", n_cpus=4, mem_per_cpu=2048, wall_time="4:00", queue="gpu.24h", gpus=2,
        job_name="speech_7", log_dir="logs", extra_args=("-G", "es_grp"),
    )  # fmt: skip
    assert launch_argv(["python3", "t.py", "-seed=1"], 7, s) == [
        "bsub", "-o", "logs/7.log", "-W", "4:00", "-n", "4", "-R", "rusage[mem=2048,ngpus_excl_p=2]",
        "-q", "gpu.24h", "-J", "speech_7", "-G", "es_grp", "python3 t.py -seed=1",
    ]  # fmt: skip
    s = LaunchSettings(
        mode="sbatch", n_cpus=4, mem_per_cpu=2048, wall_time="4:00", queue="gpu", gpus=2, job_name="speech_7",
        log_dir="logs", extra_args=("--account=es",),
    )  # fmt: skip
    assert launch_argv(["python3", "t.py", "-seed=1"], 7, s) == [
        "sbatch", "--parsable", "--job-name=speech_7", "--output=logs/7.log", "--open-mode=append",
        "--time=4:00:00", "--ntasks=1", "--cpus-per-task=4", "--mem-per-cpu=2048", "--partition=gpu",
        "--gres=gpu:2", "--account=es", "--wrap", "python3 t.py -seed=1",
    ]  # fmt: skip


@pytest.mark.parametrize("mode", ["bsub", "sbatch"])
def test_quoting_survives_split_and_a_real_shell(mode, tmp_path):
    settings = LaunchSettings(mode=mode, python=sys.executable)
    code = tmp_path / "echo argv.py"  # a space in the script path too
    code.write_text("import json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    py = python_argv(code, NASTY, settings)
    assert py[2:] == [f"-{k}={v}" for k, v in NASTY.items()]  # no variable in NASTY: left exactly as given
    command = launch_argv(py, SID, settings)[-1]
    assert shlex.split(command) == py
    # The job's /bin/sh (LSF job file, sbatch --wrap) must hand python exactly these strings and run nothing.
    out = subprocess.run(["/bin/sh", "-c", command], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == py[2:]
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "PWNED2").exists()


def test_variables_are_expanded_in_python(monkeypatch):
    s = LaunchSettings(mode="bsub", log_dir="${SCRATCH}/logs")
    py = python_argv("m.py", {"data_dir": "$SCRATCH/ecg", "other": "${SCRATCH}x", "lr": 0.5}, s)
    assert py == [
        "python3",
        "m.py",
        "-data_dir=/cluster/scratch/jdoe/ecg",
        "-other=/cluster/scratch/jdoex",
        "-lr=0.5",
    ]
    assert launch_argv(py, 5, s)[:3] == ["bsub", "-o", "/cluster/scratch/jdoe/logs/5.log"]
    monkeypatch.delenv("SCRATCH")
    with pytest.raises(LaunchError, match=r"flag -data_dir=.*\$SCRATCH is not set"):
        python_argv("m.py", {"data_dir": "$SCRATCH/ecg"}, s)
    with pytest.raises(LaunchError, match=r"log_dir=.*\$SCRATCH is not set"):
        launch_argv(["python3"], 5, s)


def test_flag_rendering_and_bad_flags():
    py = python_argv(
        "m.py", {"awp": True, "treat_as_constant": False, "n_epochs": [32, 8], "seed": 3}, LaunchSettings()
    )
    assert py == ["python3", "m.py", "-awp=True", "-treat_as_constant=False", "-n_epochs=32,8", "-seed=3"]
    with pytest.raises(LaunchError, match="flag -seed: None"):
        python_argv("m.py", {"seed": None}, LaunchSettings())
    with pytest.raises(LaunchError, match="bad flag name"):
        python_argv("m.py", {"-seed": 1}, LaunchSettings())
    with pytest.raises(LaunchError, match="cannot name a log file"):
        launch_argv(["python3"], "../escape", LaunchSettings(mode="sbatch"))
    assert launch_argv(py, 1, LaunchSettings()) == py  # direct mode runs the python argv itself


@pytest.mark.parametrize(
    ("field", "value"),
    [("mode", "qsub"), ("n_cpus", 0), ("mem_per_cpu", -1), ("gpus", -1), ("wall_time", "24h"),
     ("wall_time", "0"), ("wall_time", "1:2:3"), ("queue", "a b"), ("n_cpus", True)],
)  # fmt: skip
def test_settings_are_validated(field, value):
    with pytest.raises(ValueError, match=f"LaunchSettings.{field}="):
        LaunchSettings(**{field: value})


def test_settings_parse_from_cli_strings_with_configs():
    s = make_config(LaunchSettings, {"mode": "sbatch", "n_cpus": "2", "gpus": "1", "extra_args": "--qos=x"})
    assert (s.mode, s.n_cpus, s.gpus, s.extra_args) == ("sbatch", 2, 1, ("--qos=x",))


@pytest.mark.parametrize(
    ("mode", "reply", "job_id"),
    [("bsub", "Job <987> is submitted to queue <normal>.\n", "987"), ("sbatch", "12345\n", "12345"),
     ("sbatch", "warning\n12346;ci\n", "12346")],
)  # fmt: skip
def test_parse_job_id(mode, reply, job_id):
    assert launch.parse_job_id(mode, reply) == job_id


def _fake_scheduler(bin_dir, name, stdout, rc):
    """A stand-in `name` on PATH that records its argv and replies ``stdout`` with exit status ``rc``."""
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / name
    script.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(bin_dir / 'argv.json')!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
        f"sys.stdout.write({stdout!r})\n"
        f"sys.stderr.write('{name}: error: nope\\n' if {rc} else '')\n"
        f"sys.exit({rc})\n"
    )
    script.chmod(0o755)


@pytest.mark.parametrize("mode", ["bsub", "sbatch"])
def test_submit_parses_and_records_the_job_id(mode, tmp_path, monkeypatch, capsys):
    reply = "Job <4242> is submitted to queue <normal>.\n" if mode == "bsub" else "4242\n"
    _fake_scheduler(tmp_path / "bin", mode, reply, 0)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    s = LaunchSettings(mode=mode, log_dir=str(tmp_path / "new" / "logs"))
    argv = launch_argv(python_argv("m.py", NASTY, s), SID, s)
    result = submit(argv, session_id=SID, settings=s)
    assert result.job_id == "4242" and result.returncode == 0
    assert json.loads((tmp_path / "bin" / "argv.json").read_text()) == argv[1:]  # passed on untouched
    assert (tmp_path / "new" / "logs").is_dir()  # created before submitting (docs/cluster.md error 12)
    record = json.loads((tmp_path / "new" / "logs" / f"{SID}.submit.json").read_text())
    assert (record["job_id"], record["mode"], record["argv"]) == ("4242", mode, argv)
    assert f"{mode} job 4242" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("reply", "rc", "message"),
    [("", 1, r"sbatch refused session 1234567890 \(exit 1\):\n    sbatch: error: nope"),
     ("Submitted batch job\n", 0, "reply has no job id")],
)  # fmt: skip
def test_submit_reports_scheduler_errors(reply, rc, message, tmp_path, monkeypatch):
    _fake_scheduler(tmp_path / "bin", "sbatch", reply, rc)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    s = LaunchSettings(mode="sbatch", log_dir=str(tmp_path / "logs"))
    with pytest.raises(LaunchError, match=message):
        submit(launch_argv(["python3", "m.py"], SID, s), session_id=SID, settings=s)
    assert not (tmp_path / "logs" / f"{SID}.submit.json").exists()


def test_submit_without_the_scheduler_on_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    s = LaunchSettings(mode="bsub", log_dir=str(tmp_path / "logs"))
    with pytest.raises(LaunchError, match="bsub not found on PATH"):
        submit(launch_argv(["python3", "m.py"], SID, s), session_id=SID, settings=s)


def test_dry_run_prints_and_touches_nothing(tmp_path, capsys):
    s = LaunchSettings(mode="bsub", log_dir=str(tmp_path / "logs"))
    argv = launch_argv(["python3", "m.py", "-note=a b"], SID, s)
    result = submit(argv, session_id=SID, settings=s, dry_run=True)
    assert result.job_id is None and capsys.readouterr().out == shlex.join(argv) + "\n"
    assert not (tmp_path / "logs").exists()


def test_direct_mode_appends_to_the_log_and_reports_failure(tmp_path, capsys):
    code = tmp_path / "job.py"
    code.write_text(
        "import sys\nprint('epoch', sys.argv[1])\nif sys.argv[1] == '-fail=True':\n    sys.exit(3)\n"
    )
    s = LaunchSettings(python=sys.executable, log_dir=str(tmp_path / "logs"))
    ok = launch_argv(python_argv(code, {"fail": False}, s), 11, s)
    assert submit(ok, session_id=11, settings=s).returncode == 0
    assert submit(ok, session_id=11, settings=s, tee=True).returncode == 0
    assert (tmp_path / "logs" / "11.log").read_text() == "epoch -fail=False\n" * 2  # appended, not replaced
    assert capsys.readouterr().out == "epoch -fail=False\n"  # only the tee'd run echoes
    bad = launch_argv(python_argv(code, {"fail": True}, s), 12, s)
    with pytest.raises(LaunchError, match=r"session 12: training exited with 3 .*\n.*epoch -fail=True"):
        submit(bad, session_id=12, settings=s)
    assert submit(bad, session_id=12, settings=s, check=False).returncode == 3
    record = json.loads((tmp_path / "logs" / "12.submit.json").read_text())
    assert (record["mode"], record["job_id"], record["returncode"]) == ("direct", None, 3)
