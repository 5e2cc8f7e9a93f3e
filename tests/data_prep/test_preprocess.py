"""`prepare`: binarize, filters (iterative until stable), dense ids, concepts (decades, popularity buckets)."""
import numpy as np
import pytest

from data_prep.concepts import decade_concepts, decade_of, popularity_concepts, source_concepts, stack_concepts
from data_prep.dataset import RawDataset
from data_prep.errors import ConfigError, JaxsaeError
from data_prep.preprocess import LASTFM_MSD_FILTERS, PrepareOptions, apply_filters, prepare


def raw_from_pairs(pairs, values=None, table=None, users_table=None, vocabulary=None, name="t"):
    """RawDataset from (user, item) string pairs; `table`: {item_id: (title, [concepts], year)}."""
    users = np.array([p[0] for p in pairs])
    items = np.array([p[1] for p in pairs])
    table = table or {}
    ids = list(table)
    return RawDataset(
        name=name,
        user=users,
        item=items,
        value=np.ones(len(pairs)) if values is None else np.asarray(values, dtype=np.float64),
        timestamp=np.full(len(pairs), -1),
        item_table_ids=np.array(ids, dtype=str),
        item_titles=np.array([table[k][0] for k in ids], dtype=str),
        item_concepts=[list(table[k][1]) for k in ids],
        item_years=np.array([table[k][2] for k in ids], dtype=np.int64),
        concept_vocabulary=vocabulary,
        user_table_ids=None if users_table is None else np.array(list(users_table)),
        user_attributes={} if users_table is None else {"gender": np.array(list(users_table.values()))},
    )


def pairs_of(d):
    u, i = d.train_pairs()
    out = {(d.user_ids[a], d.item_ids[b]) for a, b in zip(u, i)}
    for r, a in enumerate(d.test_users):
        out |= {(d.user_ids[a], d.item_ids[b]) for b in d.test_pos[r]}
    return out


# items x: {A, B}, y: {A, B, C}, z: {C, D}, w: {D}
CHAIN = [("A", "x"), ("A", "y"), ("B", "x"), ("B", "y"), ("C", "y"), ("C", "z"), ("D", "z"), ("D", "w")]


def test_iterative_filters_until_stable():
    # min 2 users per item drops w; then D has 1 item -> dropped; then z has 1 user -> dropped; then C -> dropped
    d = prepare(raw_from_pairs(CHAIN), PrepareOptions(min_item_users=2, min_user_items=2, n_test=0))
    assert pairs_of(d) == {("A", "x"), ("A", "y"), ("B", "x"), ("B", "y")}
    assert d.n_users == 2 and d.n_items == 2
    assert d.info["filters"]["iterative_rounds"] >= 3


def test_filter_sequence_is_one_pass_each_in_order():
    d = prepare(raw_from_pairs(CHAIN), PrepareOptions(filter_sequence=(("item", 2), ("user", 2)), n_test=0))
    assert pairs_of(d) == {("A", "x"), ("A", "y"), ("B", "x"), ("B", "y"), ("C", "y"), ("C", "z")}
    # the other order: users with >= 2 items (all), then items with >= 2 users drops only w
    d = prepare(raw_from_pairs(CHAIN), PrepareOptions(filter_sequence=[["user", 2], ["item", 2]], n_test=0))
    assert pairs_of(d) == set(CHAIN) - {("D", "w")}
    assert PrepareOptions(filter_sequence=LASTFM_MSD_FILTERS).filter_sequence == (("item", 51), ("user", 51), ("item", 41))


def test_apply_filters_mask():
    users = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    items = np.array([0, 1, 0, 1, 1, 2, 2, 3])
    keep, log = apply_filters(users, items, PrepareOptions(min_item_users=2, min_user_items=2))
    assert keep.tolist() == [True] * 4 + [False] * 4
    assert log["steps"][-1]["pairs_left"] == 4


def test_binarize_min_rating_and_counts():
    pairs = [("1", "a"), ("1", "a"), ("1", "b"), ("2", "a"), ("2", "c"), ("3", "c")]
    values = [2, 5, 1, 4, 3, 2]
    d = prepare(raw_from_pairs(pairs, values), PrepareOptions(min_rating=3, n_test=0))
    # (1,a) counts through its rating-5 row; (1,b), (3,c) are below 3; user 3 and item b disappear
    assert pairs_of(d) == {("1", "a"), ("2", "a"), ("2", "c")}
    assert d.n_interactions == 6 and d.n_train == 3
    assert d.user_ids.tolist() == ["1", "2"] and d.item_ids.tolist() == ["a", "c"]
    d = prepare(raw_from_pairs(pairs, values), PrepareOptions(n_test=0))  # any rating counts; duplicates once
    assert d.n_train == 5 and d.n_users == 3
    with pytest.raises(JaxsaeError, match="min_rating"):
        prepare(raw_from_pairs(pairs, values), PrepareOptions(min_rating=6))


def test_dense_ids_titles_years_concepts_and_attributes():
    table = {
        "1": ("One (1994)", ["Drama"], 1994),
        "2": ("Two (1988)", ["Comedy", "Drama"], 1988),
        "10": ("Ten (1999)", ["Horror"], 1999),
        "99": ("Never rated (2001)", ["Western"], 2001),  # catalogue item nobody interacted with
    }
    pairs = [("10", "1"), ("10", "2"), ("2", "10"), ("2", "1"), ("2", "7"), ("9", "1")]
    d = prepare(
        raw_from_pairs(pairs, table=table, users_table={"2": "F", "9": "M", "10": "M"}, vocabulary=["Horror", "Drama", "Comedy", "Western"]),
        PrepareOptions(n_test=0, pop_top=0.25, pop_bottom=0.5),
    )
    assert d.user_ids.tolist() == ["2", "9", "10"]  # numeric order, not "10" < "2"
    assert d.item_ids.tolist() == ["1", "2", "7", "10"]  # "99" dropped; "7" is not in the table
    assert d.item_titles.tolist() == ["One (1994)", "Two (1988)", "7", "Ten (1999)"]
    assert d.year.tolist() == [1994, 1988, -1, 1999]
    assert d.user_attributes["gender"].tolist() == ["F", "M", "M"]
    assert d.popularity.tolist() == [3, 1, 1, 1]
    # vocabulary order, Western dropped (no remaining item), then decades, then popularity buckets
    assert d.concept_names == ["Horror", "Drama", "Comedy", "1980s", "1990s", "popular", "niche"]
    assert d.concept_families == ["genre"] * 3 + ["decade"] * 2 + ["popularity"] * 2
    col = {n: d.concepts[:, j].tolist() for j, n in enumerate(d.concept_names)}
    assert col["Drama"] == [True, True, False, False]
    assert col["Horror"] == [False, False, False, True]
    assert col["1990s"] == [True, False, False, True] and col["1980s"] == [False, True, False, False]
    assert col["popular"] == [True, False, False, False]  # ceil(0.25 * 4) = 1 most popular
    assert col["niche"] == [False, True, True, False]  # ceil(0.5 * 4) = 2 least popular, ties by index
    d2 = prepare(raw_from_pairs(pairs, table=table), PrepareOptions(n_test=0, min_concept_items=2))
    assert d2.concept_names == ["Drama", "1990s", "niche"]  # concepts with < 2 items dropped


def test_popularity_is_train_count_and_split_is_used():
    rng = np.random.default_rng(0)
    pairs = sorted({(str(u), str(i)) for u, i in zip(rng.integers(0, 40, 1500), rng.integers(0, 60, 1500))})
    d = prepare(raw_from_pairs(pairs), PrepareOptions(n_test=3, seed=1))
    np.testing.assert_array_equal(d.popularity, np.bincount(d.train_indices, minlength=d.n_items))
    assert d.test_pos.shape == (d.test_users.size, 3) and d.test_users.size == d.n_users
    assert pairs_of(d) == set(pairs)
    assert d.n_train + d.test_pos.size == len(pairs)
    assert d.info["options"]["seed"] == 1
    d2 = prepare(raw_from_pairs(pairs), PrepareOptions(n_test=3, seed=1))
    np.testing.assert_array_equal(d.test_neg, d2.test_neg)


def test_decade_and_popularity_helpers():
    assert decade_of(np.array([1994, 2000, 1909, -1])).tolist() == [1990, 2000, 1900, -1]
    m, names, fams = decade_concepts(np.array([2005, -1, 1961, 1969]))
    assert names == ["1960s", "2000s"] and fams == ["decade", "decade"]
    assert m.tolist() == [[False, True], [False, False], [True, False], [True, False]]
    m, names, _ = popularity_concepts(np.array([5, 0, 9, 9, 1, 3, 0, 2, 7, 4]), top=0.2, bottom=0.3)
    assert names == ["popular", "niche"]
    assert np.flatnonzero(m[:, 0]).tolist() == [2, 3] and np.flatnonzero(m[:, 1]).tolist() == [1, 4, 6]
    assert popularity_concepts(np.arange(4), top=0.0, bottom=0.0)[0].shape == (4, 0)
    m, names, fams = source_concepts([["b", "a", "a"], [], ["c", ""]], "tag")
    assert names == ["a", "b", "c"] and fams == ["tag"] * 3 and m.sum() == 3
    m, names, fams = stack_concepts([source_concepts([["popular"]], "tag"), popularity_concepts(np.array([1]), 1.0, 0.0)])
    assert names == ["popular", "popular (popularity)"]


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"pop_top": 0.6, "pop_bottom": 0.5}, "pop_top \\+ pop_bottom"),
        ({"n_test": -1}, "n_test"),
        ({"min_item_users": 1.5}, "min_item_users"),
        ({"filter_sequence": (("artist", 50),)}, "filter_sequence"),
        ({"pop_top": 1.5}, "pop_top"),
        ({"min_rating": float("nan")}, "min_rating"),
    ],
)
def test_invalid_options(kw, match):
    with pytest.raises(ConfigError, match=match):
        PrepareOptions(**kw)


def test_everything_filtered_is_a_clear_error():
    with pytest.raises(JaxsaeError, match="removed every interaction"):
        prepare(raw_from_pairs(CHAIN), PrepareOptions(min_user_items=5))


def test_inconsistent_item_table_is_a_clear_error():
    raw = raw_from_pairs(CHAIN, table={"x": ("X", ["Drama"], 1990)})
    raw.item_concepts = []
    with pytest.raises(JaxsaeError, match="item table columns differ in length"):
        prepare(raw)
