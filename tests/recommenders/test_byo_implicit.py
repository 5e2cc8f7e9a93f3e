"""Bring your own recommender: a real outside library (`implicit`, the `dev` extra)
trains ALS on `export-split`'s file; `import-rec` aligns its tables by id (the later stages on such a model:
tests/e2e/test_readme_byo.py)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from jaxsae.app.cli import main

implicit = pytest.importorskip("implicit")


@pytest.fixture(scope="module")
def byo(tmp_path_factory):
    """A tiny synthetic run, its exported split, and implicit ALS factors trained on that split."""
    import scipy.sparse as sp
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    root = tmp_path_factory.mktemp("byo")
    run = root / "run"
    assert main(["prepare", "synthetic", "--size", "tiny", "--out", str(run)]) == 0
    assert main(["export-split", str(run), "--out", str(root / "split")]) == 0
    with open(root / "split" / "train.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["user", "item"]
    users, items = np.asarray([r[0] for r in rows[1:]]), np.asarray([r[1] for r in rows[1:]])
    uid, u = np.unique(users, return_inverse=True)
    iid, i = np.unique(items, return_inverse=True)
    mat = sp.csr_matrix((np.ones(len(u), np.float32), (u, i)), shape=(len(uid), len(iid)))
    model = AlternatingLeastSquares(factors=8, regularization=0.05, iterations=5, random_state=0, num_threads=1)
    with threadpool_limits(1, "blas"):
        model.fit(mat, show_progress=False)
    return run, root, (uid, iid, np.asarray(model.user_factors), np.asarray(model.item_factors)), (users, items)


def _data(run):
    from data_prep.dataset import InteractionData

    return InteractionData.load(run / "data")


def test_export_split_is_the_training_split_with_original_ids(byo):
    run, _, _, (users, items) = byo
    data = _data(run)
    tu, ti = data.train_pairs()
    assert len(users) == data.n_train
    np.testing.assert_array_equal(users, data.user_ids[tu])
    np.testing.assert_array_equal(items, data.item_ids[ti])


def _hit10_numpy(data, uid, iid, uf, itf):
    """hit@10 of implicit's own factors, computed independently: full ranking, training positives excluded."""
    urow = {x: r for r, x in enumerate(uid.tolist())}
    irow = {x: r for r, x in enumerate(iid.tolist())}
    items = np.zeros((data.n_items, uf.shape[1]), np.float32)  # items without training positives: zero factors
    for j, x in enumerate(data.item_ids.tolist()):
        if str(x) in irow:
            items[j] = itf[irow[str(x)]]
    hits = []
    for r, u in enumerate(np.asarray(data.test_users).tolist()):
        s = items @ uf[urow[str(data.user_ids[u])]]
        s[data.user_train_items(u)] = -np.inf
        top = np.argsort(-s, kind="stable")[:10]
        hits.append(bool(np.isin(data.test_pos[r], top).any()))
    return float(np.mean(hits))


@pytest.mark.slow
def test_shuffled_tables_import_by_id_score_like_implicit_and_train_an_sae(byo, tmp_path, capsys):
    run, root, (uid, iid, uf, itf), _ = byo
    rng = np.random.default_rng(1)
    pu, pi = rng.permutation(len(uid)), rng.permutation(len(iid))
    tables = tmp_path / "als.npz"
    np.savez(tables, user_ids=uid[pu].astype(int), item_ids=iid[pi], user_emb=uf[pu], item_emb=itf[pi])
    assert main(["import-rec", str(run), "--tables", str(tables)]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((run / "rec" / "metrics.json").read_text())
    assert metrics["hit@10"] == pytest.approx(_hit10_numpy(_data(run), uid, iid, uf, itf), abs=1e-12)
    assert metrics["hidden_fit"]["ratio"] > 1.0 and "most_popular" in metrics and "hit@10" in out

    # the next stage reads the imported model (the whole `jaxsae run` on one: tests/e2e/test_readme_byo.py)
    assert main(["train-sae", str(run), "--sae", "topk", "--latents", "8", "--k", "2", "--steps", "20",
                 "--batch-size", "16", "--log-every", "20", "--fold-biases", "--no-normalize"]) == 0
    sae = json.loads((run / "sae" / "metrics.json").read_text())
    from jaxsae.sae import side_factor
    from jaxsae.app.runs import load_run_sae
    from jaxsae.training.sae import heldout_split

    loaded = load_run_sae(run)
    assert loaded.dim == uf.shape[1]  # ALS has no biases: nothing folded, no constant columns
    train_users, _ = heldout_split(len(uid), 0.2, 0)
    rec = loaded.input_two_tower
    c = sae["balance_factor"]
    assert c == pytest.approx(side_factor(np.asarray(rec.user_emb) / c, np.asarray(rec.item_emb) * c, train_users),
                              rel=1e-5)
    assert {"fvu_users", "fvu_items", "rbo@30_users", "rbo@30_items"} <= set(sae)


def test_position_only_tables_are_refused_and_missing_ids_named(byo, tmp_path, capsys):
    run, _, (uid, iid, uf, itf), _ = byo
    rng = np.random.default_rng(2)
    pos = tmp_path / "pos.npz"
    np.savez(pos, user_emb=uf[rng.permutation(len(uid))], item_emb=itf[rng.permutation(len(iid))])
    assert main(["import-rec", str(run), "--tables", str(pos)]) == 2
    err = capsys.readouterr().err
    assert "no user_ids/item_ids" in err and "--by-position" in err and len(err.strip().splitlines()) == 1
    short = tmp_path / "short.npz"
    np.savez(short, user_ids=uid[1:], item_ids=iid, user_emb=uf[1:], item_emb=itf)
    assert main(["import-rec", str(run), "--tables", str(short)]) == 2
    err = capsys.readouterr().err
    assert f"1 user ids of the data are missing from the table: '{int(uid[0])}'" in err
