"""The `jaxsae` command: a thin dispatcher over one module per subcommand.

Each `jaxsae/app/cli/<module>.py` defines `register(subparsers)`, which adds its parser and sets
`func(args) -> int`; a stage's flags are generated from its config dataclasses (`jaxsae.app.cli.flags`) and
its work is the stage function of `jaxsae.app.stages`, which `jaxsae run` calls directly. Errors caused by bad input (`JaxsaeError`) print one line and exit 2;
`--debug` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, NoReturn, Optional
from jaxsae.errors import JaxsaeError
import os

# (module under jaxsae.app.cli) in the order they appear in `jaxsae --help`
COMMAND_MODULES = (
    "prepare", "export_split", "train_rec", "import_rec", "train_sae", "sweep", "analyze", "intervene", "ablate",
    "report", "run", "bench",
)


class OneLineParser(argparse.ArgumentParser):
    """A parser whose usage errors are one line naming the command and pointing to its --help (the
    reliability rule: one line, no traceback), exit status 2 as argparse's."""

    def error(self, message: str) -> "NoReturn":  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The `jaxsae` parser: one subparser per command module."""
    parser = OneLineParser(
        prog="jaxsae",
        description="Monosemantic neurons in recommender systems: prediction-aware sparse autoencoders in JAX.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        modname = f"jaxsae.app.cli.{name}"
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
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2, already printed on one line)
        return int(e.code) if isinstance(e.code, int) else 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2

    try:
        return int(args.func(args) or 0)
    except JaxsaeError as e:
        if debug:
            raise
        print(f"jaxsae {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `jaxsae run --dry-run | head`: the reader left; not an error of ours
        _silence_stdout()
        return 141
    except OSError as e:  # unreadable input, unwritable output, a file where a directory belongs, a full disk
        if debug:
            raise
        where = f": {e.filename}" if getattr(e, "filename", None) else ""
        print(f"jaxsae {args.command}: error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"jaxsae {args.command}: interrupted", file=sys.stderr)
        return 130


def _silence_stdout() -> None:
    """Point stdout at /dev/null so Python's exit-time flush does not raise BrokenPipeError again."""

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover - no real stdout (captured in tests)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
