"""SSE through the Flask test client: first chunk, ids, filters, resume across rotation."""

from __future__ import annotations

import threading
import time

import pytest

from peaktrade.journal import Journal
from peaktrade.web import close_app


def _fill(symbol="BTC-USD", kind="fill", **payload):
    return {"kind": kind, "symbol": symbol, "payload": {"qty": 1, "price": 10.0, **payload}}


class SSEReader:
    """Reads SSE messages from a streamed test-client response."""

    def __init__(self, response):
        self.response = response
        self.chunks = iter(response.response)
        self.buffer = ""

    def message(self):
        while "\n\n" not in self.buffer:
            self.buffer += self._next()
        raw, self.buffer = self.buffer.split("\n\n", 1)
        return raw

    def _next(self):
        chunk = next(self.chunks)
        return chunk.decode() if isinstance(chunk, bytes) else chunk

    def events(self, count, timeout=20.0):
        """The next `count` messages that carry an id, skipping comments and keepalives."""
        deadline = time.monotonic() + timeout
        out = []
        while len(out) < count:
            # Keepalives arrive often in tests, so a stalled stream fails here, never hangs.
            assert time.monotonic() < deadline, f"{len(out)} of {count} events in {timeout}s"
            raw = self.message()
            fields = [line for line in raw.split("\n") if not line.startswith(":")]
            ids = [line[4:] for line in fields if line.startswith("id: ")]
            if ids:
                data = "\n".join(line[6:] for line in fields if line.startswith("data: "))
                out.append((int(ids[0]), data))
        return out

    def close(self):
        self.response.close()


@pytest.fixture
def open_stream(client):
    opened = []

    def open_(url, headers=None):
        response = client.get(url, headers=headers or {}, buffered=False)
        reader = SSEReader(response)
        opened.append(reader)
        return reader

    yield open_
    for reader in opened:
        reader.close()


def _seqs_in(data):
    return [int(part.split('"')[0]) for part in data.split('data-seq="')[1:]]


def test_first_chunk_sets_retry_and_headers(open_stream, journal):
    journal.append("s1", [_fill()])
    stream = open_stream("/stream/execution/s1")
    assert stream.response.status_code == 200
    assert stream.response.mimetype == "text/event-stream"
    assert stream.response.headers["Cache-Control"] == "no-cache"
    assert stream.response.headers["X-Accel-Buffering"] == "no"
    assert stream.message().startswith("retry: 3000")


def test_new_events_arrive_with_seq_ids_as_oob_rows(open_stream, journal):
    journal.append("s1", [_fill()])
    stream = open_stream("/stream/execution/s1")
    stream.message()
    journal.append("s1", [_fill("ETH-USD"), _fill("SOL-USD")])
    ((seq, data),) = stream.events(1)
    assert seq == 3
    assert 'hx-swap-oob="afterbegin:#timeline"' in data
    assert _seqs_in(data) == [3, 2]  # newest on top
    assert 'id="timeline-last"' in data


def test_keepalive_comment_is_sent_when_nothing_happens(open_stream, journal):
    journal.append("s1", [_fill()])
    stream = open_stream("/stream/execution/s1")
    stream.message()
    assert stream.message() == ": keepalive"


def test_stream_applies_the_page_filter(open_stream, journal):
    journal.append("s1", [_fill()])
    stream = open_stream("/stream/execution/s1?kind=fill&symbol=ETH-USD")
    journal.append("s1", [_fill("BTC-USD"), _fill("ETH-USD", kind="order"), _fill("ETH-USD")])
    ((seq, data),) = stream.events(1)
    assert (seq, _seqs_in(data)) == (4, [4])


def test_since_seq_from_the_page_replays_what_came_after_the_snapshot(open_stream, journal):
    journal.append("s1", [_fill() for _ in range(5)])
    stream = open_stream("/stream/execution/s1?since_seq=3")
    ((seq, data),) = stream.events(1)
    assert (seq, _seqs_in(data)) == (5, [5, 4])


def test_last_event_id_resumes_exactly_after_that_seq(open_stream, journal):
    journal.append("s1", [_fill() for _ in range(3)])
    first = open_stream("/stream/execution/s1")
    first.message()
    journal.append("s1", [_fill()])
    assert first.events(1)[0][0] == 4
    first.close()
    journal.append("s1", [_fill(), _fill()])
    again = open_stream("/stream/execution/s1?since_seq=1", {"Last-Event-ID": "4"})
    ((seq, data),) = again.events(1)
    assert (seq, _seqs_in(data)) == (6, [6, 5])


def test_last_event_id_resumes_across_a_rotation(open_stream, log_dir):
    small = Journal(log_dir, max_bytes=4096, fsync="never")
    try:
        for _ in range(30):
            small.append("s1", [_fill(note="x" * 300)])
        assert list((log_dir / "archive").iterdir())
        stream = open_stream("/stream/execution/s1", {"Last-Event-ID": "7"})
        events = stream.events(1)
        seen = [s for _, data in events for s in reversed(_seqs_in(data))]
        while seen[-1] < 30:
            seen += [s for _, data in stream.events(1) for s in reversed(_seqs_in(data))]
        assert seen == list(range(8, 31))
        small.append("s1", [_fill()])
        assert stream.events(1)[0][0] == 31
    finally:
        small.close()


def test_disconnect_releases_the_subscriber_and_slot(app, client, journal):
    from peaktrade.web.context import get_broker
    journal.append("s1", [_fill()])
    response = client.get("/stream/execution/s1", buffered=False)
    next(iter(response.response))
    with app.app_context():
        broker = get_broker()
    assert broker.subscriber_count("s1") == 1
    response.close()
    assert broker.subscriber_count("s1") == 0
    assert app.extensions["peaktrade.stream_slots"].open == 0


def test_stream_cap_answers_503_with_retry_after(log_dir, monkeypatch):
    from peaktrade import create_app
    monkeypatch.delenv("PEAKTRADE_KILL_SWITCH", raising=False)
    app = create_app({"log_dir": str(log_dir), "demo": {"enabled": False},
                      "web": {"max_streams_per_worker": 1, "sse_keepalive_s": 0.2}})
    client = app.test_client()
    app.extensions["peaktrade.journal"].append("s1", [_fill()])
    first = client.get("/stream/execution/s1", buffered=False)
    try:
        second = client.get("/stream/execution/s1", buffered=False)
        assert second.status_code == 503
        assert second.headers["Retry-After"].isdigit()
    finally:
        first.close()
        close_app(app)


def test_many_subscribers_of_one_filter_share_one_render(app, journal):
    from peaktrade.web.context import get_broker
    journal.append("s1", [_fill()])
    clients = [app.test_client() for _ in range(5)]
    responses = [c.get("/stream/execution/s1?kind=fill", buffered=False) for c in clients]
    readers = [SSEReader(r) for r in responses]
    for reader in readers:
        reader.message()
    with app.app_context():
        broker = get_broker()
    before = broker.renders
    journal.append("s1", [_fill()])
    results = []
    threads = [threading.Thread(target=lambda r=r: results.append(r.events(1)[0][0]))
               for r in readers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [2] * 5
    assert broker.renders - before == 1
    for reader in readers:
        reader.close()
