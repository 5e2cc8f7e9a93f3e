"""`jaxsae run` checks every stage's config before any stage runs, and reruns stale stages."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List

import pytest

import jaxsae.app.pipeline as pl
from jaxsae.app import lineage
from jaxsae.app.cli import build_parser
from jaxsae.errors import ConfigError


def _never(stage: str, run_dir: Path, config, resume: bool, log) -> None:
    raise AssertionError(f"no stage may run: {stage}")


@pytest.mark.parametrize("stage_opts, message", [
    ({"train_sae": {"sae": "topk", "latents": 8, "k": 9}}, "stage 'train_sae': TopK needs 1 <= k <= latents"),
    ({"train_sae": {"latents": "many"}}, "stage 'train_sae': latents must be an integer, got 'many'"),
    ({"train_sae": {"sae": "topk", "null_seeds": 3}}, "stage 'train_sae': --null-seeds: sweep options apply to --sae auto"),
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
        pl.run_pipeline(cfg, tmp_path / "run", runner=_never, log=lambda m: None)
    assert not (tmp_path / "run").exists()


def test_dataset_typo_and_negative_levels(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="stage 'prepare': unknown dataset 'synthtic'; did you mean synthetic"):
        pl.check_options(pl.parse_config({"dataset": "synthtic"}))
    cfg = pl.parse_config({"dataset": "synthetic", "intervene": [{"filter": "Horror", "levels": [-0.5, -1]}]})
    (opts,) = pl.check_options(cfg)["intervene"]
    assert opts.levels == (-0.5, -1.0) and opts.target == "Horror"


def test_concept_and_item_typos_are_caught_against_prepared_data(tmp_path: Path) -> None:
    from jaxsae.app.cli import main

    run = tmp_path / "run"
    assert main(["prepare", "synthetic", "--size", "tiny", "--out", str(run)]) == 0
    cfg = pl.parse_config({"dataset": "synthetic", "prepare": {"size": "tiny"}, "intervene": [{"filter": "Horrro"}]})
    with pytest.raises(ConfigError, match="stage 'intervene': .*'Horrro'.*Horror"):
        pl.run_pipeline(cfg, run, runner=_never, log=lambda m: None)
    cfg = pl.parse_config({"dataset": "synthetic", "prepare": {"size": "tiny"}, "intervene": [{"promote": "no such item"}]})
    with pytest.raises(ConfigError, match="stage 'intervene': unknown item 'no such item'"):
        pl.run_pipeline(cfg, run, runner=_never, log=lambda m: None)


@pytest.mark.parametrize("command, options, argv", [
    ("train_sae", {"sae": "matryoshka", "latents": 32, "prefixes": [8, 16, 32], "w_pred": 2, "no_normalize": True,
                   "fold_biases": True, "lr": 0.0005},
     ["--sae", "matryoshka", "--latents", "32", "--prefixes", "8,16,32", "--w-pred", "2", "--no-normalize",
      "--fold-biases", "--lr", "0.0005"]),
    ("train_rec", {"model": "mf", "dim": 8, "chunk_size": 64, "optimizer": "adam"},
     ["--model", "mf", "--dim", "8", "--chunk-size", "64", "--optimizer", "adam"]),
    ("analyze", {"k": "5,10", "null_seeds": 2}, ["--k", "5,10", "--null-seeds", "2"]),
    ("ablate", {"pred_weights": [0, 2], "seeds": "0,1"}, ["--pred-weights", "0,2", "--seeds", "0,1"]),
    ("train_sae", {"null_seeds": 3, "axis": ["k=8,16"], "seeds": [0, 2], "untied": True},
     ["--null-seeds", "3", "--axis", "k=8,16", "--sweep-seeds", "0,2", "--untied"]),
    ("prepare", {"size": "small", "n_test": 3, "min_rating": 4}, ["--size", "small", "--n-test", "3", "--min-rating", "4"]),
    ("intervene", {"filter": "Horror", "levels": [-0.5, -1], "neuron": 3, "absolute_levels": True},
     ["--filter", "Horror", "--levels=-0.5,-1", "--neuron", "3", "--absolute-levels"]),
    ("report", {"no_figures": True}, ["--no-figures"]),
])
def test_a_config_key_and_a_cli_flag_reach_the_same_dataclass_field(command: str, options, argv) -> None:
    import importlib

    module = importlib.import_module(f"jaxsae.app.cli.{command}")
    cmd = pl.STAGE_COMMANDS[command]
    positional = ["synthetic", "--out", "RUN"] if command == "prepare" else ["RUN"]
    from_cli = module.config_from_args(build_parser().parse_args([cmd, *positional, *argv]))
    stages = {command: [options] if command == "intervene" else options}
    (from_config,) = pl.check_options(pl.PipelineConfig("synthetic", stages))[command]
    assert from_config == from_cli
    if command == "train_sae" and "sae" in options:
        assert (from_cli.prefixes, from_cli.w_pred, from_cli.normalize, from_cli.lr) == ((8, 16, 32), 2.0, False, 5e-4)
    if command == "train_rec":
        assert from_cli.rec.eval_chunk_size == 64 and from_cli.rec.dim == 8
    if command == "train_sae" and "axis" in options:  # --sae auto by default: the sweep's config
        assert from_cli.null_seeds == 3 and from_cli.seeds == (0, 2) and from_cli.base.tied is False
        assert from_cli.axes == ((("k", (8, 16)),),)
    if command == "intervene":
        assert (from_cli.kind, from_cli.levels, from_cli.neurons, from_cli.absolute_levels) == (
            "filter", (-0.5, -1.0), (3,), True)


@pytest.mark.parametrize("stage", list(pl.STAGE_COMMANDS))
def test_each_stage_has_one_definition_of_its_options(stage: str, capsys) -> None:
    """The flags in a command's --help are exactly the option fields of its stage's config dataclasses."""
    import re

    from jaxsae.app.cli import main
    from jaxsae.app.options import option_specs, switches

    module = pl.stage_module(stage)
    for name in ("OPTIONS", "build", "record", "run"):
        assert hasattr(module, name), f"jaxsae.app.stages.{stage} lacks {name}"
    assert main([pl.STAGE_COMMANDS[stage], "--help"]) == 0
    flags = set(re.findall(r"(?<![\w-])--([a-z][a-z0-9-]*)", capsys.readouterr().out)) - {"help", "resume"}
    names = {n.replace("_", "-") for cls in module.OPTIONS for s in option_specs(cls) for n in (s.name, *s.aliases)}
    if stage == "prepare":  # its dataset is the positional; --out names the run
        names, flags = names - {"dataset"}, flags - {"out"}
    extra = {n.replace("_", "-") for cls in module.OPTIONS for n in switches(cls)}
    assert names <= flags <= names | extra, (sorted(flags - names - extra), sorted(names - flags))
    for cls in module.OPTIONS:  # every option is documented by its field
        for spec in option_specs(cls):
            assert spec.help, f"{cls.__name__}.{spec.field} has no docstring or comment"


class LineageStages:
    """Fake stages that write their directory through `jaxsae.app.lineage` (as the real ones do)."""

    def __init__(self, run: Path) -> None:
        self.run, self.calls = run, []  # type: ignore[var-annotated]

    def __call__(self, stage: str, run_dir: Path, config, resume: bool = False, log=None) -> None:
        self.calls.append(pl.STAGE_COMMANDS[stage])
        name = pl.STAGE_DIRS[stage]
        inputs, optional = lineage.INPUTS.get(name, ()), ()
        if name == "ablation":  # as `jaxsae ablate`: the SAE's config is used when there is one
            inputs, optional = ("data", "rec"), ("sae",)
        elif name == "report":  # as `jaxsae report`: shows whatever exists
            optional = ("data", "rec", "sae", "analysis", "interventions", "ablation")
        with lineage.stage(self.run, name, config={"fake": True}, inputs=inputs, optional_inputs=optional,
                           keep=stage == "intervene") as w:
            for rel in pl.DONE_FILES.get(stage, ()):
                (w / Path(rel).name).write_text("[]" if rel.endswith("concepts.json") else "{}")
            if stage == "intervene":
                (w / f"{config.kind}-{config.target}.json").write_text(json.dumps({"concept": config.target}))


def test_run_reruns_stages_made_from_an_older_input(tmp_path: Path) -> None:
    run = tmp_path / "run"
    cfg = pl.parse_config({"dataset": "synthetic", "intervene": [{"filter": "Horror"}], "report": False})
    first = LineageStages(run)
    pl.run_pipeline(cfg, run, runner=first, log=lambda m: None)
    assert first.calls == ["prepare", "train-rec", "train-sae", "analyze", "intervene"]
    again = LineageStages(run)
    pl.run_pipeline(cfg, run, runner=again, log=lambda m: None)
    assert again.calls == []
    by_hand = LineageStages(run)
    by_hand("train_sae", run, None)  # the SAE retrained by hand: analysis and interventions are stale
    logs: List[str] = []
    third = LineageStages(run)
    pl.run_pipeline(cfg, run, runner=third, log=logs.append)
    assert third.calls == ["analyze", "intervene"]
    assert any("analysis was made from an older" in line and "rerunning" in line for line in logs)


def test_a_stage_made_while_an_optional_input_was_missing_reruns_once_it_appears(tmp_path: Path) -> None:
    """An ablation run before any SAE (default SAE config) and a report written before the analysis are stale
    once the SAE and the analysis exist: `jaxsae run` reruns both, though nothing upstream ran in it."""
    run = tmp_path / "run"
    by_hand = LineageStages(run)
    for stage in ("prepare", "train_rec", "ablate", "report"):
        by_hand(stage, run, None)
    assert lineage.read_stage(run / "ablation")["inputs"]["sae"] is None
    assert lineage.read_stage(run / "report")["inputs"]["analysis"] is None
    assert lineage.status(run, "ablation").ok and lineage.status(run, "report").ok
    for stage in ("train_sae", "analyze"):
        by_hand(stage, run, None)
    st = lineage.status(run, "ablation")
    assert st.state == "stale" and f"was made before {run / 'sae'} existed" in st.reason
    assert lineage.status(run, "report").state == "stale"
    cfg = pl.parse_config({"dataset": "synthetic", "intervene": False, "ablate": {}})
    assert pl.plan(cfg, run) == {"prepare": "complete", "train_rec": "complete", "train_sae": "complete",
                                 "analyze": "complete", "ablate": "stale", "report": "stale"}
    again = LineageStages(run)
    pl.run_pipeline(cfg, run, runner=again, log=lambda m: None)
    assert again.calls == ["ablate", "report"]
    assert lineage.read_stage(run / "ablation")["inputs"]["sae"] == lineage.require(run, "sae")
    third = LineageStages(run)
    pl.run_pipeline(cfg, run, runner=third, log=lambda m: None)
    assert third.calls == []


def test_a_recorded_config_is_compared_as_stage_json_holds_it(tmp_path: Path) -> None:
    """Tuples come back from stage.json as lists (no spurious "config changed"); an imported RUN/rec is never
    retrained because of train_rec's options."""
    from jaxsae.app.stages import train_rec

    run = tmp_path / "run"
    with lineage.stage(run, "data") as w:
        (w / "data.npz").write_text("x")
        (w / "meta.json").write_text("{}")
    cfg = train_rec.build({"model": "ncf", "hidden": [16, 8], "dim": 8})
    with lineage.stage(run, "rec", config=train_rec.record(cfg), inputs=("data",)) as w:
        (w / "metrics.json").write_text("{}")
    assert pl.config_change(run, "train_rec", cfg) == ""
    assert pl.config_change(run, "train_rec", train_rec.build({"model": "ncf", "hidden": [16, 8], "dim": 4})) == (
        "dim: 8 -> 4")
    with lineage.stage(run, "rec", config={"model": "imported"}, inputs=("data",),
                       rerun="jaxsae import-rec RUN --tables FILE") as w:
        (w / "metrics.json").write_text("{}")
    assert pl.config_change(run, "train_rec", cfg) == ""
