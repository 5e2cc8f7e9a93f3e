"""`jaxsae bench sae|rec|eval|scale [--json]`: throughput figures, one JSON line per workload.

Each workload lives in `jaxsae.app.bench.<name>` with `run(args) -> list[dict]`; sizes default to ML-1M
(6,040 users x 3,706 items, d=20).
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any, Dict, List
from jaxsae.app.bench.baseline import attach_baselines


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("bench", help="throughput benchmarks")
    p.add_argument("target", choices=["sae", "rec", "eval", "scale"],
                   help="what to measure (scale: `jaxsae run` end to end, every stage timed, peak RSS)")
    p.add_argument("--json", action="store_true", help="print one JSON line per workload (else a table)")
    p.add_argument("--model", default=None, help="sae: mf|ncf|matryoshka (default all); rec: mf|ncf (default mf)")
    p.add_argument("--users", type=int, default=6040)
    p.add_argument("--items", type=int, default=3706)
    p.add_argument("--dim", type=int, default=20)
    p.add_argument("--latents", type=int, default=22)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--epochs", type=int, default=2, help="timed epochs (after one warm-up)")
    p.add_argument("--steps", type=int, default=None, help="cap the timed steps per epoch (sae: per call)")
    p.add_argument("--window", type=int, default=None,
                   help="sae: steps per compiled call (default: train-sae's logging window, 250; 0: one epoch)")
    p.add_argument("--chunk-size", type=int, default=1024, help="eval: users per chunk")
    p.add_argument("--run", default=None, metavar="RUN",
                   help="eval: evaluate RUN's trained recommender and most-popular on RUN/data instead")
    p.add_argument("--devices", type=int, default=1, help="pmap over N local devices")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", default="ml25m", help="scale: synthetic preset (ml25m: ML-25M size; ml1m, demo, ...)")
    p.add_argument("--out", default=None, help="scale: run directory (default runs/bench-scale-SIZE)")
    p.add_argument("--max-rss-gib", type=float, default=8.0, help="scale: stop the run above this resident memory")
    p.add_argument("--timeout-s", type=float, default=3600.0, help="scale: stop the run after this long")
    p.add_argument("--baseline", metavar="DIR", default=None,
                   help="also run the PyTorch peer (DIR/run.sh, e.g. ../shared/baselines) with the same sizes")
    p.add_argument("--baseline-impls", default="idiomatic,compiled",
                   help="comma-separated: reference, idiomatic, compiled")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    module = importlib.import_module(f"jaxsae.app.bench.{args.target}")
    rows: List[Dict[str, Any]] = module.run(args)
    if args.baseline:

        impls = [s.strip() for s in args.baseline_impls.split(",") if s.strip()]
        rows = attach_baselines(rows, args.baseline, impls, log=lambda m: print(m, file=sys.stderr, flush=True))
    for row in rows:
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            print("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
    return 0
