"""`jaxsae report RUN`: a readable page of a run's results.

`build_report(run_dir)` reads the JSON files every stage wrote (`collect.load_run`), builds the
sections once (`sections.build_sections`, drawing PNG figures with matplotlib when installed) and
renders them to `RUN/report/index.html` (self-contained: inline CSS, figures referenced relatively)
and `RUN/report/report.md`; `RUN/report/explorer.html` is the browsable neuron explorer
(`jaxsae.app.report.explorer`). Stages that did not run are reported as such, never as a crash.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional

from jaxsae.app.report.collect import RunData, load_run
from jaxsae.app.report.content import Section
from jaxsae.app.report.html import render_html
from jaxsae.app.report.markdown import render_markdown
from jaxsae.app.report.sections import ablation_table, build_sections, purity_summary, purity_table
from jaxsae.errors import MissingDataError
from jaxsae.app.io import save_stage_config
from jaxsae.app.report.explorer import write_explorer

__all__ = ["build_report", "load_run", "RunData", "Section", "build_sections", "purity_table", "purity_summary",
           "ablation_table", "render_html", "render_markdown"]


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def build_report(run_dir: "str | Path", out_dir: "str | Path | None" = None, figures: bool = True,
                 log: Optional[Callable[[str], None]] = None, explorer: bool = True) -> Path:
    """Write `index.html`, `report.md`, the figures and (unless `explorer=False`) `explorer.html` into
    `out_dir` (default `RUN/report/`).

    Returns the path of `index.html`, which is written last: its presence marks the report complete.
    """

    start = time.perf_counter()
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MissingDataError(f"{run_dir}: no such run directory")
    out = Path(out_dir) if out_dir is not None else run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    run = load_run(run_dir)
    sections = build_sections(run, out, draw_figures=figures)
    dataset = (run.summary or {}).get("dataset")
    title = f"jaxsae report: {dataset}" if dataset else f"jaxsae report: {run_dir.name}"

    save_stage_config(out, {"run_dir": str(run_dir), "figures": figures, "out_dir": str(out)})
    _write_text(out / "report.md", render_markdown(title, sections))
    if explorer:

        t_exp = time.perf_counter()
        try:
            path = write_explorer(run, out)
        except Exception as e:  # noqa: BLE001 - the tables of index.html do not depend on the explorer
            (out / "explorer.html").unlink(missing_ok=True)  # never leave a stale one beside a new report
            if log is not None:
                log(f"report: warning: explorer.html not written ({type(e).__name__}: {e})")
        else:
            if log is not None:
                log(f"report: {path} ({path.stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - t_exp:.1f} s")
    index = out / "index.html"
    _write_text(index, render_html(title, sections))
    if log is not None:
        n_fig = sum(1 for s in sections for b in s.blocks if type(b).__name__ == "Figure")
        missing = [s.id for s in sections if s.missing]
        log(f"report: {index} ({n_fig} figures; not run: {', '.join(missing) or 'none'}) "
            f"in {time.perf_counter() - start:.1f} s")
    return index
