"""`InterveneOptions`: one `jaxsae intervene` experiment, validated before any file is read (SPEC §7, §14)."""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Optional, Tuple

from jaxsae.errors import ConfigError
from jaxsae.interventions import MODES  # residual, reconstruct, double_pass (the reference NCF path)

KINDS = ("filter", "nudge", "promote")
DEFAULT_K = {"filter": 20, "nudge": 30, "promote": 20}
DEFAULT_OP = {"filter": None, "nudge": "add", "promote": "add"}  # filter: chosen by its method
AUDIENCES = ("heldout", "test", "all")
OPS = ("set", "add", "scale")
METHODS = ("weighted", "neuron")
SIDES = ("user", "item")


@dataclasses.dataclass(frozen=True)
class InterveneOptions:
    """What one intervention does and to whom."""

    kind: str  # "filter", "nudge" or "promote"
    target: str  # the concept (filter, nudge) or the item id or title (promote)
    levels: Tuple[float, ...] = ()  # edit levels; () = the library defaults of `kind`
    neurons: Optional[Tuple[int, ...]] = None  # neurons to edit (filter: several allowed); None = chosen
    n_neurons: int = 1  # filter without neurons: how many best neurons are suppressed together
    method: Optional[str] = None  # filter: "weighted" or "neuron" (None: weighted unless neurons are given)
    side: str = "user"  # filter: edit the audience's users or the items where the neuron fires
    op: Optional[str] = None  # "set", "add" or "scale" (None: the kind's default)
    audience: str = "heldout"  # user pool: the SAE's held-out users, the test users, or all users
    audience_size: int = 100  # users in the audience
    k: Optional[int] = None  # list length (None: 20; 30 for nudge)
    mode: str = "residual"  # residual edits (x + decode(z') - decode(z)) or "reconstruct" (the paper)
    include_train: bool = False  # let training positives appear in the lists
    seed: int = 0  # seed of the promotion audience sample

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"intervention kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not isinstance(self.target, str) or not self.target.strip():
            raise ConfigError(f"--{self.kind} needs a non-empty {'item' if self.kind == 'promote' else 'concept'}")
        levels = tuple(float(v) for v in self.levels)
        if any(not math.isfinite(v) for v in levels):
            raise ConfigError(f"--levels must be finite numbers, got {list(levels)}")
        object.__setattr__(self, "levels", levels)
        if self.neurons is not None:
            object.__setattr__(self, "neurons", tuple(int(n) for n in self.neurons))
            if not self.neurons:
                raise ConfigError("--neurons is empty")
            if self.kind != "filter" and len(self.neurons) > 1:
                raise ConfigError("--neurons applies to --filter only (nudge and promote edit one --neuron)")
        if self.kind != "filter" and (self.n_neurons != 1 or self.method is not None or self.side != "user"):
            raise ConfigError("--neurons, --n-neurons, --method and --side apply to --filter only")
        if self.n_neurons < 1:
            raise ConfigError(f"--n-neurons must be >= 1, got {self.n_neurons}")
        for name, value, allowed in (("method", self.method, METHODS + (None,)), ("side", self.side, SIDES),
                                     ("op", self.op, OPS + (None,)), ("audience", self.audience, AUDIENCES),
                                     ("mode", self.mode, MODES)):
            if value not in allowed:
                raise ConfigError(f"--{name} must be one of {', '.join(a for a in allowed if a)}, got {value!r}")
        if self.audience_size < 1:
            raise ConfigError(f"--audience-size must be >= 1, got {self.audience_size}")
        if self.k is not None and self.k < 1:
            raise ConfigError(f"--k must be >= 1, got {self.k}")

    @property
    def list_k(self) -> int:
        """The list length used."""
        return DEFAULT_K[self.kind] if self.k is None else int(self.k)

    def check_data(self, data: Any) -> None:
        """Checks that need the prepared data: the concept or item exists (unambiguously), k fits the catalogue."""
        if self.list_k > data.n_items:
            raise ConfigError(f"--k {self.list_k} is larger than the catalogue ({data.n_items} items)")
        if self.kind == "promote":
            from jaxsae.interventions import resolve_item

            resolve_item(data, self.target)
        else:
            data.concept_index(self.target)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)
