"""Recommenders behind the two-tower interface: MF, NCF and imported embeddings.

Private modules: `_base` (`TwoTower`, the score functions), `_imported` and `_tables` (outside tables aligned by
id), `_import_run` (an imported model's files); `mf` and `ncf` stay public modules (read as namespaces).
"""
from jaxsae.recommenders._base import ScoreFn, TwoTower, dot_cross, dot_score
from jaxsae.recommenders._import_run import IMPORTED_KIND, SCORES, load_imported, save_imported, to_two_tower
from jaxsae.recommenders._imported import load_two_tower
from jaxsae.recommenders._tables import IdTables, align_to_data, canonical_ids, read_id_tables
from jaxsae.recommenders.mf import MF
from jaxsae.recommenders.ncf import NCF, init_head, ncf_cross, ncf_score

MODELS = ("mf", "ncf")

__all__ = [
    "ScoreFn", "TwoTower", "dot_cross", "dot_score", "IMPORTED_KIND", "SCORES", "load_imported", "save_imported",
    "to_two_tower", "load_two_tower", "IdTables", "align_to_data", "canonical_ids", "read_id_tables", "MF", "NCF",
    "init_head", "ncf_cross", "ncf_score", "MODELS",
]
