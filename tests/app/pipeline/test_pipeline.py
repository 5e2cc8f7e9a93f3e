"""`jaxsae run`: config validation against the stage parsers, skip logic, resume, automatic choices."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List

import numpy as np
import pytest

import jaxsae.app.pipeline as pl
from jaxsae.errors import ConfigError, TrainingDivergedError
from jaxsae.sae import SAETrainConfig
from jaxsae.app.pipeline import (PipelineError, deep_merge, options_to_argv, parse_config, pick_concepts,
                             pick_niche_item, run_pipeline)
from run_fixtures import write_small_sweep_grid


class FakeStages:
    """A pipeline runner recording each stage's command and validated config, writing the files that mark it
    complete (the real stage functions are tested on their own and end to end below)."""

    def __init__(self, run: Path, fail: str = "") -> None:
        self.run, self.fail, self.calls = run, fail, []  # type: ignore[var-annotated]

    def __call__(self, stage: str, run_dir: Path, config, resume: bool, log) -> None:
        cmd = pl.STAGE_COMMANDS[stage]
        self.calls.append((cmd, config, resume))
        if cmd == self.fail:
            (self.run / "sae").mkdir(parents=True, exist_ok=True)
            (self.run / "sae" / "checkpoint.json").write_text("{}")
            raise TrainingDivergedError("loss is nan at step 7")
        if stage == "intervene":
            kind, target = config.kind, config.target
            key = "item" if kind == "promote" else "concept"
            path = self.run / "interventions" / f"{kind}-{target.lower()}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({key: target}))
            return
        for rel in pl.DONE_FILES[stage]:
            f = self.run / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            if rel == "analysis/concepts.json":
                f.write_text(json.dumps([{"concept": "Drama", "family": "genre", "purity@10": 0.7, "n_items": 9},
                                         {"concept": "Horror", "family": "genre", "purity@10": 1.0, "n_items": 3},
                                         {"concept": "1990s", "family": "decade", "purity@10": 1.0, "n_items": 5},
                                         {"concept": "Comedy", "family": "genre", "purity@10": 1.0, "n_items": 8}]))
            else:
                f.write_text("{}")


CONFIG = {
    "name": "t", "dataset": "synthetic",
    "prepare": {"size": "tiny"},
    "train_rec": {"model": "mf", "epochs": 2},
    "train_sae": {"sae": "topk", "latents": 16, "k": 2, "fold_biases": True, "prefixes": [4, 8, 16]},
    "intervene": [{"filter": "auto"}, {"nudge": "auto"}, {"promote": "I7"}],
    "ablate": {"pred_weights": "0,1"},
    "variants": {"paper": {"train_sae": {"steps": 54, "k": None}}},
}


def test_runs_every_stage_in_order_then_skips_complete_ones(tmp_path: Path) -> None:
    run = tmp_path / "run"
    stages = FakeStages(run)
    logs: List[str] = []
    payload = run_pipeline(parse_config(CONFIG), run, runner=stages, log=logs.append)
    cmds = [c[0] for c in stages.calls]
    assert cmds == ["prepare", "train-rec", "train-sae", "analyze", "intervene", "intervene", "intervene",
                    "ablate", "report"]
    # each stage gets the config dataclass its own CLI command would build
    prepared = stages.calls[0][1]
    assert (prepared.source.dataset, prepared.source.size, prepared.options.n_test) == ("synthetic", "tiny", 5)
    assert stages.calls[2][1] == SAETrainConfig(sae="topk", latents=16, k=2, fold_biases=True, prefixes=(4, 8, 16))
    # automatic choices: best genre by purity@10, ties broken by more items (Comedy 8 > Horror 3); decade skipped
    assert [(c[1].kind, c[1].target) for c in stages.calls[4:7]] == [("filter", "Comedy"), ("nudge", "Horror"),
                                                                      ("promote", "I7")]
    saved = json.loads((run / "pipeline.json").read_text())
    # pipeline.json keeps the equivalent command lines
    assert saved["stages"][0]["argv"] == ["prepare", "synthetic", "--out", str(run), "--size=tiny"]
    assert saved["stages"][2]["argv"] == ["train-sae", str(run), "--sae=topk", "--latents=16", "--k=2",
                                          "--fold-biases", "--prefixes=4,8,16"]
    assert saved["stages"][4]["argv"][2:] == ["--filter=Comedy"]
    assert [s["status"] for s in saved["stages"]] == ["ran"] * 9
    assert saved["config"]["dataset"] == "synthetic" and "versions" in saved
    assert any("train_sae: done in" in line for line in logs)

    again = FakeStages(run)
    run_pipeline(parse_config(CONFIG), run, runner=again, log=logs.append)
    assert again.calls == []  # every stage complete, the report not stale
    saved = json.loads((run / "pipeline.json").read_text())
    assert {s["status"] for s in saved["stages"]} == {"skipped"}

    (run / "sae" / "metrics.json").unlink()  # an SAE stage interrupted before its final file
    third = FakeStages(run)
    run_pipeline(parse_config(CONFIG), run, runner=third, log=logs.append)
    # everything that depends on the SAE stage is redone, the earlier stages are not
    assert [c[0] for c in third.calls] == ["train-sae", "analyze", "intervene", "intervene", "intervene", "ablate",
                                           "report"]

    (run / "interventions" / "filter-manual.json").write_text(json.dumps({"concept": "Manual"}))
    forced = FakeStages(run)
    run_pipeline(parse_config(CONFIG), run, runner=forced, force=["analyze"], log=logs.append)
    assert [c[0] for c in forced.calls] == ["analyze", "intervene", "intervene", "intervene", "report"]
    assert not (run / "interventions" / "filter-manual.json").exists()  # stale results of another analysis

    only_report = FakeStages(run)
    run_pipeline(parse_config(CONFIG), run, runner=only_report, force=["report"], log=logs.append)
    assert [c[0] for c in only_report.calls] == ["report"]


def test_failed_stage_stops_and_rerun_resumes_from_checkpoint(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with pytest.raises(PipelineError, match="stage train_sae failed .*loss is nan at step 7; .*rerun `jaxsae run` to resume"):
        run_pipeline(parse_config(CONFIG), run, runner=FakeStages(run, fail="train-sae"), log=lambda m: None)
    saved = json.loads((run / "pipeline.json").read_text())
    assert [s["status"] for s in saved["stages"]] == ["ran", "ran", "failed"]
    assert saved["stages"][2]["error"] == "loss is nan at step 7"
    stages = FakeStages(run)
    run_pipeline(parse_config(CONFIG), run, runner=stages, log=lambda m: None)
    assert stages.calls[0][0] == "train-sae" and stages.calls[0][2] is True  # resumed


@pytest.mark.parametrize("bad, message", [
    ({"dataset": "synthetic", "train_sea": {}}, "unknown key.*'train_sea'"),
    ({"dataset": "synthetic", "train_sae": {"latnts": 8}}, "stage 'train_sae': unknown option 'latnts'.*did you mean latents"),
    ({"dataset": "synthetic", "train_sae": {"fold_biases": 1}}, "stage 'train_sae': fold_biases must be true or false, got 1"),
    ({"dataset": "synthetic", "train_sae": {"latents": "many"}}, "stage 'train_sae': latents must be an integer, got 'many'"),
    ({"dataset": "synthetic", "train_sae": {"pred_loss": "listwse"}}, "pred_loss must be one of .*did you mean listwise"),
    ({"dataset": "synthetic", "prepare": {"out": "x"}}, "unknown option 'out'"),
    ({"dataset": "synthetic", "intervene": [{"filter": "A", "nudge": "B"}]}, "exactly one of filter, nudge, promote"),
    ({"dataset": "synthetic", "intervene": {"filter": "A"}}, "must be a list"),
    ({"dataset": "synthetic", "analyze": 3}, "must map to a dict"),
    ({"prepare": {}}, "'dataset' must be a non-empty string"),
])
def test_bad_configs_fail_before_any_work(tmp_path: Path, bad, message) -> None:
    stages = FakeStages(tmp_path / "run")
    with pytest.raises(ConfigError, match=message):
        run_pipeline(parse_config(bad), tmp_path / "run", runner=stages, log=lambda m: None)
    assert stages.calls == [] and not (tmp_path / "run" / "pipeline.json").exists()


def test_variants_defaults_and_disabled_stages() -> None:
    cfg = parse_config(CONFIG, variant="paper")
    assert cfg.stages["train_sae"]["steps"] == 54 and "k" not in cfg.stages["train_sae"]
    with pytest.raises(ConfigError, match="no variant 'fast'.*paper"):
        parse_config(CONFIG, variant="fast")
    minimal = parse_config({"dataset": "ml-100k"})
    assert list(minimal.stages) == ["prepare", "train_rec", "train_sae", "analyze", "intervene", "report"]
    assert minimal.stages["intervene"] == pl.DEFAULT_INTERVENTIONS
    assert "intervene" not in parse_config({"dataset": "x", "intervene": False}).stages


def test_helpers() -> None:
    assert options_to_argv({"a_b": 1, "c": True, "d": False, "e": None, "f": [1, 2]}) == ["--a-b=1", "--c", "--f=1,2"]
    # negative numbers and lists stay values (`--levels -0.5,-1` was read as an option)
    assert options_to_argv({"levels": [-0.5, -1], "w": -2}) == ["--levels=-0.5,-1", "--w=-2"]
    assert deep_merge({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"b": None, "e": 4}}) == {"a": {"c": 2, "e": 4}, "d": 3}
    assert pick_concepts([{"concept": "1990s", "family": "decade", "purity@10": 1.0}]) == ["1990s"]
    # margin over the random-neuron null, not raw purity: a frequent concept is pure by chance
    rows = [{"concept": "Drama", "family": "genre", "purity@10": 1.0, "null_purity@10": 0.9, "base_rate": 0.4},
            {"concept": "Horror", "family": "genre", "purity@10": 0.8, "null_purity@10": 0.3, "base_rate": 0.05},
            {"concept": "War", "family": "genre", "purity@10": 0.7, "null_purity@10": 0.2, "base_rate": 0.03}]
    assert pick_concepts(rows, n=3) == ["War", "Horror", "Drama"]  # Horror/War tie at 0.5: lower base rate
    with pytest.raises(PipelineError):
        pick_concepts([])
    pop = np.array([0, 50, 1, 3, 9, 2, 30, 0, 4, 5, 7])
    ids = np.array([f"i{j}" for j in range(11)])
    # items with any positive sorted by popularity: 1,2,3,4,5,7,9,30,50 -> 20% quantile index 1 -> popularity 2
    assert pick_niche_item(pop, ids) == "i5"


def test_shipped_configs_parse() -> None:
    root = pl.CONFIG_DIR
    names = sorted(p.stem for p in root.glob("*.json"))
    for required in ("ml1m-mf", "ml1m-ncf", "lastfm-mf", "lastfm-ncf", "lastfm-matryoshka", "ml100k-mf",
                     "ml100k-ncf", "hetrec-mf", "hetrec-matryoshka", "synthetic-demo"):
        assert required in names
    for name in names:
        cfg = pl.load_config(name)
        for variant in (cfg.raw.get("variants") or {}):
            pl.load_config(name, variant)
    assert pl.synthetic_config("tiny").stages["prepare"]["size"] == "tiny"


def test_bundled_config_name_beside_a_same_named_folder(tmp_path: Path, monkeypatch, capsys) -> None:
    """`jaxsae run ml1m-mf` in a folder holding a run directory `ml1m-mf/` runs the bundled config (a folder is
    never a config); a folder with no bundled config of its name is a one-line error saying it is a folder."""
    from jaxsae.app.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "ml1m-mf" / "data").mkdir(parents=True)
    cfg = pl.load_config("ml1m-mf")
    assert (cfg.name, cfg.dataset) == ("ml1m-mf", "ml-1m") and cfg.stages["train_sae"]["latents"] == 22
    assert main(["run", "ml1m-mf", "--dry-run", "--out", "ml1m-mf"]) == 0
    assert "jaxsae train-sae" in capsys.readouterr().out
    (tmp_path / "myrun").mkdir()
    with pytest.raises(ConfigError, match=r"myrun is a folder, not a pipeline config \(bundled configs: .*ml1m-mf"):
        pl.load_config("myrun")
    (tmp_path / "mine.json").write_text(json.dumps({"dataset": "synthetic"}))  # a file still wins
    assert pl.load_config("mine.json").dataset == "synthetic"
    assert main(["run", "myrun", "--dry-run"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.slow
def test_end_to_end_synthetic_tiny(tmp_path: Path, capsys) -> None:
    """`jaxsae run` on the tiny synthetic preset: every stage's JSON, the report, then a no-op rerun. The demo's
    automatic SAE sweeps a small explicit grid (the built-in grid's cost is the sweep tests' business)."""
    import importlib.util

    from jaxsae.app.cli import main

    grid = write_small_sweep_grid(tmp_path / "grid.json")
    cfg = pl.deep_merge(pl.load_config("synthetic-demo").raw, {
        "prepare": {"size": "tiny"}, "train_rec": {"epochs": 3}, "train_sae": {"steps": 200, "grid": str(grid)},
        "analyze": {"null_seeds": 1}, "ablate": {"pred_weights": "0,1", "steps": 50}})
    if importlib.util.find_spec("jaxsae.app.cli.ablate") is None:
        cfg["ablate"] = None
    config_file = tmp_path / "tiny.json"
    config_file.write_text(json.dumps(cfg))
    run = tmp_path / "run"
    assert main(["run", str(config_file), "--out", str(run)]) == 0
    for rel in ("data/summary.json", "rec/metrics.json", "sae/metrics.json", "sae/history.json",
                "analysis/concepts.json", "analysis/neurons.json", "analysis/popularity.json", "analysis/ms.json",
                "analysis/bound.json",
                "report/index.html", "report/report.md", "report/purity.png", "report/sae_history.png"):
        assert (run / rel).exists(), rel
    kinds = sorted(p.name.split("-")[0] for p in (run / "interventions").glob("*-*.json"))
    assert kinds == ["filter", "nudge", "promote"]
    # values, not just files: each stage's numbers agree with what its inputs on disk give
    from data_prep.dataset import InteractionData
    from jaxsae.training.rec import load_recommender

    data = InteractionData.load(run / "data")
    summary = json.loads((run / "data" / "summary.json").read_text())
    assert (summary["n_users"], summary["n_items"]) == (data.n_users, data.n_items)
    tt = load_recommender(run / "rec")
    scores = (np.asarray(tt.user_emb, np.float64) @ np.asarray(tt.item_emb, np.float64).T
              + np.asarray(tt.user_bias)[:, None] + np.asarray(tt.item_bias)[None])
    hits = []
    for u, hidden in zip(data.test_users, data.test_pos):
        s = scores[u].copy()
        s[data.train_indices[data.train_indptr[u]:data.train_indptr[u + 1]]] = -np.inf
        hits.append(bool(set(np.argsort(-s, kind="stable")[:10].tolist()) & set(hidden[hidden >= 0].tolist())))
    rec = json.loads((run / "rec" / "metrics.json").read_text())
    assert rec["hit@10"] == pytest.approx(np.mean(hits), abs=1e-6) and rec["n_eval_users"] == len(hits)
    sae = json.loads((run / "sae" / "metrics.json").read_text())
    # the chosen SAE keeps its budget: k sparse latents, plus the dense block when it has one
    assert sae["steps"] == 200 and 0 < sae["rbo@30"] < 1
    dense = json.loads((run / "sae" / "config.json").read_text())["config"]["dense_latents"]
    assert 0 < sae["l0"] <= sae["k"] + dense + 1e-4  # float32 mean of integer counts
    assert len(json.loads((run / "sweep" / "sweep.json").read_text())["settings"]) == 2  # the grid given
    chosen = pl.pick_concepts(json.loads((run / "analysis" / "concepts.json").read_text()), n=2)
    filt = json.loads(next((run / "interventions").glob("filter-*.json")).read_text())
    nudge = json.loads(next((run / "interventions").glob("nudge-*.json")).read_text())
    assert filt["concept"] == chosen[0] and nudge["concept"] == chosen[-1]
    if cfg.get("ablate"):
        rows = json.loads((run / "ablation" / "ablation.json").read_text())
        assert [r["w_pred"] for r in rows] == [0.0, 1.0] and {r["steps"] for r in rows} == {50}
    saved = json.loads((run / "pipeline.json").read_text())
    assert {s["status"] for s in saved["stages"]} == {"ran"}
    html = (run / "report" / "index.html").read_text()
    expected_missing = 1 if cfg.get("ablate") else 2  # hierarchy (a TopK run), and ablation when unavailable
    assert html.count('class="missing"') == expected_missing
    out = capsys.readouterr().out
    assert "[jaxsae run] train_sae: done in" in out

    assert main(["run", str(config_file), "--out", str(run)]) == 0  # everything complete: nothing reruns
    saved = json.loads((run / "pipeline.json").read_text())
    assert {s["status"] for s in saved["stages"]} == {"skipped"}
