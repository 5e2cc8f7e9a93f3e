"""The `report` stage: `RUN/report/index.html`, `report.md` and the neuron explorer from the run's JSON.

Options: the `ReportOptions` fields. Written aside and swapped in whole; the report records which results
it was made from and shows only a consistent chain (a stale, unfinished or failed section is left out with
a note saying what to rerun).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional

from jaxsae.app.options import from_options
from jaxsae.app import lineage
from jaxsae.errors import MissingDataError
from jaxsae.app.report import build_report

DIRECTORY = "report"


@dataclasses.dataclass(frozen=True)
class ReportOptions:
    """What the report holds and where it goes."""

    out: Optional[str] = None
    """Report directory (default RUN/report, recorded in the run's lineage)."""
    figures: bool = True
    """Figures (matplotlib); off: tables only."""
    explorer: bool = True
    """RUN/report/explorer.html, the neuron explorer."""


OPTIONS = (ReportOptions,)


def build(options: Mapping[str, Any]) -> ReportOptions:
    """The validated `ReportOptions` from option names (`figures`, `explorer`, `no_figures`, ...)."""
    return from_options(ReportOptions, options)


def record(config: ReportOptions) -> Dict[str, Any]:
    """What `RUN/report/stage.json` records."""
    return {"figures": config.figures, "explorer": config.explorer}


def run(run_dir: "str | Path", config: ReportOptions, *, resume: bool = False,
        log: Callable[[str], None] = print) -> Path:
    """Write the report; returns its directory."""

    if config.out is not None:
        build_report(run_dir, out_dir=config.out, figures=config.figures, log=log, explorer=config.explorer)
        return Path(config.out)
    if not Path(run_dir).is_dir():
        raise MissingDataError(f"{run_dir}: no such run directory")
    final = Path(run_dir) / DIRECTORY
    with lineage.stage(run_dir, DIRECTORY, config=record(config),
                       optional_inputs=("data", "rec", "sae", "analysis", "interventions", "ablation")) as work:
        build_report(run_dir, out_dir=work, figures=config.figures,
                     log=lambda m: log(m.replace(str(work), str(final))), explorer=config.explorer)
    return final
