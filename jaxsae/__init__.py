"""jaxsae: monosemantic neurons in recommender systems with prediction-aware sparse autoencoders.

The public face: re-exported names only. Data flows `data_prep` -> recommenders -> SAE -> analysis
and interventions (see docs/ARCHITECTURE.md).
"""
from data_prep.dataset import InteractionData, RawDataset
from jaxsae.errors import CheckpointError, ConfigError, JaxsaeError, TrainingDivergedError
from jaxsae.recommenders import MF, NCF, TwoTower, dot_cross, dot_score, load_two_tower, ncf_score
from jaxsae.sae import SAE_REGISTRY, MatryoshkaSAE, SAEOutput, SAETrainConfig, TiedSAE, TrainedSAE, make_sae
from jaxsae.training.rec import RecConfig, load_recommender, train_recommender
from jaxsae.training.sae import load_sae, train_sae
from jaxsae.metrics import evaluate_ranking, evaluate_two_tower, fidelity_report, kendall_tau_union, rbo
from jaxsae.analysis import (analyze, monosemanticity, popularity_analysis, purity_at_k, random_direction_null,
                             temporal_analysis)
from jaxsae.interventions import Steerer

__version__ = "0.1.0"

__all__ = [
    "InteractionData", "RawDataset", "JaxsaeError", "ConfigError", "CheckpointError", "TrainingDivergedError",
    "MF", "NCF", "TwoTower", "dot_cross", "dot_score", "load_two_tower", "ncf_score",
    "SAE_REGISTRY", "MatryoshkaSAE", "SAEOutput", "SAETrainConfig", "TiedSAE", "TrainedSAE", "make_sae",
    "RecConfig", "load_recommender", "train_recommender", "load_sae", "train_sae",
    "evaluate_ranking", "evaluate_two_tower", "fidelity_report", "kendall_tau_union", "rbo",
    "analyze", "monosemanticity", "popularity_analysis", "purity_at_k", "random_direction_null",
    "temporal_analysis", "Steerer", "__version__",
]
