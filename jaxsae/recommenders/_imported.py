"""Embeddings trained elsewhere as an MF scorer.

Accepted layouts:
- one `.npz` with `user_emb [n_u, d]`, `item_emb [n_i, d]` and optional `user_bias [n_u]`,
  `item_bias [n_i]`, `global_bias []`;
- a pair `(user_path, item_path)` of `.npy` files, or of `.csv` files with one row of `d` numbers per
  user / item (an optional non-numeric header row is skipped); biases then come from the optional
  `user_bias=` / `item_bias=` files (`.npy`, or `.csv` with one number per row) and `global_bias=`.
The result scores `b + b_u + b_i + p_u . q_i`. Any other two-tower model can be wrapped directly with
`TwoTower.create(user_emb, item_emb, score_fn=my_score, head=my_params)`.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from jaxsae.errors import DataFormatError, MissingDataError
from jaxsae.recommenders._base import TwoTower, dot_cross, dot_score
from jaxsae.errors import ConfigError
from jaxsae.recommenders._import_run import to_two_tower
from jaxsae.recommenders._tables import align_to_data, read_id_tables

PathLike = Union[str, "os.PathLike[str]"]
NPZ_KEYS = ("user_emb", "item_emb", "user_bias", "item_bias", "global_bias")


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise MissingDataError(f"{path}: file not found")


def _read_csv_table(path: Path) -> np.ndarray:
    """A float matrix from a csv file, one row per entity; names `file:line` on a malformed row."""
    rows: list = []
    width: Optional[int] = None
    with open(path, newline="", encoding="utf-8") as f:
        for lineno, fields in enumerate(csv.reader(f), start=1):
            if not fields or all(not x.strip() for x in fields):
                continue
            try:
                values = [float(x) for x in fields]
            except ValueError:
                if lineno == 1 and not rows:  # header row
                    continue
                raise DataFormatError(path, lineno, "numbers separated by commas", repr(",".join(fields))[:80]) from None
            if width is None:
                width = len(values)
            elif len(values) != width:
                raise DataFormatError(path, lineno, f"{width} values per row", f"{len(values)}")
            rows.append(values)
    if not rows:
        raise DataFormatError(path, None, "at least one row of numbers", "an empty table")
    return np.asarray(rows, dtype=np.float32)


def _read_array(path: Path) -> np.ndarray:
    _check_exists(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            return np.load(path, allow_pickle=False)
        except ValueError as e:
            raise DataFormatError(path, None, "a numeric .npy array", str(e)) from None
    if suffix in (".csv", ".txt"):
        return _read_csv_table(path)
    raise DataFormatError(path, None, "a .npy, .npz or .csv file", f"suffix {suffix!r}")


def _as_table(arr: np.ndarray, path: Path, what: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DataFormatError(path, None, f"{what} as a non-empty [n, d] matrix", f"shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or not np.isfinite(arr).all():
        raise DataFormatError(path, None, f"finite numbers in {what}", "non-finite or non-numeric values")
    return arr.astype(np.float32)


def _as_bias(arr: Optional[np.ndarray], n: int, path: Path, what: str) -> Optional[np.ndarray]:
    if arr is None:
        return None
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.shape != (n,):
        raise DataFormatError(path, None, f"{what} of shape ({n},) (one per row of the table)", f"shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise DataFormatError(path, None, f"finite numbers in {what}", "non-finite values")
    return arr


def load_two_tower(paths: Union[PathLike, Sequence[PathLike]], user_bias: Optional[PathLike] = None,
                   item_bias: Optional[PathLike] = None, global_bias: float = 0.0,
                   n_users: Optional[int] = None, n_items: Optional[int] = None, data: Optional[object] = None
                   ) -> TwoTower:
    """An MF `TwoTower` from a `.npz` file or a `(users, items)` pair of `.npy`/`.csv` tables.

    `n_users`/`n_items`, when given (e.g. from the prepared data), must match the table rows.
    Raises `DataFormatError`/`MissingDataError` naming the file on a missing key, a non-2-D table,
    mismatched dimensions d, biases of the wrong length or non-finite values.

    Rows are taken by position. A `.npz` that carries `user_ids`/`item_ids` is aligned by id to `data`
    (an `InteractionData`, as `jaxsae import-rec` does) and refused without it, so a table in another
    order is never read silently.
    """
    if isinstance(paths, (str, os.PathLike)):
        path = Path(paths)
        _check_exists(path)
        if path.suffix.lower() != ".npz":
            raise DataFormatError(path, None, "a .npz file (or a (users, items) pair of .npy/.csv files)",
                                  f"suffix {path.suffix!r}")
        with np.load(path, allow_pickle=False) as z:
            has_ids = "user_ids" in z.files or "item_ids" in z.files
        if has_ids or data is not None:

            if data is None:
                raise ConfigError(f"{path}: the tables carry user_ids/item_ids; pass data= (the InteractionData) so "
                                  f"rows are aligned by id, or use `jaxsae import-rec`")
            tables, _ = align_to_data(read_id_tables([path]), data.user_ids, data.item_ids,
                                      user_untrained=np.diff(np.asarray(data.train_indptr)) == 0,
                                      item_untrained=np.asarray(data.popularity) == 0)
            return to_two_tower(tables)
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("user_emb", "item_emb") if k not in z.files]
            if missing:
                raise DataFormatError(path, None, "keys user_emb and item_emb", f"keys {sorted(z.files)}")
            arrays = {k: np.asarray(z[k]) for k in NPZ_KEYS if k in z.files}
        u = _as_table(arrays["user_emb"], path, "user_emb")
        i = _as_table(arrays["item_emb"], path, "item_emb")
        u_path = i_path = ub_path = ib_path = path
        ub, ib = arrays.get("user_bias"), arrays.get("item_bias")
        gb = float(np.asarray(arrays["global_bias"]).reshape(-1)[0]) if "global_bias" in arrays else global_bias
    else:
        paths = list(paths)
        if len(paths) != 2:
            raise DataFormatError(", ".join(map(str, paths)), None, "two files (users, items)", f"{len(paths)} files")
        u_path, i_path = Path(paths[0]), Path(paths[1])
        u = _as_table(_read_array(u_path), u_path, "user embeddings")
        i = _as_table(_read_array(i_path), i_path, "item embeddings")
        ub_path = Path(user_bias) if user_bias is not None else u_path
        ib_path = Path(item_bias) if item_bias is not None else i_path
        ub = _read_array(ub_path) if user_bias is not None else None
        ib = _read_array(ib_path) if item_bias is not None else None
        gb = global_bias
    if u.shape[1] != i.shape[1]:
        raise DataFormatError(i_path, None, f"item embeddings of dimension {u.shape[1]} like the user embeddings "
                              f"({u_path.name})", f"dimension {i.shape[1]}")
    if n_users is not None and u.shape[0] != n_users:
        raise DataFormatError(u_path, None, f"{n_users} user rows (the prepared data's users)", f"{u.shape[0]}")
    if n_items is not None and i.shape[0] != n_items:
        raise DataFormatError(i_path, None, f"{n_items} item rows (the prepared data's items)", f"{i.shape[0]}")
    ub = _as_bias(ub, u.shape[0], ub_path, "user_bias")
    ib = _as_bias(ib, i.shape[0], ib_path, "item_bias")
    return TwoTower.create(u, i, score_fn=dot_score, cross_fn=dot_cross, user_bias=ub, item_bias=ib,
                           global_bias=gb, kind="mf")
