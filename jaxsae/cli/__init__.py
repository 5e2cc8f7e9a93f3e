"""The `jaxsae` command: a thin dispatcher over one module per subcommand (SPEC §8).

Each `jaxsae/cli/<module>.py` defines `register(subparsers)`, which adds its parser and sets
`func(args) -> int`. Errors caused by bad input (`JaxsaeError`) print one line and exit 2;
`--debug` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any, List, NoReturn, Optional

# (module under jaxsae.cli) in the order they appear in `jaxsae --help`
COMMAND_MODULES = (
    "prepare", "export_split", "train_rec", "import_rec", "train_sae", "sweep", "analyze", "intervene", "ablate",
    "report", "run", "bench",
)


class CheckingParser(argparse.ArgumentParser):
    """A parser whose errors raise `ConfigError` instead of exiting (argparse's documented `error` hook), so
    `check_argv` can validate a stage's command line without running it."""

    def error(self, message: str) -> "NoReturn":  # type: ignore[override]
        from jaxsae.errors import ConfigError

        raise ConfigError(f"{self.prog}: {message}")


def build_parser(parser_class: "type[argparse.ArgumentParser]" = argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The `jaxsae` parser (subparsers share `parser_class`)."""
    parser = parser_class(
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


def _flags(parser: argparse.ArgumentParser) -> List[str]:
    """Option names of a parser, read from its public help text (`--pred-weights` -> `pred_weights`)."""
    import re

    names = re.findall(r"(?<![\w-])--([a-z][a-z0-9-]*)", parser.format_help())
    return sorted({n.replace("-", "_") for n in names} - {"help", "debug"})


def check_argv(argv: List[str], data: Any = None) -> Any:
    """Validate one `jaxsae` command line without running it: parse it (unknown options and bad values are
    a one-line `ConfigError` with close matches) and build the stage's config dataclass with the command's
    own `config_from_args` (the very function the command runs); with `data` (an `InteractionData`) also
    the checks that need it (`check_data`: concepts, items). Returns the config (None for commands without one)."""
    import difflib

    from jaxsae.errors import ConfigError

    parser = build_parser(CheckingParser)
    args, unknown = parser.parse_known_args(argv)
    command = getattr(args, "command", None)
    module = importlib.import_module(f"jaxsae.cli.{str(command).replace('-', '_')}") if command else None
    if unknown:
        sub = CheckingParser(prog=f"jaxsae {command}", add_help=False)
        if module is not None:
            holder = sub.add_subparsers(dest="command")
            module.register(holder)
            known = _flags(holder.choices[command])  # public: the parsers add_parser returned
        else:
            known = []
        key = unknown[0].split("=", 1)[0].lstrip("-").replace("-", "_")
        close = difflib.get_close_matches(key, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; options: {', '.join(known)}"
        raise ConfigError(f"unknown option {key!r} for `jaxsae {command}`{hint}")
    build = getattr(module, "config_from_args", None)
    config = build(args) if build is not None else None
    if data is not None and getattr(module, "check_data", None) is not None:
        module.check_data(args, data)
    return config


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
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover - no real stdout (captured in tests)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
