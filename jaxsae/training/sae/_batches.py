"""The SAE's data streams: the seeded held-out users and deterministic, resumable batch indices."""
from __future__ import annotations

from typing import List, Tuple

import numpy as np


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
