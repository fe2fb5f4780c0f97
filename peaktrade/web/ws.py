"""WebSocket feed /ws/execution (flask-sock): filtered journal events in, orders through the Desk.

Messages are JSON objects with one key:
- `{"subscribe": {"session_id", "kinds", "symbols", "since_seq"}}` -> `{"subscribed": {...}}`,
  then `{"event": <record>}` for every matching record (replayed after `since_seq` first);
- `{"order": {...} | [...]}` -> `{"orders": [<result>, ...]}`, exactly like the JSON API;
- `{"unsubscribe": {}}` -> `{"unsubscribed": {}}`.
A `"ref"` key is echoed back. Anything wrong gets `{"error": ..., "errors": {...}}`; the
socket stays open.
"""

from __future__ import annotations

import threading
from typing import Any

import orjson
from flask import Blueprint, Flask, current_app
from flask_sock import ConnectionClosed, Sock
from marshmallow import ValidationError

from peaktrade.events import KINDS, InvalidSessionId, validate_session_id
from peaktrade.execution import DeskError, InvalidIntent
from peaktrade.journal import session_files
from peaktrade.journal.tail import RecordFilter, Subscription
from peaktrade.web.context import get_broker, get_config, get_desk, get_journal
from peaktrade.web.schemas import ORDER_RESULTS, first_message, load_orders
from peaktrade.web.stream import stream_slots
from peaktrade.web.telemetry import active_session

bp = Blueprint("ws", __name__)
sock = Sock()

WS_SOURCE = "WS"
MESSAGE_TYPES = ("subscribe", "unsubscribe", "order")
SUBSCRIBE_KEYS = ("session_id", "kinds", "symbols", "since_seq")
RECEIVE_TIMEOUT_S = 1.0


class InvalidMessage(ValueError):
    """A client message that cannot be acted on; `errors` names the bad fields."""

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


def _string_list(body: dict, key: str, allowed: tuple[str, ...] | None = None) -> frozenset[str]:
    value = body.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidMessage(f"{key} must be a list of strings",
                             {key: [f"must be a list of strings, got {value!r}"]})
    wrong = [v for v in value if allowed is not None and v not in allowed]
    if wrong:
        raise InvalidMessage(f"{key}: {wrong[0]!r} is not one of {', '.join(allowed or ())}",
                             {key: [f"{wrong[0]!r} is not one of {', '.join(allowed or ())}"]})
    return frozenset(value)


def parse_subscription(body: Any) -> tuple[str, RecordFilter, int | None]:
    """(session id, filter, since_seq) of a subscribe message; InvalidMessage says what is wrong."""
    if not isinstance(body, dict):
        raise InvalidMessage("subscribe must be an object with "
                             f"{', '.join(SUBSCRIBE_KEYS)}")
    unknown = sorted(set(body) - set(SUBSCRIBE_KEYS))
    if unknown:
        raise InvalidMessage(f"unknown subscribe field {unknown[0]!r}; allowed fields are "
                             f"{', '.join(SUBSCRIBE_KEYS)}", {unknown[0]: ["unknown field"]})
    session_id = body.get("session_id") or active_session()
    if session_id is None:
        raise InvalidMessage("no session_id given and the journal has no session yet",
                             {"session_id": ["required while the journal is empty"]})
    try:
        validate_session_id(session_id)
    except InvalidSessionId as err:
        raise InvalidMessage(str(err), {"session_id": [str(err)]}) from None
    since = body.get("since_seq")
    if since is not None and (type(since) is not int or since < 0):
        raise InvalidMessage(f"since_seq must be a whole number >= 0, got {since!r}",
                             {"since_seq": [f"must be a whole number >= 0, got {since!r}"]})
    record_filter = RecordFilter(kinds=_string_list(body, "kinds", KINDS),
                                 symbols=_string_list(body, "symbols"))
    return session_id, record_filter, since


class ExecutionSocket:
    """One client connection: answers its messages and pushes its subscription's events."""

    def __init__(self, ws: Any, app: Flask) -> None:
        self.ws = ws
        self.app = app
        self._send_lock = threading.Lock()
        self._subscription: Subscription | None = None
        self._pending: Subscription | None = None  # installed once its reply has gone out
        self._changed = threading.Event()
        self._sub_lock = threading.Lock()
        self._open = True
        self._pusher = threading.Thread(target=self._push, name="ws-push", daemon=True)

    def run(self) -> None:
        """Serve the connection until the client goes away."""
        self._pusher.start()
        try:
            while self._open:
                raw = self.ws.receive(timeout=RECEIVE_TIMEOUT_S)
                if raw is None:
                    if not self.ws.connected:
                        return
                    continue
                self.send(self.answer(raw))
                if self._pending is not None:
                    pending, self._pending = self._pending, None
                    self._replace_subscription(pending)
        except ConnectionClosed:
            return
        finally:
            self._open = False
            if self._pending is not None:
                self._pending.close()
            self._replace_subscription(None)
            self._pusher.join(timeout=2)

    def answer(self, raw: str | bytes) -> dict[str, Any]:
        """The reply to one client message."""
        ref = None
        try:
            try:
                message = orjson.loads(raw)
            except orjson.JSONDecodeError as err:
                raise InvalidMessage(f"message is not valid JSON: {err}") from None
            if not isinstance(message, dict):
                raise InvalidMessage("a message must be a JSON object with one of "
                                     f"{', '.join(MESSAGE_TYPES)}")
            ref = message.pop("ref", None)
            kinds = [key for key in message if key in MESSAGE_TYPES]
            if len(kinds) != 1 or len(message) != 1:
                raise InvalidMessage(f"a message must have exactly one of "
                                     f"{', '.join(MESSAGE_TYPES)}, got {sorted(message)}")
            reply = getattr(self, f"_on_{kinds[0]}")(message[kinds[0]])
        except InvalidMessage as err:
            reply = {"error": str(err), "errors": err.errors}
        except ValidationError as err:
            messages = err.messages if isinstance(err.messages, dict) else {"_schema": err.messages}
            reply = {"error": f"invalid order: {first_message(err.messages)}", "errors": messages}
        except Exception:  # a bug must not drop the socket; the operator finds it in the log
            self.app.logger.exception("WebSocket message failed: %.200r", raw)
            reply = {"error": "the desk could not process this message (see the server log)",
                     "errors": {}}
        if ref is not None:
            reply["ref"] = ref
        return reply

    def send(self, message: dict[str, Any]) -> None:
        data = orjson.dumps(message).decode()
        with self._send_lock:
            self.ws.send(data)

    def _on_subscribe(self, body: Any) -> dict[str, Any]:
        session_id, record_filter, since = parse_subscription(body)
        with self.app.app_context():
            if since is not None and not session_files(get_journal().root, session_id):
                raise InvalidMessage(f"session {session_id!r} doesn't exist in the journal",
                                     {"session_id": ["unknown session"]})
            subscription = get_broker().subscribe(session_id, record_filter, after_seq=since)
        if self._pending is not None:
            self._pending.close()
        self._pending = subscription
        return {"subscribed": {"session_id": session_id, "kinds": sorted(record_filter.kinds),
                               "symbols": sorted(record_filter.symbols), "since_seq": since,
                               "last_seq": subscription.last_seq}}

    def _on_unsubscribe(self, body: Any) -> dict[str, Any]:
        self._replace_subscription(None)
        return {"unsubscribed": {}}

    def _on_order(self, body: Any) -> dict[str, Any]:
        with self.app.app_context():
            orders = load_orders(body, get_config()["web"]["max_orders_per_request"])
            try:
                results = get_desk().submit(orders, source=WS_SOURCE)
            except InvalidIntent as err:
                raise InvalidMessage(f"invalid order: {err}", err.errors) from None
            except DeskError as err:
                raise InvalidMessage(str(err)) from None
        return {"orders": ORDER_RESULTS.dump([result.to_dict() for result in results])}

    def _replace_subscription(self, subscription: Subscription | None) -> None:
        with self._sub_lock:
            old, self._subscription = self._subscription, subscription
        self._changed.set()
        if old is not None:
            old.close()

    def _push(self) -> None:
        while self._open:
            with self._sub_lock:
                subscription = self._subscription
            if subscription is None:
                self._changed.wait(RECEIVE_TIMEOUT_S)
                self._changed.clear()
                continue
            try:
                for batch in subscription.next_batches(timeout=RECEIVE_TIMEOUT_S):
                    for record in batch.records:
                        self.send({"event": record})
            except ConnectionClosed:
                self._open = False


@sock.route("/ws/execution", bp=bp)
def execution(ws: Any) -> None:
    """Filtered journal events and order submission over one WebSocket."""
    slots = stream_slots()
    if not slots.take():
        ws.send(orjson.dumps({"error": f"this worker already serves {slots.limit} live "
                                       "streams; retry shortly", "errors": {}}).decode())
        return
    try:
        ExecutionSocket(ws, current_app._get_current_object()).run()
    finally:
        slots.give_back()


def init_app(app: Flask) -> None:
    """Attach flask-sock to the app (the route itself lives on the blueprint)."""
    sock.init_app(app)

