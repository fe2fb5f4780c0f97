"""Marshmallow schemas for every input and output of the paper, OMS and controls endpoints."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from marshmallow import (
    EXCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validates_schema,
)

from peaktrade.execution.codes import (
    KILL_SWITCH_MODES,
    ORDER_TYPES,
    SIDES,
    STATUSES,
    TIFS,
    WORKING_STATUSES,
)

KILL_SWITCH_ACTIONS = ("engage", "release")
# The blotter's quick filters: one status, or WORKING for every order still in the market.
STATUS_FILTERS = {**{status: (status,) for status in STATUSES},
                  "WORKING": tuple(sorted(WORKING_STATUSES))}

MAX_TEXT = 200
MAX_ID = 64
MAX_TAGS = 20
MAX_LIMIT = 1000
MAX_SYMBOL = 32


class Choice(fields.String):
    """A string from a fixed set in any case, folded to one case; errors list what is allowed."""

    def __init__(self, choices: Iterable[str], *, lower: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fold = str.lower if lower else str.upper
        self.choices = tuple(self.fold(choice) for choice in choices)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = self.fold(super()._deserialize(value, attr, data, **kwargs).strip())
        if text not in self.choices:
            raise ValidationError(f"{attr} must be one of {', '.join(self.choices)}, "
                                  f"got {value!r}")
        return text


class Positive(fields.Float):
    """A finite number > 0; the error names the value."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or value in ("", None):
            raise ValidationError(f"{attr} must be a number > 0, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValidationError(f"{attr} must be a number > 0, got {value!r}") from None
        if not math.isfinite(number) or number <= 0:
            raise ValidationError(f"{attr} must be > 0, got {value}")
        return number


class Text(fields.String):
    """Stripped text of bounded length; blank loads as None."""

    def __init__(self, max_length: int = MAX_TEXT, **kwargs: Any) -> None:
        kwargs.setdefault("allow_none", True)
        kwargs.setdefault("load_default", None)
        super().__init__(**kwargs)
        self.max_length = max_length

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str | None:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if len(text) > self.max_length:
            raise ValidationError(f"{attr} must be at most {self.max_length} characters, "
                                  f"got {len(text)}")
        return text or None


# marshmallow's stock messages, said again with the field, the value and what is allowed.
_EXPECTED = {
    "Not a valid string.": "must be a string",
    "Not a valid list.": "must be a list",
    "Not a valid integer.": "must be a whole number",
    "Not a valid number.": "must be a number",
    "Not a valid boolean.": "must be true or false",
    "Not a valid mapping type.": "must be a JSON object",
    "Field may not be null.": "may not be null",
    "Missing data for required field.": "is required",
}


class _Explained(Schema):
    """Every error names the field, the value it got and what is allowed."""

    def handle_error(self, error: ValidationError, data: Any, *, many: bool, **kwargs: Any) -> None:
        allowed = sorted(f.data_key or name for name, f in self.load_fields.items())
        explain_errors(error.messages, data, allowed)
        raise error


class _Strict(_Explained):
    """Unknown fields are an error that lists the allowed ones."""

    class Meta:
        unknown = RAISE


def explain_errors(messages: Any, data: Any, allowed: list[str]) -> None:
    """Rewrite stock messages in place, reading each bad value from the input."""
    if not isinstance(messages, dict):
        return
    for key, value in messages.items():
        given = data if key == "_schema" else _lookup(data, key)
        if isinstance(value, dict):
            explain_errors(value, given, allowed)
        elif isinstance(value, list):
            messages[key] = [_explain(str(key), text, given, allowed) for text in value]


def _lookup(data: Any, key: Any) -> Any:
    if isinstance(data, Mapping):
        return data.get(key)
    if isinstance(data, list) and isinstance(key, int) and 0 <= key < len(data):
        return data[key]
    return None


def _explain(key: str, text: Any, given: Any, allowed: list[str]) -> Any:
    if not isinstance(text, str):
        return text
    if text == "Unknown field.":
        return f"unknown field {key!r}; allowed fields are {', '.join(allowed)}"
    if text == "Invalid input type.":
        return f"expected a JSON object, got {type(given).__name__}"
    expected = _EXPECTED.get(text)
    if expected is None:
        return text
    if expected in ("is required", "may not be null"):
        return f"{key} {expected}"
    try:
        shown = orjson.dumps(given).decode()
    except TypeError:
        shown = repr(given)
    return f"{key} {expected}, got {shown[:80]}"


def _symbol(value: str) -> None:
    if not value.strip() or len(value.strip()) > MAX_SYMBOL:
        raise ValidationError(f"symbol must be 1 to {MAX_SYMBOL} characters, got {value!r}")


def _confidence(value: float) -> None:
    if not 0 <= value <= 1:
        raise ValidationError(f"confidence must be between 0 and 1, got {value}")


class OrderSchema(_Strict):
    """One paper order as the JSON API receives it."""

    symbol = fields.String(required=True, validate=_symbol,
                           error_messages={"required": "symbol is required"})
    side = Choice(SIDES, required=True,
                  error_messages={"required": "side is required: BUY or SELL"})
    quantity = Positive(required=True, error_messages={"required": "quantity is required"})
    price = Positive(load_default=None, allow_none=True)
    order_type = Choice(ORDER_TYPES)
    limit_price = Positive(load_default=None, allow_none=True)
    tif = Choice(TIFS)
    client_order_id = Text(MAX_ID)
    strategy = Text(MAX_ID)
    route = Text(MAX_ID)
    reason = Text(MAX_TEXT)
    confidence = fields.Float(load_default=None, allow_none=True, validate=_confidence)
    tags = fields.List(Text(MAX_ID, allow_none=False))

    @pre_load
    def _not_a_mapping(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, Mapping):
            raise ValidationError(f"an order must be a JSON object, got {type(data).__name__}")
        return data

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _check_combinations(self, data: dict, original: Any, **kwargs: Any) -> None:
        order_type = data.get("order_type")
        if order_type == "LIMIT" and original.get("limit_price") in (None, ""):
            raise ValidationError("limit_price is required for a LIMIT order", "limit_price")
        if order_type == "MARKET" and data.get("limit_price") is not None:
            raise ValidationError(f"limit_price applies only to LIMIT orders, got order_type "
                                  f"{order_type}", "limit_price")
        if len(data.get("tags") or ()) > MAX_TAGS:
            raise ValidationError(f"at most {MAX_TAGS} tags, got {len(data['tags'])}", "tags")

    @post_load
    def _normalise(self, data: dict, **kwargs: Any) -> dict:
        """Only what was sent, normalised: the desk's Intent owns the defaults."""
        data["symbol"] = data["symbol"].strip().upper()
        if "tags" in data:
            data["tags"] = [tag for tag in data["tags"] or () if tag]
        if data.get("route"):
            data["route"] = data["route"].upper()
        return {key: value for key, value in data.items() if value not in (None, [])}


class OrderFormSchema(OrderSchema):
    """The order-entry form: blank fields are absent, tags are comma separated."""

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def _from_form(self, data: Any, **kwargs: Any) -> dict:
        if not isinstance(data, Mapping):
            raise ValidationError("the order form was empty")
        form = {key: value.strip() if isinstance(value, str) else value
                for key, value in data.items() if key in self.fields}
        form = {key: value for key, value in form.items() if value != ""}
        if isinstance(form.get("tags"), str):
            form["tags"] = [tag.strip() for tag in form["tags"].split(",") if tag.strip()]
        if form.get("order_type", "").upper() != "LIMIT":
            form.pop("limit_price", None)
        return form


def load_orders(body: Any, max_orders: int) -> list[dict]:
    """Validate one order or a list of them, all before any reaches the desk."""
    if isinstance(body, list):
        if not body:
            raise ValidationError({"_schema": ["send at least one order"]})
        if len(body) > max_orders:
            raise ValidationError({"_schema": [f"at most {max_orders} orders per request, "
                                               f"got {len(body)}"]})
        return ORDERS_IN.load(body)
    return [ORDER_IN.load(body)]


class QuoteSchema(_Strict):
    """A market quote posted to the paper broker."""

    symbol = fields.String(required=True, validate=_symbol,
                           error_messages={"required": "symbol is required"})
    bid = Positive(load_default=None, allow_none=True)
    ask = Positive(load_default=None, allow_none=True)
    last = Positive(load_default=None, allow_none=True)
    size = Positive(load_default=None, allow_none=True)

    @pre_load
    def _not_a_mapping(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, Mapping):
            raise ValidationError(f"a quote must be a JSON object, got {type(data).__name__}")
        return data

    @validates_schema
    def _check_prices(self, data: dict, **kwargs: Any) -> None:
        if all(data.get(key) is None for key in ("bid", "ask", "last")):
            raise ValidationError("a quote needs at least one of bid, ask, last")
        bid, ask = data.get("bid"), data.get("ask")
        if bid is not None and ask is not None and bid > ask:
            raise ValidationError(f"bid must be <= ask, got bid {bid} > ask {ask}", "bid")

    @post_load
    def _normalise(self, data: dict, **kwargs: Any) -> dict:
        data["symbol"] = data["symbol"].strip().upper()
        return {key: value for key, value in data.items() if value is not None}


def load_quotes(body: Any, max_items: int) -> list[dict]:
    """Validate one quote or a list of them."""
    if isinstance(body, list):
        if not body:
            raise ValidationError({"_schema": ["send at least one quote"]})
        if len(body) > max_items:
            raise ValidationError({"_schema": [f"at most {max_items} quotes per request, "
                                               f"got {len(body)}"]})
        return QUOTES_IN.load(body)
    return [QUOTE_IN.load(body)]


class KillSwitchSchema(_Strict):
    """Engage or release the kill switch."""

    action = Choice(KILL_SWITCH_ACTIONS, lower=True, required=True,
                    error_messages={"required": "action is required: engage or release"})
    mode = Choice(KILL_SWITCH_MODES, load_default=None, allow_none=True)
    reason = Text(MAX_TEXT)
    actor = Text(MAX_ID)

    @validates_schema(skip_on_field_errors=False)
    def _reason_given(self, data: dict, **kwargs: Any) -> None:
        if not data.get("reason"):
            raise ValidationError("reason is required: say why, it is journaled", "reason")


class KillSwitchFormSchema(KillSwitchSchema):
    """The kill switch form in the page header."""

    class Meta:
        unknown = EXCLUDE


class BreakerResetSchema(_Strict):
    """Reset a tripped circuit breaker."""

    reason = Text(MAX_TEXT)
    actor = Text(MAX_ID)


class BreakerResetFormSchema(BreakerResetSchema):
    """The breaker reset button in the page header."""

    class Meta:
        unknown = EXCLUDE


class QaSchema(_Strict):
    """Set the QA status: can the desk trade today."""

    can_trade_today = fields.Boolean(required=True, error_messages={
        "required": "can_trade_today is required: true or false",
        "invalid": "can_trade_today must be true or false"})
    reason = Text(MAX_TEXT)
    actor = Text(MAX_ID)

    @validates_schema(skip_on_field_errors=False)
    def _reason_given(self, data: dict, **kwargs: Any) -> None:
        if not data.get("reason"):
            raise ValidationError("reason is required: say why, it is journaled", "reason")


class _Query(_Explained):
    class Meta:
        unknown = EXCLUDE


def _limit_field(default: int) -> fields.Integer:
    return fields.Integer(load_default=default, validate=_limit_range)


def _limit_range(value: int) -> None:
    if not 1 <= value <= MAX_LIMIT:
        raise ValidationError(f"limit must be between 1 and {MAX_LIMIT}, got {value}")


class OrdersQuerySchema(_Query):
    """Filters of the order lists: status (or WORKING), symbol, route, source, limit."""

    limit = _limit_field(50)
    status = Choice(tuple(STATUS_FILTERS), load_default=None, allow_none=True)
    symbol = Text(MAX_SYMBOL)
    route = Text(MAX_ID)
    source = Text(MAX_ID)

    @post_load
    def _upper(self, data: dict, **kwargs: Any) -> dict:
        for key in ("symbol", "route", "source"):
            if data.get(key):
                data[key] = data[key].upper()
        return data


class BlotterQuerySchema(OrdersQuerySchema):
    """The blotter's filters; 100 rows unless told."""

    limit = _limit_field(100)


class ExecutionsQuerySchema(_Query):
    """Filters of the executions list."""

    limit = _limit_field(100)
    symbol = Text(MAX_SYMBOL)
    route = Text(MAX_ID)

    @post_load
    def _upper(self, data: dict, **kwargs: Any) -> dict:
        for key in ("symbol", "route"):
            if data.get(key):
                data[key] = data[key].upper()
        return data


class DryRunQuerySchema(_Query):
    """?dry_run=1 asks for the what-if instead of submitting."""

    dry_run = fields.Boolean(load_default=False, truthy={"1", "true", "yes", "on"},
                             falsy={"0", "false", "no", "off", ""})


class OrderResultSchema(Schema):
    """One order as every endpoint reports it."""

    order_id = fields.String(allow_none=True)
    client_order_id = fields.String(allow_none=True)
    symbol = fields.String()
    side = fields.String()
    quantity = fields.Float()
    filled_quantity = fields.Float()
    avg_fill_price = fields.Float(allow_none=True)
    price = fields.Float(allow_none=True)
    order_type = fields.String()
    limit_price = fields.Float(allow_none=True)
    tif = fields.String()
    status = fields.String()
    reason = fields.String(allow_none=True)
    route = fields.String()
    source = fields.String(allow_none=True)
    strategy = fields.String(allow_none=True)
    created_at = fields.String(allow_none=True)
    broker_order_id = fields.String(allow_none=True)
    broker_status = fields.String(allow_none=True)


class CheckSchema(Schema):
    """One gate or risk check inside a verdict."""

    gate = fields.String()
    decision = fields.String()
    code = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    limit = fields.Raw(allow_none=True)
    value = fields.Raw(allow_none=True)
    headroom = fields.Raw(allow_none=True)


class VerdictSchema(Schema):
    """The what-if of one order: the deciding verdict and every check run."""

    symbol = fields.String()
    side = fields.String()
    quantity = fields.Float()
    decision = fields.String()
    code = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    checks = fields.List(fields.Nested(CheckSchema))


class PositionSchema(Schema):
    """A non-zero paper position."""

    symbol = fields.String()
    quantity = fields.Float()
    avg_price = fields.Float(allow_none=True)
    mark = fields.Float(allow_none=True)
    unrealized_pnl = fields.Float(allow_none=True)
    realized_pnl = fields.Float(allow_none=True)


class AccountSchema(Schema):
    """The paper account of the active session."""

    session_id = fields.String()
    cash = fields.Float()
    equity = fields.Float()
    start_equity = fields.Float()
    realized_pnl = fields.Float()
    unrealized_pnl = fields.Float()
    day_pnl = fields.Float()
    drawdown_pct = fields.Float()


class ExecutionSchema(Schema):
    """One fill as the OMS reports it."""

    exec_id = fields.String()
    order_id = fields.String()
    symbol = fields.String()
    side = fields.String()
    quantity = fields.Float()
    price = fields.Float()
    timestamp = fields.String()
    route = fields.String()


class FillRecordSchema(Schema):
    """A fill journal record in the executions shape, plus the order's status after it."""

    exec_id = fields.String(attribute="payload.exec_id")
    order_id = fields.String()
    symbol = fields.String()
    side = fields.String(attribute="payload.side")
    quantity = fields.Float(attribute="payload.qty")
    price = fields.Float(attribute="payload.price")
    timestamp = fields.String(attribute="ts")
    route = fields.String(attribute="payload.route")
    status = fields.String(attribute="payload.status")
    leaves_quantity = fields.Float(attribute="payload.leaves_qty")


class MarketQuoteSchema(Schema):
    """The latest quote of a symbol."""

    symbol = fields.String()
    bid = fields.Float(allow_none=True)
    ask = fields.Float(allow_none=True)
    last = fields.Float(allow_none=True)
    size = fields.Float(allow_none=True)
    ts = fields.String(allow_none=True)


class RouteSchema(Schema):
    """An order route."""

    route_id = fields.String()
    description = fields.String()
    is_default = fields.Boolean()


class KillSwitchStateSchema(Schema):
    engaged = fields.Boolean()
    mode = fields.String(allow_none=True)
    source = fields.String(allow_none=True)
    actor = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    since = fields.String(allow_none=True)


class QaStateSchema(Schema):
    blocked = fields.Boolean()
    actor = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    since = fields.String(allow_none=True)


class BreakerStateSchema(Schema):
    name = fields.String()
    tripped = fields.Boolean()
    value = fields.Raw(allow_none=True)
    limit = fields.Raw(allow_none=True)
    resets_at = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    since = fields.String(allow_none=True)


class ControlsSchema(Schema):
    """Kill switch, QA block and breakers, as the header and /api/v1/controls show them."""

    kill_switch = fields.Nested(KillSwitchStateSchema)
    qa_block = fields.Nested(QaStateSchema)
    breakers = fields.List(fields.Nested(BreakerStateSchema))


# Schemas hold no per-call state, so each is built once (building one costs a request's worth).
ORDER_IN = OrderSchema()
ORDERS_IN = OrderSchema(many=True)
ORDER_FORM = OrderFormSchema()
QUOTE_IN = QuoteSchema()
QUOTES_IN = QuoteSchema(many=True)
KILL_SWITCH_IN = KillSwitchSchema()
KILL_SWITCH_FORM = KillSwitchFormSchema()
BREAKER_RESET_IN = BreakerResetSchema()
BREAKER_RESET_FORM = BreakerResetFormSchema()
QA_IN = QaSchema()
ORDERS_QUERY = OrdersQuerySchema()
BLOTTER_QUERY = BlotterQuerySchema()
EXECUTIONS_QUERY = ExecutionsQuerySchema()
DRY_RUN_QUERY = DryRunQuerySchema()
ORDER_RESULTS = OrderResultSchema(many=True)
ORDER_RESULT = OrderResultSchema()
VERDICTS = VerdictSchema(many=True)
POSITIONS = PositionSchema(many=True)
ACCOUNT = AccountSchema()
EXECUTIONS = ExecutionSchema(many=True)
FILL_RECORDS = FillRecordSchema(many=True)
MARKET_QUOTES = MarketQuoteSchema(many=True)
ROUTES = RouteSchema(many=True)
CONTROLS = ControlsSchema()


class BadBody(ValueError):
    """The request body is not JSON of the expected shape (answered with 400)."""


def parse_json_body(content_type: str | None, raw: bytes, *, required: bool = True) -> Any:
    """Decode a JSON request body; say what was wrong with the content type or the JSON."""
    if not raw.strip():
        if required:
            raise BadBody("the request body is empty; send JSON")
        return {}
    mimetype = (content_type or "").split(";")[0].strip().lower()
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise BadBody(f"send JSON with Content-Type: application/json, got {mimetype or 'none'!r}")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise BadBody(f"malformed JSON: {err}") from None


def first_message(messages: Any) -> str:
    """The first message of a (nested) marshmallow error; list items say their index."""
    if isinstance(messages, dict) and messages:
        key, value = next(iter(messages.items()))
        inner = first_message(value)
        return f"item {key}: {inner}" if isinstance(key, int) else inner
    if isinstance(messages, list | tuple) and messages:
        return first_message(messages[0])
    return str(messages)
