"""`jaxsae run`: every stage of a run in order, skipping the complete ones (SPEC §8).

A pipeline config is JSON: the dataset, then per stage a dict of that stage's CLI options
(`{"dataset": "synthetic", "prepare": {"size": "demo"}, "train_rec": {"model": "mf"}, ...}`), and
`intervene` a list of such dicts, one per experiment. Each stage runs through `jaxsae.cli.main`, so the
command line is the one source of truth for options: a config is checked against the stage parsers
before any work starts. A stage is complete when its final file exists (`RUN/rec/metrics.json`, ...);
an interrupted training stage resumes from its checkpoint. `RUN/pipeline.json` records the resolved
config and each stage's status and time.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from jaxsae.errors import ConfigError, JaxsaeError

# pipeline stage -> `jaxsae` command, in run order
STAGE_COMMANDS: Dict[str, str] = {
    "prepare": "prepare",
    "train_rec": "train-rec",
    "train_sae": "train-sae",
    "analyze": "analyze",
    "intervene": "intervene",
    "ablate": "ablate",
    "report": "report",
}
# files whose presence marks a stage complete (relative to RUN)
DONE_FILES: Dict[str, Sequence[str]] = {
    "prepare": ("data/summary.json", "data/data.npz", "data/meta.json"),
    "train_rec": ("rec/metrics.json",),
    "train_sae": ("sae/metrics.json",),
    "analyze": ("analysis/concepts.json", "analysis/neurons.json", "analysis/ms.json"),
    "ablate": ("ablation/ablation.json",),
    "report": ("report/index.html",),
}
# what each stage reads: when one of these (transitively) ran in this invocation, the stage is stale and reruns
DEPENDS: Dict[str, Sequence[str]] = {
    "prepare": (),
    "train_rec": ("prepare",),
    "train_sae": ("train_rec",),
    "analyze": ("train_sae",),
    "intervene": ("analyze",),
    "ablate": ("train_sae",),  # retrains SAEs from the recommender with the SAE stage's config
    "report": ("prepare", "train_rec", "train_sae", "analyze", "intervene", "ablate"),
}
# stage directory holding a checkpoint that `--resume` continues
RESUMABLE = {"train_rec": "rec", "train_sae": "sae"}
# stages that run with their defaults when the config omits them (`ablate` runs only when configured)
DEFAULT_ON = ("prepare", "train_rec", "train_sae", "analyze", "intervene", "report")
INTERVENTION_KINDS = ("filter", "nudge", "promote")
AUTO = "auto"
TOP_KEYS = ("name", "description", "dataset", "variants", "notes", "paper")
DEFAULT_INTERVENTIONS = [{"filter": AUTO}, {"nudge": AUTO}, {"promote": AUTO}]


class PipelineError(JaxsaeError):
    """A stage of `jaxsae run` failed; rerunning resumes from the first incomplete stage."""


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> Dict[str, Any]:
    """`overlay` merged into a copy of `base` (dicts recursively; a None value deletes the key)."""
    out = copy.deepcopy(dict(base))
    for k, v in overlay.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """A validated pipeline configuration."""

    dataset: str
    """Dataset name given to `jaxsae prepare` (synthetic, ml-100k, ml-1m, lastfm-hetrec-2k, csv, ...)."""
    stages: Mapping[str, Any]
    """Per stage its CLI options (a dict; `intervene`: a list of dicts); absent stages are not run."""
    name: str = "run"
    """Short name, used for the default run directory `runs/<name>`."""
    raw: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """The config as given (after the variant was applied), saved in pipeline.json."""

    def __post_init__(self) -> None:
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ConfigError("pipeline config: 'dataset' must be a non-empty string (e.g. \"synthetic\")")
        for stage, opts in self.stages.items():
            if stage not in STAGE_COMMANDS:
                raise ConfigError(f"pipeline config: unknown stage {stage!r} (stages: {', '.join(STAGE_COMMANDS)})")
            if stage == "intervene":
                if not isinstance(opts, list) or not all(isinstance(o, dict) for o in opts):
                    raise ConfigError("pipeline config: 'intervene' must be a list of option dicts, "
                                      "e.g. [{\"filter\": \"Horror\"}, {\"promote\": \"auto\"}]")
                for o in opts:
                    kinds = [k for k in INTERVENTION_KINDS if k in o]
                    if len(kinds) != 1:
                        raise ConfigError(f"pipeline config: each intervention needs exactly one of "
                                          f"{', '.join(INTERVENTION_KINDS)}, got {o}")
            elif not isinstance(opts, dict):
                raise ConfigError(f"pipeline config: stage {stage!r} must map to a dict of options, got {opts!r}")


def parse_config(obj: Mapping[str, Any], variant: Optional[str] = None) -> PipelineConfig:
    """Validate a config dict (optionally applying one of its `variants`) into a `PipelineConfig`."""
    if not isinstance(obj, Mapping):
        raise ConfigError("pipeline config must be a JSON object")
    variants = obj.get("variants") or {}
    if variant is not None:
        if variant not in variants:
            raise ConfigError(f"pipeline config has no variant {variant!r} (variants: {', '.join(variants) or 'none'})")
        obj = deep_merge(obj, variants[variant])
    unknown = [k for k in obj if k not in TOP_KEYS and k not in STAGE_COMMANDS]
    if unknown:
        raise ConfigError(f"pipeline config: unknown key(s) {', '.join(map(repr, unknown))}; "
                          f"expected stages {', '.join(STAGE_COMMANDS)} or {', '.join(TOP_KEYS)}")
    stages: Dict[str, Any] = {}
    for stage in STAGE_COMMANDS:
        if stage in obj:
            if obj[stage] is False or obj[stage] is None:
                continue
            stages[stage] = copy.deepcopy(obj[stage])
        elif stage in DEFAULT_ON:
            stages[stage] = copy.deepcopy(DEFAULT_INTERVENTIONS) if stage == "intervene" else {}
    return PipelineConfig(dataset=obj.get("dataset", ""), stages=stages, name=str(obj.get("name", "run")),
                          raw=dict(obj))


def load_config(path: "str | Path", variant: Optional[str] = None) -> PipelineConfig:
    """Read a JSON config file; a name without a path finds `experiments/configs/<name>.json`."""
    p = Path(path)
    if not p.exists() and p.suffix == "" and p.parent == Path("."):
        p = Path(__file__).resolve().parents[1] / "experiments" / "configs" / f"{path}.json"
    if not p.exists():
        raise ConfigError(f"{path}: no such pipeline config")
    try:
        obj = json.loads(p.read_text())
    except ValueError as e:
        raise ConfigError(f"{p}: not valid JSON ({e})") from None
    cfg = parse_config(obj, variant)
    if "name" not in obj:
        cfg = dataclasses.replace(cfg, name=p.stem)
    return cfg


def synthetic_config(size: str = "demo", variant: Optional[str] = None) -> PipelineConfig:
    """The built-in demo: `experiments/configs/synthetic-demo.json` with the synthetic preset `size`."""
    cfg = load_config("synthetic-demo", variant)
    raw = deep_merge(cfg.raw, {"prepare": {"size": size}})
    return parse_config(raw)


# ---- turning options into command lines ---------------------------------------------------------
def option_flag(key: str) -> str:
    """Config key -> CLI flag: `pred_weights` -> `--pred-weights`."""
    return "--" + key.replace("_", "-")


def options_to_argv(options: Mapping[str, Any]) -> List[str]:
    """`{"w_pred": 1, "fold_biases": true, "prefixes": [20, 40, 80]}` -> `--w-pred 1 --fold-biases --prefixes 20,40,80`.

    False and None omit the option; lists are comma-joined (the CLIs' list syntax).
    """
    argv: List[str] = []
    for key, value in options.items():
        if value is None or value is False:
            continue
        flag = option_flag(key)
        if value is True:
            argv.append(flag)
        elif isinstance(value, (list, tuple)):
            argv += [flag, ",".join(str(v) for v in value)]
        else:
            argv += [flag, str(value)]
    return argv


def _subparsers() -> Dict[str, argparse.ArgumentParser]:
    from jaxsae.cli import build_parser

    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def check_options(config: PipelineConfig) -> None:
    """Every configured stage exists as a command and every option is one of its flags (ConfigError)."""
    parsers = _subparsers()
    for stage, opts in config.stages.items():
        command = STAGE_COMMANDS[stage]
        parser = parsers.get(command)
        if parser is None:
            raise ConfigError(f"stage {stage!r}: the command `jaxsae {command}` is not available in this installation")
        known = parser._option_string_actions
        for o in (opts if isinstance(opts, list) else [opts]):
            for key, value in o.items():
                flag = option_flag(key)
                if flag not in known or flag in ("--out", "--help"):
                    choices = sorted(f[2:].replace("-", "_") for f in known if f.startswith("--") and f not in ("--help",))
                    import difflib

                    close = difflib.get_close_matches(key, choices, n=3)
                    hint = f"; did you mean {', '.join(close)}?" if close else f"; options: {', '.join(choices)}"
                    raise ConfigError(f"stage {stage!r}: unknown option {key!r} for `jaxsae {command}`{hint}")
                action = known[flag]
                if action.nargs == 0 and not isinstance(value, bool):
                    raise ConfigError(f"stage {stage!r}: option {key!r} is a flag, give true or false, got {value!r}")


# ---- completeness and automatic choices ----------------------------------------------------------
def upstream(stage: str) -> List[str]:
    """Every stage `stage` depends on, directly or transitively."""
    seen: List[str] = []
    todo = list(DEPENDS[stage])
    while todo:
        s = todo.pop()
        if s not in seen:
            seen.append(s)
            todo.extend(DEPENDS[s])
    return seen


def stage_complete(run_dir: Path, stage: str) -> bool:
    """True when every final file of `stage` exists in `run_dir`."""
    return all((run_dir / rel).exists() for rel in DONE_FILES[stage])


def _norm(x: Any) -> str:
    return str(x).strip().lower()


def intervention_done(run_dir: Path, kind: str, target: str) -> bool:
    """True when `RUN/interventions/<kind>-*.json` already holds a result for `target` (concept or item)."""
    for path in sorted((run_dir / "interventions").glob(f"{kind}-*.json")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        names = [rec.get("concept"), rec.get("item"), rec.get("title")] if isinstance(rec, dict) else []
        if any(n is not None and _norm(n) == _norm(target) for n in names):
            return True
    return False


def concept_margin(c: Mapping[str, Any], k: int = 10) -> float:
    """How far a concept's best SAE purity@k beats the best purity of a random-neuron null
    (`purity@k - null_purity@k`, analysis/concepts.json); the purity itself when no null was recorded."""
    pur = float(c.get(f"purity@{k}") or 0.0)
    null = c.get(f"null_purity@{k}")
    return pur - float(null) if null is not None else pur


def pick_concepts(concepts: Sequence[Mapping[str, Any]], n: int = 2) -> List[str]:
    """The `n` concepts the SAE captures best beyond chance: largest margin of purity@10 over
    null_purity@10 (a frequent concept such as Drama is pure by chance), genre/tag families first;
    ties: lower base rate, then more items."""
    rows = [c for c in concepts if isinstance(c, Mapping) and c.get("concept") is not None]
    main = [c for c in rows if c.get("family") in ("genre", "tag")] or rows
    if not main:
        raise PipelineError("analysis/concepts.json lists no concept: cannot choose one to intervene on")
    main = sorted(main, key=lambda c: (-round(concept_margin(c), 6), float(c.get("base_rate") or 0.0),
                                       -(c.get("n_items") or 0)))
    return [str(c["concept"]) for c in main[:n]]


def pick_niche_item(popularity: Sequence[int], item_ids: Sequence[str], quantile: float = 0.2) -> str:
    """An item to promote: the one at the `quantile` of popularity among items with any training positive.

    A niche but not unknown item, so promoting it is a real change of the lists (SPEC §7).
    """
    import numpy as np

    pop = np.asarray(popularity)
    candidates = np.flatnonzero(pop > 0)
    if candidates.size == 0:
        raise PipelineError("no item has a training interaction: cannot choose one to promote")
    order = candidates[np.argsort(pop[candidates], kind="stable")]
    return str(item_ids[int(order[int(quantile * (order.size - 1))])])


def resolve_interventions(run_dir: Path, interventions: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """Replace "auto" targets: concepts from analysis/concepts.json, the promoted item from the data."""
    out = [dict(o) for o in interventions]
    needs_concept = any(o.get(k) == AUTO for o in out for k in ("filter", "nudge"))
    needs_item = any(o.get("promote") == AUTO for o in out)
    best: List[str] = []
    if needs_concept:
        path = run_dir / "analysis" / "concepts.json"
        if not path.exists():
            raise PipelineError(f"{path} is missing: run the analyze stage before choosing concepts automatically")
        best = pick_concepts(json.loads(path.read_text()), n=2)
    item: Optional[str] = None
    if needs_item:
        from data_prep.dataset import InteractionData

        data = InteractionData.load(run_dir / "data")
        item = pick_niche_item(data.popularity, data.item_ids)
    for o in out:
        if o.get("filter") == AUTO:
            o["filter"] = best[0]
        if o.get("nudge") == AUTO:
            o["nudge"] = best[1] if len(best) > 1 else best[0]
        if o.get("promote") == AUTO:
            o["promote"] = item
    return out


# ---- running ------------------------------------------------------------------------------------
@dataclasses.dataclass
class StageRecord:
    """One line of pipeline.json's `stages`."""

    stage: str
    status: str  # "ran", "skipped" or "failed"
    seconds: float
    argv: List[str]


def _call(argv: List[str]) -> int:
    from jaxsae.cli import main

    try:
        return main(argv)
    except SystemExit as e:  # argparse errors
        return int(e.code) if isinstance(e.code, int) else 2


def stage_argv(stage: str, run_dir: Path, options: Mapping[str, Any], dataset: str, resume: bool = False) -> List[str]:
    """The `jaxsae` command line of one stage (intervene: one experiment's options)."""
    command = STAGE_COMMANDS[stage]
    if stage == "prepare":
        return [command, dataset, "--out", str(run_dir)] + options_to_argv(options)
    argv = [command, str(run_dir)] + options_to_argv(options)
    if resume and "resume" not in options:
        argv.append("--resume")
    return argv


def run_pipeline(config: PipelineConfig, run_dir: "str | Path", force: Sequence[str] = (),
                 log: Callable[[str], None] = print, call: Callable[[List[str]], int] = _call) -> Dict[str, Any]:
    """Run the configured stages in order into `run_dir`, skipping complete ones unless in `force`.

    A stage also reruns when a stage it depends on (`DEPENDS`, transitively) ran in this invocation, so
    `force=["analyze"]` redoes the interventions and the report but not the ablation.

    `call(argv) -> exit code` runs one stage (default: `jaxsae.cli.main`). Returns the pipeline.json payload.
    """
    from jaxsae.io import library_versions, write_json

    check_options(config)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    unknown = [s for s in force if s not in STAGE_COMMANDS]
    if unknown:
        raise ConfigError(f"--force: unknown stage(s) {', '.join(unknown)} (stages: {', '.join(STAGE_COMMANDS)})")
    parsers = None
    records: List[StageRecord] = []
    payload: Dict[str, Any] = {"name": config.name, "dataset": config.dataset, "config": dict(config.raw),
                               "stages": records, "versions": library_versions()}
    start = time.perf_counter()

    def save() -> None:
        payload["total_s"] = time.perf_counter() - start
        write_json(run_dir / "pipeline.json", payload)

    def run_one(stage: str, argv: List[str], label: str) -> None:
        log(f"[jaxsae run] {label}: jaxsae {' '.join(argv)}")
        t0 = time.perf_counter()
        code = call(argv)
        dt = time.perf_counter() - t0
        records.append(StageRecord(label, "ran" if code == 0 else "failed", dt, argv))
        save()
        if code != 0:
            raise PipelineError(f"stage {label} failed (exit {code}) after {dt:.1f} s; fix the cause and rerun "
                                f"`jaxsae run` to resume from this stage")
        log(f"[jaxsae run] {label}: done in {dt:.1f} s")

    for stage in STAGE_COMMANDS:
        if stage not in config.stages:
            continue
        opts = config.stages[stage]
        ran = {r.stage.split(" ")[0] for r in records if r.status == "ran"}
        stale = any(s in ran for s in upstream(stage))
        if stage == "intervene":
            if stale:  # results of another SAE: neuron numbers no longer mean anything
                for old in (run_dir / "interventions").glob("*.json"):
                    if old.name != "config.json":
                        old.unlink()
            for o in resolve_interventions(run_dir, opts):
                kind = next(k for k in INTERVENTION_KINDS if k in o)
                label = f"intervene {kind} {o[kind]}"
                if stage not in force and not stale and intervention_done(run_dir, kind, o[kind]):
                    log(f"[jaxsae run] {label}: complete, skipped")
                    records.append(StageRecord(label, "skipped", 0.0, []))
                    continue
                run_one(stage, stage_argv(stage, run_dir, o, config.dataset), label)
            continue
        if stage not in force and not stale and stage_complete(run_dir, stage):
            log(f"[jaxsae run] {stage}: complete ({DONE_FILES[stage][0]}), skipped")
            records.append(StageRecord(stage, "skipped", 0.0, []))
            continue
        resume = False
        if stage in RESUMABLE and stage not in force and not stale:
            from jaxsae.checkpoint import checkpoint_meta

            stage_dir = run_dir / RESUMABLE[stage]
            # train_rec with early stopping checkpoints its selection run in rec/select/ before rec/
            if checkpoint_meta(stage_dir) is not None or checkpoint_meta(stage_dir / "select") is not None:
                parsers = parsers or _subparsers()
                resume = "--resume" in parsers[STAGE_COMMANDS[stage]]._option_string_actions
        run_one(stage, stage_argv(stage, run_dir, opts, config.dataset, resume=resume),
                stage + (" (resuming)" if resume else ""))
    save()
    log(f"[jaxsae run] all stages complete in {payload['total_s']:.1f} s: {run_dir / 'report' / 'index.html'}")
    return payload
