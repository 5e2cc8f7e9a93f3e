"""`--download`: fetch an official dataset archive into a cache, verify its sha256, extract it.

The cache is `--cache-dir`, else `$JAXSAE_CACHE`, else `~/.cache/jaxsae`. Layout:
`CACHE/archives/<archive file>` (the zip as downloaded) and `CACHE/<dataset>/` (extracted, with a
`.jaxsae-complete` marker written last, so an interrupted extraction is redone). Offline, or on a
checksum mismatch, `MissingDataError` says which URL to fetch by hand and where to put the file.

Hashes: `sha256_source` says where each pinned hash comes from. Where no public sha256 was found
(ml-32m) the archive is accepted and the computed hash is logged and stored in `info`, not invented.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

from data_prep.errors import JaxsaeError, MissingDataError, UnknownNameError

MARKER = ".jaxsae-complete"
_TFDS = "tensorflow/datasets tensorflow_datasets/url_checksums/movielens.txt"


@dataclasses.dataclass(frozen=True)
class ArchiveSpec:
    """Where an official archive lives and how to check it."""

    url: str
    """The official download URL."""
    sha256: Optional[str]
    """Expected sha256 of the archive; None where no public hash was found (the computed one is reported)."""
    files: Tuple[str, ...]
    """Files that must exist in the extracted data folder (used to find it inside the archive)."""
    size: Optional[int] = None
    """Archive size in bytes, where known (for the progress line)."""
    sha256_source: str = ""
    """Where the pinned hash comes from."""


ARCHIVES: Dict[str, ArchiveSpec] = {
    "ml-100k": ArchiveSpec(
        "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        ("u.data", "u.item", "u.user"), 4924029, _TFDS,
    ),
    "ml-1m": ArchiveSpec(
        "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
        ("ratings.dat", "movies.dat", "users.dat"), 5917549, _TFDS,
    ),
    "ml-latest-small": ArchiveSpec(
        "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip",
        "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
        ("ratings.csv", "movies.csv"), 978202,
        _TFDS + "; also the hash of the official zip kept in stiigp/simple_recommender_system",
    ),
    "ml-25m": ArchiveSpec(
        "https://files.grouplens.org/datasets/movielens/ml-25m.zip",
        "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
        ("ratings.csv", "movies.csv"), 261978986, _TFDS,
    ),
    "ml-32m": ArchiveSpec(
        "https://files.grouplens.org/datasets/movielens/ml-32m.zip",
        None,
        ("ratings.csv", "movies.csv"), None,
        "none found in public code (GroupLens publishes only an md5); the computed sha256 is reported",
    ),
    "lastfm-hetrec-2k": ArchiveSpec(
        "https://files.grouplens.org/datasets/hetrec2011/hetrec2011-lastfm-2k.zip",
        "6738f48195667ff03caaab4d32ca9a3133d8cc026b7c3cdaf6ce1010e913c59c",
        ("user_artists.dat", "artists.dat", "tags.dat", "user_taggedartists.dat"), None,
        "one public source only (a dataset module pinning SOURCE/SHA256 for this URL); not cross-checked",
    ),
}


def cache_dir(override: "str | os.PathLike[str] | None" = None) -> Path:
    """The download cache: `override`, else `$JAXSAE_CACHE`, else `~/.cache/jaxsae`."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get("JAXSAE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "jaxsae"


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _find_data_dir(root: Path, files: Tuple[str, ...]) -> Optional[Path]:
    """The folder under `root` (root itself or up to 3 levels down) holding all `files`."""
    candidates = [root] + sorted(p for p in root.glob("*") if p.is_dir()) + sorted(p for p in root.glob("*/*") if p.is_dir()) \
        + sorted(p for p in root.glob("*/*/*") if p.is_dir())
    for c in candidates:
        if all((c / f).is_file() for f in files):
            return c
    return None


def _download(url: str, dest: Path, timeout: float, log: Callable[[str], None], size: Optional[int]) -> None:
    """Stream `url` to `dest` via a `.part` file renamed at the end."""
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shown = f" ({size / 1e6:.1f} MB)" if size else ""
    log(f"downloading {url}{shown} -> {dest}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r, open(part, "wb") as f:
            shutil.copyfileobj(r, f, length=1 << 20)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)


def _extract(archive: Path, target: Path) -> None:
    """Extract a zip into `target` atomically (temp folder renamed), refusing paths that escape it."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        with zipfile.ZipFile(archive) as z:
            for m in z.infolist():
                dest = (tmp / m.filename).resolve()
                if not str(dest).startswith(str(tmp.resolve()) + os.sep) and dest != tmp.resolve():
                    raise MissingDataError(f"{archive}: unsafe member path {m.filename!r}; refusing to extract")
            z.extractall(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except zipfile.BadZipFile as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise MissingDataError(f"{archive}: not a valid zip archive ({e}); delete it and download again") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def cached(name: str, cache: "str | os.PathLike[str] | None" = None) -> Optional[Path]:
    """The data folder of an earlier complete download of `name` in the cache, else None."""
    spec = ARCHIVES.get(name)
    target = cache_dir(cache) / name
    if spec is None or not (target / MARKER).is_file():
        return None
    return _find_data_dir(target, spec.files)


def fetch(
    name: str,
    cache: "str | os.PathLike[str] | None" = None,
    url: Optional[str] = None,
    sha256: Optional[str] = None,
    files: Optional[Tuple[str, ...]] = None,
    timeout: float = 60.0,
    log: Callable[[str], None] = print,
) -> Path:
    """Download (once), verify and extract dataset `name`; return the folder holding its files.

    `url`, `sha256` and `files` override the registry entry (tests point them at a local server;
    `sha256=""` means no known hash).
    A verified archive already in `CACHE/archives/` (downloaded earlier, or put there by hand) is used
    without any network access.
    """
    if name not in ARCHIVES and url is None:
        raise UnknownNameError(f"no download known for {name!r}; downloadable: {', '.join(ARCHIVES)}")
    spec = ARCHIVES.get(name, ArchiveSpec(url or "", None, ()))
    url = url or spec.url
    expected = (sha256 if sha256 is not None else spec.sha256)
    expected = expected.lower() if expected else None
    files = tuple(files) if files is not None else spec.files
    root = cache_dir(cache)
    target = root / name
    marker = target / MARKER
    if marker.is_file():
        found = _find_data_dir(target, files)
        if found is not None:
            log(f"using cached {name} in {found}")
            return found
    archive = root / "archives" / (url.rstrip("/").rsplit("/", 1)[-1] or f"{name}.zip")
    by_hand = (f"download {url} yourself and put it at {archive}, or extract it anywhere and pass "
               f"--data-dir pointing at the folder holding {', '.join(files) or 'its files'}")
    if not archive.is_file():
        try:
            _download(url, archive, timeout, log, spec.size)
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", None) or e
            raise MissingDataError(f"could not download {url} ({reason}); {by_hand}") from None
    got = sha256_of(archive)
    if expected is None:
        log(f"note: no published sha256 for {name}; computed sha256 {got} (kept in {target / 'sha256.txt'})")
    elif got != expected:
        bad = archive.with_name(archive.name + ".bad")
        os.replace(archive, bad)
        raise MissingDataError(
            f"checksum mismatch for {url}: expected sha256 {expected}, got {got} (moved to {bad}); {by_hand}"
        )
    root.mkdir(parents=True, exist_ok=True)
    log(f"extracting {archive.name} -> {target}")
    _extract(archive, target)
    found = _find_data_dir(target, files)
    if found is None:
        raise MissingDataError(f"{archive}: the archive does not contain {', '.join(files)}; {by_hand}")
    (target / "sha256.txt").write_text(f"{got}  {archive.name}\n")
    marker.write_text(got + "\n")
    return found


def describe(name: str) -> str:
    """One line: URL and hash status of a downloadable dataset (for `--help` and the registry)."""
    spec = ARCHIVES.get(name)
    if spec is None:
        raise JaxsaeError(f"no download known for {name!r}")
    state = f"sha256 {spec.sha256[:12]}..." if spec.sha256 else "no published sha256"
    return f"{spec.url} ({state})"
