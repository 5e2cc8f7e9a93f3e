"""Intervention results per run: filtering (concept share before/after, RBO of the rest),
nudging (concept share per level) and promotion (share of users for whom the item enters the top-K).

    python -m experiments.interventions runs/ml100k-mf [--out interventions.md]
"""
from __future__ import annotations

import argparse
from typing import List

from experiments._common import main_of, run_label, section
from jaxsae.app.report import RunData
from jaxsae.app.report.content import table


def _levels(rec: dict, key: str) -> str:
    return "  ".join(f"{r.get('level')}: {r.get(key):.2f}" for r in rec.get("per_level") or []
                     if isinstance(r, dict) and isinstance(r.get(key), (int, float)))


def build(args: argparse.Namespace, runs: List[RunData]) -> List[str]:
    filt, nudge, promo = [], [], []
    for run in runs:
        label = run_label(run)
        for rec in run.interventions:
            kind = rec.get("_kind")
            if kind == "filter":
                filt.append((label, rec.get("concept"), rec.get("k"), rec.get("audience_size"),
                             rec.get("concept_share_before"), rec.get("concept_share_after"), rec.get("rest_rbo"),
                             _levels(rec, "concept_share_after")))
            elif kind == "nudge":
                nudge.append((label, rec.get("concept"), rec.get("k"), rec.get("concept_share_before"),
                              _levels(rec, "concept_share")))
            elif kind == "promote":
                promo.append((label, rec.get("title") or rec.get("item"), rec.get("k"), rec.get("audience_size"),
                              rec.get("entered_top_k_fraction"), _levels(rec, "entered_top_k_fraction")))
    return [
        section("Filtering", table(("run", "concept", "k", "audience", "share before", "share after", "rest RBO",
                                    "share per level"), filt)),
        section("Nudging", table(("run", "concept", "k", "share before", "share per level"), nudge)),
        section("Promotion", table(("run", "item", "k", "audience", "entered top-k", "per level"), promo)),
    ]


main = main_of(build, __doc__ or "")

if __name__ == "__main__":
    main()
