"""All of the paper's tables from run directories, in one markdown document: purity, popularity and
temporal neurons, interventions, ablation and the Matryoshka hierarchy.

    python -m experiments.paper_tables runs/* --out paper_tables.md
"""
from __future__ import annotations

import argparse
from typing import List

from experiments import ablation_curves, hierarchy, interventions, popularity_temporal, purity_table
from experiments._common import main_of
from jaxsae.app.report import RunData


def build(args: argparse.Namespace, runs: List[RunData]) -> List[str]:
    chunks = ["# Paper tables"]
    no_fig = argparse.Namespace(**{**vars(args), "figure": None})
    for title, mod in (("Purity", purity_table), ("Popularity and temporal neurons", popularity_temporal),
                       ("Interventions", interventions), ("Ablation", ablation_curves),
                       ("Matryoshka hierarchy", hierarchy)):
        chunks.append(f"# {title}")
        chunks.extend(c.replace("\n## ", "\n### ").replace("## ", "### ", 1) for c in mod.build(no_fig, runs))
    return chunks


main = main_of(build, __doc__ or "")

if __name__ == "__main__":
    main()
