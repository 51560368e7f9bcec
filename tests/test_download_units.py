"""The downloader's parts on their own: names, header rules, Retry-After and backoff,
limits, journal repair, resume state, input parsing, placeholders, body checks, config."""
from __future__ import annotations

import asyncio
import email.utils
import hashlib
import pickle
import random
import re
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from download_server import jpeg_bytes, png_declaring
from PIL import Image

from mlbuild.errors import InputError, MlbuildError, SkipReport
from mlbuild.images.download.config import DownloadConfig
from mlbuild.images.download.downloader import download
from mlbuild.images.download.http import backoff_delay, retry_after_seconds
from mlbuild.images.download.inputs import InputList, normalize_batch
from mlbuild.images.download.journal import Journal, read_journal
from mlbuild.images.download.limits import HostLimiter
from mlbuild.images.download.placeholders import Placeholders, load_placeholders
from mlbuild.images.download.processes import parts
from mlbuild.images.download.results import ImageResult
from mlbuild.images.download.state import collect_results, done_hashes, id_hashes, not_done
from mlbuild.images.download.store import file_stem, image_relpath
from mlbuild.images.download.validate import check_body, content_type_ok, http_status_failure, robots_opt_out
from mlbuild.schemas import IMAGES

# --- file names -------------------------------------------------------------------------

TRICKY_IDS = ["openimages:000060e3121c7305", "imagenet21k:n00004475_6590", "a:B", "a:b", "a+b", "a%3ab",
              "a/b", "a\\b", "..", ".hidden", "café:1", "x" * 300, "x" * 299 + "y", "CON", "a b", "a:b:c",
              "a~b", "a%hb"]


def test_file_stems_are_safe_distinct_and_readable():
    stems = [file_stem(i) for i in TRICKY_IDS]
    assert len({s.lower() for s in stems}) == len(stems)  # distinct even case-insensitively
    assert all(re.fullmatch(r"[a-z0-9_.%+\-]+", s) and len(s) <= 160 for s in stems)
    assert not any(s.startswith(".") for s in stems)
    assert file_stem("openimages:000060e3121c7305") == "openimages+000060e3121c7305"
    assert file_stem("imagenet21k:n00004475_6590") == "imagenet21k+n00004475_6590"
    assert file_stem("a:B") == "a+%42" and file_stem("a+b") == "a%2bb"


def test_image_paths_are_sharded_and_deterministic():
    path = image_relpath("openimages:000060e3121c7305", "JPEG")
    digest = hashlib.sha256(b"openimages:000060e3121c7305").hexdigest()
    assert path == f"images/{digest[:3]}/openimages+000060e3121c7305.jpg"
    assert image_relpath("x:1", "PNG").endswith(".png") and image_relpath("x:1", "MPO").endswith(".jpg")


# --- header rules -----------------------------------------------------------------------

OPT_OUT = frozenset({"noai", "noimageai", "noindex", "noimageindex", "none"})


@pytest.mark.parametrize("values, expected", [
    (["noai"], "noai"),
    (["NoImageAI"], "noimageai"),
    (["nofollow, noarchive"], None),
    (["none"], "none"),
    (["googlebot: noindex"], None),                 # scoped to another bot
    (["mlbuild: noindex"], "noindex"),              # scoped to us
    (["MLBuild: noai, nofollow"], "noai"),
    (["max-image-preview: large"], None),           # a valued directive, not a bot scope
    (["unavailable_after: 25 Jun 2010 15:00:00 PST"], None),
    (["otherbot: noai", "nosnippet"], None),
    (["otherbot: noai", "noimageindex"], "noimageindex"),
    ([], None),
])
def test_robots_opt_out(values, expected):
    assert robots_opt_out(values, "mlbuild", OPT_OUT) == expected


def test_content_types_and_http_statuses():
    allowed = DownloadConfig().content_types
    assert content_type_ok("image/jpeg", allowed) and content_type_ok("IMAGE/PNG; q=1", allowed)
    assert content_type_ok(None, allowed) and content_type_ok("binary/octet-stream", allowed)
    assert not content_type_ok("text/html; charset=utf-8", allowed)
    assert not content_type_ok("application/json", allowed)
    assert [http_status_failure(c) for c in (200, 204, 304, 404, 410, 429, 500, 503)] == [
        None, "http_other", "http_other", "http_4xx", "http_4xx", "rate_limited", "http_5xx", "http_5xx"]


# --- retry policy -----------------------------------------------------------------------

def test_retry_after_seconds_and_dates():
    now = 1_700_000_000.0
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds(email.utils.formatdate(now + 30, usegmt=True), now) == pytest.approx(30, abs=1)
    assert retry_after_seconds(email.utils.formatdate(now - 30, usegmt=True), now) == 0.0
    assert retry_after_seconds("soon", now) is None and retry_after_seconds(None, now) is None
    assert retry_after_seconds("-5", now) is None


def test_backoff_grows_with_jitter_and_honours_retry_after():
    config, rng = DownloadConfig(backoff_base=1.0, backoff_max=8.0), random.Random(1)
    for attempt, step in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)):
        delays = [backoff_delay(attempt, config, None, rng) for _ in range(200)]
        assert step / 2 <= min(delays) and max(delays) <= step and np.std(delays) > 0
    waits = [backoff_delay(1, config, 5.0, rng) for _ in range(100)]
    assert 5.0 <= min(waits) and max(waits) <= 6.0


def test_host_limiter_caps_each_host_and_pauses_it():
    async def scenario():
        limiter, active, peak = HostLimiter(total=3, per_host=2), {"a": 0, "b": 0}, {"a": 0, "b": 0}

        async def request(host):
            async with limiter.slot(host):
                active[host] += 1
                peak[host] = max(peak[host], active[host])
                await asyncio.sleep(0.01)
                active[host] -= 1

        await asyncio.gather(*(request(h) for h in "ab" * 6))
        assert peak == {"a": 2, "b": 2} and limiter.hosts_in_use() == 0  # entries dropped
        async with limiter.slot("a"):  # a 429 with Retry-After: 0.2
            limiter.pause("a", 0.2)
        assert limiter.hosts_in_use() == 1  # the pause outlives its last user
        start = time.monotonic()
        await asyncio.gather(request("a"), request("b"))
        return time.monotonic() - start, limiter.hosts_in_use()

    waited, hosts_after = asyncio.run(scenario())
    assert 0.19 <= waited and hosts_after == 0


# --- journal and resume state -----------------------------------------------------------

def results(*pairs):
    return [ImageResult(i, f"http://h/{i}").fail(s, "why") if s != "ok" else ImageResult(i, f"http://h/{i}")
            for i, s in pairs]


def test_journal_cuts_torn_tails_and_locks(tmp_path):
    path = tmp_path / "j.jsonl"
    with Journal(path) as journal:
        journal.append(results(("a", "ok"), ("b", "timeout")))
        with pytest.raises(MlbuildError, match="in use"):
            Journal(path, lock_wait=0.1)
    good = path.read_bytes()
    path.write_bytes(good + b'{"image_id":"c","sta')  # readers ignore a tail without newline
    assert read_journal(path).column("image_id").to_pylist() == ["a", "b"]
    cases = [(b'{"image_id":"c","sta', b""), (b"\0\0\0\0", b""), (b"\n", b""),
             (b'{"image_id":"c"}garbage\n', b""), (b'{"image_id":"c"}\n{"ima', b'{"image_id":"c"}\n')]
    for torn, kept in cases:
        path.write_bytes(good + torn)
        with Journal(path) as journal:  # the writer cuts any bad tail, keeps good lines
            assert journal.repaired_bytes == len(torn) - len(kept)
        assert path.read_bytes() == good + kept
    path.write_bytes(good)
    with Journal(path) as journal:
        journal.append(results(("c", "ok")))
    assert read_journal(path).column("image_id").to_pylist() == ["a", "b", "c"]


def test_latest_record_wins_and_retry_modes(tmp_path):
    with Journal(tmp_path / "one.jsonl") as journal:
        journal.append(results(("a", "ok"), ("b", "timeout"), ("c", "http_4xx"), ("d", "http_5xx")))
    time.sleep(0.01)
    with Journal(tmp_path / "two.jsonl") as journal:
        journal.append(results(("d", "ok"), ("b", "connection")))
    paths = [tmp_path / "one.jsonl", tmp_path / "two.jsonl"]
    table = collect_results(paths)
    assert table.column("image_id").to_pylist() == ["a", "b", "c", "d"]
    assert table.column("status").to_pylist() == ["ok", "connection", "http_4xx", "ok"]

    batch = pa.RecordBatch.from_arrays([pa.array(list("abcdef"))], ["image_id"])
    def todo(retry):
        return not_done(batch, done_hashes(paths, retry)).column("image_id").to_pylist()
    assert todo("none") == ["e", "f"]
    assert todo("transient") == ["b", "e", "f"]
    assert todo("all") == ["b", "c", "e", "f"]
    assert todo("none") == not_done(batch, np.sort(id_hashes(pa.array(list("abcd"))))).column(
        "image_id").to_pylist()


# --- inputs -----------------------------------------------------------------------------

def ids_urls(source: InputList) -> list[tuple[str, str]]:
    return [(r["image_id"], r["url"]) for b in source.batches() for r in b.to_pylist()]


def test_tab_list_with_crlf_bad_bytes_and_short_lines(tmp_path):
    path = tmp_path / "fall11_urls.txt"
    path.write_bytes(b"n00004475_6590\thttp://farm1.static.flickr.com/1/a.jpg\r\n"
                     b"n00004475_15899\thttp://x.org/caf\xe9.jpg\r\n"
                     b"broken line without tab\r\n\r\n"
                     b"n00005787_13\thttp://y.org/b.jpg")  # no newline at the end, like the real file
    source = InputList(path)
    assert ids_urls(source) == [("n00004475_6590", "http://farm1.static.flickr.com/1/a.jpg"),
                                ("n00004475_15899", "http://x.org/caf%E9.jpg"),
                                ("n00005787_13", "http://y.org/b.jpg")]
    assert source.skips.count == 1 and source.skips.examples == [(3, "not id<TAB>url")]
    assert source.total() is None


def test_real_fall11_sample(shared_data):
    source = InputList(shared_data / "imagenet21k" / "fall11_urls_sample" / "200words100urls.csv")
    rows = ids_urls(source)
    assert len(rows) == 20_000 and source.skips.count == 0
    assert rows[0] == ("n04509417_1980", "http://farm4.static.flickr.com/3178/2614147932_a532eb3dfc.jpg")
    assert all("://" in url and not url.endswith("\r") for _, url in rows)


def test_comma_list_header_and_url_only_list(tmp_path):
    csv = tmp_path / "list.csv"
    csv.write_text('image_id,url\nx:1,http://h/a.jpg?w=1,2\nx:2,"http://h/b.jpg"\n')
    assert ids_urls(InputList(csv)) == [("x:1", "http://h/a.jpg?w=1,2"), ("x:2", "http://h/b.jpg")]
    plain = tmp_path / "urls.txt"
    plain.write_text("http://h/a.jpg\nhttp://h/b.jpg,c\nhttp://h/a.jpg\n")
    rows = ids_urls(InputList(plain))
    assert [u for _, u in rows] == ["http://h/a.jpg", "http://h/b.jpg,c", "http://h/a.jpg"]
    assert rows[0][0] == rows[2][0] != rows[1][0] and re.fullmatch(r"url:[0-9a-f]{16}", rows[0][0])
    assert rows[0][0] == ids_urls(InputList(plain))[0][0]  # stable across reads


def test_parquet_manifest_is_streamed_and_validated(tmp_path):
    def manifest(md5s, sizes, urls=None):
        n = len(md5s)
        return pa.table({"image_id": [f"m:{i}" for i in range(n)], "source": ["m"] * n,
                         "source_image_id": [str(i) for i in range(n)], "split": ["train"] * n,
                         "url": urls or [f"http://h/{i}" for i in range(n)], "path": [None] * n,
                         "md5": md5s, "size": sizes, "rotation": [None] * n, "license": [None] * n,
                         "author": [None] * n},
                        schema=IMAGES)
    good = tmp_path / "good.parquet"
    pq.write_table(manifest(["AB" * 16, None, None, None, None], [1, None, 3, None, 5],
                            urls=["http://h/0", None, "http://h/2", "", "http://h/4"]), good, row_group_size=2)
    source = InputList(good, batch_size=2)
    batches = list(source.batches())
    assert source.total() == 5 and [b.num_rows for b in batches] == [1, 1, 1]
    assert batches[0].column("md5").to_pylist() == ["ab" * 16]
    assert source.skips.count == 2 and [line for line, _ in source.skips.examples] == [2, 4]

    bad = tmp_path / "bad.parquet"
    pq.write_table(manifest([None, None, "0123"], [1, 2, 3]), bad)
    with pytest.raises(InputError, match=r"bad\.parquet:3: field 'md5': not 32 hex digits"):
        list(InputList(bad).batches())
    negative = tmp_path / "negative.parquet"
    pq.write_table(manifest([None, None], [1, -2]), negative)
    with pytest.raises(InputError, match=r"negative\.parquet:2: field 'size'"):
        list(InputList(negative).batches())
    no_url = tmp_path / "no_url.parquet"
    pq.write_table(pa.table({"image_id": ["a"]}), no_url)
    with pytest.raises(InputError, match="missing column 'url'"):
        list(InputList(no_url).batches())


def test_normalize_batch_rejects_empty_ids():
    batch = pa.RecordBatch.from_arrays([pa.array(["a", ""]), pa.array(["http://h/a", "http://h/b"])],
                                       ["image_id", "url"])
    with pytest.raises(InputError, match=r"batch:11: field 'image_id': empty image id"):
        normalize_batch(batch, "batch", np.array([10, 11]), SkipReport("batch"))


# --- placeholders and body checks -------------------------------------------------------

def test_shipped_placeholder_rules_match_known_locations_only():
    rules = load_placeholders()
    for url in ("https://s.yimg.com/pw/images/en-us/photo_unavailable.png",
                "http://l.yimg.com/g/images/photo_unavailable.gif",
                "https://s.yimg.com/pw/images/photo_unavailable.gif", "https://i.imgur.com/removed.png"):
        assert rules.url_matches(url), url
    for url in ("https://c1.staticflickr.com/5/4129/5215831864_46f356962f_o.jpg",
                "http://farm4.static.flickr.com/3178/2614147932_a532eb3dfc.jpg",
                "https://example.org/photo_unavailable.png", "https://i.imgur.com/removed.png.jpg"):
        assert not rules.url_matches(url), url
    assert rules.image_matches("live.staticflickr.com", 500, 374, "GIF")
    assert not rules.image_matches("live.staticflickr.com", 500, 374, "JPEG")
    assert not rules.image_matches("example.org", 500, 374, "GIF")


def test_placeholder_rule_files_are_checked(tmp_path):
    bad = tmp_path / "rules.tsv"
    bad.write_text("# comment\nsha256\tnothex\t-\t-\t-\tx\n")
    with pytest.raises(InputError, match=r"rules\.tsv:2: field 'sha256'"):
        load_placeholders(bad)
    bad.write_text("pixel\tx\n")
    with pytest.raises(InputError, match=r"rules\.tsv:1: field 'kind'"):
        load_placeholders(bad)


def test_check_body_rules():
    body, rules, limit = jpeg_bytes(3), Placeholders(), Image.MAX_IMAGE_PIXELS
    def check(data=body, md5=None, size=None, **kw):
        return check_body(ImageResult("x", "http://h/x"), data, md5, size, rules, "h",
                          kw.get("max_pixels", limit), kw.get("hasher"))
    ok = check(md5=hashlib.md5(body).hexdigest(), size=len(body), hasher=lambda img: 2**64 - 1)
    assert (ok.status, ok.width, ok.height, ok.format, ok.phash) == ("ok", 64, 48, "JPEG", 2**64 - 1)
    assert ok.sha256 == hashlib.sha256(body).hexdigest() and ok.bytes == len(body)
    assert check(md5="0" * 32).status == "md5_mismatch"
    assert check(size=len(body) - 1).status == "size_mismatch"
    assert check(max_pixels=64 * 48 - 1).status == "decompression_bomb"
    assert check(png_declaring(1 << 20, 1 << 20)).status == "decompression_bomb"
    assert check(b"GIF89a" + bytes(20)).status == "not_image"
    with pytest.raises(ValueError, match="unsigned 64-bit"):  # a broken hasher is a bug, not a status
        check(hasher=lambda img: -1)
    sha_rule = Placeholders(sha256=frozenset({hashlib.sha256(body).hexdigest()}))
    assert check_body(ImageResult("x", "u"), body, None, None, sha_rule, "h", limit).status == "placeholder"


# --- config -----------------------------------------------------------------------------

def test_config_validation_and_mapping():
    with pytest.raises(MlbuildError, match="concurrency: got 0, must be > 0"):
        DownloadConfig(concurrency=0)
    with pytest.raises(MlbuildError, match="retry: got .sometimes., allowed"):
        DownloadConfig(retry="sometimes")
    with pytest.raises(MlbuildError, match="user_agent_token"):
        DownloadConfig(user_agent_token="my bot")
    with pytest.raises(MlbuildError, match=r"unknown keys \['concurency'\]"):
        DownloadConfig.from_mapping({"concurency": 3})
    config = DownloadConfig.from_mapping({"opt_out": ["noai"], "per_host": 2})
    assert config.opt_out == ("noai",) and config.per_host == 2
    assert "compatible; mlbuild;" in config.user_agent
    assert config.pixel_limit == Image.MAX_IMAGE_PIXELS and config.pending_limit == 32 * 64


def test_parallel_runs_need_a_picklable_hasher(tmp_path):
    batch = pa.RecordBatch.from_arrays([pa.array(["a"]), pa.array(["http://127.0.0.1:9/a"])],
                                       ["image_id", "url"])
    with pytest.raises(MlbuildError, match="hasher must be picklable"):
        download([batch], DownloadConfig(processes=2), tmp_path, hasher=lambda img: 0)


@pytest.mark.parametrize("n", [0, 1, 127, 128, 129, 300])
def test_work_goes_to_processes_in_small_self_contained_parts(n):
    batch = pa.record_batch({"image_id": pa.array([f"id-{i}-" + "x" * 40 for i in range(n)]),
                             "size": pa.array(range(n), pa.int64())})
    pieces = list(parts(batch, 128))
    assert [p.num_rows for p in pieces] == [min(128, n - s) for s in range(0, n, 128)]
    rebuilt = pa.Table.from_batches(pieces, batch.schema)
    assert rebuilt.equals(pa.Table.from_batches([batch]))
    for piece in pieces:  # a pickled part carries its own rows, not its parent's buffers
        alone = pa.record_batch(piece.to_pydict(), schema=batch.schema)
        assert len(pickle.dumps(piece)) < len(pickle.dumps(alone)) + 1024


def test_run_settings_apply_during_runs_and_are_restored_after_the_last_overlapping_one():
    import gc

    from mlbuild.images.download.run_settings import run_settings

    before = Image.core.get_blocks_max(), gc.get_threshold(), gc.get_freeze_count()
    first, second = run_settings(2), run_settings(6)
    first.__enter__()
    assert Image.core.get_blocks_max() >= 4 and gc.get_threshold()[0] >= 20_000
    second.__enter__()  # a second run starts in another thread of the same process
    assert Image.core.get_blocks_max() >= 12
    first.__exit__(None, None, None)  # the first ends: the second still runs with the settings
    assert Image.core.get_blocks_max() >= 12 and gc.get_threshold()[0] >= 20_000
    second.__exit__(None, None, None)
    assert (Image.core.get_blocks_max(), gc.get_threshold(), gc.get_freeze_count()) == before
