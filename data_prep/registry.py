"""Dataset names -> how to load them (`jaxsae prepare DATASET`).

`DATASETS[name]` is a `DatasetSpec`: a loader `load(data_dir, **options) -> RawDataset`, the key of its
official archive in `data_prep.download.ARCHIVES` (None where there is no single official archive),
the loader options it accepts, and a one-line description. `load(name, data_dir, **options)` looks a
name up (close matches on a typo) and calls the loader.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

from data_prep.dataset import RawDataset
from data_prep.errors import UnknownNameError
from data_prep.generic import load_generic
from data_prep.lastfm import load_hetrec, load_msd
from data_prep.movielens import load_ml100k, load_ml1m, load_ml_csv
from data_prep.preprocess import LASTFM_MSD_FILTERS
from data_prep.synthetic import generate, preset


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """How to load one dataset."""

    name: str
    """The name on the command line."""
    description: str
    """One line for `--help`: what it is, files, official counts."""
    loader: Callable[..., RawDataset]
    """`loader(data_dir, **options) -> RawDataset`."""
    download: Optional[str] = None
    """Key in `data_prep.download.ARCHIVES`, None where `--download` is unavailable."""
    options: Tuple[str, ...] = ()
    """Keyword options the loader accepts (from the command line)."""
    needs_data_dir: bool = True
    """False where the loader needs no folder (synthetic; generic with explicit files)."""
    paper_filters: Tuple[Tuple[str, int], ...] = ()
    """The paper's one-pass filters (`PrepareOptions.filter_sequence`) for `--paper-filters`."""


def load_synthetic(data_dir: "str | os.PathLike[str] | None" = None, size: str = "tiny", seed: int = 0) -> RawDataset:
    """The planted synthetic dataset of preset `size` (tiny, small, demo, ml1m, large, ml25m) with `seed`."""

    return generate(preset(size, seed=seed))


def _named(loader: Callable[..., RawDataset], name: str) -> Callable[..., RawDataset]:
    def load(data_dir: "str | os.PathLike[str] | None" = None, **options: Any) -> RawDataset:
        return loader(data_dir, name=name, **options)

    load.__name__ = f"load_{name.replace('-', '_')}"
    load.__doc__ = f"`{loader.__name__}` for {name}."
    return load


_TAG_OPTIONS = ("top_k", "min_tag_artists")

DATASETS: Dict[str, DatasetSpec] = {
    s.name: s
    for s in (
        DatasetSpec("ml-100k", "MovieLens 100K: u.data, u.item, u.user, u.genre (Latin-1); 943 users, 1,682 movies, "
                    "100,000 ratings", _named(load_ml100k, "ml-100k"), "ml-100k"),
        DatasetSpec("ml-1m", "MovieLens 1M: ratings.dat, movies.dat, users.dat ('::', Latin-1); 6,040 users, "
                    "3,706 rated movies, 1,000,209 ratings", _named(load_ml1m, "ml-1m"), "ml-1m"),
        DatasetSpec("ml-latest-small", "MovieLens latest small: ratings.csv, movies.csv (UTF-8); 610 users, "
                    "9,742 movies (9,724 rated), 100,836 ratings", _named(load_ml_csv, "ml-latest-small"), "ml-latest-small"),
        DatasetSpec("ml-25m", "MovieLens 25M (csv layout of ml-latest); 162,541 users, 25,000,095 ratings",
                    _named(load_ml_csv, "ml-25m"), "ml-25m"),
        DatasetSpec("ml-32m", "MovieLens 32M (csv layout of ml-latest); 200,948 users, 32,000,204 ratings",
                    _named(load_ml_csv, "ml-32m"), "ml-32m"),
        DatasetSpec("lastfm-hetrec-2k", "HetRec 2011 Last.fm 2K: user_artists.dat, artists.dat, tags.dat, "
                    "user_taggedartists.dat; 1,892 users, 17,632 artists, 92,834 rows; concepts = top-4 tags",
                    _named(load_hetrec, "lastfm-hetrec-2k"), "lastfm-hetrec-2k", _TAG_OPTIONS + ("min_tag_users",)),
        DatasetSpec("lastfm-msd", "MSD tracks with Last.fm tags (track_id,name,artist,tags,year) + listening "
                    "table (user_id,track_id,playcount); items = artists; --paper-filters: >50 listeners, "
                    ">50 artists per user, >40 listeners", _named(load_msd, "lastfm-msd"), None, _TAG_OPTIONS,
                    paper_filters=LASTFM_MSD_FILTERS),
        DatasetSpec("synthetic", "planted-truth generator (--size tiny|small|demo|ml1m|large|ml25m); no files",
                    load_synthetic, None, ("size", "seed"), needs_data_dir=False),
        DatasetSpec("csv", "your csv: --interactions FILE (user,item[,rating|weight][,timestamp]) "
                    "[--items FILE (item,title,concepts[,year])]", _named(load_generic, "csv"), None,
                    ("interactions", "items", "concept_family"), needs_data_dir=False),
        DatasetSpec("parquet", "your parquet: --interactions FILE [--items FILE], columns as for csv",
                    _named(load_generic, "parquet"), None, ("interactions", "items", "concept_family"),
                    needs_data_dir=False),
    )
}


def get(name: str) -> DatasetSpec:
    """The spec of dataset `name`; `UnknownNameError` with close matches otherwise."""
    if name in DATASETS:
        return DATASETS[name]
    close = difflib.get_close_matches(name, list(DATASETS), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownNameError(f"unknown dataset {name!r}{hint} (known: {', '.join(DATASETS)})")


def load(name: str, data_dir: "str | os.PathLike[str] | None" = None, **options: Any) -> RawDataset:
    """Load dataset `name` from `data_dir` with loader `options` (unknown options are an error)."""
    spec = get(name)
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise UnknownNameError(f"dataset {name!r} takes no option {', '.join(unknown)} (it takes: {', '.join(spec.options) or 'none'})")
    return spec.loader(Path(data_dir) if data_dir is not None else None, **options)
