"""`SourceOptions`: which dataset `jaxsae prepare` reads and how its loader is called.

The options of the source, apart from how the rows are turned into training data (`PrepareOptions`):
validated at construction against `data_prep.registry` (an unknown dataset, an option its loader does
not take, a csv without its file: one line), so `jaxsae run --dry-run` refuses them before any stage runs.
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Dict, Mapping, Optional, Sequence, Tuple

from data_prep.errors import ConfigError, MissingDataError
from data_prep import registry
from data_prep.synthetic import PRESETS

# SourceOptions field -> the loader keyword it sets (fields not listed are not loader options)
LOADER_KEYS: Dict[str, str] = {
    "size": "size", "interactions": "interactions", "items": "items", "concept_family": "concept_family",
    "top_tags": "top_k", "min_tag_artists": "min_tag_artists", "min_tag_users": "min_tag_users",
}


@dataclasses.dataclass(frozen=True)
class SourceOptions:
    """Where a dataset's files are and the options of its loader."""

    OPTION_CHOICES: ClassVar[Mapping[str, Sequence[str]]] = {"concept_family": ("genre", "tag")}

    dataset: str
    """Dataset name (`jaxsae prepare --help` lists them: synthetic, ml-100k, ml-1m, lastfm-hetrec-2k, csv, ...)."""
    data_dir: Optional[str] = None
    """Folder holding the extracted official files (default: $JAXSAE_DATA_DIR/<dataset> when it exists)."""
    download: bool = False
    """Fetch the official archive into the cache (sha256-checked)."""
    cache_dir: Optional[str] = None
    """Download cache (default $JAXSAE_CACHE or ~/.cache/jaxsae)."""
    interactions: Optional[str] = None
    """csv/parquet: the interactions file (user,item[,rating])."""
    items: Optional[str] = None
    """csv/parquet: the optional item table (item,title,concepts[,year])."""
    concept_family: Optional[str] = None
    """csv/parquet: what the item table's concepts are (default genre)."""
    size: Optional[str] = None
    """synthetic: preset (tiny, small, demo, ml1m, large; default tiny)."""
    top_tags: Optional[int] = None
    """Last.fm: tags kept per artist (default 4)."""
    min_tag_artists: Optional[int] = None
    """Last.fm: drop tags on fewer artists (default 5)."""
    min_tag_users: Optional[int] = None
    """hetrec: drop tags applied by fewer users (default 2)."""
    paper_filters: bool = False
    """The paper's one-pass filters for this dataset (lastfm-msd)."""

    def __post_init__(self) -> None:

        spec = registry.get(self.dataset)  # an unknown dataset: error with close matches
        object.__setattr__(self, "dataset", spec.name)
        for name, key in LOADER_KEYS.items():
            if getattr(self, name) is not None and key not in spec.options:
                raise ConfigError(f"--{name.replace('_', '-')} does not apply to dataset {spec.name!r}")
        for name, low in (("top_tags", 1), ("min_tag_artists", 0), ("min_tag_users", 0)):
            v = getattr(self, name)
            if v is not None and v < low:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= {low}, got {v}")
        if self.paper_filters and not spec.paper_filters:
            raise ConfigError(f"--paper-filters: no paper filters are defined for {spec.name!r}")
        if spec.name in ("csv", "parquet") and self.interactions is None and self.data_dir is None:
            raise MissingDataError(f"{spec.name}: pass --interactions FILE (and optionally --items FILE)")
        if self.size is not None:

            if self.size not in PRESETS:
                raise ConfigError(f"unknown synthetic preset {self.size!r}; known: {', '.join(PRESETS)}")

    def loader_options(self, seed: int) -> Dict[str, Any]:
        """The keyword options of the dataset's loader (synthetic: its size, default tiny, and `seed`)."""

        spec = registry.get(self.dataset)
        out: Dict[str, Any] = {key: getattr(self, name) for name, key in LOADER_KEYS.items()
                               if getattr(self, name) is not None}
        if "size" in spec.options:
            out.setdefault("size", "tiny")
        if "seed" in spec.options:
            out["seed"] = seed
        return out

    def filter_sequence(self) -> Tuple[Tuple[str, int], ...]:
        """The paper's filters when asked for (`PrepareOptions.filter_sequence`), else none."""

        return registry.get(self.dataset).paper_filters if self.paper_filters else ()
