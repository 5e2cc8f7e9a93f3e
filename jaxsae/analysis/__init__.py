"""Reading the neurons: purity, the random-direction null, popularity and temporal
neurons, the monosemanticity score, neuron cards, the Matryoshka hierarchy; the supervised probe bound with
concept recall, the density of the code and the peer scores (point-biserial, TF-IDF).

Array functions over item activations `A [n_items, h]`; `analyze` runs them all for a trained SAE.
"""
from jaxsae.analysis.activations import (
    encoder_inputs, item_activations, prefixes, recommender_item_embeddings, user_activations,
)
from jaxsae.analysis.association import point_biserial, tfidf
from jaxsae.analysis.cards import neuron_cards
from jaxsae.analysis.concepts import (
    DEFAULT_KS, DEFAULT_NULL_SEEDS, NullPurity, base_rates, best_neurons, concept_table, popularity_analysis, purity_at_k,
    random_direction_null, restrict_items, support_mask, temporal_analysis, top_activations, top_item_mean,
)
from jaxsae.analysis.density import density
from jaxsae.analysis.hierarchy import concept_breadth, hierarchy
from jaxsae.analysis.monosemanticity import monosemanticity, monosemanticity_per_neuron
from jaxsae.analysis.probe import ProbeBound, is_clear, lda_directions, ledoit_wolf_shrinkage, probe_bound, recall
from jaxsae.analysis.suite import AnalysisConfig, analyze, analyze_arrays
from jaxsae.analysis.ranks import average_ranks, percentile_ranks, spearman

__all__ = [
    "encoder_inputs", "item_activations", "prefixes",
    "recommender_item_embeddings", "user_activations", "neuron_cards", "DEFAULT_KS", "NullPurity", "base_rates",
    "best_neurons", "concept_table", "popularity_analysis", "purity_at_k", "random_direction_null", "restrict_items",
    "support_mask", "temporal_analysis", "top_activations", "top_item_mean", "concept_breadth", "hierarchy",
    "monosemanticity", "monosemanticity_per_neuron", "AnalysisConfig", "analyze", "analyze_arrays",
    "average_ranks", "percentile_ranks", "spearman", "point_biserial", "tfidf", "DEFAULT_NULL_SEEDS", "density",
    "ProbeBound", "is_clear", "lda_directions", "ledoit_wolf_shrinkage", "probe_bound", "recall",
]
