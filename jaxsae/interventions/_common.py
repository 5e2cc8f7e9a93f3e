"""What the steering experiments share: item names, audiences, top-K lists, level scales, samples, file stems."""
from __future__ import annotations

import difflib
from typing import Any, Dict, List, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxsae.errors import UnknownNameError
from jaxsae.interventions._steer import Steerer
from jaxsae.metrics import train_mask
from jaxsae.metrics import top_k
from jaxsae.metrics import rbo
from jaxsae.analysis import best_neurons, purity_at_k

N_SAMPLES = 5  # users whose before/after lists each experiment keeps (`samples`, for the explorer)


# ---- names ---------------------------------------------------------------------------------------
def resolve_item(data: Any, name: str) -> int:
    """Item index from an original id or a title (case-insensitive; a unique title prefix also works,
    e.g. "Toy Story" for "Toy Story (1995)"). Unknown names raise `UnknownNameError` with close matches."""
    ids = [str(i) for i in np.asarray(data.item_ids)]
    titles = [str(t) for t in np.asarray(data.item_titles)]
    if name in ids:
        return ids.index(name)
    low = name.strip().lower()
    exact = [i for i, t in enumerate(titles) if t.lower() == low]
    if len(exact) == 1:
        return exact[0]
    if len(exact) > 1:  # two items share the title: say so rather than pick one
        shown = ", ".join(f"{ids[i]!r}" for i in exact[:8])
        raise UnknownNameError(f"item title {name!r} is ambiguous: {len(exact)} items carry it (ids {shown}); "
                               f"pass the item id instead")
    prefix = [i for i, t in enumerate(titles) if t.lower().startswith(low)]
    if len(prefix) == 1:
        return prefix[0]
    if len(prefix) > 1:
        shown = ", ".join(repr(titles[i]) for i in prefix[:5])
        raise UnknownNameError(f"item {name!r} is ambiguous: {len(prefix)} titles start with it ({shown})")
    close = difflib.get_close_matches(name, titles, n=5, cutoff=0.5) + difflib.get_close_matches(name, ids, n=3, cutoff=0.6)
    hint = f"; close matches: {', '.join(repr(c) for c in close)}" if close else ""
    raise UnknownNameError(f"unknown item {name!r} (neither an item id nor a title){hint}")


# ---- experiment helpers -------------------------------------------------------------------------
def concept_share(top_items: np.ndarray, concept_mask: np.ndarray) -> np.ndarray:
    """Per row, the fraction of the listed items `[B, K]` that carry the concept (`concept_mask [n_items]`)."""
    return np.asarray(concept_mask, bool)[np.asarray(top_items)].mean(axis=1)


def _exclusion(data: Any, users: np.ndarray, exclude_train: bool) -> np.ndarray:

    return train_mask(data, users) if exclude_train else np.zeros((len(users), data.n_items), bool)


def _top(scores: jax.Array, k: int, exclude: np.ndarray) -> np.ndarray:

    return np.asarray(top_k(scores, k, jnp.asarray(exclude))[1])


def baseline_top(steerer: "Steerer", data: Any, users: np.ndarray, k: int, exclude_train: bool = True,
                 chunk_size: int = 1024) -> np.ndarray:
    """The unedited recommender's top-K items `[len(users), k]` (training positives excluded unless told),
    computed in chunks of users so memory stays O(chunk x n_items) for large user pools."""
    out = [_top(steerer.baseline(users[s : s + chunk_size]), k,
                _exclusion(data, users[s : s + chunk_size], exclude_train))
           for s in range(0, len(users), chunk_size)]
    return np.concatenate(out) if out else np.zeros((0, k), np.int32)


def activation_scale(latents: np.ndarray, neuron: int) -> float:
    """The neuron's activation range (its largest activation over the given rows): edit levels are in
    these units, so level -1.5 means "1.5 times the strongest activation, negated". 1 if it never fires."""
    top = float(np.max(latents[:, neuron])) if latents.shape[0] else 0.0
    return top if top > 0 else 1.0


def level_scale(latents: np.ndarray, neuron: int, absolute: bool = False) -> float:
    """What a level is multiplied by: 1 with `absolute` (the reference sets latents to the level itself),
    else `activation_scale` (the neuron's largest activation)."""
    return 1.0 if absolute else activation_scale(latents, neuron)


def _strongest(levels: Sequence[float]) -> int:
    return int(np.argmax(np.abs(np.asarray(levels, float))))


def _mean_rbo(a: np.ndarray, b: np.ndarray, p: float = 0.9) -> float:

    return float(np.mean(rbo(np.asarray(a), np.asarray(b), p)))


def select_audience(share: np.ndarray, size: int, highest: bool = True) -> np.ndarray:
    """Rows of the `size` users with the highest (or lowest) concept share; ties keep the pool order."""
    order = np.argsort(-share if highest else share, kind="stable")
    return order[: max(0, int(size))]


def sample_lists(data: Any, users: np.ndarray, before: np.ndarray, after: np.ndarray, level: float,
                 n: int = N_SAMPLES) -> List[Dict[str, Any]]:
    """The `samples` of an experiment: for the first `n` of `users`, their top-K item indices before and
    after the edit at `level` (what the explorer shows as before/after lists)."""
    ids = np.asarray(data.user_ids)
    return [{"user": int(u), "user_id": str(ids[u]), "level": float(level),
             "before": [int(v) for v in b], "after": [int(v) for v in a]}
            for u, b, a in zip(np.asarray(users)[: max(0, int(n))], np.asarray(before), np.asarray(after))]


def concept_neuron(item_latents: np.ndarray, concepts: np.ndarray, concept: int, k: int = 10) -> int:
    """The neuron that carries a concept: the best neuron by item purity@K."""

    p = purity_at_k(item_latents, np.asarray(concepts, bool)[:, concept : concept + 1], (k,))
    return int(best_neurons(p, (k,), k)[0][0])


def file_stem(name: str) -> str:
    """A file-name-safe form of a concept or item name (`filter-<stem>.json`)."""
    keep = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name.strip())
    return keep.strip("_") or "unnamed"
