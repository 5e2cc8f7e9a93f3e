"""Command-line flags generated from config dataclasses (`jaxsae.app.options`).

`add_options(parser, classes)` adds one flag per option field (`--w-pred`, `--fold-biases/--no-fold-biases`,
aliases and switches such as `--untied`), typed, checked and documented by the field itself; an option
left off the command line is absent from the parsed namespace (`argparse.SUPPRESS`), so `given(args)` is
exactly what the user typed, which the stage's `build` (the same one `jaxsae run` uses) turns into its
validated config. A field already added by an earlier class is not added again (the first one owns it,
as in `jaxsae.app.options.split_options`).
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Optional, Sequence, Set

from jaxsae.errors import ConfigError
from jaxsae.app.options import OptionSpec, coerce, default_text, named_switches, option_specs

# namespace attributes that are not options of a stage
NOT_OPTIONS = ("func", "command", "debug")


def _type(spec: OptionSpec, element: bool = False) -> Callable[[str], Any]:
    """An argparse `type` reading one command-line string as the field's type (errors: argparse's usage line)."""

    def read(text: str) -> Any:
        try:
            value = coerce(spec, text, where="value")
        except ConfigError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return value[0] if element and isinstance(value, tuple) and len(value) == 1 else value

    read.__name__ = spec.kind
    return read


def _metavar(spec: OptionSpec) -> str:
    if spec.choices is not None:
        shown = "{" + ",".join(str(c) for c in spec.choices) + "}"
        return shown if spec.kind in ("str", "int", "float") else shown + ",..."
    if spec.nargs:
        return "FILE"
    return {"int": "N", "float": "X", "str": "TEXT", "ints": "N,N,...", "floats": "X,X,...",
            "strs": "A,B,..."}[spec.kind]


def help_text(spec: OptionSpec) -> str:
    """The field's help with its default appended (left out where the help already explains a None default)."""
    text = spec.help or spec.field.replace("_", " ")
    if spec.default is None and spec.default_shown is None and re.search(r"default|\bnone\b\s*[:=]", text.lower()):
        return text.replace("%", "%%")
    return f"{text} [default: {default_text(spec)}]".replace("%", "%%")


def add_options(parser: "argparse.ArgumentParser | argparse._ArgumentGroup", classes: Sequence[type],
                titles: Optional[Sequence[Optional[str]]] = None, skip: Iterable[str] = (),
                added: Optional[Set[str]] = None) -> Set[str]:
    """Add the flags of every option of `classes` (in order; `titles[i]` puts class i's in a named group).
    Returns the option names added (pass it back as `added` to continue without duplicates)."""
    added = set() if added is None else added
    added |= set(skip)
    for i, cls in enumerate(classes):
        title = titles[i] if titles is not None else None
        target = parser.add_argument_group(title) if title and hasattr(parser, "add_argument_group") else parser
        for spec in option_specs(cls):
            if spec.name in added:
                continue
            added.add(spec.name)
            flags = [spec.flag] + ["--" + a.replace("_", "-") for a in spec.aliases]
            if spec.kind == "bool":
                target.add_argument(*flags, dest=spec.name, action=argparse.BooleanOptionalAction,
                                    default=argparse.SUPPRESS, help=help_text(spec))
            elif spec.nargs:
                target.add_argument(*flags, dest=spec.name, nargs="+", type=_type(spec, element=True),
                                    default=argparse.SUPPRESS, metavar=_metavar(spec).removesuffix(",..."),
                                    help=help_text(spec))
            elif spec.repeatable:
                target.add_argument(*flags, dest=spec.name, action="append", type=_type(spec, element=True),
                                    default=argparse.SUPPRESS, metavar=_metavar(spec).removesuffix(",..."),
                                    help=help_text(spec) + " (repeatable)")
            else:
                target.add_argument(*flags, dest=spec.name, type=_type(spec), default=argparse.SUPPRESS,
                                    metavar=_metavar(spec), help=help_text(spec))
        for name, (field, value) in named_switches(cls).items():
            if name in added:
                continue
            added.add(name)
            target.add_argument("--" + name.replace("_", "-"), dest=name, action="store_true",
                                default=argparse.SUPPRESS, help=f"same as --{field.replace('_', '-')}={value}".lower())
    return added


def given(args: argparse.Namespace, exclude: Iterable[str] = ()) -> Dict[str, Any]:
    """The options on the command line: every namespace entry except positionals in `exclude` and argparse's own."""
    skip = set(NOT_OPTIONS) | set(exclude)
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in vars(args).items() if k not in skip}


def stage_config(stage: Any) -> Callable[[argparse.Namespace], Any]:
    """`config_from_args(args)` of a stage command: the validated config of the options given on the command
    line, by the stage's own `build` (the one `jaxsae run` uses for a pipeline config's keys)."""

    def config_from_args(args: argparse.Namespace) -> Any:
        return stage.build(given(args, exclude=("run",)))

    return config_from_args


def stage_command(sub: "argparse._SubParsersAction[argparse.ArgumentParser]", name: str, stage: Any, help: str,
                  run_help: str, description: Optional[str] = None) -> "argparse.ArgumentParser":
    """The sub-command `jaxsae NAME RUN [options]` of a stage whose whole command line is its options: the
    flags are `stage.OPTIONS` (grouped by `stage.TITLES` where the stage has them), and the command runs
    `stage.run(RUN, stage.build(given options), log=print)`, the same `build` that `jaxsae run` uses."""
    p = sub.add_parser(name, help=help, description=description)
    p.add_argument("run", metavar="RUN", help=run_help)
    add_options(p, stage.OPTIONS, titles=getattr(stage, "TITLES", None))
    config_from_args = stage_config(stage)

    def main(args: argparse.Namespace) -> int:
        stage.run(Path(args.run), config_from_args(args), log=lambda s: print(s, flush=True))
        return 0

    p.set_defaults(func=main)
    return p
