"""Steering the recommender through SAE neurons: the steering math apart from its experiments.

`jaxsae.interventions._steer` holds the math (latent edits, steered rows, `Steerer`'s jitted score
functions); `filter`, `nudge` and `promote` the experiments behind `jaxsae intervene`, `benchmark` the steering
benchmark against steering without an SAE (label boosting, popularity down-weighting), which return the
dicts written to `RUN/interventions/*.json`; `common` what they share. The public names are re-exported
here, so `from jaxsae.interventions import X` works for each of them.
"""
from __future__ import annotations

from typing import List

from jaxsae.interventions._benchmark import (BENCHMARK_LEVELS, LABEL_LAMBDAS, LONG_TAIL_HEAD, POPULARITY_LAMBDAS,
                                           POPULARITY_LEVELS, concept_benchmark, concept_fans, gini, label_scores,
                                           long_tail_coverage, long_tail_mask, ndcg_at_k, popularity_benchmark,
                                           popularity_neuron, redistribute, segment_recall)
from jaxsae.interventions._common import (N_SAMPLES, activation_scale, baseline_top, concept_neuron, concept_share,
                                        file_stem, level_scale, resolve_item, sample_lists, select_audience)
from jaxsae.interventions._filter import (FILTER_DECAY, FILTER_DEPTH, FILTER_LEVELS, FILTER_METHODS,
                                        FILTER_MIN_REST_RBO, FILTER_RIDGE, FILTER_TARGET, concept_candidates,
                                        filter_experiment, filter_neurons, filter_separation, filter_weights,
                                        headline_index, item_filter_neurons, redistribute_away, removal,
                                        removal_auc)
from jaxsae.interventions._nudge import NUDGE_LEVELS, nudge_experiment
from jaxsae.interventions._promote import PROMOTE_LEVELS, item_neuron, promote_experiment
from jaxsae.interventions._steer import (ADD, MODES, OPS, SCALE, SET, LatentEdit, Steerer, apply_edit, latent_edit,
                                       no_edit, steer_rows)

__all__: List[str] = [
    "MODES", "OPS", "LatentEdit", "latent_edit", "no_edit", "apply_edit", "steer_rows", "Steerer",
    "resolve_item", "concept_share", "baseline_top", "activation_scale", "level_scale", "select_audience", "filter_separation", "filter_neurons",
    "concept_candidates", "filter_weights", "item_filter_neurons", "headline_index", "removal", "removal_auc",
    "filter_experiment", "redistribute_away",
    "nudge_experiment", "promote_experiment", "item_neuron", "concept_neuron", "file_stem", "sample_lists", "N_SAMPLES",
    "SET", "ADD", "SCALE", "FILTER_LEVELS", "FILTER_METHODS", "FILTER_TARGET", "FILTER_MIN_REST_RBO", "FILTER_DEPTH", "FILTER_DECAY",
    "FILTER_RIDGE", "NUDGE_LEVELS", "PROMOTE_LEVELS", "BENCHMARK_LEVELS", "LABEL_LAMBDAS", "LONG_TAIL_HEAD",
    "POPULARITY_LAMBDAS", "POPULARITY_LEVELS", "concept_benchmark", "concept_fans", "gini", "label_scores",
    "long_tail_coverage", "long_tail_mask", "ndcg_at_k", "popularity_benchmark", "popularity_neuron",
    "redistribute", "segment_recall",
]
