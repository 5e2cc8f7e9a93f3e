"""The two-tower interface every recommender exposes to the SAE.

A `TwoTower` is a frozen recommender seen through its embeddings: user and item tables, per-id
biases, and a pure `score_fn(head, user_emb, item_emb) -> logits` on paired rows (plus an optional
cross form `[B_u, B_i]`). The full logit of (u, i) is
`global_bias + user_bias[u] + item_bias[i] + score_fn(head, user_emb[u], item_emb[i])`.
The SAE's prediction-aware loss calls `score`/`cross` on *reconstructed* embeddings, so they take
embeddings, not ids. Any model can be wrapped by giving its own `score_fn` and `head` params.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
from flax import struct
from jaxsae.errors import ConfigError

ScoreFn = Callable[[Any, jax.Array, jax.Array], jax.Array]


def dot_score(head: Any, user_emb: jax.Array, item_emb: jax.Array) -> jax.Array:
    """MF interaction on paired rows: `sum_k u_k i_k` -> `[B]`."""
    del head
    return jnp.sum(user_emb * item_emb, axis=-1)


def dot_cross(head: Any, user_emb: jax.Array, item_emb: jax.Array) -> jax.Array:
    """MF interaction for every (user, item) pair: `U I^T` -> `[B_u, B_i]`."""
    del head
    return user_emb @ item_emb.T


@struct.dataclass
class TwoTower:
    """A frozen two-tower recommender: embeddings, biases and a pure score function (a pytree)."""

    user_emb: jax.Array  # [n_users, d]
    item_emb: jax.Array  # [n_items, d]
    user_bias: jax.Array  # [n_users]
    item_bias: jax.Array  # [n_items]
    global_bias: jax.Array  # []
    head: Any  # frozen params of score_fn ({} for MF)
    score_fn: ScoreFn = struct.field(pytree_node=False)
    cross_fn: Optional[ScoreFn] = struct.field(pytree_node=False, default=None)
    kind: str = struct.field(pytree_node=False, default="custom")

    @classmethod
    def create(cls, user_emb: Any, item_emb: Any, score_fn: ScoreFn = dot_score, head: Any = None,
               cross_fn: Optional[ScoreFn] = None, user_bias: Any = None, item_bias: Any = None,
               global_bias: Any = 0.0, kind: str = "custom") -> "TwoTower":
        """Build from arrays; missing biases are zeros. `score_fn=dot_score` gives an MF scorer."""
        user_emb = jnp.asarray(user_emb, jnp.float32)
        item_emb = jnp.asarray(item_emb, jnp.float32)
        if user_emb.ndim != 2 or item_emb.ndim != 2 or user_emb.shape[1] != item_emb.shape[1]:

            raise ConfigError(
                f"user and item embeddings must be [n, d] with the same d, got {user_emb.shape} and {item_emb.shape}"
            )
        if cross_fn is None and score_fn is dot_score:
            cross_fn = dot_cross
        return cls(
            user_emb=user_emb,
            item_emb=item_emb,
            user_bias=jnp.zeros(user_emb.shape[0]) if user_bias is None else jnp.asarray(user_bias, jnp.float32).reshape(-1),
            item_bias=jnp.zeros(item_emb.shape[0]) if item_bias is None else jnp.asarray(item_bias, jnp.float32).reshape(-1),
            global_bias=jnp.asarray(global_bias, jnp.float32).reshape(()),
            head={} if head is None else head,
            score_fn=score_fn,
            cross_fn=cross_fn,
            kind=kind,
        )

    @property
    def n_users(self) -> int:
        return int(self.user_emb.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.item_emb.shape[0])

    @property
    def dim(self) -> int:
        return int(self.user_emb.shape[1])

    def score(self, user_emb: jax.Array, item_emb: jax.Array) -> jax.Array:
        """Interaction logits of paired rows `[B, d] x [B, d] -> [B]` (no biases)."""
        return self.score_fn(self.head, user_emb, item_emb)

    def cross(self, user_emb: jax.Array, item_emb: jax.Array) -> jax.Array:
        """Interaction logits of every pair `[B_u, d] x [B_i, d] -> [B_u, B_i]` (no biases)."""
        if self.cross_fn is not None:
            return self.cross_fn(self.head, user_emb, item_emb)
        n_i = item_emb.shape[0]

        def one_user(u: jax.Array) -> jax.Array:
            return self.score_fn(self.head, jnp.broadcast_to(u, (n_i, u.shape[-1])), item_emb)

        return jax.vmap(one_user)(user_emb)

    def logits(self, users: jax.Array, items: jax.Array,
               user_emb: Optional[jax.Array] = None, item_emb: Optional[jax.Array] = None) -> jax.Array:
        """Full logits of paired (user, item) ids `[B]`; embeddings may be replaced (e.g. reconstructions)."""
        u = self.user_emb[users] if user_emb is None else user_emb
        i = self.item_emb[items] if item_emb is None else item_emb
        return self.global_bias + self.user_bias[users] + self.item_bias[items] + self.score(u, i)

    def logits_cross(self, users: jax.Array, items: Optional[jax.Array] = None,
                     user_emb: Optional[jax.Array] = None, item_emb: Optional[jax.Array] = None) -> jax.Array:
        """Full logits `[B_u, B_i]` of users x items (all items when `items` is None)."""
        item_ids = jnp.arange(self.n_items) if items is None else items
        u = self.user_emb[users] if user_emb is None else user_emb
        i = self.item_emb[item_ids] if item_emb is None else item_emb
        bias = self.global_bias + self.user_bias[users][:, None] + self.item_bias[item_ids][None, :]
        return bias + self.cross(u, i)

    def fold_biases(self) -> "TwoTower":
        """MF only: embeddings `[p_u, 1, b_u]` and `[q_i, b_i, 1]` whose dot is the logit minus `b`.

        Only the biases the model has are folded: without item biases the `[1 | b_i]` pair is
        left out, without user biases the `[b_u | 1]` pair, so a bias-free model gets no constant columns."""
        if self.cross_fn is not dot_cross:

            raise ConfigError("fold_biases needs an MF (dot-product) recommender")
        ones_u = jnp.ones((self.n_users, 1))
        ones_i = jnp.ones((self.n_items, 1))
        u_cols, i_cols = [self.user_emb], [self.item_emb]
        if bool(jnp.any(self.item_bias != 0)):
            u_cols.append(ones_u)
            i_cols.append(self.item_bias[:, None])
        if bool(jnp.any(self.user_bias != 0)):
            u_cols.append(self.user_bias[:, None])
            i_cols.append(ones_i)
        return self.replace(
            user_emb=jnp.concatenate(u_cols, axis=1),
            item_emb=jnp.concatenate(i_cols, axis=1),
            user_bias=jnp.zeros_like(self.user_bias),
            item_bias=jnp.zeros_like(self.item_bias),
        )
