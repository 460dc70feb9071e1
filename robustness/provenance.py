"""Where a figure's numbers came from: the git commit (and whether tracked files differed), the versions of
the numerical libraries, the profile, the models' session ids and the time."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata

from robustness.paths import REPO_ROOT

VERSIONED = ("numpy", "scipy", "jax", "jaxlib", "matplotlib", "seaborn", "scikit-learn")


def code_version(root=REPO_ROOT) -> dict:
    """``{"git_commit": <HEAD sha or "unknown">, "git_dirty": bool | None}`` of the checkout at ``root``.

    ``git_dirty`` is True when *tracked* files differ from HEAD (untracked outputs such as figures do
    not count); None outside a git checkout.
    """
    try:
        # check=False: a non-zero exit (not a checkout) is handled below, not raised.
        run = {"cwd": root, "capture_output": True, "text": True}
        head = subprocess.run(["git", "rev-parse", "HEAD"], check=False, **run)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], check=False, **run)
    except OSError:  # no git executable
        return {"git_commit": "unknown", "git_dirty": None}
    if head.returncode != 0 or status.returncode != 0:  # not a git checkout (e.g. an exported tarball)
        return {"git_commit": "unknown", "git_dirty": None}
    return {"git_commit": head.stdout.strip(), "git_dirty": bool(status.stdout.strip())}


def versions() -> dict:
    """``{package: installed version or None}`` for ``VERSIONED``."""
    found = {}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def provenance(profile: str, session_ids: Sequence = ()) -> dict:
    """The provenance block every figure's numbers file carries."""
    return {
        "profile": profile,
        "session_ids": [str(s) for s in session_ids],
        **code_version(),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": versions(),
    }
