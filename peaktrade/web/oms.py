"""OMS-light: blotter, executions and routes (pages and JSON)."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, render_template, request, url_for

from peaktrade.execution.codes import SOURCES
from peaktrade.web.context import get_desk
from peaktrade.web.paper import filtered_orders, is_htmx, json_response
from peaktrade.web.schemas import (
    BLOTTER_QUERY,
    EXECUTIONS,
    EXECUTIONS_QUERY,
    ORDER_RESULTS,
    ROUTES,
)

bp = Blueprint("oms", __name__)

# The blotter's status buttons: label and the ?status= value (None for all).
STATUS_BUTTONS = (("All", None), ("Working", "WORKING"), ("Pending", "PENDING"),
                  ("Filled", "FILLED"), ("Rejected", "REJECTED"), ("Cancelled", "CANCELLED"))
VIEWS = ("orders", "executions")
CHIP_SCAN = 500


@bp.get("/api/v1/oms/blotter")
def api_blotter():
    """Orders newest first, filtered by symbol, status, route and source."""
    query = BLOTTER_QUERY.load(request.args)
    orders = filtered_orders(query)
    return json_response(ORDER_RESULTS.dump([order.to_dict() for order in orders]))


@bp.get("/api/v1/oms/executions")
def api_executions():
    """Fills newest first, filtered by symbol and route."""
    query = EXECUTIONS_QUERY.load(request.args)
    return json_response(EXECUTIONS.dump(get_desk().executions(**query)))


@bp.get("/api/v1/oms/routes")
def api_routes():
    """The order routes; PAPER is the default."""
    return json_response(ROUTES.dump(get_desk().routes()))


def _filter_url(current: dict, **changes: str | None) -> str:
    """The blotter URL with the current filters and these changes (None removes one)."""
    merged = {key: value for key, value in {**current, **changes}.items() if value}
    query = urlencode(merged)
    return url_for("oms.blotter") + (f"?{query}" if query else "")


@bp.get("/oms/blotter")
def blotter():
    """The blotter page: orders or executions, quick filters in the URL, the routes list."""
    view = request.args.get("view") if request.args.get("view") in VIEWS else VIEWS[0]
    desk = get_desk()
    if view == "executions":
        query = EXECUTIONS_QUERY.load(request.args)
        rows = desk.executions(**query)
    else:
        query = BLOTTER_QUERY.load(request.args)
        rows = filtered_orders(query)
    current = {"view": view if view != VIEWS[0] else None, "status": query.get("status"),
               "symbol": query.get("symbol"), "route": query.get("route"),
               "source": query.get("source")}
    recent = desk.orders(limit=CHIP_SCAN)
    routes = desk.routes()
    context = {
        "view": view, "rows": rows, "current": current, "filter_url": _filter_url,
        "status_buttons": STATUS_BUTTONS, "routes": routes,
        "symbols": sorted({order.symbol for order in recent}),
        "route_ids": [route["route_id"] for route in routes],
        "sources": sorted(set(SOURCES) | {order.source for order in recent if order.source}),
    }
    template = "_oms_blotter.html" if is_htmx() else "oms_blotter.html"
    return render_template(template, **context)
