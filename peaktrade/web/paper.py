"""Paper trading: order-entry form, panels, JSON API; maps desk errors to HTTP statuses app-wide."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from flask import Blueprint, Response, render_template, request
from marshmallow import ValidationError

from peaktrade.events import parse_ts
from peaktrade.execution import (
    BrokerUnreachable,
    ControlRefused,
    DeskError,
    InvalidIntent,
    OrderNotCancellable,
    OrderResult,
    UnknownOrder,
)
from peaktrade.execution.codes import ORDER_TYPES, SIDES, TIFS, Status
from peaktrade.web.context import get_config, get_desk
from peaktrade.web.errors import error_response, wants_json
from peaktrade.web.schemas import (
    ACCOUNT,
    DRY_RUN_QUERY,
    FILL_RECORDS,
    MARKET_QUOTES,
    MAX_LIMIT,
    ORDER_FORM,
    ORDER_RESULT,
    ORDER_RESULTS,
    ORDERS_QUERY,
    POSITIONS,
    STATUS_FILTERS,
    VERDICTS,
    BadBody,
    first_message,
    load_orders,
    load_quotes,
    parse_json_body,
)

bp = Blueprint("paper", __name__)

FORM_SOURCE = "FORM"
API_SOURCE = "API"
RECENT_FILLS = 20


def json_body(*, required: bool = True) -> Any:
    """The request's JSON body; malformed JSON or a wrong content type answers 400."""
    return parse_json_body(request.content_type, request.get_data(cache=False),
                           required=required)


def json_response(data: Any) -> Response:
    """A JSON response encoded with orjson (the order endpoints are the desk's hot path)."""
    return Response(orjson.dumps(data), mimetype="application/json")


def max_orders() -> int:
    return get_config()["web"]["max_orders_per_request"]


def filtered_orders(query: dict) -> list:
    """Orders newest first after the query's filters; WORKING means PENDING, NEW or PARTIAL."""
    desk = get_desk()
    statuses = STATUS_FILTERS.get(query.get("status") or "", ())
    filters = {key: query.get(key) for key in ("symbol", "route", "source")}
    if len(statuses) == 1:
        return desk.orders(limit=query["limit"], status=statuses[0], **filters)
    orders = desk.orders(**filters)
    if statuses:
        orders = [order for order in orders if order.status in statuses]
    return orders[:query["limit"]]


@bp.post("/api/v1/paper/orders")
def api_submit_orders():
    """Submit one paper order or a list; ?dry_run=1 returns the what-if instead."""
    dry_run = DRY_RUN_QUERY.load(request.args)["dry_run"]
    orders = load_orders(json_body(), max_orders())
    desk = get_desk()
    if dry_run:
        verdicts = desk.what_if(orders, source=API_SOURCE)
        return json_response(VERDICTS.dump([verdict.to_dict() for verdict in verdicts]))
    results = desk.submit(orders, source=API_SOURCE)
    # to_dict() is OrderResultSchema's shape (a test holds them equal); dumping through the
    # schema would cost about a sixth of a batch request.
    return json_response([result.to_dict() for result in results])


@bp.get("/api/v1/paper/orders")
def api_list_orders():
    """Paper orders, newest first, filtered by status, symbol, route, source."""
    query = ORDERS_QUERY.load(request.args)
    return json_response(ORDER_RESULTS.dump([order.to_dict() for order in filtered_orders(query)]))


@bp.get("/api/v1/paper/orders/<order_id>")
def api_get_order(order_id: str):
    """One paper order by id."""
    return json_response(ORDER_RESULT.dump(get_desk().order(order_id).to_dict()))


@bp.delete("/api/v1/paper/orders/<order_id>")
def api_cancel_order(order_id: str):
    """Cancel a working paper order."""
    cancelled = get_desk().cancel(order_id, source=API_SOURCE,
                                  actor=f"api@{request.remote_addr}")
    return json_response(ORDER_RESULT.dump(cancelled.to_dict()))


@bp.get("/api/v1/paper/positions")
def api_positions():
    """Non-zero paper positions."""
    return json_response(POSITIONS.dump(get_desk().positions()))


@bp.get("/api/v1/paper/account")
def api_account():
    """The paper account of the active session."""
    return json_response(ACCOUNT.dump(get_desk().account()))


@bp.post("/api/v1/paper/reset")
def api_reset():
    """Start a fresh paper session; the old journal stays."""
    json_body(required=False)
    session_id = get_desk().reset_session(actor=f"api@{request.remote_addr}")
    return json_response({"status": "ok", "session_id": session_id})


@bp.post("/api/v1/market/quotes")
def api_post_quotes():
    """Post quotes: marks move and resting orders that become marketable fill."""
    quotes = load_quotes(json_body(), max_orders())
    fills = get_desk().quote(quotes)
    return json_response({"accepted": len(quotes), "fills": FILL_RECORDS.dump(fills)})


@bp.get("/api/v1/market/quotes")
def api_get_quotes():
    """The latest quote per symbol."""
    return json_response(MARKET_QUOTES.dump(get_desk().quotes()))


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true" and \
        not request.headers.get("HX-History-Restore-Request")


def panels_context() -> dict:
    """Everything the side panels of /paper show."""
    desk = get_desk()
    working = filtered_orders({"status": "WORKING", "limit": MAX_LIMIT})
    return {"account": desk.account(), "positions": desk.positions(), "working": working,
            "fills": desk.executions(limit=RECENT_FILLS)}


def entry_context(values: dict | None = None, errors: dict | None = None,
                  results: list | None = None, message: str | None = None) -> dict:
    """What the order-entry component needs: values, field errors, last result."""
    desk = get_desk()
    return {"values": values or {}, "errors": errors or {}, "results": results or [],
            "message": message, "symbols": [i["symbol"] for i in desk.instruments()],
            "sides": SIDES, "order_types": ORDER_TYPES, "tifs": TIFS, "routes": desk.routes()}


@bp.get("/paper")
def page():
    """The paper trading page: order entry, what-if, account, positions, orders, fills."""
    return render_template("paper.html", **entry_context(), **panels_context())


@bp.get("/paper/panels")
def panels():
    """The side panels alone, for polling and after actions."""
    return render_template("_paper_panels.html", **panels_context())


def _form_values() -> dict:
    return {key: value for key, value in request.form.items() if key != "csrf_token"}


@bp.post("/paper/orders")
def submit_form():
    """Submit a paper order from the order-entry form."""
    values = _form_values()
    try:
        order = ORDER_FORM.load(values)
        results = get_desk().submit(order, source=FORM_SOURCE)
    except ValidationError as err:
        return _entry_with_errors(values, _field_errors(err.messages))
    except InvalidIntent as err:
        return _entry_with_errors(values, _field_errors(err.errors))
    except DeskError as err:
        return _entry_with_errors(values, {}, str(err))
    kept = {key: values.get(key, "") for key in ("symbol", "side", "order_type", "tif",
                                                  "strategy")}
    body = render_template("_paper_entry.html", **entry_context(kept, results=results))
    body += render_template("_paper_panels.html", oob=True, **panels_context())
    return body


def _entry_with_errors(values: dict, errors: dict, message: str | None = None) -> Response | str:
    html = render_template("_paper_entry.html", **entry_context(values, errors,
                                                                message=message))
    return html if is_htmx() else Response(html, status=422)


def _field_errors(messages: Any) -> dict[str, list[str]]:
    if not isinstance(messages, dict):
        return {"_schema": [str(messages)]}
    return {key: value if isinstance(value, list) else [str(value)]
            for key, value in messages.items()}


@bp.post("/paper/what-if")
def what_if_form():
    """The what-if panel for the order being typed: each check's verdict and headroom."""
    try:
        order = ORDER_FORM.load(_form_values())
        verdicts = get_desk().what_if(order, source=FORM_SOURCE)
    except ValidationError as err:
        return render_template("_paper_whatif.html", verdict=None,
                               problems=_field_errors(err.messages))
    except InvalidIntent as err:
        return render_template("_paper_whatif.html", verdict=None,
                               problems=_field_errors(err.errors))
    except DeskError as err:
        return render_template("_paper_whatif.html", verdict=None,
                               problems={"_schema": [str(err)]})
    return render_template("_paper_whatif.html", verdict=verdicts[0].to_dict(), problems={})


@bp.post("/paper/orders/<order_id>/cancel")
def cancel_form(order_id: str):
    """Cancel a working order from the working-orders table."""
    message = None
    try:
        result = get_desk().cancel(order_id, source=FORM_SOURCE,
                                   actor=f"web@{request.remote_addr}")
        message = f"Cancelled {result.symbol} {result.side} {result.quantity:g} ({order_id})"
    except (UnknownOrder, OrderNotCancellable, BrokerUnreachable) as err:
        message = str(err)
    return render_template("_paper_panels.html", notice=message, **panels_context())


@bp.post("/paper/reset")
def reset_form():
    """Start a fresh paper session from the page (behind a confirmation)."""
    session_id = get_desk().reset_session(actor=f"web@{request.remote_addr}")
    return render_template("_paper_panels.html", notice=f"Started paper session {session_id}",
                           **panels_context())


@bp.app_template_filter("num")
def format_number(value: Any, places: int = 2) -> str:
    """A number with thousands separators; blank for None."""
    if value is None:
        return ""
    if isinstance(value, int | float):
        return f"{value:,.{places}f}"
    return str(value)


@bp.app_template_filter("clock")
def format_clock(ts: str | None) -> str:
    """The time of day of a canonical timestamp, to the millisecond (the full one is a title)."""
    if not ts or "T" not in ts:
        return ts or ""
    return ts.split("T", 1)[1][:12]


@bp.app_template_filter("age")
def format_age(ts: str | None, now: datetime | None = None) -> str:
    """How long ago a timestamp was: 12 s, 3 min 5 s, 2 h 10 min; blank when unknown."""
    try:
        waited = int(((now or datetime.now(UTC)) - parse_ts(ts)).total_seconds())
    except ValueError:
        return ""
    waited = max(waited, 0)  # another host's clock may run a little ahead
    if waited < 60:
        return f"{waited} s"
    if waited < 3600:
        return f"{waited // 60} min {waited % 60} s"
    return f"{waited // 3600} h {waited % 3600 // 60} min"


@bp.app_template_filter("order_status")
def format_order_status(order: OrderResult, now: datetime | None = None) -> str:
    """An order's status; a PENDING one with how long its broker has not answered."""
    if order.status != Status.PENDING:
        return order.status
    age = format_age(order.created_at, now)
    return f"{order.status} · {age}" if age else order.status


@bp.app_template_filter("qty")
def format_quantity(value: Any) -> str:
    """A quantity without trailing zeros."""
    if value is None:
        return ""
    return f"{value:,.8f}".rstrip("0").rstrip(".") if isinstance(value, float) else f"{value:,}"


@bp.app_errorhandler(BadBody)
def _bad_body(err: BadBody) -> Response:
    return error_response(400, str(err))


@bp.app_errorhandler(ValidationError)
def _invalid_fields(err: ValidationError) -> Response:
    message = f"invalid request: {first_message(err.messages)}"
    if not wants_json():
        return _error_page(422, "Invalid request", message)
    return error_response(422, message, err.messages if isinstance(err.messages, dict)
                          else {"_schema": err.messages})


@bp.app_errorhandler(InvalidIntent)
def _invalid_intent(err: InvalidIntent) -> Response:
    return error_response(422, f"invalid order: {err}", err.errors)


@bp.app_errorhandler(UnknownOrder)
def _unknown_order(err: UnknownOrder) -> Response:
    return _desk_error(404, err)


@bp.app_errorhandler(OrderNotCancellable)
def _not_cancellable(err: OrderNotCancellable) -> Response:
    return _desk_error(409, err)


@bp.app_errorhandler(ControlRefused)
def _control_refused(err: ControlRefused) -> Response:
    return _desk_error(409, err)


@bp.app_errorhandler(BrokerUnreachable)
def _broker_unreachable(err: BrokerUnreachable) -> Response:
    response = _desk_error(503, err)
    response.headers["Retry-After"] = "5"
    return response


@bp.app_errorhandler(DeskError)
def _desk_refused(err: DeskError) -> Response:
    return _desk_error(422, err)


def _desk_error(status: int, err: Exception) -> Response:
    if wants_json():
        return error_response(status, str(err))
    return _error_page(status, type(err).__name__, str(err))


def _error_page(status: int, title: str, message: str) -> Response:
    return Response(render_template("error.html", status=status, title=title, message=message),
                    status=status)
