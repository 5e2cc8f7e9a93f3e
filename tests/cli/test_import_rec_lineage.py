"""`import-rec` writes RUN/rec through the lineage: the SAE of the previous recommender becomes stale."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxsae.app import lineage
from jaxsae.app.cli import main


def _tables(run: Path, path: Path, seed: int) -> Path:
    from data_prep.dataset import InteractionData

    data = InteractionData.load(run / "data")
    rng = np.random.default_rng(seed)
    np.savez(path, user_ids=data.user_ids, item_ids=data.item_ids,
             user_emb=rng.normal(size=(data.n_users, 4)), item_emb=rng.normal(size=(data.n_items, 4)))
    return path


def test_import_rec_makes_the_previous_sae_stale(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    assert main(["prepare", "synthetic", "--size", "tiny", "--out", str(run)]) == 0
    assert main(["import-rec", str(run), "--tables", str(_tables(run, tmp_path / "a.npz", 0))]) == 0
    assert lineage.read_stage(run / "rec")["status"] == "complete"
    with lineage.stage(run, "sae", inputs=("data", "rec")) as work:  # an SAE made from the first model
        (work / "metrics.json").write_text("{}")
    assert lineage.status(run, "sae").ok
    capsys.readouterr()
    assert main(["import-rec", str(run), "--tables", str(_tables(run, tmp_path / "b.npz", 1))]) == 0
    assert "now stale" in capsys.readouterr().out
    assert lineage.status(run, "sae").state == "stale"
    # a failed import (a table with an unknown user) leaves the imported model as it was
    before = (run / "rec" / "stage.json").read_text()
    with np.load(tmp_path / "b.npz", allow_pickle=True) as z:
        bad = {k: z[k] for k in z.files}
    bad["user_ids"] = bad["user_ids"].astype(object)
    bad["user_ids"][0] = "no-such-user"
    np.savez(tmp_path / "bad.npz", **bad)
    assert main(["import-rec", str(run), "--tables", str(tmp_path / "bad.npz")]) == 2
    assert (run / "rec" / "stage.json").read_text() == before
