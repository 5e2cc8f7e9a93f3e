"""The CLI's reliability defects, each one line on stderr, no traceback, nothing lost."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jaxsae.app import lineage
from jaxsae.app.cli import main

ROOT = Path(__file__).resolve().parents[3]


def _one_line_error(capsys, rc: int) -> str:
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    lines = [line for line in err.splitlines() if "error:" in line or "Traceback" in line]  # progress lines aside
    assert len(lines) == 1 and "Traceback" not in err and lines[0] == err.splitlines()[-1], err
    return lines[0]


@pytest.fixture
def run_copy(tiny_run: Path, tmp_path) -> Path:
    """A private copy of the shared tiny run (data/, rec/, sae/ made through the CLI)."""
    dst = tmp_path / "run"
    shutil.copytree(tiny_run, dst, ignore=shutil.ignore_patterns("analysis", "interventions",
                                                                                     "ablation", "report"))
    return dst


@pytest.mark.slow
def test_a_failed_retrain_keeps_the_good_sae(run_copy: Path, capsys, monkeypatch) -> None:
    from jaxsae.errors import TrainingDivergedError

    before = (run_copy / "sae" / "metrics.json").read_bytes()

    def diverges(two_tower, data, config, out_dir=None, resume=False, log=print):
        (Path(out_dir) / "history.json").write_text("[]")  # a half-written retrain ...
        raise TrainingDivergedError("SAE training diverged: non-finite loss at step 2")  # ... that diverges

    monkeypatch.setattr("jaxsae.app.stages.train_sae.train_sae", diverges)  # the name the stage calls
    rc = main(["train-sae", str(run_copy), "--sae", "topk", "--lr", "1e6"])
    assert "diverged" in _one_line_error(capsys, rc)
    monkeypatch.undo()
    assert (run_copy / "sae" / "metrics.json").read_bytes() == before and lineage.status(run_copy, "sae").ok
    assert json.loads((lineage.work_dir(run_copy, "sae") / "stage.json").read_text())["status"] == "failed"
    # --latents 100000000 is refused before anything is allocated, and the good SAE is still there
    rc = main(["train-sae", str(run_copy), "--sae", "topk", "--latents", "100000000"])
    assert "needs at least" in _one_line_error(capsys, rc) and (run_copy / "sae" / "metrics.json").read_bytes() == before


@pytest.mark.slow
def test_reprepared_data_makes_later_stages_refuse_stale_inputs(run_copy: Path, capsys) -> None:
    assert main(["prepare", "synthetic", "--size", "tiny", "--seed", "1", "--out", str(run_copy)]) == 0
    capsys.readouterr()
    line = _one_line_error(capsys, main(["train-sae", str(run_copy)]))
    assert f"{run_copy / 'rec'} was made from an older {run_copy / 'data'}; rerun: jaxsae train-rec" in line
    line = _one_line_error(capsys, main(["analyze", str(run_copy)]))
    assert f"sae was made from {run_copy / 'rec'}, which is now stale; rerun: jaxsae train-rec" in line
    line = _one_line_error(capsys, main(["intervene", str(run_copy), "--filter", "Horror"]))
    assert "rerun: jaxsae train-rec" in line  # the first stage to redo, not the one that reads it
    assert not (run_copy / "analysis").exists() and not (run_copy / "interventions").exists()


@pytest.mark.slow
def test_a_killed_training_is_refused_as_input(run_copy: Path, capsys) -> None:
    (run_copy / "sae" / "stage.json").unlink()  # a legacy run directory ...
    (run_copy / "sae" / "metrics.json").unlink()  # ... whose training was killed before its metrics
    line = _one_line_error(capsys, main(["analyze", str(run_copy)]))
    assert "sae is unfinished (no metrics.json" in line and "rerun: jaxsae train-sae" in line


@pytest.mark.slow
def test_corrupt_files_are_one_line_errors(run_copy: Path, capsys) -> None:
    (run_copy / "sae" / "checkpoint.json").write_text("{not json")
    assert "corrupt checkpoint metadata" in _one_line_error(capsys, main(["intervene", str(run_copy), "--filter", "Horror"]))
    (run_copy / "data" / "data.npz").write_bytes(b"PK\x03\x04 truncated")
    assert "data.npz: expected the arrays" in _one_line_error(capsys, main(["train-rec", str(run_copy)]))
    (run_copy / "data" / "meta.json").write_text("{")
    assert "meta.json" in _one_line_error(capsys, main(["train-rec", str(run_copy)]))


@pytest.mark.slow
def test_intervene_checks_against_the_data_and_help_shows_the_real_levels(tiny_run: Path, capsys) -> None:
    run = tiny_run
    line = _one_line_error(capsys, main(["intervene", str(run), "--filter", "Horror", "--k", "100000"]))
    assert "--k 100000 is larger than the catalogue" in line
    line = _one_line_error(capsys, main(["intervene", str(run), "--filter", "Horrr"]))
    assert "Horror" in line  # close match offered
    assert main(["intervene", "--help"]) == 0
    assert "[default: filter 0..-3, nudge 1..4, promote 0..8, benchmark 0..4]" in " ".join(capsys.readouterr().out.split())


def test_train_sae_refuses_k_for_an_sae_without_k(tmp_path: Path, capsys) -> None:
    line = _one_line_error(capsys, main(["train-sae", str(tmp_path), "--sae", "tied", "--k", "4"]))
    assert "--k applies to TopK SAEs only" in line


def test_prepare_refuses_outputs_it_could_not_write_before_any_work(tmp_path: Path, capsys) -> None:
    (tmp_path / "file").write_text("x")
    line = _one_line_error(capsys, main(["prepare", "synthetic", "--size", "tiny", "--out", str(tmp_path / "file")]))
    assert "is a file, not a run directory" in line
    (tmp_path / "run" / "data").parent.mkdir()
    (tmp_path / "run" / "data").write_text("x")
    line = _one_line_error(capsys, main(["prepare", "synthetic", "--size", "tiny", "--out", str(tmp_path / "run")]))
    assert "data is a file" in line
    line = _one_line_error(capsys, main(["prepare", "synthetic", "--size", "tiny", "--n-test", "1000",
                                         "--out", str(tmp_path / "r2")]))
    assert "nothing could be evaluated" in line and not (tmp_path / "r2" / "data").exists()


def test_os_errors_are_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    import jaxsae.app.stages.report as report

    def unreadable(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "x.json"))

    monkeypatch.setattr(report, "run", unreadable)
    line = _one_line_error(capsys, main(["report", str(tmp_path)]))
    assert line == f"jaxsae report: error: Permission denied: {tmp_path / 'x.json'}"


def test_prepare_keeps_the_old_data_when_killed_and_leaks_no_temp_dirs(tmp_path: Path, monkeypatch) -> None:
    import data_prep.atomic as atomic

    run = tmp_path / "run"
    assert main(["prepare", "synthetic", "--size", "tiny", "--out", str(run)]) == 0
    before = (run / "data" / "data.npz").read_bytes()

    def killed(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic, "swap_in", killed)
    import jaxsae.app.lineage as lin

    monkeypatch.setattr(lin, "swap_in", killed)
    assert main(["prepare", "synthetic", "--size", "tiny", "--seed", "5", "--out", str(run)]) == 130
    assert (run / "data" / "data.npz").read_bytes() == before and lineage.status(run, "data").ok
    monkeypatch.undo()
    assert main(["prepare", "synthetic", "--size", "tiny", "--seed", "5", "--out", str(run)]) == 0
    assert sorted(p.name for p in run.iterdir()) == ["data"]  # no .data.tmp-*, no work dir left


def test_run_dry_run_into_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(f"{sys.executable} -m jaxsae run --dataset synthetic --out {tmp_path / 'r'} --dry-run | head -1",
                          shell=True, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.stdout.startswith("prepare") and "Traceback" not in proc.stderr and "Error" not in proc.stderr
