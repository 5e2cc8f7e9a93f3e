"""Test set-up: 4 fake CPU devices for the pmap path, the optional real-data folder, and isolation from the
environment the suite runs in (a test reads `$JAXSAE_DATA_DIR` or `$JAXSAE_CACHE` only when it sets them itself)."""
import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from pathlib import Path  # noqa: E402
from typing import Optional  # noqa: E402

import pytest  # noqa: E402

# Read once at start-up: the real-data tests name this folder explicitly; every other test runs without it.
REAL_DATA_ROOT = os.environ.get("JAXSAE_DATA_DIR")


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch, tmp_path_factory):
    """No test depends on the caller's data folder or download cache: both variables are removed (the cache points
    at an empty per-session folder, so nothing reaches `~/.cache/jaxsae`)."""
    monkeypatch.delenv("JAXSAE_DATA_DIR", raising=False)
    monkeypatch.setenv("JAXSAE_CACHE", str(tmp_path_factory.getbasetemp() / "jaxsae-cache"))


def real_data_dir(name: str) -> Optional[Path]:
    """`<JAXSAE_DATA_DIR at start-up>/name` when that folder exists (real distributions), else None."""
    if not REAL_DATA_ROOT:
        return None
    p = Path(REAL_DATA_ROOT) / name
    return p if p.exists() else None


@pytest.fixture
def real_data():
    """Returns a function name -> Path that skips the test when the real dataset is absent."""
    def get(name: str) -> Path:
        p = real_data_dir(name)
        if p is None:
            pytest.skip(f"set JAXSAE_DATA_DIR to a folder holding {name}/ to run this real-data test")
        return p

    return get
