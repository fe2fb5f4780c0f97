"""Summary of a generated 1,000,000-event session: wall time and peak RSS of a child process.

    python bench/bench_summary.py [EVENTS]

The summary may fork workers; the peak RSS counts them: the child's own peak plus each
worker's (an upper bound: it adds peaks that need not coincide, and pages the workers
share with the child), next to the sum of the tree's RSS sampled every 10 ms.

Target (issue 2): <= 2.0 s wall and <= 150 MB peak RSS for 1,000,000 events.
Predecessor on this machine class: 8.1 s and 1.6 GB.
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from peaktrade.journal import Journal

TARGET_S = 2.0
TARGET_RSS_MB = 150.0
PREDECESSOR_S = 8.1
PREDECESSOR_RSS_MB = 1600.0
SYMBOLS = {"BTC-USD": 100_000.0, "ETH-USD": 2_500.0, "SOL-USD": 150.0, "AAPL": 190.0}
STRATEGIES = ("momentum", "mean_revert", "breakout")
GATES = ("PriceSanity", "ResearchOnly", "LotSize", "MinNotional")
VETO_CODES = ("MIN_NOTIONAL", "PRICE_SANITY", "LOT_SIZE", "MAX_NOTIONAL", "KILL_SWITCH")

CHILD = """
import json, os, resource, sys, time
from peaktrade.telemetry.summary import summarize_path
start, cpu = time.perf_counter(), time.process_time()
summary = summarize_path(sys.argv[1])
elapsed = time.perf_counter() - start
workers = os.times()
print(json.dumps({"elapsed": elapsed, "cpu": time.process_time() - cpu,
                  "workers_cpu": workers.children_user + workers.children_system,
                  "own_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "worker_rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  "events": summary["event_count"],
                  "invalid": summary["lines"]["invalid"], "fill_rate": summary["fill_rate"],
                  "vetoes": summary["vetoes"]["count"],
                  "p50": summary["latency_ms"]["order_to_fill"]["p50"]}))
"""


class StepClock:
    """A clock the generator moves forward by hand."""

    def __init__(self, day: int = 0) -> None:
        self.now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC) + timedelta(days=day)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, ms: float) -> None:
        self.now += timedelta(milliseconds=ms)


def verdict(symbol: str, qty: float, vetoed: str | None) -> dict:
    notional = qty * SYMBOLS[symbol]
    checks = [{"gate": gate, "decision": "pass", "code": "OK", "reason": "ok",
               "limit": 10.0, "value": round(notional, 2), "headroom": round(notional - 10, 2)}
              for gate in GATES]
    if vetoed:
        checks[-1].update(decision="block", code=vetoed, reason="blocked")
    return {"decision": "block" if vetoed else "pass", "code": vetoed or "OK",
            "reason": "blocked" if vetoed else "all checks passed", "qty": qty,
            "checks": checks}


def generate(root: Path, events: int, *, max_bytes: int = 1 << 40, session: str = "bench",
             first_intent: int = 0, day: int = 0) -> Path:
    """Append a realistic session of about `events` events through the real journal."""
    rng = random.Random(2026 + first_intent)
    clock = StepClock(day)
    journal = Journal(root, fsync="never", max_bytes=max_bytes, clock=clock)
    written = 0
    n = first_intent
    while written < events:
        n += 1
        symbol = rng.choice(tuple(SYMBOLS))
        strategy = rng.choice(STRATEGIES)
        qty = round(rng.uniform(0.01, 5), 4)
        intent_id = f"i-{n}"
        common = {"symbol": symbol, "strategy": strategy, "intent_id": intent_id,
                  "source": "DEMO"}
        vetoed = rng.choice(VETO_CODES) if rng.random() < 0.1 else None
        batch = [{**common, "kind": "intent",
                  "payload": {"side": "BUY", "qty": qty, "order_type": "MARKET", "tif": "DAY",
                              "price": SYMBOLS[symbol], "tags": [], "reason": "signal",
                              "confidence": 0.6, "client_order_id": None, "route": "PAPER"}},
                 {**common, "kind": "gate", "payload": verdict(symbol, qty, vetoed)}]
        if vetoed:
            batch.append({**common, "kind": "reject",
                          "payload": {"code": vetoed, "reason": f"{vetoed}: blocked",
                                      "leaves_qty": 0.0}})
            written += len(journal.append(session, batch))
            clock.advance(rng.uniform(5, 50))
            continue
        written += len(journal.append(session, batch))
        clock.advance(rng.uniform(1, 40))
        order_id = f"o-{n}"
        written += len(journal.append(session, [{
            **common, "kind": "order", "order_id": order_id,
            "payload": {"status": "NEW", "side": "BUY", "qty": qty, "order_type": "MARKET",
                        "limit_price": None, "tif": "DAY", "route": "PAPER",
                        "client_order_id": None}}]))
        clock.advance(rng.uniform(1, 200))
        price = SYMBOLS[symbol] * 1.0005
        written += len(journal.append(session, [{
            **common, "kind": "fill", "order_id": order_id,
            "payload": {"side": "BUY", "qty": qty, "price": price, "fee": 0.0,
                        "slippage_bps": 5.0, "leaves_qty": 0.0, "status": "FILLED"}}]))
        clock.advance(rng.uniform(5, 50))
    journal.close()
    return root


def measure(path: Path) -> tuple[dict, float]:
    """Run the summary in a child process: its own figures and the peak RSS in MB of the
    child and its workers together (see the module docstring)."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE,
                             text=True)
    sampled_kb = 0
    workers: set[int] = set()
    while child.poll() is None:
        tree = _descendants(child.pid)
        workers.update(tree)
        sampled_kb = max(sampled_kb, sum(_rss_kb(pid) for pid in (child.pid, *tree)))
        time.sleep(0.01)
    out, _ = child.communicate()
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, "summary child")
    figures = json.loads(out)
    figures["workers"] = len(workers)
    figures["sampled_rss_mb"] = sampled_kb / 1024
    bound_kb = figures["own_rss_kb"] + len(workers) * figures["worker_rss_kb"]
    return figures, max(bound_kb, sampled_kb) / 1024


def _descendants(pid: int) -> list[int]:
    """The pids of a process's children, their children, and so on (Linux /proc)."""
    out = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                out += [int(child), *_descendants(int(child))]
    except OSError:
        pass  # gone meanwhile
    return out


def _rss_kb(pid: int) -> int:
    try:
        resident_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return resident_pages * resource.getpagesize() // 1024


def main() -> int:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory(prefix="bench-summary-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        generate(root, events)
        size_mb = sum(p.stat().st_size for p in root.rglob("*.jsonl*")) / 1e6
        print(f"generated {events:,} events ({size_mb:,.0f} MB) in "
              f"{time.perf_counter() - started:.1f} s")
        wall_start = time.perf_counter()
        figures, rss_mb = measure(root / "bench.jsonl")
        wall = time.perf_counter() - wall_start
    print(f"summary of {figures['events']:,} events: {figures['elapsed']:.2f} s in the call "
          f"({figures['cpu']:.2f} s CPU + {figures['workers_cpu']:.2f} s CPU in "
          f"{figures['workers']} worker(s); load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores), {wall:.2f} s wall for the child process, "
          f"peak RSS {rss_mb:.0f} MB with its workers (own {figures['own_rss_kb'] / 1024:.0f} "
          f"MB + {figures['workers']} x {figures['worker_rss_kb'] / 1024:.0f} MB; sampled "
          f"sum {figures['sampled_rss_mb']:.0f} MB)")
    print(f"target: <= {TARGET_S} s and <= {TARGET_RSS_MB:.0f} MB "
          f"({'met' if figures['elapsed'] <= TARGET_S and rss_mb <= TARGET_RSS_MB else 'NOT met'})")
    print(f"vs predecessor ({PREDECESSOR_S} s, {PREDECESSOR_RSS_MB:.0f} MB): "
          f"{PREDECESSOR_S / figures['elapsed']:.1f}x faster, "
          f"{PREDECESSOR_RSS_MB / rss_mb:.1f}x less memory")
    return 0


if __name__ == "__main__":
    sys.exit(main())
