"""From a loader's `RawDataset` to the prepared `InteractionData`.

`prepare` binarizes (a user-item pair is a positive when any of its rows passes `min_rating`),
applies the filters, re-indexes users and items densely (ids in natural order: numerically when all
ids are integers, else as strings; items nobody interacted with are dropped), hides `n_test`
positives and samples `n_test` negatives per user (`data_prep.split`), counts train popularity and
builds the concept matrix (source genres/tags, decades, popularity buckets; `data_prep.concepts`).
Everything is vectorized with numpy/pandas: ML-1M size in about a second.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional, Tuple

import numpy as np
import pandas as pd

from data_prep.concepts import decade_concepts, popularity_concepts, source_concepts, stack_concepts
from data_prep.dataset import InteractionData, RawDataset
from data_prep.errors import ConfigError, JaxsaeError
from data_prep.split import split_hidden

FilterStep = Tuple[str, int]
FILTER_KINDS = ("item", "user")
# The paper's Last.fm (MSD) order: artists with > 50 listeners, then users with > 50 artists, then
# artists with > 40 listeners (filters keep counts >= their minimum, hence 51 / 51 / 41).
LASTFM_MSD_FILTERS: Tuple[FilterStep, ...] = (("item", 51), ("user", 51), ("item", 41))


@dataclasses.dataclass(frozen=True)
class PrepareOptions:
    """How `prepare` turns raw interactions into training data (validated at construction)."""

    min_rating: Optional[float] = None
    """A row counts as a positive when `value >= min_rating`; None: every row counts (implicit data)."""
    min_item_users: int = 0
    """Iterative filter: keep items with at least this many distinct users (0: off)."""
    min_user_items: int = 0
    """Iterative filter: keep users with at least this many distinct items (0: off)."""
    filter_sequence: Tuple[FilterStep, ...] = ()
    """One-pass filters applied in order before the iterative ones: `("item", n)` keeps items with
    >= n users, `("user", n)` keeps users with >= n items (e.g. `LASTFM_MSD_FILTERS`)."""
    n_test: int = 5
    """Hidden positives and hidden negatives per evaluated user (users need n_test + 1 positives)."""
    seed: int = 0
    """Seed of the hidden split."""
    pop_top: float = 0.1
    """Fraction of items (highest train count) labeled with the concept "popular"; 0: no such concept."""
    pop_bottom: float = 0.5
    """Fraction of items (lowest train count) labeled with the concept "niche"; 0: no such concept."""
    min_concept_items: int = 1
    """Concepts carried by fewer items than this are dropped."""

    def __post_init__(self) -> None:
        if self.min_rating is not None and not np.isfinite(self.min_rating):
            raise ConfigError(f"min_rating must be a finite number or None, got {self.min_rating}")
        for name in ("min_item_users", "min_user_items", "n_test", "min_concept_items"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ConfigError(f"{name} must be an integer >= 0, got {v!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ConfigError(f"seed must be an integer >= 0, got {self.seed!r}")
        for name in ("pop_top", "pop_bottom"):
            v = getattr(self, name)
            if not (0.0 <= float(v) <= 1.0):
                raise ConfigError(f"{name} must be in [0, 1], got {v}")
        if self.pop_top + self.pop_bottom > 1.0:
            raise ConfigError(
                f"pop_top + pop_bottom must be <= 1 (the buckets may not overlap), got {self.pop_top} + {self.pop_bottom}"
            )
        steps = tuple(tuple(s) for s in self.filter_sequence)
        for s in steps:
            ok_min = len(s) == 2 and not isinstance(s[1], bool) and isinstance(s[1], (int, np.integer)) and s[1] >= 0
            if not ok_min or s[0] not in FILTER_KINDS:
                raise ConfigError(
                    f"filter_sequence entries must be (kind, minimum) with kind in {FILTER_KINDS} and an integer "
                    f"minimum >= 0, got {s!r}"
                )
        object.__setattr__(self, "filter_sequence", tuple((str(k), int(n)) for k, n in steps))

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready dict of the options (stored in `InteractionData.info`)."""
        d = dataclasses.asdict(self)
        d["filter_sequence"] = [list(s) for s in self.filter_sequence]
        return d


def _natural_order(ids: np.ndarray) -> np.ndarray:
    """Permutation sorting `ids` numerically when all are integers, else as strings."""
    num = pd.to_numeric(pd.Series(ids, dtype=object), errors="coerce").to_numpy(dtype=np.float64)
    if ids.size and np.isfinite(num).all() and (num == np.round(num)).all():
        return np.lexsort((ids.astype(str), num))
    return np.argsort(ids.astype(str), kind="stable")


def _lookup(table_ids: Optional[np.ndarray], ids: np.ndarray) -> np.ndarray:
    """Row of each id in `table_ids` (first occurrence), -1 where absent."""
    if table_ids is None or len(table_ids) == 0:
        return np.full(ids.shape[0], -1, dtype=np.int64)
    table_ids = np.asarray(table_ids).astype(str)
    uniq, first = np.unique(table_ids, return_index=True)
    pos = pd.Index(uniq).get_indexer(ids.astype(str))
    return np.where(pos >= 0, first[np.maximum(pos, 0)], -1).astype(np.int64)


def apply_filters(
    users: np.ndarray, items: np.ndarray, options: PrepareOptions
) -> Tuple[np.ndarray, Dict[str, Any]]:
    """Keep-mask over distinct (user, item) pairs after `filter_sequence`, then the iterative filters.

    The iterative filters (`min_item_users`, `min_user_items`) alternate until neither removes a pair.
    Returns the mask and a log of pairs left after each step.
    """
    keep = np.ones(users.shape[0], dtype=bool)
    n_u = int(users.max()) + 1 if users.size else 0
    n_i = int(items.max()) + 1 if items.size else 0
    log: Dict[str, Any] = {"steps": []}

    def step(kind: str, minimum: int) -> int:
        own, n = (items, n_i) if kind == "item" else (users, n_u)
        counts = np.bincount(own[keep], minlength=n)
        drop = keep & (counts[own] < minimum)
        keep[drop] = False
        log["steps"].append({"kind": kind, "min": minimum, "pairs_left": int(keep.sum())})
        return int(drop.sum())

    for kind, minimum in options.filter_sequence:
        step(kind, minimum)
    rounds = 0
    while options.min_item_users > 0 or options.min_user_items > 0:
        removed = 0
        if options.min_item_users > 0:
            removed += step("item", options.min_item_users)
        if options.min_user_items > 0:
            removed += step("user", options.min_user_items)
        rounds += 1
        if removed == 0:
            break
    log["iterative_rounds"] = rounds
    return keep, log


def prepare(raw: RawDataset, options: PrepareOptions = PrepareOptions()) -> InteractionData:
    """Binarize, filter, re-index, split and attach concepts: `RawDataset -> InteractionData`.

    `popularity` is the train count per item; `concepts` = source concepts (vocabulary order) +
    decades from `year` + popularity buckets (computed on train counts); `n_interactions` = raw rows.
    """
    n_rows = raw.n_rows
    for name in ("item", "value"):
        if np.asarray(getattr(raw, name)).shape[0] != n_rows:
            raise JaxsaeError(f"{raw.name}: raw arrays differ in length (user {n_rows}, {name} {len(getattr(raw, name))})")
    if n_rows == 0:
        raise JaxsaeError(f"{raw.name}: no interactions to prepare")
    n_table = len(raw.item_table_ids)
    if not (len(raw.item_titles) == len(raw.item_concepts) == len(raw.item_years) == n_table):
        raise JaxsaeError(
            f"{raw.name}: item table columns differ in length (ids {n_table}, titles {len(raw.item_titles)}, "
            f"concepts {len(raw.item_concepts)}, years {len(raw.item_years)})"
        )
    mask = np.ones(n_rows, dtype=bool)
    if options.min_rating is not None:
        mask = np.asarray(raw.value, dtype=np.float64) >= options.min_rating
        if not mask.any():
            raise JaxsaeError(f"{raw.name}: no interaction has value >= min_rating={options.min_rating}")
    # One int64 array per stage of the pipeline, updated in place and dropped when done: ML-25M size
    # (25M rows) stays ~1.5 GB (arrays of 200 MB) where the temporaries of whole-array expressions took 3 GB.
    everything = bool(mask.all())
    ucode, uniq_u = pd.factorize(np.asarray(raw.user) if everything else np.asarray(raw.user)[mask])
    icode, uniq_i = pd.factorize(np.asarray(raw.item) if everything else np.asarray(raw.item)[mask])
    uniq_u = np.asarray(uniq_u).astype(str)
    uniq_i = np.asarray(uniq_i).astype(str)
    pair = ucode.astype(np.int64, copy=False)
    del ucode
    pair *= len(uniq_i)
    pair += icode
    del icode
    pair.sort()
    pair = pair[np.concatenate(([True], pair[1:] != pair[:-1]))]  # distinct pairs, user-major
    n_pairs = int(pair.size)
    users, items = pair // len(uniq_i), pair % len(uniq_i)
    del pair

    keep, filter_log = apply_filters(users, items, options)
    if not keep.all():
        users, items = users[keep], items[keep]
    del keep
    if users.size == 0:
        raise JaxsaeError(f"{raw.name}: the filters removed every interaction ({options.to_dict()})")

    # Dense ids in natural order of the original ids; items without interactions disappear here.
    present_u = np.flatnonzero(np.bincount(users, minlength=len(uniq_u)))
    present_i = np.flatnonzero(np.bincount(items, minlength=len(uniq_i)))
    u_sorted = present_u[_natural_order(uniq_u[present_u])]
    i_sorted = present_i[_natural_order(uniq_i[present_i])]
    u_map = np.full(len(uniq_u), -1, dtype=np.int64)
    u_map[u_sorted] = np.arange(u_sorted.size)
    i_map = np.full(len(uniq_i), -1, dtype=np.int64)
    i_map[i_sorted] = np.arange(i_sorted.size)
    n_users, n_items = int(u_sorted.size), int(i_sorted.size)
    n_pairs_filtered = int(users.size)
    dense = u_map[users]
    del users
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(dense, minlength=n_users), out=indptr[1:])
    dense *= n_items
    dense += i_map[items]
    del items
    dense.sort()
    dense %= n_items  # the items, user-major and sorted within each user
    train_indptr, train_indices, test_users, test_pos, test_neg = split_hidden(
        indptr, dense, n_items, options.n_test, options.seed
    )
    del dense
    popularity = np.bincount(train_indices, minlength=n_items).astype(np.int64)

    user_ids, item_ids = uniq_u[u_sorted], uniq_i[i_sorted]
    row = _lookup(raw.item_table_ids, item_ids)
    has = row >= 0
    titles = item_ids.copy().astype(object)
    if has.any():
        titles[has] = np.asarray(raw.item_titles).astype(str)[row[has]]
    year = np.full(n_items, -1, dtype=np.int64)
    if has.any():
        year[has] = np.asarray(raw.item_years, dtype=np.int64)[row[has]]
    item_concepts = [list(raw.item_concepts[r]) if r >= 0 else [] for r in row.tolist()]
    concepts, names, families = stack_concepts(
        [
            source_concepts(item_concepts, raw.concept_family, raw.concept_vocabulary),
            decade_concepts(year),
            popularity_concepts(popularity, options.pop_top, options.pop_bottom),
        ],
        min_items=options.min_concept_items,
    )

    attrs: Dict[str, np.ndarray] = {}
    if raw.user_attributes:
        urow = _lookup(raw.user_table_ids, user_ids)
        for name, values in raw.user_attributes.items():
            vals = np.asarray(values).astype(str)
            attrs[name] = np.where(urow >= 0, vals[np.maximum(urow, 0)] if vals.size else "", "").astype(str)

    info = {
        "options": options.to_dict(),
        "value_kind": raw.value_kind,
        "n_rows": int(n_rows),
        "n_rows_counted": int(mask.sum()),
        "n_pairs": n_pairs,
        "n_pairs_filtered": n_pairs_filtered,
        "filters": filter_log,
        "n_users_not_evaluated": int(n_users - test_users.shape[0]),
        "source": raw.info,
    }
    return InteractionData(
        dataset=raw.name,
        n_users=n_users,
        n_items=n_items,
        user_ids=user_ids.astype(str),
        item_ids=item_ids.astype(str),
        item_titles=titles.astype(str),
        train_indptr=train_indptr,
        train_indices=train_indices,
        test_users=test_users,
        test_pos=test_pos,
        test_neg=test_neg,
        popularity=popularity,
        concepts=concepts,
        concept_names=names,
        concept_families=families,
        year=year,
        user_attributes=attrs,
        n_interactions=int(n_rows),
        info=info,
    )
