"""Steering the recommender through SAE neurons (SPEC §7).

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
usable at serving time. The experiments (`filter_experiment`, `nudge_experiment`, `promote_experiment`)
build on it and return the dicts written to `RUN/interventions/*.json`. Filtering defaults to a per-user
weighted edit of the concept's neurons (`filter_weights`), reported at the mildest level that removes
80% of the concept (`headline_index`); the paper's one-neuron user edit and an item-side edit are
options (`method="neuron"`, `side="item"`).
"""
from __future__ import annotations

import difflib
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxsae.errors import ConfigError, UnknownNameError
from jaxsae.recommenders.base import TwoTower

MODES = ("residual", "reconstruct", "double_pass")
SET, ADD, SCALE = 0, 1, 2
OPS = {"set": SET, "add": ADD, "scale": SCALE}

FILTER_LEVELS = tuple(-0.25 * i + 0.0 for i in range(13))  # 0 .. -3 (+ 0.0: no -0.0)
FILTER_METHODS = ("weighted", "neuron")
FILTER_TARGET = 0.2  # headline: the mildest level leaving at most this fraction of the concept (SPEC §11: >= 80% removed)
FILTER_DEPTH, FILTER_DECAY, FILTER_RIDGE = 100, 0.95, 0.01  # `filter_weights` (measured on ML-100k)
NUDGE_LEVELS = (1.0, 2.0, 3.0, 4.0)
PROMOTE_LEVELS = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0)
N_SAMPLES = 5  # users whose before/after lists each experiment keeps (`samples`, for the explorer; issue 14)


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
        """From a `jaxsae.sae.trained.TrainedSAE` (its module, per-side params and input two-tower)."""
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


# ---- names ---------------------------------------------------------------------------------------
def resolve_item(data: Any, name: str) -> int:
    """Item index from an original id or a title (case-insensitive; a unique title prefix also works,
    e.g. "Toy Story" for "Toy Story (1995)"). Unknown names raise `UnknownNameError` with close matches."""
    ids = [str(i) for i in np.asarray(data.item_ids)]
    titles = [str(t) for t in np.asarray(data.item_titles)]
    if name in ids:
        return ids.index(name)
    low = name.strip().lower()
    exact = [i for i, t in enumerate(titles) if t.lower() == low]
    if len(exact) == 1:
        return exact[0]
    if len(exact) > 1:  # two items share the title: say so rather than pick one (issue 13)
        shown = ", ".join(f"{ids[i]!r}" for i in exact[:8])
        raise UnknownNameError(f"item title {name!r} is ambiguous: {len(exact)} items carry it (ids {shown}); "
                               f"pass the item id instead")
    prefix = [i for i, t in enumerate(titles) if t.lower().startswith(low)]
    if len(prefix) == 1:
        return prefix[0]
    if len(prefix) > 1:
        shown = ", ".join(repr(titles[i]) for i in prefix[:5])
        raise UnknownNameError(f"item {name!r} is ambiguous: {len(prefix)} titles start with it ({shown})")
    close = difflib.get_close_matches(name, titles, n=5, cutoff=0.5) + difflib.get_close_matches(name, ids, n=3, cutoff=0.6)
    hint = f"; close matches: {', '.join(repr(c) for c in close)}" if close else ""
    raise UnknownNameError(f"unknown item {name!r} (neither an item id nor a title){hint}")


# ---- experiment helpers -------------------------------------------------------------------------
def concept_share(top_items: np.ndarray, concept_mask: np.ndarray) -> np.ndarray:
    """Per row, the fraction of the listed items `[B, K]` that carry the concept (`concept_mask [n_items]`)."""
    return np.asarray(concept_mask, bool)[np.asarray(top_items)].mean(axis=1)


def _exclusion(data: Any, users: np.ndarray, exclude_train: bool) -> np.ndarray:
    from jaxsae.metrics.ranking import train_mask

    return train_mask(data, users) if exclude_train else np.zeros((len(users), data.n_items), bool)


def _top(scores: jax.Array, k: int, exclude: np.ndarray) -> np.ndarray:
    from jaxsae.metrics.ranking import top_k

    return np.asarray(top_k(scores, k, jnp.asarray(exclude))[1])


def baseline_top(steerer: "Steerer", data: Any, users: np.ndarray, k: int, exclude_train: bool = True,
                 chunk_size: int = 1024) -> np.ndarray:
    """The unedited recommender's top-K items `[len(users), k]` (training positives excluded unless told),
    computed in chunks of users so memory stays O(chunk x n_items) for large user pools."""
    out = [_top(steerer.baseline(users[s : s + chunk_size]), k,
                _exclusion(data, users[s : s + chunk_size], exclude_train))
           for s in range(0, len(users), chunk_size)]
    return np.concatenate(out) if out else np.zeros((0, k), np.int32)


def activation_scale(latents: np.ndarray, neuron: int) -> float:
    """The neuron's activation range (its largest activation over the given rows): edit levels are in
    these units, so level -1.5 means "1.5 times the strongest activation, negated". 1 if it never fires."""
    top = float(np.max(latents[:, neuron])) if latents.shape[0] else 0.0
    return top if top > 0 else 1.0


def level_scale(latents: np.ndarray, neuron: int, absolute: bool = False) -> float:
    """What a level is multiplied by: 1 with `absolute` (the reference sets latents to the level itself),
    else `activation_scale` (the neuron's largest activation)."""
    return 1.0 if absolute else activation_scale(latents, neuron)


def _strongest(levels: Sequence[float]) -> int:
    return int(np.argmax(np.abs(np.asarray(levels, float))))


def _mean_rbo(a: np.ndarray, b: np.ndarray, p: float = 0.9) -> float:
    from jaxsae.metrics.fidelity import rbo

    return float(np.mean(rbo(np.asarray(a), np.asarray(b), p)))


def select_audience(share: np.ndarray, size: int, highest: bool = True) -> np.ndarray:
    """Rows of the `size` users with the highest (or lowest) concept share; ties keep the pool order."""
    order = np.argsort(-share if highest else share, kind="stable")
    return order[: max(0, int(size))]


def filter_separation(steerer: Steerer, users: np.ndarray, concept_mask: np.ndarray, exclude: np.ndarray,
                      neurons: Sequence[int], depth: int = 60) -> np.ndarray:
    """`[len(neurons)]`: how well lowering each neuron of `users` pushes the concept's items down their
    rankings while leaving the other items' order alone (larger is better).

    Lowering latent n of user u by one unit changes u's logit of item i by `-g[u, i]`, with `g` the
    score change of a one-unit raise (exact in residual mode, where the edit is linear). Per user, over
    the `depth` best-scored items (training positives in `exclude` left out), the separation is
    `(mean change of the non-concept items - mean change of the concept items) / std(change of the
    non-concept items)`: a d' of "concept falls" against "the rest reorders"; averaged over the users
    who have both kinds of item near the top. Scale-free, so neurons with different ranges compare.
    """
    users = np.asarray(users, np.int32)
    cmask = np.asarray(concept_mask, bool)
    if users.size == 0 or not len(neurons):
        return np.zeros(len(neurons))
    rows = np.ones(len(users), bool)
    ref = np.asarray(steerer.scores(users, user_edit=latent_edit(0, "add", 0.0, rows)))
    cand = np.argsort(-np.where(exclude, -np.inf, ref), axis=1, kind="stable")[:, : max(2, int(depth))]
    is_c = cmask[cand]
    both = is_c.any(axis=1) & ((~is_c).sum(axis=1) > 1)
    out = np.zeros(len(neurons))
    if not both.any():
        return out
    for j, n in enumerate(neurons):
        g = np.asarray(steerer.scores(users, user_edit=latent_edit(int(n), "add", 1.0, rows))) - ref
        change = -np.take_along_axis(g, cand, axis=1)  # score change when the neuron is lowered by one unit
        rest = np.where(is_c, np.nan, change)
        conc = np.where(is_c, change, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            d = (np.nanmean(rest[both], axis=1) - np.nanmean(conc[both], axis=1)) / (np.nanstd(rest[both], axis=1) + 1e-9)
        out[j] = float(np.mean(d))
    return out


def concept_candidates(item_latents: np.ndarray, concept_mask: np.ndarray, purity_k: int = 10
                       ) -> Tuple[np.ndarray, np.ndarray]:
    """`(candidates, purity)`: the neurons whose item purity@`purity_k` for the concept beats its base rate
    (they carry it more than chance, SPEC §6.3; all neurons when none does), and every neuron's purity."""
    from jaxsae.analysis.concepts import purity_at_k

    cmask = np.asarray(concept_mask, bool)
    purity = np.asarray(purity_at_k(item_latents, cmask[:, None], (purity_k,)))[0, :, 0]
    cand = np.flatnonzero(purity > cmask.mean())
    return (cand if cand.size else np.arange(item_latents.shape[1])), purity


def filter_neurons(steerer: Steerer, data: Any, concept: str, users: np.ndarray, n_neurons: int = 1,
                   purity_k: int = 10, exclude_train: bool = True, item_latents: Optional[np.ndarray] = None
                   ) -> Tuple[List[int], Dict[str, Any]]:
    """The neurons a concept is filtered through by default, best first, and how they were chosen.

    Candidates: the neurons whose item purity@`purity_k` for the concept beats its base rate (SPEC §6.3:
    they carry the concept more than chance; all neurons when none does). Ranked by
    `filter_separation` on `users` (the audience): what lowering the neuron does to their rankings,
    not how pure its item activations are, the same way `item_neuron` picks a promotion neuron by
    effect. Returns the `n_neurons` best and `{"candidates", "separation", "purity"}` for the record.
    """
    c = data.concept_index(concept)
    cmask = np.asarray(data.concepts[:, c], bool)
    lat = steerer.item_latents() if item_latents is None else item_latents
    cand, purity = concept_candidates(lat, cmask, purity_k)
    users = np.asarray(users, np.int32)
    sep = filter_separation(steerer, users, cmask, _exclusion(data, users, exclude_train), cand)
    order = np.argsort(-sep, kind="stable")
    chosen = [int(cand[j]) for j in order[: max(1, int(n_neurons))]]
    info = {"candidates": [int(cand[j]) for j in order],
            "separation": [round(float(sep[j]), 4) for j in order],
            "purity": [round(float(purity[cand[j]]), 4) for j in order], "purity_k": int(purity_k)}
    return chosen, info


def filter_weights(steerer: Steerer, users: np.ndarray, concept_mask: np.ndarray, exclude: np.ndarray,
                   neurons: Sequence[int], depth: int = FILTER_DEPTH, decay: float = FILTER_DECAY,
                   ridge: float = FILTER_RIDGE) -> np.ndarray:
    """`[len(users), len(neurons)]`: per user, how much to add to each neuron so the concept falls and the
    rest of the list keeps its order (a per-user LDA over the neurons' one-unit score changes).

    Adding `a` to the latents changes user u's logits by `G_u a` (`G_u[i, m]`: the change of item i for
    a one-unit raise of neuron m; exact in either mode for a linear decoder, so for every SAE here). Over
    u's `depth` best-scored items (training positives in `exclude` left out), with rank weights
    `decay**rank`, the weights solve `min a^T S a` s.t. `a . (mean_rest - mean_concept) = 1`, `S` the
    weighted covariance of the non-concept items' changes plus a ridge (`ridge` x its mean diagonal):
    the rest moves as one block, the concept drops below it. Each row is scaled so that adding it lowers
    the concept items, relative to the rest, by one standard deviation of u's top-`depth` scores: a
    filter level of -1 adds the row once. Users with no concept item (or fewer than two other items)
    near the top get zeros (nothing to filter). Why: one neuron's decoder direction also reorders the
    rest (measured rest-RBO 0.3-0.6 on MovieLens); a combination fitted to the user's own list does not.
    """
    users = np.asarray(users, np.int32)
    cmask = np.asarray(concept_mask, bool)
    neurons = [int(n) for n in neurons]
    out = np.zeros((len(users), len(neurons)))
    if users.size == 0 or not neurons:
        return out
    rows = np.ones(len(users), bool)
    ref = np.asarray(steerer.scores(users, user_edit=latent_edit(0, "add", 0.0, rows)))
    depth = max(3, min(int(depth), ref.shape[1]))
    top = np.argsort(-np.where(exclude, -np.inf, ref), axis=1, kind="stable")[:, :depth]
    is_c = cmask[top]
    g = np.stack([np.take_along_axis(np.asarray(steerer.scores(users, user_edit=latent_edit(n, "add", 1.0, rows)))
                                     - ref, top, axis=1) for n in neurons], axis=-1)  # [U, depth, M]
    w = float(decay) ** np.arange(depth)
    eye = np.eye(len(neurons))
    for u in range(len(users)):
        r, c = ~is_c[u], is_c[u]
        if not c.any() or r.sum() < 2:
            continue
        wr, wc = w[r] / w[r].sum(), w[c] / w[c].sum()
        mr, mc = wr @ g[u, r], wc @ g[u, c]
        centred = (g[u, r] - mr) * np.sqrt(wr)[:, None]
        s = centred.T @ centred
        s = s + (float(ridge) * np.trace(s) / len(neurons) + 1e-12) * eye
        a = np.linalg.solve(s, mr - mc)
        gap = float(a @ (mr - mc))
        spread = float(np.std(ref[u, top[u]]))
        if gap > 0 and spread > 0:
            out[u] = a / gap * spread
    return out


def item_filter_neurons(item_latents: np.ndarray, concept_mask: np.ndarray, audience_top: np.ndarray,
                        n_neurons: int = 1, purity_k: int = 10) -> Tuple[List[int], Dict[str, Any]]:
    """The neurons a concept is filtered through on the item side, best first, and how they were chosen.

    An item-side edit only reaches the items where the neuron fires, so candidates (above-chance
    purity@`purity_k`, as in `filter_neurons`) are ranked by what they hit in the audience's baseline
    lists `audience_top [U, K]`: the fraction of the concept's entries where the neuron is active minus
    the fraction of the other entries where it is (coverage minus collateral).
    """
    cmask = np.asarray(concept_mask, bool)
    cand, purity = concept_candidates(item_latents, cmask, purity_k)
    top = np.asarray(audience_top)
    conc = cmask[top]
    act = item_latents[top][..., cand] > 0  # [U, K, M]
    cover = (act & conc[..., None]).sum(axis=(0, 1)) / max(1, int(conc.sum()))
    collateral = (act & ~conc[..., None]).sum(axis=(0, 1)) / max(1, int((~conc).sum()))
    score = cover - collateral
    order = np.argsort(-score, kind="stable")
    chosen = [int(cand[j]) for j in order[: max(1, int(n_neurons))]]
    info = {"candidates": [int(cand[j]) for j in order], "coverage": [round(float(cover[j]), 4) for j in order],
            "collateral": [round(float(collateral[j]), 4) for j in order],
            "purity": [round(float(purity[cand[j]]), 4) for j in order], "purity_k": int(purity_k)}
    return chosen, info


def headline_index(per_level: Sequence[Dict[str, Any]], share_before: float, target: float = FILTER_TARGET) -> Tuple[int, bool]:
    """Index of the headline level: the mildest (smallest |level|) whose concept share is at most
    `target` x the share before, and whether one was; when none is, the level leaving the least of the
    concept (the mildest of equals). Why: stronger levels overshoot and reorder the rest for no extra
    removal, and the share need not fall monotonically (deep concept items can rise)."""
    order = sorted(range(len(per_level)), key=lambda j: (abs(per_level[j]["level"]), j))
    for j in order:
        if per_level[j]["concept_share_after"] <= target * share_before + 1e-12:
            return j, True
    if not order:
        return 0, False
    return min(order, key=lambda j: per_level[j]["concept_share_after"]), False


def _most_specific(neurons: Sequence[int], selection: Optional[Dict[str, Any]], scales: np.ndarray) -> int:
    """Index (into `neurons`) of the weighted filter's reported neuron: the one most specific to the concept,
    i.e. with the highest item purity@10 for it, ties to the larger mean weight (issue 12: the largest
    weight alone was often the popularity neuron, which is in every list but means no concept)."""
    purity = dict(zip((selection or {}).get("candidates", []), (selection or {}).get("purity", [])))
    keys = [(float(purity.get(int(n), 0.0)), float(scales[j])) for j, n in enumerate(neurons)]
    return max(range(len(neurons)), key=lambda j: keys[j]) if neurons else 0


def filter_experiment(steerer: Steerer, data: Any, concept: str, users: Sequence[int],
                      neuron: Optional[Any] = None, audience_size: int = 100, k: int = 20,
                      levels: Sequence[float] = FILTER_LEVELS, op: Optional[str] = None, exclude_train: bool = True,
                      n_neurons: int = 1, method: Optional[str] = None, side: str = "user",
                      target: float = FILTER_TARGET, absolute: bool = False, n_samples: int = N_SAMPLES
                      ) -> Dict[str, Any]:
    """Filtering (SPEC §7): lower a concept through SAE neurons for the users who see the most of it.

    Audience: the `audience_size` users of `users` with the highest share of the concept in their
    baseline top-K. Methods (`method`; default "weighted" on the user side when no neuron is given,
    else "neuron"):
    - "weighted" (user side): every above-chance-purity neuron (or the given ones) gets a per-user
      `add` from `filter_weights`; level L lowers the concept, relative to the rest, by |L| standard
      deviations of the user's top scores.
    - "neuron": `neuron` (an int or a list) or the `n_neurons` best (user side: `filter_neurons`, by
      separation; item side: `item_filter_neurons`, by coverage of the audience's lists) are `op`-ed
      (default "set") with `level * scale` (scale: the neuron's largest user or item activation, or 1
      with `absolute`, the reference's absolute latent values).
      On the item side only the items where a chosen neuron fires are edited, for the audience's
      requests only; every other item keeps its exact embedding.
    Reported per level: the concept's share of the top-K and `rest_rbo`, the RBO (p = 0.9) of the
    non-concept top-K lists before and after (1 = the rest untouched). The headline
    (`concept_share_after`, `rest_rbo`, labelled by `level`) is the mildest level whose share is at most
    `target` x the share before, else the one leaving the least (`headline_index`); `strongest` keeps the
    strongest level. The reported `neuron` of the weighted filter is the candidate most specific to the
    concept (highest purity@10, `_most_specific`), not the one with the largest weight. `samples`: the first
    `n_samples` audience users' top-K before and at the headline level.
    """
    if side not in ("user", "item"):
        raise ConfigError(f"unknown filter side {side!r}; use user or item")
    method = method or ("weighted" if neuron is None and side == "user" else "neuron")
    if method not in FILTER_METHODS:
        raise ConfigError(f"unknown filter method {method!r}; use one of {', '.join(FILTER_METHODS)}")
    if method == "weighted" and side == "item":
        raise ConfigError("the weighted filter edits users; use --method neuron with --side item")
    if method == "weighted" and absolute:
        raise ConfigError("absolute levels apply to neuron edits (--method neuron), not to the weighted filter")
    op = op or ("add" if method == "weighted" else "set")
    c = data.concept_index(concept)
    cmask = np.asarray(data.concepts[:, c], bool)
    pool = np.asarray(users, np.int32)
    base_top = baseline_top(steerer, data, pool, k, exclude_train)
    rows = select_audience(concept_share(base_top, cmask), audience_size, highest=True)
    aud = pool[rows]
    before = base_top[rows]
    excl_a = _exclusion(data, aud, exclude_train)
    item_lat = steerer.item_latents() if (side == "item" or neuron is None) else None
    selection: Optional[Dict[str, Any]] = None
    if neuron is not None:
        neurons = [steerer.check_neuron(n) for n in np.atleast_1d(np.asarray(neuron)).tolist()]
        if not neurons:
            raise ConfigError("no neuron to filter through")
    elif side == "item":
        neurons, selection = item_filter_neurons(item_lat, cmask, before, n_neurons)
    elif method == "weighted":
        cand, purity = concept_candidates(item_lat, cmask, 10)
        neurons = [int(n) for n in cand]
        selection = {"candidates": neurons, "purity": [round(float(purity[n]), 4) for n in neurons], "purity_k": 10}
    else:
        neurons, selection = filter_neurons(steerer, data, concept, aud, n_neurons, exclude_train=exclude_train,
                                            item_latents=item_lat)
    base_scores = steerer.baseline(aud)
    rest_excl = excl_a | cmask[None, :]
    rest_before = _top(base_scores, k, rest_excl)
    ones = np.ones(len(aud), bool)
    if method == "weighted":
        weights = filter_weights(steerer, aud, cmask, excl_a, neurons)
        scales = np.abs(weights).mean(axis=0)
    elif side == "item":
        scales = np.array([level_scale(item_lat, n, absolute) for n in neurons])
        item_active = item_lat[:, neurons] > 0  # [n_items, m]
        neutral = {"set": item_lat[:, neurons], "add": 0.0, "scale": 1.0}[op]  # leaves a latent as it is
    else:
        user_lat = steerer.user_latents()
        scales = np.array([level_scale(user_lat, n, absolute) for n in neurons])
    per_level, afters = [], []
    for level in levels:
        if method == "weighted":
            s = steerer.scores(aud, user_edit=latent_edit(neurons, op, -float(level) * weights, ones))
        elif side == "item":
            value = np.where(item_active, level * scales[None, :], neutral)
            s = steerer.scores(aud, item_edit=latent_edit(neurons, op, value, item_active.any(axis=1)))
        else:
            value = np.broadcast_to(level * scales[None, :], (len(aud), len(neurons)))
            s = steerer.scores(aud, user_edit=latent_edit(neurons, op, value, ones))
        after = _top(s, k, excl_a)
        afters.append(after[:n_samples])
        per_level.append({"level": float(level), "value": float(level * scales[0]),
                          "values": [float(level * v) for v in scales],
                          "concept_share_after": float(concept_share(after, cmask).mean()),
                          "rest_rbo": _mean_rbo(rest_before, _top(s, k, rest_excl))})
    share_before = float(concept_share(before, cmask).mean())
    head, reached = headline_index(per_level, share_before, target)
    strongest = per_level[_strongest(levels)]
    lead = _most_specific(neurons, selection, scales) if method == "weighted" else 0
    out = {
        "concept": data.concept_names[c], "neuron": neurons[lead], "neurons": neurons, "k": k, "op": op,
        "method": method, "side": side, "mode": steerer.mode, "levels": [float(v) for v in levels],
        "scale": float(scales[lead]), "scales": [float(v) for v in scales], "absolute_levels": bool(absolute),
        "concept_share_before": share_before,
        "concept_share_after": per_level[head]["concept_share_after"], "rest_rbo": per_level[head]["rest_rbo"],
        "level": per_level[head]["level"], "target": float(target), "target_reached": bool(reached),
        "headline": (f"mildest level with share <= {target:.2g} x before" if reached
                     else "target not reached: the level leaving the least of the concept"),
        "strongest": {"level": strongest["level"], "concept_share_after": strongest["concept_share_after"],
                      "rest_rbo": strongest["rest_rbo"]},
        "per_level": per_level, "audience_size": int(len(aud)),
        "pool_concept_share": float(concept_share(base_top, cmask).mean()),
        "neuron_choice": "given" if neuron is not None else (
            "weighted" if method == "weighted" else "coverage" if side == "item" else "separation"),
    }
    if selection is not None:
        out["selection"] = selection
    out["samples"] = sample_lists(data, aud, before, afters[head] if afters else before, per_level[head]["level"],
                                  n_samples)
    return out


def nudge_experiment(steerer: Steerer, data: Any, concept: str, users: Sequence[int], neuron: int,
                     audience_size: int = 100, k: int = 30, levels: Sequence[float] = NUDGE_LEVELS,
                     op: str = "add", exclude_train: bool = True, absolute: bool = False,
                     n_samples: int = N_SAMPLES) -> Dict[str, Any]:
    """Nudging (SPEC §7): raise a concept neuron of the users who see the least of the concept.

    Audience: the `audience_size` users of `users` with the lowest share of the concept in their
    baseline top-K. At each level the neuron is `op`-ed with `level * scale` (scale 1 with `absolute`); reported: the concept's
    share of the top-K before and at every level; `samples`: the first `n_samples` audience users' top-K
    before and at the strongest level.
    """
    c = data.concept_index(concept)
    neuron = steerer.check_neuron(neuron)
    cmask = np.asarray(data.concepts[:, c], bool)
    pool = np.asarray(users, np.int32)
    base_top = baseline_top(steerer, data, pool, k, exclude_train)
    rows = select_audience(concept_share(base_top, cmask), audience_size, highest=False)
    aud = pool[rows]
    excl_a = _exclusion(data, aud, exclude_train)
    scale = level_scale(steerer.user_latents(), neuron, absolute)
    per_level, afters = [], []
    for level in levels:
        edit = latent_edit(neuron, op, level * scale, np.ones(len(aud), bool))
        after = _top(steerer.scores(aud, user_edit=edit), k, excl_a)
        afters.append(after[:n_samples])
        per_level.append({"level": float(level), "value": float(level * scale),
                          "concept_share": float(concept_share(after, cmask).mean())})
    strong = _strongest(levels)
    return {
        "concept": data.concept_names[c], "neuron": neuron, "k": k, "op": op, "mode": steerer.mode,
        "levels": [float(v) for v in levels], "scale": scale, "absolute_levels": bool(absolute),
        "concept_share_before": float(concept_share(base_top[rows], cmask).mean()),
        "per_level": per_level, "audience_size": int(len(aud)),
        "samples": sample_lists(data, aud, base_top[rows], afters[strong], float(levels[strong]), n_samples),
    }


def item_neuron(steerer: Steerer, item: int, users: Sequence[int], item_latents: np.ndarray) -> int:
    """The neuron an item is promoted through by default: of the item's active latents, the one whose
    raise by its activation scale lifts the item's logit most for `users` (a latent's decoder direction
    can just as well lower it); when none of them lifts it, the best of all latents."""
    scales = np.array([activation_scale(item_latents, j) for j in range(item_latents.shape[1])])
    gains = steerer.item_gains(users, item, scales) if len(users) else np.zeros(len(scales))
    active = np.flatnonzero(item_latents[item] > 0)
    if active.size and gains[active].max() > 0:
        return int(active[np.argmax(gains[active])])
    return int(np.argmax(gains))


def promote_experiment(steerer: Steerer, data: Any, item: str, users: Sequence[int],
                       neuron: Optional[int] = None, audience_size: int = 100, k: int = 20,
                       levels: Sequence[float] = PROMOTE_LEVELS, op: str = "add", seed: int = 0,
                       exclude_train: bool = True, absolute: bool = False, n_samples: int = N_SAMPLES
                       ) -> Dict[str, Any]:
    """Promotion (SPEC §7): raise one neuron of one item, for users who did not rank it in their top-K.

    The item is named by original id or title (`resolve_item`); its neuron defaults to `item_neuron`
    (the active latent that lifts its score most for the audience). Audience: up to `audience_size` users of `users` (seeded random choice) for whom the item is
    neither in the baseline top-K nor a training positive. At each level the item's neuron is `op`-ed
    with `level * scale` (scale: the neuron's largest item activation, 1 with `absolute`); reported: the fraction of the
    audience whose top-K then contains the item; `samples`: `n_samples` audience users' top-K before and at
    the strongest level, those whose list the item entered first.
    """
    i = resolve_item(data, item)
    item_lat = steerer.item_latents()
    if neuron is not None:
        neuron = steerer.check_neuron(neuron)
    pool = np.asarray(users, np.int32)
    base_top = baseline_top(steerer, data, pool, k, exclude_train)
    train_users, train_items = data.train_pairs()
    liked = np.zeros(data.n_users, bool)
    liked[train_users[train_items == i]] = exclude_train
    eligible = np.flatnonzero(~(base_top == i).any(axis=1) & ~liked[pool])
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.permutation(eligible)[: max(0, int(audience_size))])
    aud = pool[rows]
    excl_a = _exclusion(data, aud, exclude_train)
    neuron = item_neuron(steerer, i, aud, item_lat) if neuron is None else neuron
    scale = level_scale(item_lat, neuron, absolute)
    item_rows = np.zeros(data.n_items, bool)
    item_rows[i] = True
    per_level, afters = [], []
    for level in levels:
        edit = latent_edit(neuron, op, level * scale, item_rows)
        after = _top(steerer.scores(aud, item_edit=edit), k, excl_a) if len(aud) else np.zeros((0, k), int)
        entered = float((after == i).any(axis=1).mean()) if len(aud) else 0.0
        afters.append(after)
        per_level.append({"level": float(level), "value": float(level * scale), "entered_top_k_fraction": entered})
    samples: List[Dict[str, Any]] = []
    if per_level:
        strong = _strongest(levels)
        first = np.argsort(~(afters[strong] == i).any(axis=1), kind="stable")[: max(0, int(n_samples))]
        samples = sample_lists(data, aud[first], base_top[rows][first], afters[strong][first], float(levels[strong]),
                               n_samples)
    return {
        "item": str(np.asarray(data.item_ids)[i]), "item_index": i, "title": str(np.asarray(data.item_titles)[i]),
        "neuron": neuron, "k": k, "op": op, "mode": steerer.mode, "levels": [float(v) for v in levels],
        "scale": scale, "absolute_levels": bool(absolute), "per_level": per_level,
        "entered_top_k_fraction": per_level[_strongest(levels)]["entered_top_k_fraction"] if per_level else 0.0,
        "audience_size": int(len(aud)), "samples": samples,
    }


def sample_lists(data: Any, users: np.ndarray, before: np.ndarray, after: np.ndarray, level: float,
                 n: int = N_SAMPLES) -> List[Dict[str, Any]]:
    """The `samples` of an experiment: for the first `n` of `users`, their top-K item indices before and
    after the edit at `level` (what the explorer shows as before/after lists)."""
    ids = np.asarray(data.user_ids)
    return [{"user": int(u), "user_id": str(ids[u]), "level": float(level),
             "before": [int(v) for v in b], "after": [int(v) for v in a]}
            for u, b, a in zip(np.asarray(users)[: max(0, int(n))], np.asarray(before), np.asarray(after))]


def concept_neuron(item_latents: np.ndarray, concepts: np.ndarray, concept: int, k: int = 10) -> int:
    """The neuron that carries a concept: the best neuron by item purity@K (SPEC §6.3)."""
    from jaxsae.analysis.concepts import best_neurons, purity_at_k

    p = purity_at_k(item_latents, np.asarray(concepts, bool)[:, concept : concept + 1], (k,))
    return int(best_neurons(p, (k,), k)[0][0])


def file_stem(name: str) -> str:
    """A file-name-safe form of a concept or item name (`filter-<stem>.json`)."""
    keep = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name.strip())
    return keep.strip("_") or "unnamed"


__all__: List[str] = [
    "MODES", "OPS", "LatentEdit", "latent_edit", "no_edit", "apply_edit", "steer_rows", "Steerer",
    "resolve_item", "concept_share", "baseline_top", "activation_scale", "level_scale", "select_audience", "filter_separation", "filter_neurons",
    "concept_candidates", "filter_weights", "item_filter_neurons", "headline_index", "filter_experiment",
    "nudge_experiment", "promote_experiment", "item_neuron", "concept_neuron", "file_stem", "sample_lists", "N_SAMPLES",
]
