"""Training MF / NCF recommenders (SPEC §4): BCE on positives and per-epoch re-sampled negatives.

One epoch: on the host, sample `negatives` negatives per training positive
(`data_prep.negatives.sample_negatives`, weights by `negative_scheme`), shuffle all pairs and cut them
into `[steps, batch_size]` index batches (the last batch padded with weight-0 rows); on the device, one
jitted `lax.scan` runs the steps under `jax.pmap` over `devices` with `lax.pmean` of gradients, so the
update equals the single-device one for the same global batch. The host prepares epoch e+1 while the
device runs epoch e. Objective per step, with row weights w:

    loss_row = BCE(sigmoid(logit(u, i)), y) + l2 / 2 * (|p_u|^2 + |q_i|^2 [+ b_u^2 + b_i^2 for MF])
    objective = sum_rows w * loss_row / sum_rows w     (reduction "mean")
              = sum_rows w * loss_row                  (reduction "sum": the paper's per-row SGD, np.add.at)

With `optimizer="sgd", lr=0.05, l2=0.01, batch_size=256, reduction="sum"` one step is exactly the paper's
notebook update `p_u += lr * (err * q_i - l2 * p_u)` (`RecConfig.preset("paper")`). SGD and Adagrad
leave rows absent from a batch unchanged, so their steps gather, differentiate and scatter only the batch
rows of the embedding/bias tables (O(batch x d) per step, not O(table)); Adam updates densely. The MF
optimizer default (row-wise Adagrad lr 0.3 on summed rows, 2 uniform negatives per positive, batch 4096)
reaches the paper schedule's 10-epoch HR@10 after 3 epochs; NCF defaults to Adam (lr 0.01, batch 4096).

Default schedule (issue 10, SPEC §11): early stopping. A seeded validation slice of training positives
(`jaxsae.training.validation`) is held out of the fitted matrix and scored by full-ranking ndcg@10 after
every epoch; training stops `patience` epochs after the best one, and a fresh model is then refitted on
all training positives for the best epoch count (`refit`). MF defaults to d=64, L2 0.03.

Every epoch is checkpointed (params, optimizer state, epoch, PRNG key, config, history); `resume=True`
continues from the last one and ends bit-for-bit where an uninterrupted run ends. A non-finite loss raises
`TrainingDivergedError` before that epoch is saved, so the last good checkpoint stays.
"""
from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from data_prep.negatives import all_positives_csr, item_sampling_weights, sample_negatives
from jaxsae.checkpoint import checkpoint_meta, restore_checkpoint, save_checkpoint
from jaxsae.errors import CheckpointError, TrainingDivergedError
from jaxsae.recommenders import mf as mf_lib
from jaxsae.recommenders import ncf as ncf_lib
from jaxsae.recommenders.base import TwoTower
from jaxsae.training.parallel import AXIS, local_devices, replicate, shard_steps, unreplicate
# the config lives in its own module; re-exported here, where train_recommender's callers look for it
from jaxsae.training.rec_config import (DEFAULT_LR, MODEL_DEFAULTS, MODELS, OPTIMIZERS, REDUCTIONS,  # noqa: F401
                                        RESUME_IGNORED, VAL_METRICS, RecConfig)

CHECKPOINT_KIND = "recommender"
# Per-id tables (updated row-sparsely with SGD/Adagrad) and the id each is indexed by.
ROW_TABLES = {"user_emb": "user", "item_emb": "item", "user_bias": "user", "item_bias": "item"}
ADAGRAD_INIT, ADAGRAD_EPS = 0.1, 1e-7  # optax.adagrad's defaults


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


# ---- model plumbing --------------------------------------------------------------------------------
def build_module(config: RecConfig, n_users: int, n_items: int) -> nn.Module:
    """The flax module for `config.model`."""
    if config.model == "mf":
        return mf_lib.MF(n_users=n_users, n_items=n_items, dim=config.dim, init_std=config.init_std)
    return ncf_lib.NCF(n_users=n_users, n_items=n_items, dim=config.dim, hidden=config.hidden,
                       init_std=config.init_std)


def to_two_tower(config: RecConfig, params: Any) -> TwoTower:
    """The frozen two-tower view of trained params."""
    return (mf_lib if config.model == "mf" else ncf_lib).to_two_tower(params)


def init_params(module: nn.Module, key: jax.Array) -> Any:
    """Fresh params of a recommender module (its tables and head) from `key`."""
    dummy = jnp.zeros((1,), jnp.int32)
    return module.init(key, dummy, dummy)["params"]


def make_optimizer(config: RecConfig) -> optax.GradientTransformation:
    """The optax optimizer of `config` (no weight decay: L2 lives in the loss, on the batch rows).

    With SGD and Adagrad it updates only the dense params (MF global bias, NCF MLP); the embedding and bias
    tables get the same rule applied to the batch rows alone (`sparse_rows`)."""
    if config.optimizer == "adam":
        return optax.adam(config.lr)
    if config.optimizer == "adagrad":
        return optax.adagrad(config.lr, initial_accumulator_value=ADAGRAD_INIT, eps=ADAGRAD_EPS)
    return optax.sgd(config.lr)


def sparse_rows(config: RecConfig) -> bool:
    """True for SGD and Adagrad, under which table rows absent from a batch do not move: the step then
    gathers, differentiates and scatters only the batch rows, O(batch x d) instead of O(table) per step.
    Adam's momentum moves every row, so it updates the tables densely."""
    return config.optimizer in ("sgd", "adagrad")


def split_params(params: Mapping[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """`(tables, dense)`: per-id tables (`ROW_TABLES`) and everything else."""
    tables = {k: v for k, v in params.items() if k in ROW_TABLES}
    dense = {k: v for k, v in params.items() if k not in ROW_TABLES}
    return tables, dense


def init_opt_state(config: RecConfig, tx: optax.GradientTransformation, params: Any) -> Any:
    """Optimizer state: optax's over all params (Adam), or optax's over the dense params plus a row-wise
    Adagrad accumulator `[n_rows]` per table (`{"dense", "rows"}`; SGD has no row state)."""
    if not sparse_rows(config):
        return tx.init(params)
    tables, dense = split_params(params)
    rows = ({k: jnp.full((v.shape[0],), ADAGRAD_INIT, v.dtype) for k, v in tables.items()}
            if config.optimizer == "adagrad" else {})
    return {"dense": tx.init(dense), "rows": rows}


def row_logits(config: RecConfig, dense: Mapping[str, Any], rows: Mapping[str, jax.Array]) -> jax.Array:
    """The model's logits from gathered table rows (`rows[name] = table[ids]`) and its dense params."""
    if config.model == "mf":
        return (dense["global_bias"] + rows["user_bias"] + rows["item_bias"]
                + jnp.sum(rows["user_emb"] * rows["item_emb"], axis=-1))
    return ncf_lib.ncf_score(dense["head"], rows["user_emb"], rows["item_emb"])


def _row_objective(config: RecConfig, n_devices: int) -> Callable:
    """`f(dense, rows, batch) -> (objective, (bce_sum, weight_sum))`, the per-device objective of
    `make_loss_fn` written on gathered rows (the L2 term covers every gathered row: MF `p, q, b_u, b_i`,
    NCF `p, q`)."""
    def f(dense: Any, rows: Mapping[str, jax.Array], batch: Tuple[jax.Array, ...]) -> Tuple[jax.Array, Any]:
        _, _, labels, weights = batch
        bce = optax.sigmoid_binary_cross_entropy(row_logits(config, dense, rows), labels)
        row = bce
        if config.l2 > 0:
            sq = sum(jnp.sum(jnp.reshape(r * r, (r.shape[0], -1)), axis=-1) for r in rows.values())
            row = bce + 0.5 * config.l2 * sq
        w_sum = jnp.sum(weights)
        denom = jax.lax.psum(w_sum, AXIS) if config.reduction == "mean" else 1.0
        return n_devices * jnp.sum(weights * row) / denom, (jnp.sum(weights * bce), w_sum)

    return f


def _rows_fn(config: RecConfig) -> Callable[..., list]:
    """The model's `embedding_rows(params, users, items)`: the rows its L2 term penalizes."""
    return (mf_lib if config.model == "mf" else ncf_lib).embedding_rows


def make_loss_fn(module: nn.Module, config: RecConfig, n_devices: int) -> Callable:
    """`loss(params, batch) -> (objective, (bce_sum, weight_sum))` for one device's shard of a batch.

    The objective is scaled so that `pmean` of the per-device gradients is the gradient of the global
    objective (module docstring); call it under a named axis `AXIS` (pmap).
    """
    rows_fn = _rows_fn(config)

    def loss(params: Any, batch: Tuple[jax.Array, ...]) -> Tuple[jax.Array, Tuple[jax.Array, jax.Array]]:
        users, items, labels, weights = batch
        logits = module.apply({"params": params}, users, items)
        bce = optax.sigmoid_binary_cross_entropy(logits, labels)
        row = bce
        if config.l2 > 0:
            sq = sum(jnp.sum(r * r, axis=-1) for r in rows_fn(params, users, items))
            row = bce + 0.5 * config.l2 * sq
        w_sum = jnp.sum(weights)
        denom = jax.lax.psum(w_sum, AXIS) if config.reduction == "mean" else 1.0
        objective = n_devices * jnp.sum(weights * row) / denom
        return objective, (jnp.sum(weights * bce), w_sum)

    return loss


def _freeze(config: RecConfig, grads: Any) -> Any:
    if config.freeze_global_bias and config.model == "mf" and "global_bias" in grads:
        return {**grads, "global_bias": jnp.zeros_like(grads["global_bias"])}
    return grads


def _dense_step(module: nn.Module, config: RecConfig, tx: optax.GradientTransformation, n_devices: int) -> Callable:
    grad_fn = jax.value_and_grad(make_loss_fn(module, config, n_devices), has_aux=True)

    def step(carry: Tuple[Any, Any], batch: Tuple[jax.Array, ...]) -> Tuple[Tuple[Any, Any], Tuple[jax.Array, jax.Array]]:
        params, opt_state = carry
        (_, (bce_sum, w_sum)), grads = grad_fn(params, batch)
        grads = _freeze(config, jax.lax.pmean(grads, AXIS))
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return (params, opt_state), (jax.lax.psum(bce_sum, AXIS), jax.lax.psum(w_sum, AXIS))

    return step


def _sparse_step(config: RecConfig, tx: optax.GradientTransformation, n_devices: int) -> Callable:
    """SGD / Adagrad step touching only the batch rows of each table.

    Row gradients of all devices are all-gathered (each device then applies the whole global batch) and
    divided by `n_devices` to undo the objective's scaling. SGD equals the dense update exactly (duplicate
    ids summed, as `np.add.at` in the paper). Adagrad is row-wise (one accumulator per table row, as the
    row-wise Adagrad of large-scale recommenders): for every batch row r with gradient g_r,
    `acc_r += mean_k g_rk^2`, then `x_r -= lr * g_r / sqrt(acc_r + eps)`; rows absent from the batch keep
    their values and accumulators. Dense params (MF global bias, NCF MLP) use optax (`make_optimizer`).
    """
    grad_fn = jax.value_and_grad(_row_objective(config, n_devices), argnums=(0, 1), has_aux=True)

    def step(carry: Tuple[Any, Any], batch: Tuple[jax.Array, ...]) -> Tuple[Tuple[Any, Any], Tuple[jax.Array, jax.Array]]:
        params, opt_state = carry
        users, items = batch[0], batch[1]
        tables, dense = split_params(params)
        index = {k: users if ROW_TABLES[k] == "user" else items for k in tables}
        rows = {k: tables[k][index[k]] for k in tables}
        (_, (bce_sum, w_sum)), (g_dense, g_rows) = grad_fn(dense, rows, batch)
        g_dense = _freeze(config, jax.lax.pmean(g_dense, AXIS))
        d_updates, d_state = tx.update(g_dense, opt_state["dense"], dense)
        dense = optax.apply_updates(dense, d_updates)
        acc = dict(opt_state["rows"])
        for k, table in tables.items():
            idx = jax.lax.all_gather(index[k], AXIS, tiled=True)
            g = jax.lax.all_gather(g_rows[k], AXIS, tiled=True) / n_devices
            if config.optimizer == "sgd":
                tables[k] = table.at[idx].add(-config.lr * g)
            else:  # row-wise Adagrad: acc_r += mean_k g_rk^2 per occurrence; x_r -= lr g_r / sqrt(acc_r + eps)
                g2 = jnp.mean(g * g, axis=tuple(range(1, g.ndim)))
                acc[k] = acc[k].at[idx].add(g2)
                scale = jax.lax.rsqrt(acc[k][idx] + ADAGRAD_EPS)
                tables[k] = table.at[idx].add(-config.lr * g * scale.reshape(scale.shape + (1,) * (g.ndim - 1)))
        params = {**tables, **dense}
        new_state = {"dense": d_state, "rows": acc}
        return (params, new_state), (jax.lax.psum(bce_sum, AXIS), jax.lax.psum(w_sum, AXIS))

    return step


def make_epoch_fn(module: nn.Module, config: RecConfig, tx: optax.GradientTransformation,
                  devices: Sequence[jax.Device]) -> Callable:
    """The pmapped epoch `(params, opt_state, batches[n_dev, steps, b]) -> (params, opt_state, bce[steps], w[steps])`.

    One `lax.scan` over the steps; gradients are `pmean`-ed across devices (row gradients all-gathered in
    the sparse SGD/Adagrad step); the scan returns per-step sums of BCE and of row weights (identical on
    every device).
    """
    n = len(devices)
    step = _sparse_step(config, tx, n) if sparse_rows(config) else _dense_step(module, config, tx, n)

    def epoch(params: Any, opt_state: Any, batches: Tuple[jax.Array, ...]) -> Tuple[Any, Any, jax.Array, jax.Array]:
        (params, opt_state), (bce, w) = jax.lax.scan(step, (params, opt_state), batches)
        return params, opt_state, bce, w

    return jax.pmap(epoch, axis_name=AXIS, donate_argnums=(0, 1), devices=devices)


# ---- host-side batches -----------------------------------------------------------------------------
def epoch_key(base_key: jax.Array, epoch: int) -> jax.Array:
    """The PRNG key of epoch `epoch` (1-based): negatives and shuffling depend only on (seed, epoch)."""
    return jax.random.fold_in(base_key, epoch)


def epoch_batches(data: Any, config: RecConfig, key: jax.Array, probs: Optional[np.ndarray]) -> Tuple[np.ndarray, ...]:
    """`(users, items, labels, weights)`, each `[steps, batch_size]`: all positives, `negatives` fresh
    negatives per positive (never one of the user's training or hidden test positives), shuffled; the
    last batch padded with weight-0 rows."""
    pos_u, pos_i = data.train_pairs()
    neg_u = np.tile(pos_u, config.negatives)
    indptr, indices = all_positives_csr(data)
    neg_i = sample_negatives(key, neg_u, indptr, indices, data.n_items, probs)
    users = np.concatenate([pos_u, neg_u]).astype(np.int32)
    items = np.concatenate([pos_i, neg_i]).astype(np.int32)
    labels = np.concatenate([np.ones(pos_u.shape[0], np.float32), np.zeros(neg_u.shape[0], np.float32)])
    rng = np.random.default_rng(np.asarray(jax.random.key_data(jax.random.fold_in(key, 1))).ravel().tolist())
    perm = rng.permutation(users.shape[0])
    n = users.shape[0]
    b = config.batch_size
    steps = max(1, -(-n // b))
    pad = steps * b - n

    def arrange(x: np.ndarray, fill: float) -> np.ndarray:
        x = x[perm]
        if pad:
            x = np.concatenate([x, np.full(pad, fill, x.dtype)])
        return x.reshape(steps, b)

    weights = np.ones(n, np.float32)
    return arrange(users, 0), arrange(items, 0), arrange(labels, 0.0), arrange(weights, 0.0)


def negative_probs(data: Any, config: RecConfig) -> Optional[np.ndarray]:
    """Item probabilities for negatives (None = uniform, the fast path of `sample_negatives`)."""
    if config.negative_scheme == "uniform":
        return None
    return item_sampling_weights(data.popularity, config.negative_scheme, config.negative_alpha, config.negative_beta)


def dispatch_epoch(epoch_fn: Callable, params: Any, opt_state: Any, batches: Tuple[np.ndarray, ...],
                   n_devices: int, max_scan_steps: int) -> Tuple[Any, Any, list]:
    """Queue one epoch's batches on the device(s) in scans of at most `max_scan_steps` steps.

    Returns at once (JAX dispatch is asynchronous), so the host can prepare the next epoch meanwhile:
    `(params, opt_state, outs)` with `outs` the per-scan loss sums for `epoch_loss`.
    """
    steps = batches[0].shape[0]
    outs = []
    for start in range(0, steps, max_scan_steps):
        part = tuple(x[start : start + max_scan_steps] for x in batches)
        params, opt_state, bce, w = epoch_fn(params, opt_state, shard_steps(part, n_devices))
        outs.append((bce, w))
    return params, opt_state, outs


def epoch_loss(outs: list) -> Tuple[float, float]:
    """Wait for a dispatched epoch: its summed BCE and row weight (float64 on the host)."""
    bce_total, w_total = 0.0, 0.0
    for bce, w in outs:
        bce_total += float(np.sum(np.asarray(bce[0], np.float64)))
        w_total += float(np.sum(np.asarray(w[0], np.float64)))
    return bce_total, w_total


def run_epoch(epoch_fn: Callable, params: Any, opt_state: Any, batches: Tuple[np.ndarray, ...],
              n_devices: int, max_scan_steps: int) -> Tuple[Any, Any, float, float]:
    """One epoch, waited for: `(params, opt_state, bce_sum, weight_sum)` (replicated state in and out)."""
    params, opt_state, outs = dispatch_epoch(epoch_fn, params, opt_state, batches, n_devices, max_scan_steps)
    return (params, opt_state) + epoch_loss(outs)


# ---- the training loop -----------------------------------------------------------------------------
def _fresh_out_dir(out_dir: Path) -> None:
    """Remove a previous run's checkpoint and metrics so nothing stale looks complete."""
    for name in ("checkpoints",):
        if (out_dir / name).exists():
            shutil.rmtree(out_dir / name)
    for name in ("checkpoint.json", "metrics.json"):
        (out_dir / name).unlink(missing_ok=True)


def early_stopping(config: RecConfig) -> bool:
    """True when `config` stops on a validation slice (patience > 0) instead of a fixed schedule."""
    return int(config.patience) > 0


def best_of(history: Sequence[Mapping[str, Any]], metric: str) -> Tuple[Optional[int], float]:
    """`(epoch, score)` of the best validation `val_<metric>` in `history` (earliest on ties; None if none)."""
    best_epoch, best = None, -np.inf
    for h in history:
        v = h.get(f"val_{metric}")
        if v is not None and v > best:
            best_epoch, best = int(h["epoch"]), float(v)
    return best_epoch, best


def should_stop(history: Sequence[Mapping[str, Any]], config: RecConfig) -> bool:
    """Early stopping: `patience` epochs have passed since the best validation score."""
    if not early_stopping(config) or not history:
        return False
    best_epoch, _ = best_of(history, config.val_metric)
    return best_epoch is not None and int(history[-1]["epoch"]) - best_epoch >= config.patience


def validation_split(data: Any, config: RecConfig) -> Tuple[Any, Optional[Any]]:
    """`(fit, val)`: the data the model is fitted on and the validation view scored every epoch.

    Fixed schedule: `(data, None)`. Early stopping: `jaxsae.training.validation.carve_validation` with
    the config's slice options and seed (`val`'s hidden positives are the held-out training positives),
    or `(data, None)` when no user has enough positives to hold some out."""
    if not early_stopping(config):
        return data, None
    from jaxsae.training.validation import carve_validation

    fit, val, _ = carve_validation(data, per_user=config.val_per_user, min_train=config.val_min_train,
                                   max_users=config.val_max_users, seed=config.seed)
    if val.test_users.shape[0] == 0:
        return data, None
    return fit, val


def _state(params: Any, opt_state: Any, epoch: int, key: jax.Array, best: Optional[Any]) -> Dict[str, Any]:
    """The checkpointed pytree (with the best epoch's params under early stopping)."""
    state = {"params": params, "opt_state": opt_state, "epoch": np.int64(epoch), "rng": key}
    if best is not None:
        state["best"] = best
    return state


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
    if not (early_stopping(config) and config.refit):
        return train_phase(data, config, out, resume, log)
    if out is not None and not resume:
        _fresh_out_dir(out)
    sel = train_phase(data, config, out / "select" if out is not None else None, resume, log)
    if sel.validation is None:  # no validation user: the selection run is the fixed schedule itself
        return sel
    n = int(sel.best_epoch)
    log(f"[rec] refit on all training positives for the best {n} epochs")
    full = dataclasses.replace(config, patience=0, epochs=n)
    ref = train_phase(data, full, out, resume, lambda m: log(m.replace("[rec]", "[rec] refit", 1)))
    validation = {**sel.validation, "refit": {"epochs": n, "train_s": ref.train_s, "history": ref.history}}
    return dataclasses.replace(ref, config=config, history=sel.history, train_s=sel.train_s + ref.train_s,
                               best_epoch=n, validation=validation)


def train_phase(data: Any, config: RecConfig, out_dir: "str | Path | None" = None, resume: bool = False,
                log: Optional[Callable[[str], None]] = print) -> TrainedRecommender:
    """Train `config.model` on `data` (an `InteractionData`): `config.epochs` epochs, or with early
    stopping (`config.patience > 0`, the default) until the validation score has not improved for
    `patience` epochs, returning the best epoch's params.

    Early stopping fits on `data` minus a seeded validation slice of training positives
    (`validation_split`; never the hidden test split) and scores the slice after every epoch with the
    chunked full-ranking evaluator (`val_<metric>` in the history). With `out_dir`, every epoch is
    checkpointed there (`jaxsae.checkpoint`; with the best params so far under early stopping);
    `resume=True` continues from the newest checkpoint (its config must match except `RESUME_IGNORED`
    keys) and reproduces the uninterrupted run exactly. `log` receives one progress line per epoch.
    Raises `TrainingDivergedError` on a non-finite loss (the last good checkpoint is kept).
    """
    log = log or (lambda s: None)
    devices = local_devices(config.devices)
    n_dev = len(devices)
    fit, val = validation_split(data, config)
    module = build_module(config, data.n_users, data.n_items)
    tx = make_optimizer(config)
    base_key = jax.random.PRNGKey(config.seed)
    params = init_params(module, jax.random.fold_in(base_key, 0))
    opt_state = init_opt_state(config, tx, params)
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
            _fresh_out_dir(out)
    if val is not None and start_epoch == 0:
        log(f"[rec] early stopping on {config.val_metric} of {val.test_users.shape[0]} validation users "
            f"({config.val_per_user} training positives each held out), patience {config.patience}, "
            f"at most {config.epochs} epochs")
    probs = negative_probs(fit, config)
    epoch_fn = make_epoch_fn(module, config, tx, devices)
    r_params, r_opt = replicate(params, devices), replicate(opt_state, devices)
    t_train = 0.0
    t_mark = time.perf_counter()
    next_batches = None
    stopped = should_stop(history, config)
    if start_epoch < config.epochs and not stopped:
        next_batches = epoch_batches(fit, config, epoch_key(base_key, start_epoch + 1), probs)
    for epoch in range(start_epoch + 1, config.epochs + 1):
        if stopped:
            break
        batches, next_batches = next_batches, None
        r_params, r_opt, outs = dispatch_epoch(epoch_fn, r_params, r_opt, batches, n_dev, config.max_scan_steps)
        if epoch < config.epochs:  # host work for the next epoch overlaps this epoch's device work
            next_batches = epoch_batches(fit, config, epoch_key(base_key, epoch + 1), probs)
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
            from jaxsae.metrics.ranking import evaluate_two_tower

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
        stopped = should_stop(history, config)
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
                      **val.info["validation"]}
        log(f"[rec] best epoch {best_epoch} (val {config.val_metric} {score:.4f})"
            + (f"; stopped after {len(history)} epochs" if stopped else ""))
    else:
        params = unreplicate(r_params)
        best_epoch = int(history[-1]["epoch"]) if history else start_epoch
    params = jax.device_get(params)
    return TrainedRecommender(module=module, params=params, config=config, two_tower=to_two_tower(config, params),
                              history=history, train_s=t_train, best_epoch=best_epoch, validation=validation)


def load_recommender_state(rec_dir: "str | Path") -> Tuple[nn.Module, Any, RecConfig, Dict[str, Any]]:
    """`(module, params, config, meta)` of the recommender checkpointed in `rec_dir`."""
    rec_dir = Path(rec_dir)
    meta = checkpoint_meta(rec_dir)
    if meta is None:
        raise CheckpointError(f"{rec_dir}: no recommender checkpoint; run `jaxsae train-rec RUN --model mf` (or `jaxsae import-rec RUN --tables FILE`) first")
    config = RecConfig.from_dict(meta.get("config", {}))
    module = build_module(config, int(meta["n_users"]), int(meta["n_items"]))
    tx = make_optimizer(config)
    params = init_params(module, jax.random.PRNGKey(0))
    best = params if meta.get("early_stopping") else None
    target = _state(params, init_opt_state(config, tx, params), 0, jax.random.PRNGKey(0), best)
    state, _, meta = restore_checkpoint(rec_dir, target, CHECKPOINT_KIND)
    # under early stopping the model is the best epoch's params, not the last epoch's
    return module, state.get("best", state["params"]), config, meta


def load_recommender(rec_dir: "str | Path") -> TwoTower:
    """The frozen `TwoTower` of the recommender checkpointed in `rec_dir` (e.g. `RUN/rec`), or of the outside
    tables `jaxsae import-rec` wrote there."""
    from jaxsae.recommenders.import_run import IMPORTED_KIND, load_imported

    meta = checkpoint_meta(Path(rec_dir))
    if meta is not None and meta.get("kind") == IMPORTED_KIND:
        return load_imported(rec_dir, meta)
    _, params, config, _ = load_recommender_state(rec_dir)
    return to_two_tower(config, params)
