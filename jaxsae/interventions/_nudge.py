"""The nudge experiment: raise a concept neuron of the users who see the least of the concept."""
from __future__ import annotations

from typing import Any, Dict, Sequence

import numpy as np

from jaxsae.interventions._common import (N_SAMPLES, _exclusion, _strongest, _top, baseline_top, concept_share,
                                        level_scale, sample_lists, select_audience)
from jaxsae.interventions._steer import Steerer, latent_edit

NUDGE_LEVELS = (1.0, 2.0, 3.0, 4.0)


def nudge_experiment(steerer: Steerer, data: Any, concept: str, users: Sequence[int], neuron: int,
                     audience_size: int = 100, k: int = 30, levels: Sequence[float] = NUDGE_LEVELS,
                     op: str = "add", exclude_train: bool = True, absolute: bool = False,
                     n_samples: int = N_SAMPLES) -> Dict[str, Any]:
    """Nudging: raise a concept neuron of the users who see the least of the concept.

    Audience: the `audience_size` users of `users` with the lowest share of the concept in their
    baseline top-K. At each level the neuron is `op`-ed with `level * scale` (scale 1 with `absolute`); reported: the concept's
    share of the top-K before and at every level; `samples`: the first `n_samples` audience users' top-K
    before and at the strongest level.
    """
    c = data.concept_index(concept)
    neuron = steerer.check_neuron(neuron)
    cmask = np.asarray(data.concepts[:, c], bool)
    pool = np.asarray(users, np.int32)
    base_top = baseline_top(steerer, data, pool, k, exclude_train)
    rows = select_audience(concept_share(base_top, cmask), audience_size, highest=False)
    aud = pool[rows]
    excl_a = _exclusion(data, aud, exclude_train)
    scale = level_scale(steerer.user_latents(), neuron, absolute)
    per_level, afters = [], []
    for level in levels:
        edit = latent_edit(neuron, op, level * scale, np.ones(len(aud), bool))
        after = _top(steerer.scores(aud, user_edit=edit), k, excl_a)
        afters.append(after[:n_samples])
        per_level.append({"level": float(level), "value": float(level * scale),
                          "concept_share": float(concept_share(after, cmask).mean())})
    strong = _strongest(levels)
    before = float(concept_share(base_top[rows], cmask).mean())
    out = {
        "concept": data.concept_names[c], "neuron": neuron, "k": k, "op": op, "mode": steerer.mode,
        "levels": [float(v) for v in levels], "scale": scale, "absolute_levels": bool(absolute),
        "concept_share_before": before,
        "per_level": per_level, "audience_size": int(len(aud)),
        "samples": sample_lists(data, aud, base_top[rows], afters[strong], float(levels[strong]), n_samples),
    }
    if all(p["concept_share"] == before for p in per_level):
        out["why_unmoved"] = why_unmoved(steerer, scale, levels, k)
    return out


def why_unmoved(steerer: Steerer, scale: float, levels: Sequence[float], k: int) -> str:
    """Why a nudge left the concept's share where it was, in words, from the first cause that applies:
    the recommender's item embeddings are all zero (most-popular or a bias-only model: a user edit cannot
    change any score, which is what the grid keeps on very sparse data), the neuron never fires (its level
    scale is 0), or else the edit raised the concept's items too little to enter the top-k."""
    if not np.any(np.asarray(steerer.two_tower.item_emb)):
        return ("the recommender's item embeddings are all zero (most-popular or a bias-only model, what the "
                "validation grid keeps when no embedding model beats popularity): a user edit cannot change any score")
    if scale == 0:
        return "the neuron never fires on users (level scale 0): every level edits by 0"
    return (f"the strongest edit ({max(abs(float(v)) for v in levels) * scale:.3g}) raised the concept's items too "
            f"little to enter any audience user's top-{k}")
