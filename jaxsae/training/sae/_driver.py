"""SAE training through the frozen recommender: the driver `train_sae`, its setup and final metrics.

`train_sae` is the driver: seeded held-out users, deterministic batch streams (a resumed run sees the same
batches), logging windows, orbax checkpoints, divergence checks and the final fidelity report. Its pieces
live apart: the pure step in `jaxsae.training.sae._step`, the scanned epoch and its compiled runner in
`jaxsae.training.sae._epoch`, the batch streams in `jaxsae.training.sae._batches`, checkpoints and
`load_sae` in `jaxsae.training.sae._files`. The names of `__all__` stay importable from here (the SAE
training API in one import).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxsae.checkpoint import checkpoint_meta, restore_checkpoint, save_checkpoint
from jaxsae.errors import ConfigError, TrainingDivergedError
from jaxsae.jsonio import read_json, write_json
from jaxsae.recommenders import TwoTower
from jaxsae.sae import diagnostics
from jaxsae.sae import BALANCE_KEY, sae_input_space
from jaxsae.sae import SAETrainConfig
from jaxsae.sae import SPARSE_K_SAES
from jaxsae.sae import TrainedSAE
from jaxsae.training.sae._batches import _chunks, batch_indices, heldout_split
from jaxsae.training.sae._epoch import METRIC_KEYS, EpochRunner, make_sae_epoch
from jaxsae.checkpoint import clear_outputs
from jaxsae.training.sae._files import CHECKPOINT_KIND, RESUMABLE_KEYS, load_sae
from jaxsae.training.sae._step import TERMS, build_sae, init_state
from jaxsae.training.sae._schedules import batch_plan
from jaxsae.sae import check_fits
from jaxsae.metrics import fidelity_report
from jaxsae.metrics import side_fidelity, side_fvu



def training_setup(two_tower: TwoTower, config: SAETrainConfig, data: Any = None
                   ) -> Tuple[TwoTower, int, np.ndarray, np.ndarray, int]:
    """`(input_two_tower, d, train_users, heldout_users, total_steps)`: the SAE's input space (side-balanced
    when `config.balance_sides`, bias-folded when `config.fold_biases`), the seeded held-out split and the
    step budget, shared by every trainer (`data` is needed for `pairs="positives"`)."""
    input_tt, d, train_users, heldout, plan, _ = _setup(two_tower, config, data)
    return input_tt, d, train_users, heldout, plan.total


def balanced_training_setup(two_tower: TwoTower, config: SAETrainConfig, data: Any = None
                            ) -> Tuple[TwoTower, int, np.ndarray, np.ndarray, int, float]:
    """`training_setup` plus the side-balancing factor c it chose (`jaxsae.sae._balance`, from the
    training users' and all items' row norms; 1.0 when off or for non-MF scorers)."""
    input_tt, d, train_users, heldout, plan, c = _setup(two_tower, config, data)
    return input_tt, d, train_users, heldout, plan.total, c


def batch_setup(two_tower: TwoTower, config: SAETrainConfig, data: Any = None) -> Tuple[TwoTower, int, np.ndarray, np.ndarray, Any]:
    """`training_setup` with the run's `jaxsae.training.sae._schedules.BatchPlan` in place of the step count."""
    return _setup(two_tower, config, data)[:5]


def _setup(two_tower: TwoTower, config: SAETrainConfig, data: Any = None
           ) -> Tuple[TwoTower, int, np.ndarray, np.ndarray, Any, float]:

    train_users, heldout = heldout_split(two_tower.n_users, config.heldout_fraction, config.seed)
    if len(train_users) == 0:
        raise ConfigError(f"no training users: {two_tower.n_users} users with heldout_fraction {config.heldout_fraction}")
    input_tt, c = sae_input_space(two_tower, config.balance_sides, config.fold_biases, train_users)
    plan = batch_plan(config, train_users, input_tt.n_items, data)
    return input_tt, input_tt.dim, train_users, heldout, plan, c


def train_sae(two_tower: TwoTower, data: Any, config: SAETrainConfig, out_dir: "str | Path | None" = None,
              resume: bool = False, log: Callable[[str], None] = print) -> Tuple[TrainedSAE, Dict[str, Any]]:
    """Train an SAE on the embeddings of a frozen recommender; return it with its metrics.

    `data` (an `InteractionData` of the same users and items, or None) provides the training
    positives excluded from the fidelity top-K lists and the held-out positives of the ranking
    metrics. With `out_dir` (any folder): checkpoints every `checkpoint_every` steps, `history.json`
    and, last, `metrics.json`; `resume=True` continues from the newest checkpoint
    (same result as an uninterrupted run). A non-finite loss raises `TrainingDivergedError` and
    keeps the last good checkpoint. The recommender's arrays are never modified.
    """
    if data is not None and (data.n_users != two_tower.n_users or data.n_items != two_tower.n_items):
        raise ConfigError(f"recommender has {two_tower.n_users} users x {two_tower.n_items} items but the data "
                          f"has {data.n_users} x {data.n_items}")
    input_tt, d, train_users, heldout, plan, balance = _setup(two_tower, config, data)
    total = plan.total

    check_fits(d, config.latents, config.batch_size, config.tied, config.shared,
               n_eval_rows=len(heldout) + input_tt.n_items)  # refuse before allocating
    runner = EpochRunner(config, input_tt, d)
    state = init_state(jax.random.PRNGKey(config.seed), config, d)
    history: List[Dict[str, Any]] = []
    start = 0
    out = Path(out_dir) if out_dir is not None else None
    extra = {"d": d, "n_users": input_tt.n_users, "n_items": input_tt.n_items, BALANCE_KEY: balance}
    if out is not None:
        if resume and checkpoint_meta(out) is not None:
            state, start, _ = restore_checkpoint(out, state, CHECKPOINT_KIND, config.to_dict(), RESUMABLE_KEYS)
            state = jax.tree_util.tree_map(jnp.asarray, state)
            if (out / "history.json").exists():
                history = [r for r in read_json(out / "history.json") if r["step"] <= start]
            log(f"train-sae: resuming from step {start} of {total}")
        else:
            clear_outputs(out)

    steps_per_epoch = plan.per_epoch
    log(f"train-sae: {config.sae} SAE {d} -> {config.latents}, {total} steps of {config.batch_size} users x "
        f"{config.batch_size} items on {runner.n} device(s), {len(train_users)} training users, "
        f"{len(heldout)} held out")
    t_start = time.perf_counter()
    last: Dict[str, Any] = history[-1] if history else {}
    last_good = start
    dstate = runner.put(state)
    for s0, s1 in _chunks(start, total, config.log_every, config.checkpoint_every):
        users, items = plan.batches(s0, s1 - s0)
        t0 = time.perf_counter()
        new_state, m = runner(dstate, input_tt, users, items)
        dt = time.perf_counter() - t0
        if not m["finite"]:
            if out is None:
                where = ""
            elif last_good > 0:
                where = f"; last good checkpoint (step {last_good}) kept in {out}"
            else:
                where = f"; no checkpoint was written yet in {out}"
            raise TrainingDivergedError(
                f"SAE training diverged: non-finite loss at step {s0 + int(m['first_bad']) + 1}{where}; "
                f"lower --lr or the loss weights")
        dstate = new_state
        row = {"step": s1, "epoch": round(s1 / steps_per_epoch, 4),
               **{k: m[k] for k in (*TERMS, "l0", "dead_fraction", "fvu")}}
        history.append(row)
        last = row
        if out is not None and (s1 % config.checkpoint_every == 0 or s1 == total):
            save_checkpoint(out, s1, runner.get(dstate), CHECKPOINT_KIND, config.to_dict(), extra=extra)
            write_json(out / "history.json", history)
            last_good = s1
        log(f"train-sae: step {s1}/{total} loss {m['loss']:.4g} emb {m['emb']:.4g} pred {m['pred']:.4g} "
            f"kl {m['kl']:.4g} l1 {m['l1']:.4g} l0 {m['l0']:.3g} dead {m['dead_fraction']:.2f} "
            f"fvu {m['fvu']:.3f} ({(s1 - s0) / dt:.0f} steps/s)")
    train_s = time.perf_counter() - t_start
    state = runner.get(dstate)
    trained = TrainedSAE(module=build_sae(config, d), params=jax.device_get(state.params), config=config,
                         input_two_tower=input_tt, heldout_users=heldout, balance_factor=balance,
                         factor_dim=two_tower.dim)
    metrics = final_metrics(trained, data, config, total, start, train_s, last)
    if out is not None:
        write_json(out / "metrics.json", metrics)
    return trained, metrics


def final_metrics(trained: TrainedSAE, data: Any, config: SAETrainConfig, total: int, start: int,
                   train_s: float, last: Dict[str, Any]) -> Dict[str, Any]:
    """metrics.json: last window's loss terms; L0, dead fraction and FVU over held-out users and all
    items; fidelity of the reconstructed recommender on the held-out users."""

    tt = trained.input_two_tower
    rows_u = tt.user_emb[jnp.asarray(trained.heldout_users)] if len(trained.heldout_users) else tt.user_emb[:0]
    zu, su = trained.encode(rows_u, side="user")
    zi, si = trained.encode(tt.item_emb, side="item")
    x = jnp.concatenate([rows_u, tt.item_emb])
    z = jnp.concatenate([zu, zi])
    x_hat = jnp.concatenate([trained.decode(zu, su, side="user"), trained.decode(zi, si, side="item")])
    metrics: Dict[str, Any] = {
        "sae": config.sae, "latents": config.latents, "k": config.k if config.sae in SPARSE_K_SAES else None,
        "fold_biases": config.fold_biases, "balance_sides": config.balance_sides,
        BALANCE_KEY: trained.balance_factor, "steps": total,
        **{k: last.get(k) for k in TERMS},
        "l0": float(diagnostics.l0(z)),
        "dead_fraction": float(diagnostics.dead_fraction(diagnostics.fired(z))),
        "fvu": float(diagnostics.fvu(x, x_hat)),
        "train_fvu": last.get("fvu"),
        "n_heldout_users": int(len(trained.heldout_users)),
    }

    n_u = rows_u.shape[0]
    metrics.update(side_fvu(rows_u, x_hat[:n_u], tt.item_emb, x_hat[n_u:]))
    if data is not None and len(trained.heldout_users):
        recon = trained.reconstructed_two_tower()
        metrics.update(fidelity_report(tt, recon, data, trained.heldout_users, k=30))
        metrics.update(side_fidelity(tt, recon, data, trained.heldout_users, k=30))
    metrics["train_s"] = train_s
    metrics["steps_per_s"] = (total - start) / train_s if train_s > 0 else None
    return metrics
