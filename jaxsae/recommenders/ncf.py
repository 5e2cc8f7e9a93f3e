"""Neural collaborative filtering: `concat(p_u, q_i) -> MLP [64, 32, 16] ReLU -> 1`, sigmoid.

Embeddings ~ N(0, 0.1^2); MLP kernels LeCun-normal, biases zero. The MLP params ("head") are a plain
dict `{"dense_0": {"kernel", "bias"}, ...}` so that `ncf_score(head, u, i)` is a pure function the
SAE's prediction-aware loss can call on reconstructed embeddings. NCF has no per-id biases: its
two-tower view has zero biases and the MLP's last bias plays the global bias.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxsae.recommenders._base import TwoTower

DEFAULT_HIDDEN: Tuple[int, ...] = (64, 32, 16)
CROSS_BLOCK = 16  # users per block of `ncf_cross`


def _layers(head: Mapping[str, Any]) -> list:
    """The head's layers in order (`dense_0`, `dense_1`, ...; numeric order, not string order)."""
    names = sorted(head, key=lambda k: int(k.rsplit("_", 1)[1]))
    return [head[k] for k in names]


def init_head(key: jax.Array, in_dim: int, hidden: Sequence[int]) -> dict:
    """MLP params `in_dim -> hidden... -> 1`: LeCun-normal kernels, zero biases."""
    sizes = [in_dim, *hidden, 1]
    keys = jax.random.split(key, len(sizes) - 1)
    init = nn.initializers.lecun_normal()
    return {
        f"dense_{n}": {"kernel": init(k, (a, b), jnp.float32), "bias": jnp.zeros((b,), jnp.float32)}
        for n, (k, a, b) in enumerate(zip(keys, sizes[:-1], sizes[1:]))
    }


def _mlp_tail(layers: list, x: jax.Array) -> jax.Array:
    """Apply layers[1:] to the first layer's pre-activation `x` (ReLU between layers, linear output)."""
    for layer in layers[1:]:
        x = jax.nn.relu(x) @ layer["kernel"] + layer["bias"]
    return x[..., 0]


def ncf_score(head: Mapping[str, Any], user_emb: jax.Array, item_emb: jax.Array) -> jax.Array:
    """NCF interaction logits of paired rows: `MLP(concat(u, i))` -> `[B]`."""
    layers = _layers(head)
    x = jnp.concatenate([user_emb, item_emb], axis=-1) @ layers[0]["kernel"] + layers[0]["bias"]
    return _mlp_tail(layers, x)


def ncf_cross(head: Mapping[str, Any], user_emb: jax.Array, item_emb: jax.Array) -> jax.Array:
    """NCF logits of every (user, item) pair `[B_u, B_i]`.

    The first layer splits: `concat(u, i) W0 = u W0[:d] + i W0[d:]`, so each side is projected once;
    users are processed in blocks (`lax.map`) so memory is O(block x B_i x width), not O(B_u x B_i x width).
    Blocks of `CROSS_BLOCK` users: on ML-1M (3,706 items, width 64) scoring 2,000 users took 0.9-1.1 CPU s
    in blocks of 16 against 1.2-1.5 s in blocks of 32 (the block's activations stay in cache).
    """
    layers = _layers(head)
    d = user_emb.shape[-1]
    w0 = layers[0]["kernel"]
    pu = user_emb @ w0[:d] + layers[0]["bias"]  # [B_u, h0]
    pi = item_emb @ w0[d:]  # [B_i, h0]

    def one_user(p: jax.Array) -> jax.Array:
        return _mlp_tail(layers, p[None, :] + pi)

    return jax.lax.map(one_user, pu, batch_size=min(CROSS_BLOCK, max(1, pu.shape[0])))


class NCF(nn.Module):
    """NCF over `n_users x n_items` with `dim`-dimensional embeddings and an MLP head of `hidden` widths."""

    n_users: int
    n_items: int
    dim: int
    hidden: Tuple[int, ...] = DEFAULT_HIDDEN
    init_std: float = 0.1

    def setup(self) -> None:
        init = nn.initializers.normal(stddev=self.init_std)
        self.user_emb = self.param("user_emb", init, (self.n_users, self.dim))
        self.item_emb = self.param("item_emb", init, (self.n_items, self.dim))
        self.head = self.param("head", init_head, 2 * self.dim, tuple(self.hidden))

    def __call__(self, users: jax.Array, items: jax.Array) -> jax.Array:
        """Logits `[B]` of paired ids."""
        return ncf_score(self.head, self.user_emb[users], self.item_emb[items])


def ncf_logits(params: Mapping[str, Any], users: jax.Array, items: jax.Array) -> jax.Array:
    """The NCF logit from a params dict (pure; what `NCF.__call__` computes)."""
    return ncf_score(params["head"], params["user_emb"][users], params["item_emb"][items])


def embedding_rows(params: Mapping[str, Any], users: jax.Array, items: jax.Array) -> list:
    """The per-row parameters an L2 penalty applies to: `p_u, q_i` (the MLP is not penalized)."""
    return [params["user_emb"][users], params["item_emb"][items]]


def to_two_tower(params: Mapping[str, Any]) -> TwoTower:
    """The frozen two-tower view: NCF tables, zero biases, `ncf_score`/`ncf_cross` on the MLP head."""
    params = params.get("params", params)
    return TwoTower.create(
        user_emb=params["user_emb"], item_emb=params["item_emb"], score_fn=ncf_score, cross_fn=ncf_cross,
        head=jax.tree_util.tree_map(jnp.asarray, params["head"]), kind="ncf",
    )
