"""Journal.append: seq and ts stamping, validation before writing, rotation, locking."""

from __future__ import annotations

import gzip
import os
import threading
import time
from datetime import UTC, datetime

import orjson
import pytest

from peaktrade.config import load_config
from peaktrade.events import InvalidSessionId
from peaktrade.journal import Journal, JournalCursor, compress_leftovers, read_events
from peaktrade.journal.files import archive_segments


def fill(**fields):
    return {"kind": "fill", "symbol": "BTC-USD", "payload": {"qty": 1}, **fields}


def test_append_stamps_v_seq_ts_and_returns_the_written_records(tmp_path):
    moment = datetime(2026, 1, 5, 14, 30, 0, 123, tzinfo=UTC)
    journal = Journal(tmp_path, fsync="never", clock=lambda: moment)
    records = journal.append("s", [fill(), fill(order_id="o2", source="CLI")])
    journal.close()
    assert [r["seq"] for r in records] == [1, 2]
    assert {r["ts"] for r in records} == {"2026-01-05T14:30:00.000123Z"}
    assert records[1]["order_id"] == "o2" and records[1]["mode"] == "paper"
    lines = (tmp_path / "s.jsonl").read_bytes().splitlines()
    assert [orjson.loads(line) for line in lines] == records


def test_seq_continues_across_journal_instances_and_rotation(tmp_path):
    first = Journal(tmp_path, fsync="never", max_bytes=4096)
    for _ in range(40):
        first.append("s", [fill(payload={"pad": "x" * 100})])
    first.close()
    assert archive_segments(tmp_path, "s")["s"]
    second = Journal(tmp_path, fsync="never", max_bytes=4096)
    assert second.append("s", [fill()])[0]["seq"] == 41
    second.close()
    assert [r["seq"] for r in read_events(tmp_path, session_id="s")] == list(range(1, 42))


def test_seq_continues_after_rotation_left_an_empty_active_file(tmp_path):
    journal = Journal(tmp_path, fsync="never", max_bytes=4096)
    for _ in range(40):
        journal.append("s", [fill(payload={"pad": "x" * 100})])
    journal.flush()
    active = tmp_path / "s.jsonl"
    first = orjson.loads(active.read_bytes().splitlines()[0])["seq"]
    active.rename(tmp_path / "archive" / f"s.{first}.jsonl")
    active.write_bytes(b"")
    fresh = Journal(tmp_path, fsync="never", max_bytes=4096)
    assert fresh.append("s", [fill()])[0]["seq"] == 41
    fresh.close()
    journal.close()


def test_seq_continues_when_another_writer_rotated_after_this_one(tmp_path):
    ours = Journal(tmp_path, fsync="never", max_bytes=4096)
    theirs = Journal(tmp_path, fsync="never", max_bytes=4096)
    for journal in (ours, theirs):  # each rotates once: the newest segment is theirs
        rotated = len(archive_segments(tmp_path, "s").get("s", []))
        while len(archive_segments(tmp_path, "s").get("s", [])) == rotated:
            last = journal.append("s", [fill(payload={"pad": "x" * 100})])[-1]["seq"]
    assert ours.append("s", [fill()])[0]["seq"] == last + 1
    ours.close()
    theirs.close()
    assert [r["seq"] for r in read_events(tmp_path, session_id="s")] == list(range(1, last + 2))


def _compressed_segment(tmp_path, records: int, trailer: bytes) -> None:
    lines = b"".join(orjson.dumps({"v": 1, "seq": seq, "ts": "2026-01-05T14:30:00.000000Z",
                                   "session_id": "s", "kind": "fill", "mode": "paper",
                                   "symbol": "BTC-USD", "strategy": None, "intent_id": None,
                                   "order_id": None, "source": None,
                                   "payload": {"pad": "x" * 150}}) + b"\n"
                     for seq in range(1, records + 1))
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "s.1.jsonl.gz").write_bytes(gzip.compress(lines + trailer))
    (tmp_path / "s.jsonl").write_bytes(b"")


@pytest.mark.parametrize("trailer", [b"", b'{"v":1,"seq":99999,"ts":"2026-01-05T1',
                                     b"not json\n" * 30_000], ids=["whole", "torn", "garbage"])
def test_seq_continues_from_the_last_record_of_a_compressed_segment(tmp_path, trailer):
    _compressed_segment(tmp_path, 2_000, trailer)  # ~420 KB: more than the tail read
    journal = Journal(tmp_path, fsync="never")
    assert journal.append("s", [fill()])[0]["seq"] == 2_001
    journal.close()


def test_rotation_names_segments_by_first_seq_and_gzips_them(tmp_path):
    journal = Journal(tmp_path, fsync="never", max_bytes=4096)
    for _ in range(100):
        journal.append("s", [fill(payload={"pad": "x" * 100})])
    journal.flush()
    journal.close()
    segments = archive_segments(tmp_path, "s")["s"]
    assert segments[0].first_seq == 1
    assert all(seg.path.name == f"s.{seg.first_seq}.jsonl.gz" for seg in segments)
    for seg, nxt in zip(segments, segments[1:], strict=False):
        seqs = [r["seq"] for r in read_events(seg.path)]
        assert seqs == list(range(seg.first_seq, nxt.first_seq))


@pytest.mark.parametrize("session", ["", "../x", "a/b", "x" * 65, "..", ".lock"])
def test_invalid_session_ids_raise_and_write_nothing(tmp_path, session):
    journal = Journal(tmp_path, fsync="never")
    with pytest.raises(InvalidSessionId, match="invalid session id"):
        journal.append(session, [fill()])
    journal.close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("event", "message"), [
    ({"kind": "trade", "payload": {}}, "event 1: kind must be one of intent, gate, .*got 'trade'"),
    ({"kind": "fill", "mode": "LIVE", "payload": {}}, "event 1: mode must be one of .*'LIVE'"),
    ({"kind": "fill", "payload": [1]}, "event 1: payload must be an object, got list"),
    ({"kind": "fill", "symbol": 5, "payload": {}}, "event 1: symbol must be a string or null"),
    ({"kind": "fill", "payload": {"x": object()}}, "not JSON-serialisable"),
])
def test_a_bad_event_fails_the_whole_batch_before_anything_is_written(tmp_path, event, message):
    journal = Journal(tmp_path, fsync="never")
    journal.append("s", [fill()])
    with pytest.raises(ValueError, match=message):
        journal.append("s", [fill(), event])
    assert journal.append("s", [fill()])[0]["seq"] == 2
    journal.close()
    assert len((tmp_path / "s.jsonl").read_bytes().splitlines()) == 2


def test_given_timestamps_are_made_canonical(tmp_path):
    journal = Journal(tmp_path, fsync="never")
    record = journal.append("s", [fill(ts="2026-01-05T15:30:00+01:00")])[0]
    journal.close()
    assert record["ts"] == "2026-01-05T14:30:00.000000Z"


def test_locked_holds_the_session_for_catch_up_decide_append(tmp_path):
    journal = Journal(tmp_path, fsync="never")
    other = Journal(tmp_path, fsync="never")
    other.append("s", [fill()])
    with journal.locked("s") as writer:
        assert writer.last_seq == 1   # caught up with the other writer's append
        records = writer.append([fill(), fill()])
    assert [r["seq"] for r in records] == [2, 3]
    assert other.append("s", [fill()])[0]["seq"] == 4
    journal.close()
    other.close()


@pytest.mark.parametrize("policy", ["never", "interval", "always"])
def test_every_fsync_policy_writes(tmp_path, policy):
    journal = Journal(tmp_path, fsync=policy, fsync_interval_s=0.001)
    for _ in range(3):
        journal.append("s", [fill()])
    journal.close()
    assert len(list(read_events(tmp_path))) == 3


def test_bad_fsync_policy_and_mode_say_what_is_allowed(tmp_path):
    with pytest.raises(ValueError, match="fsync must be one of never, interval, always, got 'x'"):
        Journal(tmp_path, fsync="x")
    with pytest.raises(ValueError, match="mode must be one of paper, live, dry_run, got 'demo'"):
        Journal(tmp_path, mode="demo")


def test_from_config(tmp_path):
    config = load_config({"log_dir": str(tmp_path), "mode": "dry_run",
                          "journal": {"fsync": "always", "max_bytes": 5000}}, environ={})
    journal = Journal.from_config(config)
    assert (journal.root, journal.fsync, journal.max_bytes, journal.mode) \
        == (tmp_path, "always", 5000, "dry_run")
    assert journal.append("s", [fill()])[0]["mode"] == "dry_run"
    journal.close()


def test_cursor_follows_appends_and_holds_partial_lines(tmp_path):
    journal = Journal(tmp_path, fsync="never")
    journal.append("s", [fill()])
    cursor = JournalCursor(tmp_path, "s")
    assert [r["seq"] for r in cursor.poll()] == [1]
    line = orjson.dumps(journal.append("s", [fill()])[0])
    assert [r["seq"] for r in cursor.poll()] == [2]
    with open(tmp_path / "s.jsonl", "ab") as fh:
        fh.write(line.replace(b'"seq":2', b'"seq":3')[:20])
    assert cursor.poll() == []
    with open(tmp_path / "s.jsonl", "ab") as fh:
        fh.write(line.replace(b'"seq":2', b'"seq":3')[20:] + b"\n")
    assert [r["seq"] for r in cursor.poll()] == [3]
    cursor.close()
    journal.close()


def test_cursor_from_the_end_skips_history(tmp_path):
    journal = Journal(tmp_path, fsync="never", max_bytes=4096)
    for _ in range(50):
        journal.append("s", [fill(payload={"pad": "x" * 100})])
    cursor = JournalCursor(tmp_path, "s", after_seq=None)
    assert cursor.poll() == []
    journal.append("s", [fill()])
    assert [r["seq"] for r in cursor.poll()] == [51]
    cursor.close()
    journal.close()


def test_interval_policy_syncs_the_last_write_within_an_interval(tmp_path, monkeypatch):
    synced = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (synced.append(fd), real(fd)))
    journal = Journal(tmp_path, fsync="interval", fsync_interval_s=0.05)
    journal.append("s", [fill()])
    journal.append("s", [fill()])  # inside the interval: left to the flusher
    before = len(synced)
    deadline = time.monotonic() + 5
    while len(synced) == before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(synced) > before
    journal.close()


def test_appends_go_on_while_the_flusher_syncs_the_disk(tmp_path, monkeypatch):
    journal = Journal(tmp_path, fsync="interval", fsync_interval_s=0.05)
    journal.append("s", [fill()])
    flushing, appended, timed_out = threading.Event(), threading.Event(), []
    real = os.fdatasync

    def slow_flush(fd):
        if threading.current_thread().name == "journal-fsync":
            flushing.set()
            timed_out.append(not appended.wait(timeout=10))  # holds until the append is done
        real(fd)

    monkeypatch.setattr(os, "fdatasync", slow_flush)
    journal.append("s", [fill()])  # inside the interval: left to the flusher
    assert flushing.wait(timeout=10)
    assert journal.append("s", [fill()])[0]["seq"] == 3
    appended.set()
    journal.close()
    assert timed_out and not any(timed_out)  # the append did not wait for the flush


def test_rotation_syncs_the_segment_before_it_is_compressed(tmp_path, monkeypatch):
    synced = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync",
                        lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real(fd)))
    journal = Journal(tmp_path, fsync="interval", fsync_interval_s=3600, max_bytes=4096)
    journal.append("s", [fill()])
    synced.clear()
    while not (tmp_path / "archive").exists():
        journal.append("s", [fill(payload={"pad": "x" * 200})])
    journal.flush()
    segment = archive_segments(tmp_path, "s")["s"][0].path
    assert str(segment.with_name(segment.name.removesuffix(".gz"))) in synced
    journal.close()


def test_compress_leftovers_finishes_what_a_killed_writer_left(tmp_path):
    journal = Journal(tmp_path, fsync="never", max_bytes=4096)
    for _ in range(40):
        journal.append("s", [fill(payload={"pad": "x" * 100})])
    journal.close()
    segment = archive_segments(tmp_path, "s")["s"][0].path
    plain = segment.with_name(segment.name.removesuffix(".gz"))
    plain.write_bytes(gzip.decompress(segment.read_bytes()))
    segment.unlink()
    (tmp_path / "archive" / (segment.name + ".tmp")).write_bytes(b"half a gzip")
    done = compress_leftovers(tmp_path)
    assert done == [segment]
    assert sorted(p.name for p in (tmp_path / "archive").iterdir()
                  if not p.name.endswith(".gz")) == []
    assert [r["seq"] for r in read_events(tmp_path, session_id="s")] == list(range(1, 41))


def test_an_event_that_is_not_an_object_is_refused_and_nothing_is_written(journal, log_dir):
    with pytest.raises(ValueError, match="event 1 must be an object .* got str"):
        journal.append("s1", [{"kind": "intent"}, "not an event"])
    assert not (log_dir / "s1.jsonl").exists() or (log_dir / "s1.jsonl").read_bytes() == b""


def test_a_link_planted_as_a_journal_file_is_neither_written_nor_listed(journal, log_dir,
                                                                         tmp_path):
    from peaktrade.journal import list_sessions, session_files

    outside = tmp_path / "outside.jsonl"
    outside.write_text("")
    (log_dir / "planted.jsonl").symlink_to(outside)
    with pytest.raises(OSError):
        journal.append("planted", [{"kind": "intent"}])
    assert outside.read_text() == ""
    assert "planted" not in list_sessions(log_dir)
    assert session_files(log_dir, "planted") == []
