"""`python -m experiments.<script> RUN...` regenerate the paper's tables from run directories."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from experiments import ablation_curves, hierarchy, interventions, paper_tables, popularity_temporal, purity_table
from run_fixtures import write_fake_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list:
    root = tmp_path_factory.mktemp("runs")
    full = write_fake_run(root / "full")
    flat = write_fake_run(root / "flat", stages=("data", "rec", "sae", "analysis"), matryoshka=False)
    return [str(full), str(flat)]


def test_purity_table(runs, tmp_path: Path) -> None:
    out = purity_table.main(runs + ["--out", str(tmp_path / "p.md")])
    assert (tmp_path / "p.md").read_text() == out
    assert "| full (synthetic/mf/matryoshka) | 4 | 1 | 0 | 0.612 |" in out
    assert "| Action | genre | 0 | 1.00 | 0.95 | 0.80 | 0.60 | 0.40 | 0.25 | 30 |" in out


def test_popularity_temporal(runs) -> None:
    out = popularity_temporal.main(runs)
    assert "| full (synthetic/mf/matryoshka) | 3 | 0.830 | 97.500 | 2 | -0.400 |" in out
    assert "| 1990s | 2 | 0.70 | 0.30 | 0.20 |" in out


def test_interventions(runs) -> None:
    out = interventions.main(runs)
    assert "| full (synthetic/mf/matryoshka) | Horror | 20 | 30 | 0.400 | 0.200 | 0.840 |" in out  # the strongest level keeping rest RBO >= 0.8
    assert "| full (synthetic/mf/matryoshka) | Item 7 (1994) | 20 | 25 | 0.900 |" in out
    assert "flat" not in out.split("## Filtering")[1]  # a run without interventions adds no rows


def test_ablation_with_paper_numbers_and_figure(runs, tmp_path: Path) -> None:
    fig = tmp_path / "abl.png"
    out = ablation_curves.main(runs + ["--figure", str(fig)])
    assert "| paper ML-1M MF | 0 | 0.224 | -0.190 | 0.464 |" in out
    assert "| 10 | 0.700 | 0.300 |" in out  # the run's w_pred=10 row: rbo 0.2+0.5, kendall -0.1+0.4
    assert "No ablation/ablation.json" in out
    assert fig.read_bytes()[:4] == b"\x89PNG"


def test_hierarchy(runs, tmp_path: Path) -> None:
    out = hierarchy.main(runs + ["--figure", str(tmp_path / "h.png")])
    assert "| 0 | 0 | 2 | 80.000 | 3.000 |" in out
    assert "only Matryoshka SAEs have one" in out
    assert (tmp_path / "h-full.png").exists()


def test_paper_tables_as_module(runs) -> None:
    res = subprocess.run([sys.executable, "-m", "experiments.paper_tables", *runs], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert res.returncode == 0, res.stderr
    for title in ("# Purity", "# Popularity and temporal neurons", "# Interventions", "# Ablation",
                  "# Matryoshka hierarchy"):
        assert title in res.stdout


def test_not_a_run_directory(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="not a run directory"):
        paper_tables.main([str(tmp_path / "missing")])


def test_paper_ml1m_puts_the_seed_mean_and_sd_beside_the_paper(tmp_path: Path) -> None:
    import json

    from experiments import paper_ml1m

    group = []
    for s, rbo in enumerate((0.5, 0.7)):
        run = write_fake_run(tmp_path / f"s{s}")
        rows = json.loads((run / "ablation/ablation.json").read_text())
        for r in rows:
            r.update(rbo_paper=rbo if r["w_pred"] == 1 else 0.1, kendall_tau_paper=0.2)
        (run / "ablation/ablation.json").write_text(json.dumps(rows))
        group.append(str(run))
    out = paper_ml1m.main(["--group", "MF=" + ",".join(group)])
    assert "| MF | 1 | 0.403 | 0.600 +- 0.100 | 0.092 | 0.200 +- 0.000 | 0.580 | 0.600 +- 0.000 |" in out
    assert "| MF | Horror | 5 | 1.00 | 1.00 +- 0.00 |" in out  # the paper's MF purity beside ours
    assert "| MF | MF | 2 | 0.610 +- 0.000 |" in out  # two seeds, the recommender's HR@10


def test_curve_effects_settings_read_json_values_else_text() -> None:
    from experiments.curve_effects import parse_setting

    assert parse_setting("as trained") == {}
    assert parse_setting("input_scaling=none; epochs=null;steps=5000;w_kl=0.01") == {
        "input_scaling": "none", "epochs": None, "steps": 5000, "w_kl": 0.01}


def test_frontier_targets_row_says_which_targets_are_met(tmp_path: Path) -> None:
    import json

    from experiments import frontier

    run = write_fake_run(tmp_path / "r", stages=("data", "rec", "sae", "analysis"), matryoshka=False)
    (run / "sae" / "config.json").write_text(json.dumps({"config": {"sae": "topk", "latents": 8, "k": 2,
                                                                    "dense_latents": 1, "steps": 3000}}))
    row = frontier.target_row(run)
    # fake run: density .10 / .12, rbo .71 / tau .42, 1 of 3 probe-clear, popularity .83
    assert row.startswith("| r | topk h8 k2 dense1 | 0.100 / 0.120 | 0.71 / 0.42 | 1 | 1/3 | 0.83 |")
    assert row.endswith("density NO, fidelity NO, recall NO, popularity yes |")
