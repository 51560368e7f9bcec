"""mlbuild fetch against a real HTTP server on 127.0.0.1: Range resume, size/MD5 checks, cache reuse."""
from __future__ import annotations

import hashlib
import importlib.util
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mlbuild._util.resources import wordnet_map
from mlbuild.cli import main
from mlbuild.sources.official_files import FetchError, KnownFile, fetch, known_files, resolve

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


def test_download_verify_and_reuse(server, tmp_path):
    path = fetch(_item(server), tmp_path)
    assert path.read_bytes() == PAYLOAD and not (tmp_path / "list.csv.part").exists()
    assert (tmp_path / "list.csv.md5").read_text().split()[0] == hashlib.md5(PAYLOAD).hexdigest()
    fetch(_item(server), tmp_path)
    assert len(server.ranges) == 1  # the verified copy was reused, no second request


def test_interrupted_transfer_resumes_with_range(server, tmp_path):
    server.cut_after["/data/list.csv"] = 300_000
    with pytest.raises(FetchError, match="interrupted after .* bytes.*run again to resume"):
        fetch(_item(server), tmp_path, retries=0)
    kept = (tmp_path / "list.csv.part").stat().st_size
    assert 0 < kept <= 300_000 and (tmp_path / "list.csv.part").read_bytes() == PAYLOAD[:kept]
    assert fetch(_item(server), tmp_path).read_bytes() == PAYLOAD
    assert server.ranges == [None, f"bytes={kept}-"]


def test_retry_resumes_within_one_call(server, tmp_path):
    server.cut_after["/data/list.csv"] = 200_000
    assert fetch(_item(server), tmp_path, retries=1).read_bytes() == PAYLOAD
    assert server.ranges[0] is None and server.ranges[1].startswith("bytes=") and len(server.ranges) == 2
    assert 0 < int(server.ranges[1][6:-1]) <= 200_000


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    server.ignore_range.add("/data/list.csv")
    (tmp_path / "list.csv.part").write_bytes(PAYLOAD[:1000])
    assert fetch(_item(server), tmp_path).read_bytes() == PAYLOAD
    assert server.ranges == ["bytes=1000-"]


def test_complete_part_is_verified_without_download(server, tmp_path):
    (tmp_path / "list.csv.part").write_bytes(PAYLOAD)
    assert fetch(_item(server, size=None), tmp_path).read_bytes() == PAYLOAD
    assert server.ranges == [f"bytes={len(PAYLOAD)}-"]  # answered 416: nothing left


def test_404_wrong_size_and_md5_mismatch(server, tmp_path):
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(KnownFile("x.csv", f"{server.url}/missing.csv"), tmp_path)
    with pytest.raises(FetchError, match="the server has 1,048,576 bytes, expected 1,000"):
        fetch(_item(server, size=1000), tmp_path)
    with pytest.raises(FetchError, match="does not match the expected 0{32}"):
        fetch(_item(server, md5="0" * 32), tmp_path)
    assert not (tmp_path / "list.csv").exists() and not (tmp_path / "list.csv.part").exists()


def test_corrupt_cached_copy_is_replaced(server, tmp_path):
    (tmp_path / "list.csv").write_bytes(b"x" * len(PAYLOAD))
    assert fetch(_item(server), tmp_path).read_bytes() == PAYLOAD
    assert len(server.ranges) == 1


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
