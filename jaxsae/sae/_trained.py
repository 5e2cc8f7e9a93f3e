"""`TrainedSAE`: a trained SAE together with the recommender input space it reads.

This is what analysis and interventions code against: activations of items and users, decoding
edited latents with each entity's own row statistics, and the recommender rebuilt from
reconstructions. `input_two_tower` is the `TwoTower` whose embeddings the SAE sees (bias-folded when
trained with `fold_biases`; its logits equal the original recommender's).
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Optional, Tuple

import jax
import jax.numpy as jnp
import flax.linen as nn
import numpy as np

from jaxsae.recommenders import TwoTower
from jaxsae.sae._normalization import NormStats
from jaxsae.sae._output import SAEOutput
from jaxsae.sae._params import SIDES, side_params

if TYPE_CHECKING:  # pragma: no cover
    from jaxsae.sae._config import SAETrainConfig


def side_module(module: nn.Module, config: Any, side: str) -> nn.Module:
    """`module`, or for users of a TopK SAE trained with `k_user` the same module with k = k_user
    (same parameters: a shared SAE, only the number of active latents per row differs)."""
    k_user = getattr(config, "k_user", None)
    if side == "user" and k_user is not None and int(k_user) != int(getattr(module, "k", 0)):
        return module.clone(k=int(k_user))
    return module


@dataclasses.dataclass(frozen=True)
class TrainedSAE:
    """SAE module + params + training config + the `TwoTower` whose embeddings it encodes."""

    module: nn.Module  # flax module (encode / decode / __call__)
    params: Any  # the layout of jaxsae.sae._params: {"shared": p} or {"user": p, "item": p}
    config: "SAETrainConfig"  # how it was trained
    input_two_tower: TwoTower  # the SAE's input space (bias-folded when config.fold_biases)
    heldout_users: np.ndarray  # users never trained on (fidelity, audiences)
    # side balancing (jaxsae.sae._balance); input_two_tower is already the balanced space
    balance_factor: float = 1.0  # c: SAE user rows = c * recommender user factors, item rows = factors / c
    factor_dim: Optional[int] = None  # d of the recommender's own factors (the columns before folded biases)

    @property
    def latents(self) -> int:
        """Number of latents h."""
        return int(self.module.h)

    @property
    def dim(self) -> int:
        """Input dimension d (d + 2 with folded biases)."""
        return int(self.module.d)

    def side_params(self, side: str) -> Any:
        """Parameters of the SAE that encodes `side` ("user" or "item"; the same for a shared SAE)."""
        return side_params(self.params, side)

    def side_module(self, side: str) -> nn.Module:
        """The module that encodes `side`: a TopK SAE with `k_user` encodes users with that many latents."""
        return side_module(self.module, self.config, side)

    def encode(self, x: jax.Array, side: str = "item") -> Tuple[jax.Array, NormStats]:
        """Latents `z [B, h]` of input-space rows `x [B, d]` and their row statistics."""
        return self.side_module(side).apply({"params": self.side_params(side)}, jnp.asarray(x, jnp.float32), method="encode")

    def decode(self, z: jax.Array, stats: NormStats, side: str = "item") -> jax.Array:
        """Input-space rows `[B, d]` from latents (edited or not) and the rows' own statistics."""
        return self.module.apply({"params": self.side_params(side)}, jnp.asarray(z, jnp.float32), stats,
                                 method="decode")

    def forward(self, x: jax.Array, side: str = "item") -> SAEOutput:
        """Full forward pass (`z`, `x_hat`, `x_hat_levels`, `stats`)."""
        return self.side_module(side).apply({"params": self.side_params(side)}, jnp.asarray(x, jnp.float32))

    def encode_items(self) -> Tuple[jax.Array, NormStats]:
        """Activations of every item `[n_items, h]` (the concept analysis' `A`) and their statistics."""
        return self.encode(self.input_two_tower.item_emb, side="item")

    def encode_users(self) -> Tuple[jax.Array, NormStats]:
        """Activations of every user `[n_users, h]` and their statistics."""
        return self.encode(self.input_two_tower.user_emb, side="user")

    def reconstructed_two_tower(self) -> TwoTower:
        """`input_two_tower` with every user and item embedding replaced by its SAE reconstruction."""
        zu, su = self.encode_users()
        zi, si = self.encode_items()
        return self.input_two_tower.replace(user_emb=self.decode(zu, su, side="user"),
                                            item_emb=self.decode(zi, si, side="item"))
