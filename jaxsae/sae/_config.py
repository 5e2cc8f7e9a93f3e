"""The SAE run's configuration, in the groups a compiled program and a reader care about, each validated.

    SAETrainConfig
      arch       SAEArchitecture     what the SAE is: kind, latents, k, prefixes, normalization, tying, sharing,
                                     and the input space it reads (bias folding, side balancing)
      objective  SAEObjective        what it minimizes: the loss weights and rho (array arguments of the compiled
                                     step, so runs differing only there share one program) and the loss's kind
      training   SAETraining         how it is trained: steps or epochs, batch, lr, seed, devices, held-out users,
                                     logging and checkpoints
      reference  ReferenceSwitches   the paper's reference code, each difference a named switch (docs/REFERENCE.md)

`SAETrainConfig(latents=64, k=8, w_pred=5)` takes the fields flat (every field name is unique across the groups,
and is the CLI flag and the pipeline config key); `config.arch.latents` and the flat `config.latents` read the same
field. `to_dict` / `from_dict` use the flat names (checkpoints and run records stay readable across versions).
`static_part()` is the config with every field that does not change the compiled training program set to a fixed
value: what jit caches and the vmapped grid share programs by.

Defaults are the paper's ML-1M MF loss weights with a step budget that converges; the paper settings are named
constructors (`SAETrainConfig.ml1m_mf()`, ..., or `from_preset(name)`), each with `paper_schedule=True` for the
paper's literal epoch count.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, ClassVar, Dict, Mapping, Optional, Sequence, Tuple

from jaxsae.errors import ConfigError
from jaxsae.sae._registry import SAE_REGISTRY
from jaxsae.sae._registry import SPARSE_K_SAES
from jaxsae.sae._matryoshka import resolve_prefixes

PRED_LOSSES = ("mse", "bce", "listwise", "mse_prob")
PRED_LEVELS = ("full", "all")
INPUT_SCALINGS = ("none", "batch_minmax")
LATENT_BIAS_INITS = ("zeros", "torch_linear")
PAIRS = ("random", "positives")
SCHEDULES = ("stream", "drop_last", "zip")


def _check_choice(name: str, value: Any, allowed: Sequence[Any]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(map(str, allowed))}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class SAEArchitecture:
    """What the SAE is, and the input space it reads. Every field shapes the compiled program except the two
    input-space switches (`fold_biases`, `balance_sides`), which change the data it is fed."""

    OPTION_SWITCHES: ClassVar[Mapping[str, Tuple[str, Any]]] = {"untied": ("tied", False), "separate": ("shared", False)}

    sae: str = "tied"  # architecture in jaxsae.sae._registry.SAE_REGISTRY: "tied" (ReLU), "topk", "matryoshka", "batchtopk", "matryoshka_batchtopk"
    latents: int = 22  # h, number of latents (paper: 22 for ML-1M d=20)
    k: int = 4  # active latents per row for "topk" (must be <= latents)
    k_user: Optional[int] = None  # topk: active latents per USER row (None = k); items, which concepts are read from, keep k
    prefixes: Optional[Tuple[int, ...]] = None  # Matryoshka m_1 < ... < m_L = latents; None = [h/4, h/2, h]
    normalize: bool = True  # per-row (x - mean) / (std + eps) before encoding, undone after decoding
    tied: bool = True  # decoder = encoder^T (paper); False = separate unit-norm decoder rows
    shared: bool = True  # one SAE for users and items (a neuron means the same in both); False: two
    fold_biases: bool = False  # MF only: SAE sees [p_u, 1, b_u] and [q_i, b_i, 1] (covers the biases)
    balance_sides: bool = True  # MF: users x c, items / c (every logit unchanged), c = sqrt(mean|q_i| / mean|p_u|); c = 1 within 1.5x
    dense_latents: int = 0  # latents [0, dense_latents) outside the sparsity rule (ReLU only; not counted in k)

    def __post_init__(self) -> None:

        if self.sae not in SAE_REGISTRY:
            raise ConfigError(f"unknown SAE {self.sae!r}; known: {', '.join(SAE_REGISTRY)}")
        if self.latents < 1:
            raise ConfigError(f"latents must be >= 1, got {self.latents}")

        if self.sae in SPARSE_K_SAES and not 1 <= self.k <= self.latents - self.dense_latents:
            raise ConfigError(f"TopK needs 1 <= k <= latents - dense_latents, got k={self.k}, "
                              f"latents={self.latents}, dense_latents={self.dense_latents} (sae {self.sae!r})")
        if not 0 <= self.dense_latents < self.latents:
            raise ConfigError(f"dense_latents must be in [0, latents), got {self.dense_latents}")
        if self.k_user is not None and (self.sae != "topk" or not 1 <= self.k_user <= self.latents):
            raise ConfigError(f"k_user needs a topk SAE and 1 <= k_user <= latents, got k_user={self.k_user}, "
                              f"sae={self.sae!r}, latents={self.latents}")
        if self.k < 0:
            raise ConfigError(f"k must be >= 0, got {self.k}")
        if self.prefixes is not None:
            object.__setattr__(self, "prefixes", tuple(int(m) for m in self.prefixes))
        if self.sae in ("matryoshka", "matryoshka_batchtopk"):

            resolve_prefixes(self.prefixes, self.latents)

    def static_part(self) -> "SAEArchitecture":
        """Without the input-space switches (they change the data and its dimension, not the program's code)."""
        return dataclasses.replace(self, fold_biases=False, balance_sides=False)


@dataclasses.dataclass(frozen=True)
class SAEObjective:
    """What the SAE minimizes: `w_emb * emb + w_pred * pred + w_kl * kl + w_l1 * l1` (`jaxsae.losses`). The weights
    and rho are array arguments of the compiled step (`LossWeights`); the loss's kind and its settings are static."""

    OPTION_CHOICES: ClassVar[Mapping[str, Sequence[Any]]] = {"pred_loss": PRED_LOSSES, "pred_levels": PRED_LEVELS}
    WEIGHTS: ClassVar[Tuple[str, ...]] = ("w_emb", "w_pred", "w_kl", "w_l1", "rho")

    w_emb: float = 0.1  # weight of the embedding reconstruction MSE (users + items)
    w_pred: float = 1.0  # weight of the prediction-aware loss through the frozen recommender
    w_kl: float = 0.01  # weight of the KL sparsity penalty (users + items)
    w_l1: float = 0.0  # weight of the L1 penalty mean|z| (users + items)
    rho: float = 0.05  # KL target mean activation, in (0, 1)
    pred_loss: str = "mse"  # "mse" on logits (MF: the exact Gram form over the batch cross product), "bce" of sigmoids (paired rows, NCF), "mse_prob" on sigmoids (reference Last.fm NCF), or "listwise": KL of each user's softmax over all items
    pred_levels: str = "full"  # Matryoshka: prediction loss on the "full" reconstruction (the paper's reference) or summed over "all" levels
    listwise_temperature: float = 1.0  # "listwise": softmax temperature in units of each user's score std
    listwise_items: int = 4096  # "listwise": items scored per step; a larger catalogue is scored on a fresh random subset of this many each step
    aux_k: int = 0  # AuxK: dead latents (no firing in the step's batch) reconstructing the residual, top aux_k of them (0: off; Gao et al.: d/2)
    w_aux: float = 1.0 / 32.0  # weight of the AuxK loss

    def __post_init__(self) -> None:
        for name in ("w_emb", "w_pred", "w_kl", "w_l1"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ConfigError(f"{name} must be a finite non-negative number, got {v}")
        if self.w_emb + self.w_pred == 0:
            raise ConfigError("w_emb and w_pred are both 0: nothing asks the SAE to reconstruct anything")
        if not 0.0 < self.rho < 1.0:
            raise ConfigError(f"rho must be in (0, 1), got {self.rho}")
        _check_choice("pred_loss", self.pred_loss, PRED_LOSSES)
        _check_choice("pred_levels", self.pred_levels, PRED_LEVELS)
        if not (math.isfinite(self.listwise_temperature) and self.listwise_temperature > 0):
            raise ConfigError(f"listwise_temperature must be > 0, got {self.listwise_temperature}")
        if self.listwise_items < 2:
            raise ConfigError(f"listwise_items must be >= 2, got {self.listwise_items}")
        if self.aux_k < 0:
            raise ConfigError(f"aux_k must be in [0, latents], got {self.aux_k}")
        if not (math.isfinite(self.w_aux) and self.w_aux >= 0):
            raise ConfigError(f"w_aux must be a finite non-negative number, got {self.w_aux}")

    def static_part(self) -> "SAEObjective":
        """The weights at fixed values (they are arguments of the compiled step, not part of its code)."""
        return dataclasses.replace(self, w_emb=1.0, w_pred=1.0, w_kl=0.0, w_l1=0.0, rho=0.5)


@dataclasses.dataclass(frozen=True)
class SAETraining:
    """How the SAE is trained. Only `lr` (baked into the optimizer) shapes the compiled program; the rest is the
    data it is fed and what the driver does around it."""

    steps: int = 5000  # optimizer steps (ignored when `epochs` is set)
    epochs: Optional[int] = None  # paper-style budget: epochs over the training users' batches
    batch_size: int = 256  # users per step, each paired with one item (B users x B items)
    lr: float = 1e-3  # Adam learning rate
    seed: int = 0  # parameter init, held-out users and batch order
    devices: int = 1  # data-parallel devices (pmap); 0 = all local devices
    heldout_fraction: float = 0.2  # share of users never trained on, used for fidelity
    log_every: int = 250  # steps per logging window (history row, dead-fraction window)
    checkpoint_every: int = 1000  # steps between checkpoints (and at the end)

    def __post_init__(self) -> None:
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

    def static_part(self) -> "SAETraining":
        """Only the learning rate."""
        return SAETraining(lr=self.lr)


@dataclasses.dataclass(frozen=True)
class ReferenceSwitches:
    """The paper's reference code, each difference from jaxsae's defaults a named switch (docs/REFERENCE.md).
    `pairs` and `schedule` choose the batch order (data); the others shape the compiled program."""

    OPTION_CHOICES: ClassVar[Mapping[str, Sequence[Any]]] = {
        "input_scaling": INPUT_SCALINGS, "latent_bias_init": LATENT_BIAS_INITS, "pairs": PAIRS, "schedule": SCHEDULES,
        "std_ddof": (0, 1)}

    input_scaling: str = "none"  # "batch_minmax": every training batch min-max scaled per column to [0, 1] before the SAE (reference MF SAE); evaluation reads raw embeddings
    pre_bias: bool = True  # False: no b_pre, z = act(x W + b_lat), x_hat = z W^T (reference NCF SAE)
    latent_bias_init: str = "zeros"  # "torch_linear": b_lat ~ U(-1/sqrt(d), 1/sqrt(d)), PyTorch's nn.Linear default (reference NCF SAE)
    std_ddof: int = 0  # row normalization std divides by d - std_ddof (1: torch's x.std(), the reference)
    kl_log_eps: float = 0.0  # epsilon added inside both logs of the KL term (reference: 1e-6)
    pairs: str = "random"  # paired rows: "random" users with random items, or "positives": observed training positives of training users (reference ML-1M NCF SAE)
    schedule: str = "stream"  # batch order: "stream" (endless seeded permutations), "drop_last" (per-epoch loaders, last partial batch dropped, items cycled: the reference), "zip" (user and item loaders zipped without cycling: reference Matryoshka)

    def __post_init__(self) -> None:
        for name, allowed in (("input_scaling", INPUT_SCALINGS), ("latent_bias_init", LATENT_BIAS_INITS),
                              ("pairs", PAIRS), ("schedule", SCHEDULES)):
            _check_choice(name, getattr(self, name), allowed)
        if self.std_ddof not in (0, 1):
            raise ConfigError(f"std_ddof must be 0 or 1, got {self.std_ddof}")
        if not (math.isfinite(self.kl_log_eps) and 0.0 <= self.kl_log_eps < 0.01):
            raise ConfigError(f"kl_log_eps must be in [0, 0.01), got {self.kl_log_eps}")
        if self.pairs == "positives" and self.schedule == "zip":
            raise ConfigError("schedule 'zip' pairs user and item loaders; it cannot be combined with pairs='positives'")

    def static_part(self) -> "ReferenceSwitches":
        """Without the batch-order switches (data, not code)."""
        return dataclasses.replace(self, pairs="random", schedule="stream")


GROUPS: Tuple[Tuple[str, type], ...] = (("arch", SAEArchitecture), ("objective", SAEObjective),
                                        ("training", SAETraining), ("reference", ReferenceSwitches))
FIELD_GROUP: Dict[str, str] = {f.name: g for g, cls in GROUPS for f in dataclasses.fields(cls)}
FIELDS: Tuple[str, ...] = tuple(FIELD_GROUP)  # every flat field name, in group order


@dataclasses.dataclass(frozen=True, init=False)
class SAETrainConfig:
    """An SAE run: `arch`, `objective`, `training` and `reference` (see the module docstring). Built from the groups,
    from flat field names, or both (`SAETrainConfig(arch=a, w_pred=5)`); flat names read through to their group."""

    arch: SAEArchitecture
    objective: SAEObjective
    training: SAETraining
    reference: ReferenceSwitches

    def __init__(self, arch: Optional[SAEArchitecture] = None, objective: Optional[SAEObjective] = None,
                 training: Optional[SAETraining] = None, reference: Optional[ReferenceSwitches] = None,
                 **fields: Any) -> None:
        unknown = sorted(set(fields) - set(FIELD_GROUP))
        if unknown:
            raise ConfigError(f"unknown SAE config keys: {', '.join(unknown)}")
        given = {"arch": arch, "objective": objective, "training": training, "reference": reference}
        for group, cls in GROUPS:
            mine = {k: v for k, v in fields.items() if FIELD_GROUP[k] == group}
            base = given[group]
            if base is None:
                value = cls(**mine)
            elif not isinstance(base, cls):
                raise ConfigError(f"{group} must be a {cls.__name__}, got {type(base).__name__}")
            else:
                value = dataclasses.replace(base, **mine) if mine else base
            object.__setattr__(self, group, value)
        if self.aux_k > self.latents:  # the one check across groups
            raise ConfigError(f"aux_k must be in [0, latents], got {self.aux_k}")

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

    def static_part(self) -> "SAETrainConfig":
        """Every field that does not change the compiled training program at a fixed value (the loss weights live
        in the state; steps, seed, batch order and the input space are data), so runs differing only there share
        one program."""
        return SAETrainConfig(arch=self.arch.static_part(), objective=self.objective.static_part(),
                              training=self.training.static_part(), reference=self.reference.static_part())

    def replace(self, **changes: Any) -> "SAETrainConfig":
        """A copy with fields (flat names, or whole groups) changed, validated again."""
        groups = {g: changes.pop(g, getattr(self, g)) for g, _ in GROUPS}
        return SAETrainConfig(**groups, **changes)

    def to_dict(self) -> Dict[str, Any]:
        """Flat `{field: value}` (lists for tuples), the format of checkpoints and run records."""
        out = {name: getattr(self, name) for name in FIELDS}
        out["prefixes"] = None if self.prefixes is None else list(self.prefixes)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SAETrainConfig":
        """Inverse of `to_dict`; also takes the nested form `{"arch": {...}, ...}`. Unknown keys are an error,
        so stale configs are noticed."""
        flat: Dict[str, Any] = {}
        for key, value in d.items():
            if key in dict(GROUPS) and isinstance(value, Mapping):
                flat.update(value)
            else:
                flat[key] = value
        if flat.get("prefixes") is not None:
            flat["prefixes"] = tuple(flat["prefixes"])
        return cls(**flat)

    # ---- paper settings ------------------------------------------------------------------------
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


def _read_through(name: str, group: str) -> property:
    return property(lambda self: getattr(getattr(self, group), name),
                    doc=f"`{group}.{name}` (flat read; the field lives in `SAETrainConfig.{group}`).")


for _name, _group in FIELD_GROUP.items():
    setattr(SAETrainConfig, _name, _read_through(_name, _group))


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
