"""`jaxsae analyze`: end to end on the planted tiny dataset, outputs as docs/ARCHITECTURE.md, bad options."""
import json
from pathlib import Path

import numpy as np
import pytest

from run_fixtures import TINY_LATENTS as LATENTS
from jaxsae.app.cli import main


@pytest.mark.slow
def test_analyze_end_to_end_recovers_planted_genres(tiny_run: Path, capsys):
    run = tiny_run
    assert main(["analyze", str(run), "--null-seeds", "2"]) == 0
    out = run / "analysis"
    for name in ("concepts", "neurons", "popularity", "temporal", "ms", "config"):
        assert (out / f"{name}.json").exists(), name
    assert not (out / "hierarchy.json").exists()  # TopK, not Matryoshka
    concepts = json.loads((out / "concepts.json").read_text())
    keys = {"concept", "family", "neuron", "purity@5", "purity@10", "purity@20", "purity@50", "null_purity@10",
            "base_rate", "n_items"}
    assert all(keys <= set(r) for r in concepts)
    genres = [r for r in concepts if r["family"] == "genre"]
    assert len(genres) == 6
    pure = [r["concept"] for r in genres if r["purity@10"] >= 0.9]
    assert len(pure) >= 4, genres  # measured: Action, Comedy, Horror, Sci-Fi at 1.0
    pop = json.loads((out / "popularity.json").read_text())
    assert abs(pop["spearman"]) > 0.3  # the best |Spearman| neuron; its top items sit at the matching end
    assert (pop["top_k_popularity_percentile"] > 60) == (pop["spearman"] > 0)
    # its top items sit in the top quarter of popularity (79.6 with the validation-chosen recommender)
    assert pop["positive"]["spearman"] > 0.3 and pop["positive"]["top_k_popularity_percentile"] > 75
    neurons = json.loads((out / "neurons.json").read_text())
    assert len(neurons) == LATENTS and any(n["label"] in pure for n in neurons)
    ms = json.loads((out / "ms.json").read_text())
    assert ms["top_n"] == 30 and len(ms["per_neuron"]) == LATENTS
    # MS recomputed in NumPy from the saved SAE's item activations and the recommender's item embeddings
    from jaxsae.analysis.activations import item_activations, recommender_item_embeddings
    from jaxsae.app.runs import load_run_sae

    sae = load_run_sae(run)
    a, emb = np.asarray(item_activations(sae), np.float64), np.asarray(recommender_item_embeddings(sae), np.float64)
    span = a.max(axis=0) - a.min(axis=0)
    scaled = np.where(span > 0, (a - a.min(axis=0)) / np.where(span > 0, span, 1), 0.0)
    want = []
    for j in range(a.shape[1]):
        idx = np.argsort(-scaled[:, j], kind="stable")[:30]
        e = emb[idx] / np.linalg.norm(emb[idx], axis=1, keepdims=True)
        r = np.outer(scaled[idx, j], scaled[idx, j]) * (1 - np.eye(30))
        want.append((r * (e @ e.T)).sum() / r.sum() if r.sum() > 0 else 0.0)
    np.testing.assert_allclose(ms["per_neuron"], want, atol=1e-4)
    assert ms["ms"] == pytest.approx(np.mean(want), abs=1e-4) and 0.05 < ms["ms"] < 1.0
    assert "purity@10 >= 0.9" in capsys.readouterr().out


def test_analyze_rejects_bad_options_before_work(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "nowhere"), "--k", "5,20"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "must include 10" in err
    assert main(["analyze", str(tmp_path / "nowhere"), "--k", "5,x"]) == 2
    assert "comma-separated integers" in capsys.readouterr().err
    assert main(["analyze", str(tmp_path / "nowhere")]) == 2
    assert "jaxsae prepare" in capsys.readouterr().err


@pytest.mark.slow
def test_analyze_min_support_too_high(tiny_run: Path, capsys):
    run = tiny_run
    assert main(["analyze", str(run), "--min-support", "100000", "--null-seeds", "0"]) == 2
    assert "no item has that many" in capsys.readouterr().err
