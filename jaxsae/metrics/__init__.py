"""Evaluation metrics: ranking quality and SAE fidelity."""
from jaxsae.metrics.ranking import (  # noqa: F401
    evaluate_most_popular,
    evaluate_ranking,
    evaluate_two_tower,
    hidden_ranks,
    metrics_from_ranks,
    most_popular_scores,
    top_k,
)
from jaxsae.metrics.fidelity import (  # noqa: F401,E402
    fidelity_report,
    kendall_tau_union,
    rbo,
    rbo_truncated,
    topk_overlap,
)
