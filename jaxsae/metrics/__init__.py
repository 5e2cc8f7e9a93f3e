"""Evaluation metrics: ranking quality (full ranking, chunked), SAE fidelity (RBO, Kendall tau, overlap), per-side
fidelity and the hidden-split leak check. Private modules: `_ranking`, `_fidelity`, `_sides`, `_leak`."""
from jaxsae.metrics._fidelity import (FIDELITY_MAX_USERS, all_positives_mask, fidelity_report, kendall_tau_union,
                                      masked_top_k_lists, overlap_at_depths, paper_fidelity, rbo, rbo_truncated,
                                      sample_users, top_k_lists, topk_overlap)
from jaxsae.metrics._leak import LEAK_RATIO, hidden_fit
from jaxsae.metrics._ranking import (SCORES_CHUNK_BYTES, evaluate_most_popular, evaluate_ranking,
                                     evaluate_shared_scores, evaluate_two_tower, hidden_ranks, metrics_from_ranks,
                                     most_popular_scores, scores_chunk, top_k, train_mask,
                                     train_pairs)
from jaxsae.metrics._sides import side_fidelity, side_fvu

__all__ = [
    "FIDELITY_MAX_USERS", "all_positives_mask", "fidelity_report", "kendall_tau_union", "masked_top_k_lists",
    "overlap_at_depths", "paper_fidelity", "rbo", "rbo_truncated", "sample_users", "top_k_lists", "topk_overlap",
    "LEAK_RATIO", "hidden_fit", "SCORES_CHUNK_BYTES", "evaluate_most_popular", "evaluate_ranking",
    "evaluate_shared_scores", "evaluate_two_tower", "hidden_ranks", "metrics_from_ranks", "most_popular_scores",
    "scores_chunk", "top_k", "train_mask", "train_pairs", "side_fidelity", "side_fvu",
]
