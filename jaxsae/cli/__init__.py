"""The `jaxsae` command: a thin dispatcher over one module per subcommand (SPEC §8).

Each `jaxsae/cli/<module>.py` defines `register(subparsers)`, which adds its parser and sets
`func(args) -> int`. Errors caused by bad input (`JaxsaeError`) print one line and exit 2;
`--debug` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, Optional

# (module under jaxsae.cli) in the order they appear in `jaxsae --help`
COMMAND_MODULES = (
    "prepare", "export_split", "train_rec", "import_rec", "train_sae", "sweep", "analyze", "intervene", "ablate",
    "report", "run", "bench",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxsae",
        description="Monosemantic neurons in recommender systems: prediction-aware sparse autoencoders in JAX.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        modname = f"jaxsae.cli.{name}"
        try:
            module = importlib.import_module(modname)
        except ModuleNotFoundError as e:  # a command not built yet
            if e.name == modname:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from jaxsae.errors import JaxsaeError

    try:
        return int(args.func(args) or 0)
    except JaxsaeError as e:
        if debug:
            raise
        print(f"jaxsae {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"jaxsae {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
