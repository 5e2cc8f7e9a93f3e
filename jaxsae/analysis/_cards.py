"""Neuron cards: one readable summary per neuron for `RUN/analysis/neurons.json`.

A card lists the neuron's top items (title, activation, concepts), its best concept with purity@10,
its popularity correlation and how many items it fires on. A neuron is *labeled* with its best concept
when that purity@10 reaches `LABEL_THRESHOLD`; otherwise its label is null. Between concepts of equal
purity the rarer one (lower base rate) is the best concept: it says more about the neuron.
"""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

import numpy as np

from jaxsae.analysis._concepts import DEFAULT_KS, SELECT_K, top_activations

LABEL_THRESHOLD = 0.7


def neuron_cards(a: np.ndarray, purity: np.ndarray, concepts: np.ndarray, concept_names: Sequence[str],
                 item_titles: Sequence[str], popularity_spearman: Sequence[float],
                 ks: Sequence[int] = DEFAULT_KS, n_top: int = 10,
                 label_threshold: float = LABEL_THRESHOLD) -> List[Dict[str, Any]]:
    """Cards for every neuron. `a [n_items, h]` activations, `purity [len(ks), h, C]` from
    `purity_at_k`, `popularity_spearman [h]`; top items follow the module-wide top-K convention."""
    p10 = np.asarray(purity)[list(ks).index(SELECT_K)]  # [h, C]
    vals, idx, active = (np.asarray(v) for v in top_activations(a, n_top))
    conc = np.asarray(concepts, bool)
    n_active = (np.asarray(a) > 0).sum(axis=0)
    rarity = 1e-6 * conc.mean(axis=0)  # far below the 1/K purity step: only breaks ties
    cards = []
    for n in range(p10.shape[0]):
        best = int(np.argmax(p10[n] - rarity)) if p10.shape[1] else -1
        purity10 = float(p10[n, best]) if best >= 0 else 0.0
        top = [{"item": int(i), "title": str(item_titles[i]), "activation": float(v),
                "concepts": [concept_names[c] for c in np.flatnonzero(conc[i])]}
               for i, v, ok in zip(idx[n], vals[n], active[n]) if ok]
        cards.append({
            "neuron": n,
            "label": concept_names[best] if best >= 0 and purity10 >= label_threshold else None,
            "best_concept": concept_names[best] if best >= 0 and purity10 > 0 else None,
            "purity@10": purity10,
            "popularity_spearman": float(popularity_spearman[n]),
            "n_active": int(n_active[n]),
            "top_items": top,
        })
    return cards
