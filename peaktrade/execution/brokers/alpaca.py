"""The Alpaca route: orders over Alpaca's trading REST API (v2).

A POST is sent once and never retried (a blind retry could double an order); reads and
cancels are idempotent and retried with backoff. Credentials come from the environment
only and never appear in a repr, a log line or an exception message.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from peaktrade.config import ALPACA_URLS, ConfigError
from peaktrade.execution.brokers import BrokerError, BrokerOrder, BrokerRejected, BrokerUnavailable
from peaktrade.execution.codes import LIVE_MODE, OrderType, Side, Status
from peaktrade.execution.state import Order

log = logging.getLogger("peaktrade.broker.alpaca")

CREDENTIAL_ENV = ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY")
DRY_RUN_MESSAGE = "dry run: nothing is sent to Alpaca"
ORDERS = "/v2/orders"
BY_CLIENT_ID = "/v2/orders:by_client_order_id"
MESSAGE_CHARS = 300

# Alpaca's order status -> ours; None: still working, NEW or PARTIAL by what has filled.
STATUSES: dict[str, str | None] = {
    "filled": Status.FILLED,
    "partially_filled": Status.PARTIAL,
    "canceled": Status.CANCELLED,
    "expired": Status.CANCELLED,
    "replaced": Status.CANCELLED,
    "rejected": Status.REJECTED,
    **dict.fromkeys(("new", "accepted", "pending_new", "accepted_for_bidding", "held",
                     "stopped", "calculated", "suspended", "pending_cancel",
                     "pending_replace", "done_for_day")),
}
REASONS = {"rejected": "rejected by Alpaca", "canceled": "canceled at Alpaca",
           "expired": "expired at Alpaca", "replaced": "replaced at Alpaca"}


def our_status(alpaca_status: str, filled_qty: float) -> str:
    """Our status for Alpaca's; an unknown one counts as working."""
    if alpaca_status not in STATUSES:
        log.warning("unknown Alpaca order status %r: treated as working", alpaca_status)
    return STATUSES.get(alpaca_status) or (Status.NEW if filled_qty == 0 else Status.PARTIAL)


def decimal_text(value: float) -> str:
    """A number as Alpaca wants it: a decimal string without float noise (1.0 -> "1")."""
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def parse_order(data: Any) -> BrokerOrder | None:
    """A BrokerOrder from Alpaca's order object; None when `data` is not one."""
    if not isinstance(data, dict) or not data.get("id") or not isinstance(data.get("status"), str):
        return None
    try:
        filled = float(data.get("filled_qty") or 0)
        avg, qty = (None if data.get(key) in (None, "") else float(data[key])
                    for key in ("filled_avg_price", "qty"))
    except (TypeError, ValueError):
        return None
    status, symbol, side = data["status"], data.get("symbol"), data.get("side")
    return BrokerOrder(
        client_order_id=data.get("client_order_id"), broker_order_id=str(data["id"]),
        status=our_status(status, filled), broker_status=status, filled_qty=filled,
        filled_avg_price=avg, reason=REASONS.get(status),
        symbol=symbol.replace("/", "-") if isinstance(symbol, str) else None,
        side=side.upper() if side in ("buy", "sell") else None, qty=qty)


def json_body(response: requests.Response) -> Any:
    """The response's JSON; None when the body is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def broker_message(response: requests.Response) -> str:
    """The broker's error message: the JSON body's "message", else the text, shortened."""
    body = json_body(response)
    message = body.get("message") if isinstance(body, dict) else None
    text = str(message) if message else (response.text.strip() or response.reason or "")
    return text[:MESSAGE_CHARS]


@dataclass(frozen=True, slots=True)
class AlpacaSettings:
    """Where and how the adapter talks to Alpaca."""

    base_url: str
    key_id: str | None = field(repr=False)
    secret_key: str | None = field(repr=False)
    dry_run: bool
    timeout_s: float
    retries: int
    retry_backoff_s: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any],
                    environ: Mapping[str, str] | None = None) -> AlpacaSettings:
        """Settings from `[alpaca]` and the credentials from the environment."""
        section = config["alpaca"]
        environ = os.environ if environ is None else environ
        base_url = (section.get("base_url") or ALPACA_URLS[section["environment"]]).rstrip("/")
        dry_run = not (config["mode"] == LIVE_MODE and section["dry_run"] is False)
        key_id, secret_key = ((environ.get(name) or "").strip() or None for name in CREDENTIAL_ENV)
        missing = [name for name, value in zip(CREDENTIAL_ENV, (key_id, secret_key), strict=True)
                   if not value]
        if missing and not dry_run:
            raise ConfigError(
                f"[alpaca] dry_run = false in live mode sends orders to {base_url}: set "
                f"{' and '.join(missing)} in the environment, or set [alpaca] dry_run = true, "
                "which works without credentials")
        return cls(base_url, key_id, secret_key, dry_run, section["timeout_s"],
                   section["retries"], section["retry_backoff_s"])


class AlpacaBroker:
    """Orders to an Alpaca account over REST; a dry run sends nothing."""

    route_id = "ALPACA"
    remote = True

    def __init__(self, settings: AlpacaSettings, *, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.dry_run = settings.dry_run
        self.session = session if session is not None else requests.Session()
        self.sleep = sleep
        if not settings.dry_run:
            self.session.headers.update({"APCA-API-KEY-ID": settings.key_id or "",
                                         "APCA-API-SECRET-KEY": settings.secret_key or ""})
        kind = {url: f"{env} account" for env, url in ALPACA_URLS.items()}.get(
            settings.base_url, "account")
        self.description = f"Alpaca {kind} ({settings.base_url})" + (
            " -- dry run: journals what it would send, sends nothing" if self.dry_run else "")

    def request_body(self, order: Order) -> dict[str, str]:
        """The JSON body POSTed for `order` (and journaled as is in a dry run)."""
        body = {"symbol": order.symbol.replace("-", "/"), "qty": decimal_text(order.quantity),
                "side": "buy" if order.side == Side.BUY else "sell",
                "type": "limit" if order.order_type == OrderType.LIMIT else "market",
                "time_in_force": order.tif.lower(),
                "client_order_id": order.client_order_id or order.order_id}
        if order.order_type == OrderType.LIMIT and order.limit_price is not None:
            body["limit_price"] = decimal_text(order.limit_price)
        return body

    def submit(self, order: Order, book: Any = None) -> BrokerOrder:
        """POST the order once; BrokerUnavailable when its outcome is unknown."""
        unknown = f"the outcome of order {order.client_order_id or order.order_id} is unknown"
        try:
            response = self._send("POST", ORDERS, json=self.request_body(order))
        except BrokerUnavailable as err:
            raise BrokerUnavailable(f"{err}; {unknown}") from err
        status = response.status_code
        if 400 <= status < 500:
            raise BrokerRejected(f"HTTP {status}: {broker_message(response)}", status)
        if not 200 <= status < 300:
            raise BrokerUnavailable(f"POST {ORDERS}: HTTP {status}: {broker_message(response)}; "
                                    f"{unknown}")
        report = parse_order(json_body(response))
        if report is None:
            raise BrokerUnavailable(f"POST {ORDERS}: HTTP {status} without an order object; "
                                    f"{unknown}")
        return report

    def fetch_order(self, order: Order, book: Any = None) -> BrokerOrder | None:
        """The order by broker id when known, else by client order id; None when unknown."""
        if order.broker_order_id:
            return self._lookup(f"{ORDERS}/{quote(order.broker_order_id, safe='')}")
        return self._lookup(BY_CLIENT_ID, {"client_order_id": _client_id(order)})

    def resolve(self, order: Order) -> BrokerOrder | None:
        """Find an order whose POST outcome is unknown; None once Alpaca kept answering 404."""
        return self._lookup(BY_CLIENT_ID, {"client_order_id": _client_id(order)},
                            retry_not_found=True)

    def cancel(self, order: Order, book: Any = None) -> BrokerOrder | None:
        """Ask Alpaca to cancel; the order after, None when Alpaca does not know it."""
        broker_id = order.broker_order_id
        if broker_id is None:
            found = self.resolve(order)
            if found is None:
                return None
            broker_id = found.broker_order_id
        path = f"{ORDERS}/{quote(str(broker_id), safe='')}"
        response = self._call("DELETE", path)
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise BrokerRejected(f"HTTP {response.status_code}: {broker_message(response)}",
                                 response.status_code)
        return self._lookup(path)

    def open_orders(self, book: Any = None) -> list[BrokerOrder]:
        """Every order Alpaca holds open, oldest first."""
        params = {"status": "open", "limit": "500", "direction": "asc"}
        reports = [parse_order(item) for item in self._read(ORDERS, list, params)]
        if any(report is None for report in reports):
            raise BrokerUnavailable(f"GET {ORDERS}: an item of the answer is not an order")
        return [report for report in reports if report is not None]

    def positions(self) -> list[dict]:
        """Alpaca's positions, as it sends them."""
        return self._read("/v2/positions", list)

    def account(self) -> dict:
        """Alpaca's account, as it sends it."""
        return self._read("/v2/account", dict)

    def _lookup(self, path: str, params: Mapping[str, str] | None = None, *,
                retry_not_found: bool = False) -> BrokerOrder | None:
        response = self._call("GET", path, params, retry_not_found=retry_not_found)
        if response.status_code == 404:
            return None
        self._raise_for_client_error(response, "GET", path)
        report = parse_order(json_body(response))
        if report is None:
            raise BrokerUnavailable(f"GET {path}: HTTP {response.status_code} without an "
                                    "order object")
        return report

    def _read(self, path: str, expect: type, params: Mapping[str, str] | None = None) -> Any:
        response = self._call("GET", path, params)
        self._raise_for_client_error(response, "GET", path)
        data = json_body(response)
        if not isinstance(data, expect):
            raise BrokerUnavailable(f"GET {path}: HTTP {response.status_code} without the "
                                    f"expected JSON {expect.__name__}")
        return data

    def _call(self, method: str, path: str, params: Mapping[str, str] | None = None, *,
              retry_not_found: bool = False) -> requests.Response:
        """An idempotent call, retried with backoff while the answer is not usable."""
        failure: BrokerUnavailable | None = None
        for attempt in range(self.settings.retries + 1):
            if attempt:
                self.sleep(self.settings.retry_backoff_s * 2 ** (attempt - 1))
            try:
                response = self._send(method, path, params=params)
            except BrokerUnavailable as err:
                failure = err
                continue
            status = response.status_code
            if status == 429 or not (200 <= status < 300 or 400 <= status < 500):
                failure = BrokerUnavailable(
                    f"{method} {path}: HTTP {status}: {broker_message(response)}")
            elif status == 404 and retry_not_found and attempt < self.settings.retries:
                continue
            else:
                return response
        assert failure is not None
        raise failure

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One HTTP request; a timeout or connection error is BrokerUnavailable."""
        if self.dry_run:
            raise BrokerError(DRY_RUN_MESSAGE)
        started = time.monotonic()
        try:
            response = self.session.request(method, self.settings.base_url + path,
                                            timeout=self.settings.timeout_s,
                                            allow_redirects=False, **kwargs)
        except requests.Timeout as err:
            log.warning("%s %s: no answer within %ss", method, path, self.settings.timeout_s)
            raise BrokerUnavailable(f"{method} {path}: no answer within "
                                    f"{self.settings.timeout_s}s") from err
        except requests.RequestException as err:
            log.warning("%s %s: failed (%s)", method, path, type(err).__name__)
            raise BrokerUnavailable(f"{method} {path}: no answer from Alpaca "
                                    f"({type(err).__name__})") from err
        elapsed_ms = (time.monotonic() - started) * 1000
        level = (logging.WARNING if response.status_code >= 400 and response.status_code != 404
                 else logging.DEBUG if method == "GET" else logging.INFO)
        log.log(level, "%s %s -> HTTP %s in %.0f ms", method, path, response.status_code,
                elapsed_ms)
        return response

    @staticmethod
    def _raise_for_client_error(response: requests.Response, method: str, path: str) -> None:
        if response.status_code >= 400:
            raise BrokerError(f"{method} {path}: HTTP {response.status_code}: "
                              f"{broker_message(response)}")


def _client_id(order: Order) -> str:
    return order.client_order_id or order.order_id
