"""`jaxsae report`: renders every section from JSON fixtures, figures exist, missing stages are reported."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from jaxsae.app.cli import main
from jaxsae.app.report import build_report, load_run
from jaxsae.app.report.content import fmt
from jaxsae.app.report.sections import purity_summary
from run_fixtures import write_fake_run

SECTION_IDS = ("overview", "data", "rec", "sae", "concepts", "popularity", "interventions", "ablation", "hierarchy",
               "neurons")


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs, self.sections, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a["src"])
        if tag == "section":
            self.sections.append(a["id"])

    def handle_data(self, data):
        self.text.append(data)


def _parse(index: Path) -> _Collect:
    p = _Collect()
    p.feed(index.read_text(encoding="utf-8"))
    return p


@pytest.fixture(scope="module")
def full_report(tmp_path_factory) -> Path:
    run = write_fake_run(tmp_path_factory.mktemp("run") / "run")
    return build_report(run)


def test_every_section_rendered_with_its_figures(full_report: Path) -> None:
    page = _parse(full_report)
    assert page.sections == list(SECTION_IDS)
    assert "Not run yet" not in " ".join(page.text)
    expected = {"rec_history.png", "sae_history.png", "purity.png", "popularity.png", "temporal.png",
                "filter-horror.png", "filter-curve-horror.png", "benchmark-concept.png", "benchmark-popularity.png",
                "nudge-comedy.png", "promote-i7.png", "ablation.png", "hierarchy.png"}
    assert set(page.imgs) == expected
    # the filter's headline: the level meeting the rest-RBO constraint, with its removal and the curve's area
    text = " ".join(page.text)
    assert "strongest removal at rest-RBO >= 0.8: 50% of the concept" in text and "0.42" in text
    assert "label baseline" in text and "popularity down-weighting" in text  # the benchmark, baselines beside
    for src in page.imgs:  # referenced relatively, beside the page, real PNGs
        assert "/" not in src
        assert (full_report.parent / src).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_stage_config_saved(full_report: Path) -> None:
    saved = json.loads((full_report.parent / "config.json").read_text())
    assert saved["config"]["figures"] is True and "jax" in saved["versions"]


def test_page_is_self_contained(full_report: Path) -> None:
    text = full_report.read_text(encoding="utf-8")
    assert "<style>" in text
    assert not re.search(r'<link|<script|src="https?:', text)


def test_numbers_from_the_json_appear(full_report: Path) -> None:
    text = " ".join(_parse(full_report).text)
    assert "0.610" in text and "0.305" in text  # hit@10 of MF and of most popular (half)
    assert "0.710" in text  # rbo@30
    assert "Monosemanticity score (MS, top 30 items): 0.612" in text
    assert "probe-clear 3, SAE-clear among them 1 (concept recall 33%)" in text  # analysis/bound.json
    assert "density: active latents per item / h 0.100, per user 0.120; dead 1" in text
    # genre purities in the fixture are 0.95, 0.85, 0.75, 0.65: only Action reaches 0.9; the null (0.4) none
    assert "1 of 4 genre/tag concepts have a neuron with purity@10 >= 0.9 (random-direction null: 0)" in text
    assert "Neuron 0: Action" in text and "Dead neurons: 7" in text
    assert "Popularity neuron 3: Spearman with item popularity 0.830" in text


def test_markdown_mirrors_html(full_report: Path) -> None:
    md = (full_report.parent / "report.md").read_text(encoding="utf-8")
    assert md.startswith("# jaxsae report: synthetic")
    assert "| concept | family | neuron | p@5 | p@10 |" in md
    assert "![Purity@10 per concept" in md
    for img in re.findall(r"\]\(([^)]+\.png)\)", md):
        assert (full_report.parent / img).exists()


def test_missing_stages_are_reported_not_crashed(tmp_path: Path) -> None:
    run = write_fake_run(tmp_path / "run", stages=("data", "rec"))
    index = build_report(run)
    page = _parse(index)
    text = " ".join(page.text)
    assert page.sections == list(SECTION_IDS)
    assert "jaxsae train-sae RUN" in text and "jaxsae analyze RUN" in text and "jaxsae ablate RUN" in text
    assert page.imgs == ["rec_history.png"]


def test_empty_run_and_broken_json(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "analysis").mkdir(parents=True)
    (run / "analysis" / "concepts.json").write_text("{not json")
    (run / "analysis" / "neurons.json").write_text(json.dumps({"a": 1}))  # a dict where a list is expected
    data = load_run(run)
    assert data.concepts is None and data.neurons is None and len(data.errors) == 2
    text = " ".join(_parse(build_report(run)).text)
    assert "cannot read JSON" in text and "expected a JSON list" in text


def test_partial_keys_do_not_crash(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "rec").mkdir()
    (run / "rec" / "metrics.json").write_text(json.dumps({"model": "ncf", "hit@10": None}))
    (run / "analysis").mkdir()
    (run / "analysis" / "concepts.json").write_text(json.dumps([{"concept": "X"}]))
    (run / "analysis" / "temporal.json").write_text(json.dumps({"year_neuron": None, "decades": []}))
    text = " ".join(_parse(build_report(run, figures=False)).text)
    assert "No item years in this dataset" in text
    assert "NCF" in text


def test_no_figures_flag_and_cli(tmp_path: Path, capsys) -> None:
    run = write_fake_run(tmp_path / "run")
    assert main(["report", str(run), "--no-figures"]) == 0
    assert not list((run / "report").glob("*.png"))
    assert "report:" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "no such run directory" in capsys.readouterr().err


def test_fmt_and_purity_summary() -> None:
    assert fmt(None) == "–" and fmt(float("nan")) == "–" and fmt(1234) == "1,234" and fmt(0.12345) == "0.123"
    assert fmt(True) == "yes" and fmt([1, 2]) == "1, 2"
    rows = [{"family": "genre", "purity@10": 0.9, "null_purity@10": 0.95}, {"family": "genre", "purity@10": 0.89},
            {"family": "decade", "purity@10": 1.0}]
    assert purity_summary(rows) == {"n_concepts": 2, "sae_pure": 1, "null_pure": 1}


def _shape(obj):
    """JSON structure: dict keys -> shapes, a list -> the shape of its first element, numbers -> "number"."""
    if isinstance(obj, dict):
        return {k: _shape(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_shape(obj[0])] if obj else []
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return type(obj).__name__
    return "number"


def _same_shape(fake, real, where=""):
    if isinstance(real, dict):
        assert isinstance(fake, dict) and set(fake) == set(real), (where, sorted(set(fake) ^ set(real)))
        for k in real:
            _same_shape(fake[k], real[k], f"{where}.{k}")
    elif isinstance(real, list):
        assert isinstance(fake, list) and bool(fake) == bool(real), where
        if real:
            _same_shape(fake[0], real[0], where + "[0]")
    elif "NoneType" not in (fake, real):  # null where the other has a value (e.g. an unlabelled neuron)
        assert fake == real, (where, fake, real)


def test_fixture_analysis_documents_are_shaped_like_analyze_output(tmp_path: Path) -> None:
    """The fake run's analysis/*.json must look like what `jaxsae analyze` writes (analyze_arrays, tiny case)."""
    import numpy as np

    from data_prep.preprocess import prepare
    from data_prep.synthetic import generate, preset
    from jaxsae.analysis import AnalysisConfig, analyze_arrays

    data = prepare(generate(preset("tiny")))
    rng = np.random.default_rng(0)
    a = np.maximum(rng.normal(size=(data.n_items, 8)), 0).astype(np.float32)
    x = rng.normal(size=(data.n_items, 4)).astype(np.float32)
    real = analyze_arrays(a, x, x, data, AnalysisConfig(null_seeds=1), prefixes=(2, 4, 8))
    run = write_fake_run(tmp_path / "run")
    for name in ("concepts", "neurons", "popularity", "temporal", "ms", "hierarchy", "bound"):
        fake = json.loads((run / "analysis" / f"{name}.json").read_text())
        _same_shape(_shape(fake), _shape(json.loads(json.dumps(real[name]))), name)
