"""The session's real one-node SLURM cluster (docs/cluster.md §1, §4 "Tests" item 4).

``slurm`` reuses the cluster named by an exported ``$SLURM_CONF`` if it answers (``.ci/run`` starts one with
``slurm-up.sh``); otherwise, as root with slurmctld/slurmd/sbatch installed, it starts its own in a short
temporary directory on free ports and tears it down (only the PIDs it started) in a ``finally``. When neither
is possible the cluster tests skip on a developer machine and FAIL under ``CI=true`` (tests/conftest.py's
``require``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _root_conftest():
    # tests/conftest.py is imported by pytest as the module "conftest", a name this file shares, so it
    # cannot simply be imported; load it under its own name to use the one CI rule (require).
    spec = importlib.util.spec_from_file_location("_tests_root_conftest", HERE.parent / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


require = _root_conftest().require


@dataclass(frozen=True)
class SlurmCluster:
    """A running cluster: its config, job-completion file, and the node's CPUs and (fake) GPUs."""

    conf: Path
    jobcomp: Path
    cpus: int
    gpus: int

    def records(self) -> dict[str, dict[str, str]]:
        """``jobcomp.txt`` as {job id: {field: value}}; one line per finished job (JobState=, ExitCode=)."""
        if not self.jobcomp.exists():
            return {}
        out = {}
        for line in self.jobcomp.read_text().splitlines():
            fields = dict(re.findall(r"(\w+)=(\S*)", line))
            if "JobId" in fields:
                out[fields["JobId"]] = fields
        return out

    def wait(self, job_ids, timeout: float = 60.0) -> dict[str, dict[str, str]]:
        """Poll until every job in ``job_ids`` has its completion record; return those records."""
        wanted = {str(j) for j in job_ids}
        deadline = time.monotonic() + timeout
        while True:
            found = {j: r for j, r in self.records().items() if j in wanted}
            if len(found) == len(wanted):
                return found
            if time.monotonic() > deadline:
                queue = _run(["squeue", "-h", "-o", "%i %T %r"]).stdout
                pytest.fail(
                    f"jobs {sorted(wanted - set(found))} unfinished after {timeout} s; squeue:\n{queue}"
                )
            time.sleep(0.2)


def _run(argv, timeout: float = 20, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout, **kw)


def _responsive() -> bool:
    try:
        state = _run(["sinfo", "-h", "-o", "%T"], timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return bool(re.match(r"(idle|mix|alloc)", state.strip()))


def _describe(conf: Path) -> SlurmCluster:
    text = conf.read_text()
    jobcomp = re.search(r"^JobCompLoc=(\S+)", text, re.MULTILINE)
    require(jobcomp is not None, f"JobCompType=jobcomp/filetxt with JobCompLoc in {conf}")
    cpus = int(_run(["sinfo", "-h", "-o", "%c"]).stdout.split()[0])
    gres = _run(["sinfo", "-h", "-o", "%G"]).stdout.strip()
    match = re.search(r"gpu:(?:\w+:)?(\d+)", gres)
    return SlurmCluster(conf, Path(jobcomp.group(1)), cpus, int(match.group(1)) if match else 0)


def _free_port_pair() -> int:
    """A port P with P and P+1 free (slurmctld and slurmd), so a second test cluster does not collide."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 65000:
            with socket.socket() as s2:
                try:
                    s2.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port pair found")


@pytest.fixture(scope="session")
def slurm():
    """The running cluster (reused via $SLURM_CONF, or started here and stopped at the end of the session)."""
    if os.environ.get("SLURM_CONF") and _responsive():
        yield _describe(Path(os.environ["SLURM_CONF"]))
        return
    tools = all(shutil.which(t) for t in ("slurmctld", "slurmd", "sbatch", "sinfo"))
    require(
        os.geteuid() == 0 and tools,
        "a SLURM cluster (export SLURM_CONF of a running one, or run as root with the Debian packages "
        "slurmctld slurmd slurm-client munge installed)",
    )
    state_dir = tempfile.mkdtemp(prefix="slurm-", dir="/tmp")  # short: socket paths are limited to 108 chars
    env = dict(os.environ, SLURM_CI_PORT=str(_free_port_pair()))
    env.setdefault("SLURM_CI_GPUS", "1")
    old_conf = os.environ.get("SLURM_CONF")
    try:
        up = _run(["bash", str(HERE / "slurm-up.sh"), state_dir], env=env, timeout=120)
        require(up.returncode == 0, f"a local SLURM (slurm-up.sh failed: {up.stderr.strip()[-1500:]})")
        os.environ["SLURM_CONF"] = str(Path(state_dir) / "slurm.conf")
        yield _describe(Path(os.environ["SLURM_CONF"]))
    finally:
        _run(["bash", str(HERE / "slurm-down.sh"), state_dir], timeout=120)
        if old_conf is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old_conf
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture
def slurm_with_gpu(slurm):
    """The cluster, required to advertise at least one (fake) GPU."""
    require(
        slurm.gpus >= 1, "a SLURM node with fake GPU GRES (slurm-up.sh with SLURM_CI_GPUS>=1, the default)"
    )
    return slurm
