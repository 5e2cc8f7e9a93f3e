"""`jaxsae prepare DATASET --out RUN`: read a dataset and write `RUN/data/`.

The flags are the fields of `SourceOptions` and `PrepareOptions` (`jaxsae.app.stages.prepare`, the stage's one
definition); everything is validated before any file is read, and bad input fails with one line naming
file and line, leaving `RUN/data/` as it was.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from data_prep.registry import DATASETS
from jaxsae.app.cli.flags import add_options
from jaxsae.app.stages import prepare as stage
from jaxsae.app.cli.flags import given


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:

    names = "\n".join(f"  {n:17s} {s.description}" for n, s in DATASETS.items())
    p = sub.add_parser(
        "prepare", help="read a dataset and write RUN/data/ (binarized, filtered, split, concepts)",
        description="Read a dataset and write RUN/data/ (data.npz, meta.json, summary.json, config.json).\n\n"
                    f"Datasets:\n{names}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dataset", help="dataset name (see above)")
    p.add_argument("--out", required=True, help="run directory; the data goes to OUT/data/")
    add_options(p, stage.OPTIONS, titles=stage.TITLES, skip=("dataset",))
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> "object":
    """The validated `PrepareConfig` of the command line (the stage's own `build`)."""

    return stage.build(given(args, exclude=("out",)))


def run(args: argparse.Namespace) -> int:

    config = config_from_args(args)  # every option checked before any file is read
    data = stage.run(Path(args.out), config, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    target = Path(args.out) / stage.DIRECTORY
    print(f"{target}/summary.json: dataset={data.dataset} n_users={data.n_users} n_items={data.n_items} "
          f"n_interactions={data.n_interactions} n_train={data.n_train} n_test_users={int(data.test_users.shape[0])} "
          f"concepts={data.n_concepts}", flush=True)
    return 0
