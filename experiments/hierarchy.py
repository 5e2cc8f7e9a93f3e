"""Matryoshka hierarchy: per prefix group, the mean popularity percentile and the concept
breadth of its neurons' top items (paper: early neurons broad and mainstream, late neurons niche).

    python -m experiments.hierarchy runs/hetrec-matryoshka [--figure hierarchy.png] [--out hierarchy.md]
"""
from __future__ import annotations

import argparse
from typing import List

from experiments._common import main_of, run_label, section
from jaxsae.app.report import RunData
from jaxsae.app.report.content import table

KEYS = ("group", "start", "end", "mean_popularity_percentile", "concept_breadth")


def build(args: argparse.Namespace, runs: List[RunData]) -> List[str]:
    chunks: List[str] = []
    for run in runs:
        if run.hierarchy is None:
            chunks.append(section(run_label(run), "No analysis/hierarchy.json (only Matryoshka SAEs have one)."))
            continue
        groups = [g for g in run.hierarchy if isinstance(g, dict)]
        chunks.append(section(run_label(run), table(KEYS, [[g.get(k) for k in KEYS] for g in groups])))
        if getattr(args, "figure", None) is not None:
            from jaxsae.app.report.figures import group_bars

            path = args.figure if len(runs) == 1 else args.figure.with_name(f"{args.figure.stem}-{run.run_dir.name}.png")
            if group_bars(path, groups, ["mean_popularity_percentile", "concept_breadth"]):
                chunks.append(f"![hierarchy]({path})")
    return chunks


main = main_of(build, __doc__ or "", figure=True)

if __name__ == "__main__":
    main()
