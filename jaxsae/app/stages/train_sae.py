"""The `train_sae` stage: train the SAE of a run through its frozen recommender and write `RUN/sae/`.

Options: `TrainSAEOptions` (architecture or `auto`, a paper preset), every `SAETrainConfig` field, and for
`sae="auto"` the sweep's (`SweepConfig` fields and `SweepGrid`). `build` gives an `SAETrainConfig`, or a
`SweepConfig` for the validation-based choice, which is the default without `sae` and `preset`. `run`
trains into `RUN/.sae.work` and swaps it in whole, so a failed retrain keeps the previous good `RUN/sae`.
`build_sweep` is the same for `jaxsae sweep` (the SAE fields set the sweep's base).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, List, Mapping, Sequence, Tuple, Union

from jaxsae.selection import SweepConfig, load_grid
from jaxsae.errors import ConfigError
from jaxsae.app.options import coerce, option_specs, split_options
from jaxsae.sae import PRESETS, SAETrainConfig, from_preset
from jaxsae.sae import SAE_REGISTRY
from jaxsae.jsonio import to_jsonable
from data_prep.dataset import InteractionData
from jaxsae.app import lineage
from jaxsae.app.io import save_stage_config
from jaxsae.sae import BALANCE_KEY
from jaxsae.app.runs import load_run_recommender
from jaxsae.training.sae import train_sae
from jaxsae.app.stages.auto_sae import train_auto

DIRECTORY = "sae"


def _sae_kinds() -> Tuple[str, ...]:

    return (*SAE_REGISTRY, "auto")


@dataclasses.dataclass(frozen=True)
class TrainSAEOptions:
    """Which SAE: an architecture, the automatic choice, or a paper setting to start from."""

    OPTION_CHOICES: ClassVar[Mapping[str, Sequence[str]]] = {"sae": _sae_kinds(), "preset": tuple(PRESETS)}

    sae: Union[str, None] = None
    """Architecture; auto (the default without sae and preset): sweep a grid on validation users and train the
    setting it picks (`jaxsae sweep`; the other SAE options given set the sweep's base)."""
    preset: Union[str, None] = None
    """Start from a paper setting; options given explicitly override it (default: none)."""
    paper_schedule: bool = False
    """With preset: the paper's epoch count."""


@dataclasses.dataclass(frozen=True)
class SweepGrid:
    """The grid a sweep trains: a named or JSON grid, optionally with its axes replaced."""

    OPTION_REPEATABLE: ClassVar[Sequence[str]] = ("axis", "set")

    grid: str = "default"
    """Grid: default, large, sparse, or a JSON file {base, axes, seeds}."""
    axis: Tuple[str, ...] = ()
    """FIELD=V1,V2: a grid axis over an SAE config field (replaces the grid's axes)."""
    set: Tuple[str, ...] = ()
    """FIELD=VALUE: an SAE config field of the sweep's base (the same as giving that option)."""


OPTIONS = (TrainSAEOptions, SAETrainConfig, SweepConfig, SweepGrid)
TITLES = (None, "SAE (SAETrainConfig; default: the paper's ML-1M MF weights)", "sweep (with --sae auto)", None)
SWEEP_OPTIONS = (SAETrainConfig, SweepConfig, SweepGrid)
SWEEP_TITLES = ("the sweep's base SAE (SAETrainConfig)", "sweep", None)


def _pairs(items: Sequence[str], what: str) -> List[Tuple[str, str]]:
    out = []
    for item in items:
        if "=" not in item:
            raise ConfigError(f"{what} expects FIELD=VALUE, got {item!r}")
        name, value = item.split("=", 1)
        out.append((name.strip().replace("-", "_"), value))
    return out


def sae_value(field: str, text: Any) -> Any:
    """A value for `SAETrainConfig.<field>` typed like the field (one line naming the field otherwise)."""
    spec = next((s for s in option_specs(SAETrainConfig) if s.name == field), None)
    if spec is None:
        names = ", ".join(s.name for s in option_specs(SAETrainConfig))
        raise ConfigError(f"{field!r} is not an SAE config field (fields: {names})")
    return coerce(spec, text)


def _sweep(grid_opts: SweepGrid, sweep_fields: Dict[str, Any], base_overrides: Dict[str, Any]) -> SweepConfig:
    grid = dict(load_grid(grid_opts.grid))
    if grid_opts.axis:
        grid["axes"] = {name: [sae_value(name, v) for v in values.split(",") if v.strip()]
                        for name, values in _pairs(grid_opts.axis, "--axis")}
    base = {**base_overrides, **{n: sae_value(n, v) for n, v in _pairs(grid_opts.set, "--set")}}
    return SweepConfig.from_grid(grid, base_overrides=base, **sweep_fields)


def build(options: Mapping[str, Any]) -> Union[SAETrainConfig, SweepConfig]:
    """The validated stage config from option names: an `SAETrainConfig`, or with `sae="auto"` (the default
    without `sae`/`preset`) the `SweepConfig` whose grid the automatic choice sweeps."""
    stage_fields, sae_fields, sweep_fields, grid_fields = split_options(options, *OPTIONS)
    opts = TrainSAEOptions(**stage_fields)
    sae = opts.sae if opts.sae is not None or opts.preset is not None else "auto"
    if sae == "auto":  # no architecture asked for: the validation-based choice
        if opts.preset is not None or opts.paper_schedule:
            raise ConfigError("--sae auto sweeps its own grid: drop --preset / --paper-schedule")
        return _sweep(SweepGrid(**grid_fields), sweep_fields, sae_fields)
    if sweep_fields or grid_fields:
        given = ", ".join("--" + k.replace("_", "-") for k in [*sweep_fields, *grid_fields])
        raise ConfigError(f"{given}: sweep options apply to --sae auto only")
    if opts.sae is not None:
        sae_fields["sae"] = opts.sae
    if opts.preset is not None:
        config = from_preset(opts.preset, paper_schedule=opts.paper_schedule, **sae_fields)
    elif opts.paper_schedule:
        raise ConfigError("--paper-schedule needs --preset")
    else:
        config = SAETrainConfig(**sae_fields)
    # An error, not a warning: a silently ignored --k trains another SAE than the one asked for,
    # and a warning scrolls away in a pipeline log; the fix (drop --k or pick --sae topk) is one edit.
    if "k" in sae_fields and "topk" not in config.sae:
        raise ConfigError(f"--k applies to TopK SAEs only; the {config.sae!r} SAE has no k (drop --k or use --sae topk)")
    return config


def build_sweep(options: Mapping[str, Any]) -> SweepConfig:
    """`jaxsae sweep`'s config: SAE fields set the base, then the sweep's own options and grid."""
    sae_fields, sweep_fields, grid_fields = split_options(options, *SWEEP_OPTIONS)
    return _sweep(SweepGrid(**grid_fields), sweep_fields, sae_fields)


def record(config: Union[SAETrainConfig, SweepConfig]) -> Dict[str, Any]:
    """What `RUN/sae/stage.json` records."""

    return config.to_dict() if isinstance(config, SAETrainConfig) else to_jsonable(config)


SUMMARY = ("fvu", "l0", "dead_fraction", "rbo@30", "kendall_tau@30", "rbo_paper", "kendall_tau_paper")


def run(run_dir: "str | Path", config: Union[SAETrainConfig, SweepConfig], *, resume: bool = False,
        log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Train (or sweep and install the choice) into `RUN/sae/`; returns its metrics.json payload."""

    run_dir = Path(run_dir)
    lineage.require(run_dir, "rec")  # refuses an unfinished, failed or stale recommender (one line)
    with lineage.stage(run_dir, DIRECTORY, config=record(config), inputs=("data", "rec"), resume=resume) as out:
        if isinstance(config, SweepConfig):

            _, metrics = train_auto(run_dir, config, resume=resume, log=log, out_dir=out)
        else:
            data = InteractionData.load(run_dir / "data")
            two_tower = load_run_recommender(run_dir)
            trained, metrics = train_sae(two_tower, data, config, out_dir=out, resume=resume, log=log)
            save_stage_config(out, config.to_dict(), seed=config.seed,
                              extra={"input_dim": trained.input_two_tower.dim, BALANCE_KEY: trained.balance_factor})
    summary = "  ".join(f"{k} {metrics[k]:.4g}" for k in SUMMARY if isinstance(metrics.get(k), float))
    log(f"train-sae: done in {metrics['train_s']:.1f}s: {summary} -> {run_dir / DIRECTORY}")
    return metrics
