"""The filter experiment: remove a concept from its biggest fans' recommendations through SAE neurons.

Filtering defaults to a per-user weighted edit of the concept's neurons (`filter_weights`), reported at the
strongest removal that keeps the rest of the list's RBO >= 0.8 (`headline_index`), with the whole
removal vs rest-RBO curve and its area (`removal_auc`); the paper's one-neuron user edit and an
item-side edit are options (`method="neuron"`, `side="item"`). It returns the dict written to
`RUN/interventions/filter-*.json`.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from jaxsae.errors import ConfigError
from jaxsae.interventions._common import (N_SAMPLES, _exclusion, _mean_rbo, _strongest, _top, baseline_top, concept_share,
                                        level_scale, sample_lists, select_audience)
from jaxsae.interventions._steer import Steerer, latent_edit
from jaxsae.analysis import purity_at_k

FILTER_LEVELS = tuple(-0.25 * i + 0.0 for i in range(13))  # 0 .. -3 (+ 0.0: no -0.0)
FILTER_METHODS = ("weighted", "neuron", "redistribute")
FILTER_TARGET = 0.2  # the goal: leave at most this fraction of the concept (>= 80% removed; `target_reached`)
FILTER_MIN_REST_RBO = 0.8  # headline: the strongest removal among the levels keeping the rest's RBO >= this
FILTER_DEPTH, FILTER_DECAY, FILTER_RIDGE = 100, 0.95, 0.01  # `filter_weights` (measured on ML-100k)


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
    (they carry it more than chance; all neurons when none does), and every neuron's purity."""

    cmask = np.asarray(concept_mask, bool)
    purity = np.asarray(purity_at_k(item_latents, cmask[:, None], (purity_k,)))[0, :, 0]
    cand = np.flatnonzero(purity > cmask.mean())
    return (cand if cand.size else np.arange(item_latents.shape[1])), purity


def filter_neurons(steerer: Steerer, data: Any, concept: str, users: np.ndarray, n_neurons: int = 1,
                   purity_k: int = 10, exclude_train: bool = True, item_latents: Optional[np.ndarray] = None
                   ) -> Tuple[List[int], Dict[str, Any]]:
    """The neurons a concept is filtered through by default, best first, and how they were chosen.

    Candidates: the neurons whose item purity@`purity_k` for the concept beats its base rate (as purity is read:
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


def redistribute_away(z: np.ndarray, concept_neurons: Sequence[int], a: float) -> np.ndarray:
    """`[U, h]`: latents `z` with a fraction `a` of their L1 mass moved off the concept's neurons S onto the
    user's own other neurons, the total kept (a norm-preserving redistribution, the filter form of
    `z' = |z|_1 ((1-a) z/|z|_1 + a e_S/|S|)` with the target the user's profile without S):

        z' = |z|_1 ((1 - a) z / |z|_1 + a z_R / |z_R|_1),   z_R = z with the S columns zeroed

    a = 1 leaves nothing on S; a row with no mass outside S (or none at all) is only scaled by 1 - a.
    Why: an edit that keeps the latent's mass changes what the user is shown, not how strongly."""
    z = np.asarray(z, np.float64)
    rest = z.copy()
    rest[:, np.asarray(concept_neurons, int)] = 0.0
    n1 = np.abs(z).sum(axis=1, keepdims=True)
    nr = np.abs(rest).sum(axis=1, keepdims=True)
    target = np.where(nr > 0, rest * n1 / np.where(nr > 0, nr, 1.0), 0.0)
    return (1.0 - float(a)) * z + float(a) * target


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


def removal(share_after: float, share_before: float) -> float:
    """The fraction of the concept an edit removed from the top-K, `1 - share_after / share_before`
    (0 when there was nothing to remove)."""
    return 0.0 if share_before <= 0 else 1.0 - float(share_after) / float(share_before)


def headline_index(per_level: Sequence[Dict[str, Any]], share_before: float,
                   min_rest_rbo: float = FILTER_MIN_REST_RBO) -> Optional[int]:
    """Index of the headline level: the one removing the most of the concept among the levels whose
    `rest_rbo >= min_rest_rbo` (ties: the higher rest-RBO, then the milder level); None when no level
    both meets the constraint and removes anything. Why: the strongest levels remove the concept by
    wrecking the rest of the list (rest-RBO near 0), which is no filter; a level below the constraint
    is never the result, however much it removes."""
    best: Optional[int] = None
    key = None
    for j, p in enumerate(per_level):
        rbo = p.get("rest_rbo")
        if rbo is None or not rbo >= float(min_rest_rbo) - 1e-12:
            continue
        r = removal(p["concept_share_after"], share_before)
        if r <= 1e-12:
            continue
        k = (r, float(rbo), -abs(float(p["level"])))
        if key is None or k > key:
            best, key = j, k
    return best


def removal_auc(per_level: Sequence[Dict[str, Any]], share_before: float) -> float:
    """Area under the removal vs rest-RBO curve: with `f(r) = max{rest_rbo_j : removal_j >= r}` (the best
    rest-RBO any level reaches while removing at least r of the concept; 0 where none does),
    `AUC = integral_0^1 f(r) dr`. 1: the whole concept removed with the rest untouched; the unedited list
    alone (removal 0, rest-RBO 1) gives 0. A step function, integrated exactly."""
    pts = sorted(((min(max(removal(p["concept_share_after"], share_before), 0.0), 1.0), float(p["rest_rbo"]))
                  for p in per_level if p.get("rest_rbo") is not None), reverse=True)
    area, best, right = 0.0, 0.0, 1.0
    for r, rbo in pts:  # removal descending: on (r, right] f is the best rest-RBO seen so far
        area += best * (right - r)
        best, right = max(best, rbo), r
    return float(area + best * right)


def _most_specific(neurons: Sequence[int], selection: Optional[Dict[str, Any]], scales: np.ndarray) -> int:
    """Index (into `neurons`) of the weighted filter's reported neuron: the one most specific to the concept,
    i.e. with the highest item purity@10 for it, ties to the larger mean weight (the largest
    weight alone was often the popularity neuron, which is in every list but means no concept)."""
    purity = dict(zip((selection or {}).get("candidates", []), (selection or {}).get("purity", [])))
    keys = [(float(purity.get(int(n), 0.0)), float(scales[j])) for j, n in enumerate(neurons)]
    return max(range(len(neurons)), key=lambda j: keys[j]) if neurons else 0


def filter_experiment(steerer: Steerer, data: Any, concept: str, users: Sequence[int],
                      neuron: Optional[Any] = None, audience_size: int = 100, k: int = 20,
                      levels: Sequence[float] = FILTER_LEVELS, op: Optional[str] = None, exclude_train: bool = True,
                      n_neurons: int = 1, method: Optional[str] = None, side: str = "user",
                      target: float = FILTER_TARGET, absolute: bool = False, n_samples: int = N_SAMPLES,
                      min_rest_rbo: float = FILTER_MIN_REST_RBO) -> Dict[str, Any]:
    """Filtering: lower a concept through SAE neurons for the users who see the most of it.

    Audience: the `audience_size` users of `users` with the highest share of the concept in their
    baseline top-K. Methods (`method`; default "weighted" on the user side when no neuron is given,
    else "neuron"):
    - "weighted" (user side): every above-chance-purity neuron (or the given ones) gets a per-user
      `add` from `filter_weights`; level L lowers the concept, relative to the rest, by |L| standard
      deviations of the user's top scores.
    - "redistribute" (user side): the same neurons S; level L moves `a = |L| / |strongest level|` of each
      user's latent L1 mass off S onto the user's other neurons, the total kept (`redistribute_away`).
    - "neuron": `neuron` (an int or a list) or the `n_neurons` best (user side: `filter_neurons`, by
      separation; item side: `item_filter_neurons`, by coverage of the audience's lists) are `op`-ed
      (default "set") with `level * scale` (scale: the neuron's largest user or item activation, or 1
      with `absolute`, the reference's absolute latent values).
      On the item side only the items where a chosen neuron fires are edited, for the audience's
      requests only; every other item keeps its exact embedding.
    Reported per level: the concept's share of the top-K, `removal` (`1 - share / share before`) and
    `rest_rbo`, the RBO (p = 0.9) of the non-concept top-K lists before and after (1 = the rest untouched).
    The headline (`concept_share_after`, `removal`, `rest_rbo`, labelled by `level`) is the strongest
    removal among the levels with `rest_rbo >= min_rest_rbo` (`headline_index`); when none removes
    anything at that constraint, `level` is None, the headline is the unedited list (nothing removed,
    rest-RBO 1) and `headline` says so. `target_reached`: the headline removes at least `1 - target`.
    `curve` (removal, rest-RBO per level), `removal_auc` (`removal_auc`), `max_removal` (the most any
    level removes, whatever its rest-RBO) and `strongest` (the strongest level) give the whole trade-off.
    The reported `neuron` of the weighted filter is the candidate most specific to the
    concept (highest purity@10, `_most_specific`), not the one with the largest weight. `samples`: the first
    `n_samples` audience users' top-K before and at the headline level.
    """
    if side not in ("user", "item"):
        raise ConfigError(f"unknown filter side {side!r}; use user or item")
    method = method or ("weighted" if neuron is None and side == "user" else "neuron")
    if method not in FILTER_METHODS:
        raise ConfigError(f"unknown filter method {method!r}; use one of {', '.join(FILTER_METHODS)}")
    if method in ("weighted", "redistribute") and side == "item":
        raise ConfigError(f"the {method} filter edits users; use --method neuron with --side item")
    if method in ("weighted", "redistribute") and absolute:
        raise ConfigError(f"absolute levels apply to neuron edits (--method neuron), not to the {method} filter")
    op = "set" if method == "redistribute" else op or ("add" if method == "weighted" else "set")
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
    elif method in ("weighted", "redistribute"):
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
    elif method == "redistribute":  # level L moves a = min(1, |L| / |strongest level|) of the mass
        z_aud, every = steerer.user_latents(aud), list(range(steerer.n_latents))
        scales = np.full(len(neurons), 1.0 / max(abs(float(levels[_strongest(levels)])), 1e-12))
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
        elif method == "redistribute":
            a = min(1.0, abs(float(level)) * scales[0])
            s = steerer.scores(aud, user_edit=latent_edit(every, "set", redistribute_away(z_aud, neurons, a), ones))
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
    for p in per_level:
        p["removal"] = removal(p["concept_share_after"], share_before)
    head = headline_index(per_level, share_before, min_rest_rbo)
    best = per_level[head] if head is not None else {"level": None, "concept_share_after": share_before,
                                                     "removal": 0.0, "rest_rbo": 1.0}
    reached = best["removal"] >= 1.0 - float(target) - 1e-12
    most = max(per_level, key=lambda p: p["removal"]) if per_level else best
    strongest = per_level[_strongest(levels)]
    lead = _most_specific(neurons, selection, scales) if method in ("weighted", "redistribute") else 0
    if head is None:
        headline = (f"no level removes any of the concept at rest-RBO >= {min_rest_rbo:g} "
                    f"(the most any level removes is {most['removal']:.0%}, at rest-RBO {most['rest_rbo']:.2f})")
    else:
        headline = (f"strongest removal at rest-RBO >= {min_rest_rbo:g}: {best['removal']:.0%} of the concept"
                    + ("" if reached else f"; the target ({1 - target:.0%} removed) is not reachable there"))
    out = {
        "concept": data.concept_names[c], "neuron": neurons[lead], "neurons": neurons, "k": k, "op": op,
        "method": method, "side": side, "mode": steerer.mode, "levels": [float(v) for v in levels],
        "scale": float(scales[lead]), "scales": [float(v) for v in scales], "absolute_levels": bool(absolute),
        "concept_share_before": share_before,
        "concept_share_after": best["concept_share_after"], "removal": best["removal"], "rest_rbo": best["rest_rbo"],
        "level": best["level"], "min_rest_rbo": float(min_rest_rbo), "target": float(target),
        "target_reached": bool(reached), "headline": headline,
        "curve": [{"level": p["level"], "removal": p["removal"], "rest_rbo": p["rest_rbo"]} for p in per_level],
        "removal_auc": removal_auc(per_level, share_before),
        "max_removal": {"level": most["level"], "removal": most["removal"], "rest_rbo": most["rest_rbo"]},
        "strongest": {"level": strongest["level"], "concept_share_after": strongest["concept_share_after"],
                      "removal": strongest["removal"], "rest_rbo": strongest["rest_rbo"]},
        "per_level": per_level, "audience_size": int(len(aud)),
        "pool_concept_share": float(concept_share(base_top, cmask).mean()),
        "neuron_choice": "given" if neuron is not None else (
            method if method in ("weighted", "redistribute") else "coverage" if side == "item" else "separation"),
    }
    if selection is not None:
        out["selection"] = selection
    out["samples"] = sample_lists(data, aud, before, afters[head] if head is not None else before,
                                  best["level"] if head is not None else 0.0, n_samples)
    return out
