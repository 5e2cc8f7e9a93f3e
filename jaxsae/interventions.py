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
Entities outside an edit's `rows` keep their original embedding in both modes. The baseline is always
the unedited recommender.

`Steerer.scores` is one jitted batch function `[B_users] -> [B_users, n_items]` with user and item edits,
usable at serving time. The experiments (`filter_experiment`, `nudge_experiment`, `promote_experiment`)
build on it and return the dicts written to `RUN/interventions/*.json`.
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

MODES = ("residual", "reconstruct")
SET, ADD, SCALE = 0, 1, 2
OPS = {"set": SET, "add": ADD, "scale": SCALE}

FILTER_LEVELS = (0.0, -0.25, -0.5, -0.75, -1.0, -1.25, -1.5)
NUDGE_LEVELS = (1.0, 2.0, 3.0, 4.0)
PROMOTE_LEVELS = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0)


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
               x: jax.Array, edit: LatentEdit, mode: str = "residual") -> jax.Array:
    """Embeddings `x [B, d]` after `edit` (module docstring: "residual" or "reconstruct" mode).

    Rows outside `edit.rows` are returned bit-for-bit unchanged.
    """
    z, stats = encode(x)
    x_edit = decode(apply_edit(z, edit), stats)
    new = x_edit if mode == "reconstruct" else x + (x_edit - decode(z, stats))
    return jnp.where(edit.rows[:, None], new, x)


def _variables(params: Any) -> Any:
    return params if isinstance(params, dict) and "params" in params else {"params": params}


def _steer_side(module: Any, params: Any, x: jax.Array, edit: LatentEdit, mode: str) -> jax.Array:
    variables = _variables(params)
    encode = partial(module.apply, variables, method="encode")
    decode = partial(module.apply, variables, method="decode")
    return steer_rows(encode, decode, x, edit, mode)


@partial(jax.jit, static_argnums=(0, 1))
def _steered_scores(module: Any, mode: str, user_params: Any, item_params: Any, tt: TwoTower, users: jax.Array,
                    user_edit: LatentEdit, item_edit: LatentEdit) -> jax.Array:
    u = _steer_side(module, user_params, tt.user_emb[users], user_edit, mode)
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
    new = x_edit if mode == "reconstruct" else x + (x_edit - module.apply(variables, z, stats, method="decode"))
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
    if exact:
        return exact[0]
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
    from jaxsae.analysis.concepts import purity_at_k

    c = data.concept_index(concept)
    cmask = np.asarray(data.concepts[:, c], bool)
    lat = steerer.item_latents() if item_latents is None else item_latents
    purity = np.asarray(purity_at_k(lat, cmask[:, None], (purity_k,)))[0, :, 0]
    cand = np.flatnonzero(purity > cmask.mean())
    cand = cand if cand.size else np.arange(lat.shape[1])
    users = np.asarray(users, np.int32)
    sep = filter_separation(steerer, users, cmask, _exclusion(data, users, exclude_train), cand)
    order = np.argsort(-sep, kind="stable")
    chosen = [int(cand[j]) for j in order[: max(1, int(n_neurons))]]
    info = {"candidates": [int(cand[j]) for j in order],
            "separation": [round(float(sep[j]), 4) for j in order],
            "purity": [round(float(purity[cand[j]]), 4) for j in order], "purity_k": int(purity_k)}
    return chosen, info


def filter_experiment(steerer: Steerer, data: Any, concept: str, users: Sequence[int],
                      neuron: Optional[Any] = None, audience_size: int = 100, k: int = 20,
                      levels: Sequence[float] = FILTER_LEVELS, op: str = "set", exclude_train: bool = True,
                      n_neurons: int = 1) -> Dict[str, Any]:
    """Filtering (SPEC §7): push a concept neuron (or several) of the users who see the most of the concept.

    Audience: the `audience_size` users of `users` with the highest share of the concept in their
    baseline top-K. `neuron`: an int, a list of ints edited together, or None for the `n_neurons` best
    of `filter_neurons` (chosen by their effect on the audience's rankings). At each level every edited
    neuron is `op`-ed with `level * scale` (scale: that neuron's largest user activation). Reported: the
    concept's share of the top-K before and after, and `rest_rbo`, the RBO (p = 0.9) between the top-K
    lists of the non-concept items before and after (1 = the rest untouched).
    """
    c = data.concept_index(concept)
    cmask = np.asarray(data.concepts[:, c], bool)
    pool = np.asarray(users, np.int32)
    base_top = baseline_top(steerer, data, pool, k, exclude_train)
    rows = select_audience(concept_share(base_top, cmask), audience_size, highest=True)
    aud = pool[rows]
    selection: Optional[Dict[str, Any]] = None
    if neuron is None:
        neurons, selection = filter_neurons(steerer, data, concept, aud, n_neurons, exclude_train=exclude_train)
    else:
        neurons = [steerer.check_neuron(n) for n in np.atleast_1d(np.asarray(neuron)).tolist()]
        if not neurons:
            raise ConfigError("no neuron to filter through")
    excl_a = _exclusion(data, aud, exclude_train)
    base_scores = steerer.baseline(aud)
    before = base_top[rows]
    rest_excl = excl_a | cmask[None, :]
    rest_before = _top(base_scores, k, rest_excl)
    user_lat = steerer.user_latents()
    scales = np.array([activation_scale(user_lat, n) for n in neurons])
    ones = np.ones(len(aud), bool)
    per_level = []
    for level in levels:
        value = np.broadcast_to(level * scales[None, :], (len(aud), len(neurons)))
        edit = latent_edit(neurons, op, value, ones)
        s = steerer.scores(aud, user_edit=edit)
        after = _top(s, k, excl_a)
        per_level.append({"level": float(level), "value": float(level * scales[0]),
                          "values": [float(level * v) for v in scales],
                          "concept_share_after": float(concept_share(after, cmask).mean()),
                          "rest_rbo": _mean_rbo(rest_before, _top(s, k, rest_excl))})
    strongest = per_level[_strongest(levels)]
    out = {
        "concept": data.concept_names[c], "neuron": neurons[0], "neurons": neurons, "k": k, "op": op,
        "mode": steerer.mode, "levels": [float(v) for v in levels], "scale": float(scales[0]),
        "scales": [float(v) for v in scales],
        "concept_share_before": float(concept_share(before, cmask).mean()),
        "concept_share_after": strongest["concept_share_after"], "rest_rbo": strongest["rest_rbo"],
        "per_level": per_level, "audience_size": int(len(aud)),
        "pool_concept_share": float(concept_share(base_top, cmask).mean()),
        "neuron_choice": "given" if selection is None else "separation",
    }
    if selection is not None:
        out["selection"] = selection
    return out


def nudge_experiment(steerer: Steerer, data: Any, concept: str, users: Sequence[int], neuron: int,
                     audience_size: int = 100, k: int = 30, levels: Sequence[float] = NUDGE_LEVELS,
                     op: str = "add", exclude_train: bool = True) -> Dict[str, Any]:
    """Nudging (SPEC §7): raise a concept neuron of the users who see the least of the concept.

    Audience: the `audience_size` users of `users` with the lowest share of the concept in their
    baseline top-K. At each level the neuron is `op`-ed with `level * scale`; reported: the concept's
    share of the top-K before and at every level.
    """
    c = data.concept_index(concept)
    neuron = steerer.check_neuron(neuron)
    cmask = np.asarray(data.concepts[:, c], bool)
    pool = np.asarray(users, np.int32)
    base_top = baseline_top(steerer, data, pool, k, exclude_train)
    rows = select_audience(concept_share(base_top, cmask), audience_size, highest=False)
    aud = pool[rows]
    excl_a = _exclusion(data, aud, exclude_train)
    scale = activation_scale(steerer.user_latents(), neuron)
    per_level = []
    for level in levels:
        edit = latent_edit(neuron, op, level * scale, np.ones(len(aud), bool))
        after = _top(steerer.scores(aud, user_edit=edit), k, excl_a)
        per_level.append({"level": float(level), "value": float(level * scale),
                          "concept_share": float(concept_share(after, cmask).mean())})
    return {
        "concept": data.concept_names[c], "neuron": neuron, "k": k, "op": op, "mode": steerer.mode,
        "levels": [float(v) for v in levels], "scale": scale,
        "concept_share_before": float(concept_share(base_top[rows], cmask).mean()),
        "per_level": per_level, "audience_size": int(len(aud)),
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
                       exclude_train: bool = True) -> Dict[str, Any]:
    """Promotion (SPEC §7): raise one neuron of one item, for users who did not rank it in their top-K.

    The item is named by original id or title (`resolve_item`); its neuron defaults to `item_neuron`
    (the active latent that lifts its score most for the audience). Audience: up to `audience_size` users of `users` (seeded random choice) for whom the item is
    neither in the baseline top-K nor a training positive. At each level the item's neuron is `op`-ed
    with `level * scale` (scale: the neuron's largest item activation); reported: the fraction of the
    audience whose top-K then contains the item.
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
    scale = activation_scale(item_lat, neuron)
    item_rows = np.zeros(data.n_items, bool)
    item_rows[i] = True
    per_level = []
    for level in levels:
        edit = latent_edit(neuron, op, level * scale, item_rows)
        after = _top(steerer.scores(aud, item_edit=edit), k, excl_a) if len(aud) else np.zeros((0, k), int)
        entered = float((after == i).any(axis=1).mean()) if len(aud) else 0.0
        per_level.append({"level": float(level), "value": float(level * scale), "entered_top_k_fraction": entered})
    return {
        "item": str(np.asarray(data.item_ids)[i]), "item_index": i, "title": str(np.asarray(data.item_titles)[i]),
        "neuron": neuron, "k": k, "op": op, "mode": steerer.mode, "levels": [float(v) for v in levels],
        "scale": scale, "per_level": per_level,
        "entered_top_k_fraction": per_level[_strongest(levels)]["entered_top_k_fraction"] if per_level else 0.0,
        "audience_size": int(len(aud)),
    }


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
    "resolve_item", "concept_share", "baseline_top", "activation_scale", "select_audience", "filter_separation", "filter_neurons",
    "filter_experiment",
    "nudge_experiment", "promote_experiment", "item_neuron", "concept_neuron", "file_stem",
]
