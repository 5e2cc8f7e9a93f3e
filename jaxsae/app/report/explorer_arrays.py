"""The explorer's compact numbers and array statistics: rounded floats, top-N rows, activation histograms, Spearman."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from scipy.stats import rankdata


# ---- compact numbers ------------------------------------------------------------------------------
def _sig(v: Any, digits: int = 3) -> Optional[float]:
    """`v` rounded to `digits` significant digits (None for missing or non-finite values)."""
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f):
        return None
    if f == 0.0:
        return 0.0
    return round(f, max(0, digits - 1 - int(math.floor(math.log10(abs(f))))))


def _sig_array(a: np.ndarray, digits: int = 3) -> List[Optional[float]]:
    """`_sig` over an array, vectorized (NaN -> None)."""
    a = np.asarray(a, np.float64).ravel()
    out: List[Optional[float]] = []
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.floor(np.log10(np.abs(a)))
    for v, m in zip(a.tolist(), mag.tolist()):
        if not math.isfinite(v):
            out.append(None)
        elif v == 0.0:
            out.append(0.0)
        else:
            out.append(round(v, max(0, digits - 1 - int(m))))
    return out


def _flat_pairs(idx: np.ndarray, val: np.ndarray, keep: np.ndarray, digits: int) -> List[List[Any]]:
    """Rows of `[index, value, index, value, ...]` for the kept slots of `idx`/`val` `[rows, n]`."""
    vals = _sig_array(val, digits)
    n = idx.shape[1] if idx.ndim == 2 else 0
    out = []
    for r in range(idx.shape[0]):
        row: List[Any] = []
        for j in range(n):
            if keep[r, j]:
                row += [int(idx[r, j]), vals[r * n + j]]
        out.append(row)
    return out


def _top_rows(a: np.ndarray, n: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of `a [rows, cols]`, the `n` largest values: `(indices, values, value > 0)`, best first."""
    n = min(int(n), a.shape[1])
    if n == 0:
        z = np.zeros((a.shape[0], 0))
        return z.astype(np.int64), z, z.astype(bool)
    part = np.argpartition(-a, n - 1, axis=1)[:, :n]
    pv = np.take_along_axis(a, part, axis=1)
    order = np.lexsort((part, -pv), axis=1)  # value descending, ties to the lower index
    idx = np.take_along_axis(part, order, axis=1)
    val = np.take_along_axis(pv, order, axis=1)
    return idx, val, val > 0


def _num(v: Any) -> Optional[float]:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _histograms(a: np.ndarray, bins: int) -> List[Dict[str, Any]]:
    """Per latent, counts of its positive item activations in `bins` equal bins over `[min, max]` of them
    (TopK latents never fire below a threshold, so the bins start at the smallest activation). Vectorized over
    the nonzero entries only, so it costs O(active entries), not O(items x latents)."""
    h = a.shape[1]
    rows, cols = np.nonzero(a > 0)
    vals = a[rows, cols].astype(np.float64)
    n_pos = np.bincount(cols, minlength=h)
    lo = np.full(h, np.inf)
    hi = np.full(h, -np.inf)
    np.minimum.at(lo, cols, vals)
    np.maximum.at(hi, cols, vals)
    lo = np.where(n_pos > 0, lo, 0.0)
    hi = np.where(n_pos > 0, hi, 0.0)
    flat = hi <= lo  # one value (or none): a single bin from 0
    lo = np.where(flat, 0.0, lo)
    hi = np.where(flat, np.maximum(hi, 1e-12), hi)
    width = (hi - lo) / bins
    b = np.clip(np.floor((vals - lo[cols]) / width[cols]).astype(np.int64), 0, bins - 1)
    counts = np.bincount(cols * bins + b, minlength=h * bins).reshape(h, bins)
    los, his = _sig_array(lo), _sig_array(hi)
    return [{"lo": los[n], "hi": his[n], "counts": counts[n].tolist(), "zeros": int(a.shape[0] - n_pos[n])}
            for n in range(h)]


def _spearman(a: np.ndarray, y: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Spearman correlation of every column of `a [n, h]` with `y [n]` (tie-averaged ranks; 0 for a constant
    column), in column chunks. Only used when the run has no analysis/popularity.json."""

    ry = rankdata(y)
    ry = ry - ry.mean()
    out = np.zeros(a.shape[1])
    for s in range(0, a.shape[1], chunk):
        r = rankdata(a[:, s : s + chunk], axis=0)
        r -= r.mean(axis=0)
        den = np.sqrt((r * r).sum(axis=0) * (ry @ ry))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[s : s + chunk] = np.where(den > 0, (ry @ r) / den, 0.0)
    return out
