"""`jaxsae bench sae` rows (tiny sizes; speed itself is measured by the benchmark, not asserted)."""
import argparse

import pytest

from jaxsae.app.bench import sae as bench
from jaxsae.errors import ConfigError

ROW_KEYS = {"workload", "users", "items", "dim", "latents", "batch_size", "devices", "compile_s", "steps_per_s",
            "pairs_per_s", "epoch_s", "steps_per_call", "call_s"}


def test_bench_rows():
    workload = "matryoshka-sae"  # the others share their programs with tests/training/sae/test_sae_train.py
    row = bench.bench_workload(workload, users=40, items=30, dim=4, latents=8, batch_size=8, epochs=1,
                               min_seconds=0.0, window=0)  # one epoch per call
    assert ROW_KEYS <= set(row)
    assert row["workload"] == workload and row["steps_per_epoch"] == 5 and row["devices"] == 1
    assert row["steps_per_call"] == 5 and row["timed_calls"] >= 1
    assert row["steps_per_s"] > 0 and row["pairs_per_s"] == pytest.approx(8 * row["steps_per_s"])
    row = bench.bench_workload(workload, users=40, items=30, dim=4, latents=8, batch_size=8, epochs=2,
                               min_seconds=0.0, window=3)  # train-sae's windows (log_every steps per call)
    assert row["steps_per_call"] == 3 and row["timed_calls"] == 4  # ceil(2 epochs x 5 steps / 3)


def test_bench_rejects_unknown_model():
    args = argparse.Namespace(model="svd", users=40, items=30, dim=4, latents=8, batch_size=8, epochs=1,
                              devices=1, seed=0, steps=None)
    with pytest.raises(ConfigError, match="unknown --model 'svd'"):
        bench.run(args)
