"""Did an outside model see the hidden split? A scale-free check.

A model fits the positives it was trained on better than positives it never saw. For each evaluated
user we measure, for every positive, the share of the user's *other* items (neither training nor hidden
positives) scored above it, and average over positives: `train_rank` for training positives,
`hidden_rank` for the hidden ones (both in [0, 1], lower is better). A model trained on the training
split only ranks hidden positives clearly worse than training positives; one that was fitted on the
hidden positives too ranks them about as well. The ratio `hidden_rank / train_rank` is free of any
score scale or dataset size; `LEAK_RATIO` is the threshold below which the import warns. Measured on
ML-100k with implicit ALS (20 factors): ratio 1.60 trained on `export-split`'s training split (hit@10 .805),
1.02 trained on every rating, hidden ones included (hit@10 .899): a model that saw the hidden positives
ranks them like training positives (ratio ~1).
"""
from __future__ import annotations

from typing import Any, Dict

import jax.numpy as jnp
import numpy as np

from jaxsae.metrics._fidelity import sample_users
from jaxsae.metrics._ranking import _two_tower_scores

LEAK_RATIO = 1.25  # warn when hidden positives rank less than 1.25x worse than training positives
MAX_USERS = 2000  # evaluated users checked (seeded sample beyond this)


def hidden_fit(two_tower: Any, data: Any, max_users: int = MAX_USERS, chunk: int = 256) -> Dict[str, Any]:
    """`{"train_rank", "hidden_rank", "ratio", "n_users", "suspicious"}` of a recommender on `data`."""

    users = np.asarray(data.test_users, np.int64)
    rows = sample_users(np.arange(len(users)), max_users)
    indptr, indices = np.asarray(data.train_indptr), np.asarray(data.train_indices)
    tr_ranks, te_ranks = [], []
    for start in range(0, len(rows), chunk):
        r = rows[start:start + chunk]
        s = np.asarray(_two_tower_scores(two_tower, jnp.asarray(users[r], jnp.int32)), np.float64)
        for j, row in enumerate(r.tolist()):
            u = int(users[row])
            train = indices[indptr[u]:indptr[u + 1]]
            hidden = np.asarray(data.test_pos[row])
            hidden = hidden[hidden >= 0]
            if len(train) == 0 or len(hidden) == 0:
                continue
            other = np.ones(s.shape[1], bool)
            other[train] = False
            other[hidden] = False
            ref = np.sort(s[j][other])
            if ref.size == 0:
                continue

            def share_above(x: np.ndarray) -> float:
                return float(np.mean(ref.size - np.searchsorted(ref, x, side="right")) / ref.size)

            tr_ranks.append(share_above(s[j][train]))
            te_ranks.append(share_above(s[j][hidden]))
    if not tr_ranks:
        return {"train_rank": None, "hidden_rank": None, "ratio": None, "n_users": 0, "suspicious": False}
    tr, te = float(np.mean(tr_ranks)), float(np.mean(te_ranks))
    ratio = te / tr if tr > 0 else float("inf")
    return {"train_rank": tr, "hidden_rank": te, "ratio": ratio, "n_users": len(tr_ranks),
            "threshold": LEAK_RATIO, "suspicious": bool(ratio < LEAK_RATIO)}
