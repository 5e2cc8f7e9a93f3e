"""`jaxsae sweep RUN [--grid default|large|FILE] [--axis FIELD=V1,V2 ...] [--set FIELD=V ...]` (SPEC §11).

Trains a grid of SAEs on RUN's recommender in few compiled programs, scores every setting on
validation users (never the held-out users of `RUN/sae/metrics.json`) and writes
`RUN/sweep/sweep.json`, `RUN/sweep/pareto.png` and `config.json`; the selection rule is in
`jaxsae.analysis.sweep`. `train-sae RUN --sae auto` runs the same sweep and installs its choice as
RUN/sae. `--axis` and `--set` take any `SAETrainConfig` field (so new fields plug in unchanged).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from jaxsae.errors import ConfigError


def coerce(field: str, text: Any) -> Any:
    """A command-line value for `SAETrainConfig.<field>`, typed like the field's default."""
    from jaxsae.sae.config import SAETrainConfig

    fields = {f.name: f for f in dataclasses.fields(SAETrainConfig)}
    if field not in fields:
        raise ConfigError(f"{field!r} is not an SAE config field (fields: {', '.join(fields)})")
    if not isinstance(text, str):
        return text
    default = fields[field].default
    low = text.strip().lower()
    if low in ("none", "null"):
        return None
    try:
        if isinstance(default, bool):
            if low not in ("true", "false", "1", "0"):
                raise ValueError
            return low in ("true", "1")
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, str):
            return text.strip()
        return json.loads(text)  # Optional / tuple fields: JSON (e.g. prefixes [16,32,64], epochs 10)
    except ValueError:
        raise ConfigError(f"{field}: cannot read {text!r} as the type of its default {default!r}") from None


def _pairs(items: Optional[List[str]], what: str) -> List[tuple]:
    out = []
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"{what} expects FIELD=VALUE, got {item!r}")
        name, value = item.split("=", 1)
        out.append((name.strip().replace("-", "_"), value))
    return out


def add_sweep_options(p: argparse.ArgumentParser, prefix: str = "") -> None:
    """Options shared by `jaxsae sweep` and `train-sae --sae auto` (`prefix` names them apart there)."""
    g = p.add_argument_group("sweep" + (" (with --sae auto)" if prefix else ""))
    g.add_argument("--grid", default="default", help="grid: default, large, or a JSON file {base, axes, seeds}")
    g.add_argument("--axis", action="append", metavar="FIELD=V1,V2", help="grid axis over an SAE config field "
                   "(repeatable; replaces the grid's axes)")
    g.add_argument(f"--{prefix}seeds", dest="sweep_seeds", default=None, help="seeds per setting (default: the grid's, 0,1)")
    g.add_argument("--validation-fraction", type=float, default=0.2, help="share of SAE training users for validation")
    g.add_argument("--item-fraction", type=float, default=1.0, help="share of items concepts are scored on (1 = all)")
    g.add_argument("--null-seeds", type=int, default=10, help="seeds of the random-direction null purity")
    g.add_argument("--final", choices=("reuse", "retrain"), default="reuse",
                   help="RUN/sae: the sweep's run of the chosen setting (reuse) or a fresh training (retrain)")


def sweep_config(args: argparse.Namespace, base_overrides: Dict[str, Any]) -> Any:
    """The `SweepConfig` of the command line: the grid, then `--axis`, then the base overrides."""
    from jaxsae.analysis.sweep import SweepConfig, load_grid

    grid = dict(load_grid(args.grid))
    if args.axis:
        grid["axes"] = {name: [coerce(name, v) for v in values.split(",") if v.strip()]
                        for name, values in _pairs(args.axis, "--axis")}
    options: Dict[str, Any] = {"validation_fraction": args.validation_fraction, "item_fraction": args.item_fraction,
                               "null_seeds": args.null_seeds, "final": args.final}
    if args.sweep_seeds is not None:
        from jaxsae.cli.analyze import int_list

        options["seeds"] = tuple(int_list(args.sweep_seeds))
    return SweepConfig.from_grid(grid, base_overrides=base_overrides, **options)


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("sweep", help="train a grid of SAEs, score them on validation users, pick one (RUN/sweep/)",
                       description="Train a grid of SAEs in few compiled programs, score each on validation users "
                                   "(concepts beyond the null, rbo@30, kendall_tau@30, popularity) and write "
                                   "RUN/sweep/sweep.json and pareto.png.")
    p.add_argument("run", metavar="RUN", help="run directory with data/ and rec/")
    p.add_argument("--set", action="append", metavar="FIELD=VALUE", help="base SAE config field (repeatable)")
    p.add_argument("--steps", type=int, default=None, help="steps per SAE (default: the grid's base, 3000)")
    add_sweep_options(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from jaxsae.stages.auto_sae import run_sweep

    overrides = {name: coerce(name, v) for name, v in _pairs(args.set, "--set")}
    if args.steps is not None:
        overrides["steps"] = args.steps
    config = sweep_config(args, overrides)
    run = Path(args.run)
    doc, _ = run_sweep(run, config, log=lambda s: print(f"[sweep] {s.removeprefix('sweep: ')}", flush=True))
    c = doc["cost"]
    print(f"[sweep] {c['n_runs']} SAEs in {c['n_programs']} programs, {c['wall_s']:.1f} s "
          f"({c['wall_per_sae_s']:.2f} s per SAE)", flush=True)
    return 0
