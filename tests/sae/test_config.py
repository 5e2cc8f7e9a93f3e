"""SAETrainConfig: validation before any work, paper presets, JSON round trip."""
import pytest

from jaxsae.errors import ConfigError
from jaxsae.sae import PRESETS, SAETrainConfig, from_preset


@pytest.mark.parametrize("changes, message", [
    (dict(latents=0), "latents must be >= 1"),
    (dict(sae="topk", k=30, latents=22), "k <= latents"),
    (dict(sae="topk", k=0), "1 <= k"),
    (dict(sae="matryoshka", latents=8, prefixes=(2, 2, 8)), "strictly increasing"),
    (dict(sae="matryoshka", latents=8, prefixes=(2, 4, 6)), "end at the number of latents 8"),
    (dict(sae="nope"), "unknown SAE"),
    (dict(w_emb=-0.1), "w_emb must be a finite non-negative"),
    (dict(w_kl=float("nan")), "w_kl must be a finite non-negative"),
    (dict(w_emb=0.0, w_pred=0.0), "both 0"),
    (dict(rho=0.0), r"rho must be in \(0, 1\)"),
    (dict(rho=1.0), r"rho must be in \(0, 1\)"),
    (dict(pred_loss="kl"), "pred_loss must be one of"),
    (dict(steps=0), "steps must be >= 1"),
    (dict(epochs=0), "epochs must be >= 1"),
    (dict(lr=0.0), "lr must be > 0"),
    (dict(devices=3, batch_size=256), "not divisible by 3 devices"),
    (dict(heldout_fraction=1.0), "heldout_fraction"),
])
def test_bad_configs_raise_config_error(changes, message):
    with pytest.raises(ConfigError, match=message):
        SAETrainConfig(**changes)


def test_defaults_are_the_paper_ml1m_mf_weights_with_a_converging_budget():
    c = SAETrainConfig()
    assert (c.sae, c.latents, c.w_emb, c.w_pred, c.w_kl, c.w_l1, c.rho) == ("tied", 22, 0.1, 1.0, 0.01, 0.0, 0.05)
    assert (c.batch_size, c.lr, c.heldout_fraction, c.steps, c.epochs) == (256, 1e-3, 0.2, 5000, None)
    assert c.total_steps(4832) == 5000


def test_paper_presets():
    assert set(PRESETS) == {"ml1m-mf", "ml1m-ncf", "lastfm-mf", "lastfm-matryoshka"}
    ncf = SAETrainConfig.ml1m_ncf()
    assert (ncf.w_emb, ncf.w_pred, ncf.w_kl, ncf.pred_loss) == (2.0, 10.0, 0.07, "bce")
    lfm = SAETrainConfig.lastfm_mf(paper_schedule=True)
    assert (lfm.latents, lfm.w_emb, lfm.w_l1, lfm.w_kl, lfm.rho, lfm.epochs) == (70, 8.0, 0.3, 0.003, 0.1, 30)
    mat = from_preset("lastfm-matryoshka", seed=3)
    assert (mat.sae, mat.latents, mat.prefixes, mat.w_pred, mat.seed) == ("matryoshka", 80, (20, 40, 80), 5.0, 3)
    # the paper counts epochs of user batches: ML-1M 18 x 24 = 432 steps
    assert SAETrainConfig.ml1m_mf(paper_schedule=True).total_steps(6039) == 432
    with pytest.raises(ConfigError, match="unknown SAE preset"):
        from_preset("ml-1m")


def test_dict_round_trip_and_unknown_keys():
    c = SAETrainConfig(sae="matryoshka", latents=8, prefixes=[2, 4, 8], fold_biases=True)
    assert c.prefixes == (2, 4, 8)
    assert SAETrainConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ConfigError, match="unknown SAE config keys: bogus"):
        SAETrainConfig.from_dict({**c.to_dict(), "bogus": 1})
