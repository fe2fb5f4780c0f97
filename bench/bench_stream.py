"""Append -> browser-receipt latency of the live timeline under gunicorn (production settings).

200 SSE clients (raw sockets, one selector loop in a second process) follow one session
while a writer appends 100 events/s for 60 s, stamping the send time in each payload.
Meanwhile a page request is timed twice a second. Prints p50/p99 latency, lost and
duplicated deliveries and page latency against the issue's targets.

    .venv/bin/python bench/bench_stream.py [--clients 200] [--rate 100] [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from peaktrade.journal import Journal, read_events  # noqa: E402
from tests.live_server import LiveServer  # noqa: E402

SESSION = "bench"
SEQ_RE = re.compile(rb'data-seq="(\d+)"')
TARGET_P50_MS = 15.0
TARGET_P99_MS = 100.0
TARGET_PAGE_MS = 50.0


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1] if ordered else float("nan")


def run_load(url: str, clients: int, last_seq: int, out: str, timeout_s: float) -> None:
    """The client process: `clients` SSE streams on one selector; seq -> receipt times."""
    parsed = urllib.parse.urlsplit(url)
    request = (f"GET /stream/execution/{SESSION}?since_seq=1 HTTP/1.0\r\n"
               f"Host: {parsed.netloc}\r\nAccept: text/event-stream\r\n\r\n").encode()
    selector = selectors.DefaultSelector()
    state = []
    for index in range(clients):
        sock = socket.create_connection((parsed.hostname, parsed.port))
        sock.sendall(request)
        sock.setblocking(False)
        entry = {"buf": b"", "head": False, "got": {}, "dups": 0, "done": False}
        state.append(entry)
        selector.register(sock, selectors.EVENT_READ, index)
    ready_sent = False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not all(e["done"] for e in state):
        for key, _ in selector.select(timeout=0.5):
            now = time.time()
            entry = state[key.data]
            chunk = key.fileobj.recv(1 << 16)
            if not chunk:
                entry["done"] = True
                selector.unregister(key.fileobj)
                continue
            entry["buf"] += chunk
            if not entry["head"] and b"\r\n\r\n" in entry["buf"]:
                entry["head"] = True
                entry["buf"] = entry["buf"].split(b"\r\n\r\n", 1)[1]
            while b"\n\n" in entry["buf"]:
                message, entry["buf"] = entry["buf"].split(b"\n\n", 1)
                for seq in SEQ_RE.findall(message):
                    seq = int(seq)
                    if seq in entry["got"]:
                        entry["dups"] += 1
                    else:
                        entry["got"][seq] = now
                    if seq >= last_seq:
                        entry["done"] = True
        if not ready_sent and all(e["head"] for e in state):
            ready_sent = True
            print("READY", flush=True)
    Path(out).write_text(json.dumps([{"got": e["got"], "dups": e["dups"]} for e in state]))


def time_pages(url: str, stop: threading.Event, out: list[float]) -> None:
    """Time a normal page request twice a second until told to stop."""
    while not stop.is_set():
        start = time.perf_counter()
        with urllib.request.urlopen(f"{url}/live/execution/{SESSION}?limit=50", timeout=10) as r:
            r.read()
        out.append((time.perf_counter() - start) * 1000)
        stop.wait(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rate", type=float, default=100.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--load", nargs=4, metavar=("URL", "CLIENTS", "LAST_SEQ", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        url, clients, last_seq, out = args.load
        run_load(url, int(clients), int(last_seq), out, args.seconds + 60)
        return 0

    events = int(args.rate * args.seconds)
    last_seq = events + 1
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
        log_dir = Path(tmp) / "journal"
        log_dir.mkdir()
        journal = Journal(log_dir, fsync="interval")
        journal.append(SESSION, [{"kind": "control", "payload": {"action": "session.start"}}])
        out_file = Path(tmp) / "load.json"
        with LiveServer(log_dir, workers=2, threads=192) as server:
            load = subprocess.Popen(
                [sys.executable, __file__, "--seconds", str(args.seconds), "--load",
                 server.url, str(args.clients), str(last_seq), str(out_file)],
                stdout=subprocess.PIPE, text=True)
            if load.stdout.readline().strip() != "READY":
                print("load process did not connect its clients", file=sys.stderr)
                return 1
            pages: list[float] = []
            stop = threading.Event()
            pager = threading.Thread(target=time_pages, args=(server.url, stop, pages))
            pager.start()
            start = time.monotonic()
            for index in range(events):
                wait = start + index / args.rate - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                journal.append(SESSION, [{"kind": "fill", "symbol": "BTC-USD",
                                          "payload": {"qty": 1, "price": 100.0 + index % 50,
                                                      "sent_at": time.time()}}])
            stop.set()
            pager.join()
            load.wait(timeout=args.seconds + 90)
        journal.close()
        sent = {rec["seq"]: rec["payload"]["sent_at"]
                for rec in read_events(log_dir, session_id=SESSION, kind="fill")}
        results = json.loads(out_file.read_text())
    latencies = []
    lost = duplicated = 0
    for client in results:
        got = {int(seq): at for seq, at in client["got"].items()}
        duplicated += client["dups"]
        lost += sum(1 for seq in sent if seq not in got)
        latencies += [(got[seq] - at) * 1000 for seq, at in sent.items() if seq in got]
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    page_p50, page_p99 = percentile(pages, 50), percentile(pages, 99)
    print(f"bench_stream: {args.clients} SSE clients, {args.rate:g} events/s for "
          f"{args.seconds:g} s under gunicorn (2 gthread workers x 192 threads)")
    print(f"  deliveries: {len(latencies):,} of {len(sent) * args.clients:,}; "
          f"lost {lost} (target 0), duplicated {duplicated} (target 0)")
    print(f"  append->receipt latency: p50 {p50:.1f} ms (target <= {TARGET_P50_MS:g}), "
          f"p99 {p99:.1f} ms (target <= {TARGET_P99_MS:g}), max {max(latencies):.1f} ms")
    print(f"  page request while streaming: p50 {page_p50:.1f} ms, p99 {page_p99:.1f} ms, "
          f"max {max(pages):.1f} ms (target <= {TARGET_PAGE_MS:g}; n={len(pages)})")
    print("  predecessor: pages did not update live (no figure to compare)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
