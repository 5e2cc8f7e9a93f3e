"""`analyze_arrays` end to end on planted arrays, the analysis config, and the SAE-side helpers."""
import types

import numpy as np
import pytest

from data_prep.dataset import InteractionData
from jaxsae.analysis.activations import encoder_inputs, prefixes, recommender_item_embeddings
from jaxsae.analysis import AnalysisConfig, analyze_arrays
from jaxsae.errors import ConfigError
from jaxsae.sae import MatryoshkaSAE
from jaxsae.sae import TiedSAE


def planted_data(n_items: int = 120) -> InteractionData:
    rng = np.random.default_rng(0)
    concepts = np.zeros((n_items, 3), bool)
    concepts[:30, 0] = True  # "Horror" on items 0-29
    concepts[rng.random(n_items) < 0.4, 1] = True
    concepts[:60, 2] = True  # "1990s"
    return InteractionData(
        dataset="toy", n_users=1, n_items=n_items, user_ids=np.array(["u"]),
        item_ids=np.array([str(i) for i in range(n_items)]), item_titles=np.array([f"t{i}" for i in range(n_items)]),
        train_indptr=np.array([0, 0]), train_indices=np.zeros(0, np.int32), test_users=np.zeros(0, np.int32),
        test_pos=np.zeros((0, 1), np.int32), test_neg=np.zeros((0, 1), np.int32),
        popularity=np.arange(n_items)[::-1].copy(), concepts=concepts,
        concept_names=["Horror", "Drama", "1990s"], concept_families=["genre", "genre", "decade"],
        year=planted_years(n_items),
    )


def planted_years(n_items: int = 120) -> np.ndarray:
    """Items 0-59 released in the 1990s, the rest in the 2000s, years shuffled within each half (so the
    popularity neuron, monotone in the item index, is not also a perfect year neuron)."""
    rng = np.random.default_rng(5)
    half = n_items // 2
    return np.concatenate([1990 + rng.permutation(np.arange(half) % 10), 2000 + rng.permutation(np.arange(n_items - half) % 10)])


def np_ms(a: np.ndarray, emb: np.ndarray, top_n: int = 30) -> np.ndarray:
    """MS per neuron in NumPy loops: min-max scale, top-N, R = a a^T and cosines off the diagonal."""
    out = []
    for j in range(a.shape[1]):
        col = a[:, j].astype(np.float64)
        span = col.max() - col.min()
        scaled = (col - col.min()) / span if span > 0 else np.zeros_like(col)
        idx = np.argsort(-scaled, kind="stable")[:top_n]
        num = den = 0.0
        for p in idx:
            for q in idx:
                if p != q:
                    r = scaled[p] * scaled[q]
                    cos = emb[p] @ emb[q] / (np.linalg.norm(emb[p]) * np.linalg.norm(emb[q]))
                    num, den = num + r * cos, den + r
        out.append(num / den if den > 0 else 0.0)
    return np.array(out)


def test_analyze_arrays_finds_planted_neurons_and_writes_every_document():
    data = planted_data()
    rng = np.random.default_rng(1)
    a = np.maximum(rng.normal(size=(120, 8)), 0).astype(np.float32) * 0.1
    a[:, 2] = 0.0
    a[:30, 2] = rng.uniform(1, 2, 30)  # the Horror neuron (also old and popular items)
    a[:, 5] = np.log1p(data.popularity)  # the popularity neuron
    a[:, 6] = 0.1 * (data.year - 1985)  # the year neuron: its order is the release years'
    x = rng.normal(size=(120, 6)).astype(np.float32)
    out = analyze_arrays(a, x, x, data, AnalysisConfig(null_seeds=2), prefixes=(2, 4, 8))
    horror = out["concepts"][0]
    assert horror["neuron"] == 2 and horror["purity@10"] == 1.0 and horror["purity@20"] == 1.0
    assert horror["null_purity@10"] < 1.0 and horror["base_rate"] == 0.25
    assert out["popularity"]["neuron"] == 5 and out["popularity"]["spearman"] > 0.99
    assert out["temporal"]["year_neuron"] == 6 and out["temporal"]["spearman"] == pytest.approx(1.0, abs=1e-4)
    assert out["temporal"]["n_items_with_year"] == 120 and [d["concept"] for d in out["temporal"]["decades"]] == ["1990s"]
    assert out["temporal"]["per_neuron"][5]["spearman"] < -0.5  # old items are popular: negative, weaker
    assert out["neurons"][2]["label"] == "Horror" and len(out["neurons"]) == 8
    assert [(r["start"], r["end"]) for r in out["hierarchy"]] == [(0, 2), (2, 4), (4, 8)]
    assert out["ms"]["top_n"] == 30
    want = np_ms(a, x)
    np.testing.assert_allclose(out["ms"]["per_neuron"], want, atol=1e-5)
    assert out["ms"]["ms"] == pytest.approx(want.mean(), abs=1e-5) and want[2] != pytest.approx(want[0], abs=1e-3)
    flat = analyze_arrays(a, x, x, data, AnalysisConfig(null_seeds=0, min_support=60))
    assert flat["hierarchy"] is None and np.isnan(flat["concepts"][0]["null_purity@10"])
    assert flat["concepts"][0]["n_items"] == 30  # items 0-59 have popularity >= 60
    with pytest.raises(ConfigError, match="no item has"):
        analyze_arrays(a, x, x, data, AnalysisConfig(null_seeds=0, min_support=10_000))


def test_analysis_config_validation():
    with pytest.raises(ConfigError, match="include 10"):
        AnalysisConfig(ks=(5, 20))
    with pytest.raises(ConfigError, match="increasing"):
        AnalysisConfig(ks=(10, 5))
    with pytest.raises(ConfigError, match="null_seeds"):
        AnalysisConfig(null_seeds=-1)
    with pytest.raises(ConfigError, match="top_items"):
        AnalysisConfig(top_items=0)


def test_sae_side_helpers():
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 6.0]], np.float32)
    sae = types.SimpleNamespace(module=TiedSAE(d=3, h=4), config=types.SimpleNamespace(fold_biases=False),
                                input_two_tower=types.SimpleNamespace(item_emb=x))
    z = encoder_inputs(sae, x)
    np.testing.assert_allclose(z.mean(axis=1), 0.0, atol=1e-6)
    np.testing.assert_allclose(z.std(axis=1), 1.0, atol=1e-4)
    assert prefixes(sae) is None
    raw = types.SimpleNamespace(module=TiedSAE(d=3, h=4, normalize=False))
    np.testing.assert_array_equal(encoder_inputs(raw, x), x)
    folded = types.SimpleNamespace(config=types.SimpleNamespace(fold_biases=True),
                                   input_two_tower=types.SimpleNamespace(item_emb=x))
    np.testing.assert_array_equal(recommender_item_embeddings(folded), x[:, :1])
    assert prefixes(types.SimpleNamespace(module=MatryoshkaSAE(d=3, h=8, prefixes=(2, 4, 8)))) == (2, 4, 8)
