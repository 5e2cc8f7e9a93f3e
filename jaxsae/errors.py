"""Errors reported to the user as one line (no traceback unless `--debug`)."""
from __future__ import annotations

from data_prep.errors import ConfigError, DataFormatError, JaxsaeError, MissingDataError, UnknownNameError

# ConfigError (an invalid configuration: h < 1, k > h, non-increasing prefixes, negative weights, ...)
# is defined in data_prep.errors so that data_prep configs raise the very same class.


class CheckpointError(JaxsaeError):
    """A checkpoint that cannot be loaded: missing, other schema version, or another config."""


class TrainingDivergedError(JaxsaeError):
    """A non-finite loss; the last good checkpoint is kept."""


__all__ = [
    "JaxsaeError", "DataFormatError", "MissingDataError", "UnknownNameError",
    "ConfigError", "CheckpointError", "TrainingDivergedError",
]
