"""`jaxsae train-sae`: options -> config, the run directory it writes, one-line errors."""
import json

import numpy as np
import pytest

from jaxsae.app.cli import build_parser, main
from jaxsae.app.cli.train_sae import config_from_args

ARCH_KEYS = {"sae", "latents", "k", "fold_biases", "steps", "loss", "emb", "pred", "kl", "l1", "l0", "dead_fraction",
             "fvu", "rbo@30", "rbo_trunc@30", "kendall_tau@30", "overlap@30", "hit@10", "ndcg@10", "original",
             "train_s", "steps_per_s"}
HISTORY_KEYS = {"step", "epoch", "loss", "emb", "pred", "kl", "l1", "l0", "dead_fraction", "fvu"}


def _args(*argv):
    return build_parser().parse_args(["train-sae", "RUN", *argv])


def test_options_become_the_config():
    from jaxsae.selection import SweepConfig

    auto = config_from_args(_args())  # no architecture asked for: the validation-based choice
    assert isinstance(auto, SweepConfig) and auto.base.sae == "topk"
    assert config_from_args(_args("--steps", "300")).base.steps == 300  # other options set the sweep's base
    c = config_from_args(_args("--sae", "tied"))
    assert (c.sae, c.latents, c.w_emb, c.w_pred, c.w_kl, c.rho, c.steps) == ("tied", 22, 0.1, 1.0, 0.01, 0.05, 5000)
    c = config_from_args(_args("--sae", "matryoshka", "--latents", "16", "--prefixes", "4,8,16", "--w-pred", "5",
                               "--fold-biases", "--separate", "--untied", "--no-normalize", "--epochs", "3"))
    assert (c.sae, c.prefixes, c.w_pred, c.fold_biases, c.shared, c.tied, c.normalize, c.epochs) == (
        "matryoshka", (4, 8, 16), 5.0, True, False, False, False, 3)
    c = config_from_args(_args("--preset", "lastfm-mf", "--paper-schedule", "--w-l1", "0.5"))
    assert (c.latents, c.w_emb, c.w_l1, c.epochs) == (70, 8.0, 0.5, 30)


def test_bad_options_fail_with_one_line_before_any_work(tmp_path, capsys):
    rc = main(["train-sae", str(tmp_path), "--sae", "topk", "--latents", "8", "--k", "9"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0
    assert "TopK needs 1 <= k <= latents" in err
    assert not (tmp_path / "sae").exists()
    rc = main(["train-sae", str(tmp_path), "--rho", "1.5"])
    assert rc == 2 and "rho must be in (0, 1)" in capsys.readouterr().err


@pytest.mark.slow
def test_train_sae_writes_the_run_directory(tmp_path, capsys):
    from data_prep.preprocess import prepare
    from data_prep.synthetic import generate, preset
    from jaxsae.training.rec import RecConfig, train_recommender
    from jaxsae.app.runs import load_run_sae

    data = prepare(generate(preset("tiny")))
    data.save(tmp_path / "data")
    train_recommender(data, RecConfig(dim=6, epochs=1), out_dir=tmp_path / "rec", log=lambda _: None)
    (tmp_path / "rec" / "metrics.json").write_text("{}")  # a finished recommender (the library leaves it to the CLI)
    rc = main(["train-sae", str(tmp_path), "--sae", "topk", "--latents", "8", "--k", "2", "--steps", "40",
               "--batch-size", "16", "--log-every", "20", "--fold-biases"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "step 20/40" in out and "step 40/40" in out and "done in" in out
    sae_dir = tmp_path / "sae"
    metrics = json.loads((sae_dir / "metrics.json").read_text())
    assert ARCH_KEYS <= set(metrics)
    assert metrics["sae"] == "topk" and metrics["k"] == 2 and metrics["fold_biases"] is True
    assert 0 < metrics["l0"] <= 2 and 0 <= metrics["rbo@30"] <= 1 and metrics["steps"] == 40
    history = json.loads((sae_dir / "history.json").read_text())
    assert [r["step"] for r in history] == [20, 40] and HISTORY_KEYS <= set(history[0])
    config = json.loads((sae_dir / "config.json").read_text())
    assert config["config"]["k"] == 2 and config["seed"] == 0 and "jax" in config["versions"]
    sae = load_run_sae(sae_dir.parent)  # recommender from RUN/rec, bias-folded again
    assert sae.dim == 8 and sae.latents == 8
    z, _ = sae.encode_items()
    assert z.shape == (data.n_items, 8) and int(np.max(np.sum(np.asarray(z) > 0, axis=1))) <= 2
    recon = sae.reconstructed_two_tower()
    assert recon.item_emb.shape == sae.input_two_tower.item_emb.shape
    # rbo@30 of metrics.json, recomputed in NumPy from the saved SAE: TopK(2) tied SAE with row
    # normalization on both sides, top-30 lists without training positives, extrapolated RBO
    tt, p = sae.input_two_tower, {k: np.asarray(v, np.float64) for k, v in sae.side_params("user").items()}

    def recon_np(x):
        x = np.asarray(x, np.float64)
        mean = x.mean(axis=1, keepdims=True)
        scale = np.sqrt(((x - mean) ** 2).mean(axis=1, keepdims=True)) + 1e-5
        pre = ((x - mean) / scale - p["b_pre"]) @ p["W"] + p["b_lat"]
        keep = np.argsort(-pre, axis=1, kind="stable")[:, :2]
        z = np.zeros_like(pre)
        np.put_along_axis(z, keep, np.maximum(np.take_along_axis(pre, keep, axis=1), 0.0), axis=1)
        return (z @ p["W"].T + p["b_pre"]) * scale + mean

    users = np.asarray(sae.heldout_users)
    assert len(users) > 0 and metrics["n_fidelity_users"] == len(users)

    def top30(user_emb, item_emb):
        s = user_emb[users] @ item_emb.T + np.asarray(tt.item_bias)[None] + np.asarray(tt.user_bias)[users, None]
        for r, u in enumerate(users):
            s[r, data.train_indices[data.train_indptr[u]:data.train_indptr[u + 1]]] = -np.inf
        return np.argsort(-s, axis=1, kind="stable")[:, :30]

    u0, i0 = np.asarray(tt.user_emb, np.float64), np.asarray(tt.item_emb, np.float64)
    a, b = top30(u0, i0), top30(recon_np(u0), recon_np(i0))
    agree = np.array([[len(set(x[:d]) & set(y[:d])) / d for d in range(1, 31)] for x, y in zip(a, b)])
    want = float(np.mean(agree @ (0.1 * 0.9 ** np.arange(30)) + agree[:, -1] * 0.9 ** 30))
    assert 0.0 < want < 1.0 and metrics["rbo@30"] == pytest.approx(want, abs=1e-6)
