"""`peaktrade telemetry view --summary` and `replay` on a generated 1,000,000-event session.

    .venv/bin/python bench/bench_cli.py [--events N] [--keep DIR]

Each command runs in its own process; wall time, CPU time (user + system of the command
and the processes it forks: what it costs when other work shares the cores) and the peak
RSS of the largest process of that tree (replay forks one worker per core on large
sessions; wait4 reports the largest) are printed next to the issue's targets
(<= 3 s, <= 200 MB) and the predecessor's 8.2 s / 1.6 GB.
The load average is printed too: wall time above CPU time means the cores were shared.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from peaktrade.events import SCHEMA_VERSION, format_ts

TARGET_S = 3.0
TARGET_MB = 200.0
PREDECESSOR_S = 8.2
PREDECESSOR_MB = 1600.0
SESSION = "bench_session"
SYMBOLS = ("BTC-USD", "ETH-USD", "SOL-USD", "AAPL", "MSFT")
STRATEGIES = ("momentum", "carry", "meanrev")
CHECKS = [{"gate": g, "decision": "pass", "code": "OK", "limit": None, "value": 1.0,
           "headroom": None} for g in ("PriceSanity", "ResearchOnly", "LotSize", "MinNotional")]


def generate(path: Path, events: int) -> int:
    """A session of quote/intent/gate/order/fill/position chains; every 10th intent vetoed."""
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    seq = 0
    n = 0
    with open(path, "wb") as out:
        buf: list[bytes] = []
        while seq < events:
            n += 1
            symbol = SYMBOLS[n % len(SYMBOLS)]
            strategy = STRATEGIES[n % len(STRATEGIES)]
            base = start + timedelta(milliseconds=n * 137)
            ids = {"symbol": symbol, "strategy": strategy, "intent_id": f"i-{n}",
                   "order_id": None, "source": "DEMO"}
            vetoed = n % 10 == 0
            chain = [("quote", 0, {**ids, "strategy": None, "intent_id": None},
                      {"bid": 99.95, "ask": 100.05, "last": 100.0, "size": 10.0}),
                     ("intent", 1, ids, {"side": "BUY", "qty": 1.0, "order_type": "MARKET",
                                         "tif": "DAY", "price": 100.0, "tags": []}),
                     ("gate", 1, ids, {"decision": "block" if vetoed else "pass",
                                       "code": "MIN_NOTIONAL" if vetoed else None,
                                       "qty": 1.0, "checks": CHECKS})]
            if not vetoed:
                order = {**ids, "order_id": f"o-{n}"}
                chain += [("order", 3 + n % 7, order, {"status": "NEW", "side": "BUY",
                                                       "qty": 1.0, "order_type": "MARKET"}),
                          ("fill", 5 + n % 40, order, {"qty": 1.0, "price": 100.05,
                                                       "status": "FILLED", "leaves_qty": 0.0}),
                          ("position", 5 + n % 40, order, {"qty": n, "avg_price": 100.0})]
            for kind, ms, fields, payload in chain:
                seq += 1
                record = {"v": SCHEMA_VERSION, "seq": seq,
                          "ts": format_ts(base + timedelta(milliseconds=ms)),
                          "session_id": SESSION, "kind": kind, "mode": "paper",
                          "symbol": fields["symbol"], "strategy": fields["strategy"],
                          "intent_id": fields["intent_id"], "order_id": fields["order_id"],
                          "source": fields["source"], "payload": payload}
                buf.append(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
                if seq >= events:
                    break
            if len(buf) >= 10_000:
                out.write(b"".join(buf))
                buf.clear()
        out.write(b"".join(buf))
    return seq


def measure(args: list[str]) -> tuple[float, float, float, int]:
    """Wall seconds, CPU seconds, largest peak RSS (MB) and exit code of one command."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.stderr is not None:
        proc.stderr.close()
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, default=None, help="write the session here")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        folder = opts.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{SESSION}.jsonl"
        started = time.perf_counter()
        count = generate(path, opts.events)
        print(f"generated {count:,} events ({path.stat().st_size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - started:.1f} s")
        cli = [str(Path(sys.executable).with_name("peaktrade"))]
        commands = {
            "telemetry view --summary": cli + ["telemetry", "view", "--path", str(path),
                                               "--summary", "--limit", "50"],
            "telemetry replay": cli + ["telemetry", "replay", "--path", str(path)],
        }
        print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        for name, args in commands.items():
            seconds, cpu, peak_mb, code = measure(args)
            print(f"{name}: exit {code}\n"
                  f"  time  {seconds:6.2f} s wall, {cpu:5.2f} s CPU   target <= {TARGET_S:g} s; "
                  f"predecessor {PREDECESSOR_S:g} s: {PREDECESSOR_S / seconds:.1f}x (wall), "
                  f"{PREDECESSOR_S / cpu:.1f}x (CPU)\n"
                  f"  RSS   {peak_mb:6.1f} MB peak            target <= {TARGET_MB:g} MB; "
                  f"predecessor {PREDECESSOR_MB:g} MB: {PREDECESSOR_MB / peak_mb:.1f}x less")
        print(f"load average {os.getloadavg()[0]:.2f} after the runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
