"""The steering math: latent edits, steered rows and the jitted steered-score functions of `Steerer`.

An *edit* changes one latent of chosen users or items: `set` it to a value, `add` a value, or `scale`
it. The edited latents are decoded with that entity's own row-normalization statistics and the result
is scored by the frozen recommender (the SAE's input two-tower, bias-folded when the SAE was trained
on folded embeddings; folding is exact algebra, so its logits are the recommender's).

Two modes say what replaces an edited entity's embedding `x` (with `z = encode(x)`, `z'` the edited latents):
- `"reconstruct"` (the paper): `x' = decode(z')`. The SAE's reconstruction error enters too, so even a
  no-op edit moves the entity's scores.
- `"residual"` (default): `x' = x + decode(z') - decode(z)`. Only the edit's own effect is added, so an
  unedited entity scores exactly as the recommender, and a small edit makes a small change.
Entities outside an edit's `rows` keep their original embedding in both modes.
- `"double_pass"` (the reference's NCF path, ML-1M utils `get_top_k_recommendations_flex_user/_item`): every
  user and item is replaced by its reconstruction `SAE(x) = decode(encode(x))`; an edited user by
  `SAE(decode(z'))` (its decoded edit passed through the SAE a second time), an edited item by `decode(z')`.
The baseline is always the unedited recommender.

Levels: by default an edit's value is `level x scale`, scale = the neuron's largest activation, so levels
mean the same for every SAE. `absolute=True` (the reference) uses the level itself as the latent value.

`Steerer.scores` is one jitted batch function `[B_users] -> [B_users, n_items]` with user and item edits,
usable at serving time; the experiments built on it are `jaxsae.interventions._filter`, `.nudge` and
`.promote`.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Callable, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxsae.errors import ConfigError
from jaxsae.recommenders import TwoTower

MODES = ("residual", "reconstruct", "double_pass")
SET, ADD, SCALE = 0, 1, 2
OPS = {"set": SET, "add": ADD, "scale": SCALE}


@struct.dataclass
class LatentEdit:
    """Change latent `neuron` of the rows where `rows` is True: `op` (SET/ADD/SCALE) with `value`
    (a scalar, or one value per row). `neuron` may also be a vector of `m` latents edited together;
    `value` is then a scalar, `[n_rows]` or `[n_rows, m]`. A pytree, so edits are jit/vmap arguments."""

    neuron: jax.Array  # int32 [] or [m]
    op: jax.Array  # int32 [] in {SET, ADD, SCALE}
    value: jax.Array  # float32 [], [n_rows] or [n_rows, m]
    rows: jax.Array  # bool [n_rows]


def latent_edit(neuron: Any, op: str, value: Any, rows: Any) -> LatentEdit:
    """Build a `LatentEdit`; `neuron` an int or a list of ints, `op` "set", "add" or "scale", `rows` a bool
    mask over the edited table."""
    if op not in OPS:
        raise ConfigError(f"unknown edit {op!r}; use one of {', '.join(OPS)}")
    neuron = np.asarray(neuron).astype(np.int32)
    return LatentEdit(neuron=jnp.asarray(neuron, jnp.int32), op=jnp.asarray(OPS[op], jnp.int32),
                      value=jnp.asarray(value, jnp.float32), rows=jnp.asarray(rows, bool))


def no_edit(n_rows: int) -> LatentEdit:
    """An edit that changes nothing (no row selected)."""
    return latent_edit(0, "add", 0.0, np.zeros(n_rows, bool))


def apply_edit(z: jax.Array, edit: LatentEdit) -> jax.Array:
    """Latents `z [B, h]` with column(s) `edit.neuron` set/added/scaled on the selected rows."""
    neurons = jnp.atleast_1d(edit.neuron)
    cols = z[:, neurons]  # [B, m]
    value = edit.value[:, None] if edit.value.ndim == 1 else edit.value
    value = jnp.broadcast_to(value, cols.shape)
    new = jnp.where(edit.op == SET, value, jnp.where(edit.op == ADD, cols + value, cols * value))
    return z.at[:, neurons].set(jnp.where(edit.rows[:, None], new, cols))


def steer_rows(encode: Callable[[jax.Array], Tuple[jax.Array, Any]], decode: Callable[[jax.Array, Any], jax.Array],
               x: jax.Array, edit: LatentEdit, mode: str = "residual", second_pass: bool = False) -> jax.Array:
    """Embeddings `x [B, d]` after `edit` (module docstring: "residual", "reconstruct" or "double_pass" mode).

    Rows outside `edit.rows` are returned bit-for-bit unchanged, except in "double_pass" mode, where
    they are reconstructions and edited rows pass through the SAE again when `second_pass` (users).
    """
    z, stats = encode(x)
    x_edit = decode(apply_edit(z, edit), stats)
    if mode == "double_pass":  # the reference NCF path: reconstructions everywhere, edits decoded then re-encoded
        if second_pass:
            z2, stats2 = encode(x_edit)
            x_edit = decode(z2, stats2)
        return jnp.where(edit.rows[:, None], x_edit, decode(z, stats))
    new = x_edit if mode == "reconstruct" else x + (x_edit - decode(z, stats))
    return jnp.where(edit.rows[:, None], new, x)


def _variables(params: Any) -> Any:
    return params if isinstance(params, dict) and "params" in params else {"params": params}


def _steer_side(module: Any, params: Any, x: jax.Array, edit: LatentEdit, mode: str,
                second_pass: bool = False) -> jax.Array:
    variables = _variables(params)
    encode = partial(module.apply, variables, method="encode")
    decode = partial(module.apply, variables, method="decode")
    return steer_rows(encode, decode, x, edit, mode, second_pass)


@partial(jax.jit, static_argnums=(0, 1))
def _steered_scores(module: Any, mode: str, user_params: Any, item_params: Any, tt: TwoTower, users: jax.Array,
                    user_edit: LatentEdit, item_edit: LatentEdit) -> jax.Array:
    u = _steer_side(module, user_params, tt.user_emb[users], user_edit, mode, second_pass=True)
    i = _steer_side(module, item_params, tt.item_emb, item_edit, mode)
    return tt.logits_cross(users, None, user_emb=u, item_emb=i)


@partial(jax.jit, static_argnums=(0, 1))
def _item_gains(module: Any, mode: str, item_params: Any, tt: TwoTower, users: jax.Array, item: jax.Array,
                values: jax.Array) -> jax.Array:
    """Mean change over `users` of `item`'s logit when latent j of the item gets `+values[j]`, `[h]`."""
    variables = _variables(item_params)
    x = tt.item_emb[item][None]  # [1, d]
    z, stats = module.apply(variables, x, method="encode")
    x_edit = module.apply(variables, z + jnp.diag(values), stats, method="decode")  # [h, d], one edit per row
    new = x_edit if mode != "residual" else x + (x_edit - module.apply(variables, z, stats, method="decode"))
    u = tt.user_emb[users]
    return jnp.mean(tt.cross(u, new) - tt.cross(u, x), axis=0)


@jax.jit
def _baseline_scores(tt: TwoTower, users: jax.Array) -> jax.Array:
    return tt.logits_cross(users)


@partial(jax.jit, static_argnums=0)
def _encode_rows(module: Any, params: Any, x: jax.Array) -> jax.Array:
    return module.apply(_variables(params), x, method="encode")[0]


class Steerer:
    """Steered scores of a frozen recommender through a trained SAE.

    `module`: the SAE (flax module with `encode`/`decode`); `params`: its parameters, or a dict
    `{"user": p, "item": p}` for separate user and item SAEs; `two_tower`: the recommender as the SAE
    sees it (`TrainedSAE.input_two_tower`); `mode`: "residual" (default) or "reconstruct".
    """

    def __init__(self, module: Any, params: Any, two_tower: TwoTower, mode: str = "residual") -> None:
        if mode not in MODES:
            raise ConfigError(f"unknown intervention mode {mode!r}; use one of {', '.join(MODES)}")
        if isinstance(params, dict) and set(params) == {"user", "item"}:
            self.user_params, self.item_params = params["user"], params["item"]
        else:
            self.user_params = self.item_params = params
        self.module, self.two_tower, self.mode = module, two_tower, mode

    @classmethod
    def from_trained(cls, sae: Any, mode: str = "residual") -> "Steerer":
        """From a `jaxsae.sae._trained.TrainedSAE` (its module, per-side params and input two-tower)."""
        params = {"user": sae.side_params("user"), "item": sae.side_params("item")}
        return cls(sae.module, params, sae.input_two_tower, mode)

    @property
    def n_latents(self) -> int:
        return int(self.module.h)

    def check_neuron(self, neuron: int) -> int:
        """`neuron` as an int, or a `ConfigError` when it is not a latent of this SAE."""
        if not 0 <= int(neuron) < self.n_latents:
            raise ConfigError(f"neuron {neuron} out of range: the SAE has {self.n_latents} latents")
        return int(neuron)

    def scores(self, users: Any, user_edit: Optional[LatentEdit] = None,
               item_edit: Optional[LatentEdit] = None) -> jax.Array:
        """Steered logits `[len(users), n_items]`; `user_edit.rows` is over `users`, `item_edit.rows` over items."""
        users = jnp.asarray(users, jnp.int32)
        user_edit = no_edit(users.shape[0]) if user_edit is None else user_edit
        item_edit = no_edit(self.two_tower.n_items) if item_edit is None else item_edit
        return _steered_scores(self.module, self.mode, self.user_params, self.item_params, self.two_tower, users,
                               user_edit, item_edit)

    def baseline(self, users: Any) -> jax.Array:
        """The unedited recommender's logits `[len(users), n_items]`."""
        return _baseline_scores(self.two_tower, jnp.asarray(users, jnp.int32))

    def user_latents(self, users: Optional[Any] = None) -> np.ndarray:
        """Latents `[n, h]` of the given users (all users when None)."""
        emb = self.two_tower.user_emb if users is None else self.two_tower.user_emb[jnp.asarray(users)]
        return np.asarray(_encode_rows(self.module, self.user_params, emb))

    def item_latents(self) -> np.ndarray:
        """Latents `[n_items, h]` of every item."""
        return np.asarray(_encode_rows(self.module, self.item_params, self.two_tower.item_emb))

    def item_gains(self, users: Any, item: int, values: Any) -> np.ndarray:
        """`[h]`: mean change of `item`'s logit for `users` when its latent j is raised by `values[j]`."""
        return np.asarray(_item_gains(self.module, self.mode, self.item_params, self.two_tower,
                                      jnp.asarray(users, jnp.int32), jnp.asarray(item, jnp.int32),
                                      jnp.asarray(values, jnp.float32)))
