"""`jaxsae bench rec|eval` rows on tiny sizes (the figures themselves live in BENCHMARKS.md)."""
import argparse

from jaxsae.app.bench import eval as bench_eval
from jaxsae.app.bench import rec as bench_rec


def args(**kw):
    base = dict(model="mf", users=300, items=200, dim=8, latents=8, batch_size=64, epochs=1, steps=4,
                chunk_size=128, devices=1, seed=0)
    base.update(kw)
    return argparse.Namespace(**base)


def test_bench_rec_rows():
    rows = bench_rec.run(args())
    assert [r["workload"] for r in rows] == ["mf-train", "mf-train-default"]
    for r in rows:
        for key in ("users", "items", "dim", "batch_size", "compile_s", "epoch_s", "pairs_per_s", "steps_per_s"):
            assert key in r, key
        assert r["users"] == 300 and r["items"] == 200 and r["steps"] <= 4
        assert r["steps_per_s"] > 0 and abs(r["pairs_per_s"] - r["steps_per_s"] * r["batch_size"]) < 1e-6 * r["pairs_per_s"]
    assert rows[0]["batch_size"] == 64 and rows[0]["optimizer"] == "sgd"


def test_bench_eval_rows():
    (row,) = bench_eval.run(args())
    assert row["workload"] == "eval-mf" and row["chunk_size"] == 128 and row["items"] == 200
    assert row["users"] > 128  # more than one chunk
    assert row["users_per_s"] > 0 and row["peak_rss_mb"] > 0 and row["compile_s"] > 0
