"""`SAETrainConfig`: everything that defines an SAE training run, validated before any work.

Defaults are the paper's ML-1M MF loss weights with a step budget that converges; the paper settings are named constructors (`SAETrainConfig.ml1m_mf()`, ...,
or `from_preset(name)`), each with `paper_schedule=True` for the paper's literal epoch count.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, ClassVar, Dict, Mapping, Optional, Sequence, Tuple

from jaxsae.errors import ConfigError

PRED_LOSSES = ("mse", "bce", "listwise", "mse_prob")
PRED_LEVELS = ("full", "all")
INPUT_SCALINGS = ("none", "batch_minmax")
LATENT_BIAS_INITS = ("zeros", "torch_linear")
PAIRS = ("random", "positives")
SCHEDULES = ("stream", "drop_last", "zip")


@dataclasses.dataclass(frozen=True)
class SAETrainConfig:
    """Architecture, objective and schedule of an SAE run."""

    # how the fields appear as options (`jaxsae.app.options`: `jaxsae train-sae` flags, pipeline `train_sae` keys)
    OPTION_CHOICES: ClassVar[Mapping[str, Sequence[Any]]] = {
        "pred_loss": PRED_LOSSES, "pred_levels": PRED_LEVELS, "input_scaling": INPUT_SCALINGS,
        "latent_bias_init": LATENT_BIAS_INITS, "pairs": PAIRS, "schedule": SCHEDULES, "std_ddof": (0, 1)}
    OPTION_SWITCHES: ClassVar[Mapping[str, Tuple[str, Any]]] = {"untied": ("tied", False), "separate": ("shared", False)}

    sae: str = "tied"  # architecture in jaxsae.sae.registry.SAE_REGISTRY: "tied" (ReLU), "topk", "matryoshka", "batchtopk", "matryoshka_batchtopk"
    latents: int = 22  # h, number of latents (paper: 22 for ML-1M d=20)
    k: int = 4  # active latents per row for "topk" (must be <= latents)
    prefixes: Optional[Tuple[int, ...]] = None  # Matryoshka m_1 < ... < m_L = latents; None = [h/4, h/2, h]
    normalize: bool = True  # per-row (x - mean) / (std + eps) before encoding, undone after decoding
    tied: bool = True  # decoder = encoder^T (paper); False = separate unit-norm decoder rows
    w_emb: float = 0.1  # weight of the embedding reconstruction MSE (users + items)
    w_pred: float = 1.0  # weight of the prediction-aware loss through the frozen recommender
    w_kl: float = 0.01  # weight of the KL sparsity penalty (users + items)
    w_l1: float = 0.0  # weight of the L1 penalty mean|z| (users + items)
    rho: float = 0.05  # KL target mean activation, in (0, 1)
    pred_loss: str = "mse"  # "mse" on logits (MF: the exact Gram form over the batch cross product), "bce" of sigmoids (paired rows, NCF), "mse_prob" on sigmoids (reference Last.fm NCF), or "listwise": KL of each user's softmax over all items
    pred_levels: str = "full"  # Matryoshka: prediction loss on the "full" reconstruction (the paper's reference) or summed over "all" levels
    steps: int = 5000  # optimizer steps (ignored when `epochs` is set)
    epochs: Optional[int] = None  # paper-style budget: epochs over the training users' batches
    batch_size: int = 256  # users per step, each paired with one item (B users x B items)
    lr: float = 1e-3  # Adam learning rate
    seed: int = 0  # parameter init, held-out users and batch order
    devices: int = 1  # data-parallel devices (pmap); 0 = all local devices
    fold_biases: bool = False  # MF only: SAE sees [p_u, 1, b_u] and [q_i, b_i, 1] (covers the biases)
    shared: bool = True  # one SAE for users and items (a neuron means the same in both); False: two
    heldout_fraction: float = 0.2  # share of users never trained on, used for fidelity
    log_every: int = 250  # steps per logging window (history row, dead-fraction window)
    checkpoint_every: int = 1000  # steps between checkpoints (and at the end)
    # ---- fidelity-aware objective
    listwise_temperature: float = 1.0  # "listwise": softmax temperature in units of each user's score std
    listwise_items: int = 4096  # "listwise": items scored per step; a larger catalogue is scored on a fresh random subset of this many each step
    k_user: Optional[int] = None  # topk: active latents per USER row (None = k); items, which concepts are read from, keep k
    # ---- bring your own recommender
    balance_sides: bool = True  # MF: users x c, items / c (every logit unchanged), c = sqrt(mean|q_i| / mean|p_u|); c = 1 within 1.5x
    # ---- the paper's reference code, each difference a named option (docs/REFERENCE.md) ----
    input_scaling: str = "none"  # "batch_minmax": every training batch min-max scaled per column to [0, 1] before the SAE (reference MF SAE); evaluation reads raw embeddings
    pre_bias: bool = True  # False: no b_pre, z = act(x W + b_lat), x_hat = z W^T (reference NCF SAE)
    latent_bias_init: str = "zeros"  # "torch_linear": b_lat ~ U(-1/sqrt(d), 1/sqrt(d)), PyTorch's nn.Linear default (reference NCF SAE)
    std_ddof: int = 0  # row normalization std divides by d - std_ddof (1: torch's x.std(), the reference)
    kl_log_eps: float = 0.0  # epsilon added inside both logs of the KL term (reference: 1e-6)
    pairs: str = "random"  # paired rows: "random" users with random items, or "positives": observed training positives of training users (reference ML-1M NCF SAE)
    schedule: str = "stream"  # batch order: "stream" (endless seeded permutations), "drop_last" (per-epoch loaders, last partial batch dropped, items cycled: the reference), "zip" (user and item loaders zipped without cycling: reference Matryoshka)
    # ---- wide sparse dictionaries: AuxK and the dense block (BatchTopK kinds are `sae` names)
    aux_k: int = 0  # AuxK: dead latents (no firing in the step's batch) reconstructing the residual, top aux_k of them (0: off; Gao et al.: d/2)
    w_aux: float = 1.0 / 32.0  # weight of the AuxK loss
    dense_latents: int = 0  # latents [0, dense_latents) outside the sparsity rule (ReLU only; not counted in k)

    def __post_init__(self) -> None:
        from jaxsae.sae.registry import SAE_REGISTRY

        if self.sae not in SAE_REGISTRY:
            raise ConfigError(f"unknown SAE {self.sae!r}; known: {', '.join(SAE_REGISTRY)}")
        if self.latents < 1:
            raise ConfigError(f"latents must be >= 1, got {self.latents}")
        from jaxsae.sae.registry import SPARSE_K_SAES

        if self.sae in SPARSE_K_SAES and not 1 <= self.k <= self.latents - self.dense_latents:
            raise ConfigError(f"TopK needs 1 <= k <= latents - dense_latents, got k={self.k}, "
                              f"latents={self.latents}, dense_latents={self.dense_latents} (sae {self.sae!r})")
        if not 0 <= self.dense_latents < self.latents:
            raise ConfigError(f"dense_latents must be in [0, latents), got {self.dense_latents}")
        if not 0 <= self.aux_k <= self.latents:
            raise ConfigError(f"aux_k must be in [0, latents], got {self.aux_k}")
        if not (math.isfinite(self.w_aux) and self.w_aux >= 0):
            raise ConfigError(f"w_aux must be a finite non-negative number, got {self.w_aux}")
        if self.k_user is not None and (self.sae != "topk" or not 1 <= self.k_user <= self.latents):
            raise ConfigError(f"k_user needs a topk SAE and 1 <= k_user <= latents, got k_user={self.k_user}, "
                              f"sae={self.sae!r}, latents={self.latents}")
        if self.k < 0:
            raise ConfigError(f"k must be >= 0, got {self.k}")
        if self.prefixes is not None:
            object.__setattr__(self, "prefixes", tuple(int(m) for m in self.prefixes))
        if self.sae in ("matryoshka", "matryoshka_batchtopk"):
            from jaxsae.sae.matryoshka import resolve_prefixes

            resolve_prefixes(self.prefixes, self.latents)
        for name in ("w_emb", "w_pred", "w_kl", "w_l1"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ConfigError(f"{name} must be a finite non-negative number, got {v}")
        if self.w_emb + self.w_pred == 0:
            raise ConfigError("w_emb and w_pred are both 0: nothing asks the SAE to reconstruct anything")
        if not 0.0 < self.rho < 1.0:
            raise ConfigError(f"rho must be in (0, 1), got {self.rho}")
        if self.pred_loss not in PRED_LOSSES:
            raise ConfigError(f"pred_loss must be one of {', '.join(PRED_LOSSES)}, got {self.pred_loss!r}")
        if self.pred_levels not in PRED_LEVELS:
            raise ConfigError(f"pred_levels must be one of {', '.join(PRED_LEVELS)}, got {self.pred_levels!r}")
        if not (math.isfinite(self.listwise_temperature) and self.listwise_temperature > 0):
            raise ConfigError(f"listwise_temperature must be > 0, got {self.listwise_temperature}")
        if self.listwise_items < 2:
            raise ConfigError(f"listwise_items must be >= 2, got {self.listwise_items}")
        if self.steps < 1:
            raise ConfigError(f"steps must be >= 1, got {self.steps}")
        if self.epochs is not None and self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.devices < 0:
            raise ConfigError(f"devices must be >= 0 (0 = all local devices), got {self.devices}")
        if self.devices > 1 and self.batch_size % self.devices:
            raise ConfigError(f"batch_size {self.batch_size} is not divisible by {self.devices} devices")
        if not 0.0 <= self.heldout_fraction < 1.0:
            raise ConfigError(f"heldout_fraction must be in [0, 1), got {self.heldout_fraction}")
        if self.log_every < 1 or self.checkpoint_every < 1:
            raise ConfigError("log_every and checkpoint_every must be >= 1")
        _check_reference_options(self)

    # ---- derived -------------------------------------------------------------------------------
    def total_steps(self, n_train_users: int, n_items: Optional[int] = None, n_pairs: Optional[int] = None) -> int:
        """Steps of the run: `steps`, or `epochs` x the steps per epoch of `schedule` (`steps_per_epoch`)."""
        if self.epochs is None:
            return self.steps
        return self.epochs * self.steps_per_epoch(n_train_users, n_items, n_pairs)

    def steps_per_epoch(self, n_train_users: int, n_items: Optional[int] = None, n_pairs: Optional[int] = None) -> int:
        """Batches in one epoch: `ceil(n / B)` ("stream"), `floor(n / B)` ("drop_last"), or
        `min(ceil(n_users / B), ceil(n_items / B))` ("zip"); n = training users, or their positive pairs
        with `pairs="positives"`."""
        n = n_train_users
        if self.pairs == "positives":
            if n_pairs is None:
                raise ConfigError("pairs='positives' needs the training positives (pass the data)")
            n = n_pairs
        b = self.batch_size
        if self.schedule == "stream":
            return max(1, math.ceil(n / b))
        if n < b or (self.schedule == "drop_last" and self.pairs == "random" and n_items is not None and n_items < b):
            raise ConfigError(f"schedule {self.schedule!r} with batch_size {b}: fewer than {b} rows to batch "
                              f"({n} {'pairs' if self.pairs == 'positives' else 'training users'}, {n_items} items)")
        if self.schedule == "drop_last":
            return n // b
        if n_items is None:
            raise ConfigError("schedule 'zip' needs the number of items")
        return min(math.ceil(n / b), math.ceil(n_items / b))

    @property
    def user_k(self) -> int:
        """Active latents per user row (`k_user`, else `k`)."""
        return self.k if self.k_user is None else int(self.k_user)

    def replace(self, **changes: Any) -> "SAETrainConfig":
        """A copy with fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d["prefixes"] = None if self.prefixes is None else list(self.prefixes)
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "SAETrainConfig":
        """Inverse of `to_dict` (unknown keys are an error, so stale configs are noticed)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"unknown SAE config keys: {', '.join(unknown)}")
        d = dict(d)
        if d.get("prefixes") is not None:
            d["prefixes"] = tuple(d["prefixes"])
        return cls(**d)

    # ---- paper settings ------------------------------------------------------------
    @classmethod
    def ml1m_mf(cls, paper_schedule: bool = False, **overrides: Any) -> "SAETrainConfig":
        """ML-1M MF: 20 -> 22 ReLU, w_emb 0.1, w_pred 1, w_kl 0.01, rho 0.05 (paper: 18 epochs)."""
        base = dict(sae="tied", latents=22, w_emb=0.1, w_pred=1.0, w_kl=0.01, w_l1=0.0, rho=0.05, pred_loss="mse")
        return cls(**_schedule(base, 18, paper_schedule, overrides))

    @classmethod
    def ml1m_ncf(cls, paper_schedule: bool = False, **overrides: Any) -> "SAETrainConfig":
        """ML-1M NCF: 20 -> 22 ReLU, w_emb 2, w_pred 10 (BCE of sigmoids), w_kl 0.07, rho 0.05 (18 epochs)."""
        base = dict(sae="tied", latents=22, w_emb=2.0, w_pred=10.0, w_kl=0.07, w_l1=0.0, rho=0.05, pred_loss="bce")
        return cls(**_schedule(base, 18, paper_schedule, overrides))

    @classmethod
    def lastfm_mf(cls, paper_schedule: bool = False, **overrides: Any) -> "SAETrainConfig":
        """Last.FM MF: 100 -> 70 ReLU, w_emb 8, w_pred 1, w_l1 0.3, w_kl 0.003, rho 0.1 (30 epochs)."""
        base = dict(sae="tied", latents=70, w_emb=8.0, w_pred=1.0, w_kl=0.003, w_l1=0.3, rho=0.1, pred_loss="mse")
        return cls(**_schedule(base, 30, paper_schedule, overrides))

    @classmethod
    def lastfm_matryoshka(cls, paper_schedule: bool = False, **overrides: Any) -> "SAETrainConfig":
        """Last.FM Matryoshka: 100 -> 80, prefixes [20, 40, 80], w_emb 8, w_pred 5, w_l1 0.3, w_kl 0.003, rho 0.1."""
        base = dict(sae="matryoshka", latents=80, prefixes=(20, 40, 80), w_emb=8.0, w_pred=5.0, w_kl=0.003,
                    w_l1=0.3, rho=0.1, pred_loss="mse")
        return cls(**_schedule(base, 30, paper_schedule, overrides))




def _check_reference_options(c: SAETrainConfig) -> None:
    """Validate the issue-11 reference options (ConfigError before any work)."""
    for name, allowed in (("input_scaling", INPUT_SCALINGS), ("latent_bias_init", LATENT_BIAS_INITS),
                          ("pairs", PAIRS), ("schedule", SCHEDULES)):
        if getattr(c, name) not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {getattr(c, name)!r}")
    if c.std_ddof not in (0, 1):
        raise ConfigError(f"std_ddof must be 0 or 1, got {c.std_ddof}")
    if not (math.isfinite(c.kl_log_eps) and 0.0 <= c.kl_log_eps < 0.01):
        raise ConfigError(f"kl_log_eps must be in [0, 0.01), got {c.kl_log_eps}")
    if c.pairs == "positives" and c.schedule == "zip":
        raise ConfigError("schedule 'zip' pairs user and item loaders; it cannot be combined with pairs='positives'")


def _schedule(base: Dict[str, Any], paper_epochs: int, paper_schedule: bool, overrides: Dict[str, Any]) -> Dict[str, Any]:
    out = dict(base)
    if paper_schedule:
        out["epochs"] = paper_epochs
    out.update(overrides)
    return out


PRESETS: Dict[str, Callable[..., SAETrainConfig]] = {
    "ml1m-mf": SAETrainConfig.ml1m_mf,
    "ml1m-ncf": SAETrainConfig.ml1m_ncf,
    "lastfm-mf": SAETrainConfig.lastfm_mf,
    "lastfm-matryoshka": SAETrainConfig.lastfm_matryoshka,
}


def from_preset(name: str, paper_schedule: bool = False, **overrides: Any) -> SAETrainConfig:
    """The paper setting called `name` (see `PRESETS`), with fields overridden."""
    if name not in PRESETS:
        raise ConfigError(f"unknown SAE preset {name!r}; known: {', '.join(PRESETS)}")
    return PRESETS[name](paper_schedule=paper_schedule, **overrides)
