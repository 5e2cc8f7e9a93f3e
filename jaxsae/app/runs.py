"""Reading a run directory's trained models: the recommender of `RUN/rec` and the SAE of `RUN/sae` over it."""
from __future__ import annotations

from pathlib import Path

from jaxsae.recommenders import TwoTower
from jaxsae.sae import TrainedSAE
from jaxsae.training.rec import load_recommender
from jaxsae.training.sae import load_sae


def load_run_recommender(run_dir: "str | Path") -> TwoTower:
    """The frozen two-tower recommender of `RUN/rec` (trained or imported)."""
    return load_recommender(Path(run_dir) / "rec")


def load_run_sae(run_dir: "str | Path") -> TrainedSAE:
    """The SAE of `RUN/sae` over the recommender of `RUN/rec` (bias-folded and side-balanced again as trained)."""
    run_dir = Path(run_dir)
    return load_sae(run_dir / "sae", load_run_recommender(run_dir))
