"""summarize(): counts, time range, latency joined on ids, fill rate, vetoes, strategies."""

from __future__ import annotations

import random

import orjson

from peaktrade.events import dumps
from peaktrade.journal import Journal, LineStats
from peaktrade.journal.reader import line_ranges, read_range
from peaktrade.telemetry import summary
from peaktrade.telemetry.summary import (
    SUMMARY_KEYS,
    nearest_rank,
    summarize,
    summarize_in_parts,
    summarize_path,
)


def ts(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return f"2026-01-05T10:{seconds // 60:02d}:{seconds % 60:02d}.{millis:03d}000Z"


def record(seq, kind, at_ms, *, symbol="BTC-USD", strategy="s1", intent_id=None,
           order_id=None, session_id="s", **payload):
    return {"v": 1, "seq": seq, "ts": ts(at_ms), "session_id": session_id, "kind": kind,
            "mode": "paper", "symbol": symbol, "strategy": strategy, "intent_id": intent_id,
            "order_id": order_id, "source": "API", "payload": payload}


def chain(seq, intent_id, at_ms, to_order_ms, to_fill_ms, **kw):
    order_id = f"o-{intent_id}"
    out = [record(seq, "intent", at_ms, intent_id=intent_id, **kw),
           record(seq + 1, "gate", at_ms, intent_id=intent_id, decision="pass", **kw),
           record(seq + 2, "order", at_ms + to_order_ms, intent_id=intent_id,
                  order_id=order_id, **kw)]
    if to_fill_ms is not None:
        out.append(record(seq + 3, "fill", at_ms + to_order_ms + to_fill_ms,
                          intent_id=intent_id, order_id=order_id, **kw))
    return out


def test_has_exactly_the_issue_keys_even_when_empty():
    summary = summarize([])
    assert tuple(summary) == SUMMARY_KEYS
    assert summary["event_count"] == 0
    assert summary["first_ts"] is None and summary["last_ts"] is None
    assert summary["fill_rate"] is None
    for name in ("intent_to_order", "order_to_fill"):
        assert summary["latency_ms"][name] == {"n": 0, "unmatched": 0, "min": None, "p50": None,
                                               "p90": None, "p95": None, "p99": None,
                                               "max": None}


def test_latency_joins_on_ids_with_nearest_rank_quantiles():
    records = (chain(1, "i1", 0, 50, 10) + chain(10, "i2", 1000, 100, 20)
               + chain(20, "i3", 2000, 120, 30) + chain(30, "i4", 3000, 3000, None))
    summary = summarize(records)
    to_order = summary["latency_ms"]["intent_to_order"]
    assert to_order == {"n": 4, "unmatched": 0, "min": 50.0, "p50": 100.0, "p90": 3000.0,
                        "p95": 3000.0, "p99": 3000.0, "max": 3000.0}
    to_fill = summary["latency_ms"]["order_to_fill"]
    assert to_fill["n"] == 3 and to_fill["unmatched"] == 1
    assert (to_fill["min"], to_fill["p50"], to_fill["max"]) == (10.0, 20.0, 30.0)
    assert summary["fill_rate"] == 0.75


def test_latency_never_joins_on_symbol():
    records = [record(1, "intent", 0, intent_id="a"),
               record(2, "order", 40, intent_id="b", order_id="o1"),
               record(3, "fill", 80, order_id="o2")]
    summary = summarize(records)
    assert summary["latency_ms"]["intent_to_order"]["n"] == 0
    # intent a never reached an order, order o1 has no intent
    assert summary["latency_ms"]["intent_to_order"]["unmatched"] == 2
    # order o1 never filled, fill of o2 has no order
    assert summary["latency_ms"]["order_to_fill"]["unmatched"] == 2
    assert summary["fill_rate"] == 0.0


def test_first_fill_only_counts_for_latency():
    records = chain(1, "i1", 0, 10, 5) + [record(9, "fill", 500, order_id="o-i1")]
    summary = summarize(records)
    assert summary["latency_ms"]["order_to_fill"]["n"] == 1
    assert summary["latency_ms"]["order_to_fill"]["max"] == 5.0


def test_counts_symbols_sessions_and_time_range():
    records = (chain(1, "i1", 0, 5, 5, symbol="ETH-USD", session_id="b")
               + chain(5, "i2", 7000, 5, 5, symbol="BTC-USD", session_id="a"))
    summary = summarize(records)
    assert summary["event_count"] == 8
    assert summary["kind_counts"] == {"fill": 2, "gate": 2, "intent": 2, "order": 2}
    assert summary["symbols"] == ["BTC-USD", "ETH-USD"]
    assert summary["sessions"] == ["a", "b"]
    assert summary["first_ts"] == ts(0) and summary["last_ts"] == ts(7010)


def test_vetoes_top_reasons_and_strategies():
    records = chain(1, "i1", 0, 5, 5, strategy="mom") + chain(5, "i2", 0, 5, None, strategy="mom")
    for n, code in enumerate(["MIN_NOTIONAL", "MIN_NOTIONAL", "KILL_SWITCH"]):
        records += [record(20 + n * 2, "intent", 100, intent_id=f"v{n}", strategy="mr"),
                    record(21 + n * 2, "gate", 100, intent_id=f"v{n}", strategy="mr",
                           decision="block", code=code)]
    summary = summarize(records)
    assert summary["vetoes"] == {"count": 3, "top_reasons": [
        {"code": "MIN_NOTIONAL", "count": 2}, {"code": "KILL_SWITCH", "count": 1}]}
    assert summary["strategies"] == {
        "mom": {"attempted": 2, "vetoed": 0, "executed": 2, "fill_rate": 0.5},
        "mr": {"attempted": 3, "vetoed": 3, "executed": 0, "fill_rate": None}}
    # vetoed intents are not waiting for an order
    assert summary["latency_ms"]["intent_to_order"]["unmatched"] == 0


def test_legacy_blocking_gates_count_one_veto_per_intent():
    records = [record(1, "intent", 0, intent_id="x"),
               record(2, "gate", 1, intent_id="x", gate="PriceSanity", decision="block",
                      code="PRICE_SANITY"),
               record(3, "gate", 2, intent_id="x", gate="MinNotional", decision="block",
                      code="MIN_NOTIONAL"),
               record(4, "gate", 3, intent_id=None, decision="block", code="LOT_SIZE")]
    assert summarize(records)["vetoes"]["count"] == 2


def test_lines_and_error_rate_come_from_read_stats():
    summary = summarize([], LineStats(total=10, blank=2, valid=6, invalid=2))
    assert summary["lines"] == {"total": 10, "blank": 2, "valid": 6, "invalid": 2,
                                "seq_breaks": 0}
    assert summary["error_rate"] == 0.25


def test_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert nearest_rank(values, 50) == 50.0
    assert nearest_rank(values, 99) == 99.0
    assert nearest_rank([7.0], 99) == 7.0


def test_summarize_path_reads_a_journal_with_filters(tmp_path):
    journal = Journal(tmp_path, fsync="never")
    journal.append("s1", [{"kind": "intent", "symbol": "BTC-USD", "intent_id": "i1",
                           "payload": {}},
                          {"kind": "intent", "symbol": "ETH-USD", "intent_id": "i2",
                           "payload": {}}])
    journal.close()
    with open(tmp_path / "s1.jsonl", "ab") as fh:
        fh.write(b"not json\n\n")
    summary = summarize_path(tmp_path, session_id="s1", symbol="ETH-USD")
    assert summary["event_count"] == 1
    assert summary["symbols"] == ["ETH-USD"]
    assert summary["lines"] == {"total": 4, "blank": 1, "valid": 2, "invalid": 1,
                                "seq_breaks": 0}
    assert summary["error_rate"] == 1 / 3


def test_summarize_path_of_a_folder_adds_up_its_sessions(tmp_path):
    journal = Journal(tmp_path, fsync="never")
    for session in ("a", "b"):
        journal.append(session, [{"kind": "intent", "intent_id": "i", "strategy": "s",
                                  "payload": {}},
                                 {"kind": "order", "intent_id": "i", "order_id": "o",
                                  "strategy": "s", "payload": {}}])
    journal.close()
    summary = summarize_path(tmp_path)
    assert summary["sessions"] == ["a", "b"]
    assert summary["event_count"] == 4
    assert summary["lines"]["valid"] == 4
    assert summary["strategies"]["s"]["executed"] == 2
    assert summarize_path(tmp_path, limit=3)["event_count"] == 3


def test_ids_join_within_their_session_only():
    records = (chain(1, "i1", 0, 50, 10, session_id="a")[:3]
               + chain(1, "i1", 20, 70, 10, session_id="b"))
    records.sort(key=lambda r: r["ts"])
    summary = summarize(records)
    to_order = summary["latency_ms"]["intent_to_order"]
    assert (to_order["n"], to_order["min"], to_order["max"]) == (2, 50.0, 70.0)
    assert summary["fill_rate"] == 0.5    # b's order filled, a's did not
    assert summary["latency_ms"]["order_to_fill"]["unmatched"] == 1


def mixed_journal(path, chains=600, seed=7):
    """A journal file whose chains interleave across many lines, so that any split of it
    cuts chains apart: three sessions, vetoes (some logged twice), partial fills, orphans,
    legacy lines, a time that does not parse, bad and blank lines, a cut-off last line."""
    rng = random.Random(seed)
    lines: list[bytes] = []
    open_chains: list[list[dict]] = []
    seq = 0
    at_ms = 0

    def v1(kind, chain, **fields):
        nonlocal seq
        seq += 1
        return dumps({**record(seq, kind, at_ms, symbol=chain["symbol"],
                               strategy=chain["strategy"], session_id=chain["session"],
                               intent_id=chain["intent_id"]), **fields})

    for n in range(chains):
        session = rng.choice("abc")
        chain = {"session": session, "intent_id": f"i{n}", "order_id": f"o{n}",
                 "symbol": rng.choice(["BTC-USD", "ETH-USD", "SOL-USD"]),
                 "strategy": rng.choice(["mom", "mr", None])}
        steps: list[dict] = [{"kind": "intent"}]
        if rng.random() < 0.15:
            steps.append({"kind": "gate", "payload": {"decision": "block",
                                                      "code": rng.choice(["MIN_NOTIONAL",
                                                                          "KILL_SWITCH"])}})
            if rng.random() < 0.5:  # a second blocking gate, as legacy journals log
                steps.append({"kind": "gate", "payload": {"decision": "block",
                                                          "code": "LOT_SIZE"}})
        else:
            steps.append({"kind": "gate", "payload": {"decision": "pass"}})
            if rng.random() < 0.9:
                steps.append({"kind": "order"})
                steps += [{"kind": "fill"}] * rng.choice([0, 1, 1, 2, 3])
        open_chains.append([chain, *steps])
        while open_chains and rng.random() < 0.8:
            picked = rng.choice(open_chains)
            chain, step = picked[0], picked.pop(1)
            at_ms += rng.randint(0, 900)
            order_id = chain["order_id"] if step["kind"] in ("order", "fill") else None
            lines.append(v1(step["kind"], chain, order_id=order_id,
                            payload=step.get("payload", {})))
            if len(picked) == 1:
                open_chains.remove(picked)
        roll = rng.random()
        if roll < 0.03:
            lines.append(rng.choice([b"not json\n", b"{\n", b"[]\n", b"\xff\xfe\x00\n",
                                     b"\n", b"   \n", b'{"v":1,"seq":\n']))
        elif roll < 0.05:
            legacy = {"timestamp": f"2026-01-05T11:{n % 60:02d}:00+01:00",
                      "event_type": rng.choice(["FILL", "ORDER", "GATE"]),
                      "session_id": session, "client_id": f"o{n - 3}", "intent_id": f"i{n - 3}",
                      "payload": {"gate_name": "MinNotionalGate", "passed": False}}
            lines.append(orjson.dumps(legacy) + b"\n")
        elif roll < 0.06:
            ghost = {"session": session, "intent_id": f"ghost{n}", "order_id": f"go{n}",
                     "symbol": "AAPL", "strategy": "mr"}
            lines.append(v1(rng.choice(["order", "fill"]), ghost, order_id=f"go{n}",
                            payload={}))
        elif roll < 0.065:
            bad_time = orjson.loads(v1("order", chain, order_id=f"t{n}", payload={}))
            bad_time["ts"] = bad_time["ts"][:20] + "xxxxxxZ"
            lines.append(dumps(bad_time))
    for picked in open_chains:  # what is left: chains that never finish
        for step in picked[1:]:
            lines.append(v1(step["kind"], picked[0], order_id=picked[0]["order_id"],
                            payload=step.get("payload", {})))
    path.write_bytes(b"".join(lines) + b'{"v":1,"seq":99999,"ts":"2026-01-05T1')
    return path


def range_of(ranges, offset):
    return max(index for index, (start, _end) in enumerate(ranges) if start <= offset)


def test_a_journal_read_in_parts_sums_up_exactly_like_one_read(tmp_path, monkeypatch):
    monkeypatch.setattr(summary, "KEYS_PER_CHUNK", 50)  # ids travel in many chunks
    path = mixed_journal(tmp_path / "mixed.jsonl")
    whole = summarize_path(path)
    assert whole["lines"]["invalid"] > 5 and whole["lines"]["blank"] > 0
    assert whole["vetoes"]["count"] > 50 and len(whole["sessions"]) == 3
    for name in ("intent_to_order", "order_to_fill"):
        assert whole["latency_ms"][name]["n"] > 300
        assert whole["latency_ms"][name]["unmatched"] > 10
    for parts in (2, 3, 4, 7):
        assert summarize_in_parts(path, parts) == whole
    assert summarize_path(path, split_min_bytes=1) == whole


def test_chains_of_the_mixed_journal_cross_the_range_boundaries(tmp_path):
    path = mixed_journal(tmp_path / "mixed.jsonl")
    data = path.read_bytes()
    with open(path, "rb") as fh:
        ranges = line_ranges(path, 4, fd=fh.fileno())
    assert len(ranges) == 4 and all(data[start - 1:start] == b"\n" for start, _ in ranges[1:])
    first_seen: dict[str, int] = {}
    crossing = 0
    offset = 0
    for line in data.split(b"\n"):
        if line.startswith(b'{"v":1,"seq":') and line.endswith(b"}"):
            rec = orjson.loads(line)
            key = rec["intent_id"]
            if key in first_seen and range_of(ranges, first_seen[key]) < range_of(ranges,
                                                                                 offset):
                crossing += 1
            first_seen.setdefault(key, offset)
        offset += len(line) + 1
    assert crossing > 20


def test_filters_apply_to_every_part(tmp_path):
    path = mixed_journal(tmp_path / "mixed.jsonl")
    for filters in ({"session_id": "b"}, {"symbol": "ETH-USD", "strategy": "mom"},
                    {"kind": "order,fill", "since": "2026-01-05T10:01:00Z"}):
        assert summarize_in_parts(path, 3, **filters) == summarize_path(path, **filters)


def test_an_id_repeated_across_parts_needs_a_read_in_one_pass(tmp_path):
    path = tmp_path / "repeat.jsonl"
    chains = [chain(n * 4 + 1, f"i{n}", n * 1000, 10, 20) for n in range(400)]
    chains.append(chain(1601, "i3", 500_000, 30, 40))  # i3 and o-i3 again, at the end
    path.write_bytes(b"".join(dumps(rec) for recs in chains for rec in recs))
    assert summarize_in_parts(path, 2) is None
    whole = summarize_path(path)
    assert whole["latency_ms"]["intent_to_order"]["n"] == 400
    assert summarize_path(path, split_min_bytes=1) == whole


def test_joins_to_ids_done_in_an_earlier_part_are_no_orphans(tmp_path):
    path = tmp_path / "done_earlier.jsonl"
    def padding(first):
        return [record(seq, "gate", 0, intent_id="x", decision="pass")
                for seq in range(first, first + 300)]

    recs = padding(1) + chain(301, "i0", 0, 10, 20) + padding(305)
    recs.append(record(605, "fill", 90_000, intent_id="i0", order_id="o-i0"))  # a 2nd fill
    recs.append(record(606, "order", 90_001, intent_id="i0", order_id="o2"))  # a 2nd order
    path.write_bytes(b"".join(dumps(rec) for rec in recs))
    whole = summarize_path(path)
    assert whole["latency_ms"]["order_to_fill"]["unmatched"] == 1  # o2, not the 2nd fill
    assert whole["latency_ms"]["intent_to_order"]["unmatched"] == 0
    for parts in (2, 3, 4):
        assert summarize_in_parts(path, parts) == whole


def test_an_oversized_line_is_judged_alike_in_parts(tmp_path):
    path = tmp_path / "huge.jsonl"
    recs = [dumps(rec) for rec in chain(1, "i1", 0, 10, 20) + chain(5, "i2", 100, 10, 20)]
    huge = dumps({**record(9, "quote", 200), "payload": {"blob": "x" * 1_500_000}})
    for lead in (0, 700_000):  # where the 1 MB read blocks fall within the huge line
        path.write_bytes(b"".join(recs[:4]) + b"\n" * lead + huge + b"".join(recs[4:]))
        whole = summarize_path(path)
        for parts in (2, 3, 5):
            assert summarize_in_parts(path, parts) == whole


def test_parts_read_the_file_open_when_the_split_began(tmp_path):
    path = mixed_journal(tmp_path / "mixed.jsonl")
    whole = summarize_path(path)
    with open(path, "rb") as fh:
        path.rename(tmp_path / "archived.jsonl")  # a rotation while the parts read
        path.write_bytes(b"")
        stats = LineStats()
        for start, end in line_ranges(path, 3, fd=fh.fileno()):
            list(read_range(path, start, end, stats, fd=fh.fileno()))
    assert stats.as_dict() == whole["lines"]


def test_lines_decoded_in_the_summary_loop_count_like_a_read(tmp_path):
    path = mixed_journal(tmp_path / "mixed.jsonl")
    whole = summarize_path(path)
    stats = LineStats()
    builder = summary.SummaryBuilder().add_lines(path.read_bytes().split(b"\n"), stats,
                                                 "mixed")
    assert builder.result(stats) == whole


def test_a_longer_first_part_still_starts_every_part_at_a_line(tmp_path):
    path = mixed_journal(tmp_path / "mixed.jsonl")
    data = path.read_bytes()
    ranges = line_ranges(path, 3, first_share=0.6)
    assert len(ranges) == 3 and all(data[start - 1:start] == b"\n" for start, _ in ranges[1:])
    assert 0.6 * len(data) <= ranges[1][0] < 0.6 * len(data) + 1000
    for share in (0.2, 0.6, 0.99):
        for parts in (2, 3):
            with open(path, "rb") as fh:
                cut = line_ranges(path, parts, fd=fh.fileno(), first_share=share)
            stats = LineStats()
            for start, end in cut:
                list(read_range(path, start, end, stats))
            assert stats.as_dict() == summarize_path(path)["lines"]
