"""Build the report's sections from a run's parsed JSON (`RunData`), drawing figures on the way.

One function per section; each returns a `Section` whose `missing` says which command fills it
when the stage has not run, so a partial run still gives a readable report.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from jaxsae.app.report import figures
from jaxsae.app.report.collect import RunData
from jaxsae.app.report.content import Card, Figure, Paragraph, Section, Table, fmt, table
from jaxsae.analysis import bound_lines

RANKING_KEYS = ("hit@10", "ndcg@10", "mrr@10", "recall@10", "hit@20", "ndcg@20", "mrr@20", "recall@20", "mpr")
PURE = 0.9  # purity@10 at or above which a concept counts as recovered (the paper's bar)
MAX_CARD_ITEMS = 8


@dataclasses.dataclass
class FigureContext:
    """Where figures go and whether they can be drawn."""

    out_dir: Path
    enabled: bool

    def add(self, blocks: List[Any], name: str, caption: str, draw: Callable[..., bool], *args: Any,
            **kwargs: Any) -> None:
        """Draw `name` (a PNG beside the report) and append its `Figure` block when something was drawn."""
        if not self.enabled:
            return
        if draw(self.out_dir / name, *args, **kwargs):
            blocks.append(Figure(name, caption))


def _missing(section_id: str, title: str, command: str) -> Section:
    return Section(section_id, title, missing=f"Not run yet: `{command}` writes this section.")


def _num(v: Any) -> Optional[float]:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in str(text)).strip("-").lower() or "x"


def overview_section(run: RunData) -> Section:
    """Run directory, stage timings from pipeline.json, and any file that could not be read."""
    s = Section("overview", "Run")
    s.blocks.append(Paragraph(f"Run directory: {run.run_dir}"))
    stages = (run.pipeline or {}).get("stages") or []
    if stages:
        rows = [(st.get("stage"), st.get("status"), _num(st.get("seconds"))) for st in stages if isinstance(st, dict)]
        s.blocks.append(table(("stage", "status", "seconds"), rows, "Pipeline stages (pipeline.json)", digits=1))
    for err in run.errors:
        s.blocks.append(Paragraph(f"Warning: {err}"))
    return s


def data_section(run: RunData) -> Section:
    """Dataset summary and the concepts with their item counts."""
    if run.summary is None:
        return _missing("data", "Dataset", "jaxsae prepare DATASET --out RUN")
    sm = run.summary
    s = Section("data", f"Dataset: {sm.get('dataset', '?')}")
    keys = ("n_users", "n_items", "n_interactions", "n_train", "n_test_users", "n_test", "density", "items_with_year")
    s.blocks.append(table(("quantity", "value"), [(k, sm.get(k)) for k in keys if k in sm], digits=4))
    names = sm.get("concepts") or []
    fams = sm.get("concept_families") or [None] * len(names)
    counts = sm.get("concept_counts") or [None] * len(names)
    if names:
        rows = [(n, f, c) for n, f, c in zip(names, fams, counts)]
        s.blocks.append(table(("concept", "family", "items"), rows, f"{len(names)} item concepts"))
    return s


def rec_section(run: RunData, figs: FigureContext) -> Section:
    """Recommender ranking metrics beside the most-popular baseline, and its loss history."""
    if run.rec is None:
        return _missing("rec", "Recommender", "jaxsae train-rec RUN --model mf")
    r = run.rec
    s = Section("rec", f"Recommender: {str(r.get('model', '?')).upper()}")
    pop = r.get("most_popular") or {}
    rows = [(k, r.get(k), pop.get(k)) for k in RANKING_KEYS if k in r]
    s.blocks.append(table(("metric", str(r.get("model", "model")), "most popular"), rows,
                          "Full ranking over all items, training positives excluded"))
    s.blocks.append(Paragraph(
        f"{fmt(r.get('n_eval_users'))} evaluated users; {fmt(r.get('epochs'))} epochs in {fmt(_num(r.get('train_s')), 1)} s."))
    hist = r.get("history") or []
    if isinstance(hist, list) and hist:
        figs.add(s.blocks, "rec_history.png", "Recommender training loss per epoch", figures.line_panels,
                 hist, "epoch", [("training loss", ["loss"], False), ("hit@10", ["hit@10"], False)])
    return s


def sae_section(run: RunData, figs: FigureContext) -> Section:
    """SAE training metrics, fidelity of reconstructions and the loss history."""
    if run.sae is None:
        return _missing("sae", "Sparse autoencoder", "jaxsae train-sae RUN --sae topk")
    m = run.sae
    s = Section("sae", f"Sparse autoencoder: {m.get('sae', '?')}")
    cfg = ("latents", "k", "fold_biases", "steps", "train_s", "steps_per_s")
    s.blocks.append(table(("setting", "value"), [(k, m.get(k)) for k in cfg if k in m], digits=1))
    terms = ("loss", "emb", "pred", "kl", "l1", "l0", "dead_fraction", "fvu")
    s.blocks.append(table(("metric", "value"), [(k, m.get(k)) for k in terms if k in m],
                          "Final training metrics (L0: mean active latents; FVU: fraction of variance unexplained)",
                          digits=4))
    fid = ("rbo@30", "rbo_trunc@30", "kendall_tau@30", "overlap@30")
    if any(k in m for k in fid):
        s.blocks.append(table(("fidelity (held-out users)", "value"), [(k, m.get(k)) for k in fid if k in m],
                              "Top-30 lists from reconstructed vs original embeddings"))
    orig = m.get("original") or {}
    rows = [(k, orig.get(k), m.get(k)) for k in RANKING_KEYS if k in m or k in orig]
    if rows:
        s.blocks.append(table(("metric", "original", "reconstructed"), rows,
                              "Recommendation quality on held-out users from original vs reconstructed embeddings"))
    hist = run.sae_history or []
    if hist:
        figs.add(s.blocks, "sae_history.png", "SAE training history", figures.line_panels, hist, "step",
                 [("loss terms", ["loss", "emb", "pred", "kl", "l1"], True), ("L0 (active latents)", ["l0"], False),
                  ("dead fraction", ["dead_fraction"], False), ("FVU", ["fvu"], False)])
    return s


def purity_rows(concepts: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Concepts sorted by family, then by purity@10 (best first)."""
    fam_order = {"genre": 0, "tag": 1, "decade": 2, "popularity": 3}
    rows = [c for c in concepts if isinstance(c, dict)]
    return sorted(rows, key=lambda c: (fam_order.get(c.get("family"), 4), -(_num(c.get("purity@10")) or -1.0)))


def purity_table(concepts: Sequence[Dict[str, Any]], caption: str = "") -> Table:
    """The paper's purity table with the random-direction null and the base rate beside it."""
    header = ("concept", "family", "neuron", "p@5", "p@10", "p@20", "p@50", "null p@10", "base rate", "items")
    rows = [(c.get("concept"), c.get("family"), c.get("neuron"), c.get("purity@5"), c.get("purity@10"),
             c.get("purity@20"), c.get("purity@50"), c.get("null_purity@10"), c.get("base_rate"), c.get("n_items"))
            for c in purity_rows(concepts)]
    return table(header, rows, caption, digits=2)


def purity_summary(concepts: Sequence[Dict[str, Any]], families: Sequence[str] = ("genre", "tag")) -> Dict[str, Any]:
    """Counts of concepts of `families` at purity@10 >= 0.9 for the SAE and for the null."""
    rows = [c for c in concepts if isinstance(c, dict) and c.get("family") in families]
    sae = sum(1 for c in rows if (_num(c.get("purity@10")) or 0.0) >= PURE)
    null = sum(1 for c in rows if (_num(c.get("null_purity@10")) or 0.0) >= PURE)
    return {"n_concepts": len(rows), "sae_pure": sae, "null_pure": null}


def concepts_section(run: RunData, figs: FigureContext) -> Section:
    """Purity per concept: SAE vs null vs base rate, and the monosemanticity score."""
    if run.concepts is None:
        return _missing("concepts", "Concepts and purity", "jaxsae analyze RUN")
    s = Section("concepts", "Concepts and purity")
    sm = purity_summary(run.concepts)
    if sm["n_concepts"]:
        s.blocks.append(Paragraph(
            f"{sm['sae_pure']} of {sm['n_concepts']} genre/tag concepts have a neuron with purity@10 >= {PURE} "
            f"(random-direction null: {sm['null_pure']})."))
    if run.bound is not None:

        try:
            s.blocks.append(Paragraph(" ".join(line + "." for line in bound_lines(run.bound))))
        except (KeyError, TypeError, ValueError):
            run.errors.append("analysis/bound.json: unexpected content")
    if run.ms is not None:
        s.blocks.append(Paragraph(f"Monosemanticity score (MS, top {fmt(run.ms.get('top_n'))} items): "
                                  f"{fmt(_num(run.ms.get('ms')))}."))
    s.blocks.append(purity_table(run.concepts, "Best neuron per concept (by purity@10); null = random unit "
                                               "directions through ReLU, same K"))
    main = [c for c in purity_rows(run.concepts) if c.get("family") not in ("decade", "popularity")]
    figs.add(s.blocks, "purity.png", "Purity@10 per concept: SAE vs random-direction null vs base rate",
             figures.purity_bars, main or purity_rows(run.concepts))
    return s


def _card(n: Dict[str, Any]) -> Card:
    label = n.get("label")
    title = f"Neuron {n.get('neuron', '?')}" + (f": {label}" if label else "")
    facts = (("best concept", fmt(n.get("best_concept"))), ("purity@10", fmt(_num(n.get("purity@10")), 2)),
             ("popularity Spearman", fmt(_num(n.get("popularity_spearman")), 2)), ("active items", fmt(n.get("n_active"))))
    items = [it for it in (n.get("top_items") or []) if isinstance(it, dict)][:MAX_CARD_ITEMS]
    rows = [(it.get("title") or it.get("item"), _num(it.get("activation")), it.get("concepts") or []) for it in items]
    return Card(title, facts, table(("item", "activation", "concepts"), rows, digits=2), labeled=bool(label))


def neurons_section(run: RunData) -> Section:
    """A card per live neuron (labeled ones first), dead neurons listed in one line."""
    if run.neurons is None:
        return _missing("neurons", "Neuron cards", "jaxsae analyze RUN")
    s = Section("neurons", "Neuron cards")
    cards = [n for n in run.neurons if isinstance(n, dict)]
    dead = [n for n in cards if n.get("n_active") == 0]
    live = [n for n in cards if n.get("n_active") != 0]
    live.sort(key=lambda n: (n.get("label") is None, -(_num(n.get("purity@10")) or 0.0)))
    n_labeled = sum(1 for n in live if n.get("label"))
    s.blocks.append(Paragraph(f"{len(cards)} neurons: {n_labeled} labeled (purity@10 >= 0.7), "
                              f"{len(live) - n_labeled} unlabeled, {len(dead)} dead."))
    if dead:
        s.blocks.append(Paragraph("Dead neurons: " + ", ".join(str(n.get("neuron")) for n in dead)))
    s.blocks.extend(_card(n) for n in live)
    return s


def _per_neuron(values: Any, key: str) -> List[Any]:
    if not isinstance(values, list):
        return []
    return [v.get(key) if isinstance(v, dict) else v for v in values]


def popularity_section(run: RunData, figs: FigureContext) -> Section:
    """The popularity neuron (Spearman with item popularity) and temporal neurons (year, decades)."""
    if run.popularity is None and run.temporal is None:
        return _missing("popularity", "Popularity and temporal neurons", "jaxsae analyze RUN")
    s = Section("popularity", "Popularity and temporal neurons")
    p = run.popularity
    if p is not None:
        s.blocks.append(Paragraph(
            f"Popularity neuron {fmt(p.get('neuron'))}: Spearman with item popularity {fmt(_num(p.get('spearman')))}; "
            f"its top-{fmt(p.get('k'))} items sit at mean popularity percentile "
            f"{fmt(_num(p.get('top_k_popularity_percentile')), 1)}."))
        best = p.get("neuron") if isinstance(p.get("neuron"), int) else None
        figs.add(s.blocks, "popularity.png", "Spearman correlation of each neuron with item popularity",
                 figures.neuron_bars, _per_neuron(p.get("per_neuron"), "spearman"), "Spearman (popularity)",
                 highlight=best)
    t = run.temporal
    if t is not None:
        if t.get("year_neuron") is None and not t.get("decades"):
            s.blocks.append(Paragraph("No item years in this dataset: no temporal neurons."))
        else:
            s.blocks.append(Paragraph(f"Year neuron {fmt(t.get('year_neuron'))}: Spearman with release year "
                                      f"{fmt(_num(t.get('spearman')))}."))
            decades = [d for d in (t.get("decades") or []) if isinstance(d, dict)]
            if decades:
                rows = [(d.get("concept"), d.get("neuron"), d.get("purity@10"), d.get("null_purity@10"),
                         d.get("base_rate")) for d in decades]
                s.blocks.append(table(("decade", "neuron", "p@10", "null p@10", "base rate"), rows, digits=2))
            best = t.get("year_neuron") if isinstance(t.get("year_neuron"), int) else None
            figs.add(s.blocks, "temporal.png", "Spearman correlation of each neuron with release year",
                     figures.neuron_bars, _per_neuron(t.get("per_neuron"), "spearman"), "Spearman (year)",
                     highlight=best)
    return s


def _levels(rec: Dict[str, Any], key: str) -> "tuple[list, list]":
    rows = [r for r in (rec.get("per_level") or []) if isinstance(r, dict)]
    return [r.get("level") for r in rows], [r.get(key) for r in rows]


def interventions_section(run: RunData, figs: FigureContext) -> Section:
    """Filtering, nudging and promotion: a table per kind and a curve per experiment."""
    if not run.interventions:
        return _missing("interventions", "Interventions", "jaxsae intervene RUN --filter CONCEPT")
    s = Section("interventions", "Interventions")
    by_kind: Dict[str, List[Dict[str, Any]]] = {}
    for rec in run.interventions:
        by_kind.setdefault(str(rec.get("_kind")), []).append(rec)
    for rec in by_kind.get("filter", []):
        name = f"filter-{_slug(rec.get('concept'))}.png"
        s.blocks.append(table(
            ("filter", "neuron", "k", "audience", "level", "share before", "share after", "removal", "rest RBO",
             "min rest RBO", "AUC"),
            [(rec.get("concept"), rec.get("neuron"), rec.get("k"), rec.get("audience_size"),
              "none" if rec.get("level") is None else rec.get("level"), rec.get("concept_share_before"),
              rec.get("concept_share_after"), rec.get("removal"), rec.get("rest_rbo"), rec.get("min_rest_rbo"),
              rec.get("removal_auc"))]))
        if rec.get("headline"):
            s.blocks.append(Paragraph(f"Filtering {rec.get('concept')}: {rec.get('headline')}."))
        xs, share = _levels(rec, "concept_share_after")
        _, rest = _levels(rec, "rest_rbo")
        figs.add(s.blocks, name, f"Filtering {rec.get('concept')}: concept share of the top-{rec.get('k')} "
                 "and RBO of the rest of the list, per level", figures.level_curves,
                 [("concept share", xs, share), ("rest RBO", xs, rest)], "level (neuron value)", "share / RBO",
                 title=f"filter {rec.get('concept')}", baseline=_num(rec.get("concept_share_before")))
        removed, rest = _levels(rec, "removal")[1], _levels(rec, "rest_rbo")[1]
        figs.add(s.blocks, f"filter-curve-{_slug(rec.get('concept'))}.png",
                 f"Filtering {rec.get('concept')}: RBO of the rest of the list against the share of the concept "
                 f"removed, one point per level (area under the curve {fmt(_num(rec.get('removal_auc')))}; the dashed "
                 "line is the rest-RBO constraint of the headline)", figures.level_curves,
                 [("rest RBO", removed, rest)], "concept removed", "rest RBO", title=f"filter {rec.get('concept')}",
                 baseline=_num(rec.get("min_rest_rbo")))
    for rec in by_kind.get("nudge", []):
        name = f"nudge-{_slug(rec.get('concept'))}.png"
        xs, share = _levels(rec, "concept_share")
        s.blocks.append(table(("nudge", "neuron", "k", "share before", "share at strongest level"),
                              [(rec.get("concept"), rec.get("neuron"), rec.get("k"), rec.get("concept_share_before"),
                                share[-1] if share else None)]))
        figs.add(s.blocks, name, f"Nudging {rec.get('concept')}: concept share of the top-{rec.get('k')} per level",
                 figures.level_curves, [("concept share", xs, share)], "level", "concept share",
                 title=f"nudge {rec.get('concept')}", baseline=_num(rec.get("concept_share_before")))
    for rec in by_kind.get("promote", []):
        name = f"promote-{_slug(rec.get('item'))}.png"
        xs, frac = _levels(rec, "entered_top_k_fraction")
        s.blocks.append(table(("promote", "neuron", "k", "audience", "entered top-k (strongest)"),
                              [(rec.get("title") or rec.get("item"), rec.get("neuron"), rec.get("k"),
                                rec.get("audience_size"), rec.get("entered_top_k_fraction"))]))
        figs.add(s.blocks, name, f"Promoting {rec.get('title') or rec.get('item')}: share of the audience for "
                 f"whom it enters the top-{rec.get('k')}", figures.level_curves,
                 [("entered top-k", xs, frac)], "level", "fraction of users",
                 title=f"promote {rec.get('title') or rec.get('item')}")
    for rec in by_kind.get("benchmark", []):
        benchmark_blocks(s, rec, figs)
    other = [k for k in by_kind if k not in ("filter", "nudge", "promote", "benchmark")]
    for kind in other:
        s.blocks.append(Paragraph(f"{len(by_kind[kind])} other result file(s) of kind {kind!r} not shown."))
    return s


def _points(rows: Any, x: str, y: str) -> "tuple[list, list]":
    rows = [r for r in (rows or []) if isinstance(r, dict)]
    return [r.get(x) for r in rows], [r.get(y) for r in rows]


def benchmark_tables(rec: Mapping[str, Any]) -> List[Tuple[Tuple[str, ...], List[Tuple[Any, ...]]]]:
    """`[(header, rows)]` of a steering benchmark record (`RUN/interventions/benchmark.json`): the concept
    steering (SAE add, SAE redistribute, label baseline) per strength, then popularity (SAE neuron,
    down-weighting) per strength; what the report's tables and the explorer's steering view show."""
    c, p = rec.get("concept") or {}, rec.get("popularity") or {}
    k = c.get("k", p.get("k"))
    concept = [(name, r.get("strength"), r.get("ndcg"), r.get("segment_recall"), r.get("concept_share"))
               for name, key in (("SAE add", "sae"), ("SAE redistribute", "sae_redistribute"), ("label", "label"))
               for r in c.get(key) or []]
    popularity = [(name, r.get("strength"), r.get("ndcg"), r.get("long_tail_coverage"), r.get("gini"))
                  for name, key in (("SAE", "sae"), ("down-weighting", "downweight")) for r in p.get(key) or []]
    return [(("steering", "strength", f"ndcg@{k}", f"segment recall@{k}", "concept share"), concept),
            (("popularity", "strength", f"ndcg@{k}", "long-tail coverage", f"Gini of top-{k}"), popularity)]


def benchmark_blocks(s: Section, rec: Dict[str, Any], figs: FigureContext) -> None:
    """The steering benchmark: the SAE's steering beside the baselines without an SAE, as tables and curves."""
    c, p = rec.get("concept") or {}, rec.get("popularity") or {}
    k = c.get("k", p.get("k"))
    s.blocks.append(Paragraph(
        f"Steering benchmark: {c.get('n_users')} held-out users whose own held-out items over-represent "
        f"{c.get('concept')}; personal ndcg@{k} on those items against the segment recall@{k} of the concept, over "
        f"the steering strength, for SAE neuron {c.get('neuron')} and for the label baseline (scores + lambda x "
        f"label); and popularity neuron {p.get('neuron')} against popularity down-weighting."))
    (head, rows), (p_head, p_rows) = benchmark_tables(rec)
    if rows:
        s.blocks.append(table(head, rows))
        figs.add(s.blocks, "benchmark-concept.png", f"Steering towards {c.get('concept')}: personal ndcg@{k} against "
                 f"segment recall@{k}, one point per strength (up and right is better)", figures.level_curves,
                 [("SAE neuron",) + _points(c.get("sae"), "segment_recall", "ndcg"),
                  ("SAE redistribution",) + _points(c.get("sae_redistribute"), "segment_recall", "ndcg"),
                  ("label baseline",) + _points(c.get("label"), "segment_recall", "ndcg")],
                 f"segment recall@{k}", f"ndcg@{k}", title=f"benchmark {c.get('concept')}")
    if p_rows:
        s.blocks.append(table(p_head, p_rows))
        figs.add(s.blocks, "benchmark-popularity.png", f"Lowering popularity: Gini index of the top-{k} exposure "
                 f"against personal ndcg@{k}, one point per strength (lower Gini at the same ndcg is better)",
                 figures.level_curves, [("SAE popularity neuron",) + _points(p.get("sae"), "ndcg", "gini"),
                                        ("down-weighting",) + _points(p.get("downweight"), "ndcg", "gini")],
                 f"ndcg@{k}", "Gini", title="benchmark popularity")


ABLATION_KEYS = ("w_pred", "rbo@30", "kendall_tau@30", "ms", "best_purity@10", "n_concepts_pure@10", "fvu", "l0")


def ablation_table(rows: Sequence[Dict[str, Any]], caption: str = "") -> Table:
    """Fidelity and interpretability per prediction-loss weight."""
    rows = sorted([r for r in rows if isinstance(r, dict)], key=lambda r: _num(r.get("w_pred")) or 0.0)
    return table(ABLATION_KEYS, [[r.get(k) for k in ABLATION_KEYS] for r in rows], caption)


def ablation_section(run: RunData, figs: FigureContext) -> Section:
    """The w_pred sweep: table and curves."""
    if run.ablation is None:
        return _missing("ablation", "Ablation of the prediction-aware loss", "jaxsae ablate RUN --pred-weights 0,1,2,5,10")
    s = Section("ablation", "Ablation of the prediction-aware loss")
    s.blocks.append(ablation_table(run.ablation, "Paper (ML-1M MF): RBO .224 .403 .436 .486 .543 and Kendall "
                                                 "-.19 .092 .141 .226 .315 for w_pred 0, 1, 2, 5, 10"))
    rows = sorted([r for r in run.ablation if isinstance(r, dict)], key=lambda r: _num(r.get("w_pred")) or 0.0)
    figs.add(s.blocks, "ablation.png", "Fidelity and interpretability against the prediction-loss weight",
             figures.line_panels, rows, "w_pred",
             [("fidelity", ["rbo@30", "kendall_tau@30"], False), ("monosemanticity", ["ms"], False),
              ("best purity@10", ["best_purity@10"], False), ("concepts at purity@10 >= 0.9", ["n_concepts_pure@10"], False)])
    return s


def hierarchy_section(run: RunData, figs: FigureContext) -> Section:
    """Matryoshka prefix groups: popularity and concept breadth of their neurons' top items."""
    if run.hierarchy is None:
        msg = "Only Matryoshka SAEs have a hierarchy" + (
            f" (this run's SAE is {run.sae.get('sae')!r})." if run.sae else "; run `jaxsae analyze RUN` on one.")
        return Section("hierarchy", "Matryoshka hierarchy", missing=msg)
    s = Section("hierarchy", "Matryoshka hierarchy")
    groups = [g for g in run.hierarchy if isinstance(g, dict)]
    keys = ["group", "start", "end", "mean_popularity_percentile", "concept_breadth"]
    keys += sorted({k for g in groups for k in g if k not in keys and not isinstance(g[k], (list, dict))})
    s.blocks.append(table(keys, [[g.get(k) for k in keys] for g in groups],
                          "Paper: early neurons broad and mainstream, late neurons niche"))
    figs.add(s.blocks, "hierarchy.png", "Per prefix group: mean popularity percentile and concept breadth of top items",
             figures.group_bars, groups, ["mean_popularity_percentile", "concept_breadth"])
    return s


def build_sections(run: RunData, out_dir: Path, draw_figures: bool = True) -> List[Section]:
    """All sections in reading order; figures are written into `out_dir` when `draw_figures`."""
    figs = FigureContext(out_dir, draw_figures and figures.available())
    sections = [
        overview_section(run), data_section(run), rec_section(run, figs), sae_section(run, figs),
        concepts_section(run, figs), popularity_section(run, figs), interventions_section(run, figs),
        ablation_section(run, figs), hierarchy_section(run, figs), neurons_section(run),
    ]
    if draw_figures and not figs.enabled:
        sections[0].blocks.append(Paragraph("Figures need matplotlib: pip install -e \".[report]\"."))
    return sections
