"""SAE architectures by name: adding one is a new file plus one line in `SAE_REGISTRY`, or, from outside code,
one call of `register_sae`.

A builder takes `(d, h, **options)` and returns a flax module with `encode(x) -> (z, stats)`,
`decode(z, stats) -> x_hat`, `decoder_matrix() -> [h, d]` and `__call__(x) -> SAEOutput` (`TiedSAE` shows the
contract; subclassing it is the easy way). Options every builder accepts: `k`, `prefixes`, `normalize`, `tied`
(and the reference switches `ddof`, `pre_bias`, `latent_bias_init`); each uses the ones it needs and validates them
(`ConfigError` before any work). A registered architecture trains with `train_sae`, is read by `analyze` and
steered by the interventions like the built-in ones.
`BATCH_SAES` select latents over the whole batch in training (their module has `batch_training`, which the
trainer switches on); `SPARSE_K_SAES` are the kinds whose `k` bounds the active latents.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Sequence

import flax.linen as nn

from jaxsae.errors import ConfigError
from jaxsae.sae._batchtopk import BatchTopKSAE, MatryoshkaBatchTopKSAE
from jaxsae.sae._matryoshka import MatryoshkaSAE, resolve_prefixes
from jaxsae.sae._tied import TiedSAE


def build_tied(d: int, h: int, k: int = 0, prefixes: Optional[Sequence[int]] = None,
               normalize: bool = True, tied: bool = True, **reference: Any) -> nn.Module:
    """The paper's ReLU SAE (`reference`: `ddof`, `pre_bias`, `latent_bias_init`, see `TiedSAE`)."""
    del k, prefixes
    return TiedSAE(d=d, h=h, activation="relu", normalize=normalize, tied=tied, **reference)


def build_topk(d: int, h: int, k: int = 4, prefixes: Optional[Sequence[int]] = None,
               normalize: bool = True, tied: bool = True, **reference: Any) -> nn.Module:
    """TopK SAE: exactly k latents kept per row (best measured purity)."""
    del prefixes
    return TiedSAE(d=d, h=h, activation="topk", k=k, normalize=normalize, tied=tied, **reference)


def build_matryoshka(d: int, h: int, k: int = 0, prefixes: Optional[Sequence[int]] = None,
                     normalize: bool = True, tied: bool = True, **reference: Any) -> nn.Module:
    """Matryoshka ReLU SAE with nested prefixes (default `[h/4, h/2, h]`)."""
    del k
    return MatryoshkaSAE(d=d, h=h, activation="relu", normalize=normalize, tied=tied,
                         prefixes=resolve_prefixes(prefixes, h), **reference)


def build_batchtopk(d: int, h: int, k: int = 4, prefixes: Optional[Sequence[int]] = None,
                    normalize: bool = True, tied: bool = True, **reference: Any) -> nn.Module:
    """BatchTopK SAE: k x B latents over the batch in training, per-latent thresholds at inference."""
    del prefixes
    return BatchTopKSAE(d=d, h=h, k=k, normalize=normalize, tied=tied, **reference)


def build_matryoshka_batchtopk(d: int, h: int, k: int = 4, prefixes: Optional[Sequence[int]] = None,
                               normalize: bool = True, tied: bool = True, **reference: Any) -> nn.Module:
    """Matryoshka-BatchTopK: BatchTopK latents, every prefix (default `[h/4, h/2, h]`) decoded and trained."""
    return MatryoshkaBatchTopKSAE(d=d, h=h, k=k, normalize=normalize, tied=tied,
                                  prefixes=resolve_prefixes(prefixes, h), **reference)


SAE_REGISTRY: Dict[str, Callable[..., nn.Module]] = {
    "tied": build_tied,
    "topk": build_topk,
    "matryoshka": build_matryoshka,
    "batchtopk": build_batchtopk,
    "matryoshka_batchtopk": build_matryoshka_batchtopk,
}
SPARSE_K_SAES = ("topk", "batchtopk", "matryoshka_batchtopk")  # kinds whose k bounds the active latents
BATCH_SAES = ("batchtopk", "matryoshka_batchtopk")


def register_sae(name: str, builder: Callable[..., nn.Module], *, replace: bool = False) -> None:
    """Make `builder` available as `SAETrainConfig(sae=name)` (and `--sae name` for code that registers it before
    the command line is read). Refuses to shadow an existing name unless `replace`."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"an SAE architecture needs a non-empty name, got {name!r}")
    if not callable(builder):
        raise ConfigError(f"the builder of SAE {name!r} must be callable (d, h, **options) -> flax module")
    if name in SAE_REGISTRY and not replace:
        raise ConfigError(f"SAE {name!r} is already registered; pass replace=True to replace it")
    SAE_REGISTRY[name] = builder


def make_sae(name: str, d: int, h: int, **options: Any) -> nn.Module:
    """Build the SAE architecture called `name` for inputs of dimension d with h latents."""
    if name not in SAE_REGISTRY:
        raise ConfigError(f"unknown SAE {name!r}; known: {', '.join(SAE_REGISTRY)}")
    return SAE_REGISTRY[name](d, h, **options)
