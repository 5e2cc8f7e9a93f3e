"""Last.fm loaders: HetRec 2011 `lastfm-hetrec-2k`, and the MSD/Last.fm layout `lastfm-msd`.

Items are artists; the interaction value is the play count (`value_kind="weight"`).

Artist concepts are tags (family "tag"), chosen by `artist_top_tags`:
1. tags are lower-cased and whitespace-collapsed; spellings that differ only in spaces, hyphens,
   underscores or apostrophes are one tag ("hip-hop" = "hip hop" = "hiphop"), shown by its most used spelling;
2. non-genre tags are dropped by `is_stop_tag`: personal or evaluative tags (seen live, favorites,
   favourite, love, awesome, beautiful, amazing, cool, epic, guilty pleasures, "my ...", "best ..."),
   decades and years (80s, 80's, 1980s, eighties, 1995: they are derived from years elsewhere, and
   hetrec has no artist years), vocalist gender (female/male vocalist(s), female/male vocals: a singer
   attribute, not a genre), and listening-habit tags (under 2000 listeners, spotify, albums i own);
3. tags applied to fewer than `min_tag_artists` artists (default 5), or, where the tagger is known
   (hetrec), by fewer than `min_tag_users` users (default 2), are dropped (too rare or too private);
4. each artist keeps its `top_k` (4) most frequent remaining tags (ties: tags used by more artists first).

hetrec files: `user_artists.dat` (userID, artistID, weight), `artists.dat` (id, name, url, pictureURL; LF,
UTF-8), `tags.dat` (tagID, tagValue; Latin-1), `user_taggedartists.dat` (userID, artistID, tagID, day,
month, year); tab-separated with a header row and CRLF line ends.

lastfm-msd: a track table with columns `track_id,name,artist,tags,year` (tags separated by "," or "|";
extra columns are ignored, so the Kaggle "Music Info.csv" works) and a listening table
`user_id,track_id,playcount` (e.g. "User Listening History.csv"). Tracks are aggregated to artists
(play counts summed per user and artist; an artist's year is the median year of its tracks; its tags
are counted over its tracks). The paper's filters (artists with > 50 listeners, then users with > 50
artists, then artists with > 40 listeners) are preprocessing options:
`PrepareOptions(filter_sequence=data_prep.preprocess.LASTFM_MSD_FILTERS)` (`jaxsae prepare --paper-filters`).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from data_prep.dataset import RawDataset
from data_prep.errors import DataFormatError, MissingDataError
from data_prep.textio import as_str_array, read_csv_table, read_delimited, validate_frame

HETREC_HINT = "pass --data-dir pointing at the extracted hetrec2011-lastfm-2k folder, or --download to fetch it"

STOP_TAGS = frozenset({
    "seen live", "seen in concert", "want to see live", "live", "favorites", "favourites", "favorite",
    "favourite", "favorite artists", "favourite artists", "love", "loved", "love it", "i love", "<3",
    "awesome", "beautiful", "amazing", "cool", "so cool", "great", "good", "good music", "best", "epic",
    "brilliant", "genius", "genious", "legend", "legends", "fun", "hot", "sexy", "catchy", "addictive",
    "pretty", "lovely", "bad", "boring", "guilty pleasure", "guilty pleasures", "check out", "spotify",
    "albums i own", "under 2000 listeners", "music", "all", "top", "top artists",
    "female vocalist", "female vocalists", "male vocalist", "male vocalists", "female vocals", "male vocals",
    "female vovalists", "eighties", "nineties", "seventies", "sixties", "fifties",
})
_STOP_PATTERNS = re.compile(
    r"^(?:\d0'?s|(?:19|20)\d0'?s|(?:19|20)\d\d)$"  # decades and years: 80s, 80's, 1980s, 1995
    r"|favou?rite|seen live|^my |^i love |^best |^the best "
)
_KEY_STRIP = re.compile(r"[\s\-_'\u2019]+")


def is_stop_tag(tag: str) -> bool:
    """True for non-genre tags (personal, evaluative, decades/years, vocalist gender); see the module doc."""
    t = " ".join(tag.lower().split())
    return t in STOP_TAGS or bool(_STOP_PATTERNS.search(t))


def artist_top_tags(
    artists: np.ndarray,
    tags: np.ndarray,
    catalogue: np.ndarray,
    top_k: int = 4,
    min_tag_artists: int = 5,
    weights: Optional[np.ndarray] = None,
    users: Optional[np.ndarray] = None,
    min_tag_users: int = 1,
) -> Tuple[List[List[str]], List[str], Dict[str, int]]:
    """Per catalogue artist, its `top_k` most frequent non-stop tags (module doc, steps 1-4).

    `artists[r]`, `tags[r]`: one tag application per row (optionally weighted by `weights[r]`, and
    made by `users[r]`: a tag must then be applied by at least `min_tag_users` distinct users, so one
    user's private labels such as "terrorbanana" on 30 artists are not concepts).
    Returns (concept names per catalogue artist, the vocabulary ordered by how many artists carry
    each tag, counts {"tag_applications", "stop_listed", "rare_dropped", "tags_kept"}).
    """
    df = pd.DataFrame({"artist": pd.Series(artists).astype(str), "raw": pd.Series(tags).astype(str)})
    df["w"] = 1.0 if weights is None else np.asarray(weights, dtype=np.float64)
    df["user"] = "" if users is None else pd.Series(users).astype(str).to_numpy()
    df["raw"] = df["raw"].str.lower().str.split().str.join(" ")
    df = df[df["raw"] != ""]
    n_total = len(df)
    uniq = pd.Series(df["raw"].unique())
    stop = uniq[uniq.map(is_stop_tag)]
    df = df[~df["raw"].isin(set(stop))]
    n_stop = n_total - len(df)
    df = df.assign(key=df["raw"].str.replace(_KEY_STRIP, "", regex=True))
    df = df[df["key"] != ""]
    # display name of a key: its most used spelling (ties: alphabetical)
    spell = df.groupby(["key", "raw"], sort=True)["w"].sum().reset_index()
    spell = spell.sort_values(["key", "w", "raw"], ascending=[True, False, True]).drop_duplicates("key")
    display = dict(zip(spell["key"], spell["raw"]))
    per = df.groupby(["artist", "key"], sort=False)["w"].sum().reset_index()
    support = per.groupby("key")["artist"].nunique()
    n_users = df.groupby("key")["user"].nunique().reindex(support.index)
    keep = support[(support >= max(1, min_tag_artists)) & (n_users >= (min_tag_users if users is not None else 1))]
    n_rare = int(len(support) - len(keep))
    per = per[per["key"].isin(keep.index)].copy()
    per["support"] = per["key"].map(keep)
    per = per.sort_values(["artist", "w", "support", "key"], ascending=[True, False, False, True])
    top = per.groupby("artist", sort=False).head(top_k)
    lists = top.groupby("artist", sort=False)["key"].agg(list)
    lookup = {a: [display[k] for k in ks] for a, ks in lists.items()}
    concepts = [lookup.get(str(a), []) for a in catalogue]
    used = pd.Series([c for row in concepts for c in row]).value_counts()
    vocab = sorted(used.index.tolist(), key=lambda c: (-int(used[c]), c))
    counts = {"tag_applications": int(n_total), "stop_listed": int(n_stop), "rare_dropped": n_rare,
              "tags_kept": len(vocab)}
    return concepts, vocab, counts


def load_hetrec(
    data_dir: "str | os.PathLike[str]",
    name: str = "lastfm-hetrec-2k",
    top_k: int = 4,
    min_tag_artists: int = 5,
    min_tag_users: int = 2,
) -> RawDataset:
    """Read HetRec 2011 Last.fm 2K into a `RawDataset` (items = artists, value = play count).

    Official counts: 1,892 users, 17,632 artists, 92,834 user-artist rows.
    """
    d = Path(data_dir)
    ua = read_delimited(d / "user_artists.dat", [("userID", "int"), ("artistID", "int"), ("weight", "float")],
                        sep="\t", encoding="latin-1", header=("userID", "artistID", "weight"), hint=HETREC_HINT)
    art = read_delimited(d / "artists.dat", [("id", "int"), ("name", "str"), ("url", "str"), ("pictureURL", "str")],
                         sep="\t", encoding="utf-8", header=("id", "name", "url", "pictureURL"), hint=HETREC_HINT)
    dup = art["id"].duplicated().to_numpy()
    if dup.any():
        k = int(np.flatnonzero(dup)[0])
        raise DataFormatError(d / "artists.dat", 2 + k, "an artist id not seen on an earlier line", f"duplicate id {art['id'].iloc[k]}")
    known = np.isin(ua["artistID"].to_numpy(), art["id"].to_numpy())
    if not known.all():
        k = int(np.flatnonzero(~known)[0])
        raise DataFormatError(d / "user_artists.dat", 2 + k, "an artistID listed in artists.dat", f"artistID {ua['artistID'].iloc[k]}")
    catalogue = as_str_array(art["id"])
    concepts: List[List[str]] = [[] for _ in range(len(catalogue))]
    vocab: List[str] = []
    tag_info: Dict[str, object] = {"tags_available": False}
    if (d / "tags.dat").exists() and (d / "user_taggedartists.dat").exists():
        tags = read_delimited(d / "tags.dat", [("tagID", "int"), ("tagValue", "str")], sep="\t",
                              encoding="latin-1", header=("tagID", "tagValue"))
        uta = read_delimited(
            d / "user_taggedartists.dat",
            [("userID", "int"), ("artistID", "int"), ("tagID", "int"), ("day", "int"), ("month", "int"), ("year", "int")],
            sep="\t", encoding="latin-1", header=("userID", "artistID", "tagID", "day", "month", "year"),
        )
        tag_known = np.isin(uta["tagID"].to_numpy(), tags["tagID"].to_numpy())
        if not tag_known.all():
            k = int(np.flatnonzero(~tag_known)[0])
            raise DataFormatError(d / "user_taggedartists.dat", 2 + k, "a tagID listed in tags.dat", f"tagID {uta['tagID'].iloc[k]}")
        value = uta["tagID"].map(pd.Series(tags["tagValue"].to_numpy(), index=tags["tagID"].to_numpy()))
        in_cat = np.isin(uta["artistID"].to_numpy(), art["id"].to_numpy())
        concepts, vocab, counts = artist_top_tags(
            uta["artistID"].to_numpy()[in_cat].astype(str), value.to_numpy()[in_cat], catalogue,
            top_k=top_k, min_tag_artists=min_tag_artists,
            users=uta["userID"].to_numpy()[in_cat], min_tag_users=min_tag_users,
        )
        tag_info = {"tags_available": True, "n_tags": int(len(tags)), "n_tag_assignments": int(len(uta)),
                    "tag_assignments_outside_catalogue": int((~in_cat).sum()), "top_k": top_k,
                    "min_tag_artists": min_tag_artists, "min_tag_users": min_tag_users, **counts}
    info: Dict[str, object] = {
        "source": name, "data_dir": str(d), "encoding": "tab-separated, header, CRLF; artists.dat UTF-8, tags.dat Latin-1",
        "files": [f for f in ("user_artists.dat", "artists.dat", "tags.dat", "user_taggedartists.dat") if (d / f).exists()],
        "n_rows": int(len(ua)), "n_users": int(ua["userID"].nunique()), "n_items": int(len(art)),
        "n_items_listened": int(ua["artistID"].nunique()), **tag_info,
    }
    return RawDataset(
        name=name,
        user=as_str_array(ua["userID"]),
        item=as_str_array(ua["artistID"]),
        value=ua["weight"].to_numpy(np.float64),
        timestamp=np.full(len(ua), -1, dtype=np.int64),
        item_table_ids=catalogue,
        item_titles=as_str_array(art["name"]),
        item_concepts=concepts,
        item_years=np.full(len(catalogue), -1, dtype=np.int64),
        concept_family="tag",
        concept_vocabulary=vocab,
        value_kind="weight",
        info=info,
    )


MSD_TRACK_FILES = ("tracks.csv", "Music Info.csv", "music_info.csv")
MSD_LISTEN_FILES = ("listens.csv", "User Listening History.csv", "user_listening_history.csv")
MSD_TRACK_COLUMNS = ("track_id", "name", "artist", "tags", "year")
MSD_LISTEN_COLUMNS = ("user_id", "track_id", "playcount")


def _find(d: Path, names: Sequence[str], what: str, columns: Sequence[str]) -> Path:
    for n in names:
        if (d / n).is_file():
            return d / n
    raise MissingDataError(
        f"{d}: no {what} (looked for {', '.join(names)}; a csv with columns {','.join(columns)}); "
        "lastfm-msd has no official single archive: put the files in the --data-dir folder"
    )


def _read_columns(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    """A quoted csv read as strings, keeping only `columns` (which must be in its header)."""
    df = read_csv_table(path, encoding="utf-8")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataFormatError(path, 1, f"a header with columns {','.join(columns)}", f"columns {','.join(df.columns)}")
    return df[list(columns)].copy()


def load_msd(
    data_dir: "str | os.PathLike[str]",
    name: str = "lastfm-msd",
    top_k: int = 4,
    min_tag_artists: int = 5,
) -> RawDataset:
    """Read the MSD/Last.fm track and listening tables, aggregated to artists (module doc)."""
    d = Path(data_dir)
    tpath = _find(d, MSD_TRACK_FILES, "track table", MSD_TRACK_COLUMNS)
    lpath = _find(d, MSD_LISTEN_FILES, "listening table", MSD_LISTEN_COLUMNS)
    tracks = _read_columns(tpath, MSD_TRACK_COLUMNS)
    validate_frame(tpath, tracks, [("track_id", "nonempty"), ("artist", "nonempty"), ("tags", "str"), ("year", "str")])
    dup = tracks["track_id"].duplicated().to_numpy()
    if dup.any():
        k = int(np.flatnonzero(dup)[0])
        raise DataFormatError(tpath, 2 + k, "a track_id not seen on an earlier line", f"duplicate {tracks['track_id'].iloc[k]!r}")
    year = pd.to_numeric(tracks["year"].str.strip().replace("", "-1"), errors="coerce")
    if year.isna().any():
        k = int(np.flatnonzero(year.isna().to_numpy())[0])
        raise DataFormatError(tpath, 2 + k, "an integer year (or empty)", repr(tracks["year"].iloc[k]))
    tracks["year_i"] = year.astype(np.int64).where(year > 0, -1)
    listens = _read_columns(lpath, MSD_LISTEN_COLUMNS)
    validate_frame(lpath, listens, [("user_id", "nonempty"), ("track_id", "nonempty"), ("playcount", "float")])
    known = listens["track_id"].isin(tracks["track_id"]).to_numpy()
    if not known.all():
        k = int(np.flatnonzero(~known)[0])
        raise DataFormatError(lpath, 2 + k, f"a track_id listed in {tpath.name}", repr(listens["track_id"].iloc[k]))
    artist_of = pd.Series(tracks["artist"].str.strip().to_numpy(), index=tracks["track_id"].to_numpy())
    listens["artist"] = listens["track_id"].map(artist_of)
    ua = listens.groupby(["user_id", "artist"], sort=True)["playcount"].sum().reset_index()
    catalogue = np.asarray(sorted(tracks["artist"].str.strip().unique()), dtype=str)
    yrs = tracks[tracks["year_i"] > 0].assign(artist=tracks["artist"].str.strip()).groupby("artist")["year_i"].median()
    years = pd.Series(catalogue).map(yrs).fillna(-1).astype(np.int64).to_numpy()
    split = tracks["tags"].str.split(r"[,|]", regex=True)
    exploded = pd.DataFrame({"artist": tracks["artist"].str.strip(), "tag": split}).explode("tag").dropna()
    exploded["tag"] = exploded["tag"].str.strip()
    exploded = exploded[exploded["tag"] != ""]
    concepts, vocab, counts = artist_top_tags(exploded["artist"].to_numpy(), exploded["tag"].to_numpy(), catalogue,
                                              top_k=top_k, min_tag_artists=min_tag_artists)
    return RawDataset(
        name=name,
        user=as_str_array(ua["user_id"]),
        item=as_str_array(ua["artist"]),
        value=ua["playcount"].to_numpy(np.float64),
        timestamp=np.full(len(ua), -1, dtype=np.int64),
        item_table_ids=catalogue,
        item_titles=catalogue.copy(),
        item_concepts=concepts,
        item_years=years,
        concept_family="tag",
        concept_vocabulary=vocab,
        value_kind="weight",
        info={"source": name, "data_dir": str(d), "files": [tpath.name, lpath.name], "encoding": "utf-8",
              "n_listen_rows": int(len(listens)), "n_tracks": int(len(tracks)), "n_rows": int(len(ua)),
              "n_users": int(ua["user_id"].nunique()), "n_items": int(len(catalogue)),
              "n_items_listened": int(ua["artist"].nunique()), "top_k": top_k, "min_tag_artists": min_tag_artists,
              **counts},
    )
