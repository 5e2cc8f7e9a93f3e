"""Errors that reach the user as one line (the CLI prints them without a traceback)."""
from __future__ import annotations

import os
from typing import Optional


class JaxsaeError(Exception):
    """Base of every error caused by bad input or configuration rather than by a bug."""


class DataFormatError(JaxsaeError):
    """A data file does not have the expected format: `file:line: expected ..., got ...`."""

    def __init__(self, path: "str | os.PathLike[str]", line: Optional[int], expected: str, got: str) -> None:
        self.path = str(path)
        self.line = line
        self.expected = expected
        self.got = got
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: expected {expected}, got {got}")


class MissingDataError(JaxsaeError):
    """A needed file is absent; the message says what to download and where to put it."""


class UnknownNameError(JaxsaeError, KeyError):
    """An unknown concept, item or option name; the message lists close matches."""

    def __str__(self) -> str:  # KeyError would quote its message
        return str(self.args[0]) if self.args else ""


class ConfigError(JaxsaeError, ValueError):
    """An invalid configuration (h < 1, k > h, non-increasing prefixes, negative weights, ...).

    Defined here so `data_prep` configs can raise it without importing `jaxsae`;
    `jaxsae.errors.ConfigError` is this same class.
    """
