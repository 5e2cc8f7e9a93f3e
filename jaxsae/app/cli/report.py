"""`jaxsae report RUN`: RUN/report/index.html and report.md from the run's JSON, and the
neuron explorer RUN/report/explorer.html. The flags are the fields of `ReportOptions`
(`jaxsae.app.stages.report`)."""
from __future__ import annotations

import argparse
from jaxsae.app.cli.flags import add_options
from jaxsae.app.stages import report as stage
from jaxsae.app.cli.flags import given


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:

    p = sub.add_parser("report", help="write RUN/report/index.html and report.md with tables and figures")
    p.add_argument("run", help="run directory")
    add_options(p, stage.OPTIONS)
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> "object":
    """The validated `ReportOptions` of the command line (the stage's own `build`)."""

    return stage.build(given(args, exclude=("run",)))


def run(args: argparse.Namespace) -> int:

    stage.run(args.run, config_from_args(args), log=lambda m: print(m, flush=True))
    return 0
