"""The whole concept analysis of one trained SAE: what `jaxsae analyze` writes.

`analyze_arrays` combines the array functions of this package into the six JSON documents of
`RUN/analysis/` (docs/ARCHITECTURE.md); `analyze` feeds it from a `TrainedSAE` and `InteractionData`.
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from jaxsae.analysis import activations as act
from jaxsae.analysis.cards import LABEL_THRESHOLD, neuron_cards
from jaxsae.analysis.concepts import (
    DEFAULT_KS, SELECT_K, NullPurity, concept_table, popularity_analysis, purity_at_k, random_direction_null,
    restrict_items, support_mask, temporal_analysis,
)
from jaxsae.analysis.hierarchy import hierarchy
from jaxsae.analysis.monosemanticity import TOP_N, monosemanticity
from jaxsae.errors import ConfigError

OUTPUTS = ("concepts", "neurons", "popularity", "temporal", "ms", "hierarchy")


@dataclasses.dataclass(frozen=True)
class AnalysisConfig:
    """Options of `jaxsae analyze`."""

    OPTION_ALIASES: ClassVar[Mapping[str, Tuple[str, ...]]] = {"ks": ("k",)}  # `--k 5,10,20,50`

    ks: Tuple[int, ...] = DEFAULT_KS  # purity is reported at each K; must include 10 (the selection K)
    null_seeds: int = 5  # seeds of the random-direction null (0: no null, its columns are null)
    min_support: int = 0  # only items with >= this many training interactions are ranked (--min-support)
    top_items: int = 10  # items listed on each neuron card
    popularity_k: int = 10  # top-K items whose mean popularity percentile is reported
    ms_top_n: int = TOP_N  # top items per neuron in the monosemanticity score (the definition: 30)
    hierarchy_k: int = 10  # top-K items per neuron in the Matryoshka hierarchy
    label_threshold: float = LABEL_THRESHOLD  # purity@10 from which a neuron is labeled with its concept

    def __post_init__(self) -> None:
        ks = tuple(int(k) for k in self.ks)
        object.__setattr__(self, "ks", ks)
        if not ks or any(k < 1 for k in ks) or any(b <= a for a, b in zip(ks, ks[1:])):
            raise ConfigError(f"--k must be increasing positive integers, got {list(ks)}")
        if SELECT_K not in ks:
            raise ConfigError(f"--k must include {SELECT_K} (best neurons are chosen by purity@{SELECT_K}), got {list(ks)}")
        for name in ("null_seeds", "min_support"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("top_items", "popularity_k", "ms_top_n", "hierarchy_k"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.label_threshold <= 1.0:
            raise ConfigError(f"label_threshold must be in [0, 1], got {self.label_threshold}")


def analyze_arrays(item_acts: np.ndarray, encoder_inputs: np.ndarray, rec_item_emb: np.ndarray, data: Any,
                   config: AnalysisConfig = AnalysisConfig(),
                   prefixes: Optional[Sequence[int]] = None) -> Dict[str, Any]:
    """All analyses from arrays: `item_acts [n_items, h]`, the items as the encoder sees them
    `[n_items, d]` (for the null), the recommender's item embeddings (for MS), and the dataset's
    concepts, popularity, years and titles. Returns `{name: JSON document}` for `OUTPUTS`
    (`hierarchy` is None unless `prefixes` are given)."""
    ks = config.ks
    n_items, h = item_acts.shape
    mask = support_mask(data.popularity, config.min_support) if config.min_support > 0 else None
    if mask is not None and not mask.any():
        raise ConfigError(f"--min-support {config.min_support}: no item has that many training interactions "
                          f"(max {int(np.max(data.popularity))})")
    a = np.asarray(restrict_items(item_acts, mask))
    concepts = np.asarray(data.concepts, bool)
    purity = purity_at_k(a, concepts, ks)
    if config.null_seeds > 0:
        null = random_direction_null(encoder_inputs, concepts, h, ks, tuple(range(config.null_seeds)), mask)
    else:
        nan = np.full((len(ks), concepts.shape[1]), np.nan)
        null = NullPurity(best=nan, mean=nan)
    rows = concept_table(purity, null, concepts, data.concept_names, data.concept_families, ks, mask)
    pop = popularity_analysis(item_acts, data.popularity, config.popularity_k, mask)
    spear = [r["spearman"] for r in pop["per_neuron"]] or [0.0] * h
    cards = neuron_cards(a, np.asarray(purity), concepts, data.concept_names, data.item_titles, spear, ks,
                         config.top_items, config.label_threshold)
    m = np.ones(n_items, bool) if mask is None else mask
    ms = monosemanticity(item_acts[m], rec_item_emb[m], config.ms_top_n)
    hier = None
    if prefixes:
        hier = hierarchy(a, prefixes, data.popularity, concepts, data.concept_families, config.hierarchy_k)
    return {
        "concepts": rows,
        "neurons": cards,
        "popularity": pop,
        "temporal": temporal_analysis(item_acts, data.year, rows, mask),
        "ms": ms,
        "hierarchy": hier,
    }


def analyze(sae: Any, data: Any, config: AnalysisConfig = AnalysisConfig()) -> Dict[str, Any]:
    """`analyze_arrays` for a `TrainedSAE` and the `InteractionData` it was trained on."""
    if sae.input_two_tower.n_items != data.n_items:
        raise ConfigError(f"the SAE's recommender has {sae.input_two_tower.n_items} items but the data has {data.n_items}")
    return analyze_arrays(act.item_activations(sae), act.encoder_inputs(sae, sae.input_two_tower.item_emb),
                          act.recommender_item_embeddings(sae), data, config, act.prefixes(sae))


def family_counts(concepts: Sequence[Dict[str, Any]], threshold: float = 0.9, margin: float = 0.2) -> Sequence[str]:
    """One line per concept family (genre, tag, decade, popularity): how many of its concepts reach
    purity@10 >= `threshold`, how many random-direction nulls do, and how many beat their null by
    `margin` (the 'clear' concepts). Purities are exact fractions (`purity_at_k`), so the
    threshold comparison is exact; the margin allows 1e-9 for the subtraction (1.0 - 0.8 < 0.2 in floats)."""
    lines = []
    families = []
    for r in concepts:
        if r["family"] not in families:
            families.append(r["family"])
    for fam in families:
        rows = [r for r in concepts if r["family"] == fam]
        pure = sum(r["purity@10"] >= threshold for r in rows)
        nulls = [r.get("null_purity@10") for r in rows]
        null_pure = sum(v is not None and np.isfinite(v) and v >= threshold for v in nulls)
        clear = sum(r["purity@10"] >= threshold and v is not None and np.isfinite(v) and r["purity@10"] - v >= margin - 1e-9
                    for r, v in zip(rows, nulls))
        lines.append(f"{fam} concepts at purity@10 >= {threshold:g}: {pure} of {len(rows)} (random-direction null: "
                     f"{null_pure}; beating the null by >= {margin:g}: {clear})")
    return lines


def summary_lines(results: Dict[str, Any], top: int = 12) -> Sequence[str]:
    """A short human-readable digest (printed by the CLI): purity vs null per concept, popularity, MS."""
    lines = [f"{'concept':<24}{'neuron':>7}{'p@10':>7}{'null':>7}{'base':>7}"]
    rows = sorted(results["concepts"], key=lambda r: -r["purity@10"])
    for r in rows[:top]:
        null = r.get("null_purity@10")
        null_s = f"{null:7.2f}" if null is not None and np.isfinite(null) else "      -"
        lines.append(f"{r['concept'][:23]:<24}{r['neuron']:>7}{r['purity@10']:7.2f}{null_s}{r['base_rate']:7.2f}")
    lines.extend(family_counts(results["concepts"]))
    p = results["popularity"]
    if p["neuron"] is not None:
        for name, q in (("popularity neuron", p), ("most positive", p["positive"])):
            lines.append(f"{name} {q['neuron']}: Spearman {q['spearman']:+.2f}, top-{p['k']} items at "
                         f"popularity percentile {q['top_k_popularity_percentile']:.0f}")
    lines.append(f"monosemanticity score MS = {results['ms']['ms']:.3f}")
    return lines
