"""The `ablate` stage: retrain the run's SAE once per `w_pred` and seed and compare them.

Options: the `AblationConfig` fields. The SAE config ablated is `RUN/sae`'s (when that SAE is usable), a
paper setting with `sae_preset`, or the defaults; all runs train in one vmapped program. Writes
`RUN/ablation/ablation.json` (one row per w_pred), `ablation.png` when matplotlib is installed, and
`config.json`, aside and swapped in whole.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping

from jaxsae.selection import AblationConfig
from jaxsae.app.options import from_options
from jaxsae.jsonio import to_jsonable
from data_prep.dataset import InteractionData
from jaxsae.app import lineage
from jaxsae.selection import ablate, plot_ablation
from jaxsae.checkpoint import checkpoint_meta
from jaxsae.app.io import save_stage_config
from jaxsae.jsonio import write_json
from jaxsae.sae import SAETrainConfig, from_preset
from jaxsae.app.runs import load_run_recommender

DIRECTORY = "ablation"
OPTIONS = (AblationConfig,)


def build(options: Mapping[str, Any]) -> AblationConfig:
    """The validated `AblationConfig` from option names (`pred_weights`, `steps`, `seeds`, `sae_preset`)."""
    return from_options(AblationConfig, options)


def record(config: AblationConfig) -> Dict[str, Any]:
    """The part of `RUN/ablation/stage.json`'s config that `jaxsae run` compares (its `ablation` entry)."""

    return to_jsonable(config)


def run(run_dir: "str | Path", config: AblationConfig, *, resume: bool = False,
        log: Callable[[str], None] = print) -> List[Dict[str, Any]]:
    """Ablate into `RUN/ablation/`; returns the rows."""

    run_dir = Path(run_dir)
    lineage.require(run_dir, "rec")
    data = InteractionData.load(run_dir / "data")
    sae_ok = lineage.status(run_dir, "sae").ok  # the SAE's config is used only when that SAE is usable
    meta = checkpoint_meta(run_dir / "sae") if sae_ok else None
    base = SAETrainConfig.from_dict(meta["config"]) if meta else SAETrainConfig()
    if config.sae_preset is not None:
        base = from_preset(config.sae_preset, seed=base.seed)
        log(f"[ablate] ablating the paper's {config.sae_preset} SAE setting ({base.sae}, {base.latents} latents)")
    elif not meta:
        log("[ablate] no usable trained SAE in RUN/sae: using the default SAE config")
    two_tower = load_run_recommender(run_dir)
    with lineage.stage(run_dir, DIRECTORY, config={"ablation": config, "sae_config": base.to_dict()},
                       inputs=("data", "rec"), optional_inputs=("sae",)) as out:
        save_stage_config(out, config, seed=base.seed, extra={"sae_config": base.to_dict()})
        rows = ablate(two_tower, data, base, config, log=lambda s: log(f"[ablate] {s.removeprefix('ablate: ')}"))
        has_png = plot_ablation(rows, out / "ablation.png")
        write_json(out / "ablation.json", rows)
    log(f"[ablate] {'w_pred':>7}{'rbo@30':>8}{'tau@30':>8}{'rbo_pap':>8}{'tau_pap':>8}{'ms':>7}{'p@10':>7}"
        f"{'pure':>6}{'fvu':>7}{'l0':>6}")
    for r in rows:
        log(f"[ablate] {r['w_pred']:7g}{r['rbo@30']:8.3f}{r['kendall_tau@30']:8.3f}{r['rbo_paper']:8.3f}"
            f"{r['kendall_tau_paper']:8.3f}{r['ms']:7.3f}"
            f"{r['best_purity@10']:7.2f}{r['n_concepts_pure@10']:6.1f}{r['fvu']:7.3f}{r['l0']:6.2f}")
    log(f"[ablate] -> {run_dir / DIRECTORY / 'ablation.json'}{' and ablation.png' if has_png else ''}")
    return rows
