"""`jaxsae import-rec RUN --tables FILE [FILE] [--score dot|cosine] [--by-position]`: an outside model as
`RUN/rec/`. The flags are the fields of `ImportRecOptions` (`jaxsae.app.stages.import_rec`)."""
from __future__ import annotations

import argparse
from jaxsae.app.cli.flags import add_options
from jaxsae.app.stages import import_rec as stage
from jaxsae.app.cli.flags import given


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:

    p = sub.add_parser("import-rec", help="use embeddings trained elsewhere as RUN/rec/ (aligned by id)",
                       description="Write RUN/rec/ from outside user/item tables aligned by id to RUN/data.")
    p.add_argument("run", metavar="RUN", help="run directory holding data/ (from `jaxsae prepare`)")
    add_options(p, stage.OPTIONS)
    p.set_defaults(func=main)


def config_from_args(args: argparse.Namespace) -> "object":
    """The validated `ImportRecOptions` of the command line (the stage's own `build`)."""

    return stage.build(given(args, exclude=("run",)))


def main(args: argparse.Namespace) -> int:

    stage.run(args.run, config_from_args(args), log=lambda s: print(s, flush=True))
    return 0
