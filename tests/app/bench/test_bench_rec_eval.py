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


def test_bench_eval_of_a_run_gives_the_metrics_train_rec_wrote(tiny_run):
    import json

    rows = bench_eval.run(args(run=str(tiny_run), chunk_size=7))
    assert [r["workload"] for r in rows] == ["eval-run-model", "eval-run-popular"]
    written = json.loads((tiny_run / "rec" / "metrics.json").read_text())
    assert rows[0]["ndcg@10"] == written["ndcg@10"] and rows[1]["ndcg@10"] == written["most_popular"]["ndcg@10"]
    assert all(r["user_s"] >= 0 and r["sys_s"] >= 0 and r["users"] == written["n_eval_users"] for r in rows)


def test_bench_scale_times_stages_and_stops_above_the_memory_cap(tmp_path):
    """`bench scale`'s watcher on a stand-in for `jaxsae run`: stage lines attribute the peak RSS and the CPU
    seconds, the pipeline.json stages become rows, and a run above `max_rss_gib` is stopped."""
    import json
    import sys

    from jaxsae.app.bench import scale

    child = ("import time\nprint('[jaxsae run] prepare: jaxsae prepare ...', flush=True)\ntime.sleep(0.6)\n"
             "print('[jaxsae run] train_rec: jaxsae train-rec ...', flush=True)\n"
             "x = bytearray(300 * 2**20)\nfor i in range(0, len(x), 4096): x[i] = 1\n"
             "t = time.process_time()\nwhile time.process_time() - t < 0.5: pass\ntime.sleep(1.0)\n")
    result = scale.run_pipeline([sys.executable, "-c", child], max_rss_gib=100, timeout_s=60, sample_s=0.05,
                                log=lambda m: None)
    assert result["rc"] == 0 and result["stopped"] is None
    peaks = result["stage_peak_gib"]
    assert peaks["train_rec"] > 0.25 > peaks["prepare"] > 0  # the 300 MiB belong to the stage that made them
    cpu = result["stage_cpu_s"]
    assert cpu["train_rec"] >= 0.5 > cpu["prepare"] and result["cpu_s"] >= cpu["train_rec"]  # the busy loop is train_rec's
    (tmp_path / "pipeline.json").write_text(json.dumps({"stages": [
        {"stage": "prepare", "status": "ran", "seconds": 0.6}, {"stage": "train_rec", "status": "ran", "seconds": 1.5}]}))
    rows = scale.stage_rows(tmp_path, result, "tiny")
    assert [r["stage"] for r in rows] == ["prepare", "train_rec", "total"]
    assert rows[1]["peak_rss_gib"] == peaks["train_rec"] and rows[2]["peak_rss_gib"] >= peaks["train_rec"]
    assert rows[1]["cpu_s"] == cpu["train_rec"] and rows[2]["cpu_s"] == result["cpu_s"] and rows[2]["load_avg_1m"] >= 0
    stopped = scale.run_pipeline([sys.executable, "-c", child], max_rss_gib=0.2, timeout_s=60, sample_s=0.05,
                                 log=lambda m: None)
    assert stopped["rc"] != 0 and "peak RSS" in stopped["stopped"]
