"""`jaxsae report RUN`: RUN/report/index.html and report.md from the run's JSON (SPEC §8)."""
from __future__ import annotations

import argparse


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("report", help="write RUN/report/index.html and report.md with tables and figures")
    p.add_argument("run", help="run directory")
    p.add_argument("--out", default=None, help="report directory (default RUN/report)")
    p.add_argument("--no-figures", action="store_true", help="tables only (no matplotlib)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from jaxsae import lineage
    from jaxsae.errors import MissingDataError
    from jaxsae.report import build_report

    log = lambda m: print(m, flush=True)  # noqa: E731
    if args.out is not None:
        build_report(args.run, out_dir=args.out, figures=not args.no_figures, log=log)
        return 0
    if not Path(args.run).is_dir():
        raise MissingDataError(f"{args.run}: no such run directory")
    # RUN/report is written aside and swapped in whole; it records which results it was made from
    with lineage.stage(args.run, "report", config={"figures": not args.no_figures},
                       optional_inputs=("data", "rec", "sae", "analysis", "interventions", "ablation")) as work:
        final = str(Path(args.run) / "report")
        build_report(args.run, out_dir=work, figures=not args.no_figures, log=lambda m: log(m.replace(str(work), final)))
    return 0
