"""Replay rebuilds chains from a real journal: coverage, latency per hop, per symbol/strategy."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from peaktrade.events import ts_to_epoch
from peaktrade.journal import Journal, read_events, session_files
from peaktrade.telemetry.replay import (
    LatencyStats,
    epoch_clock,
    replay,
    replay_journal,
    split_session,
)

T0 = datetime(2026, 3, 2, 14, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def chain(intent_id, order_id, *, symbol="AAPL", strategy="mom", start=0.0, to_order=0.5,
          to_fill=None, block=False, fill_status="FILLED"):
    """The events of one intent's way through the desk."""
    events = [{"kind": "intent", "ts": at(start), "symbol": symbol, "strategy": strategy,
               "intent_id": intent_id, "payload": {"side": "BUY", "qty": 10}},
              {"kind": "gate", "ts": at(start + 0.1), "symbol": symbol, "strategy": strategy,
               "intent_id": intent_id,
               "payload": {"decision": "block" if block else "pass",
                           "code": "MIN_NOTIONAL" if block else None}}]
    if block:
        events.append({"kind": "reject", "ts": at(start + 0.1), "symbol": symbol,
                       "strategy": strategy, "intent_id": intent_id, "order_id": order_id,
                       "payload": {"code": "MIN_NOTIONAL"}})
        return events
    events.append({"kind": "order", "ts": at(start + to_order), "symbol": symbol,
                   "strategy": strategy, "intent_id": intent_id, "order_id": order_id,
                   "payload": {"status": "NEW", "side": "BUY", "qty": 10}})
    if to_fill is not None:
        events.append({"kind": "fill", "ts": at(start + to_order + to_fill), "symbol": symbol,
                       "strategy": strategy, "intent_id": intent_id, "order_id": order_id,
                       "payload": {"qty": 10, "price": 100.0, "status": fill_status}})
    return events


def test_latency_quantiles_are_nearest_rank_observed_values():
    stats = LatencyStats.of([10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0], unmatched=2)
    assert (stats.n, stats.unmatched, stats.min, stats.max) == (10, 2, 1.0, 10.0)
    assert (stats.p50, stats.p90, stats.p95, stats.p99) == (5.0, 9.0, 10.0, 10.0)
    assert LatencyStats.of([]).p95 is None


def test_replay_reports_coverage_and_latency_per_hop(journal, log_dir):
    events = (chain("i1", "o1", to_order=0.5, to_fill=2.0)
              + chain("i2", "o2", start=10, to_order=1.0, to_fill=4.0)
              + chain("i3", "o3", start=20, block=True)
              + chain("i4", "o4", start=30, to_order=0.25)
              + [{"kind": "quote", "ts": at(100), "symbol": "AAPL", "payload": {"bid": 1}}])
    journal.append("s1", events)
    report = replay(read_events(log_dir))
    cov = report.coverage
    assert (cov.intents, cov.vetoed, cov.reached_order, cov.orders) == (4, 1, 3, 3)
    assert (cov.orders_filled, cov.orders_fully_filled, cov.orders_without_fill) == (2, 2, 1)
    assert cov.orders_no_fill_after_n == 1
    assert report.unfilled_orders[0].order_id == "o4"
    assert report.unfilled_orders[0].waited_s == pytest.approx(69.75)
    to_order = report.latency["intent_to_order"]
    assert (to_order.n, to_order.unmatched, to_order.min, to_order.max) == (3, 0, 0.25, 1.0)
    to_fill = report.latency["order_to_fill"]
    assert (to_fill.n, to_fill.unmatched, to_fill.p50, to_fill.p95) == (2, 1, 2.0, 4.0)
    assert report.latency["intent_to_fill"].max == pytest.approx(5.0)
    assert report.sessions == ("s1",)


def test_a_late_first_fill_counts_as_no_fill_after_n(journal, log_dir):
    journal.append("s1", chain("i1", "o1", to_fill=45.0) + chain("i2", "o2", to_fill=1.0))
    report = replay(read_events(log_dir), no_fill_after_s=30)
    assert report.coverage.orders_no_fill_after_n == 1
    assert report.unfilled_orders[0].order_id == "o1"


def test_replay_splits_by_symbol_and_strategy(journal, log_dir):
    journal.append("s1", chain("i1", "o1", symbol="AAPL", strategy="mom", to_fill=1.0)
                   + chain("i2", "o2", symbol="MSFT", strategy="mom", start=5, to_fill=3.0)
                   + chain("i3", "o3", symbol="MSFT", strategy="carry", start=9, block=True))
    report = replay(read_events(log_dir))
    assert report.per_symbol["MSFT"].intents == 2
    assert report.per_symbol["MSFT"].vetoed == 1
    assert report.per_symbol["MSFT"].order_to_fill.max == 3.0
    assert report.per_strategy["mom"].filled == 2
    assert report.per_strategy["carry"].to_dict()["fill_rate"] == 0.0


def test_chains_are_joined_on_ids_not_on_symbol(journal, log_dir):
    journal.append("s1", chain("i1", "o1", to_order=1.0)[:2] + chain("i2", "o2", to_order=2.0)[:2]
                   + [chain("i2", "o2", to_order=2.0)[2], chain("i1", "o1", to_order=1.0)[2]])
    chains = []
    replay(read_events(log_dir), on_chain=chains.append)
    by_intent = {c.intent_id: c.to_dict() for c in chains}
    assert by_intent["i1"]["order_id"] == "o1"
    assert by_intent["i2"]["order_id"] == "o2"
    assert by_intent["i1"]["status"] == "NEW"


def test_every_chain_is_emitted_once_with_its_outcome(journal, log_dir):
    journal.append("s1", chain("i1", "o1", to_fill=1.0) + chain("i2", "o2", start=3, block=True)
                   + chain("i3", "o3", start=6, to_fill=1.0, fill_status="PARTIAL"))
    chains = []
    replay(read_events(log_dir), on_chain=chains.append)
    assert sorted((c.intent_id, c.status) for c in chains) == [
        ("i1", "FILLED"), ("i2", "VETOED"), ("i3", "PARTIAL")]
    assert next(c for c in chains if c.intent_id == "i2").code == "MIN_NOTIONAL"


def test_orders_without_a_known_intent_are_unmatched(journal, log_dir):
    journal.append("s1", chain("i1", "o1", to_fill=1.0)[2:])
    report = replay(read_events(log_dir))
    assert report.coverage.orders == 1
    assert report.latency["intent_to_order"].unmatched == 1
    assert report.latency["order_to_fill"].n == 1


def test_report_serialises_with_line_stats(log_dir):
    path = log_dir / "s1.jsonl"
    path.write_bytes(b'{"broken\n' + b"\n")
    reader = read_events(log_dir)
    report = replay(reader, lines=reader.stats)
    data = report.to_dict()
    assert data["lines"]["invalid"] == 1
    assert data["lines"]["error_rate"] == 1.0
    assert data["coverage"]["fill_rate"] == 0.0


def test_no_fill_after_must_be_positive():
    with pytest.raises(ValueError, match="no_fill_after_s must be > 0, got 0"):
        replay([], no_fill_after_s=0)


def test_epoch_clock_matches_the_calendar_across_seconds_and_repeats():
    seconds = epoch_clock()
    stamps = ["2026-03-02T14:00:00.000001Z", "2026-03-02T14:00:00.000001Z",
              "2026-03-02T14:00:00.999999Z", "2026-03-02T14:00:01.500000Z",
              "2026-12-31T23:59:59.250000Z", "2026-03-02T14:00:00.000001Z"]
    for ts in stamps:
        assert seconds(ts) == pytest.approx(ts_to_epoch(ts), abs=1e-6)


def interleaved_session(journal: Journal, chains: int) -> None:
    """Chains whose events are spread far apart, with a bad line now and then."""
    events = []
    for n in range(chains):
        events += chain(f"i{n}", f"o{n}", symbol=("AAPL", "MSFT")[n % 2],
                        strategy=("mom", "carry", "mr")[n % 3], start=n * 0.25,
                        to_order=3.0 + n % 5, to_fill=None if n % 7 == 0 else 40.0 + n % 11,
                        block=n % 10 == 3, fill_status=("FILLED", "PARTIAL")[n % 9 == 4])
    events.sort(key=lambda e: e["ts"])
    for start in range(0, len(events), 25):
        journal.append("big", events[start:start + 25])
        if start % 200 == 0:
            with open(journal.root / "big.jsonl", "ab") as fh:
                fh.write(b"{broken line\n")
    journal.flush()


def test_split_session_cuts_plain_files_on_newlines_and_never_gzip(journal, log_dir):
    interleaved_session(Journal(log_dir, max_bytes=20_000, fsync="never"), 120)
    files = session_files(log_dir, "big")
    assert files[0].name.endswith(".gz") and files[-1].name == "big.jsonl"
    for parts in (2, 3, 5):
        runs = split_session(files, parts)
        slices = [piece for run in runs for piece in run]
        plain = [p for p in slices if p.path.name == "big.jsonl"]
        data = b"".join(p.path.read_bytes()[p.start:p.end] for p in plain)
        assert data == (log_dir / "big.jsonl").read_bytes()
        assert all(p.start == 0 or p.path.read_bytes()[p.start - 1:p.start] == b"\n"
                   for p in plain)
        assert all(p.whole for p in slices if p.path.name.endswith(".gz"))
        assert [p.path for p in slices if p.whole or p.start == 0] == files


SPLIT_REPLAY = """
import sys, orjson
from peaktrade.telemetry import replay as r
r.PARALLEL_MIN_BYTES = 0
runs = []
split = r.split_session
r.split_session = lambda files, parts: runs.append(parts) or split(files, parts)
filters = orjson.loads(sys.argv[3])
report = r.replay_journal(sys.argv[1], processes=int(sys.argv[2]), **filters).to_dict()
print(orjson.dumps({"runs": runs, "report": report}).decode())
"""


def replay_split(log_dir, processes, **filters):
    """Replay in a fresh process (no threads, so it may fork), cut into `processes` runs."""
    out = subprocess.run([sys.executable, "-c", SPLIT_REPLAY, str(log_dir), str(processes),
                          json.dumps(filters)], capture_output=True, text=True, check=True,
                         timeout=120)
    result = json.loads(out.stdout)
    assert result["runs"] == [processes]
    return result["report"]


@pytest.mark.parametrize("processes", [2, 3])
def test_a_replay_split_across_processes_equals_one_in_a_single_process(log_dir, processes):
    interleaved_session(Journal(log_dir, max_bytes=30_000, fsync="never"), 400)
    single = replay_journal(log_dir, processes=1).to_dict()
    split = replay_split(log_dir, processes)
    assert split == json.loads(json.dumps(single))
    waits = [u["waited_s"] for u in single["unfilled_orders"]]
    assert len(waits) == 100 and waits == sorted(waits, reverse=True)
    assert single["coverage"]["intents"] == 400
    assert single["lines"]["invalid"] > 0
    assert single["coverage"]["orders_no_fill_after_n"] > 0


def test_a_split_replay_keeps_the_filters(log_dir):
    interleaved_session(Journal(log_dir, max_bytes=30_000, fsync="never"), 200)
    split = replay_split(log_dir, 2, symbol="MSFT", strategy="mom")
    single = replay_journal(log_dir, processes=1, symbol="MSFT", strategy="mom").to_dict()
    assert split == json.loads(json.dumps(single))
    assert set(split["per_symbol"]) == {"MSFT"}
