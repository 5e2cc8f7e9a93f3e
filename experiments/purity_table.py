"""The paper's purity table: per concept the best neuron's purity@K beside the random-direction null and
the base rate, for each run, and the count of concepts at purity@10 >= 0.9.

    python -m experiments.purity_table runs/ml100k-mf runs/hetrec-mf [--out purity.md]
"""
from __future__ import annotations

import argparse
from typing import List

from experiments._common import main_of, run_label, section
from jaxsae.app.report import RunData, purity_summary, purity_table
from jaxsae.app.report.content import table


def build(args: argparse.Namespace, runs: List[RunData]) -> List[str]:
    chunks: List[str] = []
    rows = []
    for run in runs:
        if run.concepts is None:
            chunks.append(section(run_label(run), "No analysis/concepts.json: run `jaxsae analyze RUN`."))
            continue
        sm = purity_summary(run.concepts)
        rows.append((run_label(run), sm["n_concepts"], sm["sae_pure"], sm["null_pure"],
                     (run.ms or {}).get("ms")))
        chunks.append(section(run_label(run), purity_table(run.concepts)))
    if rows:
        chunks.insert(0, section("Concepts at purity@10 >= 0.9 (genre/tag families)",
                                 table(("run", "concepts", "SAE", "random null", "MS"), rows)))
    return chunks


main = main_of(build, __doc__ or "")

if __name__ == "__main__":
    main()
