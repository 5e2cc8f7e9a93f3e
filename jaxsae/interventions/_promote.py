"""The promote experiment: lift one item into users' top-K through the neuron that raises it most."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from jaxsae.interventions._common import (N_SAMPLES, _exclusion, _strongest, _top, activation_scale, baseline_top,
                                        level_scale, resolve_item, sample_lists)
from jaxsae.interventions._steer import Steerer, latent_edit

PROMOTE_LEVELS = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0)


def item_neuron(steerer: Steerer, item: int, users: Sequence[int], item_latents: np.ndarray) -> int:
    """The neuron an item is promoted through by default: of the item's active latents, the one whose
    raise by its activation scale lifts the item's logit most for `users` (a latent's decoder direction
    can just as well lower it); when none of them lifts it, the best of all latents."""
    scales = np.array([activation_scale(item_latents, j) for j in range(item_latents.shape[1])])
    gains = steerer.item_gains(users, item, scales) if len(users) else np.zeros(len(scales))
    active = np.flatnonzero(item_latents[item] > 0)
    if active.size and gains[active].max() > 0:
        return int(active[np.argmax(gains[active])])
    return int(np.argmax(gains))


def promote_experiment(steerer: Steerer, data: Any, item: str, users: Sequence[int],
                       neuron: Optional[int] = None, audience_size: int = 100, k: int = 20,
                       levels: Sequence[float] = PROMOTE_LEVELS, op: str = "add", seed: int = 0,
                       exclude_train: bool = True, absolute: bool = False, n_samples: int = N_SAMPLES
                       ) -> Dict[str, Any]:
    """Promotion: raise one neuron of one item, for users who did not rank it in their top-K.

    The item is named by original id or title (`resolve_item`); its neuron defaults to `item_neuron`
    (the active latent that lifts its score most for the audience). Audience: up to `audience_size` users of `users` (seeded random choice) for whom the item is
    neither in the baseline top-K nor a training positive. At each level the item's neuron is `op`-ed
    with `level * scale` (scale: the neuron's largest item activation, 1 with `absolute`); reported: the fraction of the
    audience whose top-K then contains the item; `samples`: `n_samples` audience users' top-K before and at
    the strongest level, those whose list the item entered first.
    """
    i = resolve_item(data, item)
    item_lat = steerer.item_latents()
    if neuron is not None:
        neuron = steerer.check_neuron(neuron)
    pool = np.asarray(users, np.int32)
    base_top = baseline_top(steerer, data, pool, k, exclude_train)
    train_users, train_items = data.train_pairs()
    liked = np.zeros(data.n_users, bool)
    liked[train_users[train_items == i]] = exclude_train
    eligible = np.flatnonzero(~(base_top == i).any(axis=1) & ~liked[pool])
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.permutation(eligible)[: max(0, int(audience_size))])
    aud = pool[rows]
    excl_a = _exclusion(data, aud, exclude_train)
    neuron = item_neuron(steerer, i, aud, item_lat) if neuron is None else neuron
    scale = level_scale(item_lat, neuron, absolute)
    item_rows = np.zeros(data.n_items, bool)
    item_rows[i] = True
    per_level, afters = [], []
    for level in levels:
        edit = latent_edit(neuron, op, level * scale, item_rows)
        after = _top(steerer.scores(aud, item_edit=edit), k, excl_a) if len(aud) else np.zeros((0, k), int)
        entered = float((after == i).any(axis=1).mean()) if len(aud) else 0.0
        afters.append(after)
        per_level.append({"level": float(level), "value": float(level * scale), "entered_top_k_fraction": entered})
    samples: List[Dict[str, Any]] = []
    if per_level:
        strong = _strongest(levels)
        first = np.argsort(~(afters[strong] == i).any(axis=1), kind="stable")[: max(0, int(n_samples))]
        samples = sample_lists(data, aud[first], base_top[rows][first], afters[strong][first], float(levels[strong]),
                               n_samples)
    return {
        "item": str(np.asarray(data.item_ids)[i]), "item_index": i, "title": str(np.asarray(data.item_titles)[i]),
        "neuron": neuron, "k": k, "op": op, "mode": steerer.mode, "levels": [float(v) for v in levels],
        "scale": scale, "absolute_levels": bool(absolute), "per_level": per_level,
        "entered_top_k_fraction": per_level[_strongest(levels)]["entered_top_k_fraction"] if per_level else 0.0,
        "audience_size": int(len(aud)), "samples": samples,
    }
