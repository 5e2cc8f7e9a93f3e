"""`--download` against a local HTTP server on 127.0.0.1 (never the real network)."""
import functools
import hashlib
import http.server
import threading
import zipfile
from pathlib import Path

import pytest

from data_prep import download
from data_prep.errors import MissingDataError


@pytest.fixture
def server(tmp_path, monkeypatch):
    """Serves tmp_path/www on a free port; yields (base_url, folder, hit log)."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    www = tmp_path / "www"
    www.mkdir()
    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep test output quiet
            pass

        def do_GET(self):
            hits.append(self.path)
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(www)))
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", www, hits
    httpd.shutdown()
    httpd.server_close()


def make_zip(path: Path) -> str:
    """A zip shaped like ml-100k.zip (files under a top folder); returns its sha256."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ml-100k/u.data", "1\t1\t5\t874965758\n")
        z.writestr("ml-100k/u.item", "1|Toy Story (1995)|01-Jan-1995||http://x|" + "|".join(["0"] * 18 + ["1"]) + "\n")
        z.writestr("ml-100k/u.user", "1|24|M|technician|85711\n")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fetch_verifies_extracts_and_caches(server, tmp_path):
    base, www, hits = server
    sha = make_zip(www / "ml-100k.zip")
    logs = []
    d = download.fetch("ml-100k", cache=tmp_path / "cache", url=f"{base}/ml-100k.zip", sha256=sha, log=logs.append)
    assert d == tmp_path / "cache" / "ml-100k" / "ml-100k"
    assert (d / "u.data").read_text().startswith("1\t1\t5")
    assert (tmp_path / "cache" / "archives" / "ml-100k.zip").is_file()
    assert any("downloading" in m for m in logs)
    assert download.cached("ml-100k", tmp_path / "cache") == d
    # second call: no network at all
    n = len(hits)
    assert download.fetch("ml-100k", cache=tmp_path / "cache", url=f"{base}/ml-100k.zip", sha256=sha, log=logs.append) == d
    assert len(hits) == n


def test_checksum_mismatch_says_where_to_put_the_file(server, tmp_path):
    base, www, _ = server
    make_zip(www / "ml-100k.zip")
    with pytest.raises(MissingDataError) as e:
        download.fetch("ml-100k", cache=tmp_path / "c", url=f"{base}/ml-100k.zip", sha256="0" * 64, log=lambda m: None)
    msg = str(e.value)
    assert f"checksum mismatch for {base}/ml-100k.zip: expected sha256 {'0' * 64}, got " in msg
    assert str(tmp_path / "c" / "archives" / "ml-100k.zip") in msg and "--data-dir" in msg
    assert not (tmp_path / "c" / "archives" / "ml-100k.zip").exists()  # the bad file is moved aside
    assert not (tmp_path / "c" / "ml-100k").exists()


def test_offline_and_404(server, tmp_path):
    base, _, _ = server
    with pytest.raises(MissingDataError, match=r"could not download .*/missing.zip .*put it at .*missing.zip"):
        download.fetch("ml-100k", cache=tmp_path / "c", url=f"{base}/missing.zip", sha256="0" * 64, log=lambda m: None)
    with pytest.raises(MissingDataError, match=r"could not download http://127.0.0.1:9/x.zip"):
        download.fetch("ml-100k", cache=tmp_path / "c", url="http://127.0.0.1:9/x.zip", timeout=2, log=lambda m: None)
    assert not list((tmp_path / "c" / "archives").glob("*.part"))


def test_archive_put_by_hand_is_used_offline(tmp_path):
    (tmp_path / "c" / "archives").mkdir(parents=True)
    sha = make_zip(tmp_path / "c" / "archives" / "x.zip")
    d = download.fetch("ml-100k", cache=tmp_path / "c", url="http://127.0.0.1:9/x.zip", sha256=sha, log=lambda m: None)
    assert (d / "u.item").is_file()


def test_unknown_hash_reports_computed_one(server, tmp_path):
    base, www, _ = server
    sha = make_zip(www / "a.zip")
    logs = []
    download.fetch("ml-100k", cache=tmp_path / "c", url=f"{base}/a.zip", sha256="", log=logs.append)
    assert any(f"computed sha256 {sha}" in m for m in logs)


def test_bad_zip_and_cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXSAE_CACHE", str(tmp_path / "envcache"))
    assert download.cache_dir() == tmp_path / "envcache"
    assert download.cache_dir(tmp_path / "x") == tmp_path / "x"
    (tmp_path / "envcache" / "archives").mkdir(parents=True)
    p = tmp_path / "envcache" / "archives" / "y.zip"
    p.write_bytes(b"not a zip")
    sha = hashlib.sha256(b"not a zip").hexdigest()
    with pytest.raises(MissingDataError, match="not a valid zip"):
        download.fetch("ml-100k", url="http://127.0.0.1:9/y.zip", sha256=sha, log=lambda m: None)


def test_registry_hashes_are_well_formed():
    for name, spec in download.ARCHIVES.items():
        assert spec.url.startswith("https://files.grouplens.org/"), name
        assert spec.sha256 is None or (len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0), name
        assert spec.sha256_source, name
