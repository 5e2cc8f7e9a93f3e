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


def _svd_tables(run: Path, path: Path, with_hidden: bool) -> Path:
    """Rank-8 factors of the interaction matrix: the training positives only, or with the hidden ones too (a
    model fitted on every rating, as happens when the export-split file is skipped)."""
    from data_prep.dataset import InteractionData

    data = InteractionData.load(run / "data")
    x = np.zeros((data.n_users, data.n_items))
    for u in range(data.n_users):
        x[u, data.train_indices[data.train_indptr[u]:data.train_indptr[u + 1]]] = 1.0
    if with_hidden:
        for row, u in enumerate(np.asarray(data.test_users)):
            pos = np.asarray(data.test_pos[row])
            x[u, pos[pos >= 0]] = 1.0
    u_, s, vt = np.linalg.svd(x, full_matrices=False)
    np.savez(path, user_ids=data.user_ids, item_ids=data.item_ids, user_emb=u_[:, :8] * s[:8], item_emb=vt[:8].T)
    return path


def test_import_rec_warns_when_the_model_saw_the_hidden_positives(tmp_path: Path, capsys) -> None:
    import json

    run = tmp_path / "run"
    assert main(["prepare", "synthetic", "--size", "tiny", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["import-rec", str(run), "--tables", str(_svd_tables(run, tmp_path / "honest.npz", False))]) == 0
    honest = json.loads((run / "rec" / "metrics.json").read_text())["hidden_fit"]
    assert "warning" not in capsys.readouterr().out
    assert main(["import-rec", str(run), "--tables", str(_svd_tables(run, tmp_path / "leaky.npz", True))]) == 0
    leaky = json.loads((run / "rec" / "metrics.json").read_text())["hidden_fit"]
    out = capsys.readouterr().out
    assert not honest["suspicious"] and honest["ratio"] > honest["threshold"]
    assert leaky["suspicious"] and leaky["ratio"] < leaky["threshold"] < honest["ratio"]
    assert "import-rec: warning: the model ranks the hidden test positives almost as well" in out
    assert "export-split" in out
