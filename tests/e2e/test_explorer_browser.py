"""The neuron explorer rendered by a real headless Chromium: grid, latent page, search, steering.

The tiny real run (the `tiny_run` session fixture: synthetic tiny -> MF -> TopK SAE) is copied, analyzed,
steered and reported through the command line; each view is opened as a `file://` URL with its hash
route and read back with Chromium's `--dump-dom`. The page records window errors and console.error
calls into `#js-errors`, which must stay empty. Skips only when no Chromium is found outside CI.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from data_prep.dataset import InteractionData
from run_fixtures import TINY_LATENTS as LATENTS
from jaxsae.app.cli import main

pytestmark = pytest.mark.slow

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chromium() -> Optional[str]:
    """`$JAXSAE_CHROMIUM`, else the first Chromium-like browser on PATH."""
    env = os.environ.get("JAXSAE_CHROMIUM")
    if env:
        return env
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


@pytest.fixture(scope="module")
def browser() -> str:
    path = find_chromium()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but no chromium was found: .ci/run installs Debian's chromium package")
        pytest.skip("no chromium on PATH (apt-get install -y chromium, or set JAXSAE_CHROMIUM): the browser test needs it")
    return path


class Dom(HTMLParser):
    """Every element as (tag, attrs, text inside it), from a dumped DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: List[Dict] = []
        self._open: List[Dict] = []

    def handle_starttag(self, tag, attrs):
        el = {"tag": tag, "attrs": dict(attrs), "text": []}
        self.elements.append(el)
        if tag not in ("br", "img", "input", "meta", "link", "hr", "rect", "line", "polyline"):
            self._open.append(el)

    def handle_endtag(self, tag):
        for j in range(len(self._open) - 1, -1, -1):
            if self._open[j]["tag"] == tag:
                del self._open[j:]
                break

    def handle_data(self, data):
        for el in self._open:
            el["text"].append(data)

    def find(self, **attrs) -> List[Dict]:
        return [e for e in self.elements if all(e["attrs"].get(k.replace("_", "-")) == v if v is not True
                                                 else k.replace("_", "-") in e["attrs"] for k, v in attrs.items())]

    def text(self, el: Dict) -> str:
        return "".join(el["text"])


@pytest.fixture(scope="module")
def explorer_run(tiny_run: Path, tmp_path_factory) -> Path:
    """A copy of the tiny run with analysis, the three interventions and the report."""
    src = tiny_run
    run = tmp_path_factory.mktemp("explorer") / "run"
    for part in ("data", "rec", "sae"):
        shutil.copytree(src / part, run / part)
    assert main(["analyze", str(run), "--null-seeds", "2"]) == 0
    assert main(["intervene", str(run), "--filter", "Horror", "--audience-size", "20"]) == 0
    assert main(["intervene", str(run), "--nudge", "Sci-Fi", "--audience-size", "20"]) == 0
    assert main(["intervene", str(run), "--promote", "Item 17 (2019)", "--audience-size", "20"]) == 0
    assert main(["report", str(run), "--no-figures"]) == 0
    assert (run / "report" / "explorer.html").is_file()
    return run


def render(browser: str, page: Path, route: str, profile: Path) -> Dom:
    """The DOM of `page#route` after its scripts ran, with no JavaScript error recorded."""
    url = page.resolve().as_uri() + "#" + route
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
           f"--user-data-dir={profile}", "--virtual-time-budget=15000", "--dump-dom", url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    dom = Dom()
    dom.feed(out.stdout)
    body = dom.find(data_ready="1")
    assert body and body[0]["tag"] == "body", f"{route}: the page did not finish rendering\n{out.stdout[-1500:]}"
    errors = dom.find(id="js-errors")
    assert errors and errors[0]["attrs"].get("data-count") == "0" and not dom.text(errors[0]).strip(), \
        f"{route}: JavaScript errors: {dom.text(errors[0]) if errors else '(no #js-errors element)'}"
    return dom


def test_explorer_views_in_headless_chromium(browser: str, explorer_run: Path, tmp_path: Path) -> None:
    page = explorer_run / "report" / "explorer.html"
    concepts = json.loads((explorer_run / "analysis" / "concepts.json").read_text())
    neurons = json.loads((explorer_run / "analysis" / "neurons.json").read_text())
    titles = [str(t) for t in InteractionData.load(explorer_run / "data").item_titles]

    # grid: one element per latent carrying data-neuron
    grid = render(browser, page, "grid", tmp_path / "p1")
    tiles = grid.find(data_neuron=True)
    assert sorted(int(t["attrs"]["data-neuron"]) for t in tiles) == list(range(LATENTS))
    for t in tiles:  # labels are those of analysis/neurons.json
        card = neurons[int(t["attrs"]["data-neuron"])]
        if card["label"]:
            assert card["label"] in grid.text(t)

    # the grid sorted and filtered through its route: by id; only latents labeled with a genre
    dom = render(browser, page, "grid?sort=id&fam=genre", tmp_path / "p5")
    families = dict(zip((c["concept"] for c in concepts), (c["family"] for c in concepts)))
    genre = [c["neuron"] for c in neurons if c["label"] and families[c["label"]] == "genre"]
    assert genre and [int(t["attrs"]["data-neuron"]) for t in dom.find(data_neuron=True)] == sorted(genre)

    # a latent page: its top items, in the order analyze ranked them
    horror = next(c for c in concepts if c["concept"] == "Horror")
    n = horror["neuron"]
    dom = render(browser, page, f"neuron/{n}", tmp_path / "p2")
    assert dom.find(data_latent_page=str(n))
    table = dom.find(id="top-items")
    assert table
    rows = [e for e in dom.find(data_item=True) if e["tag"] == "tr"]
    expected = [it["item"] for it in neurons[n]["top_items"]]
    assert expected and [int(r["attrs"]["data-item"]) for r in rows][: len(expected)] == expected
    for r, it in zip(rows, neurons[n]["top_items"]):
        assert it["title"] in dom.text(r)
    assert dom.find(**{"aria-label": "activation histogram"})

    # concept search: the neuron concepts.json names for it
    dom = render(browser, page, "search/Horror", tmp_path / "p3")
    result = dom.find(data_concept="Horror")
    assert result, "no result for the concept Horror"
    best = [e for e in dom.find(data_best_neuron=True)]
    assert [int(e["attrs"]["data-best-neuron"]) for e in best] == [n]

    # steering: before/after lists of the saved samples, with removed and added items marked
    dom = render(browser, page, "steer", tmp_path / "p4")
    rec = json.loads((explorer_run / "interventions" / "filter-Horror.json").read_text())
    sample = rec["samples"][0]
    lists = [e for e in dom.elements if e["tag"] == "ol" and "toplist" in e["attrs"].get("class", "")]
    assert len(lists) == 2 * 3  # first sample of each of filter, nudge, promote
    before, after = lists[0], lists[1]
    assert "before" in before["attrs"]["class"] and "after" in after["attrs"]["class"]
    i0, i1 = dom.elements.index(before), dom.elements.index(after)
    i2 = dom.elements.index(lists[2])
    lis_b = [e for e in dom.elements[i0:i1] if e["tag"] == "li"]
    lis_a = [e for e in dom.elements[i1:i2] if e["tag"] == "li"]
    assert [int(e["attrs"]["data-item"]) for e in lis_b] == sample["before"]
    assert [int(e["attrs"]["data-item"]) for e in lis_a] == sample["after"]
    removed = {int(e["attrs"]["data-item"]) for e in lis_b if "removed" in e["attrs"].get("class", "").split()}
    added = {int(e["attrs"]["data-item"]) for e in lis_a if "added" in e["attrs"].get("class", "").split()}
    assert removed == set(sample["before"]) - set(sample["after"])
    assert added == set(sample["after"]) - set(sample["before"])
    assert removed, "the filter changed nothing in the first sample user's list"
    assert titles[sample["before"][0]] in dom.text(lis_b[0])


def test_interventions_keep_sample_lists(explorer_run: Path) -> None:
    """Each experiment saves five audience users' top-K before and after; `before` is the recommender's own top-K
    (MF logits in NumPy, training positives excluded)."""
    import numpy as np

    from jaxsae.training.rec import load_recommender

    data = InteractionData.load(explorer_run / "data")
    tt = load_recommender(explorer_run / "rec")
    U, Q = np.asarray(tt.user_emb, np.float64), np.asarray(tt.item_emb, np.float64)
    bu, bi = np.asarray(tt.user_bias, np.float64), np.asarray(tt.item_bias, np.float64)
    for name, k in (("filter-Horror", 20), ("nudge-Sci-Fi", 30), ("promote-17", 20)):
        rec = json.loads((explorer_run / "interventions" / f"{name}.json").read_text())
        assert len(rec["samples"]) == 5
        for s in rec["samples"]:
            u = s["user"]
            assert s["user_id"] == str(data.user_ids[u]) and len(s["before"]) == len(s["after"]) == k
            logits = U[u] @ Q.T + bu[u] + bi
            logits[data.user_train_items(u)] = -np.inf
            assert s["before"] == [int(i) for i in np.argsort(-logits, kind="stable")[:k]]
    promote = json.loads((explorer_run / "interventions" / "promote-17.json").read_text())
    entered = [int(promote["item_index"]) in s["after"] for s in promote["samples"]]
    assert entered == sorted(entered, reverse=True)  # users the item entered for come first
    assert all(int(promote["item_index"]) not in s["before"] for s in promote["samples"])
