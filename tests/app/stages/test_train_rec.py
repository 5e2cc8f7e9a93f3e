"""`jaxsae train-rec`: run directory outputs, resume, one-line errors."""
import json

import pytest

from data_prep import synthetic
from data_prep.preprocess import PrepareOptions, prepare
from jaxsae.app.cli import main
from jaxsae.training.rec import load_recommender

RANKING_KEYS = ("hit@10", "ndcg@10", "mrr@10", "recall@10", "hit@20", "ndcg@20", "mrr@20", "recall@20", "mpr")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    prepare(synthetic.generate(synthetic.preset("tiny")), PrepareOptions()).save(run / "data")
    return run


def test_train_rec_writes_checkpoint_metrics_and_config(run_dir, capsys):
    rc = main(["train-rec", str(run_dir), "--model", "mf", "--epochs", "2", "--batch-size", "512"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "epoch 1/2" in out and "epoch 2/2" in out and "most popular" in out
    metrics = json.loads((run_dir / "rec" / "metrics.json").read_text())
    for key in RANKING_KEYS + ("model", "n_eval_users", "train_s", "epochs", "history", "most_popular"):
        assert key in metrics, key
    # the kept model: the best of 2 selection epochs (epoch 2), then the warm refit's 5 more on all positives
    assert metrics["model"] == "mf" and metrics["epochs"] == 2 + 5 and len(metrics["history"]) == 2
    assert metrics["validation"]["refit"]["epochs"] == 5 and metrics["validation"]["refit"]["warm"]
    assert all(k in metrics["most_popular"] for k in RANKING_KEYS)
    assert metrics["hit@10"] > metrics["most_popular"]["hit@10"]
    config = json.loads((run_dir / "rec" / "config.json").read_text())
    assert config["config"]["batch_size"] == 512 and config["config"]["optimizer"] == "adagrad"
    assert "versions" in config
    tt = load_recommender(run_dir / "rec")
    assert tt.kind == "mf" and tt.n_users == metrics["n_eval_users"]

    # resume extends the run to 3 epochs and keeps the history
    assert main(["train-rec", str(run_dir), "--epochs", "3", "--batch-size", "512", "--resume"]) == 0
    metrics = json.loads((run_dir / "rec" / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [1, 2, 3]


def test_missing_data_is_a_one_line_error(tmp_path, capsys):
    assert main(["train-rec", str(tmp_path), "--model", "mf"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "data is missing" in err[0] and "jaxsae prepare" in err[0]


def test_bad_option_is_a_one_line_error(run_dir, capsys):
    assert main(["train-rec", str(run_dir), "--model", "ncf", "--batch-size", "10", "--devices", "4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not divisible by 4" in err[0]
