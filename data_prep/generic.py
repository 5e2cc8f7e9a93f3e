"""Bring-your-own data: csv or parquet interactions with an optional item table.

Interactions: columns `user,item[,rating|weight][,timestamp]` named in a header row (names are
case-insensitive; `user_id`/`userId`, `item_id`/`itemId`, `ts` are accepted too). Without a rating or
weight column every row is a positive (`value_kind="implicit"`, value 1).

Item table (optional): `item,title,concepts[,year]`, where `concepts` lists concept names separated by
`|` (e.g. `Comedy|Romance`) and `year` is an integer or empty. Items of the interactions that the table
lacks keep their id as title and no concepts.

csv files are UTF-8 with RFC 4180 quoting. Errors name the file and line (for parquet: the row).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from data_prep.dataset import CONCEPT_FAMILIES, RawDataset
from data_prep.errors import DataFormatError, JaxsaeError, MissingDataError
from data_prep.textio import as_str_array, read_csv_table, require_file, split_multi, validate_frame

ALIASES: Dict[str, Tuple[str, ...]] = {
    "user": ("user", "user_id", "userid"),
    "item": ("item", "item_id", "itemid"),
    "rating": ("rating",),
    "weight": ("weight",),
    "timestamp": ("timestamp", "ts"),
    "title": ("title", "name"),
    "concepts": ("concepts", "genres", "tags"),
    "year": ("year",),
}
FORMATS = ("csv", "parquet")


def _format_of(path: Path, fmt: Optional[str]) -> str:
    """`fmt` when given, else "parquet" for a .parquet/.pq file and "csv" otherwise."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise JaxsaeError(f"unknown table format {fmt!r}; expected one of {', '.join(FORMATS)}")
        return fmt
    return "parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv"


def _read_table(path: Path, fmt: str) -> Tuple[pd.DataFrame, bool]:
    """(frame, is_csv): csv as strings, parquet with its own types; column names lower-cased."""
    if fmt == "parquet":
        require_file(path)
        try:
            df = pd.read_parquet(path)
        except ImportError as e:
            raise JaxsaeError(f"{path}: reading parquet needs pyarrow (pip install 'jaxsae[parquet]'): {e}") from None
        except Exception as e:  # pyarrow raises its own error types for corrupt files
            raise DataFormatError(path, None, "a parquet file", f"unreadable ({type(e).__name__}: {str(e)[:100]})") from None
        if len(df) == 0:
            raise DataFormatError(path, None, "data rows", "an empty table")
        df.columns = [str(c).strip().lower() for c in df.columns]
        return df.reset_index(drop=True), False
    df = read_csv_table(path, encoding="utf-8")
    df.columns = [c.lower() for c in df.columns]
    return df, True


def _resolve(path: Path, df: pd.DataFrame, wanted: Sequence[str], optional: Sequence[str], layout: str) -> Dict[str, str]:
    """Map canonical column names to the frame's columns; required ones must exist."""
    out: Dict[str, str] = {}
    for canon in list(wanted) + list(optional):
        for alias in ALIASES[canon]:
            if alias in df.columns:
                out[canon] = alias
                break
    missing = [c for c in wanted if c not in out]
    if missing:
        raise DataFormatError(path, 1, f"a header naming the columns {layout}", f"columns {','.join(map(str, df.columns))}")
    return out


def _typed(df: pd.DataFrame, column: str, kind: str) -> bool:
    """True when parquet stored `column` with a numpy type that already satisfies `kind`: integers for
    "nonempty"/"int"/"float", finite floats for "float" (no per-row strings needed to check them)."""
    dtype = df[column].dtype
    if not isinstance(dtype, np.dtype):
        return False  # pandas extension types (nullable Int64, strings): checked as text
    if dtype.kind in "iu":
        return kind in ("nonempty", "int", "float")
    return dtype.kind == "f" and kind == "float" and bool(np.isfinite(df[column].to_numpy()).all())


def _ids(values: pd.Series) -> np.ndarray:
    """Ids as read: an integer column stays integers (int32 when its values fit: 4 bytes a row, where
    strings take 4 per character), any other column becomes strings (`as_str_array`)."""
    arr = values.to_numpy()
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "iu":
        if arr.size and np.iinfo(np.int32).min <= arr.min() and arr.max() <= np.iinfo(np.int32).max:
            return arr.astype(np.int32)
        return arr
    return as_str_array(values.astype(str).str.strip())


def _validate(path: Path, df: pd.DataFrame, columns: Sequence[Tuple[str, str]], is_csv: bool) -> None:
    """Check kinds; csv rows are reported as lines (header = line 1), parquet rows as 'row N'."""
    if not is_csv:
        columns = [(c, kind) for c, kind in columns if not _typed(df, c, kind)]
        if not columns:
            return
    if is_csv:
        validate_frame(path, df, columns, first_line=2)
        return
    sub = df[[c for c, _ in columns]].astype(str).copy()
    try:
        validate_frame(path, sub, columns, first_line=1)
    except DataFormatError as e:
        raise DataFormatError(path, None, e.expected, f"{e.got} in row {e.line}") from None
    for c, _ in columns:
        df[c] = sub[c]


def load_generic(
    data_dir: "str | os.PathLike[str] | None" = None,
    interactions: "str | os.PathLike[str] | None" = None,
    items: "str | os.PathLike[str] | None" = None,
    fmt: Optional[str] = None,
    name: Optional[str] = None,
    concept_family: str = "genre",
) -> RawDataset:
    """Read generic interactions (and an optional item table) into a `RawDataset` (module doc).

    `interactions`/`items` default to `interactions.csv|.parquet` / `items.csv|.parquet` in `data_dir`.
    `fmt` ("csv"/"parquet") defaults to the file extension. `concept_family` names what the item
    table's concepts are ("genre" or "tag").
    """
    if concept_family not in CONCEPT_FAMILIES[:2]:
        raise JaxsaeError(f"concept_family must be 'genre' or 'tag', got {concept_family!r}")
    d = Path(data_dir) if data_dir is not None else None
    if interactions is None:
        if d is None:
            raise MissingDataError("generic data needs --interactions FILE (or --data-dir holding interactions.csv)")
        found = [d / f for f in ("interactions.csv", "interactions.parquet") if (d / f).is_file()]
        if not found:
            raise MissingDataError(f"{d}: no interactions.csv or interactions.parquet; pass --interactions FILE")
        interactions = found[0]
        if items is None:
            items_found = [d / f for f in ("items.csv", "items.parquet") if (d / f).is_file()]
            items = items_found[0] if items_found else None
    ipath = Path(interactions)
    df, is_csv = _read_table(ipath, _format_of(ipath, fmt))
    cols = _resolve(ipath, df, ("user", "item"), ("rating", "weight", "timestamp"),
                    "user,item[,rating|weight][,timestamp]")
    checks: List[Tuple[str, str]] = [(cols["user"], "nonempty"), (cols["item"], "nonempty")]
    value_col = cols.get("rating") or cols.get("weight")
    if value_col:
        checks.append((value_col, "float"))
    if "timestamp" in cols:
        checks.append((cols["timestamp"], "int"))
    _validate(ipath, df, checks, is_csv)
    user, item = _ids(df[cols["user"]]), _ids(df[cols["item"]])
    value = df[value_col].to_numpy(np.float64) if value_col else np.ones(len(df), dtype=np.float64)
    ts = df[cols["timestamp"]].to_numpy(np.int64) if "timestamp" in cols else np.full(len(df), -1, dtype=np.int64)
    value_kind = "rating" if "rating" in cols else ("weight" if "weight" in cols else "implicit")

    files = [str(ipath)]
    vocabulary: Optional[List[str]] = None
    if items is not None:
        tpath = Path(items)
        files.append(str(tpath))
        known_ext = tpath.suffix.lower() in (".csv", ".parquet", ".pq")
        tdf, t_csv = _read_table(tpath, _format_of(tpath, None if known_ext else fmt))
        tcols = _resolve(tpath, tdf, ("item",), ("title", "concepts", "year"), "item,title,concepts[,year]")
        tdf[tcols["item"]] = tdf[tcols["item"]].astype(str).str.strip()
        _validate(tpath, tdf, [(tcols["item"], "nonempty")], t_csv)
        dup = tdf[tcols["item"]].duplicated().to_numpy()
        if dup.any():
            k = int(np.flatnonzero(dup)[0])
            got = f"duplicate item {tdf[tcols['item']].iloc[k]!r}"
            if t_csv:
                raise DataFormatError(tpath, 2 + k, "each item once", got)
            raise DataFormatError(tpath, None, "each item once", f"{got} in row {k + 1}")
        table_ids = as_str_array(tdf[tcols["item"]])
        titles = as_str_array(tdf[tcols["title"]].astype(str)) if "title" in tcols else table_ids.copy()
        concepts = (split_multi(tdf[tcols["concepts"]].fillna("").astype(str), "|") if "concepts" in tcols
                    else [[] for _ in range(len(tdf))])
        if "year" in tcols:
            ystr = tdf[tcols["year"]].astype(str).str.strip().replace({"": "-1", "nan": "-1", "None": "-1", "<NA>": "-1"})
            ydf = pd.DataFrame({"year": ystr})
            _validate(tpath, ydf, [("year", "int")], t_csv)
            years = ydf["year"].to_numpy(np.int64)
        else:
            years = np.full(len(tdf), -1, dtype=np.int64)
        seen: Dict[str, None] = {}
        for row in concepts:
            for c in row:
                seen.setdefault(c, None)
        vocabulary = sorted(seen)
        # items that interactions name but the table lacks: id as title, no concepts
        extra = np.setdiff1d(np.unique(item).astype(str), table_ids)
        n_missing = int(extra.size)
        if extra.size:
            table_ids = np.concatenate([table_ids, extra])
            titles = np.concatenate([titles, extra])
            concepts = concepts + [[] for _ in range(extra.size)]
            years = np.concatenate([years, np.full(extra.size, -1, dtype=np.int64)])
    else:
        table_ids = np.unique(item).astype(str)
        titles = table_ids.copy()
        concepts = [[] for _ in range(table_ids.size)]
        years = np.full(table_ids.size, -1, dtype=np.int64)
        n_missing = 0
    return RawDataset(
        name=name or ("parquet" if not is_csv else "csv"),
        user=user,
        item=item,
        value=value,
        timestamp=ts,
        item_table_ids=table_ids,
        item_titles=titles,
        item_concepts=concepts,
        item_years=years,
        concept_family=concept_family,
        concept_vocabulary=vocabulary,
        value_kind=value_kind,
        info={"source": "generic", "files": files, "n_rows": int(len(df)), "n_users": int(np.unique(user).size),
              "n_items": int(table_ids.size), "n_items_interacted": int(np.unique(item).size),
              "items_missing_from_table": n_missing, "value_kind": value_kind},
    )
