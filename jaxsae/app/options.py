"""Config dataclasses as the one definition of a stage's options.

Every field of a frozen config dataclass (`SAETrainConfig`, `RecConfig`, `PrepareOptions`, ...) is an
option: its name is the config-file key and, with dashes, the CLI flag; its type, default and help come
from the field itself (the help is the field's docstring, or its trailing comment). `option_specs(cls)`
reads them, `coerce` turns a CLI string or a JSON value into the field's type with a one-line error, and
`build` makes the dataclass from a mapping of options. The CLI (`jaxsae.app.cli.flags`) and `jaxsae run`
both go through `build`, so a flag and a config key reach the same field by construction.

Optional class attributes refine a class's options:
- `OPTION_CHOICES: ClassVar[Mapping[str, Sequence]]`: allowed values of a field (shown in help, checked);
- `OPTION_ALIASES: ClassVar[Mapping[str, Tuple[str, ...]]]`: other accepted names of a field (`ks`: `k`);
- `OPTION_REPEATABLE: ClassVar[Sequence[str]]`: list fields given as a repeated flag, one element each
  (`--axis k=8,16 --axis w_pred=1,2`), whose elements may hold commas;
- `OPTION_SWITCHES: ClassVar[Mapping[str, Tuple[str, Any]]]`: flag-like aliases setting a field to a
  fixed value (`untied` -> `tied=False`); `no_<bool field>` always works as such a switch;
- `OPTION_NARGS: ClassVar[Sequence[str]]`: list fields given as several values after one flag
  (`--tables users.csv items.csv`);
- `OPTION_HIDDEN: ClassVar[Sequence[str]]`: fields that are not options (internal or structured);
- `OPTION_DEFAULT_TEXT: ClassVar[Mapping[str, str]]`: how help shows a default the class resolves later
  (`levels`: "filter 0..-3, nudge 1..4, promote 0..8"), computed from the library's constants.
"""
from __future__ import annotations

import ast
import dataclasses
import difflib
import functools
import inspect
import io
import math
import textwrap
import tokenize
import typing
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from jaxsae.errors import ConfigError

_SCALARS = {bool: "bool", int: "int", float: "float", str: "str"}
_LISTS = {int: "ints", float: "floats", str: "strs"}


@dataclasses.dataclass(frozen=True)
class OptionSpec:
    """One option: a dataclass field seen as a flag / config key."""

    field: str
    """The dataclass field it sets."""
    name: str
    """Its public name: the config key, and `--name-with-dashes` on the command line."""
    kind: str
    """"bool", "int", "float", "str", or a comma-separated list of scalars: "ints", "floats", "strs"."""
    optional: bool
    """True when the field accepts None (config `null`, or `none` on the command line)."""
    default: Any
    """The field's default (None also where the class resolves it at construction, e.g. per model)."""
    help: str
    """The field's docstring or trailing comment, on one line."""
    choices: Optional[Tuple[Any, ...]] = None
    """Allowed values, when the class names them."""
    aliases: Tuple[str, ...] = ()
    """Other names accepted for it (older flags and config keys)."""
    repeatable: bool = False
    """A list given one element per flag (`--axis A --axis B`) rather than comma-separated."""
    nargs: bool = False
    """A list given as several values after one flag (`--tables A B`)."""
    default_shown: Optional[str] = None
    """How help shows the default, where the class says (else `default_text` of `default`)."""

    @property
    def flag(self) -> str:
        """The command-line flag: `--w-pred`."""
        return "--" + self.name.replace("_", "-")


def _source(cls: type) -> Tuple[str, int]:
    """The class's dedented source and its first line number (0-based offset)."""
    lines, first = inspect.getsourcelines(cls)
    return textwrap.dedent("".join(lines)), first


@functools.lru_cache(maxsize=None)
def field_help(cls: type) -> Dict[str, str]:
    """Help text per field of `cls` (and its dataclass bases): the string literal right after the field
    (an attribute docstring), else the comment ending the field's line; "" when there is neither."""
    out: Dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass) or klass is object:
            continue
        try:
            src, _ = _source(klass)
        except (OSError, TypeError):  # pragma: no cover - no source (a frozen build): help stays empty
            continue
        comments: Dict[int, str] = {}
        for tok in tokenize.generate_tokens(io.StringIO(src).readline):
            if tok.type == tokenize.COMMENT:
                comments[tok.start[0]] = tok.string.lstrip("#").strip()
        body = ast.parse(src).body[0]
        assert isinstance(body, ast.ClassDef)
        stmts = body.body
        for i, node in enumerate(stmts):
            if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
                continue
            nxt = stmts[i + 1] if i + 1 < len(stmts) else None
            if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
                text = nxt.value.value
            else:
                text = comments.get(node.end_lineno or node.lineno, "")
            out[node.target.id] = " ".join(text.split())
    return out


def _kind(tp: Any) -> Tuple[Optional[str], bool]:
    """`(kind, optional)` of a resolved type hint; kind None when the type is not an option type."""
    optional = False
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        if len(args) != 1:
            return None, optional
        tp, origin = args[0], typing.get_origin(args[0])
    if tp in _SCALARS:
        return _SCALARS[tp], optional
    if origin in (tuple, list, Sequence) or origin is getattr(typing, "Sequence", None):
        args = typing.get_args(tp)
        elem = args[0] if args else None
        if elem in _LISTS and (len(args) == 1 or (len(args) == 2 and args[1] is Ellipsis)):
            return _LISTS[elem], optional
    return None, optional


@functools.lru_cache(maxsize=None)
def option_specs(cls: type) -> Tuple[OptionSpec, ...]:
    """The options of dataclass `cls`, in field order (fields of other types and `OPTION_HIDDEN` skipped)."""
    hints = typing.get_type_hints(cls)
    helps = field_help(cls)
    choices: Mapping[str, Sequence[Any]] = getattr(cls, "OPTION_CHOICES", {})
    aliases: Mapping[str, Sequence[str]] = getattr(cls, "OPTION_ALIASES", {})
    repeatable = set(getattr(cls, "OPTION_REPEATABLE", ()))
    nargs = set(getattr(cls, "OPTION_NARGS", ()))
    hidden = set(getattr(cls, "OPTION_HIDDEN", ()))
    shown: Mapping[str, str] = getattr(cls, "OPTION_DEFAULT_TEXT", {})
    out: List[OptionSpec] = []
    for f in dataclasses.fields(cls):
        if f.name in hidden or not f.init:
            continue
        if isinstance(hints[f.name], type) and dataclasses.is_dataclass(hints[f.name]):
            out.extend(option_specs(hints[f.name]))  # a group of options (SAETrainConfig.arch, ...): its fields, flat
            continue
        kind, optional = _kind(hints[f.name])
        if kind is None:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = None
        ch = choices.get(f.name)
        out.append(OptionSpec(field=f.name, name=f.name, kind=kind, optional=optional or default is None,
                              default=default, help=helps.get(f.name, ""), choices=tuple(ch) if ch is not None else None,
                              aliases=tuple(aliases.get(f.name, ())), repeatable=f.name in repeatable,
                              nargs=f.name in nargs,
                              default_shown=shown.get(f.name)))
    return tuple(out)


def named_switches(cls: type) -> Dict[str, Tuple[str, Any]]:
    """The `OPTION_SWITCHES` of `cls` and of its option groups: name -> (field, value)."""
    out: Dict[str, Tuple[str, Any]] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if isinstance(hints.get(f.name), type) and dataclasses.is_dataclass(hints[f.name]):
            out.update(named_switches(hints[f.name]))
    out.update(getattr(cls, "OPTION_SWITCHES", {}))
    return out


def switches(cls: type) -> Dict[str, Tuple[str, Any]]:
    """Flag-like aliases of `cls`: name -> (field, value) (`named_switches`, and `no_<field>` per bool)."""
    out: Dict[str, Tuple[str, Any]] = {}
    for spec in option_specs(cls):
        if spec.kind == "bool":
            out[f"no_{spec.name}"] = (spec.field, False)
    out.update(named_switches(cls))
    return out


_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _scalar(kind: str, value: Any, where: str) -> Any:
    elem = {"ints": "int", "floats": "float", "strs": "str"}.get(kind, kind)
    if elem == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if elem == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, float) and math.isfinite(value) and value == int(value):
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{where} must be an integer, got {value!r}")
    if elem == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{where} must be a number, got {value!r}")
    if isinstance(value, str):
        return value.strip()
    raise ConfigError(f"{where} must be a string, got {value!r}")


def coerce(spec: OptionSpec, value: Any, where: Optional[str] = None) -> Any:
    """`value` (a CLI string or a JSON value) as the type of `spec`'s field; one-line `ConfigError` else.

    Lists take a JSON list or a comma-separated string (`"8,16,32"`; a negative number needs no quoting
    tricks: `-0.5,-1`). `none`/`null` give None where the field is optional."""
    where = where or spec.name
    if value is None or (spec.optional and isinstance(value, str) and value.strip().lower() in ("none", "null")):
        if spec.optional:
            return None
        raise ConfigError(f"{where} cannot be empty (null); expected {spec.kind}")
    if spec.kind in ("ints", "floats", "strs"):
        if isinstance(value, str):
            items: Any = [value] if spec.repeatable or spec.nargs else [v for v in value.split(",") if v.strip()]
        else:
            items = value
        if not isinstance(items, (list, tuple)):
            items = [items]
        try:
            out: Any = tuple(_scalar(spec.kind, v, where) for v in items)
        except ConfigError:
            what = {"ints": "integers", "floats": "numbers", "strs": "strings"}[spec.kind]
            raise ConfigError(f"{where} must be comma-separated {what}, got {value!r}") from None
        members = out
    else:
        out = _scalar(spec.kind, value, where)
        members = (out,)
    if spec.choices is not None:
        for m in members:
            if m not in spec.choices:
                close = difflib.get_close_matches(str(m), [str(c) for c in spec.choices], n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
                raise ConfigError(f"{where} must be one of {', '.join(map(str, spec.choices))}, got {m!r}{hint}")
    return out


def known_names(*classes: type) -> List[str]:
    """Every public option name of `classes` (switches included), for error messages."""
    names: List[str] = []
    for cls in classes:
        names += [n for s in option_specs(cls) for n in (s.name, *s.aliases)] + list(switches(cls))
    return names


def split_options(options: Mapping[str, Any], *classes: type) -> Tuple[Dict[str, Any], ...]:
    """Field values per class from one mapping of public names (each class's options, aliases and switches;
    a name two classes share goes to the first). Unknown keys: one line with close matches."""
    per: List[Dict[str, Any]] = [{} for _ in classes]
    for key, value in options.items():
        key_n = str(key).replace("-", "_")
        for i, cls in enumerate(classes):
            spec = next((s for s in option_specs(cls) if key_n == s.name or key_n in s.aliases), None)
            if spec is not None:
                if value is not None or spec.optional:  # null for a field that cannot be None: its default
                    per[i][spec.field] = coerce(spec, value)
                break
            sw = switches(cls).get(key_n)
            if sw is not None:
                on = coerce(OptionSpec(key_n, key_n, "bool", False, False, ""), value)
                field, fixed = sw
                if on:
                    per[i][field] = fixed
                break
        else:
            known = known_names(*classes)
            close = difflib.get_close_matches(key_n, known, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; options: {', '.join(known)}"
            raise ConfigError(f"unknown option {key_n!r}{hint}")
    return tuple(per)


def build(cls: type, fields: Mapping[str, Any]) -> Any:
    """`cls(**fields)`, every error a one-line `ConfigError`."""
    try:
        return cls(**fields)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{cls.__name__}: {e}") from None


def from_options(cls: type, options: Mapping[str, Any]) -> Any:
    """`cls` built from a mapping of its option names (a stage with one config dataclass)."""
    (fields,) = split_options(options, cls)
    return build(cls, fields)


def default_text(spec: OptionSpec) -> str:
    """The default as help shows it (`8,16,32`, `none`, `0.001`)."""
    if spec.default_shown is not None:
        return spec.default_shown
    d = spec.default
    if d is None:
        return "none"
    if isinstance(d, bool):
        return "on" if d else "off"
    if isinstance(d, (tuple, list)):
        return ",".join(str(v) for v in d) or "empty"
    return str(d)
