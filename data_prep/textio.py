"""Fast, strict readers for the delimited text files of the official dataset distributions.

Every reader parses with pandas/numpy (no Python loop over lines) and, when something is wrong,
raises `DataFormatError(path, line, expected, got)` naming the first bad line:

- missing file -> `MissingDataError` with what to download and where to put it;
- empty file, wrong encoding (a Latin-1 byte in a UTF-8 file, or a UTF-8 re-encoded copy of a
  Latin-1 file), wrong header;
- wrong number of fields on a line (wrong separator, truncated line, blank line inside the file),
  found by counting separator bytes per line with numpy;
- a non-integer id or non-numeric value, found by vectorized coercion of the parsed column.

Separators and line feeds are ASCII, and in Latin-1 and UTF-8 those bytes never occur inside a
multi-byte character, so field counting works on the raw bytes for both encodings.
"""
from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from data_prep.errors import DataFormatError, MissingDataError

# column kinds understood by `read_delimited`
KINDS = ("int", "float", "str", "nonempty")
INT64_MAX = 2**63 - 1
_UNIT = "\x1f"  # ASCII unit separator: stands in for multi-character separators such as "::"


def require_file(path: "str | os.PathLike[str]", hint: str = "") -> Path:
    """`path` as a Path if it is a file, else `MissingDataError` saying what is missing and `hint`."""
    p = Path(path)
    if not p.is_file():
        where = "a directory, not a file" if p.is_dir() else "missing"
        extra = f"; {hint}" if hint else ""
        raise MissingDataError(f"{p}: {where}{extra}")
    return p


def read_bytes(path: Path, what: str) -> bytes:
    """The file's bytes; an empty file is a `DataFormatError` on line 1."""
    data = path.read_bytes()
    if not data.strip():
        raise DataFormatError(path, 1, what, "an empty file")
    return data


def _line_of(data: bytes, offset: int) -> Tuple[int, int]:
    """(1-based line, 1-based column) of byte `offset`."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, offset - line_start + 1


def check_encoding(path: Path, data: bytes, encoding: str) -> None:
    """Raise `DataFormatError` if `data` is not in `encoding` ("utf-8" or "latin-1").

    UTF-8: strict decoding; the error names the line of the first invalid byte. Latin-1 decodes any
    byte, so the check is the converse: a file with non-ASCII bytes that is entirely valid UTF-8 is a
    re-encoded copy, not the official Latin-1 file (its titles would come out garbled).
    """
    enc = encoding.lower().replace("_", "-")
    if enc not in ("utf-8", "utf8", "latin-1", "latin1", "iso-8859-1"):  # pragma: no cover - loaders pass these
        raise ValueError(f"unsupported encoding {encoding!r}")
    if data.isascii():  # valid in both encodings; the common case for big numeric files
        return
    if enc in ("utf-8", "utf8"):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as e:
            line, col = _line_of(data, e.start)
            raise DataFormatError(
                path, line, "UTF-8 text",
                f"byte 0x{data[e.start]:02X} at column {col}, which is not UTF-8 (a Latin-1 or other 8-bit file?)",
            ) from None
    else:
        m = re.search(rb"[\x80-\xff]", data)
        if m is None:
            return
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return
        line, col = _line_of(data, m.start())
        raise DataFormatError(
            path, line, "Latin-1 (ISO-8859-1) text as in the official distribution",
            f"UTF-8 multi-byte characters from column {col} (a re-encoded copy; convert it back with "
            f"`iconv -f utf-8 -t latin1` or use the official file)",
        )


def _normalize(data: bytes, sep: str) -> Tuple[bytes, str]:
    """LF line ends, one final LF, multi-character `sep` replaced by one byte (copies only if needed)."""
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    if not data.endswith(b"\n") or data.endswith(b"\n\n"):
        data = data.rstrip(b"\n") + b"\n"
    if len(sep) > 1:
        if _UNIT.encode() in data:
            raise DataFormatError("?", None, "text without control characters", "byte 0x1F")
        data = data.replace(sep.encode(), _UNIT.encode())
        sep = _UNIT
    return data, sep


def _field_counts(b: np.ndarray, sep: int) -> Tuple[np.ndarray, np.ndarray]:
    """(fields per line, index of each line's LF) for a byte block that ends with LF."""
    ends = np.flatnonzero(b == 10)
    line_of_sep = np.searchsorted(ends, np.flatnonzero(b == sep))
    return np.bincount(line_of_sep, minlength=ends.size) + 1, ends


def _check_field_counts(path: Path, data: bytes, start: int, sep: str, n_fields: int, first_line: int,
                        shown_sep: str, describe: str, encoding: str, block: int = 1 << 24) -> None:
    """Every line of `data[start:]` (LF-normalized) has exactly `n_fields` fields.

    Counted with numpy in blocks of about `block` bytes cut at line ends, so memory stays small
    even for the 25M-row files.
    """
    line = first_line
    pos = start
    n = len(data)
    while pos < n:
        end = data.rfind(b"\n", pos, min(n, pos + block)) + 1
        if end <= pos:  # a line longer than the block
            end = data.index(b"\n", pos) + 1
        b = np.frombuffer(data, dtype=np.uint8, count=end - pos, offset=pos)
        counts, ends = _field_counts(b, ord(sep))
        bad = np.flatnonzero(counts != n_fields)
        if bad.size:
            k = int(bad[0])
            lo = pos + (0 if k == 0 else int(ends[k - 1]) + 1)
            text = data[lo : pos + int(ends[k])].decode(encoding, errors="replace").replace(sep, shown_sep)
            shown = text if len(text) <= 80 else text[:77] + "..."
            if not text.strip():
                got = "a blank line"
            else:
                got = f"{counts[k]} field{'s' if counts[k] != 1 else ''} in {shown!r}"
            raise DataFormatError(path, line + k, f"{n_fields} {shown_sep!r}-separated fields ({describe})", got)
        line += ends.size
        pos = end


def _validate_columns(path: Path, df: pd.DataFrame, columns: Sequence[Tuple[str, str]], first_line: int,
                      as_text: Optional[Callable[[int], "pd.Series"]] = None) -> None:
    """Convert/check each column by kind; the error names the first bad line of that column.

    `as_text(j)` re-reads column j as the file's text, for an "int" column that pandas parsed as
    floats (so "1.0" is reported as written, and refused as an id).
    """
    for j, (name, kind) in enumerate(columns):
        col = df.iloc[:, j]
        if kind == "int":
            if pd.api.types.is_integer_dtype(col.dtype):
                if col.dtype == np.uint64 and len(col) and int(col.max()) > INT64_MAX:  # beyond int64
                    k = int(np.flatnonzero(col.to_numpy() > np.uint64(INT64_MAX))[0])
                    raise DataFormatError(path, first_line + k, f"an integer {name} within int64", repr(str(col.iloc[k])))
                continue
            if as_text is not None and not pd.api.types.is_object_dtype(col.dtype) and not pd.api.types.is_string_dtype(col.dtype):
                col = as_text(j)
            num = pd.to_numeric(col, errors="coerce")
            ok = num.notna().to_numpy() & (np.floor(num.fillna(0.5)) == num.fillna(0.5)).to_numpy()
            # strings such as "1.0" coerce to integers; only plain digit strings are ids
            txt = col.astype(str).str.strip()
            ok &= txt.str.fullmatch(r"[+-]?\d+").to_numpy()
            # ids beyond int64 would wrap (two users merged): refuse them; long texts checked exactly
            long = np.flatnonzero(ok & (txt.str.len() >= 19).to_numpy())
            for k in long:
                if not -INT64_MAX - 1 <= int(txt.iloc[k]) <= INT64_MAX:
                    raise DataFormatError(path, first_line + int(k), f"an integer {name} within int64",
                                          repr(str(col.iloc[k])))
            if not ok.all():
                k = int(np.flatnonzero(~ok)[0])
                raise DataFormatError(path, first_line + k, f"an integer {name}", repr(str(col.iloc[k])))
            df[df.columns[j]] = num.astype(np.int64)
        elif kind == "float":
            if pd.api.types.is_numeric_dtype(col.dtype) and not col.isna().any():
                values = col.to_numpy(dtype=np.float64)
                if not np.isfinite(values).all():  # inf / -inf parsed as numbers
                    k = int(np.flatnonzero(~np.isfinite(values))[0])
                    raise DataFormatError(path, first_line + k, f"a finite number for {name}", repr(str(col.iloc[k])))
                df[df.columns[j]] = values
                continue
            num = pd.to_numeric(col, errors="coerce")
            bad = num.isna().to_numpy() | ~np.isfinite(num.fillna(0).to_numpy(dtype=np.float64))
            if bad.any():
                k = int(np.flatnonzero(bad)[0])
                raise DataFormatError(path, first_line + k, f"a number for {name}", repr(str(col.iloc[k])))
            df[df.columns[j]] = num.astype(np.float64)
        elif kind in ("str", "nonempty"):
            s = col.astype(str)
            if kind == "nonempty":
                empty = (s.str.strip() == "").to_numpy()
                if empty.any():
                    k = int(np.flatnonzero(empty)[0])
                    raise DataFormatError(path, first_line + k, f"a non-empty {name}", "an empty field")
            df[df.columns[j]] = s
        else:  # pragma: no cover - programming error in a loader
            raise ValueError(f"unknown column kind {kind!r}")


def read_delimited(
    path: "str | os.PathLike[str]",
    columns: Sequence[Tuple[str, str]],
    *,
    sep: str,
    encoding: str,
    header: Optional[Sequence[str]] = None,
    describe: str = "",
    hint: str = "",
) -> pd.DataFrame:
    """Read an unquoted delimited file into a DataFrame with one column per `(name, kind)`.

    `header`: the exact column names of the file's first line (checked), or None for no header row.
    Kinds: "int" (int64, digits only), "float", "str", "nonempty" (str, not blank). CRLF and LF
    line ends are both accepted; trailing blank lines are ignored. Every other deviation raises
    `DataFormatError` with the file and the 1-based line of the first problem.
    """
    p = require_file(path, hint)
    names = [c for c, _ in columns]
    describe = describe or sep.join(names)
    data = read_bytes(p, f"{len(columns)} {sep!r}-separated fields ({describe})")
    check_encoding(p, data, encoding)
    shown_sep = sep
    try:
        data, sep1 = _normalize(data, sep)
    except DataFormatError as e:
        raise DataFormatError(p, None, e.expected, e.got) from None
    first_line, start = 1, 0
    if header is not None:
        nl = data.index(b"\n")
        got = data[:nl].decode(encoding, errors="replace")
        want = sep.join(header)
        if got.replace(sep1, shown_sep).strip() != want:
            raise DataFormatError(p, 1, f"the header row {want!r}", repr(got[:80].replace(sep1, shown_sep)))
        first_line, start = 2, nl + 1
        if start >= len(data):
            raise DataFormatError(p, 2, f"data rows after the header ({describe})", "no rows")
    _check_field_counts(p, data, start, sep1, len(columns), first_line, shown_sep, describe, encoding)
    dtypes: Dict[int, object] = {j: str for j, (_, kind) in enumerate(columns) if kind in ("str", "nonempty")}
    try:
        df = pd.read_csv(
            io.BytesIO(data), sep=sep1, header=None, names=names, dtype=dtypes or None, encoding=encoding,
            quoting=csv.QUOTE_NONE, na_filter=False, skip_blank_lines=False, engine="c",
            index_col=False, skiprows=first_line - 1,
        )
    except (pd.errors.ParserError, ValueError) as e:
        raise DataFormatError(p, _parser_line(e, first_line), describe, f"unparseable text ({_short(e)})") from None
    def as_text(j: int) -> pd.Series:
        return pd.read_csv(io.BytesIO(data), sep=sep1, header=None, usecols=[j], dtype=str, encoding=encoding,
                           quoting=csv.QUOTE_NONE, na_filter=False, skip_blank_lines=False, engine="c",
                           skiprows=first_line - 1).iloc[:, 0]

    _validate_columns(p, df, columns, first_line, as_text)
    return df


def read_csv_table(
    path: "str | os.PathLike[str]",
    *,
    encoding: str = "utf-8",
    expected_header: Optional[Sequence[str]] = None,
    hint: str = "",
    sep: str = ",",
) -> pd.DataFrame:
    """Read a quoted CSV (RFC 4180, header row) as strings; `expected_header` checks the column names.

    Used for csv files whose text fields may be quoted (ml-latest `movies.csv`, generic item tables).
    Too many fields on a line raises `DataFormatError` with the line; columns come back as `str`
    (missing trailing fields as empty strings), to be validated by `validate_frame`.
    """
    p = require_file(path, hint)
    data = read_bytes(p, "a header row and data rows")
    check_encoding(p, data, encoding)
    first = data.split(b"\n", 1)[0].rstrip(b"\r").decode(encoding)
    if expected_header is not None:
        got = next(csv.reader([first], delimiter=sep)) if first else []
        if [g.strip() for g in got] != list(expected_header):
            raise DataFormatError(p, 1, f"the header row {sep.join(expected_header)!r}", repr(first[:80]))
    try:
        df = pd.read_csv(
            io.BytesIO(data), sep=sep, dtype=str, encoding=encoding, na_filter=False, engine="c",
            skip_blank_lines=False, index_col=False,
        )
    except (pd.errors.ParserError, ValueError) as e:
        raise DataFormatError(p, _parser_line(e, 1), f"{sep!r}-separated fields matching the header", f"unparseable text ({_short(e)})") from None
    if len(df) == 0:
        raise DataFormatError(p, 2, "data rows after the header", "no rows")
    df.columns = [str(c).strip() for c in df.columns]
    return df


def validate_frame(path: "str | os.PathLike[str]", df: pd.DataFrame, columns: Sequence[Tuple[str, str]],
                   first_line: int = 2) -> pd.DataFrame:
    """Check/convert the named columns of `df` in place by kind ("int", "float", "str", "nonempty").

    Row r of `df` is reported as line `first_line + r` (2 for a csv with a header row).
    """
    sub = df[[c for c, _ in columns]].copy()
    _validate_columns(Path(path), sub, columns, first_line)
    for c, _ in columns:
        df[c] = sub[c]
    return df


_LINE_RE = re.compile(r"line (\d+)")


def _parser_line(e: Exception, first_line: int) -> Optional[int]:
    m = _LINE_RE.search(str(e))
    if not m:
        return None
    # pandas counts from 1 over the text it was given
    return int(m.group(1)) + first_line - 1


def _short(e: Exception) -> str:
    msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
    return msg if len(msg) <= 100 else msg[:97] + "..."


def split_multi(values: "pd.Series", sep: str) -> List[List[str]]:
    """Split each string of `values` on `sep` into a list of stripped, non-empty names."""
    parts = values.astype(str).str.split(sep, regex=False)
    return [[x.strip() for x in row if x.strip()] for row in parts.tolist()]


_TITLE_YEAR = re.compile(r"\((\d{4})(?:\s*[-\u2013]\s*\d{0,4})?\)\s*$")


def title_years(titles: "pd.Series") -> np.ndarray:
    """Year from a title ending in "(YYYY)" (or a range "(YYYY-YYYY)", first year), else -1."""
    y = titles.astype(str).str.extract(_TITLE_YEAR.pattern, expand=False)
    return pd.to_numeric(y, errors="coerce").fillna(-1).astype(np.int64).to_numpy()


def as_str_array(values: "pd.Series | Sequence[object]") -> np.ndarray:
    """A numpy unicode array (what `RawDataset` holds for ids and titles).

    Integer ids (the 1M-row columns) go through a lookup table of their distinct values: about 25x
    faster than converting every row, and as narrow a dtype as the longest id needs.
    """
    arr = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
    if arr.size and np.issubdtype(arr.dtype, np.integer):
        v = arr.astype(np.int64, copy=False)
        lo, hi = int(v.min()), int(v.max())
        width = max(len(str(lo)), len(str(hi)))
        if hi - lo <= 4 * v.size + 1024:
            return np.arange(lo, hi + 1).astype(f"U{width}")[v - lo]
        uniq, inv = np.unique(v, return_inverse=True)
        return uniq.astype(f"U{width}")[inv.reshape(-1)]
    return np.asarray(pd.Series(arr).astype(str).to_numpy(), dtype=str)
