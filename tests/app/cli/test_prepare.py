"""`jaxsae prepare`: success on fixtures and synthetic data; every class of bad input -> one line, exit 2, no RUN/data."""
import dataclasses
import functools
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from typing import Dict

import pytest

from data_prep import download
from data_prep.errors import DataFormatError
from jaxsae.app.cli import main

ML1M: Dict[str, str] = {
    # user u rates 3 of the 4 rated movies (skipping a different one), so each has a hidden negative
    "ratings.dat": "".join(f"{u}::{m}::{1 + (u + m) % 5}::97830{u}{m:03d}\n"
                           for u in (1, 2, 3) for m in (10, 20, 30, 50) if m != (10, 20, 30)[u - 1]),
    "movies.dat": ("10::Misérables, Les (1995)::Drama|Musical\n20::Toy Story (1995)::Animation|Children's|Comedy\n"
                   "30::Alien (1979)::Horror|Sci-Fi\n40::Never Rated (1972)::Horror\n50::Heat (1995)::Action|Crime\n"),
    "users.dat": "1::F::1::10::48067\n2::M::56::16::70072\n3::M::25::15::55117\n",
}


def write_ml1m(d: Path, **override: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for name, text in dict(ML1M, **override).items():
        (d / name).write_bytes(text.encode("latin-1"))
    return d


def test_prepare_ml1m_fixture(tmp_path, capsys):
    src = write_ml1m(tmp_path / "ml-1m")
    rc = main(["prepare", "ml-1m", "--data-dir", str(src), "--out", str(tmp_path / "run"), "--n-test", "1", "--seed", "3"])
    assert rc == 0
    summary = json.loads((tmp_path / "run" / "data" / "summary.json").read_text())
    assert summary["dataset"] == "ml-1m"
    assert (summary["n_users"], summary["n_items"], summary["n_interactions"]) == (3, 4, 9)  # movie 40 unrated
    assert summary["n_train"] == 9 - 3 and summary["n_test_users"] == 3
    assert {"Drama", "Horror", "Sci-Fi", "1990s", "1970s"} <= set(summary["concepts"])
    assert sorted(summary["user_attributes"]) == ["age", "gender", "occupation"]
    cfg = json.loads((tmp_path / "run" / "data" / "config.json").read_text())
    assert cfg["seed"] == 3 and cfg["dataset"] == "ml-1m" and cfg["config"]["n_test"] == 1
    out = capsys.readouterr()
    assert "n_users=3" in out.out and "reading ml-1m" in out.err


def test_prepare_synthetic_tiny(tmp_path):
    assert main(["prepare", "synthetic", "--size", "tiny", "--out", str(tmp_path / "run")]) == 0
    s = json.loads((tmp_path / "run" / "data" / "summary.json").read_text())
    assert s["n_users"] == 200 and s["n_items"] <= 150 and s["n_train"] > 0 and s["concepts"]


def test_prepare_csv_with_items(tmp_path):
    # each user leaves one item unseen, so --n-test 1 has a hidden negative for everyone (else nothing is evaluated)
    (tmp_path / "i.csv").write_text("user,item\n" + "".join(f"u{u},m{m}\n" for u in range(4) for m in range(3)
                                                             if (u + m) % 3 != 2))
    (tmp_path / "t.csv").write_text("item,title,concepts,year\nm0,Zero,rock|pop,1991\nm1,One,rock,1985\nm2,Two,,\n")
    rc = main(["prepare", "csv", "--interactions", str(tmp_path / "i.csv"), "--items", str(tmp_path / "t.csv"),
               "--out", str(tmp_path / "run"), "--n-test", "1"])
    assert rc == 0
    s = json.loads((tmp_path / "run" / "data" / "summary.json").read_text())
    assert s["n_users"] == 4 and s["n_items"] == 3 and {"rock", "pop"} <= set(s["concepts"])


def _latin1_in_utf8(d: Path) -> None:
    (d / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n")
    (d / "movies.csv").write_bytes("movieId,title,genres\n1,Amélie (2001),Comedy\n".encode("latin-1"))


BAD = {
    "missing file": ("ml-1m", lambda d: (write_ml1m(d), (d / "ratings.dat").unlink()), "ratings.dat: missing"),
    "empty file": ("ml-1m", lambda d: write_ml1m(d, **{"ratings.dat": ""}), "ratings.dat:1: expected"),
    "wrong separator": ("ml-1m", lambda d: write_ml1m(d, **{"ratings.dat": "1\t10\t5\t978300760\n"}), "ratings.dat:1: expected 4 '::'-separated fields"),
    "non-integer id": ("ml-1m", lambda d: write_ml1m(d, **{"ratings.dat": "1::10::5::978300760\n1::2O::5::978300760\n"}), "ratings.dat:2: expected an integer MovieID, got '2O'"),
    "truncated line": ("ml-1m", lambda d: write_ml1m(d, **{"movies.dat": ML1M["movies.dat"] + "60::Cut Off (1990)"}), "movies.dat:6: expected 3 '::'-separated fields"),
    "wrong encoding": ("ml-latest-small", _latin1_in_utf8, "movies.csv:2: expected UTF-8 text, got byte 0xE9"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_prepare_bad_input_one_line_no_output(tmp_path, capsys, case):
    dataset, make, fragment = BAD[case]
    src = tmp_path / "src"
    src.mkdir()
    make(src)
    rc = main(["prepare", dataset, "--data-dir", str(src), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err[-1].startswith("jaxsae prepare: error: ") and fragment in err[-1] and str(src) in err[-1]
    assert not any("Traceback" in line for line in err)
    assert not (tmp_path / "run" / "data").exists()
    assert not list((tmp_path / "run").glob(".data.tmp-*")) if (tmp_path / "run").exists() else True


def test_prepare_debug_raises(tmp_path):
    src = write_ml1m(tmp_path / "src", **{"ratings.dat": ""})
    with pytest.raises(DataFormatError):
        main(["--debug", "prepare", "ml-1m", "--data-dir", str(src), "--out", str(tmp_path / "run")])


@pytest.mark.parametrize("argv, fragment", [
    (["prepare", "ml-1mm"], "unknown dataset 'ml-1mm'; did you mean ml-1m"),
    (["prepare", "ml-1m", "--n-test", "-1"], "--n-test must be >= 1"),
    (["prepare", "ml-1m", "--n-test", "0"], "--n-test must be >= 1"),
    (["prepare", "ml-1m", "--size", "tiny"], "--size does not apply to dataset 'ml-1m'"),
    (["prepare", "ml-1m", "--paper-filters"], "no paper filters are defined for 'ml-1m'"),
    (["prepare", "csv"], "pass --interactions FILE"),
    (["prepare", "lastfm-msd"], "pass --data-dir"),
    (["prepare", "ml-1m", "--data-dir", "/nonexistent/ml-1m"], "/nonexistent/ml-1m: no such folder"),
    (["prepare", "synthetic", "--size", "huge"], "unknown synthetic preset 'huge'"),
])
def test_prepare_config_errors_before_work(tmp_path, capsys, argv, fragment, monkeypatch):
    monkeypatch.setenv("JAXSAE_CACHE", str(tmp_path / "empty-cache"))
    assert main(argv + ["--out", str(tmp_path / "run")]) == 2
    assert fragment in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_prepare_without_data_dir_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("JAXSAE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("JAXSAE_DATA_DIR", raising=False)
    assert main(["prepare", "ml-1m", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "--data-dir DIR" in err and "https://files.grouplens.org/datasets/movielens/ml-1m.zip" in err


def test_prepare_finds_the_dataset_under_jaxsae_data_dir(tmp_path, capsys, monkeypatch):
    write_ml1m(tmp_path / "data" / "ml-1m")
    monkeypatch.setenv("JAXSAE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("JAXSAE_CACHE", str(tmp_path / "cache"))
    assert main(["prepare", "ml-1m", "--out", str(tmp_path / "run"), "--n-test", "1"]) == 0
    captured = capsys.readouterr()
    assert "($JAXSAE_DATA_DIR)" in captured.out + captured.err
    assert json.loads((tmp_path / "run" / "data" / "config.json").read_text())["data_dir"] == str(tmp_path / "data" / "ml-1m")


def test_prepare_download_via_local_server(tmp_path, monkeypatch, capsys):
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    www = tmp_path / "www"
    www.mkdir()
    with zipfile.ZipFile(www / "ml-1m.zip", "w") as z:
        for name, text in ML1M.items():
            z.writestr(f"ml-1m/{name}", text.encode("latin-1"))
    sha = hashlib.sha256((www / "ml-1m.zip").read_bytes()).hexdigest()
    quiet = type("H", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(quiet, directory=str(www)))
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/ml-1m.zip"
        monkeypatch.setitem(download.ARCHIVES, "ml-1m", dataclasses.replace(download.ARCHIVES["ml-1m"], url=url, sha256=sha))
        argv = ["prepare", "ml-1m", "--download", "--cache-dir", str(tmp_path / "cache"), "--n-test", "1"]
        assert main(argv + ["--out", str(tmp_path / "run")]) == 0
        assert json.loads((tmp_path / "run" / "data" / "summary.json").read_text())["n_users"] == 3
        # later runs find the earlier download without --download
        assert main(["prepare", "ml-1m", "--cache-dir", str(tmp_path / "cache"), "--n-test", "1", "--out", str(tmp_path / "r2")]) == 0
        assert "downloaded earlier" in capsys.readouterr().err
        # a wrong pinned hash: clear error, nothing written
        monkeypatch.setitem(download.ARCHIVES, "ml-1m", dataclasses.replace(download.ARCHIVES["ml-1m"], sha256="f" * 64))
        assert main(argv + ["--cache-dir", str(tmp_path / "cache2"), "--out", str(tmp_path / "r3")]) == 2
        assert "checksum mismatch" in capsys.readouterr().err and not (tmp_path / "r3" / "data").exists()
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_prepare_real_ml100k(real_data, tmp_path):
    assert main(["prepare", "ml-100k", "--data-dir", str(real_data("ml-100k")), "--out", str(tmp_path / "run")]) == 0
    s = json.loads((tmp_path / "run" / "data" / "summary.json").read_text())
    assert (s["n_users"], s["n_items"], s["n_interactions"]) == (943, 1682, 100_000)
    assert s["n_train"] == 100_000 - 5 * 943 and s["n_test_users"] == 943


@pytest.mark.slow
def test_prepare_subprocess_prints_one_line(tmp_path):
    src = write_ml1m(tmp_path / "src", **{"users.dat": "1::F::1::10::48067\n2::M::56::16::70072\n3::Q::25::15::55117\n"})
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    r = subprocess.run([sys.executable, "-m", "jaxsae", "prepare", "ml-1m", "--data-dir", str(src), "--out", str(tmp_path / "run")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == (
        f"jaxsae prepare: error: {src / 'users.dat'}:3: expected Gender in {{M, F}}, got 'Q'")
    assert "Traceback" not in r.stderr and not (tmp_path / "run" / "data").exists()
