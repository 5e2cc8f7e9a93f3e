"""SAE training through the frozen recommender (SPEC §5): jitted step, scanned epochs, pmap, checkpoints.

The pieces compose so that an ablation can `jax.vmap` whole runs over loss weights and seeds:

    state = init_state(key, config, d)                   # SAEState: step, params, opt_state, weights
    step  = make_train_step(config, d, score_fn, gram)   # (state, SAEBatch) -> (state, metrics)
    epoch = make_epoch_fn(config, d, score_fn, gram)     # (state, two_tower, user_idx[S, B], item_idx[S, B])
                                                         #   -> (state, window metrics), a lax.scan of `step`

The loss weights live in `state.weights` (an array pytree), the frozen recommender enters as an
argument (`two_tower`, its head under `stop_gradient`), so `vmap(epoch, in_axes=(0, None, None, None))`
trains several weight settings or seeds in one compiled program. `train_sae` is the driver: seeded
held-out users, deterministic batch streams (a resumed run sees the same batches), logging
windows, orbax checkpoints, divergence checks and the final fidelity report.
"""
from __future__ import annotations

import functools
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
import flax.linen as nn

from jaxsae.checkpoint import checkpoint_meta, restore_checkpoint, save_checkpoint
from jaxsae.errors import ConfigError, TrainingDivergedError
from jaxsae.io import read_json, save_stage_config, write_json
from jaxsae.losses import (LossWeights, cross_scores, global_mean, global_sum, kl_sparsity, listwise_kl, minmax_columns,
                           mf_pred_loss, mf_pred_loss_stacked, paired_pred_loss, total_loss)
from jaxsae.recommenders.base import ScoreFn, TwoTower, dot_cross, dot_score
from jaxsae.sae import diagnostics
from jaxsae.sae.balance import BALANCE_KEY, sae_input_space, stored_factor
from jaxsae.sae.config import SAETrainConfig
from jaxsae.sae.registry import make_sae
from jaxsae.sae.trained import TrainedSAE, side_module
from jaxsae.training.tied_mf_grad import input_table, supports_hand_gradient, tied_mf_rows_value_and_grad
from jaxsae.training.parallel import AXIS, local_devices, replicate, shard_steps, unreplicate

CHECKPOINT_KIND = "sae"
# Config fields a resumed run may change without invalidating the checkpoint.
# `lr` too (issue 13): after a divergence the advised fix is a lower lr, resumed from the last good checkpoint
# (Adam's state does not depend on lr); the result then differs from an uninterrupted run, as asked.
RESUMABLE_KEYS = ("steps", "epochs", "log_every", "checkpoint_every", "devices", "lr")
TERMS = ("loss", "emb", "pred", "kl", "l1")
# Steps per iteration of the epoch's scan loop: fewer loop trips and cross-step fusion on CPU.
SCAN_UNROLL = 4

__all__ = [
    "SAETrainConfig", "SAEState", "SAEBatch", "build_module", "init_state", "loss_weights", "pred_spec",
    "SAEInputs", "prepare_inputs", "supports_hand_gradient", "sae_objective", "make_train_step",
    "make_hand_row_step", "make_epoch_fn", "METRIC_KEYS", "heldout_split", "batch_indices", "EpochRunner",
    "train_sae", "load_sae", "training_setup", "balanced_training_setup", "batch_setup",
]


# ---------------------------------------------------------------------------- state and batch
@struct.dataclass
class SAEState:
    """Everything that changes during SAE training (a pytree; stack it to vmap runs)."""

    step: jax.Array  # int32 [], optimizer steps taken
    params: Any  # {"shared": p} or {"user": p, "item": p}
    opt_state: Any  # Adam moments
    weights: LossWeights  # loss weights and rho (arrays, so they are arguments of the compiled step)


@struct.dataclass
class SAEBatch:
    """One step's input: paired user and item rows of the SAE input space, and the frozen scorer head."""

    user_x: jax.Array  # [B, d]
    item_x: jax.Array  # [B, d]
    head: Any  # recommender head params (under stop_gradient in the loss)
    all_items: Optional[jax.Array] = None  # [N, d] every item's input row ("listwise" loss), else None


@struct.dataclass
class SAEInputs:
    """The frozen recommender as an epoch reads it: the two-tower, plus the `input_table` rows
    `[x | x_norm | mean | scale]` of its users then items when the hand-gradient path applies (else None).
    The table depends on the recommender alone, so `prepare_inputs` builds it once per run."""

    two_tower: TwoTower
    rows: Optional[jax.Array] = None


def build_module(config: SAETrainConfig, d: int) -> nn.Module:
    """The SAE flax module of `config` for inputs of dimension d."""
    reference = {}  # issue-11 options, passed only when not the default (modules stay equal otherwise)
    if config.std_ddof:
        reference["ddof"] = config.std_ddof
    if not config.pre_bias:
        reference["pre_bias"] = False
    if config.latent_bias_init != "zeros":
        reference["latent_bias_init"] = config.latent_bias_init
    return make_sae(config.sae, d, config.latents, k=config.k, prefixes=config.prefixes,
                    normalize=config.normalize, tied=config.tied, **reference)


def loss_weights(config: SAETrainConfig) -> LossWeights:
    """`LossWeights` arrays from the config's w_emb, w_pred, w_kl, w_l1 and rho."""
    return LossWeights.create(emb=config.w_emb, pred=config.w_pred, kl=config.w_kl, l1=config.w_l1, rho=config.rho)


def _optimizer(config: SAETrainConfig) -> optax.GradientTransformation:
    return optax.flatten(optax.adam(config.lr))


def init_state(key: jax.Array, config: SAETrainConfig, d: int) -> SAEState:
    """Fresh parameters (one SAE, or one per side when `config.shared` is False), Adam state, weights."""
    module = build_module(config, d)
    dummy = jnp.zeros((1, d), jnp.float32)
    if config.shared:
        params = {"shared": module.init(key, dummy)["params"]}
    else:
        ku, ki = jax.random.split(key)
        params = {"user": module.init(ku, dummy)["params"], "item": module.init(ki, dummy)["params"]}
    return SAEState(step=jnp.zeros((), jnp.int32), params=params, opt_state=_optimizer(config).init(params),
                    weights=loss_weights(config))


def side_params(params: Any, side: str) -> Any:
    """The parameters that encode `side` ("user" or "item"): the shared SAE's or that side's own."""
    return params["shared"] if "shared" in params else params[side]


def pred_spec(two_tower: TwoTower, config: SAETrainConfig) -> Tuple[ScoreFn, bool]:
    """`(score_fn, gram)`: MF scorers with the MSE loss use the Gram form over the cross product."""
    gram = two_tower.cross_fn is dot_cross and config.pred_loss == "mse"
    return two_tower.score_fn, gram


def prepare_inputs(config: SAETrainConfig, two_tower: TwoTower, gram: bool) -> SAEInputs:
    """`SAEInputs` for `make_epoch_fn` on one device: the row table is computed here, once."""
    if not supports_hand_gradient(config, gram):
        return SAEInputs(two_tower=two_tower)
    module = build_module(config, two_tower.dim)
    # Compiled, so the table is bit-identical to the one an epoch builds inside its own program.
    table = jax.jit(input_table, static_argnums=(1, 2, 3))(
        jnp.concatenate([two_tower.user_emb, two_tower.item_emb]), module.normalize, module.eps, module.ddof)
    return SAEInputs(two_tower=two_tower, rows=table)


# ---------------------------------------------------------------------------- objective and step
def sae_objective(module: nn.Module, params: Any, batch: SAEBatch, weights: LossWeights, score_fn: ScoreFn,
                  gram: bool, pred_kind: str = "mse", axis_name: Optional[str] = None,
                  pred_all_levels: bool = False, temperature: float = 1.0,
                  user_module: Optional[nn.Module] = None, kl_log_eps: float = 0.0
                  ) -> Tuple[jax.Array, Dict[str, jax.Array]]:
    """Total loss and its terms plus diagnostics for one batch (see `jaxsae.losses` for the formulas).

    The embedding loss is summed over a Matryoshka SAE's levels; the prediction loss uses the full
    reconstruction (the paper's reference) unless `pred_all_levels`, which sums it over the levels too.
    `pred_kind="listwise"` scores the batch users against every item (`batch.all_items`, reconstructed
    by the item-side SAE in the same pass) and uses `listwise_kl` at `temperature`. `user_module`
    (same parameters, another k) encodes the users when it differs from `module` (`k_user`).
    """
    u, i = batch.user_x, batch.item_x
    x = jnp.concatenate([u, i])
    n_u = u.shape[0]
    if "shared" in params and user_module is None:  # one pass over users and items stacked (rows are independent)
        out = module.apply({"params": params["shared"]}, x)
        z, levels = out.z, out.x_hat_levels
    else:
        out_u = (user_module or module).apply({"params": side_params(params, "user")}, u)
        out_i = module.apply({"params": side_params(params, "item")}, i)
        z = jnp.concatenate([out_u.z, out_i.z])
        levels = jnp.concatenate([out_u.x_hat_levels, out_i.x_hat_levels], axis=1)
    n_i = i.shape[0]
    z_u, z_i = z[:n_u], z[n_u:]
    lev_u, lev_i = levels[:, :n_u], levels[:, n_u:]
    # Per-side means as one weighted sum over the stacked rows (fewer, fused kernels).
    row_w = jnp.concatenate([jnp.full((n_u, 1), 1.0 / n_u, jnp.float32), jnp.full((n_i, 1), 1.0 / n_i, jnp.float32)])
    d, h = x.shape[-1], z.shape[-1]
    emb = global_mean(jnp.sum((levels - x[None]) ** 2 * row_w) / d, axis_name)
    pred_lev = levels if pred_all_levels else levels[-1:]
    lev_u, lev_i = pred_lev[:, :n_u], pred_lev[:, n_u:]
    if pred_kind == "listwise":
        pred = _listwise_pred(module, params, batch, score_fn, pred_lev[:, :n_u], temperature, axis_name)
    elif gram and n_u == n_i:  # every level and side's Grams in one batched product
        pred = mf_pred_loss_stacked(pred_lev, x, axis_name)
    else:
        if gram:
            def level_pred(u_hat: jax.Array, i_hat: jax.Array) -> jax.Array:
                return mf_pred_loss(u_hat, i_hat, u, i, axis_name)
        else:
            def level_pred(u_hat: jax.Array, i_hat: jax.Array) -> jax.Array:
                return paired_pred_loss(score_fn, batch.head, u_hat, i_hat, u, i, pred_kind, axis_name)
        if pred_lev.shape[0] == 1:
            pred = level_pred(lev_u[0], lev_i[0])
        else:  # Matryoshka: summed over levels, batched into one program per term
            pred = jnp.sum(jax.vmap(level_pred)(lev_u, lev_i))
    if n_u == n_i:  # both sides' KL terms at once
        kl = kl_sparsity(z.reshape(2, n_u, h).transpose(1, 0, 2), weights.rho, axis_name, kl_log_eps)
    else:
        kl = (kl_sparsity(z_u, weights.rho, axis_name, kl_log_eps)
              + kl_sparsity(z_i, weights.rho, axis_name, kl_log_eps))
    l1 = global_mean(jnp.sum(jnp.abs(z) * row_w) / h, axis_name)
    loss = total_loss(emb, pred, kl, l1, weights)

    z = jax.lax.stop_gradient(z)
    x_hat = jax.lax.stop_gradient(levels[-1])
    x_mean = global_mean(jnp.mean(x, axis=0, keepdims=True), axis_name)
    sse, sst = diagnostics.fvu_sums(x, x_hat, x_mean)
    if "shared" in params:
        fired = diagnostics.fired(z)[None]  # [1, h]
    else:
        fired = jnp.stack([diagnostics.fired(z[:n_u]), diagnostics.fired(z[n_u:])])  # [2, h]
    if axis_name is not None:
        fired = jax.lax.psum(fired.astype(jnp.int32), axis_name) > 0
    aux = {
        "loss": loss, "emb": emb, "pred": pred, "kl": kl, "l1": l1,
        "l0": global_mean(diagnostics.l0(z), axis_name),
        "sse": global_sum(sse, axis_name), "sst": global_sum(sst, axis_name),
        "fired": fired,
    }
    return loss, aux


def _listwise_pred(module: nn.Module, params: Any, batch: SAEBatch, score_fn: ScoreFn, u_hat_levels: jax.Array,
                   temperature: float, axis_name: Optional[str]) -> jax.Array:
    """`sum_l listwise_kl(U I^T, U_hat_l I_hat_l^T)` over every item (Matryoshka: the levels asked for)."""
    if batch.all_items is None:
        raise ConfigError("the listwise prediction loss needs every item's embedding (SAEBatch.all_items)")
    items = batch.all_items
    out = module.apply({"params": side_params(params, "item")}, items)
    i_hat_levels = out.x_hat_levels[-u_hat_levels.shape[0]:]
    head = jax.lax.stop_gradient(batch.head)
    target = cross_scores(score_fn, head, batch.user_x, items)
    per_level = [listwise_kl(target, cross_scores(score_fn, head, u_hat, i_hat), temperature, axis_name)
                 for u_hat, i_hat in zip(u_hat_levels, i_hat_levels)]
    return sum(per_level[1:], per_level[0])


def _apply_gradients(tx: optax.GradientTransformation, state: SAEState, grads: Any) -> SAEState:
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    return state.replace(step=state.step + 1, params=optax.apply_updates(state.params, updates), opt_state=opt_state)


def make_hand_row_step(config: SAETrainConfig, d: int, axis_name: Optional[str] = None
                       ) -> Callable[[SAEState, jax.Array], Tuple[SAEState, Dict[str, jax.Array]]]:
    """`(state, rows) -> (state, metrics)`: one Adam step with the hand-derived gradient of
    `jaxsae.training.tied_mf_grad` on `input_table` rows (B users then B items; under `pmap` with
    `axis_name`, one device's share, with global-batch values and gradients); the fast path of
    `make_epoch_fn` for one shared tied SAE under the MF Gram loss."""
    module = build_module(config, d)
    tx = _optimizer(config)

    def step(state: SAEState, rows: jax.Array) -> Tuple[SAEState, Dict[str, jax.Array]]:
        (_, metrics), grads = tied_mf_rows_value_and_grad(state.params, rows, state.weights,
                                                          activation=module.activation, k=module.k,
                                                          axis_name=axis_name, kl_log_eps=config.kl_log_eps)
        return _apply_gradients(tx, state, grads), metrics

    return step


def make_train_step(config: SAETrainConfig, d: int, score_fn: ScoreFn = dot_score, gram: bool = True,
                    axis_name: Optional[str] = None) -> Callable[[SAEState, SAEBatch], Tuple[SAEState, Dict[str, jax.Array]]]:
    """One Adam step `(state, batch) -> (state, metrics)` (pure; jit, vmap or pmap it).

    With `axis_name`, run it under `pmap(axis_name=...)` on per-device shards: every loss term is the
    global-batch value and the gradients are `lax.pmean`-ed, so the update equals the one-device
    update for the same global batch.
    """
    module = build_module(config, d)
    user_module = side_module(module, config, "user")
    user_module = None if user_module is module else user_module
    tx = _optimizer(config)
    pred_kind = config.pred_loss
    minmax = config.input_scaling == "batch_minmax"

    def step(state: SAEState, batch: SAEBatch) -> Tuple[SAEState, Dict[str, jax.Array]]:
        if batch.all_items is not None and batch.all_items.shape[0] > config.listwise_items:
            # a large catalogue: this step's listwise loss scores a random subset (same on every device)
            key = jax.random.fold_in(jax.random.PRNGKey(0x7157), state.step)
            pick = jax.random.choice(key, batch.all_items.shape[0], (config.listwise_items,), replace=False)
            batch = batch.replace(all_items=batch.all_items[pick])
        if minmax:  # the reference MF SAE: each side's batch scaled per column to [0, 1] (training only)
            batch = batch.replace(user_x=minmax_columns(batch.user_x, axis_name),
                                  item_x=minmax_columns(batch.item_x, axis_name))

        def objective(params: Any) -> Tuple[jax.Array, Dict[str, jax.Array]]:
            return sae_objective(module, params, batch, state.weights, score_fn, gram, pred_kind, axis_name,
                                 pred_all_levels=config.pred_levels == "all",
                                 temperature=config.listwise_temperature, user_module=user_module,
                                 kl_log_eps=config.kl_log_eps)

        (_, metrics), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
        if axis_name is not None:
            grads = jax.lax.pmean(grads, axis_name)
        return _apply_gradients(tx, state, grads), metrics

    return step


def make_epoch_fn(config: SAETrainConfig, d: int, score_fn: ScoreFn = dot_score, gram: bool = True,
                  axis_name: Optional[str] = None) -> Callable[..., Tuple[SAEState, Dict[str, jax.Array]]]:
    """`epoch(state, inputs, user_idx [S, B], item_idx [S, B]) -> (state, window metrics)`.

    A `lax.scan` of the train step over pre-shuffled index batches (rows are gathered from the
    recommender's tables inside the scan). `inputs` is the frozen `TwoTower` or its `prepare_inputs`
    (which saves recomputing the row table of the hand-gradient path on every call). When
    `supports_hand_gradient` holds, a step is `make_hand_row_step`, else autodiff of `sae_objective`. Window metrics: the mean of each loss term and of L0 over
    the S steps, `fvu` = summed squared errors / summed variances, `dead_fraction` = share of latents
    that never fired in the window, and `finite` / `first_bad` (first step with a non-finite loss, or S).
    """
    hand = supports_hand_gradient(config, gram)
    step = make_train_step(config, d, score_fn, gram, axis_name)
    row_step = make_hand_row_step(config, d, axis_name) if hand else None
    module = build_module(config, d)

    summed = (*TERMS, "l0", "sse", "sst")  # per-step scalars accumulated in the carry

    def epoch(state: SAEState, inputs: "TwoTower | SAEInputs", user_idx: jax.Array,
              item_idx: jax.Array) -> Tuple[SAEState, Dict[str, jax.Array]]:
        n = user_idx.shape[0]
        inputs = inputs if isinstance(inputs, SAEInputs) else SAEInputs(two_tower=inputs)
        two_tower = inputs.two_tower
        if row_step is not None and user_idx.shape == item_idx.shape:
            # One gather of [x | x_norm | mean | scale] rows per step (row statistics once per table).
            table = inputs.rows
            if table is None:
                table = input_table(jnp.concatenate([two_tower.user_emb, two_tower.item_emb]), module.normalize,
                                    module.eps, module.ddof)
            xs = jnp.concatenate([user_idx, item_idx + two_tower.user_emb.shape[0]], axis=1)

            def step_on(st: SAEState, idx: jax.Array) -> Tuple[SAEState, Dict[str, jax.Array]]:
                return row_step(st, table[idx])
        else:
            xs = (user_idx, item_idx)
            all_items = two_tower.item_emb if config.pred_loss == "listwise" else None

            def step_on(st: SAEState, idx: Tuple[jax.Array, jax.Array]) -> Tuple[SAEState, Dict[str, jax.Array]]:
                return step(st, SAEBatch(user_x=two_tower.user_emb[idx[0]], item_x=two_tower.item_emb[idx[1]],
                                         head=two_tower.head, all_items=all_items))

        def body(carry: Tuple[Any, ...], idx: Any) -> Tuple[Any, None]:
            st, fired, acc, first_bad, t = carry
            st, m = step_on(st, idx)
            fired = fired | m["fired"]
            acc = acc + jnp.stack([m[k] for k in summed])  # one fused add, no per-step output buffers
            first_bad = jnp.where((first_bad == n) & ~jnp.isfinite(m["loss"]), t, first_bad)
            return (st, fired, acc, first_bad, t + 1), None

        n_sae = 1 if "shared" in state.params else 2
        carry0 = (state, jnp.zeros((n_sae, config.latents), bool), jnp.zeros(len(summed), jnp.float32),
                  jnp.asarray(n, jnp.int32), jnp.zeros((), jnp.int32))
        (state, fired, acc, first_bad, _), _ = jax.lax.scan(body, carry0, xs, unroll=SCAN_UNROLL)
        sums = dict(zip(summed, acc))
        out = {k: sums[k] / n for k in (*TERMS, "l0")}
        out["fvu"] = sums["sse"] / sums["sst"]
        out["dead_fraction"] = diagnostics.dead_fraction(fired)
        out["finite"] = first_bad == n
        out["first_bad"] = first_bad
        return state, out

    return epoch


# ---------------------------------------------------------------------------- data streams
def heldout_split(n_users: int, fraction: float, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """`(train_users, heldout_users)`, sorted int32: a seeded `round(fraction * n_users)` users held out."""
    perm = np.random.default_rng([seed, 0x5AE, 1]).permutation(n_users)
    n_held = int(round(fraction * n_users))
    return np.sort(perm[n_held:]).astype(np.int32), np.sort(perm[:n_held]).astype(np.int32)


def _stream(pool: np.ndarray, seed: int, tag: int, start: int, stop: int) -> np.ndarray:
    """Elements `[start, stop)` of the endless sequence `perm_0(pool) ++ perm_1(pool) ++ ...`."""
    n = len(pool)
    chunks = [np.random.default_rng([seed, 0x5AE, tag, e]).permutation(pool)
              for e in range(start // n, (stop - 1) // n + 1)]
    flat = np.concatenate(chunks)
    offset = (start // n) * n
    return flat[start - offset: stop - offset]


def batch_indices(train_users: np.ndarray, n_items: int, seed: int, first_step: int, n_steps: int,
                  batch_size: int) -> Tuple[np.ndarray, np.ndarray]:
    """User and item index batches `[n_steps, B]` for steps `[first_step, first_step + n_steps)`.

    Users come from successive seeded permutations of the training users (an epoch = one pass),
    items from successive permutations of all items; row b pairs user b with item b. Step s always
    gets the same batch for a given seed, whatever the chunking, so a resumed run repeats nothing.
    """
    a, b = first_step * batch_size, (first_step + n_steps) * batch_size
    users = _stream(np.asarray(train_users, np.int32), seed, 2, a, b).reshape(n_steps, batch_size)
    items = _stream(np.arange(n_items, dtype=np.int32), seed, 3, a, b).reshape(n_steps, batch_size)
    return users, items


def _chunks(start: int, total: int, log_every: int, checkpoint_every: int) -> List[Tuple[int, int]]:
    """Scan windows `(s0, s1)` ending at every multiple of log_every or checkpoint_every, and at total."""
    ends = {total}
    ends.update(range(log_every, total, log_every))
    ends.update(range(checkpoint_every, total, checkpoint_every))
    out, s0 = [], start
    for e in sorted(x for x in ends if x > start):
        out.append((s0, e))
        s0 = e
    return out


# ---------------------------------------------------------------------------- driver
def _program_config(config: SAETrainConfig) -> SAETrainConfig:
    """The config with every field that does not change the compiled epoch set to a fixed value
    (weights live in the state; schedule, seed and inputs are data), so runs share one program."""
    return config.replace(w_emb=1.0, w_pred=1.0, w_kl=0.0, w_l1=0.0, rho=0.5, steps=1, epochs=None, seed=0,
                          batch_size=1, devices=1, fold_biases=False, balance_sides=False, heldout_fraction=0.0,
                          log_every=1, checkpoint_every=1, schedule="stream", pairs="random")


METRIC_KEYS = (*TERMS, "l0", "fvu", "dead_fraction", "finite", "first_bad")


def _packed(epoch: Callable[..., Tuple[SAEState, Dict[str, jax.Array]]]) -> Callable[..., Tuple[SAEState, jax.Array]]:
    """`epoch` returning its metrics as one float32 vector in `METRIC_KEYS` order (one host transfer)."""
    def run(state: SAEState, inputs: Any, users: jax.Array, items: jax.Array) -> Tuple[SAEState, jax.Array]:
        state, m = epoch(state, inputs, users, items)
        return state, jnp.stack([jnp.asarray(m[k], jnp.float32) for k in METRIC_KEYS])

    return run


def _unpacked(vector: np.ndarray) -> Dict[str, Any]:
    out: Dict[str, Any] = {k: float(v) for k, v in zip(METRIC_KEYS, vector.tolist())}
    out["finite"] = bool(out["finite"])
    out["first_bad"] = int(out["first_bad"])
    return out


@functools.lru_cache(maxsize=32)
def _compiled_epoch(config: SAETrainConfig, d: int, score_fn: ScoreFn, gram: bool,
                    devices: Tuple[jax.Device, ...]) -> Callable[..., Any]:
    if len(devices) > 1:
        fn = make_epoch_fn(config, d, score_fn, gram, axis_name=AXIS)
        return jax.pmap(_packed(fn), axis_name=AXIS, in_axes=(0, None, 0, 0), devices=list(devices))
    return jax.jit(_packed(make_epoch_fn(config, d, score_fn, gram)))


class EpochRunner:
    """Compiled epoch on one device (jit) or several (pmap with the global batch split by rows).

    Programs are cached by what they compute, so runs differing only in loss weights, seed or
    schedule (ablations, resumed runs) reuse one compilation. The recommender's `SAEInputs` are
    prepared once per runner, and a call returns its metrics in one host transfer.
    """

    def __init__(self, config: SAETrainConfig, two_tower: TwoTower, d: int) -> None:
        score_fn, gram = pred_spec(two_tower, config)
        n_dev = len(local_devices(None if config.devices == 0 else config.devices))
        self.devices = local_devices(n_dev)
        self.n = n_dev
        if n_dev > 1 and config.batch_size % n_dev:
            raise ConfigError(f"batch_size {config.batch_size} is not divisible by {n_dev} devices")
        program = _program_config(config)
        self._fn = _compiled_epoch(program, d, score_fn, gram, tuple(self.devices))
        self._prepare = lambda tt: prepare_inputs(program, tt, gram) if n_dev == 1 else SAEInputs(two_tower=tt)
        self._tt, self._inputs = two_tower, self._prepare(two_tower)

    def put(self, state: SAEState) -> SAEState:
        return replicate(state, self.devices) if self.n > 1 else state

    def get(self, state: SAEState) -> SAEState:
        return unreplicate(state) if self.n > 1 else state

    def inputs(self, two_tower: TwoTower) -> SAEInputs:
        """The prepared inputs of `two_tower` (cached for the runner's own recommender)."""
        if two_tower is not self._tt:
            self._tt, self._inputs = two_tower, self._prepare(two_tower)
        return self._inputs

    def __call__(self, state: SAEState, two_tower: TwoTower, users: np.ndarray,
                 items: np.ndarray) -> Tuple[SAEState, Dict[str, Any]]:
        inputs = self.inputs(two_tower)
        if self.n > 1:
            state, m = self._fn(state, inputs, shard_steps(users, self.n), shard_steps(items, self.n))
            m = m[0]
        else:
            state, m = self._fn(state, inputs, users, items)
        return state, _unpacked(np.asarray(m))


def _clear_outputs(out_dir: Path) -> None:
    """Remove a previous run's checkpoints and results so a fresh run cannot be mixed with them."""
    shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
    for name in ("checkpoint.json", "metrics.json", "history.json"):
        (out_dir / name).unlink(missing_ok=True)


def training_setup(two_tower: TwoTower, config: SAETrainConfig, data: Any = None
                   ) -> Tuple[TwoTower, int, np.ndarray, np.ndarray, int]:
    """`(input_two_tower, d, train_users, heldout_users, total_steps)`: the SAE's input space (side-balanced
    when `config.balance_sides`, bias-folded when `config.fold_biases`), the seeded held-out split and the
    step budget, shared by every trainer (`data` is needed for `pairs="positives"`)."""
    input_tt, d, train_users, heldout, plan, _ = _setup(two_tower, config, data)
    return input_tt, d, train_users, heldout, plan.total


def balanced_training_setup(two_tower: TwoTower, config: SAETrainConfig, data: Any = None
                            ) -> Tuple[TwoTower, int, np.ndarray, np.ndarray, int, float]:
    """`training_setup` plus the side-balancing factor c it chose (`jaxsae.sae.balance`, from the
    training users' and all items' row norms; 1.0 when off or for non-MF scorers)."""
    input_tt, d, train_users, heldout, plan, c = _setup(two_tower, config, data)
    return input_tt, d, train_users, heldout, plan.total, c


def batch_setup(two_tower: TwoTower, config: SAETrainConfig, data: Any = None) -> Tuple[TwoTower, int, np.ndarray, np.ndarray, Any]:
    """`training_setup` with the run's `jaxsae.training.schedules.BatchPlan` in place of the step count."""
    return _setup(two_tower, config, data)[:5]


def _setup(two_tower: TwoTower, config: SAETrainConfig, data: Any = None
           ) -> Tuple[TwoTower, int, np.ndarray, np.ndarray, Any, float]:
    from jaxsae.training.schedules import batch_plan

    train_users, heldout = heldout_split(two_tower.n_users, config.heldout_fraction, config.seed)
    if len(train_users) == 0:
        raise ConfigError(f"no training users: {two_tower.n_users} users with heldout_fraction {config.heldout_fraction}")
    input_tt, c = sae_input_space(two_tower, config.balance_sides, config.fold_biases, train_users)
    plan = batch_plan(config, train_users, input_tt.n_items, data)
    return input_tt, input_tt.dim, train_users, heldout, plan, c


def train_sae(two_tower: TwoTower, data: Any, config: SAETrainConfig, out_dir: "str | Path | None" = None,
              resume: bool = False, log: Callable[[str], None] = print) -> Tuple[TrainedSAE, Dict[str, Any]]:
    """Train an SAE on the embeddings of a frozen recommender; return it with its metrics (SPEC §5, §8).

    `data` (an `InteractionData` of the same users and items, or None) provides the training
    positives excluded from the fidelity top-K lists and the held-out positives of the ranking
    metrics. With `out_dir`: checkpoints every `checkpoint_every` steps, `history.json`,
    `config.json` and, last, `metrics.json`; `resume=True` continues from the newest checkpoint
    (same result as an uninterrupted run). A non-finite loss raises `TrainingDivergedError` and
    keeps the last good checkpoint. The recommender's arrays are never modified.
    """
    if data is not None and (data.n_users != two_tower.n_users or data.n_items != two_tower.n_items):
        raise ConfigError(f"recommender has {two_tower.n_users} users x {two_tower.n_items} items but the data "
                          f"has {data.n_users} x {data.n_items}")
    input_tt, d, train_users, heldout, plan, balance = _setup(two_tower, config, data)
    total = plan.total
    from jaxsae.sae.memory import check_fits

    check_fits(d, config.latents, config.batch_size, config.tied, config.shared,
               n_eval_rows=len(heldout) + input_tt.n_items)  # refuse before allocating (issue 13)
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
            _clear_outputs(out)
        save_stage_config(out, config.to_dict(), seed=config.seed, extra={"input_dim": d, BALANCE_KEY: balance})

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
    trained = TrainedSAE(module=build_module(config, d), params=jax.device_get(state.params), config=config,
                         input_two_tower=input_tt, heldout_users=heldout, balance_factor=balance,
                         factor_dim=two_tower.dim)
    metrics = _final_metrics(trained, data, config, total, start, train_s, last)
    if out is not None:
        write_json(out / "metrics.json", metrics)
    return trained, metrics


def _final_metrics(trained: TrainedSAE, data: Any, config: SAETrainConfig, total: int, start: int,
                   train_s: float, last: Dict[str, Any]) -> Dict[str, Any]:
    """metrics.json: last window's loss terms; L0, dead fraction and FVU over held-out users and all
    items; fidelity (SPEC §6.2) of the reconstructed recommender on the held-out users."""
    from jaxsae.metrics.fidelity import fidelity_report

    tt = trained.input_two_tower
    rows_u = tt.user_emb[jnp.asarray(trained.heldout_users)] if len(trained.heldout_users) else tt.user_emb[:0]
    zu, su = trained.encode(rows_u, side="user")
    zi, si = trained.encode(tt.item_emb, side="item")
    x = jnp.concatenate([rows_u, tt.item_emb])
    z = jnp.concatenate([zu, zi])
    x_hat = jnp.concatenate([trained.decode(zu, su, side="user"), trained.decode(zi, si, side="item")])
    metrics: Dict[str, Any] = {
        "sae": config.sae, "latents": config.latents, "k": config.k if config.sae == "topk" else None,
        "fold_biases": config.fold_biases, "balance_sides": config.balance_sides,
        BALANCE_KEY: trained.balance_factor, "steps": total,
        **{k: last.get(k) for k in TERMS},
        "l0": float(diagnostics.l0(z)),
        "dead_fraction": float(diagnostics.dead_fraction(diagnostics.fired(z))),
        "fvu": float(diagnostics.fvu(x, x_hat)),
        "train_fvu": last.get("fvu"),
        "n_heldout_users": int(len(trained.heldout_users)),
    }
    from jaxsae.metrics.sides import side_fidelity, side_fvu

    n_u = rows_u.shape[0]
    metrics.update(side_fvu(rows_u, x_hat[:n_u], tt.item_emb, x_hat[n_u:]))
    if data is not None and len(trained.heldout_users):
        recon = trained.reconstructed_two_tower()
        metrics.update(fidelity_report(tt, recon, data, trained.heldout_users, k=30))
        metrics.update(side_fidelity(tt, recon, data, trained.heldout_users, k=30))
    metrics["train_s"] = train_s
    metrics["steps_per_s"] = (total - start) / train_s if train_s > 0 else None
    return metrics


def load_sae(sae_dir: "str | Path", two_tower: Optional[TwoTower] = None) -> TrainedSAE:
    """The SAE saved in `sae_dir` (RUN/sae) with its input space.

    The recommender is `two_tower` when given (needed for custom scorers), else
    `jaxsae.training.recommender.load_recommender(RUN/rec)`; it is bias-folded again when the SAE
    was trained with `fold_biases`. Row normalization needs no stored constants (it is per row).
    """
    from jaxsae.errors import CheckpointError

    sae_dir = Path(sae_dir)
    meta = checkpoint_meta(sae_dir)
    if meta is None:
        raise CheckpointError(f"{sae_dir}: no SAE checkpoint (run `jaxsae train-sae` first)")
    config = SAETrainConfig.from_dict(meta["config"])
    if two_tower is None:
        from jaxsae.training.recommender import load_recommender

        two_tower = load_recommender(sae_dir.parent / "rec")
    balance = stored_factor(meta)  # SAEs saved before side balancing: c = 1
    input_tt, _ = sae_input_space(two_tower, config.balance_sides, config.fold_biases, factor=balance)
    d = input_tt.dim
    if meta.get("d") not in (None, d) or meta.get("n_items") not in (None, input_tt.n_items):
        raise CheckpointError(f"{sae_dir}: SAE was trained on inputs of dimension {meta.get('d')} for "
                              f"{meta.get('n_items')} items, the recommender gives {d} for {input_tt.n_items}")
    target = init_state(jax.random.PRNGKey(config.seed), config, d)
    try:
        state, _, _ = restore_checkpoint(sae_dir, target, CHECKPOINT_KIND)
    except CheckpointError:
        # Checkpoints written before Adam ran on the flattened parameters (optax.flatten) keep per-leaf
        # moments; the parameters are the same, so read them with that layout.
        legacy = target.replace(opt_state=optax.adam(config.lr).init(target.params))
        try:
            state, _, _ = restore_checkpoint(sae_dir, legacy, CHECKPOINT_KIND)
        except CheckpointError:
            restore_checkpoint(sae_dir, target, CHECKPOINT_KIND)  # raise the error about the current layout
            raise
    _, heldout = heldout_split(input_tt.n_users, config.heldout_fraction, config.seed)
    return TrainedSAE(module=build_module(config, d), params=jax.tree_util.tree_map(jnp.asarray, state.params),
                      config=config, input_two_tower=input_tt, heldout_users=heldout, balance_factor=balance,
                         factor_dim=two_tower.dim)
