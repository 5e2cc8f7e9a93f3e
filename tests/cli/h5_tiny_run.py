"""One tiny real run directory (synthetic tiny -> MF -> TopK SAE) shared by the analyze/intervene/ablate CLI tests.

Built once per test session through the `jaxsae` command line itself; each CLI writes its own
sub-folder (analysis/, interventions/, ablation/), so the tests do not disturb each other.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

from jaxsae.app.cli import main

_CACHE: Dict[str, Path] = {}
LATENTS = 32


def tiny_run(tmp_path_factory: Any) -> Path:
    """`RUN` with data/, rec/ and sae/ for the planted tiny synthetic dataset (6 genres)."""
    if "run" not in _CACHE:
        run = tmp_path_factory.mktemp("h5-tiny") / "run"
        assert main(["prepare", "synthetic", "--size", "tiny", "--seed", "0", "--out", str(run)]) == 0
        assert main(["train-rec", str(run), "--model", "mf", "--seed", "0"]) == 0
        assert main(["train-sae", str(run), "--sae", "topk", "--latents", str(LATENTS), "--k", "4", "--fold-biases",
                     "--w-kl", "0", "--steps", "1000", "--log-every", "500", "--seed", "0"]) == 0
        _CACHE["run"] = run
    return _CACHE["run"]
