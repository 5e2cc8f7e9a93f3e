"""The recommender's files: the checkpointed state, clearing a stale run, and loading a saved recommender."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import flax.linen as nn
import jax
import numpy as np

from jaxsae.checkpoint import checkpoint_meta, restore_checkpoint
from jaxsae.errors import CheckpointError
from jaxsae.recommenders import TwoTower
from jaxsae.training.rec._config import RecConfig
from jaxsae.training.rec._step import build_recommender, init_opt_state, init_params, make_optimizer, to_two_tower
from jaxsae.recommenders import IMPORTED_KIND, load_imported

CHECKPOINT_KIND = "recommender"



def _state(params: Any, opt_state: Any, epoch: int, key: jax.Array, best: Optional[Any]) -> Dict[str, Any]:
    """The checkpointed pytree (with the best epoch's params under early stopping)."""
    state = {"params": params, "opt_state": opt_state, "epoch": np.int64(epoch), "rng": key}
    if best is not None:
        state["best"] = best
    return state


def load_recommender_state(rec_dir: "str | Path") -> Tuple[nn.Module, Any, RecConfig, Dict[str, Any]]:
    """`(module, params, config, meta)` of the recommender checkpointed in `rec_dir`."""
    rec_dir = Path(rec_dir)
    meta = checkpoint_meta(rec_dir)
    if meta is None:
        raise CheckpointError(f"{rec_dir}: no recommender checkpoint; run `jaxsae train-rec RUN --model mf` (or `jaxsae import-rec RUN --tables FILE`) first")
    config = RecConfig.from_dict(meta.get("config", {}))
    module = build_recommender(config, int(meta["n_users"]), int(meta["n_items"]))
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

    meta = checkpoint_meta(Path(rec_dir))
    if meta is not None and meta.get("kind") == IMPORTED_KIND:
        return load_imported(rec_dir, meta)
    _, params, config, _ = load_recommender_state(rec_dir)
    return to_two_tower(config, params)
