"""Ablation of the prediction-aware loss: RBO, Kendall tau, MS and purity per w_pred for each
run, beside the paper's ML-1M numbers; `--figure` draws the curves with the paper's dashed.

    python -m experiments.ablation_curves runs/ml100k-mf [--figure ablation.png] [--out ablation.md]
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import List

from experiments._common import PAPER_ABLATION, PAPER_W_PRED, main_of, run_label, section
from jaxsae.app.report import RunData, ablation_table
from jaxsae.app.report.content import table

METRICS = ("rbo@30", "kendall_tau@30", "ms")


def draw(runs: List[RunData], path: Path) -> bool:
    """Three panels (RBO, Kendall tau, MS against w_pred): runs solid, the paper's ML-1M curves dashed."""
    from jaxsae.app.report.figures import COLORS, new_figure

    fig, axes = new_figure(13.0, 3.4, 1, 3)
    for ax, metric in zip(axes, METRICS):
        for j, run in enumerate(r for r in runs if r.ablation):
            rows = sorted((r for r in run.ablation if isinstance(r, dict)), key=lambda r: r.get("w_pred") or 0)
            ax.plot([r.get("w_pred") for r in rows], [r.get(metric) for r in rows], marker="o",
                    color=COLORS[j % len(COLORS)], label=run_label(run))
        for model, ls in (("mf", "--"), ("ncf", ":")):
            ax.plot(PAPER_W_PRED, PAPER_ABLATION[model][metric], ls, color="k", alpha=0.6, label=f"paper ML-1M {model.upper()}")
        ax.set_xlabel("w_pred")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    return True


def build(args: argparse.Namespace, runs: List[RunData]) -> List[str]:
    paper_rows = [(f"paper ML-1M {m.upper()}", w, *(PAPER_ABLATION[m][k][i] for k in METRICS))
                  for m in ("mf", "ncf") for i, w in enumerate(PAPER_W_PRED)]
    chunks = [section("Paper (ML-1M, from its notebook data)",
                      table(("setting", "w_pred", "rbo@30", "kendall_tau@30", "ms"), paper_rows))]
    for run in runs:
        body = ablation_table(run.ablation) if run.ablation else "No ablation/ablation.json: run `jaxsae ablate RUN`."
        chunks.append(section(run_label(run), body))
    if getattr(args, "figure", None) is not None and any(r.ablation for r in runs):
        draw(runs, args.figure)
        chunks.append(f"![ablation]({args.figure})")
    return chunks


main = main_of(build, __doc__ or "", figure=True)

if __name__ == "__main__":
    main()
