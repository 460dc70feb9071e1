"""End to end: real jobs through robustness.launch on the session's one-node SLURM (``-mode=sbatch``) and
through the strict LSF stand-in ``tests/fake_lsf/bsub`` backed by that SLURM (``-mode=bsub``); plus the
stand-in's own strictness, which needs no cluster. Job states come from SLURM's jobcomp.txt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from robustness.launch import LaunchError, LaunchSettings, launch_argv, python_argv, submit

FAKE_LSF = Path(__file__).resolve().parent.parent / "fake_lsf"
BSUB = FAKE_LSF / "bsub"
# A stand-in training: writes <out_dir>/<session_id>.json (its argv and scheduler environment), logs a line,
# and exits 1 when -fail=True.
JOB = """\
import json, os, sys
flags = dict(a[1:].split("=", 1) for a in sys.argv[1:])
print("job", flags["session_id"], "starting", flush=True)
keys = ("SLURM_JOB_ID", "SLURM_CPUS_PER_TASK", "CUDA_VISIBLE_DEVICES", "LSB_JOBID", "LSB_DJOB_NUMPROC")
record = {"argv": sys.argv[1:], "cwd": os.getcwd(), "env": {k: os.environ.get(k) for k in keys}}
path = os.path.join(flags["out_dir"], flags["session_id"] + ".json")
with open(path + ".tmp", "w") as f:
    json.dump(record, f)
os.replace(path + ".tmp", path)
if flags.get("fail") == "True":
    sys.exit("failing on purpose")
"""
NOTE = 'a "quoted" value with  spaces, $ 5 and $(touch PWNED)'


@pytest.fixture
def job(tmp_path, monkeypatch):
    """(settings factory, flags factory, out dir) for small jobs whose output goes under tmp_path."""
    code = tmp_path / "job.py"
    code.write_text(JOB)
    out = tmp_path / "scratch"
    out.mkdir()
    monkeypatch.setenv("E2E_SCRATCH", str(out))
    monkeypatch.chdir(tmp_path)  # the submitting directory is the job's working directory

    def settings(**kw):
        base = {
            "n_cpus": 1,
            "mem_per_cpu": 200,
            "python": sys.executable,
            "log_dir": str(tmp_path / "logs" / "deep"),
        }
        return LaunchSettings(**{**base, **kw})

    def flags(sid, fail=False):
        return {"session_id": sid, "out_dir": "$E2E_SCRATCH", "note": NOTE, "fail": fail}

    return code, settings, flags, out


def _submit(code, settings, flags):
    py = python_argv(code, flags, settings)
    sid = flags["session_id"]
    return py, submit(launch_argv(py, sid, settings), session_id=sid, settings=settings)


@pytest.mark.cluster
def test_sbatch_jobs_complete_and_fail_for_real(slurm, job, tmp_path):
    code, settings, flags, out = job
    s = settings(mode="sbatch")
    py_ok, ok = _submit(code, s, flags("1000000001"))
    _, bad = _submit(code, s, flags("1000000002", fail=True))
    records = slurm.wait([ok.job_id, bad.job_id])
    assert (records[ok.job_id]["JobState"], records[ok.job_id]["ExitCode"]) == ("COMPLETED", "0:0")
    assert (records[bad.job_id]["JobState"], records[bad.job_id]["ExitCode"]) == ("FAILED", "1:0")
    for sid, job_id in (("1000000001", ok.job_id), ("1000000002", bad.job_id)):
        rec = records[job_id]
        assert rec["Name"] == sid  # --job-name defaults to the session id
        assert rec["TimeLimit"] == "1440"  # --time=24:00:00 is 24 h, in minutes
        assert rec["Tres"].startswith("cpu=1,mem=200M,node=1")
        seen = json.loads((out / f"{sid}.json").read_text())
        assert seen["env"]["SLURM_JOB_ID"] == job_id and seen["env"]["SLURM_CPUS_PER_TASK"] == "1"
        assert seen["cwd"] == str(tmp_path)
    assert json.loads((out / "1000000001.json").read_text())["argv"] == py_ok[2:]  # $E2E_SCRATCH expanded
    assert py_ok[3] == f"-out_dir={out}" and not (tmp_path / "PWNED").exists()
    logs = tmp_path / "logs" / "deep"
    assert (logs / "1000000001.log").read_text() == "job 1000000001 starting\n"
    assert (logs / "1000000002.log").read_text() == "job 1000000002 starting\nfailing on purpose\n"
    assert json.loads((logs / "1000000002.submit.json").read_text())["job_id"] == bad.job_id


@pytest.mark.cluster
@pytest.mark.parametrize("mode", ["sbatch", "bsub"])
def test_over_asking_fails_at_submission(mode, slurm, job, tmp_path, monkeypatch):
    code, settings, flags, _ = job
    monkeypatch.setenv("PATH", f"{FAKE_LSF}:{os.environ['PATH']}")
    monkeypatch.setenv("BSUB_SHIM_BACKEND", "slurm")
    # The original request (16 cores) on a smaller node; SLURM refuses it (EnforcePartLimits=ALL).
    s = settings(mode=mode, n_cpus=max(16, slurm.cpus + 1))
    with pytest.raises(
        LaunchError, match=f"(?s){mode} refused session 1000000003 .*More processors requested"
    ):
        _submit(code, s, flags("1000000003"))
    assert not (tmp_path / "logs" / "deep" / "1000000003.submit.json").exists()


@pytest.mark.cluster
def test_gpu_requests_reach_the_job(slurm_with_gpu, job, monkeypatch):
    slurm = slurm_with_gpu
    code, settings, flags, out = job
    monkeypatch.setenv("PATH", f"{FAKE_LSF}:{os.environ['PATH']}")
    monkeypatch.setenv("BSUB_SHIM_BACKEND", "slurm")
    results = [
        _submit(code, settings(mode=m, gpus=1), flags(sid))[1]
        for m, sid in (("sbatch", "21"), ("bsub", "22"))
    ]
    records = slurm.wait([r.job_id for r in results])
    assert {r["JobState"] for r in records.values()} == {"COMPLETED"}
    for sid in ("21", "22"):
        assert json.loads((out / f"{sid}.json").read_text())["env"]["CUDA_VISIBLE_DEVICES"] == "0"
    with pytest.raises(LaunchError, match="Requested node configuration is not available"):
        _submit(code, settings(mode="sbatch", gpus=slurm.gpus + 1), flags("23"))


@pytest.mark.cluster
def test_bsub_through_the_stand_in_on_slurm(slurm, job, tmp_path, monkeypatch):
    code, settings, flags, out = job
    shim_log = tmp_path / "bsub.jsonl"
    monkeypatch.setenv("PATH", f"{FAKE_LSF}:{os.environ['PATH']}")
    monkeypatch.setenv("BSUB_SHIM_BACKEND", "slurm")
    monkeypatch.setenv("BSUB_SHIM_LOG", str(shim_log))
    s = settings(mode="bsub", wall_time="0:30")
    py_ok, ok = _submit(code, s, flags("1000000011"))
    _, bad = _submit(code, s, flags("1000000012", fail=True))
    records = slurm.wait([ok.job_id, bad.job_id])  # the LSF job id is the SLURM job id behind it
    assert (records[ok.job_id]["JobState"], records[ok.job_id]["ExitCode"]) == ("COMPLETED", "0:0")
    assert (records[bad.job_id]["JobState"], records[bad.job_id]["ExitCode"]) == ("FAILED", "1:0")
    assert records[ok.job_id]["TimeLimit"] == "30"
    seen = json.loads((out / "1000000011.json").read_text())
    assert seen["argv"] == py_ok[2:]
    assert seen["env"]["LSB_JOBID"] == seen["env"]["SLURM_JOB_ID"] == ok.job_id
    assert seen["env"]["LSB_DJOB_NUMPROC"] == "1"
    shim = [json.loads(line) for line in shim_log.read_text().splitlines()]
    assert [r["argv"] for r in shim] == [list(ok.argv[1:]), list(bad.argv[1:])]  # exactly what launch sent
    log = tmp_path / "logs" / "deep" / "1000000011.log"
    assert shim[0]["command"] == [ok.argv[-1]]  # one quoted command string, as in the original
    assert (shim[0]["n"], shim[0]["W_minutes"], shim[0]["rusage"]) == (1, 30, {"mem": "200"})
    for flag in (
        "--cpus-per-task=1",
        "--time=30",
        "--mem-per-cpu=200",
        f"--output={log}",
        "--open-mode=append",
    ):
        assert flag in shim[0]["sbatch"]
    assert log.read_text() == "job 1000000011 starting\n"
    assert log.with_name("1000000012.log").read_text() == "job 1000000012 starting\nfailing on purpose\n"


def test_bsub_defaults_run_on_the_local_backend(job, tmp_path, monkeypatch):
    """Without SLURM: the original request (launch defaults) passes the stand-in's strict parser."""
    code, _, flags, out = job
    shim_log = tmp_path / "bsub.jsonl"
    monkeypatch.setenv("PATH", f"{FAKE_LSF}:{os.environ['PATH']}")
    monkeypatch.setenv("BSUB_SHIM_BACKEND", "local")
    monkeypatch.setenv("BSUB_SHIM_LOG", str(shim_log))
    s = LaunchSettings(mode="bsub", python=sys.executable, log_dir="Resources/Logs")
    py, result = _submit(code, s, flags("1000000021"))
    shim = json.loads(shim_log.read_text())
    assert (shim["n"], shim["W_minutes"], shim["rusage"], shim["local_rc"]) == (
        16,
        1440,
        {"mem": "4096"},
        [0],
    )
    assert shim["jobid"] == result.job_id
    assert json.loads((out / "1000000021.json").read_text())["argv"] == py[2:]
    assert Path("Resources/Logs/1000000021.log").read_text() == "job 1000000021 starting\n"


REJECTED = {  # bsub arguments → the start of LSF's reply on stderr (exit 255, nothing runs)
    "unknown": (["-Z", "echo"], "bsub: illegal option -- Z\n"),
    "long-option": (["--time=5", "echo"], "bsub: illegal option -- -time=5\n"),
    "W-seconds": (["-W", "24:00:00", "echo"], "24:00:00: Bad RUNLIMIT specification. Job not submitted.\n"),
    "W-units": (["-W", "24h", "echo"], "24h: Bad RUNLIMIT specification. Job not submitted.\n"),
    "n-zero": (["-n", "0", "echo"], "0: Bad argument for option -n. Job not submitted.\n"),
    "R-unbalanced": (["-R", "rusage[mem=4096", "echo"], "rusage[mem=4096: Bad resource requirement syntax."),
    "R-no-section": (
        ["-R", "mem=4096", "echo"],
        "mem=4096: Bad resource requirement syntax. Job not submitted.",
    ),
    "R-no-value": (["-R", "rusage[mem]", "echo"], "rusage[mem]: Bad resource requirement syntax."),
    "unsupported": (["-I", "echo"], "option -I is valid LSF but not supported by this test stand-in."),
    "missing-arg": (["-o"], "bsub: option requires an argument -- o\n"),
}


@pytest.mark.parametrize(("args", "message"), list(REJECTED.values()), ids=list(REJECTED))
def test_stand_in_rejects_what_lsf_rejects(args, message, tmp_path):
    env = dict(os.environ, BSUB_SHIM_BACKEND="local", BSUB_SHIM_LOG=str(tmp_path / "log.jsonl"))
    marker = tmp_path / "ran"  # the job command, if anything ran it
    argv = [str(BSUB)] + [f"touch {marker}" if a == "echo" else a for a in args]
    proc = subprocess.run(
        argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, check=False
    )
    assert proc.returncode == 255 and proc.stdout == ""
    assert proc.stderr.startswith(message)
    assert not marker.exists() and not (tmp_path / "log.jsonl").exists()  # nothing ran, nothing recorded


def test_stand_in_accepts_lsf_forms(tmp_path):
    env = dict(os.environ, BSUB_SHIM_BACKEND="local", BSUB_SHIM_LOG=str(tmp_path / "log.jsonl"))
    argv = [str(BSUB), "-J", "seeds[1-3]", "-o", str(tmp_path / "o_%J_%I.txt"), "-W", "210", "-n", "2,4"]
    argv += ["-R", "rusage[mem=500, ngpus_excl_p=1]", "-R", "select[gpu_mtotal0>=10240]"]
    argv.append("echo idx=$LSB_JOBINDEX n=$LSB_DJOB_NUMPROC")
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    job_id = proc.stdout.removeprefix("Job <").removesuffix("> is submitted to queue <normal>.\n")
    assert proc.returncode == 0 and job_id.isdigit()
    rec = json.loads((tmp_path / "log.jsonl").read_text())
    assert (rec["name"], rec["array"], rec["n"], rec["W_minutes"], rec["gpus"]) == ("seeds", "1-3", 2, 210, 1)
    for i in (1, 2, 3):
        assert (tmp_path / f"o_{job_id}_{i}.txt").read_text() == f"idx={i} n=2\n"
