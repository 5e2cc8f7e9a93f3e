"""jaxsae: monosemantic neurons in recommender systems with prediction-aware sparse autoencoders.

The public face of the pure library (arrays and dataclasses in, arrays out); the application that knows run
directories is `jaxsae.app` (the `jaxsae` command). A custom training loop needs nothing else:

    config = SAETrainConfig(sae="topk", latents=64, k=8)
    state = init_state(jax.random.PRNGKey(config.seed), config, recommender.dim)
    step = jax.jit(train_step, static_argnames="config")
    for users, items in zip(*batch_indices(train_users, recommender.n_items, config.seed, 0, 1000, 256)):
        state, metrics = step(state, SAEBatch.of(recommender, users, items), recommender, config=config)

Data flows `data_prep` -> recommenders -> SAE -> analysis, selection and interventions (docs/ARCHITECTURE.md).
"""
from data_prep.dataset import InteractionData, RawDataset
from jaxsae.errors import CheckpointError, ConfigError, JaxsaeError, TrainingDivergedError
from jaxsae.losses import (LossWeights, embedding_loss, kl_sparsity, l1_sparsity, listwise_kl, mf_pred_loss,
                           paired_pred_loss, total_loss)
from jaxsae.recommenders import MF, NCF, TwoTower, dot_cross, dot_score, load_two_tower, ncf_score
from jaxsae.sae import (SAE_REGISTRY, MatryoshkaSAE, ReferenceSwitches, SAEArchitecture, SAEObjective, SAEOutput,
                        SAETrainConfig, SAETraining, TiedSAE, TrainedSAE, from_preset, make_sae, register_sae)
from jaxsae.sae import sae_input_space
from jaxsae.training.rec import RecConfig, load_recommender, train_recommender
from jaxsae.training.sae import (SAEBatch, SAEState, batch_indices, build_sae, heldout_split, init_state, load_sae,
                                 loss_weights, sae_loss, train_sae, train_step)
from jaxsae.metrics import evaluate_ranking, evaluate_two_tower, fidelity_report, kendall_tau_union, rbo
from jaxsae.analysis import (analyze, monosemanticity, popularity_analysis, purity_at_k, random_direction_null,
                             temporal_analysis)
from jaxsae.interventions import Steerer

__version__ = "0.1.0"

__all__ = [
    "InteractionData", "RawDataset", "JaxsaeError", "ConfigError", "CheckpointError", "TrainingDivergedError",
    "LossWeights", "embedding_loss", "kl_sparsity", "l1_sparsity", "listwise_kl", "mf_pred_loss", "paired_pred_loss",
    "total_loss",
    "MF", "NCF", "TwoTower", "dot_cross", "dot_score", "load_two_tower", "ncf_score",
    "SAE_REGISTRY", "MatryoshkaSAE", "ReferenceSwitches", "SAEArchitecture", "SAEObjective", "SAEOutput",
    "SAETrainConfig", "SAETraining", "TiedSAE", "TrainedSAE", "from_preset", "make_sae", "register_sae",
    "sae_input_space",
    "RecConfig", "load_recommender", "train_recommender",
    "SAEBatch", "SAEState", "batch_indices", "build_sae", "heldout_split", "init_state", "load_sae", "loss_weights",
    "sae_loss", "train_sae", "train_step",
    "evaluate_ranking", "evaluate_two_tower", "fidelity_report", "kendall_tau_union", "rbo",
    "analyze", "monosemanticity", "popularity_analysis", "purity_at_k", "random_direction_null",
    "temporal_analysis", "Steerer", "__version__",
]
