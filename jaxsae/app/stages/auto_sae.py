"""The sweep on a run directory: `RUN/sweep/` and the automatic SAE of `train-sae --sae auto`.

`run_sweep` trains and scores a grid (`jaxsae.selection._sweep`) on `RUN/data` and `RUN/rec` and writes
`RUN/sweep/sweep.json`, `pareto.png` and `config.json` (built aside in `RUN/sweep.tmp`, then swapped
in whole). `train_auto` then installs the chosen setting as `RUN/sae/` so every later stage works
unchanged: by default the sweep's own run of that setting with the base seed (its checkpoint,
`config.json` and `metrics.json` with fidelity on the held-out users that the sweep never touched);
with `final="retrain"` a fresh `train_sae` of the chosen config on all SAE training users.
`RUN/sae/selection.json` and `metrics.json["selection"]` record the choice.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

from jaxsae.selection import plot_pareto, request_fingerprint, sweep, table_lines
from jaxsae.selection import SweepConfig
from jaxsae.app.io import save_stage_config
from jaxsae.jsonio import write_json
from jaxsae.sae import SAETrainConfig
from data_prep.dataset import InteractionData
from jaxsae.app.runs import load_run_recommender
from jaxsae.checkpoint import save_checkpoint
from jaxsae.training.sae import final_metrics, train_sae
from jaxsae.checkpoint import clear_outputs
from jaxsae.training.sae import CHECKPOINT_KIND
from jaxsae.sae import BALANCE_KEY


def _load(run_dir: Path) -> Tuple[Any, Any]:

    return InteractionData.load(run_dir / "data"), load_run_recommender(run_dir)


def run_sweep(run_dir: "str | Path", config: SweepConfig, log: Callable[[str], None] = print,
              loaded: Optional[Tuple[Any, Any]] = None) -> Tuple[Dict[str, Any], Dict[Tuple[int, int], Any]]:
    """Sweep `config` on the run; write `RUN/sweep/`; return the sweep.json document and the trained runs."""
    run_dir = Path(run_dir)
    data, two_tower = loaded or _load(run_dir)
    fingerprint = request_fingerprint(run_dir, config)
    doc, trained = sweep(two_tower, data, config, log)
    doc["fingerprint"] = fingerprint
    tmp, out = run_dir / "sweep.tmp", run_dir / "sweep"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_stage_config(tmp, doc["config"], seed=config.base.seed)
    has_png = plot_pareto(doc, tmp / "pareto.png")
    write_json(tmp / "sweep.json", doc)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    for line in table_lines(doc):
        log(f"sweep: {line}")
    log(f"sweep: chosen setting {doc['chosen']}: {doc['chosen_params']} -> {out / 'sweep.json'}"
        + (" and pareto.png" if has_png else ""))
    return doc, trained


def _existing(run_dir: Path, config: SweepConfig) -> Optional[Dict[str, Any]]:
    """RUN/sweep/sweep.json when it answers exactly this request (same config, recommender and data)."""
    path = run_dir / "sweep" / "sweep.json"
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if doc.get("fingerprint") == request_fingerprint(run_dir, config) else None


def _selection(doc: Dict[str, Any], final: str) -> Dict[str, Any]:
    chosen = doc["settings"][doc["chosen"]]
    return {"source": "sweep/sweep.json", "setting": doc["chosen"], "params": chosen["params"], "final": final,
            "validation_figures": chosen["figures"], "feasible": chosen["feasible"], "split": doc["split"],
            "fingerprint": doc.get("fingerprint")}


def train_auto(run_dir: "str | Path", config: SweepConfig, resume: bool = False,
               log: Callable[[str], None] = print, out_dir: "str | Path | None" = None) -> Tuple[Any, Dict[str, Any]]:
    """`train-sae --sae auto`: sweep (or reuse a matching RUN/sweep), then write the chosen SAE to RUN/sae
    (or to `out_dir`, the stage's work folder that `jaxsae.app.lineage` swaps in whole)."""

    run_dir = Path(run_dir)
    loaded = _load(run_dir)
    data, two_tower = loaded
    final = config.final
    if final == "reuse" and config.base.seed not in config.seeds:
        log(f"train-sae: base seed {config.base.seed} is not among the sweep seeds {list(config.seeds)}: retraining")
        final = "retrain"
    doc = _existing(run_dir, config) if final == "retrain" else None
    trained = None
    if doc is None:
        doc, trained = run_sweep(run_dir, config, log, loaded)
    else:
        log(f"train-sae: reusing the choice of {run_dir / 'sweep' / 'sweep.json'} (same request)")
    chosen = SAETrainConfig.from_dict(doc["chosen_config"])
    selection = _selection(doc, final)
    out = Path(out_dir) if out_dir is not None else run_dir / "sae"
    if final == "retrain":
        sae, metrics = train_sae(two_tower, data, chosen, out_dir=out, resume=resume, log=log)
    else:
        sae, run = trained[(doc["chosen"], config.base.seed)]
        clear_outputs(out)
        save_stage_config(out, chosen.to_dict(), seed=chosen.seed, extra={"input_dim": run.d, "selection": selection})
        save_checkpoint(out, run.steps, run.state, CHECKPOINT_KIND, chosen.to_dict(),
                        extra={"d": run.d, "n_users": run.input_two_tower.n_users,
                               "n_items": run.input_two_tower.n_items, BALANCE_KEY: run.balance_factor})
        write_json(out / "history.json", [{"step": run.steps, **{k: run.last[k] for k in
                                                                 ("loss", "emb", "pred", "kl", "l1", "l0",
                                                                  "dead_fraction", "fvu")}}])
        program = doc["cost"]["programs"][run.program]
        metrics = final_metrics(sae, data, chosen, run.steps, 0, program["train_s"] / program["runs"], run.last)
        metrics["n_train_users"] = doc["split"]["n_train_users"]
    metrics["selection"] = selection
    write_json(out / "selection.json", selection)
    write_json(out / "metrics.json", metrics)
    return sae, metrics
