"""Desk.submit throughput with the journal on and the default fsync policy.

Targets (issue 3): single intents >= 20,000/s, batches of 100 >= 50,000/s,
two processes contending on one session >= 10,000/s in total.

Each figure is the median of several runs, each on a fresh desk and journal, after one
warm-up run that is not counted (a fresh process first grows its heap and the page cache
the journal writes into); the range of the runs is printed with it.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from peaktrade.config import load_config  # noqa: E402
from peaktrade.execution import Desk  # noqa: E402

SINGLE_N = 20_000
BATCH_N = 50_000
CONTENDED_N = 10_000
RUNS = 5
CONTENDED_RUNS = 3
SYMBOLS = ("BTC-USD", "ETH-USD", "AAPL", "MSFT")


def make_desk(root: str) -> Desk:
    config = load_config({"log_dir": root}, environ={})
    return Desk.from_config(config, environ={})


def intent(i: int) -> dict:
    symbol = SYMBOLS[i % len(SYMBOLS)]
    return {"symbol": symbol, "side": "BUY" if i % 2 else "SELL", "quantity": 1,
            "price": 100.0, "strategy": "bench"}


def run_single(root: str, n: int) -> tuple[float, float]:
    """(wall-clock rate, CPU-time rate) of n single-intent submits."""
    return _submit_each(root, [intent(i) for i in range(n)], n)


def run_batches(root: str, n: int, size: int = 100) -> tuple[float, float]:
    """(wall-clock rate, CPU-time rate) of n intents submitted in batches."""
    return _submit_each(root, [[intent(i + j) for j in range(size)]
                               for i in range(0, n, size)], n)


def _submit_each(root: str, submits: list, n: int) -> tuple[float, float]:
    """Rates of n intents given to Desk.submit one argument at a time, on a started session."""
    desk = make_desk(root)
    desk.submit(intent(0))
    start, cpu = time.perf_counter(), time.process_time()
    for item in submits:
        desk.submit(item)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    desk.close()
    return n / elapsed, n / cpu


def _contender(root: str, n: int, ready, go, out) -> None:
    desk = make_desk(root)
    desk.submit(intent(0))
    intents = [intent(i) for i in range(n)]
    ready.wait()
    go.wait()
    start, cpu = time.perf_counter(), time.thread_time()
    for item in intents:
        desk.submit(item)
    out.put((start, time.perf_counter(), time.thread_time() - cpu))
    desk.close()


def run_contended(root: str, n: int, processes: int = 2) -> tuple[float, float]:
    """(total wall-clock rate, CPU microseconds each process spent per intent it submitted).

    Each process also reads and applies every intent the others submitted, under the
    same session lock, so the CPU per intent is the decision plus the catching up.
    """
    starter = make_desk(root)
    starter.submit(intent(0))  # start the session once, before the race
    starter.close()
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Barrier(processes + 1)
    go = ctx.Event()
    out = ctx.Queue()
    procs = [ctx.Process(target=_contender, args=(root, n, ready, go, out))
             for _ in range(processes)]
    for p in procs:
        p.start()
    ready.wait()
    go.set()
    spans = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join()
    elapsed = max(end for _, end, _ in spans) - min(start for start, _, _ in spans)
    return processes * n / elapsed, max(cpu for _, _, cpu in spans) / n * 1e6


def repeated(run, n: int, runs: int) -> list[tuple[float, float]]:
    """One warm-up run, then `runs` measured ones; each in a folder of its own, removed
    after it (the ~100 MB a run writes is not still being written back during the next)."""
    results = []
    for index in range(runs + 1):
        with tempfile.TemporaryDirectory() as tmp:
            result = run(tmp, n)
        if index:
            results.append(result)
    return results


def report(name: str, figures: list[float], target: float,
           cpus: list[float] | None = None) -> None:
    figure = statistics.median(figures)
    verdict = "ok" if figure >= target else "BELOW TARGET"
    on_cpu = f"; {statistics.median(cpus):,.0f}/s per CPU-second of this process" if cpus \
        else ""
    print(f"{name:<38} {figure:>8,.0f} intents/s   target >= {target:,.0f}   {verdict}")
    print(f"{'':<38} median of {len(figures)} runs: {min(figures):,.0f} to "
          f"{max(figures):,.0f}{on_cpu}")


def main() -> int:
    os.environ.pop("PEAKTRADE_KILL_SWITCH", None)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; journal on, "
          "fsync 'interval' (the default)")
    single = repeated(run_single, SINGLE_N, RUNS)
    report("Desk.submit, single intents", [w for w, _ in single], 20_000,
           [c for _, c in single])
    batches = repeated(run_batches, BATCH_N, RUNS)
    report("Desk.submit, batches of 100", [w for w, _ in batches], 50_000,
           [c for _, c in batches])
    contended = repeated(run_contended, CONTENDED_N, CONTENDED_RUNS)
    report("Desk.submit, 2 processes contending", [r for r, _ in contended], 10_000)
    print(f"{'':<38} each process: {statistics.median(c for _, c in contended):,.0f} us CPU "
          "per own intent, catching up with the other's included")
    return 0


if __name__ == "__main__":
    sys.exit(main())
