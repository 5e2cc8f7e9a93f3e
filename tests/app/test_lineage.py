"""`jaxsae.app.lineage`: stage.json, stale/unfinished/failed inputs, atomic swaps, legacy runs."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from data_prep.atomic import swap_in
from jaxsae.app import lineage
from jaxsae.app.lineage import StageInputError


def _stage(run: Path, name: str, files=("metrics.json",), **kw) -> None:
    with lineage.stage(run, name, inputs=lineage.INPUTS.get(name, ()), **kw) as work:
        for f in files:
            (work / f).write_text(json.dumps({"name": name, **kw.get("config", {})} if isinstance(kw.get("config"), dict) else {}))


def _chain(run: Path) -> None:
    _stage(run, "data", files=lineage.DONE_FILES["data"], config={"seed": 0})
    _stage(run, "rec")
    _stage(run, "sae")


def test_complete_chain_records_inputs_and_goes_stale_when_an_input_reruns(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _chain(run)
    rec = json.loads((run / "sae" / "stage.json").read_text())
    assert rec["status"] == "complete" and set(rec["inputs"]) == {"data", "rec"} and rec["version"]
    assert rec["inputs"]["rec"] == lineage.require(run, "rec")
    assert all(lineage.status(run, n).ok for n in ("data", "rec", "sae"))
    _stage(run, "data", files=lineage.DONE_FILES["data"], config={"seed": 1})  # re-prepared with another seed
    st = lineage.status(run, "rec")
    assert st.state == "stale" and f"{run / 'rec'} was made from an older {run / 'data'}" in st.reason
    assert f"rerun: jaxsae train-rec {run}" in st.reason
    # the SAE is refused too: its recommender is stale, so that is what to rerun first
    with pytest.raises(StageInputError, match=f"sae was made from {run / 'rec'}, which is now stale; rerun: jaxsae train-rec"):
        lineage.require(run, "sae")
    _stage(run, "rec")
    with pytest.raises(StageInputError, match="sae was made from an older .*; rerun: jaxsae train-sae"):
        lineage.require(run, "sae")
    _stage(run, "sae")
    assert lineage.status(run, "sae").ok


def test_a_failed_stage_keeps_the_previous_result_and_says_failed(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _chain(run)
    before = (run / "sae" / "stage.json").read_text()
    with pytest.raises(RuntimeError):
        with lineage.stage(run, "sae", inputs=("data", "rec")) as work:
            (work / "metrics.json").write_text("half")
            raise RuntimeError("diverged at step 7")
    assert (run / "sae" / "stage.json").read_text() == before and lineage.status(run, "sae").ok
    work = json.loads((lineage.work_dir(run, "sae") / "stage.json").read_text())
    assert work["status"] == "failed" and work["error"] == "diverged at step 7"
    # a first run that fails leaves no RUN/sae: readers are told it failed, and what to rerun
    (run / "sae").rename(tmp_path / "gone")
    st = lineage.status(run, "sae")
    assert st.state == "failed" and "diverged at step 7" in st.reason and "rerun: jaxsae train-sae" in st.reason


def test_unfinished_inputs_are_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _chain(run)
    rec = json.loads((run / "sae" / "stage.json").read_text())
    (run / "sae" / "stage.json").write_text(json.dumps({**rec, "status": "running"}))  # killed before the swap
    with pytest.raises(StageInputError, match="sae is unfinished .*rerun: jaxsae train-sae"):
        lineage.require(run, "sae")
    (run / "sae" / "stage.json").write_text("{corrupt")
    assert lineage.status(run, "sae").state == "failed"


def test_missing_input_names_the_first_stage_to_run(tmp_path: Path) -> None:
    with pytest.raises(StageInputError, match=r"data is missing; run: jaxsae prepare DATASET --out"):
        lineage.require(tmp_path, "sae")


def test_legacy_directories_are_complete_by_their_final_files_without_lineage(tmp_path: Path) -> None:
    run = tmp_path / "run"
    for d, files in (("data", lineage.DONE_FILES["data"]), ("rec", ("metrics.json",)), ("sae", ("checkpoint.json",))):
        (run / d).mkdir(parents=True)
        for f in files:
            (run / d / f).write_text("{}")
    assert lineage.status(run, "data").ok and lineage.status(run, "data").legacy
    assert lineage.status(run, "rec").ok
    st = lineage.status(run, "sae")  # a killed training: checkpoint but no metrics.json
    assert st.state == "unfinished" and "no metrics.json" in st.reason
    # a stage run on legacy inputs records their fingerprints, so a later change of them is seen
    _stage(run, "sae")
    assert lineage.status(run, "sae").ok
    os.utime(run / "rec" / "metrics.json", ns=(1, 1))
    assert lineage.status(run, "sae").state == "stale"


def test_keep_adds_to_the_directory_of_the_same_inputs_and_drops_another_sae_s(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _chain(run)
    _stage(run, "interventions", files=("filter-a.json",), keep=True)
    _stage(run, "interventions", files=("nudge-b.json",), keep=True)
    assert sorted(p.name for p in (run / "interventions").glob("*-*.json")) == ["filter-a.json", "nudge-b.json"]
    _stage(run, "sae")  # another SAE: earlier intervention results no longer apply
    _stage(run, "interventions", files=("promote-c.json",), keep=True)
    assert sorted(p.name for p in (run / "interventions").glob("*-*.json")) == ["promote-c.json"]


def test_resume_keeps_the_work_of_the_same_inputs_only(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _chain(run)
    with pytest.raises(KeyboardInterrupt):
        with lineage.stage(run, "sae", inputs=("data", "rec")) as work:
            (work / "checkpoint.json").write_text("{}")
            raise KeyboardInterrupt
    assert json.loads((lineage.work_dir(run, "sae") / "stage.json").read_text())["error"] == "interrupted"
    with lineage.stage(run, "sae", inputs=("data", "rec"), resume=True) as work:
        assert (work / "checkpoint.json").exists()  # continued
        (work / "metrics.json").write_text("{}")
    with pytest.raises(KeyboardInterrupt):
        with lineage.stage(run, "sae", inputs=("data", "rec")) as work:
            (work / "checkpoint.json").write_text("{}")
            raise KeyboardInterrupt
    _stage(run, "rec")  # the recommender changed: that checkpoint belongs to another one
    with lineage.stage(run, "sae", inputs=("data", "rec"), resume=True) as work:
        assert not (work / "checkpoint.json").exists()
        (work / "metrics.json").write_text("{}")


def test_an_interrupted_swap_is_finished_by_the_next_reader(tmp_path: Path, monkeypatch) -> None:
    import data_prep.atomic as atomic

    run = tmp_path / "run"
    _chain(run)
    real, calls = os.rename, []

    def killed_after_first(a, b):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the kill lands between `sae -> .sae.old` and `work -> sae`
        real(a, b)

    monkeypatch.setattr(atomic.os, "rename", killed_after_first)
    with pytest.raises(KeyboardInterrupt):
        with lineage.stage(run, "sae", inputs=("data", "rec")) as work:
            (work / "metrics.json").write_text('{"new": 1}')
    monkeypatch.setattr(atomic.os, "rename", real)
    assert not (run / "sae").exists() and (run / ".sae.old").exists()
    assert lineage.status(run, "sae").ok  # recovered: the new complete result is swapped in
    assert json.loads((run / "sae" / "metrics.json").read_text()) == {"new": 1} and not (run / ".sae.old").exists()


def test_swap_in_replaces_whole_and_a_failed_swap_keeps_the_old(tmp_path: Path) -> None:
    (tmp_path / "final").mkdir()
    (tmp_path / "final" / "a").write_text("old")
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "b").write_text("new")
    swap_in(tmp_path / "new", tmp_path / "final")
    assert [p.name for p in (tmp_path / "final").iterdir()] == ["b"] and not (tmp_path / "new").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["final"]


def test_a_directory_made_by_another_command_names_it_in_errors(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _stage(run, "data", files=lineage.DONE_FILES["data"])
    with lineage.stage(run, "rec", inputs=("data",), rerun="jaxsae import-rec RUN --tables FILE") as work:
        (work / "metrics.json").write_text("{}")
    _stage(run, "data", files=lineage.DONE_FILES["data"], config={"seed": 2})
    assert lineage.status(run, "rec").reason.endswith(f"rerun: jaxsae import-rec {run} --tables FILE")


def test_resume_of_a_complete_run_extends_a_copy_aside(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _chain(run)
    (run / "sae" / "checkpoint.json").write_text('{"step": 5}')
    with lineage.stage(run, "sae", inputs=("data", "rec"), resume=True) as work:
        assert json.loads((work / "checkpoint.json").read_text()) == {"step": 5}  # continued from the complete run
        assert json.loads((run / "sae" / "stage.json").read_text())["status"] == "complete"  # still in place
        (work / "checkpoint.json").write_text('{"step": 9}')
    assert json.loads((run / "sae" / "checkpoint.json").read_text()) == {"step": 9}


def test_the_report_leaves_out_results_made_from_an_older_input(tmp_path: Path) -> None:
    from run_fixtures import write_fake_run

    from jaxsae.app.report.collect import load_run

    run = write_fake_run(tmp_path / "run") or tmp_path / "run"
    (run / "analysis" / "stage.json").write_text(json.dumps({"status": "complete", "inputs": {"sae": "an-older-sae"}}))
    shown = load_run(run)
    assert shown.concepts is None and shown.neurons is None and shown.ms is None  # the stale analysis
    assert shown.sae is not None and shown.rec is not None and len(shown.interventions) == 4  # the rest (legacy)
    assert any(e.startswith("not shown: ") and "analysis was made from an older" in e for e in shown.errors)
