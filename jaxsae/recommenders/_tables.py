"""Outside embedding tables with ids, aligned by id to a prepared dataset.

Accepted forms (`read_id_tables`):
- one `.npz` with `user_ids [n_u]`, `item_ids [n_i]`, `user_emb [n_u, d]`, `item_emb [n_i, d]` and
  optional `user_bias [n_u]`, `item_bias [n_i]`, `global_bias []`;
- a pair `users.csv items.csv`: a header row naming the columns, the first column the id, the others
  the factors, and an optional column named `bias`;
- a pair `users.npy items.npy` of numeric `[n, 1 + d]` arrays whose first column is the (integer) id.
  The id column is read from the array as saved, before the factors are converted to float32: float32
  is exact only up to 2^24 (16777217 would read as 16777216), so integer and float64 ids keep every
  digit, and a float32 array whose ids exceed 2^24 is refused (they may already be rounded).
Without ids (an `.npz` lacking `user_ids`/`item_ids`) a table can be read only `by_position`.

Ids are compared as canonical strings: an id that reads as an integer (`7`, `"007"`, `7.0`, `"7.0"`) is
that integer's decimal text, any other id its stripped text, on both sides, so integer arrays written by
NumPy match the dataset's original string ids. Every user and item of the data must be in the table;
users the data does not know are an error; items the data does not know (nobody rated them in the
prepared data) are dropped with a note.
"""
from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from jaxsae.errors import ConfigError, DataFormatError, MissingDataError

__all__ = ["IdTables", "canonical_ids", "read_id_tables", "align_to_data"]


@dataclasses.dataclass
class IdTables:
    """Outside user and item tables as read (ids may be None: position-only tables)."""

    user_emb: np.ndarray  # [n_u, d] float32
    item_emb: np.ndarray  # [n_i, d] float32
    user_ids: Optional[np.ndarray] = None  # [n_u] canonical str
    item_ids: Optional[np.ndarray] = None  # [n_i] canonical str
    user_bias: Optional[np.ndarray] = None  # [n_u]
    item_bias: Optional[np.ndarray] = None  # [n_i]
    global_bias: float = 0.0
    source: str = ""


def _canon(x: object) -> str:
    if isinstance(x, (bytes, np.bytes_)):
        x = x.decode("utf-8")
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        return str(int(x)) if float(x).is_integer() else repr(float(x))
    s = str(x).strip()
    try:
        return str(int(s))
    except ValueError:
        pass
    try:
        f = float(s)
    except ValueError:
        return s
    return str(int(f)) if f.is_integer() else s


def canonical_ids(ids: Sequence[object]) -> np.ndarray:
    """Ids as canonical strings (see module doc)."""
    return np.asarray([_canon(x) for x in np.asarray(ids).reshape(-1).tolist()], dtype=object)


def _matrix(arr: np.ndarray, path: Path, what: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim != 2 or 0 in arr.shape:
        raise DataFormatError(path, None, f"{what} as a non-empty [n, d] matrix", f"shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or not np.isfinite(arr).all():
        raise DataFormatError(path, None, f"finite numbers in {what}", "non-finite or non-numeric values")
    return arr.astype(np.float32)


def _vector(arr: Optional[np.ndarray], n: int, path: Path, what: str) -> Optional[np.ndarray]:
    if arr is None:
        return None
    arr = np.asarray(arr, np.float32).reshape(-1)
    if arr.shape != (n,) or not np.isfinite(arr).all():
        raise DataFormatError(path, None, f"{what}: {n} finite numbers (one per row)", f"shape {arr.shape}")
    return arr


def _read_npz(path: Path) -> IdTables:
    with np.load(path, allow_pickle=False) as z:
        files = set(z.files)
        if not {"user_emb", "item_emb"} <= files:
            raise DataFormatError(path, None, "keys user_emb and item_emb", f"keys {sorted(files)}")
        get = {}
        for k in files:
            try:
                get[k] = np.asarray(z[k])
            except ValueError:  # object arrays need pickle, which a data file must not
                raise DataFormatError(path, None, f"{k} as numbers or strings (e.g. np.asarray(ids, str))",
                                      "Python objects (pickled)") from None
    u = _matrix(get["user_emb"], path, "user_emb")
    i = _matrix(get["item_emb"], path, "item_emb")
    ids = {}
    for side, n in (("user", u.shape[0]), ("item", i.shape[0])):
        key = f"{side}_ids"
        if key in get:
            raw = get[key].reshape(-1)
            if raw.shape[0] != n:
                raise DataFormatError(path, None, f"{key} with {n} entries (one per row of {side}_emb)",
                                      f"{raw.shape[0]}")
            ids[side] = canonical_ids(raw)
    gb = float(np.asarray(get["global_bias"]).reshape(-1)[0]) if "global_bias" in get else 0.0
    return IdTables(u, i, ids.get("user"), ids.get("item"), _vector(get.get("user_bias"), u.shape[0], path, "user_bias"),
                    _vector(get.get("item_bias"), i.shape[0], path, "item_bias"), gb, str(path))


def _read_csv(path: Path) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """`(ids, factors, bias)` of one csv table with a header row (first column the id)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.reader(f) if r and any(x.strip() for x in r)]
    if len(rows) < 2:
        raise DataFormatError(path, None, "a header row and at least one row", f"{len(rows)} rows")
    header = [h.strip().lower() for h in rows[0]]
    bias_col = header.index("bias") if "bias" in header else None
    ids, values = [], []
    for lineno, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise DataFormatError(path, lineno, f"{len(header)} fields like the header", f"{len(r)}")
        try:
            values.append([float(x) for x in r[1:]])
        except ValueError:
            raise DataFormatError(path, lineno, "an id then numbers", repr(",".join(r))[:80]) from None
        ids.append(r[0])
    v = _matrix(np.asarray(values), path, "the factor columns")
    if bias_col is None:
        return canonical_ids(ids), v, None
    b = bias_col - 1
    return canonical_ids(ids), _matrix(np.delete(v, b, axis=1), path, "the factor columns"), v[:, b]


F32_EXACT = 2 ** 24  # every integer up to this is exact in float32; 2^24 + 1 is not


def _read_npy(path: Path) -> Tuple[np.ndarray, np.ndarray, None]:
    try:
        raw = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise DataFormatError(path, None, "a numeric .npy array", str(e)) from None
    arr = _matrix(raw, path, "an [n, 1 + d] table (id column first)")
    if arr.shape[1] < 2:
        raise DataFormatError(path, None, "an id column and at least one factor column", f"shape {arr.shape}")
    ids = np.asarray(raw)[:, 0]  # as saved: int64 ids stay integers, float64 ids keep 53 bits
    if ids.dtype.itemsize < 8 and np.issubdtype(ids.dtype, np.floating) and np.abs(ids).max() > F32_EXACT:
        raise DataFormatError(path, None, f"ids up to 2^24 in a {ids.dtype} array (or an int64 / float64 array)",
                              f"ids up to {np.abs(ids).max():.0f}, which {ids.dtype} may have rounded")
    return canonical_ids(ids), arr[:, 1:], None


def read_id_tables(paths: Sequence["str | Path"]) -> IdTables:
    """The tables of one `.npz` or a `(users, items)` pair of `.csv`/`.npy` files (see module doc)."""
    paths = [Path(p) for p in paths]
    for p in paths:
        if not p.exists():
            raise MissingDataError(f"{p}: file not found")
    if len(paths) == 1:
        if paths[0].suffix.lower() != ".npz":
            raise DataFormatError(paths[0], None, "a .npz file, or two files (users, items) as .csv or .npy",
                                  f"one {paths[0].suffix!r} file")
        return _read_npz(paths[0])
    if len(paths) != 2:
        raise ConfigError(f"--tables takes one .npz or two files (users, items), got {len(paths)}")
    read = []
    for p in paths:
        suffix = p.suffix.lower()
        if suffix == ".csv":
            read.append(_read_csv(p))
        elif suffix == ".npy":
            read.append(_read_npy(p))
        else:
            raise DataFormatError(p, None, "a .csv or .npy table", f"suffix {suffix!r}")
    (uid, u, ub), (iid, i, ib) = read
    return IdTables(u, i, uid, iid, ub, ib, 0.0, ", ".join(map(str, paths)))


def _few(ids: Sequence[str], n: int = 5) -> str:
    ids = list(ids)
    more = f" and {len(ids) - n} more" if len(ids) > n else ""
    return ", ".join(repr(x) for x in ids[:n]) + more


def _order(table_ids: np.ndarray, data_ids: np.ndarray, side: str, source: str, drop_unknown: bool,
           untrained: Optional[np.ndarray] = None) -> Tuple[np.ndarray, int, int]:
    """Row of the table for every data id (-1: an `untrained` entity the table lacks), how many table
    rows the data does not know, and how many untrained entities were filled."""
    index: Dict[str, int] = {}
    dup: List[str] = []
    for r, x in enumerate(table_ids.tolist()):
        if x in index:
            dup.append(x)
        index[x] = r
    if dup:
        raise ConfigError(f"{source}: duplicate {side} ids in the table: {_few(dup)}")
    data = canonical_ids(data_ids)
    free = np.zeros(len(data), bool) if untrained is None else np.asarray(untrained, bool)
    missing = [x for x, f in zip(data.tolist(), free.tolist()) if x not in index and not f]
    if missing:
        raise ConfigError(f"{source}: {len(missing)} {side} ids of the data are missing from the table: {_few(missing)}")
    known = set(data.tolist())
    unknown = [x for x in table_ids.tolist() if x not in known]
    if unknown and not drop_unknown:
        raise ConfigError(f"{source}: {len(unknown)} {side} ids of the table are unknown to the data: {_few(unknown)}")
    rows = np.asarray([index.get(x, -1) for x in data.tolist()], np.int64)
    return rows, len(unknown), int(np.sum(rows < 0))


def align_to_data(tables: IdTables, user_ids: Sequence[object], item_ids: Sequence[object],
                  by_position: bool = False, user_untrained: Optional[np.ndarray] = None,
                  item_untrained: Optional[np.ndarray] = None) -> Tuple[IdTables, List[str]]:
    """`(tables in the data's row order, notes)`: rows picked by id (or kept by position when
    `by_position`); raises `ConfigError` with a one-line message on missing, unknown or duplicate ids.

    `user_untrained` / `item_untrained` (bool per data row) mark entities without training positives
    (e.g. items whose every rating is hidden): a model trained on `export-split`'s file cannot know them,
    so when the table lacks them they get zero factors and biases (scored by the global bias alone)."""
    src = tables.source or "tables"
    n_u, n_i = len(user_ids), len(item_ids)
    if tables.user_emb.shape[1] != tables.item_emb.shape[1]:
        raise ConfigError(f"{src}: user factors have dimension {tables.user_emb.shape[1]}, item factors "
                          f"{tables.item_emb.shape[1]}")
    notes: List[str] = []
    if by_position:
        if tables.user_emb.shape[0] != n_u or tables.item_emb.shape[0] != n_i:
            raise ConfigError(f"{src}: --by-position needs {n_u} user and {n_i} item rows (the data's), got "
                              f"{tables.user_emb.shape[0]} and {tables.item_emb.shape[0]}")
        notes.append("rows taken by position (ids not checked)")
        return dataclasses.replace(tables, user_ids=canonical_ids(user_ids), item_ids=canonical_ids(item_ids)), notes
    if tables.user_ids is None or tables.item_ids is None:
        raise ConfigError(f"{src}: the tables carry no user_ids/item_ids, so rows cannot be matched to the data by "
                          f"id; add them, or pass --by-position if row r is the data's r-th user/item")
    u_rows, _, u_fill = _order(tables.user_ids, np.asarray(user_ids), "user", src, False, user_untrained)
    i_rows, extra, i_fill = _order(tables.item_ids, np.asarray(item_ids), "item", src, True, item_untrained)
    if extra:
        notes.append(f"{extra} items of the table are not in the data (nobody rated them there): dropped")
    for n, side in ((u_fill, "users"), (i_fill, "items")):
        if n:
            notes.append(f"{n} {side} of the data have no training positives and are not in the table: zero factors")

    def pick(x: Optional[np.ndarray], rows: np.ndarray) -> Optional[np.ndarray]:
        if x is None:
            return None
        x = np.asarray(x)
        out = x[np.maximum(rows, 0)]
        out[rows < 0] = 0
        return out

    out = IdTables(pick(tables.user_emb, u_rows), pick(tables.item_emb, i_rows), canonical_ids(user_ids),
                   canonical_ids(item_ids), pick(tables.user_bias, u_rows), pick(tables.item_bias, i_rows),
                   tables.global_bias, src)
    return out, notes
