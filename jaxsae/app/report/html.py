"""Render sections as one self-contained HTML page (inline CSS; figures are PNG files beside it)."""
from __future__ import annotations

import html
from typing import List, Sequence

from jaxsae.app.report.content import Card, Figure, Paragraph, Section, Table

CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 0; color: #222; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5em 2em 4em; }
h1 { font-size: 1.7em; margin-bottom: .2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
nav { background: #f6f8fa; padding: .6em 2em; border-bottom: 1px solid #e1e4e8; position: sticky; top: 0; }
nav a { margin-right: 1.1em; color: #0366d6; text-decoration: none; font-size: .92em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .88em; }
th, td { border: 1px solid #dfe2e5; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } tr:nth-child(even) td { background: #fbfcfd; }
caption { caption-side: bottom; font-size: .85em; color: #666; text-align: left; padding-top: .3em; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .85em; color: #555; }
.missing { color: #8a6d3b; background: #fcf8e3; padding: .5em .8em; border-radius: 4px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: .8em; }
.card { border: 1px solid #dfe2e5; border-radius: 6px; padding: .4em .8em; }
.card.labeled { border-color: #2ca02c; } .card h3 { font-size: 1em; margin: .3em 0; }
.card dl { display: grid; grid-template-columns: auto 1fr; gap: 0 .8em; font-size: .85em; margin: 0; }
.card dt { color: #666; } .card dd { margin: 0; } .card table { font-size: .8em; }
code { background: #f3f3f3; padding: 0 .25em; border-radius: 3px; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _inline(text: str) -> str:
    """Escape text, turning `backticked` spans into <code>."""
    parts = str(text).split("`")
    return "".join(f"<code>{_e(p)}</code>" if i % 2 else _e(p) for i, p in enumerate(parts))


def render_table(t: Table) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in t.header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in t.rows)
    cap = f"<caption>{_e(t.caption)}</caption>" if t.caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_card(c: Card) -> str:
    facts = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in c.facts)
    cls = "card labeled" if c.labeled else "card"
    return f'<div class="{cls}"><h3>{_e(c.title)}</h3><dl>{facts}</dl>{render_table(c.items)}</div>'


def render_blocks(blocks: Sequence[object]) -> str:
    out: List[str] = []
    cards: List[str] = []
    for b in list(blocks) + [None]:
        if isinstance(b, Card):
            cards.append(render_card(b))
            continue
        if cards:
            out.append('<div class="cards">' + "".join(cards) + "</div>")
            cards = []
        if isinstance(b, Paragraph):
            out.append(f"<pre><code>{_e(b.text)}</code></pre>" if b.code else f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, Table):
            out.append(render_table(b))
        elif isinstance(b, Figure):
            out.append(f'<figure><img src="{_e(b.file)}" alt="{_e(b.caption)}"><figcaption>{_e(b.caption)}'
                       "</figcaption></figure>")
    return "\n".join(out)


def render_html(title: str, sections: Sequence[Section]) -> str:
    """The whole page: a navigation bar, then each section (or its 'not run yet' note)."""
    nav = "".join(f'<a href="#{_e(s.id)}">{_e(s.title.split(":")[0])}</a>' for s in sections)
    parts = []
    for s in sections:
        body = f'<p class="missing">{_inline(s.missing)}</p>' if s.missing else render_blocks(s.blocks)
        parts.append(f'<section id="{_e(s.id)}"><h2>{_e(s.title)}</h2>\n{body}\n</section>')
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_e(title)}</title>"
        f"<style>{CSS}</style></head>\n<body><nav>{nav}</nav><main><h1>{_e(title)}</h1>\n"
        + "\n".join(parts)
        + "\n</main></body></html>\n"
    )
