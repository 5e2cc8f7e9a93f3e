"""Sparse autoencoders over recommender embeddings: architectures, registry, trained SAEs."""
from jaxsae.sae.activations import relu, topk
from jaxsae.sae.config import PRESETS, SAETrainConfig, from_preset
from jaxsae.sae.matryoshka import MatryoshkaSAE
from jaxsae.sae.normalization import NormStats, denormalize_rows, normalize_rows
from jaxsae.sae.output import SAEOutput
from jaxsae.sae.registry import SAE_REGISTRY, make_sae
from jaxsae.sae.tied import TiedSAE
from jaxsae.sae.trained import TrainedSAE

__all__ = [
    "relu", "topk", "PRESETS", "SAETrainConfig", "from_preset", "MatryoshkaSAE", "NormStats",
    "denormalize_rows", "normalize_rows", "SAEOutput", "SAE_REGISTRY", "make_sae", "TiedSAE", "TrainedSAE",
]
