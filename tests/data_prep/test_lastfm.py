"""Last.fm loaders: hetrec byte format (CRLF, header, mixed encodings), tag concepts, MSD layout, bad input."""
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest

from data_prep.errors import DataFormatError, MissingDataError
from data_prep.lastfm import artist_top_tags, is_stop_tag, load_hetrec, load_msd


def _tagged(rows: List[Tuple[int, int, int]]) -> str:
    return "userID\tartistID\ttagID\tday\tmonth\tyear\n" + "".join(f"{u}\t{a}\t{t}\t1\t4\t2009\n" for u, a, t in rows)


def hetrec_files() -> Dict[str, bytes]:
    """Artists 1-6 in the exact hetrec byte layout: CRLF + header, artists.dat LF + UTF-8, tags.dat Latin-1."""
    crlf = lambda s: s.replace("\n", "\r\n").encode("latin-1")  # noqa: E731
    artists = "id\tname\turl\tpictureURL\n" + "".join(
        f"{i}\t{n}\thttp://www.last.fm/music/{i}\thttp://userserve-ak.last.fm/serve/252/{i}.jpg\n"
        for i, n in enumerate(["MALICE MIZER", "Diary of Dreams", "Mötley Crüe", "Björk", "Sigur Rós", "Ōkami"], 1)
    )
    tags = "tagID\ttagValue\n1\tmetal\n2\tseen live\n3\thip-hop\n4\thip hop\n5\trock français\n6\t80s\n7\tambient\n8\tfemale vocalists\n9\tpost-rock\n"
    rows = []
    for a in range(1, 7):  # "metal" on every artist, by two users
        rows += [(2, a, 1), (3, a, 1)]
    for a in (1, 2, 3):  # stop-listed tags applied a lot: never concepts
        rows += [(2, a, 2), (3, a, 2), (4, a, 2), (2, a, 6), (3, a, 6), (2, a, 8), (3, a, 8)]
    for a, t in ((1, 3), (2, 3), (3, 4), (4, 4), (5, 3)):  # hip-hop / hip hop: one tag on 5 artists
        rows += [(2, a, t), (4, a, t)]
    for a in (4, 5):  # ambient on 2 artists only: too rare with min_tag_artists=3
        rows += [(2, a, 7), (3, a, 7), (4, a, 7)]
    for a in range(1, 7):  # post-rock: 6 artists but one user only
        rows += [(5, a, 9)]
    rows += [(2, 99, 1)]  # a tagged artist outside artists.dat (happens in the real files)
    return {
        "user_artists.dat": crlf("userID\tartistID\tweight\n2\t1\t13883\n2\t2\t11690\n3\t2\t1\n3\t6\t250\n"),
        "artists.dat": artists.encode("utf-8"),
        "tags.dat": crlf(tags),
        "user_taggedartists.dat": crlf(_tagged(rows)),
    }


def write(d: Path, files: Dict[str, bytes]) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for k, v in files.items():
        (d / k).write_bytes(v)
    return d


def test_hetrec_reads_exact_format_and_tag_concepts(tmp_path):
    raw = load_hetrec(write(tmp_path, hetrec_files()), min_tag_artists=3)
    assert raw.user.tolist() == ["2", "2", "3", "3"] and raw.item.tolist() == ["1", "2", "2", "6"]
    assert raw.value.tolist() == [13883.0, 11690.0, 1.0, 250.0] and raw.value_kind == "weight"
    assert raw.item_titles.tolist()[2:] == ["Mötley Crüe", "Björk", "Sigur Rós", "Ōkami"]  # UTF-8
    assert raw.concept_family == "tag" and (raw.item_years == -1).all()
    # metal (2 users per artist) ranks above hip-hop; stop-listed, rare and single-user tags are gone
    assert raw.item_concepts[0] == ["metal", "hip-hop"]
    assert raw.item_concepts[3] == ["metal", "hip-hop"]  # "hip hop" merged into "hip-hop"; tie -> metal (6 artists > 5)
    assert raw.item_concepts[5] == ["metal"]
    assert raw.concept_vocabulary == ["metal", "hip-hop"]
    assert raw.info["tag_assignments_outside_catalogue"] == 1
    assert raw.info["n_users"] == 2 and raw.info["n_items"] == 6 and raw.info["n_rows"] == 4


def test_top_tags_counts_and_ties():
    # artist a: rock x3, pop x1; artist b: pop x2, rock x2 (tie: the tag on more artists, then the name)
    artists = np.array(["a", "a", "a", "a", "b", "b", "b", "b", "c"])
    tags = np.array(["Rock", "rock ", "ROCK", "pop", "pop", "pop", "rock", "rock", "jazz"])
    concepts, vocab, counts = artist_top_tags(artists, tags, np.array(["a", "b", "c", "d"]), top_k=1, min_tag_artists=1)
    assert concepts == [["rock"], ["pop"], ["jazz"], []]
    concepts, _, _ = artist_top_tags(artists, tags, np.array(["a", "b", "c"]), top_k=4, min_tag_artists=2)
    assert concepts == [["rock", "pop"], ["pop", "rock"], []]  # jazz is on one artist only


@pytest.mark.parametrize("tag, stop", [
    ("seen live", True), ("Favorites", True), ("my favourite songs", True), ("80s", True), ("80's", True),
    ("1990s", True), ("1995", True), ("female vocalists", True), ("beautiful", True), ("love", True),
    ("80s pop", False), ("hip-hop", False), ("singer-songwriter", False), ("love metal", False), ("rock", False),
])
def test_stop_list(tag, stop):
    assert is_stop_tag(tag) is stop


@pytest.mark.parametrize("file, data, line, fragment", [
    ("user_artists.dat", b"userID artistID weight\r\n2\t1\t5\r\n", 1, "the header row"),
    ("user_artists.dat", b"userID\tartistID\tweight\r\n2\t1\t5\r\n2\t1\r\n", 3, "2 fields"),
    ("user_artists.dat", b"userID\tartistID\tweight\r\n2\t1\t5\r\n2\t7\t5\r\n", 3, "an artistID listed in artists.dat"),
    ("user_artists.dat", b"userID\tartistID\tweight\r\n2\ta1\t5\r\n", 2, "an integer artistID"),
    ("artists.dat", "id\tname\turl\tpictureURL\n1\tBj\xf6rk\tu\tp\n".encode("latin-1"), 2, "expected UTF-8 text, got byte 0xF6"),
    ("user_taggedartists.dat", _tagged([(2, 1, 1), (2, 1, 42)]).encode(), 3, "a tagID listed in tags.dat"),
])
def test_hetrec_bad_input(tmp_path, file, data, line, fragment):
    write(tmp_path, hetrec_files())
    (tmp_path / file).write_bytes(data)
    with pytest.raises(DataFormatError) as e:
        load_hetrec(tmp_path)
    assert e.value.line == line and fragment in str(e.value) and file in str(e.value)


def test_hetrec_missing_file(tmp_path):
    write(tmp_path, hetrec_files())
    (tmp_path / "user_artists.dat").unlink()
    with pytest.raises(MissingDataError, match="user_artists.dat: missing; pass --data-dir"):
        load_hetrec(tmp_path)


def test_msd_aggregates_tracks_to_artists(tmp_path):
    (tmp_path / "tracks.csv").write_text(
        "track_id,name,artist,spotify_id,tags,year\n"
        "T1,Song A,Metallica,x,\"metal, rock, seen live\",1986\n"
        "T2,Song B,Metallica,x,\"metal, thrash metal\",1991\n"
        "T3,Song C,Björk,x,electronic|icelandic,1997\n"
        "T4,Song D,Björk,x,,\n", encoding="utf-8")
    (tmp_path / "listens.csv").write_text(
        "track_id,user_id,playcount\nT1,u1,3\nT2,u1,2\nT3,u1,1\nT4,u2,7\nT3,u2,1\n", encoding="utf-8")
    raw = load_msd(tmp_path, min_tag_artists=1)
    pairs = sorted(zip(raw.user.tolist(), raw.item.tolist(), raw.value.tolist()))
    assert pairs == [("u1", "Björk", 1.0), ("u1", "Metallica", 5.0), ("u2", "Björk", 8.0)]
    assert raw.item_table_ids.tolist() == ["Björk", "Metallica"]
    assert raw.item_years.tolist() == [1997, 1988]  # median of the artist's track years (1986, 1991)
    assert raw.item_concepts[1] == ["metal", "rock", "thrash metal"]
    assert raw.item_concepts[0] == ["electronic", "icelandic"]
    assert raw.info["n_listen_rows"] == 5 and raw.info["n_tracks"] == 4


def test_msd_errors(tmp_path):
    with pytest.raises(MissingDataError, match="no track table"):
        load_msd(tmp_path)
    (tmp_path / "tracks.csv").write_text("track_id,name,artist,tags,year\nT1,A,X,rock,1990\n")
    (tmp_path / "listens.csv").write_text("user_id,track_id,playcount\nu1,T1,1\nu1,T9,2\n")
    with pytest.raises(DataFormatError, match=r"listens.csv:3: expected a track_id listed in tracks.csv, got 'T9'"):
        load_msd(tmp_path)
    (tmp_path / "listens.csv").write_text("user,track,plays\nu1,T1,1\n")
    with pytest.raises(DataFormatError, match=r"listens.csv:1: expected a header with columns user_id,track_id,playcount"):
        load_msd(tmp_path)


def test_real_hetrec_sample(real_data):
    raw = load_hetrec(real_data("samples/lastfm-hetrec-2k"))
    assert raw.info["n_users"] == 40 and raw.info["n_rows"] == 1964
    assert raw.info["n_tags"] == 508  # tags.dat is Latin-1: "rock français" etc. decode
    assert "seen live" not in raw.concept_vocabulary and "pop" in raw.concept_vocabulary
    assert all(len(c) <= 4 for c in raw.item_concepts)


def test_real_hetrec_full_official_counts(real_data):
    raw = load_hetrec(real_data("lastfm-hetrec-2k"))
    assert (raw.info["n_users"], raw.info["n_items"], raw.info["n_rows"]) == (1892, 17632, 92834)
