"""Item concepts: source concepts as a multi-hot matrix, plus derived decades and
popularity buckets.

- source concepts: the loader's per-item name lists (genres or tags), columns in the loader's
  vocabulary order when given (names outside it follow, sorted), else sorted by name;
- decades: `"1990s"` for years 1990-1999 (family "decade"), ascending, items with unknown year (-1) none;
- popularity buckets (family "popularity"): `"popular"` = the `ceil(top * n)` items with the highest
  train count, `"niche"` = the `ceil(bottom * n)` items with the lowest; ties broken by item index
  (lower index first in both directions), so bucket sizes are exact and deterministic.
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import numpy as np

ConceptBlock = Tuple[np.ndarray, List[str], List[str]]  # (multi-hot [n_items, c] bool, names, families)


def source_concepts(
    item_concepts: Sequence[Sequence[str]], family: str, vocabulary: Optional[Sequence[str]] = None
) -> ConceptBlock:
    """Multi-hot `[n_items, n_concepts]` of the per-item name lists, all of family `family`.

    Empty names are ignored; duplicates within an item count once.
    """
    n = len(item_concepts)
    lengths = np.fromiter((len(c) for c in item_concepts), dtype=np.int64, count=n)
    flat = [str(name) for names in item_concepts for name in names]
    rows = np.repeat(np.arange(n, dtype=np.int64), lengths)
    present = sorted({name for name in flat if name})
    names = [str(v) for v in vocabulary] if vocabulary is not None else []
    known = set(names)
    names += [name for name in present if name not in known]
    col = {name: j for j, name in enumerate(names)}
    mat = np.zeros((n, len(names)), dtype=bool)
    if flat:
        cols = np.fromiter((col.get(name, -1) for name in flat), dtype=np.int64, count=len(flat))
        ok = cols >= 0
        mat[rows[ok], cols[ok]] = True
    return mat, names, [family] * len(names)


def decade_of(year: np.ndarray) -> np.ndarray:
    """Decade start per year (`1994 -> 1990`), -1 where the year is unknown (< 0)."""
    year = np.asarray(year, dtype=np.int64)
    return np.where(year >= 0, (year // 10) * 10, -1)


def decade_concepts(year: np.ndarray) -> ConceptBlock:
    """Multi-hot of decade concepts (`"1990s"`, family "decade") for every decade present, ascending."""
    dec = decade_of(year)
    decades = np.unique(dec[dec >= 0])
    mat = dec[:, None] == decades[None, :]
    names = [f"{int(d)}s" for d in decades]
    return mat.astype(bool), names, ["decade"] * len(names)


def popularity_concepts(popularity: np.ndarray, top: float = 0.1, bottom: float = 0.5) -> ConceptBlock:
    """`"popular"` (top `top` fraction by train count) and `"niche"` (bottom `bottom` fraction) columns.

    Bucket sizes are `ceil(fraction * n_items)`; a zero fraction gives no column.
    """
    pop = np.asarray(popularity, dtype=np.int64)
    n = pop.shape[0]
    idx = np.arange(n)
    cols, names = [], []
    if top > 0 and n:
        k = min(n, math.ceil(top * n))
        col = np.zeros(n, dtype=bool)
        col[np.lexsort((idx, -pop))[:k]] = True
        cols.append(col)
        names.append("popular")
    if bottom > 0 and n:
        k = min(n, math.ceil(bottom * n))
        col = np.zeros(n, dtype=bool)
        col[np.lexsort((idx, pop))[:k]] = True
        cols.append(col)
        names.append("niche")
    mat = np.stack(cols, axis=1) if cols else np.zeros((n, 0), dtype=bool)
    return mat, names, ["popularity"] * len(names)


def stack_concepts(blocks: Sequence[ConceptBlock], min_items: int = 1) -> ConceptBlock:
    """Concatenate concept blocks column-wise, dropping concepts carried by fewer than `min_items` items.

    Names stay unique (case-insensitively): a later name equal to an earlier one becomes `"name (family)"`.
    """
    n = blocks[0][0].shape[0] if blocks else 0
    mats = [b[0] for b in blocks]
    mat = np.concatenate(mats, axis=1) if mats else np.zeros((n, 0), dtype=bool)
    names = [name for b in blocks for name in b[1]]
    fams = [f for b in blocks for f in b[2]]
    keep = mat.sum(axis=0) >= min_items
    names = [nm for nm, k in zip(names, keep) if k]
    fams = [f for f, k in zip(fams, keep) if k]
    seen = set()
    for j, nm in enumerate(names):  # a derived name that repeats a source name gets its family appended
        if nm.lower() in seen:
            names[j] = f"{nm} ({fams[j]})"
        seen.add(names[j].lower())
    return mat[:, keep], names, fams
