"""Downloader throughput: mlbuild vs img2dataset on the same loopback server and URL list.

A separate process runs an aiohttp server on 127.0.0.1 that serves realistic JPEGs
(500x375, ~100 KB, photo-like synthetic content, `--distinct` different files cycled over
N URLs). Each downloader runs as a child process at the same total concurrency; we
measure wall time (images/s) and the child's CPU time (user + sys, children included)
per image. Every tool must store all N images for its figure to count.

img2dataset is not a dependency: install it in its own virtualenv (it pins pandas<3, so
it cannot share /work/venv) and pass `--img2dataset PATH/TO/bin/img2dataset`:

    python -m venv benchmarks/_work/i2d-venv && benchmarks/_work/i2d-venv/bin/pip install img2dataset
    python benchmarks/bench_download.py --n 10000 --concurrency 64 \
        --img2dataset benchmarks/_work/i2d-venv/bin/img2dataset

img2dataset runs with `--resize_mode no --skip_reencode True` (decode to check, keep the
original bytes: the same work as mlbuild's decode check) and `--disable_all_reencoding
True` (no decode at all) as a lower bound on its work.

With `--resize`, both resize to a 256-pixel shorter side, re-encode as JPEG quality 95 and
write WebDataset shards: mlbuild `--resize-mode shorter_side --image-size 256
--output-format webdataset`, img2dataset `--resize_mode keep_ratio --image_size 256
--output_format webdataset` (img2dataset's keep_ratio is mlbuild's shorter_side).
`--size` sets the served photos' size. CPU and peak memory come from wait4() on each
tool's process (its own and its reaped children's CPU; the largest process's peak RSS).
"""
from __future__ import annotations

import argparse
import io
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "benchmarks" / "_work" / "download"


def photo_like_jpeg(seed: int, size: tuple[int, int] = (500, 375), quality: int = 95) -> bytes:
    """A JPEG with photo-like statistics: smooth colour fields, edges and sensor noise."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for _ in range(6):  # large smooth blobs of colour
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(40, 200)
        img += rng.uniform(-90, 90, 3) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))[..., None]
    for _ in range(12):  # sharp edges (objects)
        a, b, c = rng.normal(size=3)
        img += rng.uniform(-40, 40, 3) * (a * (x - w / 2) + b * (y - h / 2) > c * 80)[..., None]
    texture = np.sin(x / rng.uniform(2, 6) + np.sin(y / rng.uniform(3, 9)) * 3) * 14
    img += 128 + texture[..., None] + rng.normal(0, 8, (h, w, 3))
    out = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(out, "JPEG", quality=quality)
    return out.getvalue()


def serve(images: list[bytes], port_pipe, stop_event) -> None:
    """Child process: serve /i/<k>.jpg -> images[k % len(images)] until told to stop."""
    import asyncio

    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        k = int(request.match_info["k"])
        return web.Response(body=images[k % len(images)], content_type="image/jpeg")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/i/{k}.jpg", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port_pipe.send(site._server.sockets[0].getsockname()[1])
        while not stop_event.is_set():
            await asyncio.sleep(0.2)
        await runner.cleanup()

    asyncio.run(main())


PEAK_RSS: list[float] = []  # GiB, one per run_timed call


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_timed(cmd: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Run a command to completion; (wall seconds, CPU seconds of it and its children, stdout).

    The peak RSS of its largest process (GiB) is appended to PEAK_RSS.
    """
    log = WORK / "child.log"
    start = time.perf_counter()
    with open(log, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}):\n{log.read_text()[-3000:]}")
    PEAK_RSS.append(usage.ru_maxrss / 2**20)
    return wall, usage.ru_utime + usage.ru_stime, ""


RESIZE_MLBUILD = ["--resize-mode", "shorter_side", "--image-size", "256", "--encode-quality", "95",
                  "--output-format", "webdataset", "--shard-size", "2500"]
RESIZE_I2D = ["--resize_mode", "keep_ratio", "--image_size", "256", "--encode_quality", "95",
              "--output_format", "webdataset"]


def mlbuild_run(listing: Path, out: Path, concurrency: int, processes: int,
                extra: list[str] = ()) -> tuple[float, float, int]:
    shutil.rmtree(out, ignore_errors=True)
    wall, cpu, _ = run_timed([sys.executable, "-m", "mlbuild", "download", str(listing), "--out", str(out),
                              "--concurrency", str(concurrency), "--per-host", str(concurrency),
                              "--processes", str(processes), *extra])
    if "webdataset" in extra:  # every stored image must be in a shard
        return wall, cpu, sum(json.loads(p.read_text())["count"] for p in (out / "shards").glob("*_stats.json"))
    table = pq.read_table(out / "results.parquet", columns=["status"])
    ok = sum(1 for s in table.column("status").to_pylist() if s == "ok")
    return wall, cpu, ok


def img2dataset_run(exe: str, urls: Path, out: Path, processes: int, threads: int,
                    extra: list[str]) -> tuple[float, float, int]:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [exe, "--url_list", str(urls), "--input_format", "parquet", "--url_col", "url",
           "--output_folder", str(out), "--processes_count", str(processes),
           "--thread_count", str(threads), "--timeout", "30", "--retries", "0",
           "--number_sample_per_shard", "2500", "--enable_wandb", "False", "--distributor",
           "multiprocessing", *(extra if "--output_format" in extra else ["--output_format", "files", *extra])]
    wall, cpu, _ = run_timed(cmd, env={**os.environ, "WANDB_MODE": "disabled"})
    ok = sum(json.loads(p.read_text())["successes"] for p in out.glob("*_stats.json"))
    return wall, cpu, ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="URLs to download")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight, every tool")
    parser.add_argument("--distinct", type=int, default=64, help="distinct JPEG files served")
    parser.add_argument("--img2dataset", help="path of the img2dataset executable (own venv)")
    parser.add_argument("--processes", type=int, default=os.cpu_count(), help="processes, every tool")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool (median reported)")
    parser.add_argument("--resize", action="store_true",
                        help="compare resize to a 256 shorter side + WebDataset shards instead")
    parser.add_argument("--size", default="500x375", help="served photo size WxH (default 500x375)")
    args = parser.parse_args()

    WORK.mkdir(parents=True, exist_ok=True)
    width, height = (int(v) for v in args.size.split("x"))
    images = [photo_like_jpeg(seed, (width, height)) for seed in range(args.distinct)]
    sizes = np.array([len(b) for b in images])
    print(f"{args.distinct} distinct JPEGs {args.size}, mean {sizes.mean() / 1000:.0f} KB "
          f"(min {sizes.min() / 1000:.0f}, max {sizes.max() / 1000:.0f}); {args.n:,} URLs; "
          f"concurrency {args.concurrency}; {os.cpu_count()} CPUs")

    ctx = mp.get_context("spawn")
    port_recv, port_send = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    server = ctx.Process(target=serve, args=(images, port_send, stop), daemon=True)
    server.start()
    port = port_recv.recv()
    urls = [f"http://127.0.0.1:{port}/i/{k}.jpg" for k in range(args.n)]
    listing = WORK / "urls.tsv"
    listing.write_text("".join(f"bench:{k:07d}\t{u}\n" for k, u in enumerate(urls)))
    url_parquet = WORK / "urls.parquet"
    pq.write_table(pa.table({"url": urls}), url_parquet)

    runs: dict[str, list[tuple[float, float, int]]] = {}
    threads = max(1, args.concurrency // args.processes)
    tools = [(f"mlbuild download, {args.processes} processes",
              lambda: mlbuild_run(listing, WORK / "out-mlbuild", args.concurrency, args.processes))]
    if args.resize:
        tools = [(f"mlbuild download, resize + webdataset, {args.processes} processes",
                  lambda: mlbuild_run(listing, WORK / "out-mlbuild", args.concurrency, args.processes,
                                      RESIZE_MLBUILD))]
        if args.img2dataset:
            tools.append((f"img2dataset, resize + webdataset (decode check), {args.processes}x{threads} threads",
                          lambda: img2dataset_run(args.img2dataset, url_parquet, WORK / "out-i2d",
                                                  args.processes, threads, RESIZE_I2D)))
    elif args.img2dataset:
        for label, extra in (("decode check, no re-encode", ["--skip_reencode", "True"]),
                             ("no decode at all", ["--disable_all_reencoding", "True"])):
            tools.append((f"img2dataset ({label}), {args.processes}x{threads} threads",
                          lambda extra=extra: img2dataset_run(args.img2dataset, url_parquet,
                                                              WORK / "out-i2d", args.processes,
                                                              threads, ["--resize_mode", "no", *extra])))
    peaks: dict[str, list[float]] = {}
    served: dict[str, list[float]] = {}  # the server's CPU ms per image during each run
    try:
        for _ in range(args.repeat):  # alternate tools so background load hits all alike
            for label, run in tools:
                before = process_cpu(server.pid)
                runs.setdefault(label, []).append(run())
                served.setdefault(label, []).append(1000 * (process_cpu(server.pid) - before) / args.n)
                peaks.setdefault(label, []).append(PEAK_RSS[-1])
    finally:
        stop.set()
        server.join(5)
    report(runs, args.n)
    for label, values in peaks.items():
        print(f"peak RSS of the largest process, {label}: {min(values):.2f}-{max(values):.2f} GiB")
    for label, values in served.items():  # the same 2 cores serve the images: part of every tool's wall time
        print(f"server CPU ms/image while serving {label}: {min(values):.2f}-{max(values):.2f}")


def report(runs: dict[str, list[tuple[float, float, int]]], n: int) -> None:
    """Median images/s and CPU per image of each tool, and throughput relative to img2dataset."""
    medians = {label: (float(np.median([n / w for w, _, _ in r])), float(np.median([c for _, c, _ in r])),
                       min(ok for _, _, ok in r), [n / w for w, _, _ in r]) for label, r in runs.items()}
    base = next((m[0] for label, m in medians.items() if "decode check" in label), None)
    cpus = {label: [1000 * c / n for _, c, _ in r] for label, r in runs.items()}
    print("\n| tool | stored (worst run) | images/s, median (runs) | CPU ms/image, median (range) "
          "| vs img2dataset (decode check) |")
    print("|---|---:|---:|---:|---:|")
    for label, (rate, cpu, ok, rates) in medians.items():
        ratio = f"{rate / base:.2f}x" if base else "-"
        each = ", ".join(f"{r:,.0f}" for r in rates)
        spread = f"{min(cpus[label]):.2f}-{max(cpus[label]):.2f}"
        print(f"| {label} | {ok:,}/{n:,} | {rate:,.0f} ({each}) | {1000 * cpu / n:.2f} ({spread}) | {ratio} |")
    if any(m[2] != n for m in medians.values()):
        raise SystemExit("some images were not stored: figures are not comparable")


if __name__ == "__main__":
    main()
