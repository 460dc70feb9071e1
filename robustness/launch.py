"""Launch one training process per model: directly, or as a fire-and-forget LSF (bsub) or SLURM (sbatch) job.

Every command is an argv list (never a shell string run by ``os.system``); the python command handed to a
scheduler is one ``shlex.join``-ed string, which the job's shell splits back into exactly the same argv.
The defaults reproduce the original ETH Leonhard request (docs/cluster.md §0)::

    bsub -o ../logs/{session_id} -W 24:00 -n 16 -R "rusage[mem=4096]" "python3 {code_file} {args}"

with one deliberate difference: the log is ``<log_dir>/<session_id>.log`` (default
``Resources/Logs/<sid>.log``, the original's later layout) and the directory is created before submitting.
Unlike the original, ``$SCRATCH``-style variables are expanded here (no submitting shell does it any more),
the scheduler's return code is checked, and the job id is parsed and recorded in
``<log_dir>/<sid>.submit.json``. SLURM gets the equivalent request (``--time=24:00:00``, not ``24:00``,
which SLURM reads as 24 minutes: docs/cluster.md error 13).
"""

from __future__ import annotations

import codecs
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from robustness import files

MODES = ("direct", "bsub", "sbatch")
_WALL_TIME = re.compile(r"(?:(\d+):)?(\d+)")  # LSF -W: [hours:]minutes; minutes may exceed 59 (e.g. 210)
_VAR = re.compile(r"\$(\w+|\{([^}]*)\})")  # what os.path.expandvars expands
_FLAG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # becomes a file name
_BSUB_REPLY = re.compile(r"Job <(\d+)> is submitted")
_SBATCH_REPLY = re.compile(r"(\d+)(?:;\S*)?")  # --parsable prints "<jobid>[;<cluster>]"


class LaunchError(RuntimeError):
    """A submission (or a direct run) failed; the message has the scheduler's own words and the command."""


@dataclass(frozen=True, kw_only=True)
class LaunchSettings:
    """How to start a training; the defaults are the original Leonhard request (16 cores × 4096 MB, 24 h)."""

    mode: str = "direct"  # direct | bsub | sbatch
    n_cpus: int = 16  # bsub -n / sbatch --cpus-per-task (one task)
    mem_per_cpu: int = 4096  # MB per core: bsub -R "rusage[mem=…]" (Leonhard/Euler units) / --mem-per-cpu
    wall_time: str = "24:00"  # LSF [hours:]minutes; SLURM gets H:MM:00
    queue: str = ""  # bsub -q / sbatch --partition ("" = the scheduler's default)
    gpus: int = 0  # rusage[ngpus_excl_p=N] / --gres=gpu:N
    log_dir: str = "Resources/Logs"  # one log per session: <log_dir>/<sid>.log ($VARS expanded)
    python: str = "python3"  # interpreter at the head of the python argv
    job_name: str = ""  # bsub -J / sbatch --job-name (sbatch default: the session id)
    extra_args: tuple[str, ...] = ()  # verbatim scheduler options, placed just before the command

    def __post_init__(self):
        def bad(name, why):
            raise ValueError(f"LaunchSettings.{name}={getattr(self, name)!r}: {why}")

        if self.mode not in MODES:
            bad("mode", f"expected one of {', '.join(MODES)}")
        for name, low in (("n_cpus", 1), ("mem_per_cpu", 1), ("gpus", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                bad(name, f"expected an integer >= {low}")
        if not _WALL_TIME.fullmatch(self.wall_time) or wall_minutes(self.wall_time) == 0:
            bad("wall_time", "expected LSF [hours:]minutes such as 24:00 or 90 (and not zero)")
        for name in ("queue", "job_name"):
            if re.search(r"\s", getattr(self, name)):
                bad(name, "must not contain whitespace")
        if not self.log_dir or not self.python:
            bad("log_dir" if not self.log_dir else "python", "must not be empty")


@dataclass(frozen=True)
class SubmitResult:
    """What happened: ``job_id`` is the scheduler's id (None for direct runs and dry runs)."""

    job_id: str | None
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    log_path: Path


def wall_minutes(wall_time: str) -> int:
    """LSF ``-W [hours:]minutes`` → total minutes (``"24:00"`` → 1440, ``"210"`` → 210)."""
    match = _WALL_TIME.fullmatch(wall_time)
    if not match:
        raise ValueError(f"bad wall time {wall_time!r}: expected LSF [hours:]minutes such as 24:00")
    return int(match.group(1) or 0) * 60 + int(match.group(2))


def slurm_time(wall_time: str) -> str:
    """LSF wall time → SLURM ``--time`` value ``H:MM:00`` (``"24:00"`` → ``"24:00:00"``; never ``24:00``)."""
    hours, minutes = divmod(wall_minutes(wall_time), 60)
    return f"{hours}:{minutes:02d}:00"


def expand_vars(value: str, what: str) -> str:
    """``os.path.expandvars`` that refuses unset variables (the job would get a literal ``$SCRATCH``)."""
    for match in _VAR.finditer(value):
        name = match.group(2) if match.group(2) is not None else match.group(1)
        if name not in os.environ:
            raise LaunchError(f"{what}={value!r}: environment variable ${name} is not set")
    return os.path.expandvars(value)


def _flag_value(value) -> str:
    if isinstance(value, bool):
        return str(value)  # -flag=True/False: configs.parse_cli reads both (the original dropped False)
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)  # the original 'a,b' list format (configs.to_flags)
    if value is None:
        raise TypeError("None has no command-line form")
    return str(value)


def python_argv(code_file: str | os.PathLike, flags: dict, settings: LaunchSettings) -> list[str]:
    """``[python, code_file, -k=v, …]`` in ``flags`` order, with ``$VARS`` in the values expanded here.

    Raises LaunchError naming the flag for an unset variable, a None value or a malformed flag name.
    """
    argv = [settings.python, str(code_file)]
    for key, value in flags.items():
        if not _FLAG_NAME.fullmatch(str(key)):
            raise LaunchError(f"bad flag name {key!r} (flags look like -name=value)")
        try:
            text = _flag_value(value)
        except TypeError as err:
            raise LaunchError(f"flag -{key}: {err}") from None
        argv.append(f"-{key}={expand_vars(text, f'flag -{key}')}")
    return argv


def script_comment(text: str) -> str:
    """``text`` as one shell comment line of a dry-run script: control characters are written as escapes
    (``\\n``), so no value can end the comment and start a command."""
    return "# " + "".join(repr(c)[1:-1] if ord(c) < 32 or 127 <= ord(c) < 160 else c for c in text)


def log_path(session_id: str | int, settings: LaunchSettings) -> Path:
    """``<log_dir>/<session_id>.log`` (relative paths are relative to the submitting directory, which is
    also the job's working directory under LSF and SLURM)."""
    sid = str(session_id)
    if not _SESSION_ID.fullmatch(sid):
        raise LaunchError(f"session id {sid!r} cannot name a log file (letters, digits, '._-' only)")
    return Path(expand_vars(settings.log_dir, "log_dir")) / f"{sid}.log"


def launch_argv(python_argv: list[str], session_id: str | int, settings: LaunchSettings) -> list[str]:
    """The argv that starts ``python_argv`` in ``settings.mode``.

    direct: ``python_argv`` itself. bsub: ``["bsub", "-o", log, "-W", "24:00", "-n", "16", "-R",
    "rusage[mem=4096]", (-q, -J, extra,) "<shlex.join(python_argv)>"]``. sbatch: ``["sbatch", "--parsable",
    --job-name, --output=log, --open-mode=append, --time=24:00:00, --ntasks=1, --cpus-per-task=16,
    --mem-per-cpu=4096, (--partition, --gres,) extra, "--wrap", "<shlex.join(python_argv)>"]``.
    """
    log = str(log_path(session_id, settings))
    command = shlex.join(python_argv)  # the job's /bin/sh splits it back into exactly python_argv
    s = settings
    if s.mode == "direct":
        return list(python_argv)
    if s.mode == "bsub":
        rusage = f"mem={s.mem_per_cpu}" + (f",ngpus_excl_p={s.gpus}" if s.gpus else "")
        argv = ["bsub", "-o", log, "-W", s.wall_time, "-n", str(s.n_cpus), "-R", f"rusage[{rusage}]"]
        argv += ["-q", s.queue] if s.queue else []
        argv += ["-J", s.job_name] if s.job_name else []
        return argv + list(s.extra_args) + [command]
    argv = ["sbatch", "--parsable", f"--job-name={s.job_name or session_id}", f"--output={log}"]
    argv += ["--open-mode=append", f"--time={slurm_time(s.wall_time)}", "--ntasks=1"]
    argv += [f"--cpus-per-task={s.n_cpus}", f"--mem-per-cpu={s.mem_per_cpu}"]
    argv += [f"--partition={s.queue}"] if s.queue else []
    argv += [f"--gres=gpu:{s.gpus}"] if s.gpus else []
    return argv + list(s.extra_args) + ["--wrap", command]


def parse_job_id(mode: str, stdout: str) -> str:
    """The job id in a bsub reply (``Job <123> is submitted to queue <normal>.``) or ``sbatch --parsable``."""
    if mode == "bsub":
        match = _BSUB_REPLY.search(stdout)
    else:
        lines = [ln.strip() for ln in stdout.splitlines() if ln.strip()]
        match = _SBATCH_REPLY.fullmatch(lines[-1]) if lines else None
    if not match:
        raise LaunchError(f"{mode} succeeded but its reply has no job id: {stdout.strip()!r}")
    return match.group(1)


def submit(
    argv: list[str],
    *,
    session_id: str | int,
    settings: LaunchSettings,
    dry_run: bool = False,
    tee: bool = False,
    check: bool = True,
    pass_fds: list[int] | tuple[int, ...] = (),
) -> SubmitResult:
    """Run ``argv`` (from ``launch_argv``) and return at once for bsub/sbatch, after the run for direct.

    Creates the log directory first (a missing ``--output`` directory makes SLURM fail the job silently,
    docs/cluster.md error 12). direct: stdout+stderr are appended to the log (and echoed with ``tee``).
    bsub/sbatch: the job id is parsed from the reply. Either way ``<log_dir>/<sid>.submit.json`` records
    the argv, mode, job id and return code. ``check`` (default) raises LaunchError, with the scheduler's
    message or the log's tail, when the scheduler refuses or the direct run exits non-zero; with
    ``check=False`` a failed direct run is returned with its return code (a failed submission still raises,
    since there is no job). ``dry_run`` only prints the command. ``pass_fds``: descriptors a direct run
    inherits (``train.py``'s claims, ``robustness.locks``).
    """
    path = log_path(session_id, settings)
    printable = shlex.join(argv)
    if dry_run:
        print(printable)
        return SubmitResult(None, tuple(argv), 0, "", "", path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if settings.mode == "direct":
        result = _run_direct(argv, path, tee, tuple(pass_fds))
        _record(path, settings.mode, result)
        if check and result.returncode != 0:
            raise LaunchError(
                f"session {session_id}: training exited with {result.returncode} ({printable}); "
                f"last lines of {path}:\n{_tail(path)}"
            )
        return result
    result = _run_scheduler(argv, session_id, settings.mode, path)
    _record(path, settings.mode, result)
    print(f"session {session_id}: submitted as {settings.mode} job {result.job_id} (log {path})")
    return result


def _run_scheduler(argv: list[str], session_id: str | int, mode: str, path: Path) -> SubmitResult:
    """Submit with ``bsub``/``sbatch``; a refusal raises LaunchError carrying the scheduler's message."""
    printable = shlex.join(argv)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    except FileNotFoundError:
        raise LaunchError(f"{argv[0]} not found on PATH (-mode={mode}); command: {printable}") from None
    except subprocess.TimeoutExpired:
        raise LaunchError(f"{argv[0]} did not answer within 120 s; command: {printable}") from None
    if proc.returncode != 0:
        said = (proc.stderr.strip() or proc.stdout.strip() or "(no message)").replace("\n", "\n    ")
        raise LaunchError(
            f"{argv[0]} refused session {session_id} (exit {proc.returncode}):\n    {said}\n"
            f"command: {printable}"
        )
    job_id = parse_job_id(mode, proc.stdout)
    return SubmitResult(job_id, tuple(argv), 0, proc.stdout, proc.stderr, path)


def _run_direct(argv: list[str], path: Path, tee: bool, pass_fds: tuple[int, ...] = ()) -> SubmitResult:
    """Run synchronously with stdout+stderr appended to ``path`` (and echoed to our stdout if ``tee``)."""
    try:
        with open(path, "ab") as log:
            if not tee:
                rc = subprocess.run(
                    argv, stdout=log, stderr=subprocess.STDOUT, check=False, pass_fds=pass_fds
                ).returncode
            else:
                decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # chunks split characters
                with subprocess.Popen(
                    argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=pass_fds
                ) as proc:
                    for chunk in iter(lambda: proc.stdout.read1(1 << 16), b""):
                        log.write(chunk)
                        log.flush()
                        sys.stdout.write(decoder.decode(chunk))
                        sys.stdout.flush()
                rc = proc.returncode
    except FileNotFoundError:
        raise LaunchError(f"cannot run {argv[0]!r}: not found (command: {shlex.join(argv)})") from None
    return SubmitResult(None, tuple(argv), rc, "", "", path)


def _record(path: Path, mode: str, result: SubmitResult) -> None:
    """Write ``<sid>.submit.json`` next to the log, atomically (``robustness.files``)."""
    target = path.with_name(path.stem + ".submit.json")
    entry = {
        "session_id": path.stem,
        "mode": mode,
        "job_id": result.job_id,
        "returncode": result.returncode,
        "argv": list(result.argv),
        "time": time.time(),
    }
    files.write_json(target, entry, indent=1)


def _tail(path: Path, n: int = 15) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(log unreadable)"
    return "\n".join(lines[-n:])
