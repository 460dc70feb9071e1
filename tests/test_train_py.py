"""train.py: golden command lines (the original Leonhard bsub request, its sbatch twin), seed groups,
de-duplication, overrides and the cache key, skipping done and still-queued models, the CLI's errors, and a
real direct-mode run of two tiny ECG models on MIT-BIH (README "The experiment grid"; docs/cluster.md §4)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

import pytest

import architectures as A
import train
from robustness import artifacts, files
from robustness.configs import to_flags
from robustness.tasks import SpeechConfig
from robustness.experiments import load_experiments
from robustness.paths import REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "experiments"
ORIGINAL_BSUB = (
    'bsub -o ../logs/{session_id} -W 24:00 -n 16 -R "rusage[mem=4096]" "python3 {code_file} {args}"'
)
SUMMARY = re.compile(
    r"(?:launched|dry run: would launch) (\d+) \(jobs (\d+)\), already done (\d+), still queued (\d+)"
)
NOT_DEPS = (
    "session_id",
    "session_ids",
    "vmap_seeds",
    "init_froms",
    "resources_dir",
    "data_dir",
    "data_url",
    "checkpoint_seconds",
)


def run_train(capsys, *args):
    """``train.main`` here: (exit code, (launched, jobs, done, queued), [argv per command], out, err)."""
    rc = train.main([f"-exp_dir={FIXTURES}", *map(str, args)])
    out, err = capsys.readouterr()
    summary = tuple(int(n) for n in SUMMARY.search(out).groups()) if SUMMARY.search(out) else None
    commands = [shlex.split(line) for line in out.splitlines() if line and not line.startswith("#")]
    return rc, summary, commands, out, err


def flag(argv_or_command, name):
    words = argv_or_command if isinstance(argv_or_command, list) else shlex.split(argv_or_command)
    values = [w.split("=", 1)[1] for w in words if w.startswith(f"-{name}=")]
    assert len(values) == 1, (name, words)
    return values[0]


@pytest.fixture
def repo_cwd(monkeypatch, tmp_path):
    """Run from the repository root (so the scripts print as the original's relative main_*.py)."""
    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.setenv("SCRATCH", "/cluster/scratch/jdoe")
    return tmp_path / "Sessions"


def speech_args(sid, data_dir):
    defaults = {k: v for k, v in to_flags(SpeechConfig()).items() if k not in NOT_DEPS}
    return " ".join(f"-{k}={v}" for k, v in defaults.items()) + f" -data_dir={data_dir} -session_id={sid}"


def test_bsub_dry_run_is_the_original_leonhard_request(repo_cwd, capsys):
    rc, summary, commands, _, _ = run_train(
        capsys, "-exp", "golden_speech", "-mode=bsub", "-dry_run", f"-cache_dir={repo_cwd}"
    )
    assert rc == 0 and summary == (1, 1, 0, 0) and len(commands) == 1
    sid = int(commands[0][2].removeprefix("Resources/Logs/").removesuffix(".log"))
    args = speech_args(sid, "/cluster/scratch/jdoe/speech_dataset")
    original = shlex.split(ORIGINAL_BSUB.format(session_id=sid, code_file="main_speech_lsnn.py", args=args))
    original[2] = f"Resources/Logs/{sid}.log"  # the one documented change: Resources/Logs/<sid>.log
    assert commands[0] == original
    assert args.startswith("-beta_robustness=1.0 -n_attack_steps=10 -attack_size_mismatch=2.0 ")
    assert " -learning_rate=0.001,0.0001 -n_epochs=64,16 -lr_schedule_quirk=True " in args
    assert len(shlex.split(commands[0][-1])) == 2 + 65 + 2  # python3, script, 65 hyperparameters, data, sid


def test_sbatch_dry_run_and_data_dir_per_mode(repo_cwd, capsys, monkeypatch):
    _, summary, [cmd], _, _ = run_train(
        capsys, "-exp", "golden_speech", "-mode=sbatch", "-dry_run", f"-cache_dir={repo_cwd}"
    )
    sid = int(cmd[2].removeprefix("--job-name="))
    assert summary == (1, 1, 0, 0) and cmd == [
        "sbatch", "--parsable", f"--job-name={sid}", f"--output=Resources/Logs/{sid}.log",
        "--open-mode=append",
        "--time=24:00:00", "--ntasks=1", "--cpus-per-task=16", "--mem-per-cpu=4096",
        "--wrap", "python3 main_speech_lsnn.py " + speech_args(sid, "/cluster/scratch/jdoe/speech_dataset"),
    ]  # fmt: skip
    monkeypatch.delenv("SCRATCH")  # no $SCRATCH: the local dataset directory ($SPEECH_COMMANDS_DIR here)
    _, _, [cmd], _, _ = run_train(
        capsys, "-exp", "golden_speech", "-mode=sbatch", "-dry_run", f"-cache_dir={repo_cwd}"
    )
    assert flag(cmd[-1], "data_dir") == os.environ["SPEECH_COMMANDS_DIR"] and flag(
        cmd[-1], "session_id"
    ) == str(sid)
    _, _, [cmd], _, _ = run_train(capsys, "-exp", "golden_speech", "-dry_run", f"-cache_dir={repo_cwd}")
    assert cmd[:2] == [sys.executable, "main_speech_lsnn.py"] and not any(
        w.startswith("-data_dir") for w in cmd
    )
    assert cmd[2:] == shlex.split(speech_args(sid, "X"))[:-2] + [f"-session_id={sid}"]  # direct: no data_dir


def test_group_seeds_trains_seed_groups_in_one_process(repo_cwd, capsys):
    base = ("-exp", "four_seeds", "-dry_run", f"-cache_dir={repo_cwd}", "-mode=sbatch")
    _, summary, singles, _, _ = run_train(capsys, *base)
    assert summary == (4, 4, 0, 0)
    sid_of = {int(flag(c[-1], "seed")): flag(c[-1], "session_id") for c in singles}
    assert sorted(sid_of) == [0, 1, 2, 3]
    _, summary, groups, _, _ = run_train(capsys, *base, "-group_seeds=2", "-n_cpus=2")
    assert summary == (4, 2, 0, 0)
    assert [flag(c[-1], "vmap_seeds") for c in groups] == ["0,1", "2,3"]
    assert [flag(c[-1], "session_ids") for c in groups] == [
        f"{sid_of[0]},{sid_of[1]}",
        f"{sid_of[2]},{sid_of[3]}",
    ]
    assert all("-seed=" not in c[-1] and "-session_id=" not in c[-1] for c in groups)
    assert [c[2] for c in groups] == [
        f"--job-name={sid_of[0]}",
        f"--job-name={sid_of[2]}",
    ]  # first sid names it
    assert "--cpus-per-task=2" in groups[0]
    _, summary, groups, _, _ = run_train(capsys, *base, "-group_seeds=3")
    assert summary == (4, 2, 0, 0) and [c[-1].count("-vmap_seeds=0,1,2 ") for c in groups] == [1, 0]
    assert flag(groups[1][-1], "seed") == "3"  # a group of one is an ordinary single-seed run


def test_duplicates_overrides_and_the_cache_key(repo_cwd, capsys):
    base = ("-dry_run", f"-cache_dir={repo_cwd}")
    _, summary, plain, _, _ = run_train(capsys, "-exp", "four_seeds", *base)
    _, summary2, both, _, _ = run_train(capsys, "-exp", "four_seeds", "four_seeds_copy", *base)
    assert (
        summary == summary2 == (4, 4, 0, 0) and both == plain
    )  # the copy spells the same 4 models differently
    _, summary, hidden, _, _ = run_train(capsys, "-exp", "four_seeds", *base, "-n_hidden=16", "--max_steps=7")
    assert summary == (4, 4, 0, 0)
    assert {flag(c, "n_hidden") for c in hidden} == {"16"} and {flag(c, "n_hidden") for c in plain} == {"256"}
    assert {flag(c, "max_steps") for c in hidden} == {"7"}
    assert not {flag(c, "session_id") for c in hidden} & {flag(c, "session_id") for c in plain}  # new keys
    _, _, same, _, _ = run_train(
        capsys, "-exp", "four_seeds", *base, "-beta_robustness=0.50", "-n_epochs=32, 8"
    )
    assert same == plain  # overrides equal to the values (other spellings) are the same models
    rows = A.dj.database.list_sessions(str(repo_cwd / "sessions.db"), "ecg_lsnn")
    assert len(rows) == 8 and sorted({r["dependencies"]["model:n_hidden"] for r in rows}) == [16, 256]
    _, summary, bare, _, _ = run_train(
        capsys, "-exp", "four_seeds", *base, "-treat_as_constant", "-data_dir=/d/a=b"
    )
    assert {flag(c, "treat_as_constant") for c in bare} == {"True"} and {
        flag(c, "data_dir") for c in bare
    } == {"/d/a=b"}
    _, summary, forced, _, _ = run_train(capsys, "-exp", "four_seeds", *base, "-force")
    assert summary == (4, 4, 0, 0) and not {flag(c, "session_id") for c in forced} & {
        flag(c, "session_id") for c in plain
    }


def test_done_models_are_skipped_and_rejected_ones_relaunched(tmp_path, capsys):
    args = (
        "-exp",
        "four_seeds",
        "-dry_run",
        f"-cache_dir={tmp_path / 'S'}",
        f"-resources_dir={tmp_path / 'R'}",
    )
    _, _, first, _, _ = run_train(capsys, *args)
    sids = [int(flag(c, "session_id")) for c in first]
    assert {flag(c, "resources_dir") for c in first} == {str(tmp_path / "R")}
    for sid in sids:  # what four finished trainings leave behind
        artifacts.write_results(tmp_path / "R", sid, {"training_accuracy": [0.5], "done": [True]})
        files.write_json(artifacts.model_path(tmp_path / "R", sid), {"params": {}, "theta": {}})
    rc, summary, again, _, _ = run_train(capsys, *args)
    assert rc == 0 and summary == (0, 0, 4, 0) and again == []
    artifacts.results_path(tmp_path / "R", sids[2]).unlink()
    _, summary, again, _, _ = run_train(capsys, *args)
    assert summary == (1, 1, 3, 0) and [int(flag(c, "session_id")) for c in again] == [sids[2]]  # same id


def test_still_queued_jobs_are_not_submitted_twice(tmp_path, capsys, monkeypatch):
    bin_dir, logs = tmp_path / "bin", tmp_path / "logs"
    bin_dir.mkdir()
    for tool, states in (("squeue", {"42": "RUNNING", "43": "PENDING", "44": ""}), ("bjobs", {"45": "RUN"})):
        cases = "".join(f"  {job}) echo {s};;\n" for job, s in states.items())  # answers for the job id
        (bin_dir / tool).write_text(f'#!/bin/sh\nfor a; do case "$a" in\n{cases}esac; done\n')
        (bin_dir / tool).chmod(0o755)
    args = (
        "-exp",
        "four_seeds",
        "-dry_run",
        "-mode=sbatch",
        f"-cache_dir={tmp_path / 'S'}",
        f"-log_dir={logs}",
    )
    _, _, first, _, _ = run_train(capsys, *args)
    sids = [flag(c[-1], "session_id") for c in first]
    logs.mkdir()
    for sid, mode, job in zip(sids, ["sbatch", "sbatch", "sbatch", "bsub"], ["42", "43", "44", "45"]):
        (logs / f"{sid}.submit.json").write_text(json.dumps({"mode": mode, "job_id": job, "session_id": sid}))
    monkeypatch.setenv("PATH", str(bin_dir))
    _, summary, again, out, _ = run_train(capsys, *args)
    assert summary == (1, 1, 0, 3) and [flag(c[-1], "session_id") for c in again] == [sids[2]]  # job 44 ended
    seed = flag(first[0][-1], "seed")
    assert f"# ecg_lsnn seed={seed} beta_robustness=0.5: session {sids[0]} is still queued;" in out
    (bin_dir / "bjobs").unlink()
    _, summary, again, _, err = run_train(capsys, *args)
    assert summary == (2, 2, 0, 2) and "warning: bjobs not found" in err
    _, summary, _, _, _ = run_train(capsys, *args, "-force")
    assert summary == (4, 4, 0, 0)  # -force: new session ids, nothing is queued under them


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-bogus=1"], "unknown flag -bogus: not a train.py option (see --help); overrides: Dense, "),
        (["-n_hidden"], "-n_hidden needs a value: -n_hidden=VALUE"),
        (["-n_hidden=a=b"], "bad value 'a=b' for -n_hidden (expected int)"),
        (["-optimizer=rmsprop"], "bad value 'rmsprop' for -optimizer; valid choices: adam, sgd"),
        (["-session_id=3"], "-session_id is set by train.py for each launch"),
        (["stray"], "unexpected argument 'stray'; flags look like -key=value"),
        (["-group_seeds=0"], "-n_threads and -group_seeds must be >= 1"),
        (["-mode=pbs"], "argument -mode: invalid choice: 'pbs'"),
    ],
)
def test_bad_command_lines_are_clear_errors(args, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        train.main(["-exp_dir", str(FIXTURES), "-exp", "four_seeds", "-dry_run", *args])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_bad_experiments_and_settings_exit_2(tmp_path, capsys):
    (tmp_path / "broken.py").write_text("class other:\n    pass\n")
    assert train.main([f"-exp_dir={tmp_path}", "-dry_run"]) == 2
    assert f"{tmp_path}/broken.py defines no class broken" in capsys.readouterr().err
    assert train.main([f"-exp_dir={FIXTURES}", "-exp", "nope", "-dry_run"]) == 2
    assert "no Experiment ['nope'] in" in capsys.readouterr().err
    assert train.main([f"-exp_dir={FIXTURES}", "-exp", "four_seeds", "-wall_time=24h", "-dry_run"]) == 2
    assert "LaunchSettings.wall_time='24h'" in capsys.readouterr().err


def test_help_documents_every_option():
    proc = subprocess.run(
        [sys.executable, "train.py", "--help"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0
    options = "-exp_dir -profile -mode -n_threads -dry_run -force -group_seeds -n_cpus -mem_per_cpu"
    options += " -wall_time -queue -gpus -log_dir -python -cache_dir -resources_dir n_hidden max_steps"
    for option in [
        *options.split(),
        "-exp NAME [NAME ...]",
        "(default: 4096)",
        "(default: 24:00)",
        "{full,quick,smoke}",
    ]:
        assert option in " ".join(proc.stdout.split()), option  # argparse wraps lines


def test_profile_reaches_train_grid(tmp_path, capsys):
    _, summary, cmds, _, _ = run_train(
        capsys, "-exp", "four_seeds", "-profile=smoke", "-dry_run", f"-cache_dir={tmp_path}"
    )
    assert summary == (2, 2, 0, 0) and [flag(c, "seed") for c in cmds] == ["0", "1"]


def test_direct_mode_trains_what_is_missing_for_real(mitdb_dir, tmp_path, capsys, monkeypatch):
    # the scripts share tests/conftest.py's persistent XLA cache ($JAX_COMPILATION_CACHE_DIR): same shapes
    monkeypatch.chdir(tmp_path)
    res = tmp_path / "R"
    args = ("-exp", "tiny_ecg", f"-cache_dir={tmp_path / 'S'}", f"-resources_dir={res}")
    rc, summary, _, out, _ = run_train(capsys, *args)
    assert rc == 0 and summary == (2, 2, 0, 0), out
    rows = A.dj.database.list_sessions(str(tmp_path / "S" / "sessions.db"), "ecg_lsnn")
    sid_of = {r["dependencies"]["model:seed"]: r["session_id"] for r in rows}
    assert sorted(sid_of) == [0, 1]
    for seed, sid in sid_of.items():
        assert artifacts.results_complete(res, sid)
        params = json.loads(artifacts.model_path(res, sid).read_text())["params"]
        assert (params["seed"], params["session_id"], params["n_hidden"], params["max_steps"]) == (
            seed,
            sid,
            8,
            10,
        )
        log = json.loads(artifacts.results_path(res, sid).read_text())
        assert len(log["training_accuracy"]) == 1 and len(log["validation_accuracy"]) == 1  # 10 steps
    assert run_train(capsys, *args)[1] == (0, 0, 2, 0)  # nothing to do
    artifacts.results_path(res, sid_of[1]).unlink()
    rc, summary, _, out, _ = run_train(capsys, *args)
    assert rc == 0 and summary == (1, 1, 1, 0) and f"session(s) {sid_of[1]} " in out
    assert artifacts.results_complete(res, sid_of[1])  # retrained under the same session id
    assert (res / "Logs" / f"{sid_of[1]}.log").read_text().count(
        "iteration 10: validation accuracy"
    ) == 2  # appended


def test_direct_mode_reports_a_failed_training(mitdb_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = (
        "-exp",
        "tiny_ecg_failing",
        "-n_threads=2",
        f"-cache_dir={tmp_path / 'S'}",
        f"-resources_dir={tmp_path}",
    )
    rc, summary, _, out, err = run_train(capsys, *args)
    [sid] = [
        r["session_id"] for r in A.dj.database.list_sessions(str(tmp_path / "S" / "sessions.db"), "ecg_lsnn")
    ]
    log = tmp_path / "Logs" / f"{sid}.log"
    assert rc == 1 and summary == (1, 1, 0, 0) and out.rstrip().endswith("still queued 0, failed 1")
    assert f"train.py: error: sessions [{sid}] exited with 1 (log {log})" in err
    assert "-n_layer=2: only one recurrent layer is supported" in log.read_text()
    assert "recurrent layer" not in out  # with -n_threads > 1 the scripts' output goes to the logs only
    assert json.loads((tmp_path / "Logs" / f"{sid}.submit.json").read_text())["returncode"] == 1


def test_warm_start_grid_trains_parents_first_and_children_from_them(
    mitdb_dir, tmp_path, capsys, monkeypatch
):
    # grid elements whose init_from is a grid element: the parents are trained first, then each child
    # continues from its own seed's parent (-init_froms in a vmapped seed group); loading resolves the same
    monkeypatch.chdir(tmp_path)
    res, cache = tmp_path / "R", tmp_path / "S"
    args = ("-exp", "tiny_warm", f"-cache_dir={cache}", f"-resources_dir={res}", "-group_seeds=2")
    rc, summary, commands, out, err = run_train(capsys, "-mode=sbatch", "-dry_run", *args)
    assert rc == 0 and summary[:2] == (2, 1), out  # sbatch: only the two parents (one seed group) now
    assert out.count("continues from session") == 4 and "run train.py again once it has finished" in out
    rc, summary, _, out, err = run_train(capsys, *args)
    assert rc == 0 and summary == (6, 3, 0, 0), out + err  # parents (1 job), then the β = 0 and β = 1 pairs
    rows = A.dj.database.list_sessions(str(cache / "sessions.db"), "ecg_lsnn")
    parents = {
        r["dependencies"]["model:seed"]: r["session_id"]
        for r in rows
        if r["dependencies"]["model:max_steps"] == 10
    }
    children = [r for r in rows if r["dependencies"]["model:max_steps"] == 20]
    assert len(parents) == 2 and len(children) == 4
    for row in children:
        seed, sid = row["dependencies"]["model:seed"], row["session_id"]
        assert row["dependencies"]["model:init_from"] == parents[seed]
        params = json.loads(artifacts.model_path(res, sid).read_text())["params"]
        assert params["init_from"] == parents[seed] and params["seed"] == seed
        log = json.loads(artifacts.results_path(res, sid).read_text())
        assert log["validation_step"] == [20]  # iterations 11..20 continue the parent's 1..10
    assert run_train(capsys, *args)[1] == (0, 0, 6, 0)  # nothing to do
    ((_, experiment),) = load_experiments(["tiny_warm"], FIXTURES)
    loaded = A.load_models(experiment.train_grid(), dirs=A.Dirs(resources_dir=res, cache_dir=cache))
    assert sorted(m["init_from"] for m in loaded) == sorted([parents[0], parents[0], parents[1], parents[1]])
