"""An outside model as `RUN/rec/`: written by `jaxsae import-rec`, read back by
`jaxsae.training.rec._driver.load_recommender` like a trained recommender.

`RUN/rec/imported.npz` holds the tables in `RUN/data`'s row order (`user_emb`, `item_emb`, the biases the
model has, `user_ids`, `item_ids`); `RUN/rec/checkpoint.json` has `kind: "imported"` and the scorer.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from jaxsae.recommenders._base import TwoTower, dot_cross, dot_score
from jaxsae.recommenders._tables import IdTables
from jaxsae.checkpoint import SCHEMA_VERSION, META_FILE
from jaxsae.jsonio import write_json

IMPORTED_KIND = "imported"
TABLES_FILE = "imported.npz"
SCORES = ("dot", "cosine")  # dot: p_u . q_i (MF, ALS, BPR); cosine: rows L2-normalized first


def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n > 0, n, 1.0)


def to_two_tower(tables: IdTables, score: str = "dot") -> TwoTower:
    """The MF `TwoTower` of aligned tables (`score="cosine"` normalizes the rows first)."""
    u, i = np.asarray(tables.user_emb, np.float32), np.asarray(tables.item_emb, np.float32)
    if score == "cosine":
        u, i = _unit(u), _unit(i)
    return TwoTower.create(u, i, score_fn=dot_score, cross_fn=dot_cross, user_bias=tables.user_bias,
                           item_bias=tables.item_bias, global_bias=tables.global_bias, kind="mf")


def save_imported(rec_dir: "str | Path", tables: IdTables, score: str) -> Dict[str, Any]:
    """Write the aligned tables and `checkpoint.json`; returns the metadata."""

    rec_dir = Path(rec_dir)
    rec_dir.mkdir(parents=True, exist_ok=True)
    arrays: Dict[str, Any] = {"user_emb": tables.user_emb, "item_emb": tables.item_emb,
                              "user_ids": np.asarray(tables.user_ids, str), "item_ids": np.asarray(tables.item_ids, str),
                              "global_bias": np.float32(tables.global_bias)}
    for k in ("user_bias", "item_bias"):
        if getattr(tables, k) is not None:
            arrays[k] = getattr(tables, k)
    np.savez(rec_dir / TABLES_FILE, **arrays)
    meta = {"schema_version": SCHEMA_VERSION, "kind": IMPORTED_KIND, "score": score, "source": tables.source,
            "n_users": int(tables.user_emb.shape[0]), "n_items": int(tables.item_emb.shape[0]),
            "dim": int(tables.user_emb.shape[1]), "user_bias": tables.user_bias is not None,
            "item_bias": tables.item_bias is not None, "config": {"model": IMPORTED_KIND, "score": score}}
    write_json(rec_dir / META_FILE, meta)
    return meta


def load_imported(rec_dir: "str | Path", meta: Optional[dict] = None) -> TwoTower:
    """The `TwoTower` saved by `save_imported`."""
    rec_dir = Path(rec_dir)
    with np.load(rec_dir / TABLES_FILE, allow_pickle=False) as z:
        t = IdTables(user_emb=z["user_emb"], item_emb=z["item_emb"], user_ids=z["user_ids"], item_ids=z["item_ids"],
                     user_bias=z["user_bias"] if "user_bias" in z.files else None,
                     item_bias=z["item_bias"] if "item_bias" in z.files else None,
                     global_bias=float(z["global_bias"]) if "global_bias" in z.files else 0.0)
    # rows were normalized at import for "cosine": the saved tables score with the dot product
    return to_two_tower(t, "dot")
