"""`jaxsae run --dataset csv --interactions F --items F`: one's own data through every stage
with the defaults, no config file."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_prep import synthetic
from jaxsae.app.cli import main
from run_fixtures import write_small_sweep_grid


def write_csv(d: Path) -> "tuple[Path, Path]":
    """The tiny synthetic set (planted genres) as a practitioner's csv files: interactions and items."""
    raw = synthetic.generate(synthetic.preset("tiny"))
    inter, items = d / "plays.csv", d / "artists.csv"
    inter.write_text("user,item,rating\n" + "".join(f"{u},{i},{v:g}\n" for u, i, v in zip(raw.user, raw.item, raw.value)))
    items.write_text("item,title,concepts\n" + "".join(
        f'{i},"{t}",{"|".join(c)}\n' for i, t, c in zip(raw.item_table_ids, raw.item_titles, raw.item_concepts)))
    return inter, items


def test_run_csv_dry_run_passes_the_files_to_prepare(tmp_path: Path, capsys) -> None:
    inter, items = write_csv(tmp_path)
    argv = ["run", "--dataset", "csv", "--interactions", str(inter), "--items", str(items),
            "--concept-family", "tag", "--out", str(tmp_path / "r"), "--dry-run"]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    prep = next(line for line in out if line.startswith("prepare"))
    assert f"jaxsae prepare csv --out {tmp_path / 'r'} --interactions={inter} --items={items} --concept-family=tag" in prep
    stages = [line.split()[0] for line in out]
    assert stages[:5] == ["prepare", "train_rec", "train_sae", "analyze", "intervene"] and stages[-1] == "report"


def test_run_csv_without_interactions_is_a_one_line_error(capsys) -> None:
    assert main(["run", "--dataset", "csv"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--interactions" in err[0]


@pytest.mark.slow
def test_run_csv_end_to_end_with_defaults(tmp_path: Path, monkeypatch) -> None:
    """Every stage really runs on the csv files with its defaults (the SAE chosen by a sweep), except a small
    explicit sweep grid with a short schedule and one null seed: the built-in grid's cost is the sweep's own
    tests' business (tests/selection), not this one's."""
    import jaxsae.app.cli.run as run_cli
    from jaxsae.app.pipeline import deep_merge

    grid = write_small_sweep_grid(tmp_path / "grid.json")
    cheaper = {"train_sae": {"grid": str(grid), "steps": 300}, "analyze": {"null_seeds": 1}}
    real_parse = run_cli.parse_config  # the config `jaxsae run --dataset csv` builds, plus `cheaper`
    monkeypatch.setattr(run_cli, "parse_config",
                        lambda raw, variant=None: real_parse(deep_merge(raw, cheaper), variant))
    inter, items = write_csv(tmp_path)
    run = tmp_path / "r"
    assert main(["run", "--dataset", "csv", "--interactions", str(inter), "--items", str(items),
                 "--concept-family", "tag", "--out", str(run)]) == 0
    summary = json.loads((run / "data" / "summary.json").read_text())
    assert summary["dataset"] == "csv" and "tag" in summary["concept_families"]
    rec = json.loads((run / "rec" / "metrics.json").read_text())
    assert rec["schedule"] == "early_stopping" and rec["best_epoch"] >= 1 and rec["validation"]["n_users"] > 0
    assert rec["hit@10"] > rec["most_popular"]["hit@10"]
    assert len(json.loads((run / "sweep" / "sweep.json").read_text())["settings"]) == 2  # the grid given
    assert json.loads((run / "sae" / "metrics.json").read_text())["steps"] == 300
    for rel in ("sae/metrics.json", "analysis/concepts.json", "report/index.html"):
        assert (run / rel).exists(), rel
    assert sorted(p.name.split("-")[0] for p in (run / "interventions").glob("*-*.json")) == ["filter", "nudge", "promote"]
