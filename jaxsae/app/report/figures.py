"""PNG figures of the report, drawn with matplotlib's object API (no pyplot state, Agg canvas).

matplotlib is imported lazily inside `new_figure`, so the library works without it; `available()`
says whether figures can be drawn. Each plotting function takes the PNG path first, then plain lists/dicts (the parsed JSON), and returns True when it wrote the file (False when there is nothing to draw).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def available() -> bool:
    """True when matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def new_figure(width: float, height: float, nrows: int = 1, ncols: int = 1) -> Tuple[Any, Any]:
    """A matplotlib Figure on an Agg canvas and its axes array (squeezed like `plt.subplots`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # lazy: an optional dependency
    from matplotlib.figure import Figure  # lazy: an optional dependency

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=True)
    return fig, axes


def _save(fig: Any, path: Path) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return True


def _finite(values: Sequence[Any]) -> List[float]:
    return [float(v) if isinstance(v, (int, float)) and math.isfinite(float(v)) else math.nan for v in values]


def _series(rows: Sequence[Dict[str, Any]], key: str) -> List[float]:
    return _finite([r.get(key) for r in rows])


def line_panels(path: Path, rows: Sequence[Dict[str, Any]], x_key: str,
                panels: Sequence[Tuple[str, Sequence[str], bool]], x_label: Optional[str] = None, title: str = "") -> bool:
    """One panel per `(title, keys, log_y)`: each key of `rows` plotted against `rows[i][x_key]`.

    Used for the recommender and SAE training histories and the ablation curves. Panels whose keys
    are all absent are dropped; nothing is written when no panel has data.
    """
    rows = [r for r in rows if isinstance(r, dict)]
    x = _series(rows, x_key)
    if not rows or all(math.isnan(v) for v in x):
        x = [float(i) for i in range(len(rows))]
    def drawable(key: str, log: bool) -> bool:  # a log panel drops all-zero terms (e.g. an unused KL)
        ys = [v for v in _series(rows, key) if not math.isnan(v)]
        return bool(ys) and (not log or any(v > 0 for v in ys))

    usable = [(t, [k for k in keys if drawable(k, log)], log) for t, keys, log in panels]
    usable = [(t, keys, log) for t, keys, log in usable if keys]
    if not usable:
        return False
    ncols = min(2, len(usable))
    nrows = (len(usable) + ncols - 1) // ncols
    fig, axes = new_figure(5.0 * ncols, 3.2 * nrows, nrows, ncols)
    flat = list(axes.flat) if hasattr(axes, "flat") else [axes]
    for ax, (panel_title, keys, log) in zip(flat, usable):
        for j, key in enumerate(keys):
            y = _series(rows, key)
            if log and all(v > 0 or math.isnan(v) for v in y):
                ax.set_yscale("log")
            ax.plot(x, y, marker="o" if len(x) <= 12 else None, ms=4, color=COLORS[j % len(COLORS)], label=key)
        values = [v for k in keys for v in _series(rows, k) if not math.isnan(v)]
        if ax.get_yscale() == "linear" and values and min(values) >= 0:
            ax.set_ylim(bottom=0, top=max(values) * 1.08 or 1.0)  # non-negative quantities start at zero
        ax.set_title(panel_title, fontsize=10)
        ax.set_xlabel(x_label or x_key)
        ax.grid(alpha=0.3)
        if len(keys) > 1:
            ax.legend(fontsize=8)
    for ax in flat[len(usable):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def purity_bars(path: Path, concepts: Sequence[Dict[str, Any]], k: int = 10, limit: int = 40) -> bool:
    """Horizontal bars per concept: the SAE's best purity@k, the random-direction null and the base rate."""
    rows = [c for c in concepts if isinstance(c, dict) and c.get(f"purity@{k}") is not None][:limit]
    if not rows:
        return False
    names = [str(c.get("concept", "?")) for c in rows]
    sae = _series(rows, f"purity@{k}")
    null = _series(rows, f"null_purity@{k}")
    base = _series(rows, "base_rate")
    n = len(rows)
    fig, ax = new_figure(7.0, 1.2 + 0.32 * n)
    ys = list(range(n))
    h = 0.27
    ax.barh([y - h for y in ys], sae, height=h, color=COLORS[0], label=f"SAE purity@{k}")
    ax.barh(ys, null, height=h, color=COLORS[7], label="random-direction null")
    ax.barh([y + h for y in ys], base, height=h, color=COLORS[1], label="base rate")
    ax.set_yticks(ys)
    ax.set_yticklabels(names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.02)
    ax.axvline(0.9, color="k", lw=0.6, ls="--")
    ax.set_xlabel(f"purity@{k} (dashed: 0.9)")
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def neuron_bars(path: Path, values: Sequence[Any], ylabel: str, highlight: Optional[int] = None) -> bool:
    """One bar per neuron (e.g. Spearman with popularity or year), the highlighted neuron in orange."""
    y = _finite(values)
    if not y or all(math.isnan(v) for v in y):
        return False
    fig, ax = new_figure(min(12.0, 3.0 + 0.08 * len(y)), 3.0)
    colors = [COLORS[1] if i == highlight else COLORS[0] for i in range(len(y))]
    ax.bar(range(len(y)), [0.0 if math.isnan(v) else v for v in y], color=colors, width=0.85)
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xlabel("neuron")
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def level_curves(path: Path, curves: Sequence[Tuple[str, Sequence[Any], Sequence[Any]]], xlabel: str,
                 ylabel: str, title: str = "", baseline: Optional[float] = None) -> bool:
    """Lines of y against intervention level, one per `(label, xs, ys)`, with an optional dashed baseline."""
    curves = [(lbl, _finite(xs), _finite(ys)) for lbl, xs, ys in curves if len(xs) and len(xs) == len(ys)]
    if not curves:
        return False
    fig, ax = new_figure(5.0, 3.2)
    for j, (label, xs, ys) in enumerate(curves):
        ax.plot(xs, ys, marker="o", ms=4, color=COLORS[j % len(COLORS)], label=label)
    if baseline is not None and math.isfinite(baseline):
        ax.axhline(baseline, color="k", lw=0.8, ls="--", label="before")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def group_bars(path: Path, groups: Sequence[Dict[str, Any]], keys: Sequence[str]) -> bool:
    """Matryoshka hierarchy: one panel per key with a bar per prefix group (early groups left)."""
    groups = [g for g in groups if isinstance(g, dict)]
    keys = [k for k in keys if any(g.get(k) is not None for g in groups)]
    if not groups or not keys:
        return False
    fig, axes = new_figure(4.2 * len(keys), 3.2, 1, len(keys))
    flat = list(axes.flat) if hasattr(axes, "flat") else [axes]
    labels = [f"{g.get('start', '?')}-{g.get('end', '?')}" for g in groups]
    for j, (ax, key) in enumerate(zip(flat, keys)):
        y = _series(groups, key)
        ax.bar(range(len(y)), [0.0 if math.isnan(v) else v for v in y], color=COLORS[j % len(COLORS)])
        ax.set_xticks(range(len(y)))
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_xlabel("latents (prefix group)")
        ax.set_title(key.replace("_", " "), fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)
