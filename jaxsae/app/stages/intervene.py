"""The `intervene` stage: one filter, nudge or promote experiment through an SAE neuron.

Options: `InterveneTarget` (what to steer) and the `InterveneOptions` fields (how, for whom); `build` makes
the validated `InterveneOptions` before any file is read, `check_data` the checks that need `RUN/data`
(concept or item names, k within the catalogue), and `run` steers the recommender of `RUN/rec` through the
SAE of `RUN/sae` and writes `RUN/interventions/{filter,nudge,promote}-<name>.json` and `config.json`
(earlier results of the same SAE are kept; those of another SAE are dropped on the swap).
"""
from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from jaxsae import interventions as iv
from jaxsae.errors import ConfigError
from jaxsae.interventions import MODES  # residual, reconstruct, double_pass (the reference NCF path)
from jaxsae.app.options import split_options
from data_prep.dataset import InteractionData
from jaxsae.app import lineage
from jaxsae.app.io import save_stage_config
from jaxsae.jsonio import write_json
from jaxsae.app.runs import load_run_sae
from jaxsae.interventions import resolve_item

KINDS = ("filter", "nudge", "promote", "benchmark")
DEFAULT_K = {"filter": 20, "nudge": 30, "promote": 20, "benchmark": 20}
DEFAULT_OP = {"filter": None, "nudge": "add", "promote": "add", "benchmark": "add"}  # filter: chosen by its method
AUDIENCES = ("heldout", "test", "all")
OPS = ("set", "add", "scale")
METHODS = iv.FILTER_METHODS
SIDES = ("user", "item")


DEFAULT_LEVELS = {"filter": iv.FILTER_LEVELS, "nudge": iv.NUDGE_LEVELS, "promote": iv.PROMOTE_LEVELS,
                  "benchmark": iv.BENCHMARK_LEVELS}


def _span(levels: Tuple[float, ...]) -> str:
    """`(0, -0.25, ..., -3)` -> `0..-3`: default levels as help shows them (from the library's constants)."""
    return f"{levels[0]:g}..{levels[-1]:g}"


@dataclasses.dataclass(frozen=True)
class InterveneOptions:
    """What one intervention does and to whom."""

    OPTION_HIDDEN: ClassVar[Sequence[str]] = ("kind", "target")  # given as --filter / --nudge / --promote
    OPTION_CHOICES: ClassVar[Mapping[str, Sequence[str]]] = {
        "method": METHODS, "side": SIDES, "op": OPS, "audience": AUDIENCES, "mode": MODES}
    OPTION_DEFAULT_TEXT: ClassVar[Mapping[str, str]] = {
        "levels": ", ".join(f"{kind} {_span(levels)}" for kind, levels in DEFAULT_LEVELS.items())}

    kind: str  # "filter", "nudge" or "promote"
    target: str  # the concept (filter, nudge) or the item id or title (promote)
    levels: Tuple[float, ...] = ()  # edit levels: for the weighted filter in standard deviations of the user's top scores, else in units of the neuron's largest activation (write negative lists as --levels=-0.5,-1); () = the library defaults of the kind
    neurons: Optional[Tuple[int, ...]] = None  # neurons to edit, N,M,... (filter: several, suppressed together, each at level x its own scale); none: chosen (filter: see method; nudge: the best by purity@10; promote: the item's latent that lifts it most)
    n_neurons: int = 1  # filter without neurons: how many best neurons are suppressed together
    method: Optional[str] = None  # filter: "weighted" (default without neurons): a per-user combination of the concept's above-chance-purity neurons fitted to lower the concept and keep the rest's order; "neuron" (the paper; default with neurons): set the chosen neuron(s) to level x their largest activation; "redistribute": move a fraction |level| / 3 of each user's latent L1 mass off the concept's neurons onto the user's other neurons, the total kept
    side: str = "user"  # filter: edit the audience's users or the items where the neuron fires
    op: Optional[str] = None  # "set", "add" or "scale" (None: the kind's default)
    audience: str = "heldout"  # user pool: the SAE's held-out users, the test users, or all users
    audience_size: int = 100  # users in the audience
    k: Optional[int] = None  # list length (None: 20; 30 for nudge)
    mode: str = "residual"  # "residual": x + decode(z') - decode(z) (unedited users score as the recommender); "reconstruct": decode(z') replaces the embedding (the paper); "double_pass": the reference's NCF path
    absolute_levels: bool = False  # levels are the latent values themselves (the reference), not multiples of the neuron's largest activation
    min_rest_rbo: float = iv.FILTER_MIN_REST_RBO  # filter: the headline is the strongest removal among the levels keeping the rest of the list's RBO at least this (a level wrecking the list is never the result)
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
        if not 0.0 <= float(self.min_rest_rbo) <= 1.0:
            raise ConfigError(f"--min-rest-rbo must be within [0, 1], got {self.min_rest_rbo}")
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

            resolve_item(data, self.target)
        else:
            data.concept_index(self.target)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class InterveneTarget:
    """What to steer: exactly one of a concept to filter or nudge, or an item to promote."""

    filter: Optional[str] = None
    """Suppress a CONCEPT for the users who see most of it."""
    nudge: Optional[str] = None
    """Raise a CONCEPT for the users who see least of it."""
    promote: Optional[str] = None
    """Raise an ITEM (original id or title) for users not ranking it."""
    benchmark: Optional[str] = None
    """Benchmark steering CONCEPT against steering without an SAE (a label baseline; and a popularity neuron
    against popularity down-weighting) on the held-out users' own hidden items: RUN/interventions/benchmark.json."""
    neuron: Optional[int] = None
    """The one neuron to edit (the same as neurons=N)."""


OPTIONS = (InterveneTarget, InterveneOptions)
TITLES = ("what (exactly one of --filter, --nudge, --promote, --benchmark)", "how and for whom")
DIRECTORY = "interventions"


def build(options: Mapping[str, Any]) -> InterveneOptions:
    """The validated `InterveneOptions` from option names (`filter`/`nudge`/`promote`, `levels`, ...)."""
    target_fields, fields = split_options(options, *OPTIONS)
    target = InterveneTarget(**target_fields)
    kinds = [k for k in KINDS if getattr(target, k) is not None]
    if len(kinds) != 1:
        raise ConfigError("give exactly one of --filter CONCEPT, --nudge CONCEPT, --promote ITEM or --benchmark CONCEPT"
                          + (f" (got {', '.join('--' + k for k in kinds)})" if kinds else ""))
    if target.neuron is not None:
        if fields.get("neurons") is not None:
            raise ConfigError("give either --neuron or --neurons, not both")
        fields["neurons"] = (target.neuron,)
    if kinds[0] != "filter" and fields.get("neurons") is not None and len(fields["neurons"]) > 1:
        raise ConfigError("--neurons, --n-neurons, --method and --side apply to --filter only")
    if "levels" in fields and not fields["levels"]:
        raise ConfigError("--levels is empty")
    return InterveneOptions(kind=kinds[0], target=getattr(target, kinds[0]), **fields)


def check_data(config: InterveneOptions, data: Any) -> None:
    """The checks that need `RUN/data`: the concept or item exists (unambiguously), k fits the catalogue."""
    config.check_data(data)


def record(config: InterveneOptions) -> Dict[str, Any]:
    """The experiment's options as JSON."""
    return config.to_dict()


def _pool(kind: str, sae: Any, data: Any) -> np.ndarray:
    if kind == "heldout":
        pool = np.asarray(sae.heldout_users)
    elif kind == "test":
        pool = np.asarray(data.test_users)
    else:
        pool = np.arange(data.n_users)
    if pool.size == 0:
        raise ConfigError(f"--audience {kind}: no users in that pool")
    return pool.astype(np.int32)


def run(run_dir: "str | Path", config: InterveneOptions, *, resume: bool = False,
        log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Run one experiment into `RUN/interventions/`; returns its result (with `path`, the file written)."""

    opts = config
    kind, target, k = opts.kind, opts.target, opts.list_k
    levels = opts.levels or DEFAULT_LEVELS[kind]
    op = opts.op or DEFAULT_OP[kind]
    run_dir = Path(run_dir)
    lineage.require(run_dir, "sae")  # an unfinished, failed or stale SAE is refused with what to rerun
    data = InteractionData.load(run_dir / "data")
    opts.check_data(data)  # unknown or ambiguous concept / item, k above the catalogue: before any work
    c = data.concept_index(target) if kind != "promote" else None
    sae = load_run_sae(run_dir)
    steerer = iv.Steerer.from_trained(sae, mode=opts.mode)
    neurons = list(opts.neurons) if opts.neurons is not None else None
    for n in neurons or []:
        steerer.check_neuron(n)
    pool = _pool(opts.audience, sae, data)
    common: Dict[str, Any] = dict(audience_size=opts.audience_size, k=k, levels=levels, op=op,
                                  exclude_train=not opts.include_train, absolute=opts.absolute_levels)
    one = neurons[0] if neurons else None
    t0 = time.perf_counter()
    if kind == "promote":
        result = iv.promote_experiment(steerer, data, target, pool, neuron=one, seed=opts.seed, **common)
        name = result["item"]
    elif kind == "benchmark":
        ex = not opts.include_train
        result = {"concept": iv.concept_benchmark(steerer, data, target, pool, neuron=one, k=k, levels=levels,
                                                  exclude_train=ex, max_users=opts.audience_size),
                  "popularity": iv.popularity_benchmark(steerer, data, pool, k=k, exclude_train=ex,
                                                        max_users=opts.audience_size)}
        name = result["concept"]["concept"]
    elif kind == "filter":
        result = iv.filter_experiment(steerer, data, target, pool, neurons, n_neurons=opts.n_neurons,
                                      method=opts.method, side=opts.side, min_rest_rbo=opts.min_rest_rbo, **common)
        name = result["concept"]
    else:
        neuron = one if one is not None else iv.concept_neuron(steerer.item_latents(), data.concepts, c)
        result = iv.nudge_experiment(steerer, data, target, pool, neuron, **common)
        name = result["concept"]
    result["audience"] = opts.audience
    result["seconds"] = time.perf_counter() - t0
    if kind == "filter":
        common.update(op=result["op"], method=result["method"], side=result["side"], min_rest_rbo=opts.min_rest_rbo)
    stage_config = {"kind": kind, "target": target, "mode": opts.mode, **common}
    file = "benchmark.json" if kind == "benchmark" else f"{kind}-{iv.file_stem(name)}.json"
    # earlier results of the same SAE are kept (keep=True); those of another SAE are dropped on the swap
    with lineage.stage(run_dir, DIRECTORY, config=stage_config, inputs=("data", "rec", "sae"), keep=True) as out:
        save_stage_config(out, stage_config, seed=opts.seed, extra={"sae_config": sae.config.to_dict()})
        write_json(out / file, result)
    path = run_dir / DIRECTORY / file
    for line in summary_lines(kind, result, path):
        log(line)
    return result


def summary_lines(kind: str, r: Dict[str, Any], path: Path) -> Tuple[str, str]:
    """The two lines an experiment prints: its outcome by level, and the file written."""
    if kind == "benchmark":
        c, p = r["concept"], r["popularity"]

        def pts(rows: Any, key: str) -> str:
            return ", ".join(f"{q['strength']:g}: {q['ndcg']:.3f}/{q[key]:.3f}" for q in rows)

        line = (f"[intervene] benchmark {c['concept']} for {c['n_users']} held-out fans, ndcg@{c['k']}/segment "
                f"recall@{c['k']} by strength: SAE neuron {c['neuron']} {{{pts(c['sae'], 'segment_recall')}}}, "
                f"label {{{pts(c['label'], 'segment_recall')}}}; popularity neuron {p['neuron']} ndcg/Gini "
                f"{{{pts(p['sae'], 'gini')}}}, down-weighting {{{pts(p['downweight'], 'gini')}}}")
    elif kind == "promote":
        steps = ", ".join(f"{p['level']:g}: {p['entered_top_k_fraction']:.2f}" for p in r["per_level"])
        line = (f"[intervene] promote {r['title']!r} via neuron {r['neuron']} for {r['audience_size']} users: "
                f"share entering the top-{r['k']} by level {{{steps}}}")
    elif kind == "filter":
        steps = ", ".join(f"{p['level']:g}: {p['concept_share_after']:.2f}/{p['rest_rbo']:.2f}" for p in r["per_level"])
        n = r.get("neurons", [r["neuron"]])
        via = f"neuron {n[0]}" if len(n) == 1 else f"neurons {n}" if len(n) <= 6 else f"{len(n)} neurons"
        at = "no level" if r.get("level") is None else f"level {r['level']:g}"
        line = (f"[intervene] filter {r['concept']} ({r.get('method', 'neuron')}, {r.get('side', 'user')} side) via "
                f"{via} for {r['audience_size']} users: top-{r['k']} share {r['concept_share_before']:.2f} -> "
                f"{r['concept_share_after']:.2f}, rest-RBO {r['rest_rbo']:.2f} at {at} "
                f"({r.get('headline', '')}; area under removal vs rest-RBO {r.get('removal_auc', 0.0):.2f}); "
                f"share/rest-RBO by level {{{steps}}}")
    else:
        steps = ", ".join(f"{p['level']:g}: {p['concept_share']:.2f}" for p in r["per_level"])
        line = (f"[intervene] nudge {r['concept']} via neuron {r['neuron']} for {r['audience_size']} users: "
                f"top-{r['k']} share {r['concept_share_before']:.2f} before; by level {{{steps}}}"
                + (f"; unmoved: {r['why_unmoved']}" if r.get("why_unmoved") else ""))
    return line, f"[intervene] -> {path}"
