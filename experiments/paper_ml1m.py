"""The paper's ML-1M tables, each paper number beside ours as mean +- standard deviation over a group of runs
(the same config trained with different seeds): recommender quality, purity at K = 5/10/20/50 of the genres
the paper names beside the random-direction null and the base rate, popularity and year neurons, MS, the
w_pred ablation in the reference's fidelity computation (`rbo_paper`, `kendall_tau_paper`) and the
interventions.

    python -m experiments.paper_ml1m --group "MF=runs/ml1m-mf,runs/ml1m-mf-s1,runs/ml1m-mf-s2" \\
        --group "NCF=runs/ml1m-ncf,runs/ml1m-ncf-s1,runs/ml1m-ncf-s2" [--out tables.md]
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from experiments._common import PAPER_ABLATION, PAPER_W_PRED, emit, load_runs
from jaxsae.app.report import RunData

KS = (5, 10, 20, 50)
# The genres the paper names on ML-1M (MF: purity 1.00 at every K) and what it reports for them.
PAPER_PURITY = {"mf": {"Comedy": 1.0, "Horror": 1.0}, "ncf": {}}
# The paper's MS at each config's own w_pred (MF 1, NCF 10), from its ablation.
PAPER_MS = {"mf": PAPER_ABLATION["mf"]["ms"][1], "ncf": PAPER_ABLATION["ncf"]["ms"][4]}
ABLATION = (("rbo_paper", "rbo@30"), ("kendall_tau_paper", "kendall_tau@30"), ("ms", "ms"))


def stat(values: Sequence[Optional[float]], digits: int = 3) -> str:
    """`mean +- sd (n)` of the finite values; one value alone; '-' when none."""
    v = [float(x) for x in values if isinstance(x, (int, float)) and np.isfinite(x)]
    if not v:
        return "-"
    if len(v) == 1:
        return f"{v[0]:.{digits}f}"
    return f"{np.mean(v):.{digits}f} +- {np.std(v):.{digits}f}"


def paper(x: Optional[float], digits: int = 3) -> str:
    """A paper number as printed, or '-' where the paper gives none."""
    return "-" if x is None else f"{x:.{digits}f}"


def model_of(runs: List[RunData]) -> str:
    """"mf" or "ncf": the recommender of a group's first run, which picks the paper numbers it is compared with."""
    return str((runs[0].rec or {}).get("model") or (runs[0].pipeline or {}).get("model") or "mf").lower()


def table(head: Sequence[str], rows: List[Sequence[str]]) -> str:
    """A markdown table of already formatted cells."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def concept(run: RunData, name: str) -> Dict[str, Any]:
    """The run's `analysis/concepts.json` row of one concept (empty when absent)."""
    return next((c for c in run.concepts or [] if c.get("concept") == name), {})


def purity_rows(label: str, runs: List[RunData], model: str) -> List[Sequence[str]]:
    """Best-neuron purity at each K of the paper's genres, beside the random-direction null and the base rate."""
    rows = []
    for name in ("Comedy", "Horror"):
        cs = [concept(r, name) for r in runs]
        for k in KS:
            rows.append((label, name, k, paper(PAPER_PURITY[model].get(name), 2), stat([c.get(f"purity@{k}") for c in cs], 2),
                         stat([c.get(f"null_purity@{k}") for c in cs], 2), stat([c.get("base_rate") for c in cs], 2)))
    return rows


def _abs(x: Any) -> Any:
    """|x| for a number (a neuron's sign is arbitrary: seeds differ in which way it points), else x."""
    return abs(x) if isinstance(x, (int, float)) else x


def intervention(run: RunData, kind: str) -> Dict[str, Any]:
    """The run's first intervention result of a kind (filter, nudge, promote; empty when absent)."""
    return next((i for i in run.interventions if i.get("_kind") == kind), {})


def build(groups: List[Tuple[str, List[RunData]]]) -> List[str]:
    """The markdown sections, one row (or one row per K / w_pred) per group."""
    rec, pur, pop, ms, abl, itv = [], [], [], [], [], []
    for label, runs in groups:
        model = model_of(runs)
        rec.append((label, model.upper(), len(runs), stat([(r.rec or {}).get("hit@10") for r in runs]),
                    stat([(r.rec or {}).get("ndcg@10") for r in runs]), stat([(r.sae or {}).get("rbo_paper") for r in runs]),
                    stat([(r.sae or {}).get("kendall_tau_paper") for r in runs]), stat([(r.sae or {}).get("fvu") for r in runs])))
        pur.extend(purity_rows(label, runs, model))
        pop.append((label, stat([_abs((r.popularity or {}).get("spearman")) for r in runs]),
                    stat([(r.popularity or {}).get("top_k_popularity_percentile") for r in runs], 1),
                    stat([((r.popularity or {}).get("positive") or {}).get("spearman") for r in runs]),
                    stat([_abs((r.temporal or {}).get("spearman")) for r in runs])))
        ms.append((label, paper(PAPER_MS[model]), stat([(r.ms or {}).get("ms") for r in runs])))
        for i, w in enumerate(PAPER_W_PRED):
            cells = []
            for ours, theirs in ABLATION:
                vals = [next((a.get(ours) for a in r.ablation or [] if a.get("w_pred") == w), None) for r in runs]
                cells += [paper(PAPER_ABLATION[model][theirs][i]), stat(vals)]
            abl.append((label, w, *cells))
        f = [intervention(r, "filter") for r in runs]
        n = [intervention(r, "nudge") for r in runs]
        p = [intervention(r, "promote") for r in runs]
        itv.append((label, f[0].get("concept", "-"), stat([x.get("concept_share_before") for x in f], 2),
                    stat([x.get("concept_share_after") for x in f], 2), stat([x.get("rest_rbo") for x in f], 2),
                    n[0].get("concept", "-"), stat([x.get("concept_share_before") for x in n], 2),
                    stat([max([lv.get("concept_share", 0) for lv in x.get("per_level") or []] or [np.nan]) for x in n], 2),
                    stat([x.get("entered_top_k_fraction") for x in p], 2)))
    return [
        "## Recommenders and SAE fidelity\n\n" + table(
            ("runs", "model", "seeds", "HR@10", "NDCG@10", "SAE rbo_paper", "SAE kendall_tau_paper", "SAE FVU"), rec),
        "## Purity of the best neuron (paper: MF Comedy and Horror 1.00 at every K)\n\n" + table(
            ("runs", "genre", "K", "paper", "jaxsae", "random null", "base rate"), pur),
        "## Popularity and year neurons (the paper shows them, without a number)\n\n" + table(
            ("runs", "popularity neuron abs(Spearman)", "its top-10 popularity percentile", "most positive Spearman",
             "year neuron abs(Spearman)"), pop),
        "## Monosemanticity score (paper: its ablation at the config's w_pred)\n\n" + table(("runs", "paper", "jaxsae"), ms),
        "## The w_pred ablation (the reference's 29-item RBO and Kendall tau)\n\n" + table(
            ("runs", "w_pred", "RBO paper", "RBO jaxsae", "Kendall paper", "Kendall jaxsae", "MS paper", "MS jaxsae"), abl),
        "## Interventions (the paper shows them as figures)\n\n" + table(
            ("runs", "filtered", "share before", "share after", "rest RBO", "nudged", "share before",
             "best share after", "promoted item entered top-K"), itv),
    ]


def main(argv: Optional[List[str]] = None) -> str:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--group", action="append", required=True, help="LABEL=RUN,RUN,... (repeatable)")
    p.add_argument("--out", type=Path, default=None, help="also write the markdown to this file")
    args = p.parse_args(argv)
    groups = []
    for g in args.group:
        label, _, paths = g.partition("=")
        groups.append((label, load_runs([Path(x) for x in paths.split(",") if x])))
    return emit(build(groups), args.out)


if __name__ == "__main__":
    main()
