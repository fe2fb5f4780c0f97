"""Paper order API throughput and latency under gunicorn, loaded from a second process.

Targets (issue 4): single-order POSTs >= 1,000 orders/s sustained for 30 s with p99 <= 30 ms;
batches of 100 >= 10,000 orders/s. The server is tests.live_server.LiveServer with the
production worker and thread counts of gunicorn.conf.py and PEAKTRADE_DEMO=0. The load
generator is a separate Python process whose threads each hold one persistent HTTP/1.1
keep-alive connection (http.client) and post in a closed loop.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import runpy
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.live_server import LiveServer  # noqa: E402

SINGLE_TARGET_RATE = 1_000.0
SINGLE_TARGET_P99_MS = 30.0
BATCH_TARGET_RATE = 10_000.0
SINGLE_SECONDS = float(os.environ.get("BENCH_API_SECONDS", "30"))
BATCH_SECONDS = float(os.environ.get("BENCH_API_BATCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_API_CONNECTIONS", "4"))
BATCH_SIZE = 100
BODY_VARIANTS = 10  # bodies are encoded once, so the load process spends its CPU on HTTP
SYMBOLS = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOG")


def production_workers_threads() -> tuple[int, int]:
    """The worker and thread counts `make run` uses (gunicorn.conf.py defaults)."""
    saved = {name: os.environ.pop(name) for name in ("PEAKTRADE_WORKERS", "PEAKTRADE_THREADS")
             if name in os.environ}
    try:
        settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    finally:
        os.environ.update(saved)
    return int(settings["workers"]), int(settings["threads"])


def order(n: int) -> dict:
    return {"symbol": SYMBOLS[n % len(SYMBOLS)], "side": "BUY" if n % 2 == 0 else "SELL",
            "quantity": 1, "price": 100.0}


def _poster(port: int, body_for, seconds: float, latencies: list, done_at: list, errors: list,
            start: threading.Event) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
    start.wait()
    deadline = time.perf_counter() + seconds
    n = 0
    while (begin := time.perf_counter()) < deadline:
        conn.request("POST", "/api/v1/paper/orders", body=body_for(n), headers=headers)
        response = conn.getresponse()
        response.read()
        finished = time.perf_counter()
        latencies.append(finished - begin)
        done_at.append(finished)
        if response.status != 200:
            errors.append(response.status)
        n += 1
    conn.close()


def run_load(port: int, batch: int, seconds: float, connections: int, queue) -> None:
    """In the load process: post for `seconds` from `connections` threads; report figures."""
    bodies = []
    for n in range(BODY_VARIANTS):
        items = [order(n * batch + i) for i in range(batch)]
        bodies.append(json.dumps(items if batch > 1 else items[0]).encode())

    def body_for(n: int) -> bytes:
        return bodies[n % BODY_VARIANTS]

    latencies: list[list[float]] = [[] for _ in range(connections)]
    done_at: list[list[float]] = [[] for _ in range(connections)]
    errors: list[int] = []
    start = threading.Event()
    threads = [threading.Thread(target=_poster, args=(port, body_for, seconds, latencies[i],
                                                      done_at[i], errors, start))
               for i in range(connections)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    start.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    flat = sorted(x for per in latencies for x in per)
    per_second = [0] * max(1, int(seconds))
    for moment in (x for per in done_at for x in per):
        second = int(moment - began)
        if second < len(per_second):
            per_second[second] += 1
    queue.put({"requests": len(flat), "elapsed": elapsed, "errors": len(errors),
               "p50_ms": _quantile(flat, 0.50) * 1000, "p99_ms": _quantile(flat, 0.99) * 1000,
               "slowest_second": min(per_second) * batch})


def _quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile of sorted values."""
    if not values:
        return float("nan")
    rank = max(1, int(-(-q * len(values) // 1)))
    return values[min(rank, len(values)) - 1]


def load_from_second_process(port: int, batch: int, seconds: float) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=run_load, args=(port, batch, seconds, CONNECTIONS, queue))
    process.start()
    result = queue.get(timeout=seconds + 120)
    process.join()
    result["orders_per_s"] = result["requests"] * batch / result["elapsed"]
    return result


def main() -> int:
    workers, threads = production_workers_threads()
    print(f"server: gunicorn gthread, {workers} workers x {threads} threads, PEAKTRADE_DEMO=0")
    print(f"load: a second Python process, {CONNECTIONS} threads, each one persistent "
          "HTTP/1.1 keep-alive connection (http.client), closed loop, loopback")
    print("note: the machine is shared; figures are noisy")
    with tempfile.TemporaryDirectory() as tmp:
        log_dir = Path(tmp) / "journal"
        log_dir.mkdir()
        with LiveServer(log_dir, workers=workers, threads=threads,
                        env={"PEAKTRADE_DEMO": "0"}) as server:
            load_from_second_process(server.port, 1, 2.0)  # warm up both workers
            single = load_from_second_process(server.port, 1, SINGLE_SECONDS)
            batch = load_from_second_process(server.port, BATCH_SIZE, BATCH_SECONDS)
    print(f"single-order POST: {single['orders_per_s']:,.0f} orders/s over "
          f"{single['elapsed']:.1f} s (slowest second {single['slowest_second']:,}), "
          f"p50 {single['p50_ms']:.1f} ms, "
          f"p99 {single['p99_ms']:.1f} ms, non-200: {single['errors']} "
          f"(target >= {SINGLE_TARGET_RATE:,.0f} orders/s for 30 s, p99 <= "
          f"{SINGLE_TARGET_P99_MS:.0f} ms)")
    print(f"batches of {BATCH_SIZE}: {batch['orders_per_s']:,.0f} orders/s over "
          f"{batch['elapsed']:.1f} s, p50 {batch['p50_ms']:.1f} ms, p99 {batch['p99_ms']:.1f} ms "
          f"per request, non-200: {batch['errors']} (target >= {BATCH_TARGET_RATE:,.0f} orders/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
