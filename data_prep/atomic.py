"""Swap a finished directory into place whole (used by `InteractionData.save` and `jaxsae.app.lineage`).

`swap_in(new, final)`: `final` -> `.<final>.old`, `new` -> `final`, old removed. Each step is a rename
inside one parent directory, so a reader sees the old complete directory or the new one; a kill between
the two renames leaves `.<final>.old` and `new`, which `jaxsae.app.lineage.recover` puts right.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path


def swap_in(new: "str | os.PathLike[str]", final: "str | os.PathLike[str]") -> Path:
    """Replace directory `final` by directory `new` (same parent); returns `final`."""
    new, final = Path(new), Path(final)
    old = final.parent / f".{final.name}.old"
    if old.exists():
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    if final.exists() or final.is_symlink():
        os.rename(final, old)
    os.rename(new, final)
    shutil.rmtree(old, ignore_errors=True)
    return final
