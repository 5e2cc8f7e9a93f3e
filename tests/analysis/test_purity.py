"""Purity@K, best neuron per concept, base rates and the random-direction null."""
import numpy as np

from jaxsae.analysis import (base_rates, best_neurons, concept_table, purity_at_k, random_direction_null,
    restrict_items, support_mask, top_activations)

# 6 items x 3 neurons. Neuron 0 ties items 2 and 3 (activation 2.0); neuron 1 is dead; neuron 2 fires
# on item 2 only (negative values do not count as active).
A = np.array([
    [3.0, 0.0, -1.0],
    [0.0, 0.0, 0.0],
    [2.0, 0.0, 0.5],
    [2.0, 0.0, 0.0],
    [1.0, 0.0, 0.0],
    [0.0, 0.0, 0.0],
], np.float32)
C = np.array([  # concept 0, concept 1
    [1, 0],
    [1, 0],
    [0, 1],
    [1, 1],
    [0, 1],
    [1, 0],
], bool)


def test_purity_hand_computed_with_ties_dead_and_few_active():
    p = np.asarray(purity_at_k(A, C, ks=(1, 2, 3, 5)))
    assert p.shape == (4, 3, 2)
    # neuron 0: order 0, 2, 3, 4 (tie 2/3 -> lower index first); items 1 and 5 are inactive
    np.testing.assert_allclose(p[:, 0, 0], [1.0, 1 / 2, 2 / 3, 2 / 5])
    np.testing.assert_allclose(p[:, 0, 1], [0.0, 1 / 2, 2 / 3, 3 / 5])  # @5: 4 active items, denominator 5
    # dead neuron: 0 everywhere
    np.testing.assert_array_equal(p[:, 1, :], 0.0)
    # one active item: it fills one slot of K
    np.testing.assert_allclose(p[:, 2, 1], [1.0, 1 / 2, 1 / 3, 1 / 5])
    np.testing.assert_array_equal(p[:, 2, 0], 0.0)


def test_k_larger_than_catalogue_keeps_denominator_k():
    p = np.asarray(purity_at_k(A, C, ks=(10,)))
    np.testing.assert_allclose(p[0, 0], [2 / 10, 3 / 10])


def test_top_activations_tie_order_and_active_flags():
    vals, idx, active = (np.asarray(v) for v in top_activations(A, 5))
    np.testing.assert_array_equal(idx[0, :4], [0, 2, 3, 4])
    np.testing.assert_array_equal(active[0], [True, True, True, True, False])
    assert not active[1].any()


def test_min_support_removes_items_from_rankings():
    pop = np.array([10, 10, 1, 10, 10, 10])
    mask = support_mask(pop, 5)
    np.testing.assert_array_equal(mask, [1, 1, 0, 1, 1, 1])
    p = np.asarray(purity_at_k(restrict_items(A, mask), C, ks=(2,)))
    np.testing.assert_allclose(p[0, 0], [1.0, 1 / 2])  # neuron 0: items 0, 3
    np.testing.assert_array_equal(p[0, 2], 0.0)  # neuron 2's only item is unsupported
    np.testing.assert_allclose(base_rates(C, mask), [4 / 5, 2 / 5])


def test_best_neuron_recovers_planted_concept():
    rng = np.random.default_rng(0)
    n, h, n_c = 400, 12, 6
    concepts = rng.random((n, n_c)) < 0.2
    a = np.maximum(rng.normal(size=(n, h)), 0.0)
    a[:, 7] = concepts[:, 3] * rng.uniform(2.0, 3.0, n)  # neuron 7 fires only on concept 3
    ks = (5, 10, 20, 50)
    p = purity_at_k(a, concepts, ks)
    neuron, best = best_neurons(p, ks)
    assert neuron[3] == 7
    np.testing.assert_allclose(best[:, 3], 1.0)
    assert concepts[:, 3].sum() >= 50
    # other concepts are at chance level for every neuron
    assert np.all(np.delete(best[1], 3) < 0.8)


def test_null_mean_direction_is_near_base_rate_for_random_data():
    rng = np.random.default_rng(1)
    n, d, n_dir = 2000, 8, 16
    x = rng.normal(size=(n, d)).astype(np.float32)
    concepts = rng.random((n, 2)) < np.array([0.3, 0.05])
    ks = (10, 50)
    null = random_direction_null(x, concepts, n_dir, ks=ks, seeds=(0, 1, 2), select_k=10)
    rates = base_rates(concepts)
    np.testing.assert_allclose(null.mean[1], rates, atol=0.04)  # a typical direction: the base rate
    assert np.all(null.best[0] > rates)  # the best of 16 directions beats chance ...
    assert null.best[0, 0] < 0.8 and null.best[0, 1] < 0.5  # ... but not by much on random data


def test_null_finds_a_concept_aligned_with_the_embedding_space():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3000, 2)).astype(np.float32)
    concepts = (x[:, :1] > 0.0)  # half the space carries the concept: random directions find it
    null = random_direction_null(x, concepts, 16, ks=(10,), seeds=(0,), select_k=10)
    assert null.best[0, 0] == 1.0


def test_concept_table_rows():
    ks = (1, 2, 3, 5)
    p = purity_at_k(A, C, ks=ks)
    null = random_direction_null(np.eye(6, 3, dtype=np.float32), C, 3, ks=ks, seeds=(0,), select_k=2)
    rows = concept_table(p, null, C, ["comedy", "horror"], ["genre", "genre"], ks=ks, select_k=2)
    assert [r["concept"] for r in rows] == ["comedy", "horror"]
    assert rows[0]["neuron"] == 0 and rows[0]["purity@2"] == 0.5
    assert rows[1]["base_rate"] == 0.5 and rows[1]["n_items"] == 3
    assert set(rows[0]) >= {"family", "purity@5", "null_purity@2", "null_mean_purity@2"}


def test_best_neuron_tie_break_prefers_higher_purity_at_other_k():
    # both neurons have purity@1 = 1 for concept 0; neuron 1 keeps it at K=2
    a = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, 1.0]], np.float32)
    c = np.array([[1], [1], [0], [1]], bool)
    ks = (1, 2)
    neuron, best = best_neurons(purity_at_k(a, c, ks), ks, select_k=1)
    assert neuron[0] == 1 and best[1, 0] == 1.0


def test_purity_is_an_exact_fraction_and_the_null_threshold_is_exact():
    """9 of 10 hits is exactly 0.9 (not float32's 0.9000000357), and a null averaging 9 of 10
    over seeds is exactly 0.9 too, so `>= 0.9` treats both alike."""
    a = np.zeros((20, 1), np.float32)
    a[:10, 0] = np.arange(10, 0, -1)
    c = np.zeros((20, 1), bool)
    c[:9, 0] = True
    p = purity_at_k(a, c, ks=(10,))
    assert p.dtype == np.float64 and p[0, 0, 0] == 0.9
    # every direction with r1 + r2 > 0 ranks the 10 active items alike: 9 hits per seed, mean exactly 0.9
    x = np.repeat(a, 2, axis=1)
    null = random_direction_null(x, c, 64, ks=(10,), seeds=(0, 1, 2))
    assert null.best[0, 0] == 0.9 and null.best[0, 0] >= 0.9


def test_summary_counts_concepts_per_family():
    from jaxsae.analysis import family_counts

    rows = [{"concept": "A", "family": "genre", "purity@10": 1.0, "null_purity@10": 0.8},
            {"concept": "B", "family": "genre", "purity@10": 0.9, "null_purity@10": 0.9},
            {"concept": "1990s", "family": "decade", "purity@10": 1.0, "null_purity@10": 1.0},
            {"concept": "popular", "family": "popularity", "purity@10": 0.5, "null_purity@10": 0.4}]
    lines = family_counts(rows)
    assert lines[0] == ("genre concepts at purity@10 >= 0.9: 2 of 2 (random-direction null: 1; "
                        "beating the null by >= 0.2: 1)")
    assert lines[1].startswith("decade concepts at purity@10 >= 0.9: 1 of 1 (random-direction null: 1;")
    assert lines[2].startswith("popularity concepts at purity@10 >= 0.9: 0 of 1")
