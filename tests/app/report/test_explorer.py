"""The explorer's data document and page from a JSON-only run (no SAE to load): fast, no browser."""
from __future__ import annotations

import json
import re

import numpy as np

from jaxsae.app.report import build_report, load_run
from jaxsae.app.report.explorer import embed_json, explorer_data, render_explorer
from jaxsae.app.report.explorer_arrays import _sig, _sig_array, _top_rows
from run_fixtures import write_fake_run


def _embedded(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>', page, re.S)
    assert m, "no embedded data"
    return json.loads(m.group(1))


def test_report_writes_explorer_from_json_only(tmp_path) -> None:
    run = write_fake_run(tmp_path / "run", h=8)
    build_report(run, figures=False)
    page = (run / "report" / "explorer.html").read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page  # offline: no CDN, no network
    assert "__DATA__" not in page and "/*__JS__*/" not in page and "__TITLE__" not in page
    doc = _embedded(page)
    neurons = json.loads((run / "analysis/neurons.json").read_text())
    assert doc["meta"]["latents"] == 8
    assert doc["latents"]["label"] == [n["label"] for n in neurons]
    assert doc["latents"]["p10"] == [n["purity@10"] for n in neurons]
    assert doc["latents"]["fire"][-1] == 0.0 and doc["latents"]["fire"][0] == round(20 / 150, 3)  # n_active / n_items
    # top items resolved from the cards: [item row, activation] pairs, titles from the cards
    top = doc["latents"]["top"][0]
    assert [doc["items"]["titles"][i] for i in top[0::2]] == [it["title"] for it in neurons[0]["top_items"]]
    assert top[1::2] == [1.0, 0.9, 0.8]
    concepts = json.loads((run / "analysis/concepts.json").read_text())
    horror = doc["concepts"]["names"].index("Horror")
    assert doc["concepts"]["neuron"][horror] == next(c["neuron"] for c in concepts if c["concept"] == "Horror")
    assert [s["kind"] for s in doc["steering"]] == ["filter", "nudge", "promote"]
    assert all(s["samples"] == [] for s in doc["steering"])
    summary = dict(doc["steering"][0]["summary"])
    assert summary["removed"] == 0.5 and summary["min rest RBO"] == 0.8 and summary["area removal vs rest RBO"] == 0.42
    assert summary["headline"].startswith("strongest removal at rest-RBO >= 0.8")
    assert any("rerun `jaxsae intervene`" in n for n in doc["meta"]["notes"])
    assert doc["headline"]["rec"]["rows"][0] == ["hit@10", 0.61, 0.305]
    assert [r[0] for r in doc["headline"]["ablation"]["rows"]] == [0, 1, 2, 5, 10]
    assert doc["headline"]["bound"]["sae_clear_among_probe_clear"] == 1 and doc["headline"]["bound"]["probe_clear"] == 3
    assert doc["headline"]["bound"]["item_density"] == 0.1  # from analysis/bound.json
    assert doc["latents"]["group"] == [0, 0, 1, 1, 2, 2, 2, 2]  # Matryoshka groups from hierarchy.json
    # the steering benchmark beside the interventions: SAE and label baseline, SAE and down-weighting
    bench = json.loads((run / "interventions/benchmark.json").read_text())
    concept, popularity = doc["benchmark"]
    assert "Horror" in concept["title"] and concept["header"][:2] == ["steering", "strength"]
    assert [r[0] for r in concept["rows"]] == ["SAE add"] * 3 + ["label"] * 3
    assert [r[2] for r in concept["rows"]] == [round(r["ndcg"], 3) for r in bench["concept"]["sae"] + bench["concept"]["label"]]
    assert [r[0] for r in popularity["rows"]] == ["SAE", "SAE", "down-weighting", "down-weighting"]
    assert [r[4] for r in popularity["rows"]] == [round(r["gini"], 3) for r in bench["popularity"]["sae"]
                                                  + bench["popularity"]["downweight"]]
    assert 'D.benchmark' in page and "panel bench" in page  # the steering view renders them


def test_explorer_without_stages(tmp_path) -> None:
    run = write_fake_run(tmp_path / "run", stages=("data", "rec"))
    doc = explorer_data(load_run(run), arrays=(None, None))
    assert doc["meta"]["latents"] == 0 and doc["steering"] == [] and doc["headline"]["ablation"] is None
    assert any("interventions" in n for n in doc["meta"]["notes"])
    render_explorer(doc)  # renders with nothing to show


def test_embedded_json_cannot_close_the_script(tmp_path) -> None:
    doc = {"meta": {"title": "x </script><!-- & y"}, "t": ["</script>", "a\u2028b"]}
    page = render_explorer({**doc, "meta": {"title": "t"}, "x": doc})
    m = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>', page, re.S)
    assert json.loads(m.group(1))["x"] == doc
    assert "<" not in embed_json(doc) and ">" not in embed_json(doc)


def test_compact_numbers_and_top_rows() -> None:
    assert _sig(0.0123456) == 0.0123 and _sig(123.456) == 123.0 and _sig(float("nan")) is None and _sig(None) is None
    assert _sig_array(np.array([0.0123456, -2.71828, 0.0, np.inf])) == [0.0123, -2.72, 0.0, None]
    a = np.array([[0.0, 3.0, 1.0, 3.0], [0.5, 0.0, 0.0, 0.0]])
    idx, val, keep = _top_rows(a, 3)
    assert idx.tolist() == [[1, 3, 2], [0, 1, 2]]  # value descending, ties to the lower index
    assert keep.tolist() == [[True, True, True], [True, False, False]]


def test_histograms_and_spearman_match_numpy() -> None:
    from jaxsae.app.report.explorer_arrays import _histograms, _spearman

    rng = np.random.default_rng(0)
    a = np.maximum(rng.normal(size=(300, 5)), 0.0)
    a[:, 3] = 0.0  # dead
    a[:, 4] = 0.0
    a[:7, 4] = 2.5  # one value only
    hist = _histograms(a, 6)
    for n in (0, 1, 2):
        pos = a[a[:, n] > 0, n]
        expected = np.histogram(pos, bins=6, range=(pos.min(), pos.max()))[0]
        assert hist[n]["counts"] == expected.tolist() and hist[n]["zeros"] == 300 - pos.size
    assert hist[3]["counts"] == [0] * 6 and hist[3]["zeros"] == 300
    assert sum(hist[4]["counts"]) == 7
    y = rng.integers(0, 20, size=300).astype(float)  # ties
    rho = _spearman(a, y, chunk=2)

    def ranks(v):  # tie-averaged ranks, by hand
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(1, len(v) + 1)
        for val in np.unique(v):
            r[v == val] = r[v == val].mean()
        return r

    for n in (0, 1, 2, 4):
        assert np.isclose(rho[n], np.corrcoef(ranks(a[:, n]), ranks(y))[0, 1])
    assert rho[3] == 0.0


def test_latent_firing_fractions_come_from_the_item_activations(tmp_path) -> None:
    """With the SAE loaded, `fire[j]` is the share of items on which latent j is active, counted from the item
    activations (not the cards): latent j fires on the first 5 (j + 1) items, the last latent on none."""
    import jax
    import jax.numpy as jnp

    from data_prep.preprocess import PrepareOptions, prepare
    from data_prep.synthetic import generate, preset
    from jaxsae.recommenders import TwoTower
    from jaxsae.sae import SAETrainConfig
    from jaxsae.sae import TiedSAE
    from jaxsae.sae import TrainedSAE

    data = prepare(generate(preset("tiny", n_users=30, n_items=40, seed=1)), PrepareOptions())
    h = 5
    items = -np.ones((data.n_items, h), np.float32)
    for j in range(h - 1):
        items[: 5 * (j + 1), j] = 1.0 + np.arange(5 * (j + 1)) / 100
    users = np.abs(np.random.default_rng(0).normal(size=(data.n_users, h))).astype(np.float32)
    module = TiedSAE(d=h, h=h, activation="relu", normalize=False)  # z = relu(x): the planted pattern
    module.init(jax.random.PRNGKey(0), jnp.zeros((1, h)))
    params = {"shared": {"W": jnp.eye(h), "b_pre": jnp.zeros(h), "b_lat": jnp.zeros(h)}}
    sae = TrainedSAE(module, params, SAETrainConfig(sae="tied", latents=h, fold_biases=False),
                     TwoTower.create(users, items), heldout_users=np.arange(3))
    run = write_fake_run(tmp_path / "run", h=h)  # its cards say n_active 20 everywhere: not what is shown
    doc = explorer_data(load_run(run), arrays=(data, sae))
    want = [5 * (j + 1) / data.n_items for j in range(h - 1)] + [0.0]
    assert doc["latents"]["fire"] == [round(v, 3) for v in want]
