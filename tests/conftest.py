"""Shared test setup: CPU-only JAX, real-data locations, and the CI rule "missing ⇒ fail, not skip"."""

import os
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("SHARED_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
FASHION_MNIST_SYSTEM = Path("/usr/share/datasets/fashion-mnist")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# The real datasets used by tests and CI (never copied into the repository).
os.environ.setdefault("SPEECH_COMMANDS_DIR", str(SHARED_DATA / "speech_commands"))
os.environ.setdefault("MITDB_DIR", str(SHARED_DATA / "mitdb"))
os.environ.setdefault("FASHION_MNIST_DIR", str(FASHION_MNIST_SYSTEM))
os.environ.setdefault("FIGURE_MISMATCH_DIR", str(SHARED_DATA / "figure_mismatch"))
# Test processes (and the scripts they start) share one persistent XLA compilation cache.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(REPO_ROOT / ".cache" / "jax"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.1")


def require(condition: bool, what: str) -> None:
    """Skip on a developer machine when ``what`` is unavailable, but fail under CI=true."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but unavailable", pytrace=False)
    pytest.skip(f"{what} unavailable")


@pytest.fixture(scope="session")
def speech_dir() -> Path:
    path = Path(os.environ["SPEECH_COMMANDS_DIR"])
    require((path / "yes").is_dir(), f"Speech Commands data at {path}")
    return path


@pytest.fixture(scope="session")
def mitdb_dir() -> Path:
    path = Path(os.environ["MITDB_DIR"])
    require((path / "100.hea").is_file(), f"MIT-BIH records at {path}")
    return path


@pytest.fixture(scope="session")
def fashion_dir() -> Path:
    path = Path(os.environ["FASHION_MNIST_DIR"])
    require((path / "train-images-idx3-ubyte.gz").is_file(), f"Fashion-MNIST IDX files at {path}")
    return path


@pytest.fixture(scope="session")
def figure_mismatch_dir() -> Path:
    path = Path(os.environ["FIGURE_MISMATCH_DIR"])
    require((path / "c0_fast_exc_weight.npy").is_file(), f"chip measurements at {path}")
    return path
