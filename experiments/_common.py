"""Shared plumbing of the `python -m experiments.<script> RUN...` scripts: arguments, loading, output."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, List, Optional, Sequence

from jaxsae.app.report import RunData, load_run
from jaxsae.app.report.content import Table
from jaxsae.app.report.markdown import render_table

# The paper's ML-1M ablation (from its notebook data), by w_pred 0, 1, 2, 5, 10.
PAPER_W_PRED = (0, 1, 2, 5, 10)
PAPER_ABLATION = {
    "ncf": {"rbo@30": (.448, .55, .579, .664, .748), "kendall_tau@30": (.09, .24, .32, .448, .597),
            "ms": (.658, .671, .681, .676, .674)},
    "mf": {"rbo@30": (.224, .403, .436, .486, .543), "kendall_tau@30": (-.19, .092, .141, .226, .315),
           "ms": (.464, .58, .578, .567, .553)},
}


def parser(description: str, figure: bool = False) -> argparse.ArgumentParser:
    """`RUN... [--out FILE.md]` (+ `--figure FILE.png` for scripts that draw)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("runs", nargs="+", type=Path, help="run directories (jaxsae run --out RUN)")
    p.add_argument("--out", type=Path, default=None, help="also write the markdown to this file")
    if figure:
        p.add_argument("--figure", type=Path, default=None, help="write the figure (PNG) to this file")
    return p


def run_label(run: RunData) -> str:
    """`dataset/model/sae` from the run's own JSON, else the directory name."""
    parts = [(run.summary or {}).get("dataset"), (run.rec or {}).get("model"), (run.sae or {}).get("sae")]
    parts = [str(p) for p in parts if p]
    return f"{run.run_dir.name} ({'/'.join(parts)})" if parts else run.run_dir.name


def load_runs(paths: Sequence[Path]) -> List[RunData]:
    """Each run's parsed JSON; a path that is not a directory stops the script with a clear message."""
    missing = [str(p) for p in paths if not p.is_dir()]
    if missing:
        raise SystemExit(f"not a run directory: {', '.join(missing)}")
    return [load_run(p) for p in paths]


def emit(chunks: Sequence[str], out: Optional[Path]) -> str:
    """Print the markdown and write it to `out` when given."""
    text = "\n\n".join(chunks) + "\n"
    sys.stdout.write(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    return text


def section(title: str, body: "Table | str") -> str:
    return f"## {title}\n\n" + (render_table(body) if isinstance(body, Table) else body)


def main_of(build: Callable[[argparse.Namespace, List[RunData]], List[str]], description: str,
            figure: bool = False) -> Callable[[Optional[List[str]]], str]:
    """A script's `main(argv)`: parse, load the runs, build markdown chunks, print/write them."""
    def main(argv: Optional[List[str]] = None) -> str:
        args = parser(description, figure).parse_args(argv)
        return emit(build(args, load_runs(args.runs)), args.out)

    return main
