"""The README's promises: the set-up commands, and its Python example runs exactly as written."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def python_blocks() -> list:
    return re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_setup_commands_and_sections() -> None:
    assert "make demo" in README and "make test" in README
    for must in ('pip install -e ".[cuda]"', "--devices", "xla_force_host_platform_device_count",
                 "jax.distributed.initialize()", "jaxsae prepare ml-1m --download", "--data-dir", "matplotlib",
                 "pyarrow", "TwoTower.create(", "train_sae("):
        assert must in README, must
    for name in ("ml1m-mf", "ml1m-ncf", "lastfm-mf", "lastfm-ncf", "lastfm-matryoshka"):  # configs it names exist
        assert f"`{name}`" in README and (ROOT / "experiments" / "configs" / f"{name}.json").exists()


def test_readme_is_short_and_links_every_doc() -> None:
    """A newcomer's five minutes: under 300 lines, and every page of docs/ reachable from it."""
    assert len(README.splitlines()) < 300
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"](docs/{page.name})" in README, page.name


def test_docs_cite_nothing_outside_the_repository() -> None:
    """The project speaks for itself: no file of the docs cites a document the repository does not hold."""
    outside = re.compile(r"\bSPEC\b|§|\bissue \d+|DESIGN\.md")
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            assert not outside.search(line), f"{path.name}:{n}: {line.strip()}"


def test_readme_commands_name_real_scripts() -> None:
    """Every `python -m experiments.X` and `python scripts/X.py` the README or docs/ show exists."""
    texts = [README] + [p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md"))]
    for text in texts:
        for module in re.findall(r"python -m (experiments\.\w+)", text):
            assert (ROOT / (module.replace(".", "/") + ".py")).exists(), module
        for script in re.findall(r"python (scripts/\w+\.py)", text):
            assert (ROOT / script).exists(), script


def test_python_example_runs_as_written(tmp_path: Path) -> None:
    blocks = [b for b in python_blocks() if "TwoTower.create" in b]  # the other block needs a cluster
    assert len(blocks) == 1
    script = tmp_path / "example.py"
    script.write_text(blocks[0])
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)  # as a user would run it: one device
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, env=env,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    m = re.search(r"FVU ([\d.]+), L0 ([\d.]+), active latents per item (\d+)", res.stdout)
    assert m, res.stdout[-1000:]
    assert float(m.group(1)) < 1.0 and float(m.group(2)) == 4.0 and int(m.group(3)) <= 4
