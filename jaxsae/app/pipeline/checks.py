"""A stage's options -> its validated config dataclass, for every stage before any runs (`jaxsae.app.pipeline`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping

from jaxsae.errors import ConfigError, JaxsaeError
from jaxsae.app.pipeline.config import INTERVENTION_KINDS, RESERVED_OPTIONS, STAGE_COMMANDS, PipelineConfig
from jaxsae.app.stages.auto import AUTO
import importlib

# runner(stage, run_dir, config, resume, log): runs one stage (default: the stage function itself)
Runner = Callable[[str, Path, Any, bool, Callable[[str], None]], Any]


def stage_module(stage: str) -> Any:
    """The module of a pipeline stage (`jaxsae.app.stages.<stage>`: OPTIONS, build, record, run)."""

    return importlib.import_module(f"jaxsae.app.stages.{stage}")


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



def stage_argv(stage: str, run_dir: Path, options: Mapping[str, Any], dataset: str, resume: bool = False) -> List[str]:
    """The `jaxsae` command line of one stage (intervene: one experiment's options)."""
    command = STAGE_COMMANDS[stage]
    if stage == "prepare":
        return [command, dataset, "--out", str(run_dir)] + options_to_argv(options)
    argv = [command, str(run_dir)] + options_to_argv(options)
    if resume and "resume" not in options:
        argv.append("--resume")
    return argv


