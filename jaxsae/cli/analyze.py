"""`jaxsae analyze RUN [--k 5,10,20,50] [--null-seeds 5] [--min-support N]` (SPEC §6.3, §8).

Reads `RUN/data` and the SAE of `RUN/sae` (with its recommender from `RUN/rec`) and writes
`RUN/analysis/`: `concepts.json`, `neurons.json`, `popularity.json`, `temporal.json`, `ms.json`,
`hierarchy.json` (Matryoshka SAEs only) and `config.json`. The three files that mark the stage
complete (concepts, neurons, ms) are written last.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, List

from jaxsae.errors import ConfigError
from jaxsae.io import save_stage_config, write_json

FILES = ("popularity", "temporal", "hierarchy", "neurons", "ms", "concepts")  # write order: markers last


def int_list(text: str) -> List[int]:
    """`"5,10,20"` -> `[5, 10, 20]`; a clear error otherwise."""
    try:
        return [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"expected comma-separated integers, got {text!r}") from None


def float_list(text: str) -> List[float]:
    """`"0,-0.5,-1"` -> `[0.0, -0.5, -1.0]`; a clear error otherwise."""
    try:
        return [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"expected comma-separated numbers, got {text!r}") from None


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("analyze", help="concept purity, popularity/temporal neurons, MS and neuron cards (RUN/analysis/)")
    p.add_argument("run", metavar="RUN", help="run directory with data/, rec/ and sae/")
    p.add_argument("--k", default="5,10,20,50", help="purity cut-offs K, comma-separated, must include 10")
    p.add_argument("--null-seeds", type=int, default=5, help="seeds of the random-direction null (0: skip it)")
    p.add_argument("--min-support", type=int, default=0,
                   help="rank only items with at least N training interactions")
    p.add_argument("--top-items", type=int, default=10, help="items per neuron card")
    p.set_defaults(func=main)


def config_from_args(args: argparse.Namespace) -> Any:
    """The validated `AnalysisConfig` of the command line."""
    from jaxsae.analysis.suite import AnalysisConfig

    return AnalysisConfig(ks=tuple(int_list(args.k)), null_seeds=args.null_seeds, min_support=args.min_support,
                          top_items=args.top_items)


def main(args: argparse.Namespace) -> int:
    from data_prep.dataset import InteractionData
    from jaxsae.analysis.suite import analyze, summary_lines
    from jaxsae.training.sae import load_sae

    config = config_from_args(args)
    from jaxsae import lineage

    run = Path(args.run)
    lineage.require(run, "sae")  # an unfinished, failed or stale SAE is refused with what to rerun
    data = InteractionData.load(run / "data")
    sae = load_sae(run / "sae")
    # written aside in RUN/.analysis.work and swapped in whole (a failed analysis keeps the previous one)
    with lineage.stage(run, "analysis", config=config, inputs=("data", "rec", "sae")) as out:
        save_stage_config(out, config, extra={"sae_config": sae.config.to_dict()})
        print(f"[analyze] {sae.config.sae} SAE, {sae.latents} latents, {data.n_items} items, {data.n_concepts} "
              f"concepts; null: {config.null_seeds} seeds x {sae.latents} random directions", flush=True)
        t0 = time.perf_counter()
        results = analyze(sae, data, config)
        for name in FILES:
            if results.get(name) is not None:
                write_json(out / f"{name}.json", results[name])
    out = run / "analysis"
    for line in summary_lines(results):
        print(f"[analyze] {line}", flush=True)
    print(f"[analyze] done in {time.perf_counter() - t0:.1f} s -> {out}", flush=True)
    return 0
