"""Test set-up: 4 fake CPU devices for the pmap path, and the optional real-data folder."""
import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from pathlib import Path  # noqa: E402
from typing import Optional  # noqa: E402

import pytest  # noqa: E402


def real_data_dir(name: str) -> Optional[Path]:
    """`$JAXSAE_DATA_DIR/name` when that folder exists (real distributions), else None."""
    root = os.environ.get("JAXSAE_DATA_DIR")
    if not root:
        return None
    p = Path(root) / name
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
