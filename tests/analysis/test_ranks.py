"""Tie-averaged ranks, Spearman sign convention and percentiles; popularity and temporal neurons."""
import numpy as np

from jaxsae.analysis import popularity_analysis, temporal_analysis
from jaxsae.analysis import average_ranks, percentile_ranks, spearman


def test_average_ranks_ties():
    np.testing.assert_allclose(average_ranks(np.array([1.0, 2.0, 2.0, 3.0])), [1, 2.5, 2.5, 4])
    np.testing.assert_allclose(average_ranks(np.array([[5.0, 0.0], [5.0, 0.0], [1.0, 0.0]])),
                               [[2.5, 2], [2.5, 2], [1, 2]])


def test_spearman_hand_computed_and_sign():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    a = np.stack([y ** 3, -y, np.array([1.0, 2.0, 2.0, 3.0]), np.zeros(4)], axis=1)
    r = np.asarray(spearman(a, y))
    np.testing.assert_allclose(r[:3], [1.0, -1.0, 4.5 / np.sqrt(22.5)], rtol=1e-6)
    assert r[3] == 0.0  # dead neuron: no correlation


def test_percentile_ranks():
    np.testing.assert_allclose(percentile_ranks(np.array([10, 40, 20, 30])), [12.5, 87.5, 37.5, 62.5])


def test_popularity_neuron_found_with_sign_and_percentile():
    rng = np.random.default_rng(0)
    n = 300
    pop = rng.zipf(1.5, n).astype(float)
    a = np.maximum(rng.normal(size=(n, 5)), 0)
    a[:, 2] = np.log1p(pop) + 0.01 * rng.random(n)  # fires more on popular items
    a[:, 4] = np.maximum(5 - np.log1p(pop) + rng.normal(0, 1.0, n), 0)  # a noisier anti-popularity neuron
    out = popularity_analysis(a, pop, k=10)
    assert out["neuron"] == 2 and out["spearman"] > 0.95
    assert out["top_k_popularity_percentile"] > 90
    assert out["per_neuron"][4]["spearman"] < -0.5
    assert out["per_neuron"][4]["top_k_popularity_percentile"] < 50
    assert out["positive"]["neuron"] == 2
    flipped = popularity_analysis(a[:, [4, 0]], pop, k=10)  # only the anti-popularity neuron is strong
    assert flipped["neuron"] == 0 and flipped["spearman"] < 0 and flipped["positive"]["neuron"] == 1


def test_temporal_uses_items_with_year_only():
    year = np.array([1990, 2000, -1, 2010, 1980, -1])
    a = np.array([[2.0], [3.0], [100.0], [4.0], [1.0], [-50.0]])
    rows = [{"concept": "1990s", "family": "decade", "neuron": 0, "purity@10": 0.5, "null_purity@10": 0.2,
             "base_rate": 0.2}, {"concept": "Drama", "family": "genre", "neuron": 0, "base_rate": 0.5}]
    out = temporal_analysis(a, year, rows)
    assert out["year_neuron"] == 0 and out["spearman"] == 1.0 and out["n_items_with_year"] == 4
    assert [d["concept"] for d in out["decades"]] == ["1990s"]
    empty = temporal_analysis(a, -np.ones(6, int), [])
    assert empty["year_neuron"] is None and empty["per_neuron"] == []
