"""MovieLens loaders: ml-1m, ml-100k and the csv layout of ml-latest-small/ml-25m/ml-32m.

Each reads the files of the official GroupLens archive exactly as distributed:
- ml-1m: `ratings.dat` (`UserID::MovieID::Rating::Timestamp`), `movies.dat` (`MovieID::Title (Year)::G1|G2`),
  `users.dat` (`UserID::Gender::Age::Occupation::Zip-code`); `::`-separated, Latin-1.
- ml-100k: `u.data` (tab: user, item, rating, timestamp), `u.item` (`|`: id, title, release date such as
  `01-Jan-1995`, video release date, IMDb URL, 19 genre flags), `u.user` (`id|age|gender|occupation|zip`),
  `u.genre` (`name|index`); Latin-1.
- ml-latest-small / ml-25m / ml-32m: `ratings.csv` (`userId,movieId,rating,timestamp`) and `movies.csv`
  (`movieId,title,genres`, titles quoted when they hold commas); UTF-8.

Concepts are the genres. ml-100k's "unknown" flag and ml-latest's "(no genres listed)" are read and
checked but are no concept. The year is the title's "(YYYY)" (ml-100k falls back to the release date).
User attributes where the data has them: `gender` (M/F), `age` (the ML-1M age buckets, also applied to
ml-100k's exact ages) and `occupation` (a name).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from data_prep.dataset import RawDataset
from data_prep.errors import DataFormatError
from data_prep.textio import as_str_array, read_csv_table, read_delimited, split_multi, title_years, validate_frame

# The 18 genres of ml-1m's README, in its order (ml-100k adds "unknown" first; ml-latest says "Children").
ML_GENRES = (
    "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
    "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
ML100K_GENRES = ("unknown",) + ML_GENRES
NO_GENRE = ("unknown", "(no genres listed)")  # read, checked, but not a concept

# ml-1m users.dat codes (from its README)
ML1M_AGES: Dict[int, str] = {1: "Under 18", 18: "18-24", 25: "25-34", 35: "35-44", 45: "45-49", 50: "50-55", 56: "56+"}
ML1M_OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student", "customer service",
    "doctor/health care", "executive/managerial", "farmer", "homemaker", "K-12 student", "lawyer", "programmer",
    "retired", "sales/marketing", "scientist", "self-employed", "technician/engineer", "tradesman/craftsman",
    "unemployed", "writer",
)

DOWNLOAD_HINT = "pass --data-dir pointing at the extracted {name} folder, or --download to fetch it"


def age_bucket(age: np.ndarray) -> np.ndarray:
    """ML-1M age bucket label of exact ages: <18, 18-24, 25-34, 35-44, 45-49, 50-55, 56+."""
    edges = np.array([18, 25, 35, 45, 50, 56])
    labels = np.array(list(ML1M_AGES.values()))
    return labels[np.searchsorted(edges, np.asarray(age), side="right")]


def _vocabulary(concepts: Sequence[Sequence[str]], canonical: Sequence[str]) -> List[str]:
    """Canonical genres that occur, in canonical order, then any other names sorted."""
    seen = {c for row in concepts for c in row}
    return [g for g in canonical if g in seen] + sorted(seen - set(canonical))


def _check_known(path: Path, ids: pd.Series, known: np.ndarray, first_line: int, what: str, table: str) -> None:
    """Every id of `ids` (one per line) appears in `known`, else an error naming the first bad line."""
    ok = np.isin(ids.to_numpy(), known)
    if not ok.all():
        k = int(np.flatnonzero(~ok)[0])
        raise DataFormatError(path, first_line + k, f"a {what} listed in {table}", f"{what} {ids.iloc[k]}")


def _check_unique(path: Path, ids: pd.Series, first_line: int, what: str) -> None:
    dup = ids.duplicated().to_numpy()
    if dup.any():
        k = int(np.flatnonzero(dup)[0])
        raise DataFormatError(path, first_line + k, f"a {what} not seen on an earlier line", f"duplicate {what} {ids.iloc[k]}")


def _check_values(path: Path, values: pd.Series, allowed: Sequence[object], first_line: int, what: str) -> None:
    ok = values.isin(list(allowed)).to_numpy()
    if not ok.all():
        k = int(np.flatnonzero(~ok)[0])
        shown = ", ".join(str(a) for a in allowed)
        raise DataFormatError(path, first_line + k, f"{what} in {{{shown}}}", repr(str(values.iloc[k])))


def load_ml1m(data_dir: "str | os.PathLike[str]", name: str = "ml-1m") -> RawDataset:
    """Read ml-1m's `ratings.dat`, `movies.dat` and `users.dat` (`::`, Latin-1) into a `RawDataset`.

    Official counts: 6,040 users, 3,706 rated of 3,883 movies, 1,000,209 ratings.
    """
    d = Path(data_dir)
    hint = DOWNLOAD_HINT.format(name=name)
    ratings = read_delimited(
        d / "ratings.dat", [("UserID", "int"), ("MovieID", "int"), ("Rating", "float"), ("Timestamp", "int")],
        sep="::", encoding="latin-1", hint=hint,
    )
    movies = read_delimited(
        d / "movies.dat", [("MovieID", "int"), ("Title", "nonempty"), ("Genres", "str")],
        sep="::", encoding="latin-1", hint=hint,
    )
    _check_unique(d / "movies.dat", movies["MovieID"], 1, "MovieID")
    _check_known(d / "ratings.dat", ratings["MovieID"], movies["MovieID"].to_numpy(), 1, "MovieID", "movies.dat")
    concepts = [[g for g in row if g not in NO_GENRE] for row in split_multi(movies["Genres"], "|")]

    user_table_ids: Optional[np.ndarray] = None
    attrs: Dict[str, np.ndarray] = {}
    users_path = d / "users.dat"
    if users_path.exists():
        users = read_delimited(
            users_path, [("UserID", "int"), ("Gender", "nonempty"), ("Age", "int"), ("Occupation", "int"), ("Zip-code", "str")],
            sep="::", encoding="latin-1",
        )
        _check_unique(users_path, users["UserID"], 1, "UserID")
        _check_values(users_path, users["Gender"], ("M", "F"), 1, "Gender")
        _check_values(users_path, users["Age"], tuple(ML1M_AGES), 1, "Age code")
        _check_values(users_path, users["Occupation"], tuple(range(len(ML1M_OCCUPATIONS))), 1, "Occupation code")
        _check_known(d / "ratings.dat", ratings["UserID"], users["UserID"].to_numpy(), 1, "UserID", "users.dat")
        user_table_ids = as_str_array(users["UserID"])
        attrs = {
            "gender": as_str_array(users["Gender"]),
            "age": np.array([ML1M_AGES[int(a)] for a in users["Age"]], dtype=str),
            "occupation": np.asarray(ML1M_OCCUPATIONS, dtype=str)[users["Occupation"].to_numpy()],
        }
    return RawDataset(
        name=name,
        user=as_str_array(ratings["UserID"]),
        item=as_str_array(ratings["MovieID"]),
        value=ratings["Rating"].to_numpy(np.float64),
        timestamp=ratings["Timestamp"].to_numpy(np.int64),
        item_table_ids=as_str_array(movies["MovieID"]),
        item_titles=as_str_array(movies["Title"]),
        item_concepts=concepts,
        item_years=title_years(movies["Title"]),
        concept_family="genre",
        concept_vocabulary=_vocabulary(concepts, ML_GENRES),
        user_table_ids=user_table_ids,
        user_attributes=attrs,
        value_kind="rating",
        info=_info(name, d, ratings["UserID"], ratings["MovieID"], len(movies), user_table_ids,
                   ["ratings.dat", "movies.dat"] + (["users.dat"] if attrs else []), "latin-1"),
    )


def _info(name: str, d: Path, users: pd.Series, items: pd.Series, n_catalogue: int,
          user_table_ids: Optional[np.ndarray], files: List[str], encoding: str) -> Dict[str, object]:
    """The counts a loader read, for `RawDataset.info` (and the summary)."""
    return {
        "source": name,
        "data_dir": str(d),
        "files": files,
        "encoding": encoding,
        "n_rows": int(len(users)),
        "n_users": int(users.nunique()),
        "n_items": int(n_catalogue),
        "n_items_rated": int(items.nunique()),
        "n_users_table": int(len(user_table_ids)) if user_table_ids is not None else None,
    }


_RELEASE_DATE = r"(\d{1,2}-[A-Z][a-z]{2}-\d{4})?"


def load_ml100k(data_dir: "str | os.PathLike[str]", name: str = "ml-100k") -> RawDataset:
    """Read ml-100k's `u.data`, `u.item`, `u.user` and `u.genre` (Latin-1) into a `RawDataset`.

    Official counts: 943 users, 1,682 movies, 100,000 ratings.
    """
    d = Path(data_dir)
    hint = DOWNLOAD_HINT.format(name=name)
    ratings = read_delimited(
        d / "u.data", [("user id", "int"), ("item id", "int"), ("rating", "float"), ("timestamp", "int")],
        sep="\t", encoding="latin-1", hint=hint,
    )
    genres = list(ML100K_GENRES)
    if (d / "u.genre").exists():
        g = read_delimited(d / "u.genre", [("genre", "nonempty"), ("index", "int")], sep="|", encoding="latin-1")
        order = g["index"].to_numpy()
        if not np.array_equal(np.sort(order), np.arange(len(order))):
            raise DataFormatError(d / "u.genre", None, f"genre indices 0..{len(order) - 1}", str(order.tolist()))
        genres = [str(x) for x in g["genre"].to_numpy()[np.argsort(order)]]
    item_cols = [("movie id", "int"), ("movie title", "nonempty"), ("release date", "str"),
                 ("video release date", "str"), ("IMDb URL", "str")] + [(f"{x} flag", "int") for x in genres]
    items = read_delimited(d / "u.item", item_cols, sep="|", encoding="latin-1",
                           describe=f"id|title|release date|video release date|IMDb URL|{len(genres)} genre flags",
                           hint=hint)
    path_item = d / "u.item"
    _check_unique(path_item, items["movie id"], 1, "movie id")
    bad_date = ~items["release date"].str.fullmatch(_RELEASE_DATE).to_numpy()
    if bad_date.any():
        k = int(np.flatnonzero(bad_date)[0])
        raise DataFormatError(path_item, 1 + k, "a release date like 01-Jan-1995 (or empty)", repr(items["release date"].iloc[k]))
    flags = items[[f"{x} flag" for x in genres]].to_numpy()
    bad_flag = ~np.isin(flags, (0, 1))
    if bad_flag.any():
        k = int(np.flatnonzero(bad_flag.any(axis=1))[0])
        raise DataFormatError(path_item, 1 + k, "genre flags 0 or 1", str(flags[k].tolist()))
    _check_known(d / "u.data", ratings["item id"], items["movie id"].to_numpy(), 1, "item id", "u.item")
    names = np.asarray(genres, dtype=object)
    concepts = [[str(g) for g in names[row.astype(bool)] if g not in NO_GENRE] for row in flags]
    years = title_years(items["movie title"])
    release_year = pd.to_numeric(items["release date"].str[-4:], errors="coerce").fillna(-1).astype(np.int64).to_numpy()
    years = np.where(years >= 0, years, release_year)

    user_table_ids: Optional[np.ndarray] = None
    attrs: Dict[str, np.ndarray] = {}
    users_path = d / "u.user"
    if users_path.exists():
        users = read_delimited(
            users_path, [("user id", "int"), ("age", "int"), ("gender", "nonempty"), ("occupation", "nonempty"), ("zip code", "str")],
            sep="|", encoding="latin-1",
        )
        _check_unique(users_path, users["user id"], 1, "user id")
        _check_values(users_path, users["gender"], ("M", "F"), 1, "gender")
        _check_known(d / "u.data", ratings["user id"], users["user id"].to_numpy(), 1, "user id", "u.user")
        user_table_ids = as_str_array(users["user id"])
        attrs = {
            "gender": as_str_array(users["gender"]),
            "age": age_bucket(users["age"].to_numpy()).astype(str),
            "occupation": as_str_array(users["occupation"]),
        }
    info = _info(name, d, ratings["user id"], ratings["item id"], len(items), user_table_ids,
                 ["u.data", "u.item"] + (["u.genre"] if (d / "u.genre").exists() else []) + (["u.user"] if attrs else []),
                 "latin-1")
    return RawDataset(
        name=name,
        user=as_str_array(ratings["user id"]),
        item=as_str_array(ratings["item id"]),
        value=ratings["rating"].to_numpy(np.float64),
        timestamp=ratings["timestamp"].to_numpy(np.int64),
        item_table_ids=as_str_array(items["movie id"]),
        item_titles=as_str_array(items["movie title"]),
        item_concepts=concepts,
        item_years=years,
        concept_family="genre",
        concept_vocabulary=[g for g in genres if g not in NO_GENRE],
        user_table_ids=user_table_ids,
        user_attributes=attrs,
        value_kind="rating",
        info=info,
    )


def load_ml_csv(data_dir: "str | os.PathLike[str]", name: str = "ml-latest-small") -> RawDataset:
    """Read the csv layout (`ratings.csv`, `movies.csv`; UTF-8) of ml-latest-small, ml-25m and ml-32m.

    Official counts for ml-latest-small: 610 users, 9,742 movies (9,724 rated), 100,836 ratings.
    """
    d = Path(data_dir)
    hint = DOWNLOAD_HINT.format(name=name)
    ratings = read_delimited(
        d / "ratings.csv", [("userId", "int"), ("movieId", "int"), ("rating", "float"), ("timestamp", "int")],
        sep=",", encoding="utf-8", header=("userId", "movieId", "rating", "timestamp"), hint=hint,
    )
    movies_path = d / "movies.csv"
    movies = read_csv_table(movies_path, encoding="utf-8", expected_header=("movieId", "title", "genres"), hint=hint)
    validate_frame(movies_path, movies, [("movieId", "int"), ("title", "nonempty"), ("genres", "nonempty")])
    _check_unique(movies_path, movies["movieId"], 2, "movieId")
    _check_known(d / "ratings.csv", ratings["movieId"], movies["movieId"].to_numpy(), 2, "movieId", "movies.csv")
    concepts = [[g for g in row if g not in NO_GENRE] for row in split_multi(movies["genres"], "|")]
    canonical = [("Children" if g == "Children's" else g) for g in ML_GENRES] + ["IMAX"]
    return RawDataset(
        name=name,
        user=as_str_array(ratings["userId"]),
        item=as_str_array(ratings["movieId"]),
        value=ratings["rating"].to_numpy(np.float64),
        timestamp=ratings["timestamp"].to_numpy(np.int64),
        item_table_ids=as_str_array(movies["movieId"]),
        item_titles=as_str_array(movies["title"].str.strip()),
        item_concepts=concepts,
        item_years=title_years(movies["title"]),
        concept_family="genre",
        concept_vocabulary=_vocabulary(concepts, canonical),
        value_kind="rating",
        info=_info(name, d, ratings["userId"], ratings["movieId"], len(movies), None, ["ratings.csv", "movies.csv"], "utf-8"),
    )
