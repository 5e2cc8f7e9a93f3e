"""The pipeline config: a JSON document naming the dataset and each stage's options (`jaxsae.app.pipeline`)."""
from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence

from jaxsae.app import lineage
from jaxsae.errors import ConfigError
from jaxsae.app.stages.auto import AUTO

# shipped configs (`jaxsae run NAME` finds experiments/configs/NAME.json)
CONFIG_DIR = Path(__file__).resolve().parents[3] / "experiments" / "configs"

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
# the run directory each stage writes (`jaxsae.app.lineage` records and judges it)
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
INTERVENTION_KINDS = ("filter", "nudge", "promote", "benchmark")
TOP_KEYS = ("name", "description", "dataset", "variants", "notes", "paper")
DEFAULT_INTERVENTIONS = [{"filter": AUTO}, {"nudge": AUTO}, {"promote": AUTO}, {"benchmark": AUTO}]


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


def resolve_config_path(path: "str | Path") -> Path:
    """The config file `path` names: a file at that path, else, for a bare name (no folder, no suffix), the
    bundled `experiments/configs/<name>.json`. A folder is never a config, so `jaxsae run ml1m-mf` beside a
    run directory called `ml1m-mf` still runs the bundled config; a folder with no bundled config of its
    name is a one-line error saying so."""
    p = Path(path)
    if p.is_file():
        return p
    bundled = CONFIG_DIR / f"{path}.json"
    if p.suffix == "" and p.parent == Path(".") and bundled.is_file():
        return bundled
    if p.is_dir():
        raise ConfigError(f"{path} is a folder, not a pipeline config (bundled configs: "
                          f"{', '.join(sorted(c.stem for c in CONFIG_DIR.glob('*.json')))})")
    raise ConfigError(f"{path}: no such pipeline config")


def load_config(path: "str | Path", variant: Optional[str] = None) -> PipelineConfig:
    """Read a JSON config file; a bare name that is no file finds `experiments/configs/<name>.json`
    (`resolve_config_path`)."""
    p = resolve_config_path(path)
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


