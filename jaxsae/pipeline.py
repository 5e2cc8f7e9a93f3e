"""`jaxsae run`: every stage of a run in order, rerunning what is missing, unfinished, failed or stale (SPEC §8, §14).

A pipeline config is JSON: the dataset, then per stage a dict of that stage's options
(`{"dataset": "synthetic", "prepare": {"size": "demo"}, "train_rec": {"model": "mf"}, ...}`), and
`intervene` a list of such dicts, one per experiment. A stage's option names are the fields of its config
dataclasses (`jaxsae.stages.<stage>.OPTIONS`, the same that make its CLI flags), and before any stage runs
every stage's options are built into those dataclasses by the stage's own `build` (`check_options`), so
`k > latents`, `"latents": "many"`, `steps: -5`, a dataset typo or (with prepared data) an unknown
concept fail before any work. Each stage then runs as its library function (`jaxsae.stages.<stage>.run`);
no command line is built or parsed. Which stages are complete comes from `jaxsae.lineage` (`stage.json`):
a stage reruns when it is missing, unfinished, failed or stale (made from an older input), when its
config changed, when a stage it depends on ran in this invocation, or when forced; an interrupted
training stage resumes from its checkpoint. `RUN/pipeline.json` records the resolved config and each
stage's status, time and equivalent command line.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from jaxsae import lineage
from jaxsae.errors import ConfigError, JaxsaeError
# automatic choices of `"auto"` intervention targets (re-exported: part of this module's API)
from jaxsae.stages.auto import (AUTO, PipelineError, concept_margin, intervention_done, pick_concepts,  # noqa: F401
                                pick_niche_item, resolve_interventions)

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
# the run directory each stage writes (`jaxsae.lineage` records and judges it)
STAGE_DIRS: Dict[str, str] = {
    "prepare": "data", "train_rec": "rec", "train_sae": "sae", "analyze": "analysis",
    "intervene": "interventions", "ablate": "ablation", "report": "report",
}
# files whose presence marks a stage complete (relative to RUN; legacy runs without stage.json)
DONE_FILES: Dict[str, Sequence[str]] = {
    stage: tuple(f"{d}/{f}" for f in lineage.DONE_FILES[d]) for stage, d in STAGE_DIRS.items() if stage != "intervene"
}
# options the pipeline sets itself (the run directory), never taken from a config
RESERVED_OPTIONS = ("out", "help", "debug", "resume")
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
TOP_KEYS = ("name", "description", "dataset", "variants", "notes", "paper")
DEFAULT_INTERVENTIONS = [{"filter": AUTO}, {"nudge": AUTO}, {"promote": AUTO}]


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


# ---- options -> validated stage configs ----------------------------------------------------------
# runner(stage, run_dir, config, resume, log): runs one stage (default: the stage function itself)
Runner = Callable[[str, Path, Any, bool, Callable[[str], None]], Any]


def stage_module(stage: str) -> Any:
    """The module of a pipeline stage (`jaxsae.stages.<stage>`: OPTIONS, build, record, run)."""
    import importlib

    return importlib.import_module(f"jaxsae.stages.{stage}")


def option_flag(key: str) -> str:
    """Config key -> CLI flag: `pred_weights` -> `--pred-weights`."""
    return "--" + key.replace("_", "-")


def options_to_argv(options: Mapping[str, Any]) -> List[str]:
    """`{"w_pred": 1, "fold_biases": true, "levels": [-0.5, -1]}` -> `--w-pred=1 --fold-biases --levels=-0.5,-1`:
    the command line equivalent to a stage's options (shown by `--dry-run`, kept in pipeline.json).

    True gives the bare flag, False and None omit the option; lists are comma-joined (the CLIs' list
    syntax); values are attached with `=` so a negative number or list is never read as an option.
    """
    argv: List[str] = []
    for key, value in options.items():
        if value is None or value is False:
            continue
        flag = option_flag(key)
        if value is True:
            argv.append(flag)
        elif isinstance(value, (list, tuple)):
            argv.append(f"{flag}={','.join(str(v) for v in value)}")
        else:
            argv.append(f"{flag}={value}")
    return argv


def stage_options(stage: str, options: Mapping[str, Any], dataset: str) -> Dict[str, Any]:
    """A stage's options as its `build` takes them (prepare: with the pipeline's dataset)."""
    return {"dataset": dataset, **options} if stage == "prepare" else dict(options)


def build_stage(stage: str, options: Mapping[str, Any], dataset: str, data: Any = None) -> Any:
    """One stage's validated config from its options (the very `build` its CLI command uses); with `data`
    (the run's prepared `InteractionData`) also the checks that need it. Errors name the stage."""
    module = stage_module(stage)
    try:
        for key, value in options.items():
            if key in RESERVED_OPTIONS:
                raise ConfigError(f"unknown option {key!r} (the pipeline sets it)")
            if isinstance(value, dict):
                raise ConfigError(f"option {key!r} must be a number, string, list or true/false, got {value!r}")
        config = module.build(stage_options(stage, options, dataset))
        if data is not None and getattr(module, "check_data", None) is not None:
            module.check_data(config, data)
        return config
    except JaxsaeError as e:
        raise ConfigError(f"stage {stage!r}: {e}") from None


def check_options(config: PipelineConfig, run_dir: "str | Path" = "RUN", data: Any = None) -> Dict[str, List[Any]]:
    """Every configured stage's options built into its config dataclass before anything runs (one-line
    `ConfigError` naming the stage). With `data` (the run's prepared data, when the prepare stage will not
    rerun) the named concepts and items are checked too ("auto" targets are chosen later and always
    exist). Returns each stage's validated configs (a list: `intervene` has one per experiment)."""
    out: Dict[str, List[Any]] = {}
    for stage, opts in config.stages.items():
        for o in (opts if isinstance(opts, list) else [opts]):
            auto = stage == "intervene" and any(o.get(k) == AUTO for k in INTERVENTION_KINDS)
            # an "auto" target is chosen after the analysis: its other options are checked now, its name then
            out.setdefault(stage, []).append(build_stage(stage, o, config.dataset, None if auto else data))
    return out


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


def stage_status(run_dir: Path, stage: str) -> "lineage.StageStatus":
    """Where `stage`'s directory stands (`jaxsae.lineage`: complete, missing, unfinished, failed or stale)."""
    return lineage.status(run_dir, STAGE_DIRS[stage])


def stage_complete(run_dir: Path, stage: str) -> bool:
    """True when `stage`'s directory is complete and made from the current inputs."""
    return stage_status(Path(run_dir), stage).ok


# ---- running ------------------------------------------------------------------------------------
@dataclasses.dataclass
class StageRecord:
    """One line of pipeline.json's `stages`."""

    stage: str
    status: str  # "ran", "skipped" or "failed"
    seconds: float
    argv: List[str]  # the equivalent `jaxsae` command line
    error: Optional[str] = None  # why it failed


def stage_argv(stage: str, run_dir: Path, options: Mapping[str, Any], dataset: str, resume: bool = False) -> List[str]:
    """The `jaxsae` command line of one stage (intervene: one experiment's options)."""
    command = STAGE_COMMANDS[stage]
    if stage == "prepare":
        return [command, dataset, "--out", str(run_dir)] + options_to_argv(options)
    argv = [command, str(run_dir)] + options_to_argv(options)
    if resume and "resume" not in options:
        argv.append("--resume")
    return argv


def _prepared_data(run_dir: Path) -> Any:
    """The run's `InteractionData` when `RUN/data` is complete, else None."""
    if not lineage.status(run_dir, "data").ok:
        return None
    from data_prep.dataset import InteractionData

    try:
        return InteractionData.load(run_dir / "data")
    except JaxsaeError:
        return None


# config fields whose change does not make a finished stage's result another one
RERUN_IGNORED = ("devices", "log_every", "checkpoint_every", "eval_every", "eval_chunk_size", "max_scan_steps")


def config_change(run_dir: Path, stage: str, validated: Any) -> str:
    """"" when `RUN/<stage>/stage.json` records the config `validated` (or records none: a legacy run),
    else the first differing field as `key: old -> new`."""
    if validated is None or stage == "intervene":
        return ""
    rec = lineage.read_stage(run_dir / STAGE_DIRS[stage]) or {}
    recorded = rec.get("config")
    if stage == "ablate" and isinstance(recorded, dict):
        recorded = recorded.get("ablation")
    if not isinstance(recorded, dict):
        return ""
    want = stage_module(stage).record(validated)
    if not isinstance(want, dict):
        return ""
    for key, value in want.items():
        if key not in RERUN_IGNORED and key in recorded and recorded[key] != value:
            return f"{key}: {recorded[key]!r} -> {value!r}"
    return ""


def plan(config: PipelineConfig, run_dir: "str | Path", force: Sequence[str] = (),
         validated: Optional[Mapping[str, Any]] = None) -> Dict[str, str]:
    """Per configured stage what a run would do now: "complete" or why it runs (missing, stale, forced,
    config changed, ...); `validated` is what `check_options` returned."""
    run_dir = Path(run_dir)
    out: Dict[str, str] = {}
    for stage in config.stages:
        st = stage_status(run_dir, stage)
        changed = config_change(run_dir, stage, (validated or {}).get(stage, [None])[0]) if st.ok else ""
        if stage in force:
            out[stage] = "forced"
        elif stage == "intervene":
            out[stage] = "per experiment" if st.ok or st.state == "missing" else st.state
        elif changed:
            out[stage] = f"config changed, {changed}"
        else:
            out[stage] = "complete" if st.ok else st.state
        if out[stage] in ("complete", "per experiment"):  # what depends on a stage that runs runs too
            runs = [up for up in upstream(stage) if out.get(up) not in (None, "complete", "per experiment")]
            if runs:
                out[stage] = f"after {runs[-1]}"
    return out


def run_stage(stage: str, run_dir: Path, config: Any, resume: bool, log: Callable[[str], None]) -> Any:
    """The default runner: the stage function `jaxsae.stages.<stage>.run`."""
    return stage_module(stage).run(run_dir, config, resume=resume, log=log)


def run_pipeline(config: PipelineConfig, run_dir: "str | Path", force: Sequence[str] = (),
                 log: Callable[[str], None] = print, runner: Runner = run_stage) -> Dict[str, Any]:
    """Run the configured stages in order into `run_dir`; a stage is skipped when complete (`jaxsae.lineage`:
    made from the current inputs) unless in `force` or a stage it depends on ran in this invocation.

    Every stage's options are built into its config dataclass before the first stage runs (the
    interventions' concepts and items again once the data is prepared); `runner(stage, run_dir, config,
    resume, log)` then runs each (default `run_stage`, the stage function). Returns the pipeline.json payload.
    """
    from jaxsae.io import library_versions, write_json

    run_dir = Path(run_dir)
    unknown = [s for s in force if s not in STAGE_COMMANDS]
    if unknown:
        raise ConfigError(f"--force: unknown stage(s) {', '.join(unknown)} (stages: {', '.join(STAGE_COMMANDS)})")
    reprepare = "prepare" in config.stages and ("prepare" in force or not stage_complete(run_dir, "prepare"))
    validated = check_options(config, run_dir, data=None if reprepare else _prepared_data(run_dir))
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"--out {run_dir} is a file, not a run directory")
    run_dir.mkdir(parents=True, exist_ok=True)
    records: List[StageRecord] = []
    payload: Dict[str, Any] = {"name": config.name, "dataset": config.dataset, "config": dict(config.raw),
                               "stages": records, "versions": library_versions()}
    start = time.perf_counter()

    def save() -> None:
        payload["total_s"] = time.perf_counter() - start
        write_json(run_dir / "pipeline.json", payload)

    def run_one(stage: str, options: Mapping[str, Any], cfg: Any, label: str, resume: bool = False) -> None:
        argv = stage_argv(stage, run_dir, options, config.dataset, resume=resume)
        log(f"[jaxsae run] {label}: jaxsae {' '.join(argv)}")
        t0 = time.perf_counter()
        error: Optional[str] = None
        try:
            runner(stage, run_dir, cfg, resume, log)
        except (JaxsaeError, OSError) as e:  # bad input, a diverged training, an unwritable disk: one line
            error = str(e) if isinstance(e, JaxsaeError) else f"{e.strerror or e}: {getattr(e, 'filename', '')}"
        dt = time.perf_counter() - t0
        records.append(StageRecord(label, "failed" if error else "ran", dt, argv, error))
        save()
        if error is not None:
            raise PipelineError(f"stage {label} failed after {dt:.1f} s: {error}; fix the cause and rerun "
                                f"`jaxsae run` to resume from this stage")
        log(f"[jaxsae run] {label}: done in {dt:.1f} s")

    for stage in STAGE_COMMANDS:
        if stage not in config.stages:
            continue
        opts = config.stages[stage]
        ran = {r.stage.split(" ")[0] for r in records if r.status == "ran"}
        stale = any(s in ran for s in upstream(stage))
        status = stage_status(run_dir, stage)
        if stage == "intervene":
            if stale or status.state == "stale":  # results of another SAE: neuron numbers no longer mean anything
                for old in (run_dir / "interventions").glob("*.json"):
                    if old.name not in ("config.json", lineage.STAGE_FILE):
                        old.unlink()
                stale = True
            if "prepare" in ran:  # named concepts and items checked against the new data before the SAE trains
                check_options(PipelineConfig(config.dataset, {"intervene": opts}, config.name), run_dir,
                              data=_prepared_data(run_dir))
            for o in resolve_interventions(run_dir, opts):
                kind = next(k for k in INTERVENTION_KINDS if k in o)
                label = f"intervene {kind} {o[kind]}"
                if stage not in force and not stale and intervention_done(run_dir, kind, o[kind]):
                    log(f"[jaxsae run] {label}: complete, skipped")
                    records.append(StageRecord(label, "skipped", 0.0, []))
                    continue
                run_one(stage, o, build_stage(stage, o, config.dataset), label)
            continue
        changed = config_change(run_dir, stage, validated[stage][0]) if status.ok else ""
        if stage not in force and not stale and status.ok and not changed:
            log(f"[jaxsae run] {stage}: complete ({STAGE_DIRS[stage]}/), skipped")
            records.append(StageRecord(stage, "skipped", 0.0, []))
            continue
        if changed and stage not in force and not stale:
            log(f"[jaxsae run] {stage}: the config changed since {run_dir / STAGE_DIRS[stage]} was made "
                f"({changed}): rerunning")
            stale = True  # a fresh run, never a resume of the other config's checkpoint
        elif status.state in ("stale", "failed", "unfinished") and stage not in force and not stale:
            log(f"[jaxsae run] {stage}: {status.reason.split('; rerun')[0]}: rerunning")
        if stage == "train_rec" and "prepare" in ran and "intervene" in config.stages:
            check_options(PipelineConfig(config.dataset, {"intervene": config.stages["intervene"]}, config.name),
                          run_dir, data=_prepared_data(run_dir))
        resume = stage in RESUMABLE and stage not in force and not stale and _interrupted(run_dir, RESUMABLE[stage])
        run_one(stage, opts, validated[stage][0], stage + (" (resuming)" if resume else ""), resume=resume)
    save()
    log(f"[jaxsae run] all stages complete in {payload['total_s']:.1f} s: {run_dir / 'report' / 'index.html'}")
    return payload


def _interrupted(run_dir: Path, name: str) -> bool:
    """True when `RUN/<name>` has a training checkpoint to continue: in its work directory (killed or failed
    under lineage) or, for a legacy run, in the unfinished directory itself."""
    from jaxsae.checkpoint import checkpoint_meta

    work = lineage.work_dir(run_dir, name)

    def has_checkpoint(d: Path) -> bool:  # train_rec with early stopping checkpoints its selection run in select/
        return checkpoint_meta(d) is not None or (name == "rec" and checkpoint_meta(d / "select") is not None)

    try:
        if work.is_dir() and has_checkpoint(work):
            return True
        return lineage.status(run_dir, name).state == "unfinished" and has_checkpoint(run_dir / name)
    except JaxsaeError:  # corrupt checkpoint metadata: train afresh
        return False
