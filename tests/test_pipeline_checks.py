"""`jaxsae run` checks every stage's config before any stage runs, and reruns stale stages (issue 13)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List

import pytest

import jaxsae.pipeline as pl
from jaxsae import lineage
from jaxsae.cli import build_parser, check_argv
from jaxsae.errors import ConfigError


def _never(argv: List[str]) -> int:
    raise AssertionError(f"no stage may run: {argv}")


@pytest.mark.parametrize("stage_opts, message", [
    ({"train_sae": {"sae": "topk", "latents": 8, "k": 9}}, "stage 'train_sae': TopK needs 1 <= k <= latents"),
    ({"train_sae": {"latents": "many"}}, "stage 'train_sae': .*--latents: invalid int value: 'many'"),
    ({"train_sae": {"steps": -5}}, "stage 'train_sae': steps must be >= 1, got -5"),
    ({"train_sae": {"sae": "tied", "k": 4}}, "--k applies to TopK SAEs only"),
    ({"train_rec": {"epochs": 0}}, "stage 'train_rec': epochs must be an integer >= 1"),
    ({"analyze": {"k": "5,20"}}, "stage 'analyze': --k must include 10"),
    ({"ablate": {"pred_weights": "0,-1"}}, "stage 'ablate': --pred-weights must be finite and >= 0"),
    ({"intervene": [{"filter": "auto", "audience_size": 0}]}, "stage 'intervene': --audience-size must be >= 1"),
    ({"prepare": {"n_test": 0}}, "stage 'prepare': --n-test must be >= 1"),
])
def test_dry_run_checks_every_value_before_any_stage(tmp_path: Path, stage_opts, message) -> None:
    cfg = pl.parse_config({"dataset": "synthetic", **stage_opts})
    with pytest.raises(ConfigError, match=message):
        pl.run_pipeline(cfg, tmp_path / "run", call=_never, check=check_argv, log=lambda m: None)
    assert not (tmp_path / "run").exists()


def test_dataset_typo_and_negative_levels(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="stage 'prepare': unknown dataset 'synthtic'; did you mean synthetic"):
        pl.check_options(pl.parse_config({"dataset": "synthtic"}), check_argv)
    cfg = pl.parse_config({"dataset": "synthetic", "intervene": [{"filter": "Horror", "levels": [-0.5, -1]}]})
    (opts,) = pl.check_options(cfg, check_argv)["intervene"]
    assert opts.levels == (-0.5, -1.0) and opts.target == "Horror"


def test_concept_and_item_typos_are_caught_against_prepared_data(tmp_path: Path) -> None:
    from jaxsae.cli import main

    run = tmp_path / "run"
    assert main(["prepare", "synthetic", "--size", "tiny", "--out", str(run)]) == 0
    cfg = pl.parse_config({"dataset": "synthetic", "prepare": {"size": "tiny"}, "intervene": [{"filter": "Horrro"}]})
    with pytest.raises(ConfigError, match="stage 'intervene': .*'Horrro'.*Horror"):
        pl.run_pipeline(cfg, run, call=_never, check=check_argv, log=lambda m: None)
    cfg = pl.parse_config({"dataset": "synthetic", "prepare": {"size": "tiny"}, "intervene": [{"promote": "no such item"}]})
    with pytest.raises(ConfigError, match="stage 'intervene': unknown item 'no such item'"):
        pl.run_pipeline(cfg, run, call=_never, check=check_argv, log=lambda m: None)


@pytest.mark.parametrize("command, options, argv", [
    ("train_sae", {"sae": "matryoshka", "latents": 32, "prefixes": [8, 16, 32], "w_pred": 2, "no_normalize": True,
                   "fold_biases": True, "lr": 0.0005},
     ["--sae", "matryoshka", "--latents", "32", "--prefixes", "8,16,32", "--w-pred", "2", "--no-normalize",
      "--fold-biases", "--lr", "0.0005"]),
    ("train_rec", {"model": "mf", "dim": 8, "chunk_size": 64, "optimizer": "adam"},
     ["--model", "mf", "--dim", "8", "--chunk-size", "64", "--optimizer", "adam"]),
    ("analyze", {"k": "5,10", "null_seeds": 2}, ["--k", "5,10", "--null-seeds", "2"]),
    ("ablate", {"pred_weights": [0, 2], "seeds": "0,1"}, ["--pred-weights", "0,2", "--seeds", "0,1"]),
])
def test_a_config_key_and_a_cli_flag_reach_the_same_dataclass_field(command: str, options, argv) -> None:
    import importlib

    module = importlib.import_module(f"jaxsae.cli.{command}")
    cmd = pl.STAGE_COMMANDS[command]
    from_cli = module.config_from_args(build_parser().parse_args([cmd, "RUN", *argv]))
    (from_config,) = pl.check_options(pl.PipelineConfig("synthetic", {command: options}), check_argv)[command]
    assert from_config == from_cli
    if command == "train_sae":
        assert (from_cli.prefixes, from_cli.w_pred, from_cli.normalize, from_cli.lr) == ((8, 16, 32), 2.0, False, 5e-4)
    if command == "train_rec":
        assert from_cli.eval_chunk_size == 64 and from_cli.dim == 8


class LineageStages:
    """Fake stages that write their directory through `jaxsae.lineage` (as the real ones do)."""

    def __init__(self, run: Path) -> None:
        self.run, self.calls = run, []  # type: ignore[var-annotated]

    def __call__(self, argv: List[str]) -> int:
        self.calls.append(argv[0])
        stage = next(s for s, c in pl.STAGE_COMMANDS.items() if c == argv[0])
        name = pl.STAGE_DIRS[stage]
        inputs = lineage.INPUTS.get(name, ("data", "rec", "sae", "analysis") if name == "report" else ())
        with lineage.stage(self.run, name, config={"argv": argv[2:]}, inputs=inputs, keep=stage == "intervene") as w:
            for rel in pl.DONE_FILES.get(stage, ()):
                (w / Path(rel).name).write_text("[]" if rel.endswith("concepts.json") else "{}")
            if stage == "intervene":
                kind, target = argv[2][2:].split("=", 1)
                (w / f"{kind}-{target}.json").write_text(json.dumps({"concept": target}))
        return 0


def test_run_reruns_stages_made_from_an_older_input(tmp_path: Path) -> None:
    run = tmp_path / "run"
    cfg = pl.parse_config({"dataset": "synthetic", "intervene": [{"filter": "Horror"}], "report": False})
    first = LineageStages(run)
    pl.run_pipeline(cfg, run, call=first, check=check_argv, log=lambda m: None)
    assert first.calls == ["prepare", "train-rec", "train-sae", "analyze", "intervene"]
    again = LineageStages(run)
    pl.run_pipeline(cfg, run, call=again, check=check_argv, log=lambda m: None)
    assert again.calls == []
    by_hand = LineageStages(run)
    by_hand(["train-sae", str(run), "--seed=3"])  # the SAE retrained by hand: analysis and interventions are stale
    logs: List[str] = []
    third = LineageStages(run)
    pl.run_pipeline(cfg, run, call=third, check=check_argv, log=logs.append)
    assert third.calls == ["analyze", "intervene"]
    assert any("analysis was made from an older" in line and "rerunning" in line for line in logs)
