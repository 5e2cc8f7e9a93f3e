"""The recommender's host-side epochs: per-epoch negatives and shuffled batches, and their dispatch.

One epoch: on the host, sample `negatives` negatives per training positive
(`data_prep.negatives.sample_negatives`, weights by `negative_scheme`), shuffle all pairs and cut them
into `[steps, batch_size]` index batches (the last batch padded with weight-0 rows); the device runs them
(`jaxsae.training.rec._step.make_rec_epoch`) in scans of at most `max_scan_steps`. The host prepares epoch
e+1 while the device runs epoch e.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

import jax
import numpy as np

from data_prep.negatives import all_positives_csr, item_sampling_weights, sample_negatives
from jaxsae.training.parallel import shard_steps
from jaxsae.training.rec._config import RecConfig


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
