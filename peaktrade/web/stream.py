"""Server-sent event streams fed by the journal tailer.

Each message is unnamed, carries `id: <seq>` (the last journal seq it covers) and its
data is out-of-band HTML fragments that htmx swaps into the page. `Last-Event-ID` (or
the page's `since_seq`) resumes exactly after that seq from the journal.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, render_template, request

from peaktrade.journal.tail import Batch, Subscription
from peaktrade.web.context import get_broker, get_config
from peaktrade.web.telemetry import TimelineQuery, known_session, timeline_rows

bp = Blueprint("stream", __name__, url_prefix="/stream")

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class StreamSlots:
    """A per-worker cap on open streams."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.open >= self.limit:
                return False
            self.open += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self.open -= 1


def sse_data(html: str) -> bytes:
    """HTML as the data lines of one SSE message, encoded once for every subscriber."""
    return "".join(f"data: {line}\n" for line in html.splitlines() if line.strip()).encode()


class TimelineRender:
    """Renders a batch of records as timeline rows (newest on top), once per filter."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def __call__(self, records: list[dict]) -> bytes:
        with self.app.app_context():
            html = render_template("_timeline_sse.html",
                                   rows=timeline_rows(list(reversed(records))),
                                   newest=records[-1])
        return sse_data(html)


_RESOURCE_LOCK = threading.Lock()


def _app_resource(name: str, build: Callable[[Flask], Any]) -> Any:
    """A per-app object made on first use (after fork, like everything live)."""
    app = current_app._get_current_object()
    key = f"peaktrade.{name}"
    if key not in app.extensions:
        with _RESOURCE_LOCK:
            if key not in app.extensions:
                app.extensions[key] = build(app)
    return app.extensions[key]


def stream_slots() -> StreamSlots:
    """The open-stream counter of this worker."""
    return _app_resource(
        "stream_slots", lambda app: StreamSlots(get_config()["web"]["max_streams_per_worker"]))


def resume_seq(default: int | None) -> int | None:
    """Where the stream starts: after Last-Event-ID, else after the page's since_seq."""
    for raw in (request.headers.get("Last-Event-ID"), request.args.get("since_seq")):
        if raw is None or raw == "":
            continue
        if not raw.isdigit():
            abort(400, f"Last-Event-ID / since_seq must be a journal seq (a whole number), "
                       f"got {raw!r}")
        return int(raw)
    return default


def event_stream(subscription: Subscription, slots: StreamSlots,
                 format_batch: Callable[[Batch], bytes], *, keepalive_s: float,
                 retry_ms: int) -> Response:
    """The SSE response around a subscription; the slot and subscriber go when it ends."""

    def generate() -> Iterator[bytes]:
        try:
            yield f"retry: {retry_ms}\n: connected\n\n".encode()
            while not subscription.closed:
                batches = subscription.next_batches(timeout=keepalive_s)
                if not batches:
                    if not subscription.closed:
                        yield b": keepalive\n\n"
                    continue
                yield b"".join(format_batch(batch) for batch in batches)
        finally:
            subscription.close()
            slots.give_back()

    return Response(generate(), mimetype="text/event-stream", headers=STREAM_HEADERS)


def _timeline_message(batch: Batch) -> bytes:
    return b"id: %d\n%s\n" % (batch.last_seq, batch.rendered)


def too_many_streams(slots: StreamSlots) -> Response:
    """503 with Retry-After when this worker already serves its maximum of streams."""
    response = Response(f"this worker already serves {slots.limit} live streams "
                        "(web.max_streams_per_worker); retry shortly\n",
                        status=503, mimetype="text/plain")
    response.headers["Retry-After"] = "5"
    return response


@bp.get("/execution/<path:session_id>")
def execution(session_id: str):
    """Live timeline rows of a session, filtered like its page (?kind=&symbol=&strategy=)."""
    known_session(session_id)
    config = get_config()["web"]
    query = TimelineQuery.from_args(request.args, config["timeline_max_rows"])
    after = resume_seq(None)
    slots = stream_slots()
    if not slots.take():
        return too_many_streams(slots)
    try:
        render = _app_resource("timeline_render", TimelineRender)
        subscription = get_broker().subscribe(session_id, query.record_filter, render,
                                              after_seq=after)
    except BaseException:
        slots.give_back()
        raise
    return event_stream(subscription, slots, _timeline_message,
                        keepalive_s=config["sse_keepalive_s"], retry_ms=config["sse_retry_ms"])
