"""The import graph runs one way: data_prep <- recommenders/sae <- training <- analysis/interventions <- stages
<- cli/pipeline (issue 13). Every import statement of the library, module-level or inside a function, counts."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Tuple

ROOT = Path(__file__).resolve().parents[1]

# layer of each package / module (a higher number may import a lower or equal one, never a higher one)
LAYERS: Dict[str, int] = {
    "data_prep": 0,
    "jaxsae.errors": 0,
    "jaxsae.io": 1, "jaxsae.options": 1, "jaxsae.checkpoint": 1, "jaxsae.lineage": 1, "jaxsae.losses": 1, "jaxsae.metrics": 1,
    "jaxsae.recommenders": 1, "jaxsae.sae": 1,
    "jaxsae.training": 2,
    "jaxsae.analysis": 3, "jaxsae.interventions": 3, "jaxsae.report": 3, "jaxsae.bench": 3,
    "jaxsae.stages": 4,
    "jaxsae.cli": 5, "jaxsae.pipeline": 5,
    "jaxsae": 6, "jaxsae.__main__": 6,  # the package's public face re-exports everything
}


def layer(module: str) -> Tuple[str, int]:
    """The most specific `LAYERS` entry owning `module`."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in LAYERS:
            return key, LAYERS[key]
    raise KeyError(module)


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: Path) -> List[Tuple[int, str]]:
    out: List[Tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "jaxsae" and node.level == 0:
            out += [(node.lineno, f"jaxsae.{a.name}") for a in node.names]  # `from jaxsae import lineage`
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return [(line, m) for line, m in out if m.split(".")[0] in ("jaxsae", "data_prep")]


def test_no_import_runs_up_a_layer() -> None:
    wrong = []
    for pkg in ("jaxsae", "data_prep"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            me = module_name(path)
            my_key, mine = layer(me)
            for line, target in imports(path):
                try:
                    key, theirs = layer(target)
                except KeyError:
                    key, theirs = target, -1
                if theirs > mine:
                    wrong.append(f"{path.relative_to(ROOT)}:{line}: {me} ({my_key}, layer {mine}) imports "
                                 f"{target} ({key}, layer {theirs})")
    assert not wrong, "\n".join(wrong)


def test_the_pipeline_never_imports_the_cli() -> None:
    targets = [m for path in (ROOT / "jaxsae" / "pipeline").glob("*.py") for _, m in imports(path)]
    assert targets  # the package is there
    assert not [m for m in targets if m.startswith("jaxsae.cli")]
