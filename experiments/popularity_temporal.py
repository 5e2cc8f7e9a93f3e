"""Popularity and temporal neurons per run: the neuron most correlated with item popularity
(Spearman, and the mean popularity percentile of its top-K items), the year neuron, and decade purity.

    python -m experiments.popularity_temporal runs/ml100k-mf [--out popularity.md]
"""
from __future__ import annotations

import argparse
from typing import List

from experiments._common import main_of, run_label, section
from jaxsae.app.report import RunData
from jaxsae.app.report.content import table


def build(args: argparse.Namespace, runs: List[RunData]) -> List[str]:
    rows, decade_chunks = [], []
    for run in runs:
        p, t = run.popularity or {}, run.temporal or {}
        rows.append((run_label(run), p.get("neuron"), p.get("spearman"), p.get("top_k_popularity_percentile"),
                     t.get("year_neuron"), t.get("spearman")))
        decades = [d for d in (t.get("decades") or []) if isinstance(d, dict)]
        if decades:
            decade_chunks.append(section(f"Decade neurons: {run_label(run)}", table(
                ("decade", "neuron", "p@10", "null p@10", "base rate"),
                [(d.get("concept"), d.get("neuron"), d.get("purity@10"), d.get("null_purity@10"), d.get("base_rate"))
                 for d in decades], digits=2)))
    head = section("Popularity and year neurons", table(
        ("run", "popularity neuron", "Spearman", "top-K popularity pct", "year neuron", "Spearman (year)"), rows))
    return [head] + decade_chunks


main = main_of(build, __doc__ or "")

if __name__ == "__main__":
    main()
