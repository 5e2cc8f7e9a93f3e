"""Sparse autoencoders over recommender embeddings: architectures, their registry, the run config, the parameter
layout and trained SAEs."""
from jaxsae.sae.activations import relu, topk
from jaxsae.sae.config import (PRESETS, ReferenceSwitches, SAEArchitecture, SAEObjective, SAETrainConfig, SAETraining,
                               from_preset)
from jaxsae.sae.matryoshka import MatryoshkaSAE
from jaxsae.sae.normalization import NormStats, denormalize_rows, normalize_rows
from jaxsae.sae.output import SAEOutput
from jaxsae.sae.params import init_sae_params, side_params
from jaxsae.sae.registry import SAE_REGISTRY, make_sae, register_sae
from jaxsae.sae.tied import TiedSAE
from jaxsae.sae.trained import TrainedSAE

__all__ = [
    "relu", "topk", "PRESETS", "ReferenceSwitches", "SAEArchitecture", "SAEObjective", "SAETrainConfig", "SAETraining",
    "from_preset", "MatryoshkaSAE", "NormStats", "denormalize_rows", "normalize_rows", "SAEOutput", "init_sae_params",
    "side_params", "SAE_REGISTRY", "make_sae", "register_sae", "TiedSAE", "TrainedSAE",
]
