"""The import graph runs one way: data_prep <- recommenders/sae <- training <- analysis/interventions/selection
<- the public face <- the application (run-directory I/O <- report <- stages <- cli/pipeline). Every import
statement of the library, module-level or inside a function, counts; no private name or private module is
imported across a package."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Callable, Dict, List, Tuple

ROOT = Path(__file__).resolve().parents[2]

# layer of each package / module (a higher number may import a lower or equal one, never a higher one).
# The pure library (layers 0-3) never imports the application (`jaxsae.app`, layers 5-8), the only code that
# knows the run directory; the public face `jaxsae` re-exports the library alone.
LAYERS: Dict[str, int] = {
    "data_prep": 0,
    "jaxsae.errors": 0, "jaxsae.jsonio": 0, "jaxsae.progress": 0, "jaxsae.checkpoint": 1,
    "jaxsae.losses": 1, "jaxsae.metrics": 1, "jaxsae.recommenders": 1, "jaxsae.sae": 1,
    "jaxsae.training": 2,
    "jaxsae.analysis": 3, "jaxsae.interventions": 3, "jaxsae.selection": 3,
    "jaxsae": 4,  # the public face
    "jaxsae.app": 5, "jaxsae.app.io": 5, "jaxsae.app.options": 5, "jaxsae.app.lineage": 5, "jaxsae.app.runs": 5,
    "jaxsae.app.report": 6, "jaxsae.app.bench": 6, "jaxsae.app.steering": 6,
    "jaxsae.app.stages": 7,
    "jaxsae.app.cli": 8, "jaxsae.app.pipeline": 8, "jaxsae.__main__": 8,
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
    targets = [m for path in (ROOT / "jaxsae" / "app" / "pipeline").glob("*.py") for _, m in imports(path)]
    assert targets  # the package is there
    assert not [m for m in targets if m.startswith("jaxsae.app.cli")]


def _package(path: Path) -> str:
    """The package a file belongs to (a package's `__init__` belongs to the package itself)."""
    me = module_name(path)
    return me if path.name == "__init__.py" else me.rsplit(".", 1)[0]


def _inside(package: str, owner: str) -> bool:
    return package == owner or package.startswith(owner + ".")


def private_crossings(paths: List[Path], read: Callable[[Path], str] = Path.read_text) -> List[str]:
    """Imports of a `_private` module or name from outside the package that owns it (`read` gives a file's
    source: a planted file is checked at its place in the tree without being written there)."""
    wrong = []
    for path in paths:
        mine = _package(path)
        for node in ast.walk(ast.parse(read(path))):
            if isinstance(node, ast.Import):
                pairs = [(a.name, None) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                pairs = [(node.module, a.name) for a in node.names]
            else:
                continue
            for module, name in pairs:
                parts = module.split(".")
                if parts[0] not in ("jaxsae", "data_prep"):
                    continue
                private = [i for i, p in enumerate(parts) if p.startswith("_") and not p.startswith("__")]
                if private and not _inside(mine, ".".join(parts[:private[0]])):
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}: imports private module {module}")
                if name and name.startswith("_") and not name.startswith("__"):
                    is_pkg = (ROOT / Path(*parts) / "__init__.py").exists()
                    if is_pkg:
                        owner = module
                    elif (ROOT / Path(*parts[:-1]) / f"{parts[-1]}.py").exists():
                        owner = ".".join(parts[:-1])
                    else:
                        owner = module
                    if not _inside(mine, owner):
                        wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}: imports private name {module}.{name}")
    return wrong


def test_no_private_name_crosses_a_package() -> None:
    paths = [p for pkg in ("jaxsae", "data_prep", "experiments") for p in sorted((ROOT / pkg).rglob("*.py"))]
    wrong = private_crossings(paths)
    assert not wrong, "\n".join(wrong)


def test_the_private_name_check_bites() -> None:
    """The check above flags a planted crossing (so its silence means something). The planted file is never
    written into the tree, where a test running beside this one (pytest-xdist) would find it."""
    planted = ROOT / "jaxsae" / "analysis" / "_planted_crossing_check.py"
    source = "from jaxsae.training.sae._step import build_sae\nfrom jaxsae.app.pipeline.run import _x\n"
    wrong = private_crossings([planted], read=lambda path: source)
    assert len(wrong) == 2 and not planted.exists(), wrong
