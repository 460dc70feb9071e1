"""Fixtures for the datajuicer tests: a fresh working directory per test and a subprocess helper."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A clean current directory, so the default ``Sessions/`` cache lands in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def cache_dir(workdir):
    return str(workdir / "Sessions")


def python_argv(code: str) -> list[str]:
    """argv running ``code`` (dedented) in a fresh interpreter."""
    return [sys.executable, "-c", textwrap.dedent(code)]


def child_env(**extra: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), **extra)
    env.pop("PYTHONWARNINGS", None)
    return env


def run_python(code: str, cwd, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a new process (datajuicer importable) and return the completed process."""
    return subprocess.run(
        python_argv(code),
        cwd=cwd,
        env=child_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
