"""Running the stages in order, skipping complete ones and rerunning stale ones (`jaxsae.app.pipeline`)."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from jaxsae.app import lineage
from jaxsae.errors import ConfigError, JaxsaeError
from jaxsae.app.pipeline.checks import Runner, build_stage, check_options, stage_argv, stage_module
from jaxsae.training import rec as rec_training, sae as sae_training
from jaxsae.app.pipeline.config import (DEPENDS, INTERVENTION_KINDS, RESUMABLE, STAGE_COMMANDS, STAGE_DIRS,
                                    PipelineConfig)
from jaxsae.app.stages.auto import PipelineError, intervention_done, resolve_interventions
from data_prep.dataset import InteractionData
from jaxsae.jsonio import to_jsonable
from jaxsae.app.io import library_versions
from jaxsae.jsonio import write_json
from jaxsae.checkpoint import checkpoint_meta

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
    """Where `stage`'s directory stands (`jaxsae.app.lineage`: complete, missing, unfinished, failed or stale)."""
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


def prepared_data(run_dir: Path) -> Any:
    """The run's `InteractionData` when `RUN/data` is complete, else None."""
    if not lineage.status(run_dir, "data").ok:
        return None

    try:
        return InteractionData.load(run_dir / "data")
    except JaxsaeError:
        return None


# config fields whose change does not make a finished stage's result another one: the trainers' bookkeeping
RERUN_IGNORED = tuple(dict.fromkeys(rec_training.BOOKKEEPING + sae_training.BOOKKEEPING))


def config_change(run_dir: Path, stage: str, validated: Any) -> str:
    """"" when `RUN/<stage>/stage.json` records the config `validated` (or records none: a legacy run),
    else the first differing field as `key: old -> new`."""
    if validated is None or stage == "intervene":
        return ""
    rec = lineage.read_stage(run_dir / STAGE_DIRS[stage]) or {}
    if rec.get("rerun"):  # made by another command (RUN/rec by `import-rec`): this stage's options do not apply
        return ""
    recorded = rec.get("config")
    if stage == "ablate" and isinstance(recorded, dict):
        recorded = recorded.get("ablation")
    if not isinstance(recorded, dict):
        return ""

    want = to_jsonable(stage_module(stage).record(validated))  # as stage.json holds it (tuples as lists)
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
    """The default runner: the stage function `jaxsae.app.stages.<stage>.run`."""
    return stage_module(stage).run(run_dir, config, resume=resume, log=log)


def run_pipeline(config: PipelineConfig, run_dir: "str | Path", force: Sequence[str] = (),
                 log: Callable[[str], None] = print, runner: Runner = run_stage) -> Dict[str, Any]:
    """Run the configured stages in order into `run_dir`; a stage is skipped when complete (`jaxsae.app.lineage`:
    made from the current inputs) unless in `force` or a stage it depends on ran in this invocation.

    Every stage's options are built into its config dataclass before the first stage runs (the
    interventions' concepts and items again once the data is prepared); `runner(stage, run_dir, config,
    resume, log)` then runs each (default `run_stage`, the stage function). Returns the pipeline.json payload.
    """

    run_dir = Path(run_dir)
    unknown = [s for s in force if s not in STAGE_COMMANDS]
    if unknown:
        raise ConfigError(f"--force: unknown stage(s) {', '.join(unknown)} (stages: {', '.join(STAGE_COMMANDS)})")
    reprepare = "prepare" in config.stages and ("prepare" in force or not stage_complete(run_dir, "prepare"))
    validated = check_options(config, run_dir, data=None if reprepare else prepared_data(run_dir))
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
                              data=prepared_data(run_dir))
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
                          run_dir, data=prepared_data(run_dir))
        resume = stage in RESUMABLE and stage not in force and not stale and _interrupted(run_dir, RESUMABLE[stage])
        run_one(stage, opts, validated[stage][0], stage + (" (resuming)" if resume else ""), resume=resume)
    save()
    log(f"[jaxsae run] all stages complete in {payload['total_s']:.1f} s: {run_dir / 'report' / 'index.html'}")
    return payload


def _interrupted(run_dir: Path, name: str) -> bool:
    """True when `RUN/<name>` has a training checkpoint to continue: in its work directory (killed or failed
    under lineage) or, for a legacy run, in the unfinished directory itself."""

    work = lineage.work_dir(run_dir, name)

    def has_checkpoint(d: Path) -> bool:  # train_rec with early stopping checkpoints its selection run in select/
        return checkpoint_meta(d) is not None or (name == "rec" and checkpoint_meta(d / "select") is not None)

    try:
        if work.is_dir() and has_checkpoint(work):
            return True
        return lineage.status(run_dir, name).state == "unfinished" and has_checkpoint(run_dir / name)
    except JaxsaeError:  # corrupt checkpoint metadata: train afresh
        return False

