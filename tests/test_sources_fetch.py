"""mlbuild fetch against a real HTTP server on 127.0.0.1: Range resume, size/MD5 checks, cache reuse,
and the cache's other files left alone (a file fetch did not place is verified and kept, or refused)."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mlbuild._util.resources import wordnet_map
from mlbuild.cli import main
from mlbuild.errors import OutputError
from mlbuild.sources.official_files import (
    STATE_DIR,
    FetchError,
    KnownFile,
    fetch,
    fetch_state_dir,
    known_files,
    resolve,
)

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class Server:
    """Serves `files`; can cut a transfer after N bytes once, ignore Range, and logs Range headers."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cut_after: dict[str, int] = {}
        self.ignore_range: set[str] = set()
        self.ranges: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                server.ranges.append(self.headers.get("Range"))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                header = self.headers.get("Range")
                if header and self.path not in server.ignore_range:
                    start = int(header.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                cut = server.cut_after.pop(self.path, None)
                self.wfile.write(body[start:] if cut is None else body[start:start + cut])
                if cut is not None:
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()


@pytest.fixture
def server():
    s = Server()
    s.files["/data/list.csv"] = PAYLOAD
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def _item(server, **kw) -> KnownFile:
    return KnownFile("list.csv", f"{server.url}/data/list.csv", **{"size": len(PAYLOAD),
                                                                    "md5": hashlib.md5(PAYLOAD).hexdigest(), **kw})


def _part(cache: Path) -> Path:
    return cache / STATE_DIR / "list.csv.part"


def _record(cache: Path) -> dict:
    return json.loads((cache / STATE_DIR / "list.csv.json").read_text())


def test_download_verify_and_reuse(server, tmp_path):
    path = fetch(_item(server), tmp_path)
    assert path.read_bytes() == PAYLOAD and not _part(tmp_path).exists()
    assert _record(tmp_path)["md5"] == hashlib.md5(PAYLOAD).hexdigest() and _record(tmp_path)["fetched"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [STATE_DIR, "list.csv"]
    fetch(_item(server), tmp_path)
    assert len(server.ranges) == 1  # the verified copy was reused, no second request


def test_interrupted_transfer_resumes_with_range(server, tmp_path):
    server.cut_after["/data/list.csv"] = 300_000
    with pytest.raises(FetchError, match="interrupted after .* bytes.*run again to resume"):
        fetch(_item(server), tmp_path, retries=0)
    kept = _part(tmp_path).stat().st_size
    assert 0 < kept <= 300_000 and _part(tmp_path).read_bytes() == PAYLOAD[:kept]
    assert fetch(_item(server), tmp_path).read_bytes() == PAYLOAD
    assert server.ranges == [None, f"bytes={kept}-"]


def test_retry_resumes_within_one_call(server, tmp_path):
    server.cut_after["/data/list.csv"] = 200_000
    assert fetch(_item(server), tmp_path, retries=1).read_bytes() == PAYLOAD
    assert server.ranges[0] is None and server.ranges[1].startswith("bytes=") and len(server.ranges) == 2
    assert 0 < int(server.ranges[1][6:-1]) <= 200_000


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    server.ignore_range.add("/data/list.csv")
    fetch_state_dir(tmp_path)
    _part(tmp_path).write_bytes(PAYLOAD[:1000])
    assert fetch(_item(server), tmp_path).read_bytes() == PAYLOAD
    assert server.ranges == ["bytes=1000-"]


def test_complete_part_is_verified_without_download(server, tmp_path):
    fetch_state_dir(tmp_path)
    _part(tmp_path).write_bytes(PAYLOAD)
    assert fetch(_item(server, size=None), tmp_path).read_bytes() == PAYLOAD
    assert server.ranges == [f"bytes={len(PAYLOAD)}-"]  # answered 416: nothing left


def test_404_wrong_size_and_md5_mismatch(server, tmp_path):
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(KnownFile("x.csv", f"{server.url}/missing.csv"), tmp_path)
    with pytest.raises(FetchError, match="the server has 1,048,576 bytes, expected 1,000"):
        fetch(_item(server, size=1000), tmp_path)
    with pytest.raises(FetchError, match="does not match the expected 0{32}"):
        fetch(_item(server, md5="0" * 32), tmp_path)
    assert not (tmp_path / "list.csv").exists() and not _part(tmp_path).exists()


def test_a_file_fetch_did_not_place_is_kept_when_it_matches(server, tmp_path):
    (tmp_path / "list.csv").write_bytes(PAYLOAD)
    assert fetch(_item(server), tmp_path).read_bytes() == PAYLOAD
    assert server.ranges == [] and not _record(tmp_path)["fetched"]  # verified, not downloaded
    assert fetch(_item(server), tmp_path) == tmp_path / "list.csv" and server.ranges == []


@pytest.mark.parametrize("body, known, why", [
    (b"x" * len(PAYLOAD), {}, "its MD5 [0-9a-f]{32} is not the expected [0-9a-f]{32}"),
    (b"x" * 10, {}, "has 10 bytes, expected 1,048,576"),
    (PAYLOAD, {"md5": None}, "no MD5 is known to verify it"),
])
def test_a_file_fetch_did_not_place_is_refused_and_untouched(server, tmp_path, body, known, why):
    (tmp_path / "list.csv").write_bytes(body)
    with pytest.raises(FetchError, match=f"list.csv: exists, was not fetched by mlbuild and {why}; mlbuild never"):
        fetch(_item(server, **known), tmp_path)
    assert (tmp_path / "list.csv").read_bytes() == body and server.ranges == []


def test_a_fetched_copy_changed_by_the_user_is_no_longer_fetchs(server, tmp_path):
    fetch(_item(server), tmp_path)
    (tmp_path / "list.csv").write_bytes(b"mine")
    with pytest.raises(FetchError, match="was not fetched by mlbuild"):
        fetch(_item(server), tmp_path)
    assert (tmp_path / "list.csv").read_bytes() == b"mine" and len(server.ranges) == 1


def test_fetchs_own_outdated_copy_is_replaced(server, tmp_path):
    fetch(_item(server), tmp_path)
    server.files["/data/list.csv"] = PAYLOAD[::-1]
    new = _item(server, md5=hashlib.md5(PAYLOAD[::-1]).hexdigest())
    assert fetch(new, tmp_path).read_bytes() == PAYLOAD[::-1] and len(server.ranges) == 2


def test_the_users_other_files_in_the_cache_are_left_alone(server, tmp_path):
    mine = {"list.csv.part": b"my notes", "list.csv.md5": b"0" * 32 + b"  list.csv\n", "other.txt": b"x"}
    for name, body in mine.items():
        (tmp_path / name).write_bytes(body)
    assert fetch(_item(server), tmp_path).read_bytes() == PAYLOAD
    assert {name: (tmp_path / name).read_bytes() for name in mine} == mine
    (tmp_path / "own").mkdir()
    (tmp_path / "own" / STATE_DIR).mkdir(parents=True)
    (tmp_path / "own" / STATE_DIR / "x").write_text("not fetch's")
    with pytest.raises(OutputError, match="not empty and was not made by mlbuild"):
        fetch(_item(server), tmp_path / "own")


def test_known_files_table_and_resolve():
    table = known_files()
    assert len(table) >= 78
    boxable = table["class-descriptions-boxable.csv"]
    assert (boxable.size, boxable.md5) == (12011, "9846fd22fd2e68b45e3f3810a4c2a32a")
    assert table["words.txt"].md5 is None and table["imagenet22k_synsets.txt"].size == 218_410
    assert resolve(boxable.url, table) is boxable
    assert resolve("https://example.org/a/b%20c.txt", table) == KnownFile("b c.txt", "https://example.org/a/b%20c.txt")
    with pytest.raises(FetchError, match="neither a known file"):
        resolve("nonsense", table)


def test_known_files_csv_is_regenerated_identically(shared_data):
    script = Path(__file__).resolve().parent.parent / "scripts" / "make_known_files.py"
    spec = importlib.util.spec_from_file_location("make_known_files", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render(module.known_rows(shared_data)) == wordnet_map("known_files.csv").read_text()


def test_cli_fetch_by_url(server, tmp_path, capsys):
    assert main(["fetch", f"{server.url}/data/list.csv", "--cache", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "list.csv")
    assert main(["fetch", f"{server.url}/nothing.txt", "--cache", str(tmp_path)]) == 2
    assert "HTTP 404" in capsys.readouterr().err
    (tmp_path / "list2.csv").write_text("mine\n")
    server.files["/data/list2.csv"] = PAYLOAD
    assert main(["fetch", f"{server.url}/data/list2.csv", "--cache", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "list2.csv: exists, was not fetched by mlbuild" in err
    assert (tmp_path / "list2.csv").read_text() == "mine\n"
