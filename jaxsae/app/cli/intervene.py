"""`jaxsae intervene RUN --filter CONCEPT | --nudge CONCEPT | --promote ITEM | --benchmark CONCEPT [options]`.

The flags are the fields of `InterveneTarget` and `InterveneOptions` (`jaxsae.app.stages.intervene`, the stage's
one definition). Writes `RUN/interventions/{filter,nudge,promote}-<name>.json` (`benchmark.json`) (keys in
docs/ARCHITECTURE.md) and `config.json`. Negative levels need `--levels=-0.5,-1` (with `=`).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from jaxsae.app.stages.intervene import InterveneOptions
from jaxsae.app.cli.flags import add_options
from jaxsae.app.stages import intervene as stage
from jaxsae.app.cli.flags import given


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:

    p = sub.add_parser("intervene", help="filter, nudge or promote through an SAE neuron, or benchmark steering against baselines without an SAE (RUN/interventions/)")
    p.add_argument("run", metavar="RUN", help="run directory with data/, rec/ and sae/")
    add_options(p, stage.OPTIONS, titles=stage.TITLES)
    p.set_defaults(func=main)


def config_from_args(args: argparse.Namespace) -> InterveneOptions:
    """The validated `InterveneOptions` of the command line (the stage's own `build`)."""

    return stage.build(given(args, exclude=("run",)))


def main(args: argparse.Namespace) -> int:

    stage.run(Path(args.run), config_from_args(args), log=lambda s: print(s, flush=True))
    return 0
