"""A cursor that starts at the end reads every record appended after its start."""

from __future__ import annotations

from peaktrade.journal import Journal, JournalCursor


def _intent(n: int) -> dict:
    return {"kind": "intent", "symbol": "BTC-USD", "intent_id": f"i{n}", "payload": {"qty": n}}


def test_a_write_in_progress_at_start_is_read_once_it_ends(log_dir):
    journal = Journal(log_dir, fsync="never")
    journal.append("s1", [_intent(1), _intent(2)])
    path = log_dir / "s1.jsonl"
    third = journal.append("s1", [_intent(3)])[0]
    whole = path.read_bytes()
    line = whole[whole.rindex(b"\n", 0, len(whole) - 1) + 1:]
    path.write_bytes(whole[: len(whole) - len(line)] + line[:20])  # the write is half done

    cursor = JournalCursor(log_dir, "s1", after_seq=None)
    assert cursor.last_seq == 2
    with open(path, "ab") as fh:
        fh.write(line[20:])
    assert [rec["seq"] for rec in cursor.poll()] == [third["seq"]]
    assert cursor.stats.invalid == 0
    cursor.close()
    journal.close()


def test_records_appended_after_the_start_are_each_read_once(log_dir):
    journal = Journal(log_dir, fsync="never")
    journal.append("s1", [_intent(n) for n in range(5)])
    cursor = JournalCursor(log_dir, "s1", after_seq=None)
    assert cursor.last_seq == 5 and cursor.poll() == []
    journal.append("s1", [_intent(5)])
    journal.append("s1", [_intent(6)])
    assert [rec["seq"] for rec in cursor.poll()] == [6, 7]
    assert cursor.poll() == []
    cursor.close()
    journal.close()


def test_started_on_an_empty_active_file_after_a_rotation_it_knows_the_last_seq(log_dir):
    journal = Journal(log_dir, fsync="never", max_bytes=4096)
    while not (log_dir / "archive").exists():
        journal.append("s1", [_intent(0)])
    journal.flush()
    last = journal.append("s1", [_intent(1)])[0]["seq"]
    (log_dir / "s1.jsonl").unlink()
    (log_dir / "s1.jsonl").touch()  # as the append after a rotation creates it
    archived = JournalCursor(log_dir, "s1", after_seq=None)
    assert 0 < archived.last_seq < last
    archived.close()
    journal.close()
