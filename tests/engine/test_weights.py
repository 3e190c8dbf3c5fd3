"""Tests for explorer.engine.weights against the real shared checkpoints and a real local HTTP server."""

from __future__ import annotations

import contextlib
import filecmp
import functools
import os
import shutil
import socket
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from explorer.engine import weights
from explorer.errors import WeightsError
from explorer.functionals import DM21_NAMES

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "dm21"
SHARED_CHECKPOINTS = SHARED / "checkpoints"

needs_shared = pytest.mark.skipif(
    not SHARED_CHECKPOINTS.is_dir(), reason=f"{SHARED_CHECKPOINTS} does not exist"
)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """Keep the user's environment and real cache out of every test."""
    monkeypatch.delenv("DM21_CHECKPOINTS", raising=False)
    monkeypatch.delenv("DM21_WEIGHTS_URL", raising=False)
    monkeypatch.setenv("DM21_CACHE_DIR", str(tmp_path / "cache"))


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@contextlib.contextmanager
def serve(directory: Path):
    """Serve ``directory`` over HTTP on 127.0.0.1 and yield its base URL."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def writable_copy(src: Path, dst: Path) -> Path:
    """Copy a tree and give the owner write access to everything in it."""
    shutil.copytree(src, dst)
    for top, dirs, filenames in os.walk(dst):
        for entry in [*dirs, *filenames]:
            p = os.path.join(top, entry)
            os.chmod(p, os.stat(p).st_mode | stat.S_IWUSR)
    os.chmod(dst, os.stat(dst).st_mode | stat.S_IWUSR)
    return dst


def flip_byte(path: Path, offset: int | None = None) -> None:
    """Invert one byte of ``path`` (the middle one by default)."""
    offset = path.stat().st_size // 2 if offset is None else offset
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_expected_sums_cover_all_files():
    sums = weights.expected_sums()
    assert len(sums) == 20
    for name in DM21_NAMES:
        for f in (
            "saved_model.pb",
            "smart_module.pb",
            "tfhub_module.pb",
            "variables/variables.data-00000-of-00001",
            "variables/variables.index",
        ):
            digest = sums[f"checkpoints/{name}/{f}"]
            assert len(digest) == 64 and set(digest) <= set("0123456789abcdef")
    sums["checkpoints/DM21/saved_model.pb"] = "x"
    assert weights.expected_sums()["checkpoints/DM21/saved_model.pb"] != "x"


@needs_shared
def test_packaged_sums_match_shared_list():
    lines = (SHARED / "SHA256SUMS").read_text().split("\n")
    shared = {rel: d for d, rel in (line.split("  ") for line in lines if line)}
    assert weights.expected_sums() == shared


def test_official_url_points_at_pinned_commit():
    assert weights.OFFICIAL_COMMIT in weights.OFFICIAL_BASE_URL
    assert weights.OFFICIAL_BASE_URL.startswith("https://raw.githubusercontent.com/")
    assert weights.OFFICIAL_BASE_URL.endswith(
        "density_functional_approximation_dm21/density_functional_approximation_dm21"
    )


def test_cache_dir_and_candidate_order(monkeypatch, tmp_path):
    assert weights.cache_dir() == tmp_path / "cache" / "checkpoints"
    labels = [label for label, _ in weights.candidate_roots()]
    assert labels == ["cache", "shared"]

    monkeypatch.setenv("DM21_CHECKPOINTS", str(tmp_path / "mine"))
    roots = weights.candidate_roots()
    assert roots[0] == ("DM21_CHECKPOINTS", tmp_path / "mine")
    assert roots[1] == ("cache", tmp_path / "cache" / "checkpoints")
    assert roots[2][1] == SHARED_CHECKPOINTS

    monkeypatch.delenv("DM21_CACHE_DIR")
    assert weights.cache_dir().parts[-1] == "checkpoints"
    assert "dm21-explorer" in str(weights.cache_dir())


@needs_shared
def test_shared_checkpoints_found_and_verified(monkeypatch):
    monkeypatch.setenv("DM21_CHECKPOINTS", str(SHARED_CHECKPOINTS))
    for name in DM21_NAMES:
        assert weights.find_checkpoint(name) == SHARED_CHECKPOINTS / name
    report = weights.status()
    assert [r["name"] for r in report] == list(DM21_NAMES)
    for r in report:
        assert r == {
            "name": r["name"],
            "path": str(SHARED_CHECKPOINTS / r["name"]),
            "ok": True,
            "error": None,
        }


@needs_shared
def test_verification_from_many_threads(tmp_path):
    copy = writable_copy(SHARED_CHECKPOINTS, tmp_path / "copy")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: weights.verify_checkpoint(copy, n), DM21_NAMES * 4))


@needs_shared
def test_corrupted_byte_is_detected(monkeypatch, tmp_path):
    copy = writable_copy(SHARED_CHECKPOINTS, tmp_path / "copy")
    monkeypatch.setenv("DM21_CHECKPOINTS", str(copy))
    weights.find_checkpoint("DM21")  # verified and remembered before the damage

    data = copy / "DM21" / "variables" / "variables.data-00000-of-00001"
    flip_byte(data)
    with pytest.raises(WeightsError, match="checksum") as info:
        weights.find_checkpoint("DM21")
    message = str(info.value)
    assert str(data) in message
    assert "checksum mismatch" in message
    assert "\n" not in message

    report = {r["name"]: r for r in weights.status()}
    assert report["DM21"]["ok"] is False
    assert report["DM21"]["path"] == str(copy / "DM21")
    assert "checksum mismatch" in report["DM21"]["error"]
    assert report["DM21m"]["ok"] is True


@needs_shared
def test_missing_file_is_named(tmp_path):
    copy = writable_copy(SHARED_CHECKPOINTS, tmp_path / "copy")
    index = copy / "DM21mc" / "variables" / "variables.index"
    index.unlink()
    with pytest.raises(WeightsError, match="missing") as info:
        weights.verify_checkpoint(copy, "DM21mc")
    assert str(index) in str(info.value)


def test_missing_directory_names_download_command(monkeypatch, tmp_path):
    nowhere = tmp_path / "nowhere"
    monkeypatch.setenv("DM21_CHECKPOINTS", str(nowhere))
    with pytest.raises(WeightsError) as info:
        weights.find_checkpoint("DM21m")
    message = str(info.value)
    assert "python -m explorer weights download" in message
    assert str(nowhere / "DM21m") in message
    assert "\n" not in message
    assert weights.status()[1] == {"name": "DM21m", "path": None, "ok": False, "error": message}


def test_unknown_name_lists_valid_names(tmp_path):
    with pytest.raises(WeightsError, match="DM21, DM21m, DM21mc, DM21mu"):
        weights.find_checkpoint("DM22")
    with pytest.raises(WeightsError, match="valid names"):
        weights.verify_checkpoint(tmp_path, "../DM21")
    with pytest.raises(WeightsError, match="valid names"):
        weights.download(dest=tmp_path / "dl", base_url="http://127.0.0.1:9", names=["dm21"])
    assert not (tmp_path / "dl").exists()


@needs_shared
def test_download_from_local_server(tmp_path):
    dest = tmp_path / "dl"
    messages = []
    with serve(SHARED) as url:
        result = weights.download(dest=dest, base_url=url + "/", progress=messages.append)
    assert result == dest
    assert sorted(os.listdir(dest)) == sorted(DM21_NAMES)
    for rel in weights.expected_sums():
        got = dest / rel.removeprefix("checkpoints/")
        assert filecmp.cmp(got, SHARED / rel, shallow=False), rel
    for name in DM21_NAMES:
        weights.verify_checkpoint(dest, name)
    assert sum(m.startswith("downloading http://127.0.0.1:") for m in messages) == 20


@needs_shared
def test_download_defaults_to_cache_and_env_url(monkeypatch, tmp_path):
    # A broken copy already in the cache must be replaced.
    broken = weights.cache_dir() / "DM21mu"
    broken.mkdir(parents=True)
    (broken / "saved_model.pb").write_bytes(b"junk")
    with pytest.raises(WeightsError, match="missing"):
        weights.find_checkpoint("DM21mu")

    with serve(SHARED) as url:
        monkeypatch.setenv("DM21_WEIGHTS_URL", url)
        assert weights.download(names="DM21mu") == weights.cache_dir()
    assert weights.find_checkpoint("DM21mu") == broken
    assert sorted(os.listdir(weights.cache_dir())) == ["DM21mu"]


@needs_shared
def test_download_of_corrupted_mirror_leaves_nothing(tmp_path):
    mirror = writable_copy(SHARED, tmp_path / "mirror")
    flip_byte(mirror / "checkpoints" / "DM21mu" / "variables" / "variables.data-00000-of-00001")
    dest = tmp_path / "dl"
    dest.mkdir()
    with serve(mirror) as url, pytest.raises(WeightsError, match="checksum mismatch") as info:
        weights.download(dest=dest, base_url=url)
    message = str(info.value)
    assert f"{url}/checkpoints/DM21mu/variables/variables.data-00000-of-00001" in message
    assert "\n" not in message
    assert os.listdir(dest) == []
    assert sorted(os.listdir(tmp_path)) == ["dl", "mirror"]


@needs_shared
def test_download_missing_file_reports_http_status(tmp_path):
    mirror = writable_copy(SHARED, tmp_path / "mirror")
    (mirror / "checkpoints" / "DM21" / "smart_module.pb").unlink()
    dest = tmp_path / "new" / "dl"
    with serve(mirror) as url, pytest.raises(WeightsError, match="404") as info:
        weights.download(dest=dest, base_url=url, names=("DM21",))
    assert f"{url}/checkpoints/DM21/smart_module.pb" in str(info.value)
    assert not dest.exists()


def test_unreachable_url_raises(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}"
    dest = tmp_path / "dl"
    with pytest.raises(WeightsError) as info:
        weights.download(dest=dest, base_url=url, names=("DM21",), timeout=5)
    assert f"{url}/checkpoints/DM21/" in str(info.value)
    assert not dest.exists()
