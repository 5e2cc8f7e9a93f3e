"""`jaxsae intervene`: filter, nudge and promote on a trained tiny run; names that do not exist."""
import json
import shutil
from pathlib import Path

import pytest

from jaxsae.app.cli import main

pytestmark = pytest.mark.slow


def test_filter_lowers_concept_share(tiny_run: Path):
    run = tiny_run
    assert main(["intervene", str(run), "--filter", "horror", "--levels=0,-1,-2", "--audience-size", "20"]) == 0
    r = json.loads((run / "interventions" / "filter-Horror.json").read_text())
    assert set(r) >= {"concept", "neuron", "k", "levels", "concept_share_before", "concept_share_after", "rest_rbo",
                      "per_level", "audience_size"}
    assert r["levels"] == [0.0, -1.0, -2.0] and r["audience_size"] == 20 and r["k"] == 20
    shares = [p["concept_share_after"] for p in r["per_level"]]
    assert shares[2] < shares[1] < r["concept_share_before"]  # deeper suppression, less of the concept
    # the headline: the strongest removal among the levels keeping rest-RBO >= 0.8, or none
    ok = [p for p in r["per_level"] if p["rest_rbo"] >= 0.8 and p["removal"] > 0]
    assert r["min_rest_rbo"] == 0.8 and (r["level"] is None) == (not ok)
    if ok:
        head = r["levels"].index(r["level"])
        assert r["concept_share_after"] == shares[head] and r["rest_rbo"] == r["per_level"][head]["rest_rbo"] >= 0.8
        assert r["removal"] == max(p["removal"] for p in ok)
    assert r["target_reached"] == (r["removal"] >= 0.8 - 1e-12)
    assert [c["level"] for c in r["curve"]] == r["levels"] and 0.0 <= r["removal_auc"] <= 1.0
    assert r["strongest"]["level"] == -2.0 and r["strongest"]["concept_share_after"] == shares[2]
    # level 0 adds nothing: the rankings are untouched (residual mode is exact), so the rest's RBO is exactly 1
    assert r["per_level"][0]["rest_rbo"] == pytest.approx(1.0, abs=1e-12)
    assert shares[0] == pytest.approx(r["concept_share_before"], abs=1e-12)
    assert 0.0 < r["per_level"][2]["rest_rbo"] < 1.0  # the strongest edit also moves the other items a little
    assert r["method"] == "weighted" and r["side"] == "user" and r["neuron_choice"] == "weighted"
    assert r["neuron"] in r["neurons"] and len(r["scales"]) == len(r["neurons"])
    assert main(["intervene", str(run), "--filter", "horror", "--levels=0,-1", "--audience-size", "20",
                 "--method", "neuron", "--side", "item"]) == 0
    r = json.loads((run / "interventions" / "filter-Horror.json").read_text())
    assert r["side"] == "item" and r["method"] == "neuron" and r["neurons"] == [r["neuron"]]
    assert main(["intervene", str(run), "--filter", "horror", "--levels=0,-1", "--audience-size", "20",
                 "--neurons", "0,1"]) == 0
    r = json.loads((run / "interventions" / "filter-Horror.json").read_text())
    assert r["neurons"] == [0, 1] and r["neuron"] == 0 and r["neuron_choice"] == "given"
    assert main(["intervene", str(run), "--filter", "horror", "--neuron", "0", "--neurons", "1"]) == 2
    assert main(["intervene", str(run), "--nudge", "horror", "--side", "item"]) == 2


def test_nudge_and_promote(tiny_run: Path):
    run = tiny_run
    assert main(["intervene", str(run), "--nudge", "Sci-Fi", "--audience-size", "20"]) == 0
    r = json.loads((run / "interventions" / "nudge-Sci-Fi.json").read_text())
    assert r["k"] == 30 and [p["level"] for p in r["per_level"]] == [1.0, 2.0, 3.0, 4.0]
    assert r["per_level"][-1]["concept_share"] > r["concept_share_before"]
    assert main(["intervene", str(run), "--promote", "Item 17 (2019)", "--mode", "residual"]) == 0
    r = json.loads((run / "interventions" / "promote-17.json").read_text())
    assert r["title"] == "Item 17 (2019)" and r["per_level"][0]["entered_top_k_fraction"] == 0.0
    entered = [p["entered_top_k_fraction"] for p in r["per_level"]]
    assert entered[-1] == r["entered_top_k_fraction"] and entered[-1] >= 0.3  # measured 0.50 at level 8


def test_reconstruct_mode_runs(tiny_run: Path):
    run = tiny_run
    assert main(["intervene", str(run), "--filter", "Action", "--mode", "reconstruct", "--levels", "0",
                 "--audience", "all", "--audience-size", "10"]) == 0
    r = json.loads((run / "interventions" / "filter-Action.json").read_text())
    assert r["mode"] == "reconstruct" and r["audience"] == "all"


def test_unknown_names_list_close_matches(tiny_run: Path, capsys):
    run = tiny_run
    assert main(["intervene", str(run), "--filter", "Horor"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown concept 'Horor'" in err and "Horror" in err and "\n" not in err
    assert main(["intervene", str(run), "--promote", "Itme 17 (2019)"]) == 2
    assert "close matches: 'Item 17 (2019)'" in capsys.readouterr().err
    assert main(["intervene", str(run), "--filter", "Horror", "--neuron", "999"]) == 2
    assert "out of range" in capsys.readouterr().err


def test_benchmark_writes_the_sae_and_baseline_curves(tiny_run: Path, tmp_path: Path):
    run = tmp_path / "run"  # a private copy: the benchmark adds to RUN/interventions
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("analysis", "interventions", "ablation", "report"))
    assert main(["intervene", str(run), "--benchmark", "horror", "--levels=0,1,2"]) == 0
    r = json.loads((run / "interventions" / "benchmark.json").read_text())
    c, p = r["concept"], r["popularity"]
    assert c["concept"] == "Horror" and [q["strength"] for q in c["sae"]] == [0.0, 1.0, 2.0]
    assert len(c["label"]) >= 2 and c["n_users"] >= 1
    # strength 0 of both is the unedited recommender: the same point
    assert c["sae"][0]["ndcg"] == pytest.approx(c["label"][0]["ndcg"], abs=1e-9)
    assert c["label"][-1]["concept_share"] >= c["label"][0]["concept_share"]  # boosting the label raises the share
    assert p["sae"][0]["gini"] == pytest.approx(p["downweight"][0]["gini"], abs=1e-12)
    # down-weighting popularity puts more long-tail items into the lists
    assert max(q["long_tail_share"] for q in p["downweight"]) > p["downweight"][0]["long_tail_share"]

