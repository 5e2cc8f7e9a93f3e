"""Biased matrix factorization: `logit(u, i) = b + b_u + b_i + p_u . q_i`, probability = sigmoid.

The paper's ML-1M recommender (d=20). Parameters are plain tables so the two-tower view is exact:
`to_two_tower(params)` hands the SAE the user/item tables, the biases and the dot-product scorer.
"""
from __future__ import annotations

from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxsae.recommenders._base import TwoTower, dot_cross, dot_score


class MF(nn.Module):
    """Biased MF over `n_users x n_items` with `dim`-dimensional factors.

    Params: `user_emb [n_users, dim]`, `item_emb [n_items, dim]` ~ N(0, init_std^2); `user_bias`,
    `item_bias`, `global_bias` start at zero.
    """

    n_users: int
    n_items: int
    dim: int
    init_std: float = 0.1

    def setup(self) -> None:
        init = nn.initializers.normal(stddev=self.init_std)
        self.user_emb = self.param("user_emb", init, (self.n_users, self.dim))
        self.item_emb = self.param("item_emb", init, (self.n_items, self.dim))
        self.user_bias = self.param("user_bias", nn.initializers.zeros, (self.n_users,))
        self.item_bias = self.param("item_bias", nn.initializers.zeros, (self.n_items,))
        self.global_bias = self.param("global_bias", nn.initializers.zeros, ())

    def __call__(self, users: jax.Array, items: jax.Array) -> jax.Array:
        """Logits `[B]` of paired ids: `b + b_u + b_i + sum_k p_uk q_ik`."""
        return mf_logits(
            {"user_emb": self.user_emb, "item_emb": self.item_emb, "user_bias": self.user_bias,
             "item_bias": self.item_bias, "global_bias": self.global_bias},
            users, items,
        )


def mf_logits(params: Mapping[str, Any], users: jax.Array, items: jax.Array) -> jax.Array:
    """The MF logit from a params dict (pure; what `MF.__call__` computes)."""
    u = params["user_emb"][users]
    i = params["item_emb"][items]
    return (params["global_bias"] + params["user_bias"][users] + params["item_bias"][items]
            + jnp.sum(u * i, axis=-1))


def embedding_rows(params: Mapping[str, Any], users: jax.Array, items: jax.Array) -> list:
    """The per-row parameters an L2 penalty applies to: `p_u, q_i, b_u, b_i` (the paper's SGD regularizer)."""
    return [params["user_emb"][users], params["item_emb"][items],
            params["user_bias"][users][:, None], params["item_bias"][items][:, None]]


def to_two_tower(params: Mapping[str, Any]) -> TwoTower:
    """The frozen two-tower view of trained MF params (dot-product score and cross, biases kept)."""
    params = params.get("params", params)
    return TwoTower.create(
        user_emb=params["user_emb"], item_emb=params["item_emb"], score_fn=dot_score, cross_fn=dot_cross,
        user_bias=params["user_bias"], item_bias=params["item_bias"], global_bias=params["global_bias"],
        kind="mf",
    )
