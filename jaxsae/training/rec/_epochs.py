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

from data_prep.negatives import (all_positives_csr, item_sampling_weights, positive_keys, positive_lookup,
                                 sample_negatives)
from jaxsae.progress import eta
from jaxsae.training.parallel import shard_steps, unreplicate
from jaxsae.training.rec._config import RecConfig


BLOCK = 1 << 20  # rows per block when gathering a shuffled epoch


# ---- host-side batches -----------------------------------------------------------------------------
def epoch_key(base_key: jax.Array, epoch: int) -> jax.Array:
    """The PRNG key of epoch `epoch` (1-based): negatives and shuffling depend only on (seed, epoch)."""
    return jax.random.fold_in(base_key, epoch)


def host_keys(key: Any) -> Tuple[np.ndarray, np.ndarray]:
    """`(key, shuffle key)` of an epoch as host arrays: what `EpochSampler.batches` draws its negatives
    and its shuffle from. Why: a JAX op queued behind a running epoch waits for it, so the trainer takes
    these before dispatching epoch e and builds epoch e+1's batches from them while the device runs e
    (with the keys as JAX arrays the host's work started only when the device's ended)."""
    return np.asarray(key), np.asarray(jax.random.key_data(jax.random.fold_in(key, 1)))


class EpochSampler:
    """Everything an epoch's batches need that does not change between epochs, built once per run: the
    training pairs (user-major) and the positive look-up of `data_prep.negatives.positive_lookup` over
    training and hidden test positives (`all_positives_csr`). `batches(key)` is one epoch."""

    def __init__(self, data: Any, config: RecConfig, probs: Optional[np.ndarray]) -> None:
        self.n_items, self.config, self.probs = int(data.n_items), config, probs
        self.pos_u, self.pos_i = data.train_pairs()
        self.indptr, self.indices = all_positives_csr(data)
        self.lookup = positive_lookup(positive_keys(self.indptr, self.indices, self.n_items), int(data.n_users),
                                      self.n_items)

    def batches(self, key: Any) -> Tuple[np.ndarray, ...]:
        """`(users, items, labels, weights)`, each `[steps, batch_size]` (see `epoch_batches`); `key` the
        epoch's PRNG key or its `host_keys` (the same batches, with no JAX op on the way).

        Row r of the epoch, before shuffling, is positive r for r < P (P positives) and a negative of
        user `pos_u[r mod P]` after; so with the shuffle `perm`, `users = pos_u[perm mod P]`,
        `labels = perm < P`, and only the items need a gather of the concatenated rows."""
        cfg, n_pos = self.config, self.pos_u.shape[0]
        key, shuffle_key = key if isinstance(key, tuple) else host_keys(key)
        neg_u = np.tile(self.pos_u, cfg.negatives)
        neg_i = sample_negatives(key, neg_u, self.indptr, self.indices, self.n_items, self.probs, lookup=self.lookup)
        del neg_u
        items = np.concatenate([self.pos_i, neg_i]).astype(np.int32, copy=False)
        del neg_i
        n = items.shape[0]
        perm = np.arange(n, dtype=np.int32 if n < 2**31 else np.int64)  # shuffled in place: rng.permutation(n)
        np.random.default_rng(np.asarray(shuffle_key).ravel().tolist()).shuffle(perm)
        b = cfg.batch_size
        steps = max(1, -(-n // b))
        # padded to steps x b with weight-0 rows of user 0, item 0, label 0
        users, shuffled = np.zeros(steps * b, np.int32), np.zeros(steps * b, np.int32)
        # labels and weights as bytes (the step takes them as floats): 1/4 of the float32 host arrays
        labels, weights = np.zeros(steps * b, bool), np.zeros(steps * b, bool)
        weights[:n] = True
        for s in range(0, n, BLOCK):  # in blocks: small temporaries
            p = perm[s:s + BLOCK]
            users[s:s + p.shape[0]] = self.pos_u[p % n_pos]
            shuffled[s:s + p.shape[0]] = items[p]
            labels[s:s + p.shape[0]] = p < n_pos
        del perm, items
        return tuple(x.reshape(steps, b) for x in (users, shuffled, labels, weights))


def epoch_batches(data: Any, config: RecConfig, key: Any, probs: Optional[np.ndarray],
                  sampler: Optional[EpochSampler] = None) -> Tuple[np.ndarray, ...]:
    """`(users, items, labels, weights)`, each `[steps, batch_size]` (int32 ids, bool labels and weights):
    all positives, `negatives` fresh negatives per positive (never one of the user's training or hidden test
    positives), shuffled; the last batch padded with weight-0 rows. `sampler`: an
    `EpochSampler(data, config, probs)` reused across epochs (the same batches, without rebuilding the
    positive look-up every epoch)."""
    return (sampler or EpochSampler(data, config, probs)).batches(key)


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
        bce, w = unreplicate((bce, w))
        bce_total += float(np.sum(np.asarray(bce, np.float64)))
        w_total += float(np.sum(np.asarray(w, np.float64)))
    return bce_total, w_total


def run_epoch(epoch_fn: Callable, params: Any, opt_state: Any, batches: Tuple[np.ndarray, ...],
              n_devices: int, max_scan_steps: int) -> Tuple[Any, Any, float, float]:
    """One epoch, waited for: `(params, opt_state, bce_sum, weight_sum)` (replicated state in and out)."""
    params, opt_state, outs = dispatch_epoch(epoch_fn, params, opt_state, batches, n_devices, max_scan_steps)
    return (params, opt_state) + epoch_loss(outs)


def epoch_eta(epoch: int, first_epoch: int, elapsed_s: float, config: RecConfig, best_epoch: Optional[int]) -> str:
    """The time left after `epoch` (epochs `first_epoch`..`epoch` took `elapsed_s`) for the epoch line.

    Without early stopping (`best_epoch` None) the epochs left are `epochs - epoch`. With it the run
    stops `patience` epochs after its best one, so `patience - (epoch - best_epoch)` epochs are left if
    validation does not improve again, each improvement adding up to `patience` more, and never more
    than `epochs - epoch`: both are given. (The refit, when there is one, runs the best epochs again.)
    """
    done, most = epoch - first_epoch + 1, config.epochs - epoch
    if best_epoch is None or not config.patience:
        return f"; {eta(elapsed_s, done, most)}" if most > 0 else ""
    left = min(config.patience - (epoch - best_epoch), most)
    return (f"; {eta(elapsed_s, done, left)} if val does not improve again "
            f"(at most {most} more epochs: {eta(elapsed_s, done, most)})")
