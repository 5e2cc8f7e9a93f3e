"""The SAE's pure training core: state and batch pytrees, the prediction-aware objective, the Adam step.

    state = init_state(key, config, d)                          # SAEState: step, params, opt_state, weights, key
    loss, aux = sae_loss(params, batch, recommender, config)    # the objective and its terms
    state, metrics = train_step(state, batch, recommender, config)   # one Adam step; jit / vmap / pmap it

`config` is static (an `SAETrainConfig`, hashable: `jax.jit(train_step, static_argnames="config")`); the frozen
recommender is an argument (a `TwoTower` pytree, under `stop_gradient` in the loss); the loss weights live in
`state.weights` (arrays), so a step can be vmapped over weight settings or seeds; randomness (the listwise loss's
item subset on a large catalogue) comes from `state.key`, folded with the step. `make_hand_row_step` is the
hand-derived-gradient fast path (`_tied_mf_grad`). The scan over steps is `_epoch`, the driver `_driver.train_sae`.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

import chex
import jax
import jax.numpy as jnp
import optax
from flax import struct
import flax.linen as nn

from jaxsae.errors import ConfigError
from jaxsae.losses import (LossWeights, cross_scores, embedding_loss, global_mean, global_sum, kl_sparsity,
                           l1_sparsity, listwise_kl, mf_pred_loss, mf_pred_loss_stacked, minmax_columns,
                           paired_pred_loss, total_loss)
from jaxsae.recommenders import ScoreFn, TwoTower, dot_cross
from jaxsae.sae import diagnostics
from jaxsae.sae import batch_cutoff, firing_rates, updated_thresholds
from jaxsae.sae import SAETrainConfig
from jaxsae.sae import init_sae_params, is_shared, side_params
from jaxsae.sae import BATCH_SAES, make_sae
from jaxsae.sae import side_module
from jaxsae.training.sae._tied_mf_grad import input_table, supports_hand_gradient, tied_mf_rows_value_and_grad

TERMS = ("loss", "emb", "pred", "kl", "l1")
_STREAM = 0x7157  # folded into the init key: the state's random stream is apart from the parameters' init


# ---------------------------------------------------------------------------- state and batch
@struct.dataclass
class SAEState:
    """Everything that changes during SAE training (a pytree; stack it to vmap runs)."""

    step: jax.Array  # int32 [], optimizer steps taken
    params: Any  # the layout of jaxsae.sae._params: {"shared": p} or {"user": p, "item": p}
    opt_state: Any  # Adam moments
    weights: LossWeights  # loss weights and rho (arrays, so they are arguments of the compiled step)
    key: jax.Array  # the run's random stream; step s uses fold_in(key, s)


@struct.dataclass
class SAEBatch:
    """One step's input: paired user and item rows of the SAE input space."""

    user_x: jax.Array  # [B, d]
    item_x: jax.Array  # [B, d]
    all_items: Optional[jax.Array] = None  # [N, d] every item's input row ("listwise" loss), else None

    @classmethod
    def of(cls, recommender: TwoTower, users: jax.Array, items: jax.Array, config: Optional[SAETrainConfig] = None
           ) -> "SAEBatch":
        """The rows of user ids `users [B]` and item ids `items [B]` of `recommender`'s tables (with every item's
        row when `config` asks for the listwise loss)."""
        listwise = config is not None and config.pred_loss == "listwise"
        return cls(user_x=recommender.user_emb[users], item_x=recommender.item_emb[items],
                   all_items=recommender.item_emb if listwise else None)


@struct.dataclass
class SAEInputs:
    """The frozen recommender as an epoch reads it: the two-tower, plus the `input_table` rows
    `[x | x_norm | mean | scale]` of its users then items when the hand-gradient path applies (else None).
    The table depends on the recommender alone, so `prepare_inputs` builds it once per run."""

    two_tower: TwoTower
    rows: Optional[jax.Array] = None


def build_sae(config: SAETrainConfig, d: int) -> nn.Module:
    """The SAE flax module of `config` for inputs of dimension d."""
    reference = {}  # the reference switches, passed only when not the default (modules stay equal otherwise)
    if config.std_ddof:
        reference["ddof"] = config.std_ddof
    if not config.pre_bias:
        reference["pre_bias"] = False
    if config.latent_bias_init != "zeros":
        reference["latent_bias_init"] = config.latent_bias_init
    if getattr(config, "dense_latents", 0):
        reference["dense"] = int(config.dense_latents)
    return make_sae(config.sae, d, config.latents, k=config.k, prefixes=config.prefixes,
                    normalize=config.normalize, tied=config.tied, **reference)


def training_module(config: SAETrainConfig, d: int) -> nn.Module:
    """The module as training applies it: a BatchTopK kind selects over the batch (`batch_training`);
    every other kind is `build_sae` itself (encoding is the same in training and at inference)."""
    module = build_sae(config, d)
    return module.clone(batch_training=True) if config.sae in BATCH_SAES else module


def loss_weights(config: SAETrainConfig) -> LossWeights:
    """`LossWeights` arrays from the config's w_emb, w_pred, w_kl, w_l1 and rho."""
    return LossWeights.create(emb=config.w_emb, pred=config.w_pred, kl=config.w_kl, l1=config.w_l1, rho=config.rho)


def _optimizer(config: SAETrainConfig) -> optax.GradientTransformation:
    return optax.flatten(optax.adam(config.lr))


def init_state(key: jax.Array, config: SAETrainConfig, d: int) -> SAEState:
    """Fresh parameters from `key` (one SAE, or one per side when `config.shared` is False), Adam state, the
    loss weights, and the run's random stream (`key` folded with a fixed tag, apart from the init)."""
    chex.assert_shape(key, (2,))
    params = init_sae_params(build_sae(config, d), key, d, config.shared)
    return SAEState(step=jnp.zeros((), jnp.int32), params=params, opt_state=_optimizer(config).init(params),
                    weights=loss_weights(config), key=jax.random.fold_in(key, _STREAM))


def pred_spec(two_tower: TwoTower, config: SAETrainConfig) -> Tuple[ScoreFn, bool]:
    """`(score_fn, gram)`: MF scorers with the MSE loss use the Gram form over the cross product."""
    gram = two_tower.cross_fn is dot_cross and config.pred_loss == "mse"
    return two_tower.score_fn, gram


def prepare_inputs(config: SAETrainConfig, two_tower: TwoTower, gram: bool) -> SAEInputs:
    """`SAEInputs` for `make_sae_epoch` on one device: the row table is computed here, once."""
    if not supports_hand_gradient(config, gram):
        return SAEInputs(two_tower=two_tower)
    module = build_sae(config, two_tower.dim)
    # Compiled, so the table is bit-identical to the one an epoch builds inside its own program.
    table = jax.jit(input_table, static_argnums=(1, 2, 3))(
        jnp.concatenate([two_tower.user_emb, two_tower.item_emb]), module.normalize, module.eps, module.ddof)
    return SAEInputs(two_tower=two_tower, rows=table)


# ---------------------------------------------------------------------------- objective and step
def sae_loss(params: Any, batch: SAEBatch, recommender: TwoTower, config: SAETrainConfig,
             weights: Optional[LossWeights] = None, *, key: Optional[jax.Array] = None,
             axis_name: Optional[str] = None) -> Tuple[jax.Array, Dict[str, jax.Array]]:
    """The prediction-aware training objective of one batch: `(loss, aux)`.

        loss = w_emb * emb + w_pred * pred + w_kl * kl + w_l1 * l1           (formulas: `jaxsae.losses`)

    - emb: `MSE(x_hat_u, u) + MSE(x_hat_i, i)`, summed over a Matryoshka SAE's levels;
    - pred: the frozen `recommender`'s scores of the reconstructions against its scores of the originals
      (`config.pred_loss`: MF Gram MSE over the batch cross product, paired-row MSE/BCE through any scorer, or
      listwise KL over every item), its parameters under `stop_gradient`;
    - kl: `KL(rho || rho_hat)` of users plus items; l1: `mean |z|` of users plus items.

    `weights` defaults to the config's (`loss_weights`); `key` picks the listwise loss's random item subset on a
    catalogue larger than `config.listwise_items`; with `axis_name` (under `pmap`) every term is the global-batch
    value. `aux` holds each term, `l0`, the FVU sums `sse`/`sst` and the latents that `fired`; with
    `config.aux_k > 0` the AuxK term `aux` (weighted by `w_aux`) and, for a BatchTopK kind, what its inference
    thresholds track (`cutoff`, `train_rate`, `infer_rate`: `jaxsae.sae._batchtopk`).
    """
    chex.assert_rank([batch.user_x, batch.item_x], 2)
    chex.assert_equal_shape_suffix([batch.user_x, batch.item_x, recommender.user_emb], 1)
    weights = loss_weights(config) if weights is None else weights
    if batch.all_items is not None and batch.all_items.shape[0] > config.listwise_items:
        if key is None:
            raise ConfigError(f"the listwise loss scores a random subset of {config.listwise_items} of the "
                              f"{batch.all_items.shape[0]} items per step: pass key=")
        pick = jax.random.choice(key, batch.all_items.shape[0], (config.listwise_items,), replace=False)
        batch = batch.replace(all_items=batch.all_items[pick])
    if config.input_scaling == "batch_minmax":  # the reference MF SAE: each side's batch scaled per column to [0, 1]
        batch = batch.replace(user_x=minmax_columns(batch.user_x, axis_name),
                              item_x=minmax_columns(batch.item_x, axis_name))
    module = training_module(config, batch.user_x.shape[-1])
    user_module = side_module(module, config, "user")
    score_fn, gram = pred_spec(recommender, config)
    return _objective(module, None if user_module is module else user_module, params, batch, recommender.head,
                      weights, score_fn, gram, config, axis_name)


def _objective(module: nn.Module, user_module: Optional[nn.Module], params: Any, batch: SAEBatch, head: Any,
               weights: LossWeights, score_fn: ScoreFn, gram: bool, config: SAETrainConfig,
               axis_name: Optional[str]) -> Tuple[jax.Array, Dict[str, jax.Array]]:
    """`sae_loss` once its pieces are resolved: one encoder pass over users and items stacked where the SAE
    is shared, then each term through `jaxsae.losses`."""
    u, i = batch.user_x, batch.item_x
    x = jnp.concatenate([u, i])
    n_u, n_i = u.shape[0], i.shape[0]
    if is_shared(params) and user_module is None:  # one pass over users and items stacked (rows are independent)
        out = module.apply({"params": side_params(params, "user")}, x)
        z, levels = out.z, out.x_hat_levels
    else:
        out_u = (user_module or module).apply({"params": side_params(params, "user")}, u)
        out_i = module.apply({"params": side_params(params, "item")}, i)
        z = jnp.concatenate([out_u.z, out_i.z])
        levels = jnp.concatenate([out_u.x_hat_levels, out_i.x_hat_levels], axis=1)
    z_u, z_i = z[:n_u], z[n_u:]
    h = z.shape[-1]
    emb = embedding_loss(levels[:, :n_u], u, axis_name) + embedding_loss(levels[:, n_u:], i, axis_name)
    pred_lev = levels if config.pred_levels == "all" else levels[-1:]
    lev_u, lev_i = pred_lev[:, :n_u], pred_lev[:, n_u:]
    if config.pred_loss == "listwise":
        pred = _listwise_pred(module, params, batch, head, score_fn, lev_u, config.listwise_temperature, axis_name)
    elif gram and n_u == n_i:  # every level and side's Grams in one batched product
        pred = mf_pred_loss_stacked(pred_lev, x, axis_name)
    else:
        if gram:
            def level_pred(u_hat: jax.Array, i_hat: jax.Array) -> jax.Array:
                return mf_pred_loss(u_hat, i_hat, u, i, axis_name)
        else:
            def level_pred(u_hat: jax.Array, i_hat: jax.Array) -> jax.Array:
                return paired_pred_loss(score_fn, head, u_hat, i_hat, u, i, config.pred_loss, axis_name)
        if pred_lev.shape[0] == 1:
            pred = level_pred(lev_u[0], lev_i[0])
        else:  # Matryoshka: summed over levels, batched into one program per term
            pred = jnp.sum(jax.vmap(level_pred)(lev_u, lev_i))
    if n_u == n_i:  # both sides' KL terms at once
        kl = kl_sparsity(z.reshape(2, n_u, h).transpose(1, 0, 2), weights.rho, axis_name, config.kl_log_eps)
    else:
        kl = (kl_sparsity(z_u, weights.rho, axis_name, config.kl_log_eps)
              + kl_sparsity(z_i, weights.rho, axis_name, config.kl_log_eps))
    l1 = l1_sparsity(z_u, axis_name) + l1_sparsity(z_i, axis_name)
    loss = total_loss(emb, pred, kl, l1, weights)
    extra = {}
    if config.aux_k > 0:
        extra["aux"] = auxk_loss(module, params, x, levels[-1], z, config.aux_k, axis_name)
        loss = loss + config.w_aux * extra["aux"]
    if getattr(module, "batch_training", False):  # what the inference thresholds track
        zs = jax.lax.stop_gradient(z)
        p_thr = side_params(params, "item")
        train_rate, infer_rate = firing_rates(module, jax.lax.stop_gradient(p_thr), x, zs)
        # the cut-off of the batch rule: the dense block's ReLU values are outside it
        extra.update(cutoff=batch_cutoff(zs[:, int(getattr(module, "dense", 0)):]), train_rate=train_rate,
                     infer_rate=infer_rate)
        if axis_name is not None:
            extra = {k: jax.lax.pmean(v, axis_name) if k != "aux" else v for k, v in extra.items()}

    z = jax.lax.stop_gradient(z)
    x_hat = jax.lax.stop_gradient(levels[-1])
    x_mean = global_mean(jnp.mean(x, axis=0, keepdims=True), axis_name)
    sse, sst = diagnostics.fvu_sums(x, x_hat, x_mean)
    if is_shared(params):
        fired = diagnostics.fired(z)[None]  # [1, h]
    else:
        fired = jnp.stack([diagnostics.fired(z[:n_u]), diagnostics.fired(z[n_u:])])  # [2, h]
    if axis_name is not None:
        fired = jax.lax.psum(fired.astype(jnp.int32), axis_name) > 0
    aux = {
        "loss": loss, "emb": emb, "pred": pred, "kl": kl, "l1": l1,
        "l0": global_mean(diagnostics.l0(z), axis_name),
        "sse": global_sum(sse, axis_name), "sst": global_sum(sst, axis_name),
        "fired": fired, **extra,
    }
    return loss, aux


def auxk_loss(module: nn.Module, params: Any, x: jax.Array, x_hat: jax.Array, z: jax.Array, aux_k: int,
              axis_name: Optional[str] = None) -> jax.Array:
    """AuxK (Gao et al. 2024; sparsify and SAELens alike): the dead latents reconstruct the residual.

        dead   = latents that fired on no row of the step's (global) batch
        z_aux  = per row, the aux_k largest pre-activations among dead latents (others 0)
        e      = stop_gradient(x - x_hat),  e_hat = (z_aux U) * scale      (input space, no bias)
        U_j    = D_j / ||D_j||  (latent j's decoder direction at unit norm)
        L_aux  = min(n_dead / aux_k, 1) * sum ||e - e_hat||^2 / sum ||x - mean(x)||^2

    Unlike the references, which apply the ReLU first, `z_aux` takes the raw pre-activations: a latent
    whose pre-activation is negative on every row (dead under ReLU, not only beaten in the top-k race)
    still receives a gradient that moves its bias and direction toward the residual. The directions are
    taken at unit norm (the references' decoders are unit-norm): a tied SAE could otherwise lower the
    aux loss by shrinking a dead latent's column to zero, which stops its revival. A shared SAE's
    rows are users and items stacked; two SAEs use the item SAE's parameters for both (the usual case is shared).
    """
    p = {"params": side_params(params, "item")}
    pre, stats = module.apply(p, x, method="pre_activations")
    fired = jnp.any(z > 0, axis=0)
    if axis_name is not None:
        fired = jax.lax.psum(fired.astype(jnp.int32), axis_name) > 0
    dead = ~fired
    n_dead = jnp.sum(dead)
    k = min(int(aux_k), pre.shape[-1])
    vals, idx = jax.lax.top_k(jnp.where(dead, pre, -jnp.inf), k)
    vals = jnp.where(jnp.isfinite(vals), vals, 0.0)
    z_aux = jnp.zeros_like(pre).at[jnp.arange(pre.shape[0])[:, None], idx].set(vals)
    dec = module.apply(p, method="decoder_matrix")
    unit = dec / jnp.maximum(jnp.linalg.norm(dec, axis=-1, keepdims=True), 1e-12)
    e_hat = (z_aux @ unit) * stats.scale
    e = jax.lax.stop_gradient(x - x_hat)
    err = global_sum(jnp.sum((e - e_hat) ** 2), axis_name)
    var = global_sum(jnp.sum((x - global_mean(jnp.mean(x, axis=0, keepdims=True), axis_name)) ** 2), axis_name)
    scale = jnp.minimum(n_dead / k, 1.0)
    return jnp.where(n_dead > 0, scale * err / jnp.maximum(var, 1e-12), 0.0)


def _listwise_pred(module: nn.Module, params: Any, batch: SAEBatch, head: Any, score_fn: ScoreFn, u_hat_levels: jax.Array,
                   temperature: float, axis_name: Optional[str]) -> jax.Array:
    """`sum_l listwise_kl(U I^T, U_hat_l I_hat_l^T)` over every item (Matryoshka: the levels asked for)."""
    if batch.all_items is None:
        raise ConfigError("the listwise prediction loss needs every item's embedding (SAEBatch.all_items)")
    items = batch.all_items
    out = module.apply({"params": side_params(params, "item")}, items)
    i_hat_levels = out.x_hat_levels[-u_hat_levels.shape[0]:]
    head = jax.lax.stop_gradient(head)
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
    `jaxsae.training.sae._tied_mf_grad` on `input_table` rows (B users then B items; under `pmap` with
    `axis_name`, one device's share, with global-batch values and gradients); the fast path of
    `make_sae_epoch` for one shared tied SAE under the MF Gram loss."""
    module = build_sae(config, d)
    tx = _optimizer(config)

    def step(state: SAEState, rows: jax.Array) -> Tuple[SAEState, Dict[str, jax.Array]]:
        (_, metrics), grads = tied_mf_rows_value_and_grad(state.params, rows, state.weights,
                                                          activation=module.activation, k=module.k,
                                                          axis_name=axis_name, kl_log_eps=config.kl_log_eps)
        return _apply_gradients(tx, state, grads), metrics

    return step


def train_step(state: SAEState, batch: SAEBatch, recommender: TwoTower, config: SAETrainConfig,
               axis_name: Optional[str] = None) -> Tuple[SAEState, Dict[str, jax.Array]]:
    """One Adam step on `sae_loss`: `(state, metrics)` (pure; jit it with `static_argnames=("config",
    "axis_name")`, vmap it over stacked states, or pmap it).

    With `axis_name`, run it under `pmap(axis_name=...)` on per-device shards of the batch: every loss term is the
    global-batch value and the gradients are `lax.pmean`-ed, so the update equals the one-device update for the
    same global batch. The step's random key is `fold_in(state.key, state.step)`, the same on every device.
    """
    def objective(params: Any) -> Tuple[jax.Array, Dict[str, jax.Array]]:
        return sae_loss(params, batch, recommender, config, state.weights,
                        key=jax.random.fold_in(state.key, state.step), axis_name=axis_name)

    (_, metrics), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
    if axis_name is not None:
        grads = jax.lax.pmean(grads, axis_name)
    new = _apply_gradients(_optimizer(config), state, grads)
    if "cutoff" in metrics:  # BatchTopK: the inference thresholds follow the batch cut-off
        first = state.step == 0
        new = new.replace(params={side: updated_thresholds(p, metrics["cutoff"], first, metrics["train_rate"],
                                                           metrics["infer_rate"])
                                  for side, p in new.params.items()})
    return new, metrics
