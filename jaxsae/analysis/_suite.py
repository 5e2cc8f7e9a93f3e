"""The whole concept analysis of one trained SAE: what `jaxsae analyze` writes.

`analyze_arrays` combines the array functions of this package into the JSON documents of
`RUN/analysis/` (docs/ARCHITECTURE.md); `analyze` feeds it from a `TrainedSAE` and `InteractionData`.
`bound.json` measures the SAE against what is there to find: the supervised probe bound per concept
(`jaxsae.analysis._probe`), concept recall, and the density of the code (`jaxsae.analysis._density`).
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from jaxsae.analysis import activations as act
from jaxsae.analysis._association import point_biserial, tfidf
from jaxsae.analysis._cards import LABEL_THRESHOLD, neuron_cards
from jaxsae.analysis._concepts import (
    DEFAULT_KS, DEFAULT_NULL_SEEDS, SELECT_K, NullPurity, concept_table, popularity_analysis, purity_at_k,
    random_direction_null, restrict_items, support_mask, temporal_analysis,
)
from jaxsae.analysis._density import density
from jaxsae.analysis._hierarchy import CONTENT_FAMILIES, hierarchy
from jaxsae.analysis._probe import CLEAR_MARGIN, CLEAR_PURITY, is_clear, probe_bound, recall
from jaxsae.analysis._monosemanticity import TOP_N, monosemanticity
from jaxsae.errors import ConfigError

OUTPUTS = ("concepts", "neurons", "popularity", "temporal", "ms", "hierarchy", "bound")


@dataclasses.dataclass(frozen=True)
class AnalysisConfig:
    """Options of `jaxsae analyze`."""

    OPTION_ALIASES: ClassVar[Mapping[str, Tuple[str, ...]]] = {"ks": ("k",)}  # `--k 5,10,20,50`

    ks: Tuple[int, ...] = DEFAULT_KS  # purity is reported at each K; must include 10 (the selection K)
    null_seeds: int = DEFAULT_NULL_SEEDS  # seeds of the random-direction null (0: no null, its columns are null)
    min_support: int = 0  # only items with >= this many training interactions are ranked (--min-support)
    top_items: int = 10  # items listed on each neuron card
    popularity_k: int = 10  # top-K items whose mean popularity percentile is reported
    ms_top_n: int = TOP_N  # top items per neuron in the monosemanticity score (the definition: 30)
    hierarchy_k: int = 10  # top-K items per neuron in the Matryoshka hierarchy
    label_threshold: float = LABEL_THRESHOLD  # purity@10 from which a neuron is labeled with its concept
    probe_splits: int = 5  # seeded half splits of the supervised probe bound (0: no probe, its columns are null)
    probe_seed: int = 0  # split s draws its halves with seed probe_seed + s
    probe_shrinkage: str = "auto"  # shrunk LDA: "auto" (Ledoit-Wolf, estimated on each fitting half) or a fixed value in [0, 1]

    def __post_init__(self) -> None:
        ks = tuple(int(k) for k in self.ks)
        object.__setattr__(self, "ks", ks)
        if not ks or any(k < 1 for k in ks) or any(b <= a for a, b in zip(ks, ks[1:])):
            raise ConfigError(f"--k must be increasing positive integers, got {list(ks)}")
        if SELECT_K not in ks:
            raise ConfigError(f"--k must include {SELECT_K} (best neurons are chosen by purity@{SELECT_K}), got {list(ks)}")
        shrink = str(self.probe_shrinkage)
        object.__setattr__(self, "probe_shrinkage", shrink)
        if shrink != "auto":
            try:
                ok = 0.0 <= float(shrink) <= 1.0
            except ValueError:
                ok = False
            if not ok:
                raise ConfigError(f"probe_shrinkage must be 'auto' or a number in [0, 1], got {shrink!r}")
        for name in ("null_seeds", "min_support", "probe_splits"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("top_items", "popularity_k", "ms_top_n", "hierarchy_k"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.label_threshold <= 1.0:
            raise ConfigError(f"label_threshold must be in [0, 1], got {self.label_threshold}")


def analyze_arrays(item_acts: np.ndarray, encoder_inputs: np.ndarray, rec_item_emb: np.ndarray, data: Any,
                   config: AnalysisConfig = AnalysisConfig(),
                   prefixes: Optional[Sequence[int]] = None,
                   user_acts: Optional[np.ndarray] = None) -> Dict[str, Any]:
    """All analyses from arrays: `item_acts [n_items, h]`, the items as the encoder sees them
    `[n_items, d]` (for the null and the probe), the recommender's item embeddings (for MS), the dataset's
    concepts, popularity, years and titles, and optionally `user_acts [n_users, h]` (user density).
    Returns `{name: JSON document}` for `OUTPUTS` (`hierarchy` is None unless `prefixes` are given)."""
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
    bound = _bound(rows, a, encoder_inputs, concepts, data.concept_families, config, mask, h)
    bound["density"] = density(item_acts if mask is None else item_acts[mask], user_acts)
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
        "bound": bound,
    }


def _bound(rows: Sequence[Dict[str, Any]], a: np.ndarray, x: np.ndarray, concepts: np.ndarray,
           families: Sequence[str], config: AnalysisConfig, mask: Optional[np.ndarray], h: int) -> Dict[str, Any]:
    """Adds the clear flags, the probe bound and the peer scores to the concept `rows` (in place) and
    returns the `bound.json` summary (recall over the content families, genre and tag, when there are any)."""
    p10 = np.array([r["purity@10"] for r in rows], np.float64)
    null10 = np.array([r["null_purity@10"] for r in rows], np.float64)
    sae_clear = is_clear(p10, null10)
    probe = None
    if config.probe_splits > 0 and config.null_seeds > 0:
        probe = probe_bound(x, concepts, h, config.probe_splits, config.probe_seed, _shrinkage(config),
                            config.null_seeds, SELECT_K, mask)
    m = np.ones(a.shape[0], bool) if mask is None else np.asarray(mask, bool)
    pb = point_biserial(a[m], concepts[m])  # [h, C]
    hits10 = np.asarray(purity_at_k(a, concepts, (SELECT_K,)))[0] * SELECT_K
    n2c, c2n = tfidf(hits10)
    for ci, r in enumerate(rows):
        n = r["neuron"]
        r["sae_clear"] = bool(sae_clear[ci])
        r["probe_purity@10"] = float(probe.purity[:, ci].mean()) if probe is not None else None
        r["probe_null@10"] = float(probe.null[:, ci].mean()) if probe is not None else None
        r["probe_clear_fraction"] = float(probe.clear_fraction[ci]) if probe is not None else None
        r["probe_clear"] = bool(probe.probe_clear[ci]) if probe is not None else None
        r["point_biserial"] = float(pb[n, ci])
        r["point_biserial_max"] = float(pb[:, ci].max()) if h else 0.0
        r["point_biserial_neuron"] = int(np.argmax(pb[:, ci])) if h else -1
        r["tfidf_neuron_to_concept"] = float(n2c[n, ci])
        r["tfidf_concept_to_neuron"] = float(c2n[n, ci])
        r["tfidf_neuron"] = int(np.argmax(c2n[:, ci])) if h else -1
    content = np.array([f in CONTENT_FAMILIES for f in families], bool)
    keep = content if content.any() else np.ones(len(rows), bool)
    out: Dict[str, Any] = {
        "clear_purity": CLEAR_PURITY, "clear_margin": CLEAR_MARGIN, "null_seeds": config.null_seeds,
        "null_se@10_mean": float(np.nanmean([r["null_se@10"] for r in rows])) if rows and config.null_seeds > 1 else None,
        "null_se@10_max": float(np.nanmax([r["null_se@10"] for r in rows])) if rows and config.null_seeds > 1 else None,
        "families": sorted({f for f, k in zip(families, keep) if k}),
        "probe": None if probe is None else {"splits": config.probe_splits, "seed": config.probe_seed,
                                             "shrinkage": config.probe_shrinkage, "k": SELECT_K},
    }
    out.update(recall(sae_clear, probe.probe_clear if probe is not None else np.zeros(len(rows), bool), keep))
    if probe is None:
        out["probe_clear"] = out["sae_clear_among_probe_clear"] = out["concept_recall"] = None
    return out


def _shrinkage(config: AnalysisConfig) -> "str | float":
    return "auto" if config.probe_shrinkage == "auto" else float(config.probe_shrinkage)


def analyze(sae: Any, data: Any, config: AnalysisConfig = AnalysisConfig()) -> Dict[str, Any]:
    """`analyze_arrays` for a `TrainedSAE` and the `InteractionData` it was trained on."""
    if sae.input_two_tower.n_items != data.n_items:
        raise ConfigError(f"the SAE's recommender has {sae.input_two_tower.n_items} items but the data has {data.n_items}")
    return analyze_arrays(act.item_activations(sae), act.encoder_inputs(sae, sae.input_two_tower.item_emb),
                          act.recommender_item_embeddings(sae), data, config, act.prefixes(sae),
                          user_acts=act.user_activations(sae))


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
    lines.extend(bound_lines(results.get("bound")))
    return lines


def bound_lines(bound: Optional[Dict[str, Any]]) -> Sequence[str]:
    """The `bound.json` digest: clear concepts, the probe bound and recall, and the density of the code."""
    if not bound:
        return []
    fams = "/".join(bound["families"])
    lines = [f"clear {fams} concepts (purity@10 >= {bound['clear_purity']:g}, >= {bound['clear_margin']:g} above "
             f"the {bound['null_seeds']}-seed null): SAE {bound['sae_clear']}"]
    if bound.get("probe_clear") is not None:
        rec = bound["concept_recall"]
        lines[-1] += (f", probe-clear {bound['probe_clear']}, SAE-clear among them "
                      f"{bound['sae_clear_among_probe_clear']} (concept recall "
                      f"{'n/a' if rec is None else f'{rec:.0%}'})")
    dn = bound.get("density")
    if dn:
        users = "" if dn["user_density"] is None else f", per user {dn['user_density']:.3f}"
        lines.append(f"density: active latents per item / h {dn['item_density']:.3f}{users}; dead {dn['n_dead']}, "
                     f"dense (> {dn['dense_fraction']:.0%} of items) {dn['n_dense']} of {dn['latents']}")
    return lines
