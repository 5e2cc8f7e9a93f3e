"""Matryoshka hierarchy rows and neuron cards."""
import numpy as np

from jaxsae.analysis import neuron_cards
from jaxsae.analysis import purity_at_k
from jaxsae.analysis import concept_breadth, hierarchy


def test_concept_breadth_hand_computed():
    a = np.array([[1.0, 0.0], [2.0, 0.0], [0.5, 0.0]], np.float32)
    c = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0]], bool)
    ent, distinct = concept_breadth(a, c, 3)
    # counts (2, 1, 0): p = (2/3, 1/3)
    np.testing.assert_allclose(ent[0], -(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3)), rtol=1e-6)
    assert int(distinct[0]) == 2 and float(ent[1]) == 0.0 and int(distinct[1]) == 0


def test_hierarchy_early_broad_popular_late_niche():
    rng = np.random.default_rng(0)
    n, n_c = 200, 6
    pop = np.arange(n)[::-1].astype(float)  # item 0 most popular
    concepts = np.zeros((n, n_c), bool)
    concepts[np.arange(n), np.arange(n) % n_c] = True
    a = np.zeros((n, 4), np.float32)
    a[:20, 0] = a[:20, 1] = rng.uniform(1, 2, 20)  # group 0: popular items of all concepts
    niche = np.flatnonzero(np.arange(n) % n_c == 5)[-10:]
    a[niche, 2] = 1.0  # group 1: unpopular items of one concept; neuron 3 dead
    rows = hierarchy(a, [2, 4], pop, concepts, ["genre"] * n_c, k=10)
    assert [(r["start"], r["end"]) for r in rows] == [(0, 2), (2, 4)]
    assert rows[0]["mean_popularity_percentile"] > 90 > 20 > rows[1]["mean_popularity_percentile"]
    assert rows[0]["concept_breadth"] > 1.0 and rows[1]["concept_breadth"] == 0.0
    assert rows[1]["distinct_concepts"] == 1.0 and rows[1]["n_dead"] == 1


def test_cards_label_only_pure_neurons():
    n = 30
    concepts = np.zeros((n, 2), bool)
    concepts[:15, 0] = True
    concepts[15:, 1] = True
    a = np.zeros((n, 3), np.float32)
    a[:10, 0] = np.arange(10, 0, -1)  # 10 comedy items: purity@10 = 1
    a[[0, 1, 2, 3, 4, 5, 15, 16, 17, 18], 1] = 1.0  # 6/10 comedy: below 0.7
    ks = (5, 10)
    p = purity_at_k(a, concepts, ks)
    titles = [f"t{i}" for i in range(n)]
    cards = neuron_cards(a, p, concepts, ["Comedy", "Horror"], titles, [0.1, 0.2, 0.0], ks=ks, n_top=3)
    assert cards[0]["label"] == "Comedy" and cards[0]["purity@10"] == 1.0
    assert cards[0]["top_items"][0] == {"item": 0, "title": "t0", "activation": 10.0, "concepts": ["Comedy"]}
    assert cards[1]["label"] is None and cards[1]["best_concept"] == "Comedy"
    assert abs(cards[1]["purity@10"] - 0.6) < 1e-6
    assert cards[2]["label"] is None and cards[2]["best_concept"] is None and cards[2]["top_items"] == []
    assert cards[0]["n_active"] == 10 and cards[1]["popularity_spearman"] == 0.2


def test_card_prefers_the_rarer_of_equally_pure_concepts():
    concepts = np.zeros((20, 2), bool)
    concepts[:, 0] = True  # a concept every item has (like a coarse popularity bucket)
    concepts[:5, 1] = True  # a rare one
    a = np.zeros((20, 1), np.float32)
    a[:5, 0] = 1.0
    p = purity_at_k(a, concepts, (5, 10))
    card = neuron_cards(a, p, concepts, ["all", "rare"], [str(i) for i in range(20)], [0.0], ks=(5, 10))[0]
    assert card["best_concept"] == "rare" and card["purity@10"] == 0.5
