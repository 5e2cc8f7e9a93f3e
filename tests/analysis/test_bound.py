"""The measurement against the bound: the probe, the null's standard error, density and the peer scores."""
import numpy as np
import pytest

from jaxsae.analysis import point_biserial, tfidf
from jaxsae.analysis import random_direction_null
from jaxsae.analysis import density
from jaxsae.analysis import is_clear, ledoit_wolf_shrinkage, probe_bound, recall


@pytest.fixture(scope="module")
def planted():
    """The synthetic data's planted genres (10, "small" preset), embedded linearly in 32 noisy dimensions."""
    from data_prep.preprocess import prepare
    from data_prep.synthetic import generate, preset

    data = prepare(generate(preset("small")))
    genres = np.asarray(data.concepts, bool)[:, np.array(data.concept_families) == "genre"]
    rng = np.random.default_rng(0)
    x = 0.6 * 4 / np.sqrt(32) * genres @ rng.normal(size=(genres.shape[1], 32)) + rng.normal(size=(genres.shape[0], 32))
    return x.astype(np.float32), genres


def test_probe_recovers_the_planted_genres_and_nothing_from_shuffled_labels(planted):
    x, genres = planted
    pb = probe_bound(x, genres, 64, splits=3, null_seeds=5)
    assert pb.purity.shape == (3, genres.shape[1])
    assert pb.purity.mean() >= 0.95 and pb.purity.min() >= 0.8  # every genre ranks its held-out half (almost) purely
    assert pb.probe_clear.sum() >= 6  # the frequent genres' null is close to 0.9 already (best of 64 directions)
    np.testing.assert_array_equal(pb.probe_clear, is_clear(pb.purity, pb.null).sum(axis=0) * 2 > 3)
    shuffled = genres[np.random.default_rng(1).permutation(genres.shape[0])]
    ps = probe_bound(x, shuffled, 64, splits=3, null_seeds=5)
    assert ps.probe_clear.sum() == 0 and ps.purity.mean() < 0.4


def test_probe_splits_are_seeded_and_a_concept_absent_from_the_fitting_half_scores_zero(planted):
    x, genres = planted
    a = probe_bound(x, genres[:, :2], 8, splits=2, seed=3, null_seeds=2)
    b = probe_bound(x, genres[:, :2], 8, splits=2, seed=3, null_seeds=2)
    np.testing.assert_array_equal(a.purity, b.purity)
    one = np.zeros((x.shape[0], 1), bool)
    one[0] = True  # one carrier: on a split where it lands in the ranked half, nothing was fitted
    pb = probe_bound(x, one, 8, splits=4, null_seeds=2)
    assert set(np.unique(pb.purity)) <= {0.0, 0.1} and pb.probe_clear.sum() == 0


def test_ledoit_wolf_shrinks_isotropic_noise_fully_and_strong_structure_little():
    rng = np.random.default_rng(0)
    iso = rng.normal(size=(2000, 10))
    assert ledoit_wolf_shrinkage(iso - iso.mean(0)) > 0.8
    corr = rng.normal(size=(2000, 1)) * np.linspace(1, 10, 10) + 0.1 * rng.normal(size=(2000, 10))
    assert ledoit_wolf_shrinkage(corr - corr.mean(0)) < 0.05


def test_null_standard_error_shrinks_with_seeds():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8)).astype(np.float32)
    concepts = rng.random((300, 4)) < 0.3
    few = random_direction_null(x, concepts, 8, ks=(10,), seeds=range(4))
    many = random_direction_null(x, concepts, 8, ks=(10,), seeds=range(64))
    assert few.best_se.shape == many.best_se.shape == (1, 4)
    assert many.best_se.mean() < 0.5 * few.best_se.mean()  # 1/sqrt(S): about 4x smaller
    # batched seeds give exactly the per-seed results: the mean of 64 single-seed nulls
    singles = np.mean([random_direction_null(x, concepts, 8, ks=(10,), seeds=(s,)).best for s in range(64)], axis=0)
    np.testing.assert_allclose(many.best, singles, atol=1e-12)
    per = np.array([random_direction_null(x, concepts, 8, ks=(10,), seeds=(s,)).best[0] for s in range(64)])
    np.testing.assert_allclose(many.best_se[0], per.std(axis=0, ddof=1) / 8.0, atol=1e-12)
    assert np.isnan(random_direction_null(x, concepts, 8, ks=(10,), seeds=(0,)).best_se).all()


def test_density_equals_a_numpy_count():
    rng = np.random.default_rng(0)
    a = np.where(rng.random((50, 12)) < 0.2, rng.random((50, 12)), 0.0)
    a[:, 3] = 0.0  # dead on items ...
    u = np.where(rng.random((30, 12)) < 0.1, 1.0, 0.0)
    u[:, 3] = 0.0  # ... and users
    a[:, 7] = 1.0  # fires on every item: dense
    d = density(a, u)
    assert d["item_density"] == pytest.approx(sum(int(v > 0) for row in a for v in row) / (50 * 12))
    assert d["user_density"] == pytest.approx(float((u > 0).sum()) / (30 * 12))
    assert d["firing_fraction"] == pytest.approx([(a[:, j] > 0).mean() for j in range(12)])
    assert d["n_dead"] == sum(not ((a[:, j] > 0).any() or (u[:, j] > 0).any()) for j in range(12)) == 1
    assert d["n_dense"] == sum((a[:, j] > 0).mean() > 0.5 for j in range(12)) == 1
    assert density(a)["user_density"] is None


def test_point_biserial_is_pearson_and_tfidf_matches_the_formula():
    rng = np.random.default_rng(0)
    a = rng.random((40, 3))
    y = rng.random((40, 2)) < 0.4
    pb = point_biserial(a, y)
    for n in range(3):
        for c in range(2):
            assert pb[n, c] == pytest.approx(np.corrcoef(a[:, n], y[:, c])[0, 1])
    assert np.all(point_biserial(np.zeros((40, 1)), y) == 0)
    hits = np.array([[4.0, 0.0], [1.0, 1.0], [0.0, 0.0]])  # neuron 2 dead
    n2c, c2n = tfidf(hits)
    # neuron 0: tf (1, 0); concept 0 is in 2 of 3 neurons: idf log(4/3) + 1
    assert n2c[0, 0] == pytest.approx(np.log(4 / 3) + 1) and n2c[0, 1] == 0
    # concept 1: all its hits on neuron 1, which shares 2 concepts: idf log(3/3) + 1 = 1
    assert c2n[1, 1] == pytest.approx(1.0) and c2n[0, 0] == pytest.approx(0.8 * (np.log(3 / 2) + 1))
    assert np.all(n2c[2] == 0) and np.all(c2n[2] == 0)


def test_recall_counts_sae_clear_among_probe_clear():
    sae = np.array([1, 1, 0, 0, 1], bool)
    probe = np.array([1, 0, 1, 1, 0], bool)
    assert recall(sae, probe) == {"sae_clear": 3, "probe_clear": 3, "sae_clear_among_probe_clear": 1,
                                  "concept_recall": pytest.approx(1 / 3)}
    assert recall(sae, probe, keep=np.array([0, 1, 0, 0, 1], bool))["concept_recall"] is None
    assert list(is_clear(np.array([1.0, 0.9, 0.95]), np.array([0.8, 0.7, np.nan]))) == [True, True, False]


def test_analyze_arrays_measures_recall_against_the_probe_bound(planted):
    """An SAE with one clean neuron per genre for the first 4 genres is clear on those 4, and recall is
    the share of the probe-clear genres among them; bound.json carries the density of its code."""
    from types import SimpleNamespace

    from jaxsae.analysis import AnalysisConfig, analyze_arrays, bound_lines

    x, genres = planted
    n, g = genres.shape
    rng = np.random.default_rng(0)
    a = np.zeros((n, 8), np.float32)
    a[:, :4] = genres[:, :4] * (1 + rng.random((n, 4)))  # neurons 0-3: genres 0-3 exactly
    data = SimpleNamespace(concepts=genres, concept_names=[f"g{i}" for i in range(g)], concept_families=["genre"] * g,
                           popularity=np.arange(n), year=np.full(n, -1), item_titles=[str(i) for i in range(n)])
    out = analyze_arrays(a, x, x, data, AnalysisConfig(null_seeds=3, probe_splits=3))
    b = out["bound"]
    rows = out["concepts"]
    assert [r["sae_clear"] for r in rows[:4]] == [True] * 4 and not any(r["sae_clear"] for r in rows[4:])
    probe = [r["probe_clear"] for r in rows]
    assert b["probe_clear"] == sum(probe) >= 6
    assert b["sae_clear_among_probe_clear"] == sum(probe[:4])
    assert b["concept_recall"] == pytest.approx(sum(probe[:4]) / sum(probe))
    assert b["density"]["n_dead"] == 4 and b["density"]["item_density"] == pytest.approx((a > 0).sum() / a.size)
    assert rows[0]["point_biserial"] > 0.5 and rows[0]["tfidf_neuron"] == 0
    assert any("concept recall" in line for line in bound_lines(b))
    off = analyze_arrays(a, x, x, data, AnalysisConfig(null_seeds=3, probe_splits=0))["bound"]
    assert off["probe_clear"] is None and off["concept_recall"] is None and off["sae_clear"] == 4


def test_lda_directions_equal_the_per_concept_within_class_solve():
    from jaxsae.analysis import lda_directions

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 5)) + rng.normal(size=5)
    y = rng.random((120, 3)) < [0.1, 0.4, 0.0]
    w = lda_directions(x, y, shrinkage=0.3)
    for c in range(2):
        mu1, mu0 = x[y[:, c]].mean(0), x[~y[:, c]].mean(0)
        xw = x - np.where(y[:, c:c + 1], mu1, mu0)
        s = xw.T @ xw / 120
        s = 0.7 * s + 0.3 * np.trace(s) / 5 * np.eye(5)
        np.testing.assert_allclose(w[:, c], np.linalg.solve(s, mu1 - mu0), rtol=1e-6)
    assert np.all(w[:, 2] == 0)  # no carrier: no direction
