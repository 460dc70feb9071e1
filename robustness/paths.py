"""Repository-relative locations; nothing else in the package depends on the current directory."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RESOURCES = REPO_ROOT / "Resources"
SESSIONS = REPO_ROOT / "Sessions"
