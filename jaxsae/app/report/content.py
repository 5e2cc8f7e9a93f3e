"""The report's content model: sections made of paragraphs, tables, figures and neuron cards.

Sections are built once (`jaxsae.app.report.sections`) and rendered twice, to HTML and to Markdown,
so the two files always say the same thing.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, List, Optional, Sequence, Tuple, Union

MISSING = "–"


@dataclasses.dataclass(frozen=True)
class Paragraph:
    """Plain text; `code` marks a command to show verbatim."""

    text: str
    code: bool = False


@dataclasses.dataclass(frozen=True)
class Table:
    """A header and rows of already formatted cells."""

    header: Tuple[str, ...]
    rows: Tuple[Tuple[str, ...], ...]
    caption: str = ""


@dataclasses.dataclass(frozen=True)
class Figure:
    """A PNG file beside the report (relative name) and its caption."""

    file: str
    caption: str


@dataclasses.dataclass(frozen=True)
class Card:
    """One neuron card: a title, facts as (name, value) pairs and a table of its top items."""

    title: str
    facts: Tuple[Tuple[str, str], ...]
    items: Table
    labeled: bool = False


Block = Union[Paragraph, Table, Figure, Card]


@dataclasses.dataclass
class Section:
    """A titled part of the report; `missing` explains why a stage's results are absent."""

    id: str
    title: str
    blocks: List[Block] = dataclasses.field(default_factory=list)
    missing: Optional[str] = None


def fmt(value: Any, digits: int = 3) -> str:
    """A cell: floats with `digits` decimals, ints with thousands separators, None/NaN as a dash."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return MISSING
        if value != 0 and abs(value) < 10 ** (-digits):
            return f"{value:.2e}"
        return f"{value:.{digits}f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v, digits) for v in value)
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = "", digits: int = 3) -> Table:
    """Build a `Table`, formatting every cell with `fmt`."""
    return Table(tuple(header), tuple(tuple(fmt(c, digits) for c in row) for row in rows), caption)
