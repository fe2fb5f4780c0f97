"""WebSocket /ws/execution against a real gunicorn: subscribe, receive events, submit orders."""

from __future__ import annotations

import json

import pytest
from simple_websocket import Client

from peaktrade.journal import Journal
from tests.live_server import LiveServer


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("ws") / "journal"
    log_dir.mkdir()
    journal = Journal(log_dir, fsync="never")
    journal.append("ws1", [{"kind": "control", "payload": {"action": "session.start"}}])
    with LiveServer(log_dir, workers=1, threads=8) as server:
        yield server, journal
    journal.close()


@pytest.fixture
def ws(live):
    server, _ = live
    client = Client.connect(server.url.replace("http://", "ws://") + "/ws/execution")
    yield client
    client.close()


def _ask(ws, message):
    ws.send(message if isinstance(message, str) else json.dumps(message))
    return json.loads(ws.receive(timeout=10))


def _events(ws, count):
    out = []
    while len(out) < count:
        message = json.loads(ws.receive(timeout=10))
        if "event" in message:
            out.append(message["event"])
    return out


def test_subscribe_replays_since_seq_then_streams_matching_events(live, ws):
    _, journal = live
    journal.append("ws-sub", [{"kind": "control", "payload": {}},
                              {"kind": "fill", "symbol": "BTC-USD", "payload": {"qty": 1}},
                              {"kind": "order", "symbol": "BTC-USD", "payload": {}}])
    reply = _ask(ws, {"subscribe": {"session_id": "ws-sub", "kinds": ["fill"], "since_seq": 0},
                      "ref": 7})
    assert reply["subscribed"]["kinds"] == ["fill"] and reply["ref"] == 7
    assert [e["seq"] for e in _events(ws, 1)] == [2]
    journal.append("ws-sub", [{"kind": "order", "symbol": "ETH-USD", "payload": {}},
                              {"kind": "fill", "symbol": "ETH-USD", "payload": {"qty": 2}}])
    (event,) = _events(ws, 1)
    assert (event["seq"], event["kind"], event["payload"]["qty"]) == (5, "fill", 2)


@pytest.mark.parametrize("message, fragment", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ({"hello": {}}, "exactly one of"),
    ({"subscribe": {"session_id": "../etc"}}, "invalid session id"),
    ({"subscribe": {"session_id": "ws1", "kinds": ["nope"]}}, "'nope' is not one of"),
    ({"subscribe": {"session_id": "ws1", "since_seq": -1}}, "since_seq"),
    ({"order": {"symbol": "BTC-USD", "side": "BUY", "quantity": -5}}, "quantity"),
])
def test_invalid_messages_get_an_error_and_the_socket_stays_open(ws, message, fragment):
    reply = _ask(ws, message)
    assert fragment in reply["error"]
    assert "subscribed" in _ask(ws, {"subscribe": {"session_id": "ws1"}})


def test_order_goes_through_the_desk_and_its_events_stream_back(live, ws):
    server, _ = live
    from peaktrade.execution import active_session_id
    _ask(ws, {"order": {"symbol": "BTC-USD", "side": "BUY", "quantity": 0.001,
                        "price": 100.0}})
    session = active_session_id(server.log_dir)
    assert "subscribed" in _ask(ws, {"subscribe": {"session_id": session, "kinds": ["intent"]}})
    ws.send(json.dumps({"order": {"symbol": "BTC-USD", "side": "BUY", "quantity": 1,
                                  "price": 100.0, "strategy": "ws-test"}}))
    replies, intents = [], []
    while not (replies and intents):  # the event may overtake the reply, or follow it
        message = json.loads(ws.receive(timeout=10))
        (replies if "orders" in message else intents).append(message)
    (result,) = replies[0]["orders"]
    assert result["symbol"] == "BTC-USD" and result["source"] == "WS"
    assert result["status"] in ("FILLED", "NEW", "PARTIAL", "REJECTED")
    (intent,) = [m["event"] for m in intents]
    assert intent["kind"] == "intent" and intent["source"] == "WS"
