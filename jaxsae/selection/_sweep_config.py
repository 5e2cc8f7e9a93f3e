"""`SweepConfig` and the built-in grids: what a sweep trains and how it chooses (`jaxsae.selection._sweep`).

A grid is axes over any `SAETrainConfig` fields (cross products, unioned) on a base config, times several
init seeds; the config also holds the validation split and the selection rule's thresholds.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path
from typing import Any, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple

from jaxsae.errors import ConfigError
from jaxsae.sae import FIELDS as SAE_FIELDS, PRED_LOSSES, SAETrainConfig
from jaxsae.sae import SPARSE_K_SAES

# fields a grid may not vary: they would move users between the splits or only change logging
FIXED_FIELDS = ("seed", "heldout_fraction", "devices", "log_every", "checkpoint_every")
FINALS = ("reuse", "retrain")
# The sweep's base: the setting family that measured best on ML-100k (prototype): one shared
# tied TopK SAE on bias-folded MF inputs without row normalization, embedding + prediction loss only.
SWEEP_BASE: Dict[str, Any] = {"sae": "topk", "latents": 64, "k": 8, "fold_biases": True, "normalize": False,
                              "w_emb": 0.1, "w_pred": 1.0, "w_kl": 0.0, "w_l1": 0.0, "steps": 3000}


def _pred_losses() -> List[str]:
    """The prediction losses of the default grid: the paper's MSE, plus the listwise loss when available."""
    return ["mse"] + [p for p in ("listwise",) if p in PRED_LOSSES]


GRID_NAMES = ("default", "large", "sparse")


def named_grid(name: str) -> Dict[str, Any]:
    """The built-in grids: "default" (cheap enough for `make demo` and for `jaxsae run` without options),
    "large" and "sparse".

    `default`: TopK at h = 256 (4x the recommender's d = 64), k in {16, 24} (density 0.0625 and 0.094,
    under the rule's `max_density` 0.10), and k = 16 beside a dense block of 4 latents (density 0.078), under
    the exact MSE prediction loss, 2 seeds: three programs of two vmapped runs. Chosen on the previous
    round's one-seed frontier (HetRec Last.fm, ML-100k, synthetic): at h = 64 every k >= 8 is denser than
    0.10 (k = 24-32, the old default's usual pick, fires half the dictionary on every item), h = 256 with a
    moderate k isolated 3-4x the clear concepts on HetRec, and the dense block was the one lever that raised
    fidelity at low density. Checked with 2 seeds on ML-100k, HetRec, ml-latest-small, ML-1M and synthetic
    (docs/CONCEPTS.md): the rule picks the dense-block setting on the four real datasets (HetRec: 20-24
    clear concepts, 20 of 33 probe-clear; ML-100k: held-out rbo@30 .81) and k = 24 on synthetic. TopK
    h = 512 k = 32 matched the dense block's fidelity on HetRec at 2.5x the CPU per SAE; BatchTopK gained
    nothing there; h = 1024 was not measured. The
    previous default (TopK h = 64, k 8-32) is `experiments/grids/frontier_reference.json`.

    `large` adds h = 128/256, the listwise loss and w_pred. `sparse` is the low-density corner of the
    frontier: h = 256, k in {8, 16}, TopK and BatchTopK, with and without a dense block of 4 latents."""
    if name == "default":
        return {"axes": [{"latents": [256], "k": [16, 24], "pred_loss": ["mse"]},
                         {"latents": [256], "k": [16], "dense_latents": [4], "pred_loss": ["mse"]}],
                "seeds": [0, 1]}
    if name == "large":
        return {"axes": {"k": [4, 8, 12, 16, 24, 32], "latents": [64, 128, 256], "w_pred": [0.5, 1.0, 2.0, 5.0],
                         "pred_loss": _pred_losses()}, "base": {"steps": 5000}, "seeds": [0, 1, 2]}
    if name == "sparse":
        return {"axes": {"latents": [256], "k": [8, 16], "sae": ["topk", "batchtopk"], "dense_latents": [0, 4]},
                "seeds": [0, 1]}
    raise ConfigError(f"unknown grid {name!r}: give a JSON file or one of {', '.join(GRID_NAMES)}")


def load_grid(spec: str) -> Dict[str, Any]:
    """`--grid`: a built-in name or a JSON file `{"base": {...}, "axes": {...} | [{...}, ...], "seeds": [...]}`."""
    if spec in GRID_NAMES:
        return named_grid(spec)
    p = Path(spec)
    if not p.exists():
        raise ConfigError(f"--grid {spec}: no such file (or built-in grid: {', '.join(GRID_NAMES)})")
    try:
        obj = json.loads(p.read_text())
    except ValueError as e:
        raise ConfigError(f"{p}: not valid JSON ({e})") from None
    if not isinstance(obj, dict) or not set(obj) <= {"base", "axes", "seeds"} or "axes" not in obj:
        raise ConfigError(f"{p}: a grid is a JSON object with 'axes' and optional 'base', 'seeds'")
    return obj


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """Everything a sweep does: the base config, the grid, the split and the selection thresholds."""

    # how the fields appear as options (`jaxsae sweep`, `train-sae --sae auto`; `base` and `axes` come from
    # the grid; `k` is the fidelity lists' K, not shown beside the SAE's own k)
    OPTION_CHOICES: ClassVar[Mapping[str, Sequence[str]]] = {"final": FINALS}
    OPTION_ALIASES: ClassVar[Mapping[str, Tuple[str, ...]]] = {"seeds": ("sweep_seeds",)}
    OPTION_HIDDEN: ClassVar[Sequence[str]] = ("k",)

    base: SAETrainConfig = SAETrainConfig(**SWEEP_BASE)  # fields no axis sets; its seed fixes the splits
    axes: Tuple[Tuple[Tuple[str, Tuple[Any, ...]], ...], ...] = ()  # cross products (unioned): ((field, values), ...)
    seeds: Tuple[int, ...] = (0, 1)  # init/batch-order seeds per setting (figures are means over them)
    validation_fraction: float = 0.2  # share of the SAE training users carved out for validation
    item_fraction: float = 1.0  # share of items concepts are scored on (1.0: all items)
    null_seeds: int = 10  # seeds of the random-direction null purity
    purity: float = 0.9  # a concept is clear at purity@10 >= this ...
    margin: float = 0.2  # ... beating its null purity@10 by >= this
    max_density: float = 0.10  # the rule's first step: max(item, user) active latents / h <= this
    rbo_min: float = 0.8  # targets: validation rbo@30 >= this ...
    kendall_min: float = 0.5  # ... validation kendall_tau@30 >= this ...
    min_concepts: int = 3  # ... and at least this many clear concepts
    k: int = 30  # top-K of the fidelity lists
    final: str = "reuse"  # "reuse" the chosen setting's base-seed run, or "retrain" it on all training users

    def __post_init__(self) -> None:
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"sweep seeds must be distinct integers, got {list(self.seeds)}")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ConfigError(f"validation_fraction must be in (0, 1), got {self.validation_fraction}")
        if not 0.0 < self.item_fraction <= 1.0:
            raise ConfigError(f"item_fraction must be in (0, 1], got {self.item_fraction}")
        if not 0.0 < self.max_density <= 1.0:
            raise ConfigError(f"max_density must be in (0, 1], got {self.max_density}")
        if self.null_seeds < 1 or self.k < 1 or self.min_concepts < 1:
            raise ConfigError("null_seeds, k and min_concepts must be >= 1")
        if self.final not in FINALS:
            raise ConfigError(f"final must be one of {', '.join(FINALS)}, got {self.final!r}")
        fields = set(SAE_FIELDS)
        for cross in self.axes:
            for name, values in cross:
                if name not in fields:
                    raise ConfigError(f"grid axis {name!r} is not an SAE config field")
                if name in FIXED_FIELDS:
                    raise ConfigError(f"grid axis {name!r} cannot vary in a sweep (use seeds for seeds; the "
                                      f"splits are fixed by the base config)")
                if not values:
                    raise ConfigError(f"grid axis {name!r} has no values")
        self.settings()  # every setting validates as an SAETrainConfig

    @classmethod
    def from_grid(cls, grid: Mapping[str, Any], base: Optional[SAETrainConfig] = None,
                  base_overrides: Optional[Mapping[str, Any]] = None, **options: Any) -> "SweepConfig":
        """From a grid dict (`named_grid` / `load_grid`): base = `base` (default `SWEEP_BASE`) updated by the
        grid's "base" then by `base_overrides`; `options` set the other fields (seeds win over the grid's)."""
        b = (base or SAETrainConfig(**SWEEP_BASE)).to_dict()
        b.update(grid.get("base") or {})
        b.update(base_overrides or {})
        if b.get("epochs") is not None and (base_overrides or {}).get("steps") is not None:
            b["epochs"] = None
        axes = grid.get("axes") or {}
        crosses = axes if isinstance(axes, list) else [axes]
        if not all(isinstance(c, dict) for c in crosses):
            raise ConfigError("grid 'axes' must be an object {field: [values]} or a list of them")
        ax = tuple(tuple((str(k), tuple(v if isinstance(v, list) else [v])) for k, v in c.items()) for c in crosses)
        if "seeds" not in options and grid.get("seeds") is not None:
            options["seeds"] = tuple(grid["seeds"])
        return cls(base=SAETrainConfig.from_dict(b), axes=ax, **options)

    def settings(self) -> List[Tuple[Dict[str, Any], SAETrainConfig]]:
        """`(axis values, config)` per distinct setting, in grid order (configs carry the base seed)."""
        out: List[Tuple[Dict[str, Any], SAETrainConfig]] = []
        seen = set()
        for cross in self.axes or ((),):
            names = [n for n, _ in cross]
            for values in itertools.product(*[v for _, v in cross]):
                params = dict(zip(names, values))
                if params.get("sae", self.base.sae) not in SPARSE_K_SAES and "k" in params:
                    params.pop("k")  # k only matters for TopK
                try:
                    config = self.base.replace(**params)
                except (TypeError, ValueError) as e:
                    raise ConfigError(f"grid setting {params}: {e}") from None
                key = json.dumps(config.to_dict(), sort_keys=True)
                if key not in seen:
                    seen.add(key)
                    out.append((params, config))
        return out
