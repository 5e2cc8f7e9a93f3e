"""The `analyze` stage: concept purity beside its null, popularity/temporal neurons, MS and neuron cards.

Options: the `AnalysisConfig` fields. `run` reads `RUN/data` and the SAE of `RUN/sae` (with its recommender)
and writes `RUN/analysis/` (`concepts.json`, `neurons.json`, `popularity.json`, `temporal.json`, `ms.json`,
`hierarchy.json` for Matryoshka SAEs, `bound.json` (probe bound, concept recall, density), `config.json`) aside, swapped in whole; the three marker files
(concepts, neurons, ms) are written last.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Dict, Mapping

from jaxsae.analysis import AnalysisConfig
from jaxsae.app.options import from_options
from jaxsae.jsonio import to_jsonable
from data_prep.dataset import InteractionData
from jaxsae.app import lineage
from jaxsae.analysis import analyze, summary_lines
from jaxsae.app.io import save_stage_config
from jaxsae.jsonio import write_json
from jaxsae.app.runs import load_run_sae

DIRECTORY = "analysis"
OPTIONS = (AnalysisConfig,)
FILES = ("bound", "popularity", "temporal", "hierarchy", "neurons", "ms", "concepts")  # write order: markers last


def build(options: Mapping[str, Any]) -> AnalysisConfig:
    """The validated `AnalysisConfig` from option names (`k`, `null_seeds`, ...)."""
    return from_options(AnalysisConfig, options)


def record(config: AnalysisConfig) -> Dict[str, Any]:
    """What `RUN/analysis/stage.json` records."""

    return to_jsonable(config)


def run(run_dir: "str | Path", config: AnalysisConfig, *, resume: bool = False,
        log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Analyze the run's SAE into `RUN/analysis/`; returns the results by file name."""

    run_dir = Path(run_dir)
    lineage.require(run_dir, "sae")  # an unfinished, failed or stale SAE is refused with what to rerun
    data = InteractionData.load(run_dir / "data")
    sae = load_run_sae(run_dir)
    with lineage.stage(run_dir, DIRECTORY, config=config, inputs=("data", "rec", "sae")) as out:
        save_stage_config(out, config, extra={"sae_config": sae.config.to_dict()})
        log(f"[analyze] {sae.config.sae} SAE, {sae.latents} latents, {data.n_items} items, {data.n_concepts} "
            f"concepts; null: {config.null_seeds} seeds x {sae.latents} random directions")
        t0 = time.perf_counter()
        results = analyze(sae, data, config)
        for name in FILES:
            if results.get(name) is not None:
                write_json(out / f"{name}.json", results[name])
    for line in summary_lines(results):
        log(f"[analyze] {line}")
    log(f"[analyze] done in {time.perf_counter() - t0:.1f} s -> {run_dir / DIRECTORY}")
    return results
