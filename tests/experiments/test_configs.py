"""Every shipped experiment config is valid against the real stage configs (`jaxsae.app.stages.<stage>.build`)."""
from __future__ import annotations

from pathlib import Path

import pytest

import jaxsae.app.pipeline as pl

CONFIGS = sorted(p.stem for p in (pl.CONFIG_DIR).glob("*.json"))
PAPER = {"ml1m-mf", "ml1m-ncf", "lastfm-mf", "lastfm-ncf", "lastfm-matryoshka"}


@pytest.mark.parametrize("name", CONFIGS)
def test_config_options_are_real_stage_options(name: str) -> None:
    cfg = pl.load_config(name)
    pl.check_options(cfg)  # each stage's own config dataclasses (k <= latents, types, ...)
    for variant in cfg.raw.get("variants") or {}:
        pl.check_options(pl.load_config(name, variant))


def test_paper_settings_present_with_paper_schedule() -> None:
    assert PAPER <= set(CONFIGS)
    weights = {"ml1m-mf": (0.1, 1.0, 0.01, 22), "ml1m-ncf": (2.0, 10.0, 0.07, 22), "lastfm-mf": (8.0, 1.0, 0.003, 70),
               "lastfm-matryoshka": (8.0, 5.0, 0.003, 80)}
    for name, (w_emb, w_pred, w_kl, h) in weights.items():
        sae = pl.load_config(name).stages["train_sae"]
        assert (sae["w_emb"], sae["w_pred"], sae["w_kl"], sae["latents"]) == (w_emb, w_pred, w_kl, h)
    assert pl.load_config("lastfm-matryoshka").stages["train_sae"]["prefixes"] == [20, 40, 80]
    epochs = {"ml1m-mf": 18, "ml1m-ncf": 18, "lastfm-mf": 30, "lastfm-matryoshka": 30}
    for name, n in epochs.items():
        paper = pl.load_config(name, "paper").stages["train_sae"]
        assert paper["epochs"] == n and "steps" not in paper
        assert pl.load_config(name).stages["train_sae"]["steps"] >= 5000  # the converging default
    rec = pl.load_config("ml1m-mf", "paper").stages["train_rec"]
    assert (rec["optimizer"], rec["lr"], rec["l2"], rec["batch_size"], rec["epochs"]) == ("sgd", 0.05, 0.01, 256, 10)


def test_seed_configs_are_their_base_config_with_other_seeds() -> None:
    import json

    for path in sorted((pl.CONFIG_DIR / "seeds").glob("*.json")):
        seeded = json.loads(path.read_text())
        base_name, seed = seeded["name"].rsplit("-s", 1)
        base = json.loads((pl.CONFIG_DIR / f"{base_name}.json").read_text())
        assert seeded["train_rec"].pop("seed") == seeded["train_sae"].pop("seed") == int(seed)
        assert seeded["ablate"].pop("seeds") == seed
        for key in ("name", "description"):
            seeded.pop(key), base.pop(key)
        base.pop("variants")
        assert seeded == base, path.name
        pl.check_options(pl.load_config(str(path)))
