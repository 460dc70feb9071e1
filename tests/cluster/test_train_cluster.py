"""train.py end to end on the session's real one-node SLURM: ``-mode=sbatch`` directly and ``-mode=bsub``
through the strict LSF stand-in ``tests/fake_lsf/bsub`` (BSUB_SHIM_BACKEND=slurm). Tiny real ECG trainings
(tests/fixtures/experiments/tiny_ecg.py, two seeds trained in one vmapped job) plus a model whose script
exits 1 (tiny_ecg_failing.py): the good models appear, a re-run submits nothing for them, the failed one is
reported missing and submitted again under the same session id (docs/cluster.md §4 "Tests")."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import architectures as A
import datajuicer as dj
import train
from robustness import artifacts
from robustness.experiments import load_experiments
from robustness.paths import REPO_ROOT, Dirs

TESTS = Path(__file__).resolve().parent.parent
FIXTURES = TESTS / "fixtures" / "experiments"
FAKE_LSF = TESTS / "fake_lsf"
SUMMARY = re.compile(r"launched (\d+) \(jobs (\d+)\), already done (\d+), still queued (\d+)")


@pytest.fixture
def setup(slurm, mitdb_dir, tmp_path, monkeypatch):
    """(run train.py → (summary, stderr), resources dir, {seed: sid}) for jobs writing under tmp_path."""
    monkeypatch.chdir(tmp_path)  # the submitting directory is the jobs' working directory
    # jobs inherit tests/conftest.py's $JAX_COMPILATION_CACHE_DIR (sbatch exports the environment)
    res = tmp_path / "R"

    def run(mode, capsys):
        args = [
            f"-exp_dir={FIXTURES}",
            "-exp",
            "tiny_ecg",
            "tiny_ecg_failing",
            f"-mode={mode}",
            "-group_seeds=2",
        ]
        args += ["-n_cpus=1", "-mem_per_cpu=500", "-wall_time=0:10", f"-python={sys.executable}"]
        rc = train.main([*args, f"-cache_dir={tmp_path / 'S'}", f"-resources_dir={res}"])
        out, err = capsys.readouterr()
        assert rc == 0, out + err
        return tuple(int(n) for n in SUMMARY.search(out).groups()), err

    def sids():
        rows = dj.database.list_sessions(str(tmp_path / "S" / "sessions.db"), "ecg_lsnn")
        return {r["dependencies"]["model:seed"]: r["session_id"] for r in rows}

    return run, res, sids


def job_of(res: Path, sid: int) -> str:
    return json.loads((res / "Logs" / f"{sid}.submit.json").read_text())["job_id"]


def check_trained(res: Path, sid_of: dict) -> None:
    """Seeds 0 and 1 are trained (from one vmapped process); seed 7's script failed and left nothing."""
    for seed in (0, 1):
        assert artifacts.results_complete(res, sid_of[seed])
        params = json.loads(artifacts.model_path(res, sid_of[seed]).read_text())["params"]
        assert (params["seed"], params["session_id"], params["n_hidden"]) == (seed, sid_of[seed], 8)
    assert not artifacts.model_path(res, sid_of[7]).exists()
    log = (res / "Logs" / f"{sid_of[7]}.log").read_text()
    assert "-n_layer=2: only one recurrent layer is supported" in log
    tiny = load_experiments(["tiny_ecg", "tiny_ecg_failing"], str(FIXTURES))
    grids = [cls.train_grid() for _, cls in tiny]
    kw = {"dirs": Dirs(cache_dir=Path("S").resolve(), resources_dir=res)}
    assert [m["ecg_lsnn_session_id"] for m in A.load_models(grids[0], **kw)] == [sid_of[0], sid_of[1]]
    with pytest.raises(
        A.MissingModelsError, match=r"1 of 1 models .*\n  ecg_lsnn seed=7 max_steps=10 n_layer=2"
    ):
        A.load_models(grids[1], experiment="tiny_ecg_failing", **kw)


def hold_the_node(slurm) -> str:
    """Submit a job that takes the whole node and wait until it runs, so the next jobs stay PENDING."""
    argv = ["sbatch", "--parsable", "--exclusive", "--time=5", "--output=/dev/null", "--wrap", "sleep 300"]
    job = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    deadline = time.monotonic() + 60
    state = ["squeue", "-h", "-j", job, "-o", "%T"]
    while subprocess.run(state, capture_output=True, text=True, check=False).stdout.strip() != "RUNNING":
        assert time.monotonic() < deadline, "the blocking job did not start within 60 s"
        time.sleep(0.2)
    return job


@pytest.mark.cluster
def test_sbatch_trains_the_missing_models_and_resubmits_failures(slurm, setup, capsys):
    run, res, sids = setup
    blocker = hold_the_node(slurm)
    try:
        assert run("sbatch", capsys)[0] == (3, 2, 0, 0)  # seeds 0+1 in one job, seed 7 alone
        assert run("sbatch", capsys)[0] == (0, 0, 0, 3)  # all PENDING behind the blocker: nothing resubmitted
    finally:
        subprocess.run(["scancel", blocker], check=False)
    sid_of = sids()
    group_job, failing_job = job_of(res, sid_of[0]), job_of(res, sid_of[7])
    assert job_of(res, sid_of[1]) == group_job != failing_job
    records = slurm.wait([group_job, failing_job], timeout=240)
    assert (records[group_job]["JobState"], records[group_job]["ExitCode"]) == ("COMPLETED", "0:0")
    assert (records[failing_job]["JobState"], records[failing_job]["ExitCode"]) == ("FAILED", "1:0")
    assert records[group_job]["Name"] == str(sid_of[0]) and records[group_job]["TimeLimit"] == "10"
    check_trained(res, sid_of)
    assert run("sbatch", capsys)[0] == (1, 1, 2, 0)  # only the failed model, again
    assert sids() == sid_of and job_of(res, sid_of[7]) != failing_job  # same session id, new job
    again = slurm.wait([job_of(res, sid_of[7])], timeout=120)
    assert again[job_of(res, sid_of[7])]["JobState"] == "FAILED"


@pytest.mark.cluster
def test_bsub_through_the_stand_in_trains_and_resubmits(slurm, setup, capsys, tmp_path, monkeypatch):
    run, res, sids = setup
    shim_log = tmp_path / "bsub.jsonl"
    monkeypatch.setenv("PATH", f"{FAKE_LSF}:{os.environ['PATH']}")
    monkeypatch.setenv("BSUB_SHIM_BACKEND", "slurm")
    monkeypatch.setenv("BSUB_SHIM_LOG", str(shim_log))
    assert run("bsub", capsys)[0] == (3, 2, 0, 0)
    sid_of = sids()
    group_job, failing_job = job_of(res, sid_of[0]), job_of(res, sid_of[7])
    records = slurm.wait(
        [group_job, failing_job], timeout=240
    )  # the LSF job id is the SLURM job id behind it
    assert [records[j]["JobState"] for j in (group_job, failing_job)] == ["COMPLETED", "FAILED"]
    check_trained(res, sid_of)
    summary, err = run("bsub", capsys)
    assert summary == (1, 1, 2, 0) and "warning: bjobs not found" in err  # no bjobs: cannot tell, says so
    shim = [json.loads(line) for line in shim_log.read_text().splitlines()]
    assert (
        len(shim) == 3
        and [(r["n"], r["W_minutes"], r["rusage"]) for r in shim] == [(1, 10, {"mem": "500"})] * 3
    )
    [command] = shim[0]["command"]  # one quoted command string, as in the original
    assert command.startswith(f"{sys.executable} {REPO_ROOT / A.ecg_lsnn.code_file} -beta_robustness=1.0 ")
    assert f" -vmap_seeds=0,1 -session_ids={sid_of[0]},{sid_of[1]}" in command
    assert shim[0]["argv"][:2] == ["-o", str(res / "Logs" / f"{sid_of[0]}.log")]
    slurm.wait([job_of(res, sid_of[7])], timeout=120)
