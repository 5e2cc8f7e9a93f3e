"""`RUN/report/explorer.html`: a browsable, self-contained neuron explorer.

`explorer_data` (`jaxsae.app.report.explorer_data`, where the document layout is described) gathers what the
page shows into one compact JSON document; `render_explorer` embeds it in the HTML/CSS/JS template of
`explorer_assets/` (plain JavaScript, no network). A stage that did not run leaves its part of the page
empty with a note, never a failure.
"""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from jaxsae.app.report.collect import RunData
from jaxsae.app.report.explorer_data import ExplorerConfig, explorer_data

__all__ = ["ExplorerConfig", "explorer_data", "embed_json", "render_explorer", "write_explorer"]

ASSETS = Path(__file__).with_name("explorer_assets")


def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def embed_json(doc: Any) -> str:
    """Compact JSON safe inside `<script type="application/json">` (no `<`, `>` or `&` left unescaped)."""
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e").replace(
        "\u2028", "\\u2028").replace("\u2029", "\\u2029")


def render_explorer(doc: Dict[str, Any]) -> str:
    """The self-contained page: the template with its CSS, JavaScript and the data embedded."""
    page = (_asset("explorer.html").replace("/*__CSS__*/", _asset("explorer.css"), 1)
            .replace("/*__JS__*/", _asset("explorer.js"), 1)
            .replace("__TITLE__", html.escape(str(doc["meta"]["title"]))))
    return page.replace("__DATA__", embed_json(doc), 1)  # last: the data may contain any of the markers


def write_explorer(run: RunData, out_dir: Path, config: ExplorerConfig = ExplorerConfig(),
                   arrays: Optional[Tuple[Any, Any]] = None) -> Path:
    """Write `out_dir/explorer.html` (atomically) and return its path."""
    path = Path(out_dir) / "explorer.html"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_explorer(explorer_data(run, config, arrays)), encoding="utf-8")
    tmp.replace(path)
    return path
