"""What the analyses read from a trained SAE: activations, its input space, and the recommender's items.

`TrainedSAE` (jaxsae.sae._trained) holds the module, parameters and the two-tower whose embeddings it
encodes (bias-folded when trained with `fold_biases`). These helpers turn it into plain arrays, so the
analysis functions stay functions of arrays.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

import jax.numpy as jnp
import numpy as np

from jaxsae.sae import normalize_rows


def item_activations(sae: Any) -> np.ndarray:
    """`A [n_items, h]`: every item's latents."""
    return np.asarray(sae.encode_items()[0], np.float32)


def user_activations(sae: Any) -> np.ndarray:
    """`[n_users, h]`: every user's latents."""
    return np.asarray(sae.encode_users()[0], np.float32)


def encoder_inputs(sae: Any, x: Any) -> np.ndarray:
    """Rows `x` as the SAE's encoder sees them: after its row normalization `(x - mean) / (std + eps)`
    when the SAE normalizes, unchanged otherwise. The random-direction null lives in this space."""
    x = jnp.asarray(x, jnp.float32)
    module = sae.module
    if getattr(module, "normalize", False):
        x = normalize_rows(x, float(getattr(module, "eps", 1e-5)), int(getattr(module, "ddof", 0)))[0]
    return np.asarray(x)


def recommender_item_embeddings(sae: Any) -> np.ndarray:
    """The recommender's own item embeddings `q_i` (the folded bias columns `[b_i, 1]` removed), which
    the monosemanticity score compares by cosine similarity."""
    emb = np.asarray(sae.input_two_tower.item_emb, np.float32)
    factor_dim = getattr(sae, "factor_dim", None)
    if factor_dim is not None:
        return emb[:, :factor_dim]
    return emb[:, :-2] if getattr(sae.config, "fold_biases", False) else emb


def prefixes(sae: Any) -> Optional[Tuple[int, ...]]:
    """The Matryoshka prefixes `m_1 < ... < m_L = h` of the SAE, or None for a flat SAE."""
    p = tuple(getattr(sae.module, "prefixes", ()) or ())
    return p or None
