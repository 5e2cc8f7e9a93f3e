"""Sparse autoencoders over recommender embeddings: architectures, their registry, the run config, the parameter
layout and trained SAEs."""
from jaxsae.sae._activations import relu, topk
from jaxsae.sae._config import (PRESETS, ReferenceSwitches, SAEArchitecture, SAEObjective, SAETrainConfig, SAETraining,
                               from_preset)
from jaxsae.sae._matryoshka import MatryoshkaSAE
from jaxsae.sae._normalization import NormStats, denormalize_rows, normalize_rows
from jaxsae.sae._output import SAEOutput
from jaxsae.sae._params import init_sae_params, side_params
from jaxsae.sae._registry import SAE_REGISTRY, make_sae, register_sae
from jaxsae.sae._tied import TiedSAE
from jaxsae.sae._trained import TrainedSAE
from jaxsae.sae._activations import get_activation
from jaxsae.sae._balance import BALANCE_KEY, balances, sae_input_space, side_factor, stored_factor
from jaxsae.sae._batchtopk import batch_cutoff, batch_topk, firing_rates, updated_thresholds
from jaxsae.sae._config import FIELDS, PRED_LOSSES
from jaxsae.sae._memory import check_fits, estimate_bytes
from jaxsae.sae._params import SHARED, is_shared, n_saes
from jaxsae.sae._registry import BATCH_SAES, SPARSE_K_SAES
from jaxsae.sae._trained import side_module

__all__ = [
    "get_activation", "BALANCE_KEY", "balances", "sae_input_space", "side_factor", "stored_factor", "batch_cutoff",
    "batch_topk", "firing_rates", "updated_thresholds", "FIELDS", "PRED_LOSSES", "check_fits", "estimate_bytes",
    "SHARED", "is_shared", "n_saes", "BATCH_SAES", "SPARSE_K_SAES", "side_module", "relu", "topk", "PRESETS",
    "ReferenceSwitches", "SAEArchitecture", "SAEObjective", "SAETrainConfig", "SAETraining", "from_preset",
    "MatryoshkaSAE", "NormStats", "denormalize_rows", "normalize_rows", "SAEOutput", "init_sae_params",
    "side_params", "SAE_REGISTRY", "make_sae", "register_sae", "TiedSAE", "TrainedSAE",
]
