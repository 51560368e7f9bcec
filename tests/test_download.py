"""The downloader end to end against a real aiohttp server on 127.0.0.1: statuses, retries,
limits, resume, retry of failures, shards, the CLI, and kill -9 in the middle of a run."""
from __future__ import annotations

import dataclasses
import email.utils
import hashlib
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from download_server import ImageServer, Page, jpeg_bytes, png_bytes, png_declaring
from PIL import Image
from process_helpers import alive_after, child_pids, in_small_filesystem

from mlbuild.cli import main as cli_main
from mlbuild.images.download.downloader import DownloadConfig, download, download_shard
from mlbuild.images.download.journal import Journal, journal_paths, read_journal
from mlbuild.images.download.state import collect_results
from mlbuild.images.phash import phash_int
from mlbuild.schemas import IMAGES

FAST = DownloadConfig(connect_timeout=0.5, read_timeout=0.3, total_timeout=2.0, backoff_base=0.05,
                      max_attempts=3, concurrency=16, per_host=16, fsync_interval=0.05, processes=1)


@pytest.fixture(scope="module")
def server():
    srv = ImageServer().start()
    yield srv
    srv.stop()


def batch_of(rows: list[dict]) -> pa.RecordBatch:
    """A record batch with the IMAGES column names the downloader reads."""
    names = ["image_id", "url", "md5", "size"]
    return pa.RecordBatch.from_arrays(
        [pa.array([r.get(n) for r in rows], IMAGES.field(n).type) for n in names], names)


def results_by_id(out: Path) -> dict[str, dict]:
    table = pq.read_table(out / "results.parquet")
    ids = table.column("image_id").to_pylist()
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    return {r["image_id"]: r for r in table.to_pylist()}


def test_every_status_against_a_real_server(server, tmp_path):
    jpeg, png, big = jpeg_bytes(1), png_bytes(), jpeg_bytes(2, (320, 240))
    placeholder = png_bytes((77, 55), (200, 200, 200))
    rules = tmp_path / "rules.tsv"
    rules.write_text(f"url\t/gone/photo_unavailable\\.png$\t-\t-\t-\tredirect target\n"
                     f"sha256\t{hashlib.sha256(placeholder).hexdigest()}\t-\t-\t-\tbytes\n"
                     f"image\t^127\\.0\\.0\\.1$\t61\t43\tGIF\tdimensions\n")
    buf = io.BytesIO()
    Image.new("P", (61, 43)).save(buf, "GIF")
    gif = buf.getvalue()
    date = email.utils.formatdate(time.time() + 2, usegmt=True)
    pages = {
        "ok": ("ok.jpg", Page(jpeg)),
        "png": ("p.png", Page(png, "image/png")),
        "md5_ok": ("m.jpg", Page(big)),
        "not_found": ("gone404", Page(status=404)),
        "server_error": ("e500", Page(jpeg, fail_first=99, fail_status=500)),
        "retry_429": ("r429", Page(jpeg, fail_first=1, fail_status=429, retry_after="1")),
        "retry_503_date": ("r503", Page(jpeg, fail_first=1, fail_status=503, retry_after=date)),
        "slow": ("slow", Page(jpeg, delay=1.0)),
        "stall": ("stall", Page(big, mode="stall")),
        "truncated": ("trunc", Page(big, mode="truncate")),
        "corrupt": ("corrupt.jpg", Page(big[: len(big) // 2])),
        "garbage": ("garbage.jpg", Page(b"\xff\xd8not a jpeg at all" * 10)),
        "bomb_error": ("bomb.png", Page(png_declaring(100_000, 100_000), "image/png")),
        "bomb_warning": ("bomb2.png", Page(png_declaring(10_000, 10_000), "image/png")),
        "redirected": ("r1", Page(redirect="/r2")),
        "loop": ("loop", Page(redirect="/loop")),
        "html": ("page.html", Page(b"<html></html>", "text/html; charset=utf-8")),
        "octet": ("o.bin", Page(jpeg, "application/octet-stream")),
        "noai": ("noai.jpg", Page(jpeg, headers={"X-Robots-Tag": "noai"})),
        "ours": ("ours.jpg", Page(jpeg, headers={"X-Robots-Tag": "mlbuild: noimageai, nofollow"})),
        "theirs": ("theirs.jpg", Page(jpeg, headers={"X-Robots-Tag": "otherbot: noai"})),
        "robots_none": ("none.jpg", Page(jpeg, headers={"X-Robots-Tag": "none"})),
        "placeholder_url": ("missing-photo", Page(redirect="/gone/photo_unavailable.png")),
        "placeholder_sha": ("ph.png", Page(placeholder, "image/png")),
        "placeholder_dims": ("ph.gif", Page(gif, "image/gif")),
        "md5_bad": ("m2.jpg", Page(big)),
        "size_bad": ("s.jpg", Page(big)),
        "too_large": ("huge.jpg", Page(big)),
        "too_large_chunked": ("huge-chunked.jpg", Page(big, mode="chunked")),
        "chunked": ("chunked.jpg", Page(jpeg, mode="chunked")),
    }
    server.add("r2", Page(redirect="/ok.jpg"))
    server.add("gone/photo_unavailable.png", Page(png, "image/png"))
    rows = [{"image_id": f"t:{key}", "url": server.add(path, page)} for key, (path, page) in pages.items()]
    extra = {"md5_ok": {"md5": hashlib.md5(big).hexdigest(), "size": len(big)},
             "md5_bad": {"md5": hashlib.md5(b"other").hexdigest()}, "size_bad": {"size": len(big) + 1}}
    for row in rows:
        row.update(extra.get(row["image_id"][2:], {}))
    rows += [{"image_id": "t:refused", "url": "http://127.0.0.1:9/x.jpg"},
             {"image_id": "t:dns", "url": "http://no-such-host.invalid/x.jpg"},
             {"image_id": "t:ftp", "url": "ftp://example.org/x.jpg"}]
    oversized = [r for r in rows if r["image_id"] in ("t:too_large", "t:too_large_chunked")]
    config = dataclasses.replace(FAST, placeholders=rules)
    first = download([batch_of([r for r in rows if r not in oversized])], config, tmp_path / "out",
                     hasher=lambda img: img.width * 1000 + img.height)
    assert first.resumed == 0 and sum(first.fetched.values()) == len(rows) - 2
    download([batch_of(oversized)], dataclasses.replace(config, max_bytes=len(big) - 1),
             tmp_path / "out")
    got = results_by_id(tmp_path / "out")
    status = {k[2:]: r["status"] for k, r in got.items()}
    assert status == {
        "ok": "ok", "png": "ok", "md5_ok": "ok", "not_found": "http_4xx", "server_error": "http_5xx",
        "retry_429": "ok", "retry_503_date": "ok", "slow": "timeout", "stall": "timeout",
        "truncated": "truncated", "corrupt": "not_image", "garbage": "not_image",
        "bomb_error": "decompression_bomb", "bomb_warning": "decompression_bomb",
        "redirected": "ok", "loop": "too_many_redirects", "html": "wrong_content_type",
        "octet": "ok", "noai": "opted_out", "ours": "opted_out", "theirs": "ok",
        "robots_none": "opted_out", "placeholder_url": "placeholder", "placeholder_sha": "placeholder",
        "placeholder_dims": "placeholder", "md5_bad": "md5_mismatch", "size_bad": "size_mismatch",
        "too_large": "too_large", "too_large_chunked": "too_large", "chunked": "ok",
        "refused": "connection", "dns": "dns", "ftp": "invalid_url"}

    # Retries: transient failures use every attempt, permanent ones one; waits honoured.
    assert server.hit_count("e500") == 3 and got["t:server_error"]["attempts"] == 3
    assert server.hit_count("trunc") == 3 and server.hit_count("gone404") == 1
    gap_429 = server.times["r429"][1] - server.times["r429"][0]
    gap_503 = server.times["r503"][1] - server.times["r503"][0]
    assert gap_429 >= 1.0 and gap_503 >= 0.9, (gap_429, gap_503)
    assert got["t:retry_429"]["attempts"] == 2 and got["t:retry_429"]["http_status"] == 200
    assert got["t:loop"]["attempts"] == 1

    # What an ok row says is what the server sent, and the file holds it.
    for key, body in (("ok", jpeg), ("png", png), ("redirected", jpeg), ("chunked", jpeg)):
        row = got[f"t:{key}"]
        assert row["sha256"] == hashlib.sha256(body).hexdigest() and row["bytes"] == len(body)
        assert (tmp_path / "out" / row["path"]).read_bytes() == body
        assert row["phash"] == row["width"] * 1000 + row["height"]
    assert got["t:png"]["format"] == "PNG" and (got["t:png"]["width"], got["t:png"]["height"]) == (40, 30)
    assert got["t:redirected"]["final_url"].endswith("/ok.jpg")
    assert got["t:placeholder_url"]["final_url"].endswith("/gone/photo_unavailable.png")
    assert server.hit_count("noai.jpg") == 1 and got["t:noai"]["bytes"] is None  # body never read
    failed = [r for r in got.values() if r["status"] != "ok"]
    assert all(r["path"] is None and r["error"] for r in failed)
    stored = sorted(p.relative_to(tmp_path / "out").as_posix()
                    for p in (tmp_path / "out" / "images").rglob("*") if p.is_file())
    assert stored == sorted(r["path"] for r in got.values() if r["status"] == "ok")
    assert any("mlbuild" in ua for ua in server.user_agents)
    assert not any((tmp_path / "out" / "tmp").rglob("*.part"))


def test_concurrency_limits_hold_per_host(server, tmp_path):
    rows = [{"image_id": f"c:{i}", "url": server.add(f"c/{i}.jpg", Page(jpeg_bytes(i), delay=0.05))}
            for i in range(40)]
    server.max_in_flight = 0
    config = dataclasses.replace(FAST, concurrency=16, per_host=3)
    summary = download([batch_of(rows)], config, tmp_path / "out")
    assert summary.counts == {"ok": 40}
    assert server.max_in_flight == 3


def test_resume_and_retry_failed(server, tmp_path):
    flaky = Page(jpeg_bytes(50), fail_first=3, fail_status=502)
    rows = [{"image_id": "r:good", "url": server.add("rs/good.jpg", Page(jpeg_bytes(51)))},
            {"image_id": "r:flaky", "url": server.add("rs/flaky.jpg", flaky)},
            {"image_id": "r:404", "url": server.add("rs/404", Page(status=404))}]
    out = tmp_path / "out"
    first = download([batch_of(rows)], FAST, out)
    assert first.counts == {"ok": 1, "http_4xx": 1, "http_5xx": 1}
    hits = {p: server.hit_count(p) for p in ("rs/good.jpg", "rs/flaky.jpg", "rs/404")}

    again = download([batch_of(rows)], FAST, out)  # plain rerun: everything is recorded
    assert again.resumed == 3 and sum(again.fetched.values()) == 0
    assert {p: server.hit_count(p) for p in hits} == hits

    retry = dataclasses.replace(FAST, retry="transient")
    transient = download([batch_of(rows)], retry, out)  # 502 is transient, 404 is not
    assert dict(transient.fetched) == {"ok": 1} and transient.resumed == 2
    assert server.hit_count("rs/flaky.jpg") == hits["rs/flaky.jpg"] + 1
    assert server.hit_count("rs/404") == hits["rs/404"]

    everything = download([batch_of(rows)], dataclasses.replace(FAST, retry="all"), out)
    assert dict(everything.fetched) == {"http_4xx": 1} and server.hit_count("rs/404") == 2
    got = results_by_id(out)
    assert {k: r["status"] for k, r in got.items()} == {"r:good": "ok", "r:flaky": "ok",
                                                       "r:404": "http_4xx"}
    assert len(read_journal(out / "journal" / "local-0.jsonl")) == 5  # 3 + 1 + 1 appended records


def test_shards_resume_independently(server, tmp_path):
    rows = [{"image_id": f"s:{i:02d}", "url": server.add(f"sh/{i}.jpg", Page(jpeg_bytes(60 + i)))}
            for i in range(6)]
    out = tmp_path / "out"
    table_a = download_shard(batch_of(rows[:4]), FAST, out, "part-0")
    table_b = download_shard(pa.Table.from_batches([batch_of(rows[4:])]), FAST, out, "part-1")
    assert table_a.column("image_id").to_pylist() == [f"s:{i:02d}" for i in range(4)]
    assert table_b.num_rows == 2 and set(table_b.column("status").to_pylist()) == {"ok"}
    before = sum(server.hit_count(f"sh/{i}.jpg") for i in range(6))
    download_shard(batch_of(rows[:4]), FAST, out, "part-0")
    assert sum(server.hit_count(f"sh/{i}.jpg") for i in range(6)) == before
    merged = collect_results(journal_paths(out))
    assert merged.column("image_id").to_pylist() == [f"s:{i:02d}" for i in range(6)]


def test_cli_on_an_images_manifest(server, tmp_path, capsys):
    body = jpeg_bytes(70)
    urls = [server.add("cli/a.jpg", Page(body)), None, server.add("cli/b.jpg", Page(status=410))]
    manifest = pa.table({
        "image_id": ["m:a", "m:local", "m:b"], "source": ["m"] * 3, "source_image_id": ["a", "local", "b"],
        "split": ["train"] * 3, "url": urls, "path": [None, "/data/x.jpg", None],
        "md5": [hashlib.md5(body).hexdigest().upper(), None, None], "size": [len(body), None, None],
        "rotation": [None] * 3, "license": [None] * 3, "author": [None] * 3}, schema=IMAGES)
    pq.write_table(manifest, tmp_path / "images.parquet")
    code = cli_main(["download", str(tmp_path / "images.parquet"), "--out", str(tmp_path / "out"),
                     "--concurrency", "4", "--read-timeout", "2", "--user-agent", "testbot",
                     "--processes", "1", "--phash"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "1 rows skipped (line 2: no url)" in printed and "ok 1, http_4xx 1" in printed
    got = results_by_id(tmp_path / "out")
    assert {k: r["status"] for k, r in got.items()} == {"m:a": "ok", "m:b": "http_4xx"}
    assert got["m:a"]["phash"] == phash_int(Image.open(tmp_path / "out" / got["m:a"]["path"]))
    assert "compatible; testbot;" in server.user_agents[-1]


def recorded_ids(out: Path) -> list[str]:
    return [i for p in journal_paths(out) for i in read_journal(p).column("image_id").to_pylist()]


def test_kill_9_mid_run_then_resume(server, tmp_path):
    """Killed once both workers have opened their journals and 60 images are recorded. Images 100
    and up are held by the server until the kill: the run cannot finish before it, however slow
    this test's polling or the workers' start is on a loaded machine."""
    n, served = 240, 100
    bodies = {i: jpeg_bytes(100 + i) for i in range(n)}
    for i, body in bodies.items():
        server.add(f"k/{i}.jpg", Page(body, delay=0.02, held=i >= served))
    listing = tmp_path / "urls.tsv"
    listing.write_text("".join(f"k:{i:03d}\t{server.url(f'k/{i}.jpg')}\n" for i in range(n)))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "mlbuild", "download", str(listing), "--out", str(out),
           "--concurrency", "8", "--per-host", "8", "--processes", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120  # a bound for a broken run only: the loop ends on its condition
    while time.monotonic() < deadline and proc.poll() is None and (
            len(journal_paths(out)) < 2 or len(recorded_ids(out)) < 60):
        time.sleep(0.01)
    workers = child_pids(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)  # the parent; its workers (and spawn's resource tracker) follow it
    proc.wait()
    assert len(workers) >= 2 and not alive_after(workers, 5.0), "download workers outlived their parent"
    for path in journal_paths(out):  # waits until the workers let go of their journals
        Journal(path).close()
    recorded = recorded_ids(out)
    assert 60 <= len(recorded) <= served, "the run should be killed mid-way"
    assert len(journal_paths(out)) == 2 and not (out / "results.parquet").exists()
    hits_at_kill = {i: server.hit_count(f"k/{i}.jpg") for i in range(n)}
    with open(journal_paths(out)[0], "ab") as f:  # and a torn record, as if killed inside a write
        f.write(b'{"image_id":"k:999","status":"o')

    server.release_held()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert f"{len(recorded):,} already done" in done.stdout
    got = results_by_id(out)
    assert sorted(got) == [f"k:{i:03d}" for i in range(n)]
    assert {r["status"] for r in got.values()} == {"ok"}
    for image_id in recorded:  # nothing recorded before the kill was fetched again
        i = int(image_id[2:])
        assert server.hit_count(f"k/{i}.jpg") == hits_at_kill[i]
    for image_id, row in got.items():
        body = bodies[int(image_id[2:])]
        assert (out / row["path"]).read_bytes() == body
        assert row["sha256"] == hashlib.sha256(body).hexdigest()
    assert sorted(recorded_ids(out)) == sorted(got)  # one record per image: none lost, none doubled
    assert not [p for p in (out / "tmp").rglob("*") if p.is_file()]


def test_two_identical_runs_write_byte_identical_results(server, tmp_path):
    """Same inputs, same server behaviour: the same results.parquet, failures' texts included."""
    big = jpeg_bytes(3, (320, 240))
    pages = {"ok": Page(jpeg_bytes(4)), "png": Page(png_bytes(), "image/png"), "gone": Page(status=404),
             "garbage": Page(b"\xff\xd8not a jpeg at all" * 10), "corrupt": Page(big[: len(big) // 2]),
             "e503": Page(jpeg_bytes(5), fail_first=99, fail_status=503), "html": Page(b"<p>", "text/html"),
             "trunc": Page(big, mode="truncate"), "chunked": Page(jpeg_bytes(6), mode="chunked")}
    listing = tmp_path / "urls.tsv"
    listing.write_text("".join(f"d:{key}-{i}\t{server.add(f'det/{key}-{i}', page)}\n"
                               for i in range(6) for key, page in pages.items())
                       + "d:refused\thttp://127.0.0.1:9/x.jpg\nd:ftp\tftp://example.org/x.jpg\n")
    digests = set()
    for run, processes in (("a", "2"), ("b", "1")):  # the process count changes nothing either
        assert cli_main(["download", str(listing), "--out", str(tmp_path / run), "--processes", processes,
                         "--max-attempts", "1", "--phash"]) == 0
        digests.add(hashlib.sha256((tmp_path / run / "results.parquet").read_bytes()).hexdigest())
    got = results_by_id(tmp_path / "a")
    assert {r["status"] for r in got.values()} >= {"ok", "http_4xx", "not_image", "http_5xx", "truncated",
                                                   "connection", "invalid_url", "wrong_content_type"}
    assert "object at 0x" not in " ".join(r["error"] or "" for r in got.values())
    assert len(digests) == 1


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_full_disk_is_one_clear_error_line(server, tmp_path, processes):
    listing = tmp_path / "urls.tsv"
    listing.write_text("".join(f"f:{i}\t{server.add(f'full/{i}.jpg', Page(jpeg_bytes(i, (160, 120))))}\n"
                               for i in range(40)))
    done = in_small_filesystem(tmp_path, f"$MLBUILD download {listing} --out $FS/dl --processes {processes}")
    assert done.returncode == 2, done.stderr
    assert "No space left on device" in done.stderr and "Traceback" not in done.stderr, done.stderr
