"""MovieLens loaders: exact formats (fixtures written here), bad input, and the real files' official counts."""
from pathlib import Path
from typing import Dict

import numpy as np
import pytest

from data_prep.errors import DataFormatError, MissingDataError
from data_prep.movielens import ML_GENRES, age_bucket, load_ml100k, load_ml1m, load_ml_csv

ML1M: Dict[str, str] = {
    "ratings.dat": "1::10::5::978300760\n1::20::3::978302109\n2::10::4::978301968\n3::30::1::978300275\n",
    "movies.dat": ("10::Misérables, Les (1995)::Drama|Musical\n20::Toy Story (1995)::Animation|Children's|Comedy\n"
                   "30::\"Great Performances\" Cats (1998)::Musical\n40::Never Rated (1972)::Horror\n"),
    "users.dat": "1::F::1::10::48067\n2::M::56::16::70072\n3::M::25::15::55117\n",
}


def write(d: Path, files: Dict[str, str], encoding: str = "latin-1", newline: str = "\n") -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (d / name).write_bytes(text.replace("\n", newline).encode(encoding))
    return d


def test_ml1m_reads_exact_format(tmp_path):
    raw = load_ml1m(write(tmp_path, ML1M))
    assert raw.user.tolist() == ["1", "1", "2", "3"]
    assert raw.item.tolist() == ["10", "20", "10", "30"]
    assert raw.value.tolist() == [5.0, 3.0, 4.0, 1.0]
    assert raw.timestamp[0] == 978300760
    assert raw.item_table_ids.tolist() == ["10", "20", "30", "40"]  # catalogue includes the unrated movie
    assert raw.item_titles[0] == "Misérables, Les (1995)"  # Latin-1 0xE9 decoded
    assert raw.item_titles[2] == '"Great Performances" Cats (1998)'  # quotes are literal in .dat files
    assert raw.item_years.tolist() == [1995, 1995, 1998, 1972]
    assert raw.item_concepts[1] == ["Animation", "Children's", "Comedy"]
    assert raw.concept_vocabulary == ["Animation", "Children's", "Comedy", "Drama", "Horror", "Musical"]
    assert raw.user_attributes["gender"].tolist() == ["F", "M", "M"]
    assert raw.user_attributes["age"].tolist() == ["Under 18", "56+", "25-34"]
    assert raw.user_attributes["occupation"].tolist() == ["K-12 student", "self-employed", "scientist"]
    assert raw.info["n_rows"] == 4 and raw.info["n_users"] == 3 and raw.info["n_items"] == 4
    assert raw.info["n_items_rated"] == 3


def test_ml1m_accepts_crlf_and_no_final_newline(tmp_path):
    files = dict(ML1M, **{"ratings.dat": ML1M["ratings.dat"].rstrip("\n")})
    raw = load_ml1m(write(tmp_path, files, newline="\r\n"))
    assert raw.n_rows == 4 and raw.item_titles[1] == "Toy Story (1995)"


@pytest.mark.parametrize(
    "file, text, line, fragment",
    [
        ("ratings.dat", "1::10::5::978300760\n1\t20\t3\t978302109\n", 2, "expected 4 '::'-separated fields"),
        ("ratings.dat", "1::10::5::978300760\n1::20::3::978302109\n2::10::4\n", 3, "3 fields"),
        ("ratings.dat", "1::10::5::978300760\nx::20::3::978302109\n", 2, "an integer UserID, got 'x'"),
        ("ratings.dat", "1::10::5::978300760\n1::20::3.5x::978302109\n", 2, "a number for Rating"),
        ("ratings.dat", "1::10::5::978300760\n\n1::20::3::978302109\n", 2, "a blank line"),
        ("ratings.dat", "1::10::5::978300760\n1::99::3::978302109\n", 2, "a MovieID listed in movies.dat, got MovieID 99"),
        ("ratings.dat", "1::10::5::978300760\n9::20::3::978302109\n", 2, "a UserID listed in users.dat"),
        ("movies.dat", "10::A (1995)::Drama\n10::B (1996)::Drama\n", 2, "duplicate MovieID 10"),
        ("users.dat", "1::F::1::10::48067\n2::X::56::16::70072\n", 2, "Gender in {M, F}"),
        ("users.dat", "1::F::1::10::48067\n2::M::57::16::70072\n", 2, "Age code"),
    ],
)
def test_ml1m_bad_input_names_file_and_line(tmp_path, file, text, line, fragment):
    write(tmp_path, ML1M)
    (tmp_path / file).write_bytes(text.encode("latin-1"))
    with pytest.raises(DataFormatError) as e:
        load_ml1m(tmp_path)
    assert e.value.path == str(tmp_path / file) and e.value.line == line
    assert fragment in str(e.value)
    assert str(e.value).startswith(f"{tmp_path / file}:{line}: expected ")


def test_ml1m_empty_missing_and_reencoded(tmp_path):
    write(tmp_path, ML1M)
    (tmp_path / "ratings.dat").write_bytes(b"")
    with pytest.raises(DataFormatError, match=r"ratings.dat:1: expected .*got an empty file"):
        load_ml1m(tmp_path)
    (tmp_path / "ratings.dat").unlink()
    with pytest.raises(MissingDataError, match=r"ratings.dat: missing; pass --data-dir .* or --download"):
        load_ml1m(tmp_path)
    # a UTF-8 copy of the Latin-1 movies.dat is refused (its titles would be garbled), naming the line
    write(tmp_path, ML1M)
    (tmp_path / "movies.dat").write_bytes(ML1M["movies.dat"].encode("utf-8"))
    with pytest.raises(DataFormatError, match=r"movies.dat:1: expected Latin-1 .*got UTF-8 multi-byte"):
        load_ml1m(tmp_path)


def _ml100k_files() -> Dict[str, str]:
    genre = "".join(f"{g}|{i}\n" for i, g in enumerate(("unknown",) + ML_GENRES)) + "\n"
    flags = lambda on: "|".join("1" if i in on else "0" for i in range(19))  # noqa: E731
    item = (
        f"1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)|{flags({3, 4, 5})}\n"
        f"2|Misérables, Les (1995)|01-Jan-1995||http://x|{flags({8, 12})}\n"
        f"3|unknown||||{flags({0})}\n"
        f"4|Some Doc|4-Feb-1971||http://x|{flags({7})}\n"
    )
    return {
        "u.data": "1\t1\t5\t874965758\n1\t2\t3\t876893171\n2\t3\t4\t878542960\n2\t4\t1\t876893119\n",
        "u.item": item,
        "u.user": "1|24|M|technician|85711\n2|53|F|other|94043\n",
        "u.genre": genre,
    }


def test_ml100k_reads_exact_format(tmp_path):
    raw = load_ml100k(write(tmp_path, _ml100k_files()))
    assert raw.n_rows == 4 and raw.value.tolist() == [5.0, 3.0, 4.0, 1.0]
    assert raw.item_titles[1] == "Misérables, Les (1995)"
    assert raw.item_concepts == [["Animation", "Children's", "Comedy"], ["Drama", "Musical"], [], ["Documentary"]]
    assert "unknown" not in raw.concept_vocabulary and len(raw.concept_vocabulary) == 18
    # year: title first, else the release date's year, else -1
    assert raw.item_years.tolist() == [1995, 1995, -1, 1971]
    assert raw.user_attributes["age"].tolist() == ["18-24", "50-55"]
    assert raw.user_attributes["occupation"].tolist() == ["technician", "other"]


@pytest.mark.parametrize(
    "file, text, line, fragment",
    [
        ("u.item", "1|Toy Story (1995)|1995-01-01||http://x|" + "|".join(["0"] * 19) + "\n", 1, "release date like 01-Jan-1995"),
        ("u.item", "1|Toy Story (1995)|01-Jan-1995||http://x|" + "|".join(["0"] * 18 + ["2"]) + "\n", 1, "genre flags 0 or 1"),
        ("u.item", "1|Toy Story (1995)|01-Jan-1995||http://x|" + "|".join(["0"] * 18) + "\n", 1, "23 fields"),
        ("u.data", "1\t1\t5\t874965758\n1 2 3 876893171\n", 2, "1 field"),
    ],
)
def test_ml100k_bad_input(tmp_path, file, text, line, fragment):
    write(tmp_path, _ml100k_files())
    (tmp_path / file).write_bytes(text.encode("latin-1"))
    with pytest.raises(DataFormatError) as e:
        load_ml100k(tmp_path)
    assert e.value.line == line and fragment in str(e.value) and file in str(e.value)


ML_CSV = {
    "ratings.csv": "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n2,3,0.5,964982224\n",
    "movies.csv": ('movieId,title,genres\n1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n'
                   '3,"American President, The (1995)",Comedy|Drama|Romance\n'
                   '5,Babylon 5,(no genres listed)\n7,Amélie (Fabuleux destin d\'Amélie Poulain) (2001),Comedy|Romance\n'),
}


def test_ml_csv_reads_quoted_titles_and_utf8(tmp_path):
    raw = load_ml_csv(write(tmp_path, ML_CSV, encoding="utf-8"))
    assert raw.value.tolist() == [4.0, 4.5, 0.5]
    assert raw.item_titles.tolist()[1] == "American President, The (1995)"
    assert raw.item_titles[3].startswith("Amélie")
    assert raw.item_concepts[2] == []  # "(no genres listed)" is no concept
    assert raw.item_years.tolist() == [1995, 1995, -1, 2001]
    assert raw.concept_vocabulary[:3] == ["Adventure", "Animation", "Children"]
    assert raw.info["n_items"] == 4 and raw.info["n_items_rated"] == 2


@pytest.mark.parametrize(
    "file, text, line, fragment",
    [
        ("ratings.csv", "userId;movieId;rating;timestamp\n1;1;4.0;964982703\n", 1, "the header row 'userId,movieId,rating,timestamp'"),
        ("ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,1.5,4.0,964982703\n", 3, "an integer movieId"),
        ("movies.csv", "movieId,title,genres\n1,Toy Story (1995),Comedy\n3,Heat (1995)\n", 3, "a non-empty genres"),
    ],
)
def test_ml_csv_bad_input(tmp_path, file, text, line, fragment):
    write(tmp_path, ML_CSV, encoding="utf-8")
    (tmp_path / file).write_bytes(text.encode("utf-8"))
    with pytest.raises(DataFormatError) as e:
        load_ml_csv(tmp_path)
    assert e.value.line == line and fragment in str(e.value)


def test_ml_csv_latin1_byte_in_utf8_file(tmp_path):
    write(tmp_path, ML_CSV, encoding="utf-8")
    (tmp_path / "movies.csv").write_bytes(ML_CSV["movies.csv"].encode("latin-1"))  # é as the single byte 0xE9
    with pytest.raises(DataFormatError, match=r"movies.csv:5: expected UTF-8 text, got byte 0xE9 at column 5"):
        load_ml_csv(tmp_path)


def test_age_bucket_edges():
    assert age_bucket(np.array([7, 17, 18, 24, 25, 44, 45, 49, 50, 55, 56, 73])).tolist() == [
        "Under 18", "Under 18", "18-24", "18-24", "25-34", "35-44", "45-49", "45-49", "50-55", "50-55", "56+", "56+"]


# ---- the real distributions (JAXSAE_DATA_DIR=/work/shared/data) -------------------------------------
def test_real_ml100k_official_counts(real_data):
    raw = load_ml100k(real_data("ml-100k"))
    assert (raw.info["n_users"], raw.info["n_items"], raw.info["n_rows"]) == (943, 1682, 100_000)
    counts = {g: sum(g in c for c in raw.item_concepts) for g in raw.concept_vocabulary}
    assert counts["Drama"] == 725 and counts["Comedy"] == 505 and counts["Western"] == 27
    assert raw.item_titles[542] == "Misérables, Les (1995)"
    assert sorted(np.unique(raw.user_attributes["occupation"]).tolist())[:2] == ["administrator", "artist"]
    assert np.unique(raw.value).tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_real_ml_latest_small_official_counts(real_data):
    raw = load_ml_csv(real_data("ml-latest-small"))
    assert (raw.info["n_users"], raw.info["n_items"], raw.info["n_items_rated"], raw.info["n_rows"]) == (610, 9742, 9724, 100_836)
    assert sum(not c for c in raw.item_concepts) == 34  # the "(no genres listed)" movies
    assert sum("Drama" in c for c in raw.item_concepts) == 4361
    assert sum("IMAX" in c for c in raw.item_concepts) == 158


def test_real_ml1m_official_counts_and_prepared_split(real_data):
    """The paper's dataset: 6,040 users rated 3,706 of the 3,883 catalogued movies in 1,000,209 rows; prepared as
    implicit feedback every row is a positive, 5 per user held out and the rest trained on."""
    from data_prep.preprocess import PrepareOptions, prepare

    raw = load_ml1m(real_data("ml-1m"))
    assert (raw.info["n_users"], raw.info["n_items"], raw.info["n_items_rated"], raw.info["n_rows"]) == (
        6040, 3883, 3706, 1_000_209)
    assert raw.concept_vocabulary == list(ML_GENRES) and len(ML_GENRES) == 18
    counts = {g: sum(g in c for c in raw.item_concepts) for g in ("Drama", "Comedy", "Horror")}
    assert counts == {"Drama": 1603, "Comedy": 1200, "Horror": 343}
    data = prepare(raw, PrepareOptions())
    assert (data.n_users, data.n_items, data.n_interactions) == (6040, 3706, 1_000_209)
    assert data.n_train + 5 * len(data.test_users) == 1_000_209 and len(data.test_users) == 6040
    assert int(np.diff(data.train_indptr).min()) == 15  # every ML-1M user rated >= 20 movies
    assert np.array_equal(data.popularity, np.bincount(data.train_indices, minlength=data.n_items))
