"""Render sections as Markdown (`report.md`), the same content as the HTML page."""
from __future__ import annotations

from typing import List, Sequence

from jaxsae.app.report.content import Card, Figure, Paragraph, Section, Table


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_table(t: Table) -> str:
    lines = ["| " + " | ".join(_cell(h) for h in t.header) + " |", "|" + "---|" * len(t.header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in t.rows]
    if t.caption:
        lines.append(f"\n*{t.caption}*")
    return "\n".join(lines)


def render_blocks(blocks: Sequence[object]) -> str:
    out: List[str] = []
    for b in blocks:
        if isinstance(b, Paragraph):
            out.append(f"```\n{b.text}\n```" if b.code else b.text)
        elif isinstance(b, Table):
            out.append(render_table(b))
        elif isinstance(b, Figure):
            out.append(f"![{b.caption}]({b.file})")
        elif isinstance(b, Card):
            facts = "; ".join(f"{k}: {v}" for k, v in b.facts)
            out.append(f"#### {b.title}\n\n{facts}\n\n{render_table(b.items)}")
    return "\n\n".join(out)


def render_markdown(title: str, sections: Sequence[Section]) -> str:
    """The whole document: a title, then each section (or its 'not run yet' note)."""
    parts = [f"# {title}"]
    for s in sections:
        parts.append(f"## {s.title}\n\n" + (f"> {s.missing}" if s.missing else render_blocks(s.blocks)))
    return "\n\n".join(parts) + "\n"
