"""The SAE's files: its checkpoint kind and resumable keys, and `load_sae` (which reads older layouts too)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Tuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxsae.checkpoint import checkpoint_meta, restore_checkpoint
from jaxsae.recommenders import TwoTower
from jaxsae.sae import sae_input_space, stored_factor
from jaxsae.sae import SAETrainConfig
from jaxsae.sae import TrainedSAE
from jaxsae.training.sae._batches import heldout_split
from jaxsae.training.sae._step import SAEState, build_sae, init_state
from jaxsae.errors import CheckpointError

CHECKPOINT_KIND = "sae"
# Config fields that never change the trained SAE (beyond float summation order): logging, checkpoints, devices.
BOOKKEEPING = ("log_every", "checkpoint_every", "devices")
# Config fields a resumed run may change without invalidating the checkpoint: the bookkeeping, the budget, and
# `lr` (after a divergence the advised fix is a lower lr, resumed from the last good checkpoint; Adam's state does
# not depend on lr; the result then differs from an uninterrupted run, as asked).
RESUMABLE_KEYS = BOOKKEEPING + ("steps", "epochs", "lr")


@struct.dataclass
class _KeylessState:
    """The state as checkpoints wrote it before it carried its random stream (`SAEState.key`)."""

    step: Any
    params: Any
    opt_state: Any
    weights: Any


def _layouts(target: SAEState, config: SAETrainConfig) -> Tuple[Any, ...]:
    """The state layouts a checkpoint may hold, newest first: today's; without the random stream; and, older,
    with per-leaf Adam moments (before Adam ran on the flattened parameters). The parameters are the same."""
    keyless = _KeylessState(step=target.step, params=target.params, opt_state=target.opt_state, weights=target.weights)
    per_leaf = keyless.replace(opt_state=optax.adam(config.lr).init(target.params))
    return target, keyless, per_leaf


def load_sae(sae_dir: "str | Path", two_tower: TwoTower) -> TrainedSAE:
    """The SAE checkpointed in `sae_dir` over the frozen recommender `two_tower` it was trained on.

    The recommender is bias-folded and side-balanced again as in training (the factor is stored in the
    checkpoint). Row normalization needs no stored constants (it is per row).
    """

    sae_dir = Path(sae_dir)
    meta = checkpoint_meta(sae_dir)
    if meta is None:
        raise CheckpointError(f"{sae_dir}: no SAE checkpoint (run `jaxsae train-sae` first)")
    config = SAETrainConfig.from_dict(meta["config"])
    balance = stored_factor(meta)  # SAEs saved before side balancing: c = 1
    input_tt, _ = sae_input_space(two_tower, config.balance_sides, config.fold_biases, factor=balance)
    d = input_tt.dim
    if meta.get("d") not in (None, d) or meta.get("n_items") not in (None, input_tt.n_items):
        raise CheckpointError(f"{sae_dir}: SAE was trained on inputs of dimension {meta.get('d')} for "
                              f"{meta.get('n_items')} items, the recommender gives {d} for {input_tt.n_items}")
    target = init_state(jax.random.PRNGKey(config.seed), config, d)
    state = None
    for candidate in _layouts(target, config):
        try:
            state, _, _ = restore_checkpoint(sae_dir, candidate, CHECKPOINT_KIND)
            break
        except CheckpointError:
            continue
    if state is None:
        restore_checkpoint(sae_dir, target, CHECKPOINT_KIND)  # raise the error about the current layout
    _, heldout = heldout_split(input_tt.n_users, config.heldout_fraction, config.seed)
    return TrainedSAE(module=build_sae(config, d), params=jax.tree_util.tree_map(jnp.asarray, state.params),
                      config=config, input_two_tower=input_tt, heldout_users=heldout, balance_factor=balance,
                         factor_dim=two_tower.dim)
