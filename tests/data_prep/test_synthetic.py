"""The synthetic generator: determinism, shapes, and that the planted structure is really in the data."""
import dataclasses
import re
import tracemalloc

import numpy as np
import pytest

from data_prep.errors import ConfigError, UnknownNameError
from data_prep.preprocess import PrepareOptions, prepare
from data_prep.synthetic import GENRE_NAMES, PRESETS, SyntheticConfig, block_users, draw_interactions, generate, plant, preset


def spearman(a, b):
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


@pytest.fixture(scope="module")
def small():
    cfg = preset("small", seed=3)
    return cfg, generate(cfg)


def test_deterministic_per_seed():
    a, b, c = generate(preset("tiny")), generate(preset("tiny")), generate(preset("tiny", seed=1))
    np.testing.assert_array_equal(a.user, b.user)
    np.testing.assert_array_equal(a.item, b.item)
    assert a.item_concepts == b.item_concepts
    assert not (a.user.shape == c.user.shape and np.array_equal(a.item, c.item))


def test_draw_does_not_depend_on_the_block_size():
    cfg = preset("small", seed=2, n_users=300)
    truth = plant(cfg)
    one_block = draw_interactions(cfg, truth, block_bytes=1 << 30)
    for block_bytes in (1, 4 * cfg.n_items * 7, 4 * cfg.n_items * 64):  # 1 user, 7 users, 64 users per block
        users, items = draw_interactions(cfg, truth, block_bytes=block_bytes)
        np.testing.assert_array_equal(users, one_block[0])
        np.testing.assert_array_equal(items, one_block[1])
    assert block_users(cfg.n_items, 1) == 1 and block_users(cfg.n_items, 4 * cfg.n_items * 7 + 3) == 7


def test_draw_memory_is_bounded_by_the_block_not_users_x_items():
    cfg = preset("small", n_users=2000, n_items=1000, interactions_per_user=30.0)  # dense float32: 8 MB
    truth = plant(cfg)
    tracemalloc.start()
    try:
        users, _ = draw_interactions(cfg, truth, block_bytes=64 << 10)  # 16 users per block
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    out_bytes = 8 * users.size
    assert peak < out_bytes + 8 * (64 << 10) + (256 << 10), (peak, out_bytes)  # a few block buffers, not 8 MB


def test_prepare_reads_integer_ids_as_their_strings():
    raw = generate(preset("tiny"))
    as_str = dataclasses.replace(raw, user=raw.user.astype(str), item=raw.item.astype(str))
    a, b = prepare(raw, PrepareOptions()), prepare(as_str, PrepareOptions())
    for name in ("user_ids", "item_ids", "train_indptr", "train_indices", "test_users", "test_pos", "test_neg",
                 "concepts"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_shapes_and_metadata(small):
    cfg, raw = small
    assert raw.name == "synthetic-small" and raw.value_kind == "implicit" and raw.concept_family == "genre"
    assert raw.concept_vocabulary == list(GENRE_NAMES[: cfg.n_genres])
    assert raw.item_table_ids.tolist() == [str(k) for k in range(1, cfg.n_items + 1)]
    n_genres = np.array([len(c) for c in raw.item_concepts])
    assert n_genres.min() >= 1 and n_genres.max() <= 3 and len(set(n_genres.tolist())) == 3
    assert all(len(set(c)) == len(c) and set(c) <= set(raw.concept_vocabulary) for c in raw.item_concepts)
    assert all(re.fullmatch(rf"Item {k} \({y}\)", t) for k, y, t in zip(raw.item_table_ids, raw.item_years, raw.item_titles))
    assert raw.item_years.min() >= cfg.first_decade and raw.item_years.max() < cfg.first_decade + 10 * cfg.n_decades
    users, counts = np.unique(raw.user, return_counts=True)
    assert users.size == cfg.n_users
    assert counts.min() >= cfg.min_interactions and counts.max() <= cfg.n_items // 2
    assert raw.user.dtype == raw.item.dtype == np.int32  # 8 bytes per interaction, no string ids
    pairs = raw.user.astype(np.int64) * (cfg.n_items + 1) + raw.item
    assert np.unique(pairs).size == pairs.size  # distinct items per user
    assert set(raw.user_attributes) == {"top_genre", "era"}
    assert raw.info["config"]["n_users"] == cfg.n_users


def test_users_interactions_are_enriched_for_their_genres(small):
    cfg, raw = small
    truth = plant(cfg)
    u = raw.user.astype(int) - 1
    i = raw.item.astype(int) - 1
    genres = truth.item_genres.astype(float)
    base = genres.mean(axis=0)  # catalogue share of each genre
    share = np.zeros((cfg.n_users, cfg.n_genres))
    np.add.at(share, u, genres[i])
    share /= np.bincount(u, minlength=cfg.n_users)[:, None]
    liked = truth.user_theta > 0
    lift_liked = (share / base)[liked].mean()
    lift_other = (share / base)[~liked].mean()
    assert lift_liked > 2.0 and lift_other < 0.8 and lift_liked > 3 * lift_other, (lift_liked, lift_other)
    top = np.argmax(truth.user_theta, axis=1)
    assert (raw.user_attributes["top_genre"] == np.asarray(GENRE_NAMES)[top]).all()


def test_popularity_is_zipf_like(small):
    cfg, raw = small
    truth = plant(cfg)
    counts = np.bincount(raw.item.astype(int) - 1, minlength=cfg.n_items)
    assert spearman(truth.item_pop_rank, counts) < -0.5  # planted rank 1 is the most popular (genres add noise)
    srt = np.sort(counts)[::-1]
    assert srt[: cfg.n_items // 10].sum() > 0.25 * srt.sum()  # top 10% of items hold > 25% of interactions
    r = np.arange(1, cfg.n_items + 1)
    head = slice(0, cfg.n_items // 2)
    assert np.polyfit(np.log(r[head]), np.log(srt[head]), 1)[0] < -0.3  # decreasing power law in the head


def test_era_users_prefer_old_or_new_releases(small):
    cfg, raw = small
    truth = plant(cfg)
    assert set(np.unique(truth.user_era).tolist()) == {-1, 0, 1}
    assert 0.35 < (truth.user_era != 0).mean() < 0.65
    u = raw.user.astype(int) - 1
    year = truth.item_year[raw.item.astype(int) - 1]
    mean_year = np.bincount(u, weights=year) / np.bincount(u)
    era = truth.user_era
    assert mean_year[era == 1].mean() > mean_year[era == 0].mean() + 4 > mean_year[era == -1].mean() + 8
    assert (raw.user_attributes["era"] == np.array(["old", "none", "new"])[era + 1]).all()


def test_planted_genres_are_linearly_recoverable():
    # item factors of a rank-d fit of the train matrix: each genre's centroid direction ranks its items first
    d = prepare(generate(preset("small", seed=5)), PrepareOptions())
    x = np.zeros((d.n_users, d.n_items), dtype=np.float32)
    u, i = d.train_pairs()
    x[u, i] = 1.0
    x -= x.mean(axis=0)
    evals, evecs = np.linalg.eigh(x.T @ x)  # item Gram: right singular vectors, squared singular values
    q = evecs[:, -20:] * evals[-20:] ** 0.25
    purities = []
    for j, fam in enumerate(d.concept_families):
        if fam == "genre":
            c = d.concepts[:, j]
            w = q[c].mean(axis=0) - q.mean(axis=0)
            purities.append(c[np.argsort(-(q @ w))[:10]].mean())
    assert len(purities) == 10 and min(purities) >= 0.9


def test_presets_and_validation():
    assert set(PRESETS) == {"tiny", "small", "demo", "ml1m", "large", "ml25m"}
    assert (preset("ml25m").n_users, preset("ml25m").n_items) == (162541, 59047)
    ml = preset("ml1m")
    assert (ml.n_users, ml.n_items, ml.n_genres) == (6040, 3706, 18)
    assert preset("large").n_users == 10 * ml.n_users
    assert preset("demo").name == "synthetic" and preset("tiny", n_users=50).n_users == 50
    with pytest.raises(UnknownNameError, match="unknown synthetic preset 'huge'"):
        preset("huge")
    for kw, match in [
        ({"n_genres": 25}, "n_genres"),
        ({"genres_per_item": (0.5, 0.5, 0.5)}, "genres_per_item"),
        ({"user_genres": (2, 9)}, "user_genres"),
        ({"n_users": 0}, "n_users"),
        ({"min_interactions": 100}, "min_interactions"),
        ({"era_fraction": 1.5}, "era_fraction"),
    ]:
        with pytest.raises(ConfigError, match=match):
            SyntheticConfig(**kw)


@pytest.mark.slow
def test_ml1m_preset_has_about_one_million_interactions():
    raw = generate(preset("ml1m"))
    assert 0.9e6 < raw.n_rows < 1.1e6
    assert np.unique(raw.item).size > 3600
