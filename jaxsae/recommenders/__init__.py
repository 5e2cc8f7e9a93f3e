"""Recommenders behind the two-tower interface: MF, NCF and imported embeddings."""
from jaxsae.recommenders.base import TwoTower, dot_cross, dot_score  # noqa: F401
from jaxsae.recommenders.imported import load_two_tower  # noqa: F401
from jaxsae.recommenders.mf import MF  # noqa: F401
from jaxsae.recommenders.ncf import NCF, ncf_cross, ncf_score  # noqa: F401

MODELS = ("mf", "ncf")
