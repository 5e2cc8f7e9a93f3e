"""Test set-up: 4 fake CPU devices for the pmap path, a persistent JAX compilation cache, the optional real-data
folder, and isolation from the environment the suite runs in (a test reads `$JAXSAE_DATA_DIR` or `$JAXSAE_CACHE`
only when it sets them itself).

The compilation cache (`.pytest_cache/jax-compilation-cache/` beside the tests, or `$JAX_COMPILATION_CACHE_DIR`
when set) keeps every compiled XLA program, however small, keyed by its HLO and compile options: a program that
another test, a subprocess (`python -m jaxsae ...` inherits the variables set here) or an earlier session
already compiled is loaded instead of compiled again. A clean clone starts with an empty one."""
import fcntl
import os
import shutil
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
JAX_CACHE_DIR = Path(os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".pytest_cache" / "jax-compilation-cache")))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")  # cache every program...
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")  # ...of any size
JAX_CACHE_DIR.mkdir(parents=True, exist_ok=True)

from typing import Optional  # noqa: E402

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_compilation_cache_dir", str(JAX_CACHE_DIR))  # in case jax was imported before this file
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)

# Read once at start-up: the real-data tests name this folder explicitly; every other test runs without it.
REAL_DATA_ROOT = os.environ.get("JAXSAE_DATA_DIR")


def pytest_collection_modifyitems(config, items) -> None:
    """The files holding `slow` tests run first (a stable sort: the order within a file is kept). `make test`
    hands whole files to its workers in this order (pytest-xdist `--dist loadfile --no-loadscope-reorder`), so
    the longest files start at once and the session does not end with one worker busy on a long file while
    the other has nothing left to do."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


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


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One tiny real run directory (data/, rec/, sae/; `run_fixtures.build_tiny_run`) for the whole session.

    Under pytest-xdist the run is trained once for all workers (the first worker to ask builds it in the
    session's shared temporary folder while holding a file lock; the others wait, then find it) and each
    worker gets its own copy, so the tests that write into it (analysis/, interventions/, ablation/) never
    share files across processes, as in a single-process session."""
    from run_fixtures import build_tiny_run

    mine = tmp_path_factory.mktemp("tiny") / "run"
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return build_tiny_run(mine)
    shared = tmp_path_factory.getbasetemp().parent / "tiny-run-shared"  # the parent is common to all workers
    with open(f"{shared}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (shared / "built").exists():
            shutil.rmtree(shared, ignore_errors=True)  # a build that failed in another worker
            build_tiny_run(shared / "run")
            (shared / "built").touch()
    shutil.copytree(shared / "run", mine)
    return mine
