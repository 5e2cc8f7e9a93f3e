"""docs/BYO.md's walk-through ("Factors trained elsewhere") runs as written: export-split, an outside
model (implicit ALS), import-rec, `jaxsae run` on the imported model, and steering from Python."""
from __future__ import annotations

import json
import re
import runpy
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BYO = (ROOT / "docs" / "BYO.md").read_text(encoding="utf-8")
TITLE = "## Factors trained elsewhere"


def section() -> str:
    start = BYO.index(TITLE)
    end = BYO.find("\n## ", start + len(TITLE))
    return BYO[start:] if end < 0 else BYO[start:end]


def blocks(text: str, lang: str) -> list:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


@pytest.mark.slow
def test_bring_your_own_model_walkthrough_runs(tmp_path: Path, monkeypatch, capsys) -> None:
    """Every line of the shell block, in-process (`jaxsae X` = `jaxsae.app.cli.main`, `python F` = runpy)."""
    pytest.importorskip("implicit")
    from jaxsae.app.cli import main

    sec = section()
    (shell,) = blocks(sec, "bash")
    train_py, steer_py = blocks(sec, "python")
    (config,) = blocks(sec, "json")
    assert "train_als.py" in shell and "import-rec" in shell and "export-split" in shell
    (tmp_path / "train_als.py").write_text(train_py)
    (tmp_path / "steer.py").write_text(steer_py)
    (tmp_path / "byo.json").write_text(json.dumps(json.loads(config)))
    monkeypatch.chdir(tmp_path)
    logs = []
    for line in shell.strip().splitlines():
        argv = shlex.split(line.split("#")[0])
        if not argv or argv[0] == "pip":
            continue
        if argv[0] == "jaxsae":
            assert main(argv[1:]) == 0, line
        else:
            assert argv[0] == "python", line
            monkeypatch.setattr(sys, "argv", argv[1:])
            runpy.run_path(argv[1], run_name="__main__")
        logs.append(capsys.readouterr().out)
    run = tmp_path / "runs" / "byo"
    rec = json.loads((run / "rec" / "metrics.json").read_text())
    assert rec["model"] == "imported" and rec["hit@10"] > rec["most_popular"]["hit@10"] * 0.5
    assert not rec["hidden_fit"]["suspicious"]  # trained on export-split's file: no warning
    assert "train_rec: complete (rec/), skipped" in logs[4]
    sae = json.loads((run / "sae" / "metrics.json").read_text())
    assert sae["balance_factor"] != 1.0 and "fvu_items" in sae and "rbo@30_items" in sae
    assert (run / "analysis" / "concepts.json").exists()
    assert re.search(r"filter .+ via neuron \d+: top-20 share [\d.]+ -> [\d.]+, rest RBO [\d.]+; nudge", logs[-1])
