"""Training MF / NCF recommenders: the driver `train_recommender` / `train_phase` and early stopping.

The pure step and epoch scan are `jaxsae.training.rec._step` (the objective is documented there), the
host-side negatives and batches `jaxsae.training.rec._epochs`, checkpoints and `load_recommender`
`jaxsae.training.rec._files`, the config `jaxsae.training.rec._config`; the names of `__all__` stay
importable from here.

The MF optimizer default (row-wise Adagrad lr 0.15 on summed rows, 2 uniform negatives per positive, batch 4096)
reaches the paper schedule's 10-epoch HR@10 after 3 epochs; NCF defaults to Adam (lr 0.01, batch 4096).

Default schedule: early stopping. A seeded validation slice of training positives
(`jaxsae.training.rec._validation`) is held out of the fitted matrix and scored by full-ranking ndcg@10 after
every epoch; training stops `patience` epochs after the best one, and the best epoch's model then trains
`refit_epochs` more epochs on all training positives (the warm `refit`; `refit_epochs=None`: a fresh
model for the best epoch count). MF defaults to d=64, L2 0.03.

Every epoch is checkpointed (params, optimizer state, epoch, PRNG key, config, history); `resume=True`
continues from the last one and ends bit-for-bit where an uninterrupted run ends. A non-finite loss raises
`TrainingDivergedError` before that epoch is saved, so the last good checkpoint stays.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import flax.linen as nn
import jax
import numpy as np

from jaxsae.checkpoint import checkpoint_meta, restore_checkpoint, save_checkpoint
from jaxsae.errors import CheckpointError, TrainingDivergedError
from jaxsae.recommenders import TwoTower
from jaxsae.training.parallel import local_devices, replicate, unreplicate
# the config lives in its own module; re-exported here, where train_recommender's callers look for it
from jaxsae.training.rec._config import (DEFAULT_LR, MODEL_DEFAULTS, MODELS, OPTIMIZERS, REDUCTIONS,  # noqa: F401
                                        RESUME_IGNORED, VAL_METRICS, RecConfig)
from jaxsae.training.rec._epochs import (EpochSampler, dispatch_epoch, epoch_batches, epoch_eta, epoch_key, epoch_loss,
                                         host_keys, negative_probs)
from jaxsae.checkpoint import clear_outputs
from jaxsae.training.rec._files import CHECKPOINT_KIND, _state, load_recommender, load_recommender_state
from jaxsae.training.rec._step import build_recommender, init_opt_state, init_params, make_rec_epoch, make_optimizer, to_two_tower
from jaxsae.training.rec._validation import best_of, early_stopping, should_stop, validation_split
from jaxsae.metrics import evaluate_most_popular
from jaxsae.training.rec._grid import (FLOOR_MARGIN, FLOOR_Z, POOLED, POOLED_MAX_POSITIVES, behind_leader, choose,
                                       grid_candidates, paired_gain)
from jaxsae.training.rec._pooled import fit_pooled, pooled_params
import shutil
from jaxsae.metrics import evaluate_two_tower



@dataclasses.dataclass(frozen=True)
class TrainedRecommender:
    """What `train_recommender` returns: the module, its params, the frozen two-tower view and the log."""

    module: nn.Module
    params: Any
    config: RecConfig
    two_tower: TwoTower
    history: List[Dict[str, Any]]
    train_s: float
    """Wall-clock seconds of this call's training epochs (compile included, evaluation excluded)."""
    best_epoch: Optional[int] = None
    """The epoch whose params these are (early stopping: best validation score; else the last epoch)."""
    validation: Optional[Dict[str, Any]] = None
    """Early stopping: the slice (`n_users`, `per_user`, ...), metric, best score and stop reason."""
    opt_state: Any = None
    """The optimizer state after the last epoch run (what a warm refit continues from)."""


# ---- the training loop -----------------------------------------------------------------------------
MOST_POPULAR = "most-popular"  # the grid's untrained floor (`_closed_form_model`)

def train_recommender(data: Any, config: RecConfig, out_dir: "str | Path | None" = None, resume: bool = False,
                      log: Optional[Callable[[str], None]] = print) -> TrainedRecommender:
    """Train `config.model` on `data`: `train_phase`, then with early stopping and `config.refit` a
    fresh fixed-schedule run on all training positives for the chosen number of epochs.

    The selection run is checkpointed in `out_dir/select/`, the refit (the model later stages load) in
    `out_dir`; `resume=True` resumes whichever phase was interrupted. The returned `history` is the
    selection run's (the validation curve); `validation["refit"]` has the refit's epochs, time and log.
    """
    log = log or (lambda s: None)
    out = Path(out_dir) if out_dir is not None else None
    if config.grid and early_stopping(config):
        return _train_grid(data, config, out, resume, log)
    if not (early_stopping(config) and config.refit):
        return train_phase(data, config, out, resume, log)
    if out is not None and not resume:
        clear_outputs(out)
    sel = train_phase(data, config, out / "select" if out is not None else None, resume, log)
    return _refit(data, config, sel, out, resume, log)


def _refit(data: Any, config: RecConfig, sel: TrainedRecommender, out: Optional[Path], resume: bool,
           log: Callable[[str], None]) -> TrainedRecommender:
    """After the selection run `sel` of `config`, a fixed-schedule run on all training positives (the
    validation slice included), written to `out` (`sel` itself without a validation slice).

    Warm (`config.refit_epochs` = n, the default): continue from the best epoch's params, with the
    optimizer state of the selection run's last epoch, for n epochs; the held-out rows are learned
    without paying for the selection's epochs again. Cold (`refit_epochs=None`, the former refit): a
    fresh model trained for the best epoch count."""
    if sel.validation is None:  # no validation user: the selection run is the fixed schedule itself
        return sel
    warm = config.refit_epochs is not None
    n = int(config.refit_epochs) if warm else int(sel.best_epoch)
    log(f"[rec] refit on all training positives: " + (f"{n} more epochs from the best epoch {sel.best_epoch}"
                                                       if warm else f"a fresh model for the best {n} epochs"))
    full = dataclasses.replace(config, patience=0, epochs=n)
    ref = train_phase(data, full, out, resume, lambda m: log(m.replace("[rec]", "[rec] refit", 1)),
                      init=(sel.params, sel.opt_state) if warm else None)
    validation = {**sel.validation, "refit": {"epochs": n, "warm": warm, "train_s": ref.train_s,
                                              "history": ref.history}}
    return dataclasses.replace(ref, config=config, history=sel.history, train_s=sel.train_s + ref.train_s,
                               best_epoch=int(sel.best_epoch) + n if warm else n, validation=validation)


def _train_grid(data: Any, config: RecConfig, out: Optional[Path], resume: bool,
                log: Callable[[str], None]) -> TrainedRecommender:
    """`train_recommender` with `config.grid`: with `config.pooled` the closed-form pooled candidate
    (`_pooled_candidate`), then every `grid_candidates` config trained with early stopping (checkpointed
    in `out/grid/<name>/`; stopped once behind the best so far, `behind_leader`), the best on the
    validation slice kept
    (`choose`, over the most-popular floor) and refitted (with `config.refit`). `validation["grid"]`
    records each candidate's validation figures and the most-popular ranking's on the same slice; the
    returned `config` is the chosen candidate's."""

    _, val = validation_split(data, config)
    if val is None:  # no user can give validation positives: nothing to choose on
        return train_recommender(data, dataclasses.replace(config, grid=False), out, resume, log)
    if out is not None and not resume:
        clear_outputs(out)
    pooled = _pooled_candidate(data, val, config, log)
    # a closed-form candidate is at its best from the first epoch on: a flat curve to stay behind of
    leader = [pooled["best"]] if pooled is not None else None
    runs, rows = {}, []
    for name, cand in grid_candidates(config):
        log(f"[rec] grid candidate {name}: {cand.model} d={cand.dim} l2={cand.l2}"
            + (" bias-only" if cand.bias_only else ""))
        sel = train_phase(data, cand, out / "grid" / name if out is not None else None, resume,
                          lambda m, name=name: log(m.replace("[rec]", f"[rec] {name}", 1)), leader=leader)
        v = sel.validation or {}
        at_best = next((h for h in sel.history if h["epoch"] == v.get("best_epoch")), {})
        runs[name] = (cand, sel)
        rows.append({"name": name, "model": cand.model, "dim": int(cand.dim), "l2": float(cand.l2),
                     "bias_only": bool(cand.bias_only), "best": v.get("best"), "best_epoch": v.get("best_epoch"),
                     "val_hit@10": at_best.get("val_hit@10"), "epochs_run": len(sel.history),
                     "behind_leader": bool(v.get("behind_leader", False)), "train_s": float(sel.train_s)})
        if v.get("best") is not None and (leader is None or v["best"] > max(leader)):
            leader = [h[f"val_{config.val_metric}"] for h in sel.history]
    if pooled is not None:  # after the trained candidates: they win ties
        rows.append(pooled)
    popular = evaluate_most_popular(val, ks=(10,), chunk_size=config.eval_chunk_size, per_user=True)
    # the floor: most-popular itself, kept unless a candidate beats it on validation by more than FLOOR_MARGIN
    # and, for a trained candidate, by a paired z of at least FLOOR_Z over the validation users
    rows.append({"name": MOST_POPULAR, "model": "mf", "dim": 1, "l2": 0.0, "bias_only": True,
                 "best": popular[config.val_metric], "best_epoch": 0, "val_hit@10": popular["hit@10"],
                 "epochs_run": 0, "train_s": 0.0})
    j, floor_test = _floor_test(rows, choose(rows, config.val_metric, floor_margin=FLOOR_MARGIN), runs, val,
                                popular, config, log)
    grid = {"metric": config.val_metric, "chosen": rows[j]["name"], "candidates": rows, "floor_margin": FLOOR_MARGIN,
            "floor_test": floor_test, "most_popular": {"ndcg@10": popular["ndcg@10"], "hit@10": popular["hit@10"]}}
    log(f"[rec] grid: {rows[j]['name']} kept (validation {config.val_metric} "
        + ", ".join(f"{r['name']} {r['best']:.4f}" for r in rows if r["best"] is not None) + ")")
    train_s = sum(r["train_s"] for r in rows)
    if rows[j]["name"] in (MOST_POPULAR, POOLED):
        validation = {"metric": config.val_metric, "best": rows[j]["best"], "best_epoch": 0, "stopped_early": False,
                      "patience": int(config.patience), **val.info["validation"], "grid": grid}
        params = None
        if rows[j]["name"] == POOLED:  # rebuilt on all training positives (its refit, in closed form)
            params = pooled_params(data, pooled["alpha"], pooled["rank"], pooled["beta"], seed=config.seed)
        return _closed_form_model(data, config, out, validation, train_s, params)
    cand, sel = runs[rows[j]["name"]]
    sel = dataclasses.replace(sel, validation={**(sel.validation or {}), "grid": grid}, train_s=train_s)
    if not config.refit:
        if out is not None:  # the chosen candidate's checkpoint becomes the run's
            _copy_checkpoint(out / "grid" / rows[j]["name"], out)
        return sel
    return _refit(data, cand, sel, out, resume, log)


def _floor_test(rows: List[Dict[str, Any]], j: int, runs: Mapping[str, Any], val: Any, popular: Mapping[str, Any],
                config: RecConfig, log: Callable[[str], None]) -> Tuple[int, Optional[Dict[str, Any]]]:
    """`(index kept, record)`: the trained candidate `rows[j]` stays only if its per-user validation gain
    over most-popular (`popular`, evaluated with `per_user`) has a paired z >= `FLOOR_Z` (`paired_gain`);
    otherwise most-popular (the last row) is kept. A closed-form winner or the floor itself passes as is."""
    name = rows[j]["name"]
    if name not in runs:
        return j, None
    metric = config.val_metric
    mine = evaluate_two_tower(runs[name][1].two_tower, val, ks=(10,), chunk_size=config.eval_chunk_size,
                              per_user=True)
    gain = paired_gain(mine["per_user"][metric], popular["per_user"][metric])
    kept = gain["z"] >= FLOOR_Z
    if not kept:
        log(f"[rec] grid: {name} leads most-popular on validation {metric} by {gain['mean']:+.4f} per user, "
            f"z {gain['z']:.2f} < {FLOOR_Z} over {gain['n_users']} users: within noise, most-popular kept")
    return (j if kept else len(rows) - 1), {"candidate": name, **gain, "z_min": FLOOR_Z, "kept": bool(kept)}


def _pooled_candidate(data: Any, val: Any, config: RecConfig,
                      log: Callable[[str], None]) -> Optional[Dict[str, Any]]:
    """The grid row of the closed-form pooled candidate (`jaxsae.training.rec._pooled`), its settings chosen
    on `val` (the validation view) only; None unless `config.pooled`, above `POOLED_MAX_POSITIVES` training
    positives, and for an NCF grid (the run asked for NCF; the pooled model is an MF)."""
    if (not config.pooled or config.model != "mf"
            or int(np.asarray(data.train_indices).shape[0]) > POOLED_MAX_POSITIVES):
        return None
    t0 = time.perf_counter()

    def val_score(params: Any) -> float:
        tt = to_two_tower(RecConfig(model="mf"), params)
        return evaluate_two_tower(tt, val, ks=(10,), chunk_size=config.eval_chunk_size)[config.val_metric]

    (alpha, rank, beta), score, tried = fit_pooled(val, val_score, seed=config.seed)
    dt = time.perf_counter() - t0
    log(f"[rec] grid candidate {POOLED}: alpha {alpha} rank {rank} beta {beta} (val {config.val_metric} "
        f"{score:.4f}, {dt:.1f}s)")
    return {"name": POOLED, "model": "mf", "dim": rank, "l2": 0.0, "bias_only": False, "best": score,
            "best_epoch": 0, "val_hit@10": None, "epochs_run": 0, "behind_leader": False, "train_s": dt,
            "alpha": alpha, "rank": rank, "beta": beta, "tried": tried}


def _closed_form_model(data: Any, config: RecConfig, out: Optional[Path], validation: Dict[str, Any],
                       train_s: float, params: Optional[Mapping[str, np.ndarray]]) -> TrainedRecommender:
    """An untrained MF checkpointed in `out`: `params` (the pooled candidate), or with None the most-popular
    ranking as a bias-only MF (`item_bias` = the item's training count, everything else zero, so every
    user's scores are the counts: the most-popular lists exactly)."""
    dim = 1 if params is None else int(np.asarray(params["item_emb"]).shape[1])
    cfg = RecConfig(model="mf", dim=dim, bias_only=params is None, grid=False, patience=0, epochs=1, l2=0.0,
                    seed=config.seed, devices=config.devices, eval_chunk_size=config.eval_chunk_size)
    module = build_recommender(cfg, data.n_users, data.n_items)
    if params is None:
        params = {k: jax.numpy.zeros_like(v) for k, v in init_params(module, jax.random.PRNGKey(cfg.seed)).items()}
        params["item_bias"] = jax.numpy.asarray(np.asarray(data.popularity, np.float32))
    params = jax.device_get({k: jax.numpy.asarray(v) for k, v in params.items()})
    if out is not None:
        clear_outputs(out)
        state = _state(params, init_opt_state(cfg, make_optimizer(cfg), params), 1, jax.random.PRNGKey(cfg.seed), None)
        save_checkpoint(out, 1, state, CHECKPOINT_KIND, cfg.to_dict(),
                        extra={"n_users": data.n_users, "n_items": data.n_items, "history": [],
                               "early_stopping": False, "best_epoch": 0})
    return TrainedRecommender(module=module, params=params, config=cfg, two_tower=to_two_tower(cfg, params),
                              history=[], train_s=train_s, best_epoch=0, validation=validation)


def _copy_checkpoint(src: Path, dst: Path) -> None:
    """Copy a candidate's checkpoint files (`checkpoint.json`, `checkpoints/`) into `dst`."""

    clear_outputs(dst)
    shutil.copytree(src / "checkpoints", dst / "checkpoints")
    shutil.copy2(src / "checkpoint.json", dst / "checkpoint.json")


def train_phase(data: Any, config: RecConfig, out_dir: "str | Path | None" = None, resume: bool = False,
                log: Optional[Callable[[str], None]] = print, init: Optional[Tuple[Any, Any]] = None,
                leader: Optional[Sequence[float]] = None) -> TrainedRecommender:
    """Train `config.model` on `data` (an `InteractionData`): `config.epochs` epochs, or with early
    stopping (`config.patience > 0`, the default) until the validation score has not improved for
    `patience` epochs, returning the best epoch's params.

    Early stopping fits on `data` minus a seeded validation slice of training positives
    (`validation_split`; never the hidden test split) and scores the slice after every epoch with the
    chunked full-ranking evaluator (`val_<metric>` in the history). With `out_dir`, every epoch is
    checkpointed there (`jaxsae.checkpoint`; with the best params so far under early stopping);
    `resume=True` continues from the newest checkpoint (its config must match except `RESUME_IGNORED`
    keys) and reproduces the uninterrupted run exactly. `log` receives one progress line per epoch.
    `init = (params, opt_state)` starts from those instead of a fresh initialization (a warm refit).
    `leader` (a grid's best validation curve so far) also stops the run once it stays behind it
    (`jaxsae.training.rec._grid.behind_leader`).
    Raises `TrainingDivergedError` on a non-finite loss (the last good checkpoint is kept).
    """
    log = log or (lambda s: None)
    devices = local_devices(config.devices)
    n_dev = len(devices)
    fit, val = validation_split(data, config)
    module = build_recommender(config, data.n_users, data.n_items)
    tx = make_optimizer(config)
    base_key = jax.random.PRNGKey(config.seed)
    params = init_params(module, jax.random.fold_in(base_key, 0))
    if config.bias_only:  # exactly zero embeddings get exactly zero gradients: only the biases learn
        params = {**params, "user_emb": jax.numpy.zeros_like(params["user_emb"]),
                  "item_emb": jax.numpy.zeros_like(params["item_emb"])}
    opt_state = init_opt_state(config, tx, params)
    if init is not None:
        params, opt_state = init
    best = jax.device_get(params) if val is not None else None
    start_epoch, history = 0, []
    out = Path(out_dir) if out_dir is not None else None
    cfg_dict = config.to_dict()
    if out is not None:
        meta = checkpoint_meta(out)
        if resume and meta is not None:
            target = _state(params, opt_state, 0, base_key, best)
            state, _, meta = restore_checkpoint(out, target, CHECKPOINT_KIND, cfg_dict, ignore_keys=RESUME_IGNORED)
            if meta.get("n_users") != data.n_users or meta.get("n_items") != data.n_items:
                raise CheckpointError(f"{out}: checkpoint is for {meta.get('n_users')} x {meta.get('n_items')} "
                                      f"users x items, the data has {data.n_users} x {data.n_items}")
            params, opt_state = state["params"], state["opt_state"]
            best = state.get("best")
            start_epoch, history = int(state["epoch"]), list(meta.get("history", []))
            log(f"[rec] resuming {config.model} from epoch {start_epoch} ({out})")
        else:
            if resume:
                log(f"[rec] no checkpoint in {out}: starting from scratch")
            clear_outputs(out)
    if val is not None and start_epoch == 0:
        log(f"[rec] early stopping on {config.val_metric} of {val.test_users.shape[0]} validation users "
            f"({val.info['validation']['per_user']} training positive(s) each held out), patience {config.patience}, "
            f"at most {config.epochs} epochs")
    probs = negative_probs(fit, config)
    sampler = EpochSampler(fit, config, probs)  # the positive look-up, built once for all epochs
    epoch_fn = make_rec_epoch(module, config, tx, devices)
    r_params, r_opt = replicate(params, devices), replicate(opt_state, devices)
    t_train = 0.0
    t_mark = time.perf_counter()
    next_batches = None
    def stop_now() -> Tuple[bool, bool]:  # (stop, because behind the leader)
        behind = val is not None and leader is not None and behind_leader(history, leader, config.val_metric)
        return should_stop(history, config) or behind, behind

    stopped, behind = stop_now()
    if start_epoch < config.epochs and not stopped:
        next_batches = epoch_batches(fit, config, epoch_key(base_key, start_epoch + 1), probs, sampler=sampler)
    for epoch in range(start_epoch + 1, config.epochs + 1):
        if stopped:
            break
        batches, next_batches = next_batches, None
        # the next epoch's keys on the host before dispatching: a JAX op queued after it would wait for it
        keys = host_keys(epoch_key(base_key, epoch + 1)) if epoch < config.epochs else None
        r_params, r_opt, outs = dispatch_epoch(epoch_fn, r_params, r_opt, batches, n_dev, config.max_scan_steps)
        if keys is not None:  # host work for the next epoch overlaps this epoch's device work
            next_batches = epoch_batches(fit, config, keys, probs, sampler=sampler)
        bce, w = epoch_loss(outs)
        loss = bce / max(w, 1.0)
        dt = time.perf_counter() - t_mark
        t_train += dt
        if not np.isfinite(loss):
            where = f"; the last good checkpoint (epoch {epoch - 1}) is kept in {out}" if out and epoch > 1 else ""
            raise TrainingDivergedError(
                f"{config.model} training diverged at epoch {epoch} (loss {loss}){where}; lower the learning rate "
                f"(lr={config.lr})")
        entry: Dict[str, Any] = {"epoch": epoch, "loss": loss, "time_s": dt}
        msg = f"[rec] {config.model} epoch {epoch}/{config.epochs} loss {loss:.4f} ({dt:.2f}s)"
        if val is not None or (config.eval_every and (epoch % config.eval_every == 0 or epoch == config.epochs)):

            host_params = unreplicate(r_params)
            tt = to_two_tower(config, host_params)
            if val is not None:
                v = evaluate_two_tower(tt, val, ks=(10,), chunk_size=config.eval_chunk_size)
                prev_epoch, prev = best_of(history, config.val_metric)
                entry.update({f"val_{config.val_metric}": v[config.val_metric], "val_hit@10": v["hit@10"]})
                if prev_epoch is None or v[config.val_metric] > prev:
                    best = jax.device_get(host_params)
                msg += f" val {config.val_metric} {v[config.val_metric]:.4f}"
            if config.eval_every and (epoch % config.eval_every == 0 or epoch == config.epochs):
                m = evaluate_two_tower(tt, data, ks=(10,), chunk_size=config.eval_chunk_size)
                entry.update({"hit@10": m["hit@10"], "ndcg@10": m["ndcg@10"]})
                msg += f" hit@10 {m['hit@10']:.4f} ndcg@10 {m['ndcg@10']:.4f}"
        history.append(entry)
        stopped, behind = stop_now()
        if not stopped:
            msg += epoch_eta(epoch, start_epoch + 1, t_train, config,
                             best_of(history, config.val_metric)[0] if val is not None else None)
        if out is not None:
            state = _state(unreplicate(r_params), unreplicate(r_opt), epoch, base_key, best)
            save_checkpoint(out, epoch, state, CHECKPOINT_KIND, cfg_dict,
                            extra={"n_users": data.n_users, "n_items": data.n_items, "history": history,
                                   "early_stopping": val is not None,
                                   "best_epoch": best_of(history, config.val_metric)[0] if val is not None else epoch})
        log(msg)
        t_mark = time.perf_counter()
    validation = None
    if val is not None:
        params = best
        best_epoch, score = best_of(history, config.val_metric)
        validation = {"metric": config.val_metric, "best": score, "best_epoch": best_epoch,
                      "stopped_early": bool(stopped), "patience": int(config.patience),
                      **val.info["validation"], **({"behind_leader": True} if behind else {})}
        log(f"[rec] best epoch {best_epoch} (val {config.val_metric} {score:.4f})"
            + (f"; stopped after {len(history)} epochs" if stopped else "")
            + (" (behind the grid's best so far)" if behind else ""))
    else:
        params = unreplicate(r_params)
        best_epoch = int(history[-1]["epoch"]) if history else start_epoch
    params = jax.device_get(params)
    return TrainedRecommender(module=module, params=params, config=config, two_tower=to_two_tower(config, params),
                              history=history, train_s=t_train, best_epoch=best_epoch, validation=validation,
                              opt_state=jax.device_get(unreplicate(r_opt)))
