"""`jaxsae analyze RUN [--k 5,10,20,50] [--null-seeds 5] [--min-support N] ...`.

The flags are the fields of `AnalysisConfig` (`jaxsae.app.stages.analyze`, the stage's one definition);
writes `RUN/analysis/`.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from jaxsae.app.cli.flags import add_options
from jaxsae.app.stages import analyze as stage
from jaxsae.app.cli.flags import given


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:

    p = sub.add_parser("analyze", help="concept purity, popularity/temporal neurons, MS and neuron cards (RUN/analysis/)")
    p.add_argument("run", metavar="RUN", help="run directory with data/, rec/ and sae/")
    add_options(p, stage.OPTIONS)
    p.set_defaults(func=main)


def config_from_args(args: argparse.Namespace) -> "object":
    """The validated `AnalysisConfig` of the command line (the stage's own `build`)."""

    return stage.build(given(args, exclude=("run",)))


def main(args: argparse.Namespace) -> int:

    stage.run(Path(args.run), config_from_args(args), log=lambda s: print(s, flush=True))
    return 0
