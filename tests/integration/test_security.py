"""CSRF for forms, the bearer token for API writes, login, the shared secret key, headers."""

from __future__ import annotations

import re
import stat

import pytest

from peaktrade import create_app
from peaktrade.web import close_app
from peaktrade.web.security import load_secret_key

ORDER = {"symbol": "AAPL", "side": "BUY", "quantity": 1, "price": 100.0}
TOKEN = "s3cret-token"


def csrf_from(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def form_order(quantity="1"):
    return {"symbol": "AAPL", "side": "BUY", "quantity": quantity, "order_type": "MARKET",
            "price": "100", "tif": "DAY"}


def test_form_post_without_csrf_token_is_refused(client):
    client.get("/paper")
    response = client.post("/paper/orders", data=form_order())
    assert response.status_code == 403
    assert "CSRF token missing or wrong" in response.get_data(as_text=True)
    assert client.get("/api/v1/paper/orders").get_json() == []


def test_form_post_with_a_wrong_csrf_token_is_refused(client):
    client.get("/paper")
    response = client.post("/paper/orders", data={**form_order(), "csrf_token": "forged"})
    assert response.status_code == 403


def test_form_post_with_the_session_csrf_token_is_accepted(client):
    token = csrf_from(client.get("/paper").get_data(as_text=True))
    response = client.post("/paper/orders", data={**form_order(), "csrf_token": token},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200
    [order] = client.get("/api/v1/paper/orders").get_json()
    assert order["source"] == "FORM"


def test_htmx_csrf_header_is_accepted(client):
    token = csrf_from(client.get("/paper").get_data(as_text=True))
    response = client.post("/paper/orders", data=form_order(),
                           headers={"HX-Request": "true", "X-CSRF-Token": token})
    assert response.status_code == 200


def test_cross_site_post_is_refused_even_with_a_token(client):
    token = csrf_from(client.get("/paper").get_data(as_text=True))
    response = client.post("/paper/orders", data={**form_order(), "csrf_token": token},
                           headers={"Origin": "https://evil.example", "Sec-Fetch-Site":
                                    "cross-site"})
    assert response.status_code == 403
    assert "cross-site POST refused" in response.get_data(as_text=True)


def test_cross_site_post_to_the_api_is_refused(client):
    response = client.post("/api/v1/paper/reset", headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert "evil.example" in response.get_json()["error"]


@pytest.fixture
def token_app(log_dir, monkeypatch):
    monkeypatch.delenv("PEAKTRADE_KILL_SWITCH", raising=False)
    app = create_app({"log_dir": str(log_dir), "demo": {"enabled": False},
                      "journal": {"fsync": "never"}, "web": {"api_token": TOKEN}})
    yield app
    close_app(app)


def test_with_a_token_api_writes_without_it_are_401(token_app):
    client = token_app.test_client()
    response = client.post("/api/v1/paper/orders", json=ORDER)
    assert response.status_code == 401
    assert "missing" in response.get_json()["error"]
    wrong = client.post("/api/v1/paper/orders", json=ORDER,
                        headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "wrong" in wrong.get_json()["error"]
    assert client.get("/api/v1/paper/orders").get_json() == []


def test_with_a_token_api_writes_with_it_succeed(token_app):
    client = token_app.test_client()
    response = client.post("/api/v1/paper/orders", json=ORDER,
                           headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.get_json()[0]["status"] == "FILLED"


def test_with_a_token_the_browser_logs_in_once_before_form_writes(token_app):
    client = token_app.test_client()
    token = csrf_from(client.get("/paper").get_data(as_text=True))
    refused = client.post("/paper/orders", data={**form_order(), "csrf_token": token},
                          headers={"HX-Request": "true", "Referer": "http://localhost/paper"})
    assert refused.status_code == 401
    assert refused.headers["HX-Redirect"].startswith("/login?next=/paper")
    bad = client.post("/login", data={"token": "nope", "next": "/paper"})
    assert bad.status_code == 401 and "wrong" in bad.get_data(as_text=True)
    good = client.post("/login", data={"token": TOKEN, "next": "/paper"})
    assert good.status_code == 302 and good.headers["Location"] == "/paper"
    token = csrf_from(client.get("/paper").get_data(as_text=True))
    accepted = client.post("/paper/orders", data={**form_order(), "csrf_token": token},
                           headers={"HX-Request": "true"})
    assert accepted.status_code == 200
    assert len(client.get("/api/v1/paper/orders").get_json()) == 1


def test_header_offers_login_then_logout(token_app):
    client = token_app.test_client()
    assert 'href="/login?next=/paper">Log in to trade' in client.get("/paper").get_data(
        as_text=True)
    client.post("/login", data={"token": TOKEN, "next": "/paper"})
    html = client.get("/paper").get_data(as_text=True)
    assert "Log in to trade" not in html and ">Log out</button>" in html
    client.post("/logout", data={"csrf_token": csrf_from(html)})
    assert "Log in to trade" in client.get("/paper").get_data(as_text=True)


def test_login_never_redirects_off_site(token_app):
    client = token_app.test_client()
    response = client.post("/login", data={"token": TOKEN, "next": "//evil.example/x"})
    assert response.headers["Location"] == "/"


def test_secret_key_is_generated_once_private_and_shared(tmp_path):
    first = load_secret_key(None, tmp_path)
    assert load_secret_key(None, tmp_path) == first and len(first) >= 32
    mode = stat.S_IMODE((tmp_path / ".secret_key").stat().st_mode)
    assert mode == 0o600
    assert load_secret_key("configured-key", tmp_path) == "configured-key"


def test_two_apps_on_one_journal_share_sessions(log_dir, app):
    other = create_app({"log_dir": str(log_dir), "demo": {"enabled": False},
                        "journal": {"fsync": "never"}})
    try:
        assert other.secret_key == app.secret_key
    finally:
        close_app(other)


def test_security_headers_on_pages_and_api(client):
    for path in ("/paper", "/oms/blotter", "/api/v1/paper/orders"):
        headers = client.get(path).headers
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"]


WEBSOCKET = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
             "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


def test_cross_site_websocket_is_refused(client):
    response = client.get("/ws/execution", headers={**WEBSOCKET,
                                                    "Origin": "https://evil.example"})
    assert response.status_code == 403
    assert "cross-site WebSocket refused" in response.get_json()["error"]


def test_with_a_token_a_websocket_needs_it_or_a_login(token_app):
    client = token_app.test_client()
    response = client.get("/ws/execution", headers=WEBSOCKET)
    assert response.status_code == 401
    assert "WebSocket" in response.get_json()["error"]


@pytest.mark.parametrize("method, path, body", [
    ("post", "/api/v1/paper/orders", ORDER),
    ("delete", "/api/v1/paper/orders/any-id", None),
    ("post", "/api/v1/paper/reset", None),
    ("post", "/api/v1/market/quotes", {"symbol": "AAPL", "last": 100.0}),
    ("post", "/api/v1/controls/kill-switch", {"action": "engage", "reason": "x"}),
    ("post", "/api/v1/controls/breakers/DAILY_LOSS/reset", {}),
    ("post", "/api/v1/controls/qa", {"can_trade_today": False, "reason": "x"}),
])
def test_with_a_token_every_api_write_needs_it(token_app, method, path, body):
    client = token_app.test_client()
    response = getattr(client, method)(path, json=body)
    assert response.status_code == 401
    assert client.get("/api/v1/controls").get_json()["kill_switch"]["engaged"] is False
    assert client.get("/api/v1/paper/orders").get_json() == []


def test_with_a_token_reads_stay_open(token_app):
    client = token_app.test_client()
    for path in ("/api/v1/paper/orders", "/api/v1/paper/positions", "/api/v1/oms/blotter",
                 "/api/v1/controls", "/paper", "/oms/blotter"):
        assert client.get(path).status_code == 200, path
