"""`jaxsae report RUN`: RUN/report/index.html and report.md from the run's JSON (SPEC §8), and the
neuron explorer RUN/report/explorer.html (SPEC §15)."""
from __future__ import annotations

import argparse


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("report", help="write RUN/report/index.html and report.md with tables and figures")
    p.add_argument("run", help="run directory")
    p.add_argument("--out", default=None, help="report directory (default RUN/report)")
    p.add_argument("--no-figures", action="store_true", help="tables only (no matplotlib)")
    p.add_argument("--no-explorer", action="store_true", help="skip RUN/report/explorer.html (the neuron explorer)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from jaxsae import lineage
    from jaxsae.errors import MissingDataError
    from jaxsae.report import build_report

    log = lambda m: print(m, flush=True)  # noqa: E731
    explorer = not args.no_explorer
    if args.out is not None:
        build_report(args.run, out_dir=args.out, figures=not args.no_figures, log=log, explorer=explorer)
        return 0
    if not Path(args.run).is_dir():
        raise MissingDataError(f"{args.run}: no such run directory")
    # RUN/report is written aside and swapped in whole; it records which results it was made from
    with lineage.stage(args.run, "report", config={"figures": not args.no_figures, "explorer": explorer},
                       optional_inputs=("data", "rec", "sae", "analysis", "interventions", "ablation")) as work:
        final = str(Path(args.run) / "report")
        build_report(args.run, out_dir=work, figures=not args.no_figures, log=lambda m: log(m.replace(str(work), final)),
                     explorer=explorer)
    return 0
