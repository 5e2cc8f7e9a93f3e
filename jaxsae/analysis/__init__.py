"""Reading the neurons: purity, the random-direction null, popularity and temporal
neurons, the monosemanticity score, neuron cards, the Matryoshka hierarchy; the supervised probe bound with
concept recall, the density of the code and the peer scores (point-biserial, TF-IDF).

Array functions over item activations `A [n_items, h]`; `analyze` runs them all for a trained SAE.
"""
from jaxsae.analysis.activations import (
    encoder_inputs, item_activations, prefixes, recommender_item_embeddings, user_activations,
)
from jaxsae.analysis._association import point_biserial, tfidf
from jaxsae.analysis._cards import neuron_cards
from jaxsae.analysis._concepts import (
    DEFAULT_KS, DEFAULT_NULL_SEEDS, NullPurity, base_rates, best_neurons, concept_table, popularity_analysis, purity_at_k,
    random_direction_null, restrict_items, support_mask, temporal_analysis, top_activations, top_item_mean,
)
from jaxsae.analysis._density import density
from jaxsae.analysis._hierarchy import concept_breadth, hierarchy
from jaxsae.analysis._monosemanticity import monosemanticity, monosemanticity_per_neuron
from jaxsae.analysis._probe import ProbeBound, is_clear, lda_directions, ledoit_wolf_shrinkage, probe_bound, recall
from jaxsae.analysis._suite import AnalysisConfig, analyze, analyze_arrays
from jaxsae.analysis._ranks import average_ranks, percentile_ranks, spearman
from jaxsae.analysis._hierarchy import CONTENT_FAMILIES, content_concepts
from jaxsae.analysis._suite import bound_lines, family_counts, summary_lines

__all__ = [
    "CONTENT_FAMILIES", "content_concepts", "bound_lines", "family_counts", "summary_lines", "encoder_inputs",
    "item_activations", "prefixes", "recommender_item_embeddings", "user_activations", "neuron_cards", "DEFAULT_KS",
    "NullPurity", "base_rates", "best_neurons", "concept_table", "popularity_analysis", "purity_at_k",
    "random_direction_null", "restrict_items", "support_mask", "temporal_analysis", "top_activations",
    "top_item_mean", "concept_breadth", "hierarchy", "monosemanticity", "monosemanticity_per_neuron",
    "AnalysisConfig", "analyze", "analyze_arrays", "average_ranks", "percentile_ranks", "spearman",
    "point_biserial", "tfidf", "DEFAULT_NULL_SEEDS", "density", "ProbeBound", "is_clear", "lda_directions",
    "ledoit_wolf_shrinkage", "probe_bound", "recall",
]
