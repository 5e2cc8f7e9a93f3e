"""The two data values of jaxsae: raw interactions from a loader, and the prepared `InteractionData`.

Loaders (`data_prep.movielens`, `data_prep.lastfm`, ...) return a `RawDataset`; `data_prep.preprocess`
binarizes, filters, re-indexes and splits it into an `InteractionData`, which is what every
later stage reads from `RUN/data/` (`data.npz` + `meta.json`).
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from data_prep.errors import DataFormatError, MissingDataError, UnknownNameError
import difflib
from data_prep.atomic import swap_in

SCHEMA_VERSION = 1
CONCEPT_FAMILIES = ("genre", "tag", "decade", "popularity")


@dataclasses.dataclass
class RawDataset:
    """Interactions and metadata exactly as a loader read them, with original ids (strings, or integers
    where the ids are integers, as the synthetic generator's: prepare reads them as their decimal strings).

    One row per interaction in `user`, `item`, `value` (rating, play count or 1), `timestamp`
    (-1 where the source has none). The item table (`item_table_ids`, `item_titles`,
    `item_concepts`, `item_years`) covers items of the catalogue, which may include items
    nobody interacted with; `item_concepts[k]` is the list of concept names of item k
    (genres or tags; decades and popularity are derived later). `concept_family` is the family
    of those names ("genre" or "tag"). `user_table_ids`/`user_attributes` hold user metadata.
    """

    name: str
    user: np.ndarray  # [n_rows] str or int
    item: np.ndarray  # [n_rows] str or int
    value: np.ndarray  # [n_rows] float64
    timestamp: np.ndarray  # [n_rows] int64, -1 unknown
    item_table_ids: np.ndarray  # [n_catalogue] str
    item_titles: np.ndarray  # [n_catalogue] str
    item_concepts: List[List[str]]  # per catalogue item
    item_years: np.ndarray  # [n_catalogue] int64, -1 unknown
    concept_family: str = "genre"
    concept_vocabulary: Optional[List[str]] = None  # fixed order of concept names (e.g. the 18 ML genres)
    user_table_ids: Optional[np.ndarray] = None  # [n_user_table] str
    user_attributes: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)  # name -> [n_user_table]
    value_kind: str = "rating"  # "rating", "weight" (play count) or "implicit"
    info: Dict[str, Any] = dataclasses.field(default_factory=dict)  # counts as read, source files

    @property
    def n_rows(self) -> int:
        return int(self.user.shape[0])


@dataclasses.dataclass
class InteractionData:
    """Prepared implicit-feedback data with dense ids, a per-user hidden split and item concepts.

    Training positives are CSR-like: user u's items are `train_indices[train_indptr[u]:train_indptr[u+1]]`
    (sorted). Evaluated users are `test_users`; row r of `test_pos`/`test_neg` holds the hidden positives /
    sampled negatives of user `test_users[r]` (`n_test` each). `concepts[i, c]` says item i carries concept
    c, of family `concept_families[c]` ("genre", "tag", "decade" or "popularity").
    """

    dataset: str
    n_users: int
    n_items: int
    user_ids: np.ndarray  # [n_users] str, original ids
    item_ids: np.ndarray  # [n_items] str, original ids
    item_titles: np.ndarray  # [n_items] str
    train_indptr: np.ndarray  # [n_users + 1] int64
    train_indices: np.ndarray  # [n_train] int32, item index per positive
    test_users: np.ndarray  # [n_test_users] int32
    test_pos: np.ndarray  # [n_test_users, n_test] int32
    test_neg: np.ndarray  # [n_test_users, n_test] int32
    popularity: np.ndarray  # [n_items] int64, train positives per item
    concepts: np.ndarray  # [n_items, n_concepts] bool
    concept_names: List[str]
    concept_families: List[str]
    year: np.ndarray  # [n_items] int64, -1 unknown
    user_attributes: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)  # name -> [n_users] str
    n_interactions: int = 0  # rows of the raw source before binarization and filters
    info: Dict[str, Any] = dataclasses.field(default_factory=dict)  # preprocessing options, seed, source info

    # ---- derived views -------------------------------------------------------------------------
    @property
    def n_train(self) -> int:
        return int(self.train_indices.shape[0])

    @property
    def n_concepts(self) -> int:
        return len(self.concept_names)

    def train_pairs(self) -> "tuple[np.ndarray, np.ndarray]":
        """(users, items) int32 arrays of every training positive, user-major."""
        counts = np.diff(self.train_indptr)
        users = np.repeat(np.arange(self.n_users, dtype=np.int32), counts)
        return users, self.train_indices.astype(np.int32)

    def user_train_items(self, u: int) -> np.ndarray:
        return self.train_indices[self.train_indptr[u] : self.train_indptr[u + 1]]

    def concept_index(self, name: str) -> int:
        """Index of a concept by exact name (case-insensitive); a clear error lists close matches."""
        lowered = [c.lower() for c in self.concept_names]
        if name.lower() in lowered:
            return lowered.index(name.lower())

        close = difflib.get_close_matches(name, self.concept_names, n=5, cutoff=0.5)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        raise UnknownNameError(f"unknown concept {name!r}{hint} (known: {len(self.concept_names)} concepts)")

    def summary(self) -> Dict[str, Any]:
        """The `RUN/data/summary.json` content."""
        return {
            "dataset": self.dataset,
            "n_users": self.n_users,
            "n_items": self.n_items,
            "n_interactions": int(self.n_interactions),
            "n_train": self.n_train,
            "n_test_users": int(self.test_users.shape[0]),
            "n_test": int(self.test_pos.shape[1]) if self.test_pos.ndim == 2 else 0,
            "density": float(self.n_train) / max(1, self.n_users * self.n_items),
            "concepts": list(self.concept_names),
            "concept_families": list(self.concept_families),
            "concept_counts": [int(c) for c in self.concepts.sum(axis=0)],
            "items_with_year": int((self.year >= 0).sum()),
            "user_attributes": sorted(self.user_attributes),
            "info": self.info,
        }

    # ---- persistence ---------------------------------------------------------------------------
    _ARRAYS = (
        "user_ids", "item_ids", "item_titles", "train_indptr", "train_indices", "test_users",
        "test_pos", "test_neg", "popularity", "concepts", "year",
    )

    def write_files(self, directory: "str | os.PathLike[str]") -> Path:
        """Write `data.npz`, `meta.json` and `summary.json` into the existing directory `directory`."""
        directory = Path(directory)
        arrays = {k: np.asarray(getattr(self, k)) for k in self._ARRAYS}
        for k in ("user_ids", "item_ids", "item_titles"):
            arrays[k] = arrays[k].astype(str)
        for k, v in self.user_attributes.items():
            arrays[f"user_attr__{k}"] = np.asarray(v).astype(str)
        np.savez(directory / "data.npz", **arrays)
        meta = {
            "schema_version": SCHEMA_VERSION,
            "dataset": self.dataset,
            "n_users": self.n_users,
            "n_items": self.n_items,
            "n_interactions": int(self.n_interactions),
            "concept_names": list(self.concept_names),
            "concept_families": list(self.concept_families),
            "user_attributes": sorted(self.user_attributes),
            "info": self.info,
        }
        (directory / "meta.json").write_text(json.dumps(meta, indent=2))
        (directory / "summary.json").write_text(json.dumps(self.summary(), indent=2))
        return directory

    def save(self, directory: "str | os.PathLike[str]") -> Path:
        """Write `data.npz`, `meta.json` and `summary.json` atomically: a temp dir swapped into place whole
        (the old directory stays until the new one is complete; temp dirs leaked by a kill are removed)."""

        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        for leaked in directory.parent.glob(f".{directory.name}.tmp-*"):
            shutil.rmtree(leaked, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
        try:
            self.write_files(tmp)
            swap_in(tmp, directory)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return directory

    @classmethod
    def load(cls, directory: "str | os.PathLike[str]") -> "InteractionData":
        """Read what `save` wrote; a clear error if the directory is missing or from another schema."""
        directory = Path(directory)
        meta_path, npz_path = directory / "meta.json", directory / "data.npz"
        if not meta_path.exists() or not npz_path.exists():
            raise MissingDataError(
                f"{directory}: no prepared data (meta.json and data.npz); run `jaxsae prepare DATASET --out RUN` first"
            )
        try:
            meta = json.loads(meta_path.read_text())
        except ValueError as e:
            raise DataFormatError(meta_path, getattr(e, "lineno", None), "JSON written by `jaxsae prepare`",
                                  f"corrupt JSON ({e.__class__.__name__})") from None
        if not isinstance(meta, dict) or meta.get("schema_version") != SCHEMA_VERSION:
            got = meta.get("schema_version") if isinstance(meta, dict) else type(meta).__name__
            raise DataFormatError(meta_path, None, f"schema_version {SCHEMA_VERSION}", str(got))
        try:
            with np.load(npz_path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in cls._ARRAYS}
                attrs = {k: z[f"user_attr__{k}"] for k in meta["user_attributes"]}
        except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile) as e:
            raise DataFormatError(npz_path, None, "the arrays written by `jaxsae prepare`",
                                  f"a corrupt or incomplete file ({e.__class__.__name__}); rerun `jaxsae prepare`") from None
        return cls(
            dataset=meta["dataset"],
            n_users=int(meta["n_users"]),
            n_items=int(meta["n_items"]),
            concept_names=list(meta["concept_names"]),
            concept_families=list(meta["concept_families"]),
            user_attributes=attrs,
            n_interactions=int(meta.get("n_interactions", 0)),
            info=meta.get("info", {}),
            **arrays,
        )
