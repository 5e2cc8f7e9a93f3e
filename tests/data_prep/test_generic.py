"""Generic csv/parquet interactions with an optional item table."""
import numpy as np
import pandas as pd
import pytest

from data_prep.errors import DataFormatError, MissingDataError
from data_prep.generic import load_generic
from data_prep.preprocess import PrepareOptions, prepare

INTER = "user,item,rating,timestamp\nalice,i1,4.5,100\nalice,i2,2,101\nbob,i1,5,102\nbob,i9,1,103\n"
ITEMS = 'item,title,concepts,year\ni1,"Heat, the movie",Action|Crime,1995\ni2,Up,Animation,\ni3,Unseen,,2001\n'


def test_csv_with_item_table(tmp_path):
    (tmp_path / "inter.csv").write_text(INTER)
    (tmp_path / "items.csv").write_text(ITEMS)
    raw = load_generic(interactions=tmp_path / "inter.csv", items=tmp_path / "items.csv")
    assert raw.user.tolist() == ["alice", "alice", "bob", "bob"]
    assert raw.value.tolist() == [4.5, 2.0, 5.0, 1.0] and raw.value_kind == "rating"
    assert raw.timestamp.tolist() == [100, 101, 102, 103]
    # i9 is not in the table: appended with its id as title and no concepts
    assert raw.item_table_ids.tolist() == ["i1", "i2", "i3", "i9"]
    assert raw.item_titles.tolist() == ["Heat, the movie", "Up", "Unseen", "i9"]
    assert raw.item_concepts == [["Action", "Crime"], ["Animation"], [], []]
    assert raw.item_years.tolist() == [1995, -1, 2001, -1]
    assert raw.concept_vocabulary == ["Action", "Animation", "Crime"]
    assert raw.info["items_missing_from_table"] == 1


def test_implicit_aliases_and_data_dir_defaults(tmp_path):
    (tmp_path / "interactions.csv").write_text("userId,itemId\n1,10\n1,11\n2,10\n")
    raw = load_generic(tmp_path)
    assert raw.value_kind == "implicit" and raw.value.tolist() == [1.0, 1.0, 1.0]
    assert (raw.timestamp == -1).all() and raw.item_table_ids.tolist() == ["10", "11"]


def test_weight_column(tmp_path):
    (tmp_path / "x.csv").write_text("user,item,weight\n1,a,30\n")
    assert load_generic(interactions=tmp_path / "x.csv").value_kind == "weight"


def test_parquet_roundtrip(tmp_path):
    pytest.importorskip("pyarrow")
    pd.DataFrame({"user": [1, 1, 2], "item": [5, 6, 5], "weight": [3.0, 1.0, 7.0]}).to_parquet(tmp_path / "i.parquet")
    pd.DataFrame({"item": ["5", "6"], "title": ["Five", "Six"], "concepts": ["rock|pop", "jazz"]}).to_parquet(tmp_path / "t.parquet")
    raw = load_generic(interactions=tmp_path / "i.parquet", items=tmp_path / "t.parquet")
    assert raw.user.tolist() == [1, 1, 2] and raw.value.tolist() == [3.0, 1.0, 7.0]
    assert raw.item_concepts == [["rock", "pop"], ["jazz"]]
    pd.DataFrame({"user": [1, 2], "item": [5, 6], "rating": [3.0, "x"]}).astype(str).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(DataFormatError, match=r"bad.parquet: expected a number for rating, got 'x' in row 2"):
        load_generic(interactions=tmp_path / "bad.parquet")


@pytest.mark.parametrize("text, line, fragment", [
    ("u,i\n1,2\n", 1, "a header naming the columns user,item[,rating|weight][,timestamp]"),
    ("user,item,rating\n1,2,4\n1,3,four\n", 3, "a number for rating, got 'four'"),
    ("user,item,timestamp\n1,2,10\n1,3,1e9x\n", 3, "an integer timestamp"),
    ("user,item\n1,2\n,3\n", 3, "a non-empty user"),
    ("user,item\n1,2\n1,2,3,4\n", 3, "unparseable text"),
])
def test_bad_interactions(tmp_path, text, line, fragment):
    (tmp_path / "x.csv").write_text(text)
    with pytest.raises(DataFormatError) as e:
        load_generic(interactions=tmp_path / "x.csv")
    assert e.value.line == line and fragment in str(e.value)


def test_bad_item_table_and_missing(tmp_path):
    (tmp_path / "x.csv").write_text("user,item\n1,a\n")
    (tmp_path / "t.csv").write_text("item,title,concepts,year\na,A,,1990\na,A2,,1991\n")
    with pytest.raises(DataFormatError, match=r"t.csv:3: expected each item once, got duplicate item 'a'"):
        load_generic(interactions=tmp_path / "x.csv", items=tmp_path / "t.csv")
    (tmp_path / "t.csv").write_text("item,title,concepts,year\na,A,,19x0\n")
    with pytest.raises(DataFormatError, match=r"t.csv:2: expected an integer year"):
        load_generic(interactions=tmp_path / "x.csv", items=tmp_path / "t.csv")
    with pytest.raises(MissingDataError, match="nope.csv: missing"):
        load_generic(interactions=tmp_path / "nope.csv")
    with pytest.raises(MissingDataError, match="no interactions.csv"):
        load_generic(tmp_path / "empty_dir")
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(DataFormatError, match=r"e.csv:1: .*got an empty file"):
        load_generic(interactions=tmp_path / "e.csv")


def test_parquet_integer_ids_stay_integers_and_prepare_like_the_csv(tmp_path):
    pytest.importorskip("pyarrow")
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(1, 41), 12)
    items = np.concatenate([rng.choice(np.arange(100, 160), 12, replace=False) for _ in range(40)])
    frame = pd.DataFrame({"user": users, "item": items, "timestamp": np.arange(users.size)})
    frame.to_parquet(tmp_path / "i.parquet")
    frame.to_csv(tmp_path / "i.csv", index=False)
    table = pd.DataFrame({"item": np.arange(100, 150).astype(str), "title": "t", "concepts": "a|b"})
    table.to_csv(tmp_path / "t.csv", index=False)
    raw = load_generic(interactions=tmp_path / "i.parquet", items=tmp_path / "t.csv")
    text = load_generic(interactions=tmp_path / "i.csv", items=tmp_path / "t.csv")
    assert raw.user.dtype == raw.item.dtype == np.int32  # no per-row strings at 25M rows
    assert raw.info["items_missing_from_table"] == text.info["items_missing_from_table"] == 10
    a, b = prepare(raw, PrepareOptions(n_test=2)), prepare(text, PrepareOptions(n_test=2))
    for name in ("user_ids", "item_ids", "item_titles", "train_indptr", "train_indices", "test_pos", "concepts"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
