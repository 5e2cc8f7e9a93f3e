"""The SAE's epoch: a `lax.scan` of the train step over index batches, and its compiled runner.

The pieces compose so that an ablation can `jax.vmap` whole runs over loss weights and seeds:

    state = init_state(key, config, d)                   # SAEState: step, params, opt_state, weights
    step  = train_step(state, batch, two_tower, config)  # (state, metrics)
    epoch = make_sae_epoch(config, d, score_fn, gram)     # (state, two_tower, user_idx[S, B], item_idx[S, B])
                                                         #   -> (state, window metrics), a lax.scan of `step`

The loss weights live in `state.weights` (an array pytree), the frozen recommender enters as an
argument (`two_tower`, its head under `stop_gradient`), so `vmap(epoch, in_axes=(0, None, None, None))`
trains several weight settings or seeds in one compiled program. `EpochRunner` compiles an epoch once per
program (jit on one device, pmap on several) and returns its metrics in one host transfer.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Dict, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxsae.errors import ConfigError
from jaxsae.recommenders import ScoreFn, TwoTower, dot_score
from jaxsae.sae import diagnostics
from jaxsae.sae import SAETrainConfig
from jaxsae.sae import n_saes
from jaxsae.training.parallel import (AXIS, data_parallel, local_devices, pmap_devices, replicate, shard_steps,
                                     unreplicate)
from jaxsae.training.sae._step import (TERMS, SAEBatch, SAEInputs, SAEState, build_sae, make_hand_row_step,
                                      pred_spec, prepare_inputs, train_step)
from jaxsae.training.sae._tied_mf_grad import input_table, supports_hand_gradient

# Steps per iteration of the epoch's scan loop: fewer loop trips and cross-step fusion on CPU.
SCAN_UNROLL = 4


def make_sae_epoch(config: SAETrainConfig, d: int, score_fn: ScoreFn = dot_score, gram: bool = True,
                  axis_name: Optional[str] = None) -> Callable[..., Tuple[SAEState, Dict[str, jax.Array]]]:
    """`epoch(state, inputs, user_idx [S, B], item_idx [S, B]) -> (state, window metrics)`.

    A `lax.scan` of the train step over pre-shuffled index batches (rows are gathered from the
    recommender's tables inside the scan). `inputs` is the frozen `TwoTower` or its `prepare_inputs`
    (which saves recomputing the row table of the hand-gradient path on every call). When
    `supports_hand_gradient` holds, a step is `make_hand_row_step`, else `train_step` (autodiff of `sae_loss`). Window metrics: the mean of each loss term and of L0 over
    the S steps, `fvu` = summed squared errors / summed variances, `dead_fraction` = share of latents
    that never fired in the window, and `finite` / `first_bad` (first step with a non-finite loss, or S).
    """
    hand = supports_hand_gradient(config, gram)
    row_step = make_hand_row_step(config, d, axis_name) if hand else None
    module = build_sae(config, d)

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

            def step_on(st: SAEState, idx: Tuple[jax.Array, jax.Array]) -> Tuple[SAEState, Dict[str, jax.Array]]:
                return train_step(st, SAEBatch.of(two_tower, idx[0], idx[1], config), two_tower, config, axis_name)

        def body(carry: Tuple[Any, ...], idx: Any) -> Tuple[Any, None]:
            st, fired, acc, first_bad, t = carry
            st, m = step_on(st, idx)
            fired = fired | m["fired"]
            acc = acc + jnp.stack([m[k] for k in summed])  # one fused add, no per-step output buffers
            first_bad = jnp.where((first_bad == n) & ~jnp.isfinite(m["loss"]), t, first_bad)
            return (st, fired, acc, first_bad, t + 1), None

        n_sae = n_saes(state.params)
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
    if data_parallel(devices):
        fn = make_sae_epoch(config, d, score_fn, gram, axis_name=AXIS)
        return jax.pmap(_packed(fn), axis_name=AXIS, in_axes=(0, None, 0, 0), devices=pmap_devices(devices))
    return jax.jit(_packed(make_sae_epoch(config, d, score_fn, gram)))


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
        self.parallel = data_parallel(self.devices)  # pmap: several local devices, or several hosts
        if n_dev > 1 and config.batch_size % n_dev:
            raise ConfigError(f"batch_size {config.batch_size} is not divisible by {n_dev} devices")
        program = config.static_part()
        self._fn = _compiled_epoch(program, d, score_fn, gram, tuple(self.devices))
        self._prepare = lambda tt: SAEInputs(two_tower=tt) if self.parallel else prepare_inputs(program, tt, gram)
        self._tt, self._inputs = two_tower, self._prepare(two_tower)

    def put(self, state: SAEState) -> SAEState:
        return replicate(state, self.devices) if self.parallel else state

    def get(self, state: SAEState) -> SAEState:
        return unreplicate(state) if self.parallel else state

    def inputs(self, two_tower: TwoTower) -> SAEInputs:
        """The prepared inputs of `two_tower` (cached for the runner's own recommender)."""
        if two_tower is not self._tt:
            self._tt, self._inputs = two_tower, self._prepare(two_tower)
        return self._inputs

    def __call__(self, state: SAEState, two_tower: TwoTower, users: np.ndarray,
                 items: np.ndarray) -> Tuple[SAEState, Dict[str, Any]]:
        inputs = self.inputs(two_tower)
        if self.parallel:
            state, m = self._fn(state, inputs, shard_steps(users, self.n), shard_steps(items, self.n))
            m = unreplicate(m)
        else:
            state, m = self._fn(state, inputs, users, items)
        return state, _unpacked(np.asarray(m))
