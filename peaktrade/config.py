"""Configuration: defaults, then a TOML file, then PEAKTRADE_* environment variables.

Every configurable default of the desk lives in the schemas below. A wrong value
stops start-up with a ConfigError naming the key, the value and what is allowed.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from peaktrade.journal.integrity import MAX_LINE_BYTES

ENV_PREFIX = "PEAKTRADE_"
# Environment variables that are not configuration keys: read by their own owners.
ENV_NOT_CONFIG = frozenset({"PEAKTRADE_CONFIG", "PEAKTRADE_BIND", "PEAKTRADE_KILL_SWITCH",
                            "PEAKTRADE_WORKERS", "PEAKTRADE_THREADS"})
# Short environment names for the keys operators set most.
ENV_ALIASES = {
    "PEAKTRADE_LOG_DIR": "log_dir",
    "PEAKTRADE_MODE": "mode",
    "PEAKTRADE_DEMO": "demo.enabled",
    "PEAKTRADE_API_TOKEN": "web.api_token",
    "PEAKTRADE_SECRET_KEY": "web.secret_key",
}
MODES = ("paper", "live", "dry_run")
FSYNC_POLICIES = ("never", "interval", "always")

_non_negative = validate.Range(min=0)
_positive = validate.Range(min=0, min_inclusive=False)


def _limit(**kwargs: Any) -> fields.Float:
    """A numeric limit that is off when unset (None)."""
    return fields.Float(load_default=None, allow_none=True, validate=_positive, **kwargs)


def _count_limit() -> fields.Integer:
    return fields.Integer(load_default=None, allow_none=True, strict=False,
                          validate=validate.Range(min=1))


class _Section(Schema):
    class Meta:
        unknown = RAISE


class JournalSchema(_Section):
    max_bytes = fields.Integer(load_default=10_000_000, validate=validate.Range(min=4096))
    fsync = fields.String(load_default="interval", validate=validate.OneOf(FSYNC_POLICIES))
    fsync_interval_s = fields.Float(load_default=1.0, validate=_positive)
    # A longer line is refused on write and skipped on read
    max_line_bytes = fields.Integer(load_default=MAX_LINE_BYTES,
                                    validate=validate.Range(min=1024))
    # Health turns degraded below this much free space in the journal folder
    min_free_bytes = fields.Integer(load_default=100 << 20, validate=validate.Range(min=0))


class PaperSchema(_Section):
    starting_cash = fields.Float(load_default=100_000.0, validate=_positive)
    slippage_bps = fields.Float(load_default=5.0, validate=_non_negative)
    fee_bps = fields.Float(load_default=0.0, validate=_non_negative)


class GatesSchema(_Section):
    min_notional = fields.Float(load_default=10.0, validate=_non_negative)
    price_band_pct = fields.Float(load_default=10.0, validate=_positive)
    quote_staleness_s = fields.Float(load_default=60.0, validate=_positive)
    block_research_in_live = fields.Boolean(load_default=True)


class RiskSchema(_Section):
    max_notional_per_symbol = _limit()
    max_weight_per_symbol = _limit()
    max_gross_exposure = _limit()
    max_orders_per_second = _limit()
    max_sector_exposure = fields.Dict(keys=fields.String(), values=fields.Float(validate=_positive),
                                      load_default=dict)
    max_region_exposure = fields.Dict(keys=fields.String(), values=fields.Float(validate=_positive),
                                      load_default=dict)


class BreakersSchema(_Section):
    max_daily_loss = _limit()
    max_daily_drawdown_pct = _limit()
    max_trades_per_day = _count_limit()
    max_trades_per_strategy_per_day = _count_limit()
    max_loss_streak = _count_limit()


class InstrumentSchema(_Section):
    symbol = fields.String(required=True, validate=validate.Length(min=1, max=32))
    lot_size = fields.Float(load_default=1.0, validate=_positive)
    min_qty = fields.Float(load_default=0.0, validate=_non_negative)
    sector = fields.String(load_default="other")
    region = fields.String(load_default="global")


class WebSchema(_Section):
    api_token = fields.String(load_default=None, allow_none=True)
    secret_key = fields.String(load_default=None, allow_none=True)
    max_body_bytes = fields.Integer(load_default=1_048_576, validate=validate.Range(min=1024))
    max_orders_per_request = fields.Integer(load_default=500, validate=validate.Range(min=1))
    sse_keepalive_s = fields.Float(load_default=15.0, validate=_positive)
    sse_retry_ms = fields.Integer(load_default=3000, validate=validate.Range(min=100))
    max_streams_per_worker = fields.Integer(load_default=150, validate=validate.Range(min=1))
    timeline_max_rows = fields.Integer(load_default=500, validate=validate.Range(min=10))
    poll_interval_s = fields.Float(load_default=2.0, validate=_positive)


class AlertsSchema(_Section):
    error_rate_pct = fields.Float(load_default=10.0, validate=_non_negative)
    error_rate_window_s = fields.Float(load_default=300.0, validate=_positive)
    latency_p95_s = fields.Float(load_default=10.0, validate=_positive)
    silence_minutes = fields.Float(load_default=5.0, validate=_positive)
    cooldown_s = fields.Float(load_default=900.0, validate=_non_negative)
    check_interval_s = fields.Float(load_default=30.0, validate=_positive)
    webhook_url = fields.String(load_default=None, allow_none=True)
    slack_webhook_url = fields.String(load_default=None, allow_none=True)
    pagerduty_url = fields.String(load_default=None, allow_none=True)
    pagerduty_routing_key = fields.String(load_default=None, allow_none=True)
    timeout_s = fields.Float(load_default=5.0, validate=_positive)
    retries = fields.Integer(load_default=3, validate=validate.Range(min=0, max=10))


class DemoSchema(_Section):
    enabled = fields.Boolean(load_default=True)
    intents_per_s = fields.Float(load_default=2.0, validate=_positive)
    symbols = fields.List(fields.String(), load_default=lambda: ["BTC-USD", "ETH-USD", "SOL-USD",
                                                                 "AAPL", "MSFT"])


ALPACA_URLS = {"paper": "https://paper-api.alpaca.markets", "live": "https://api.alpaca.markets"}


class AlpacaSchema(_Section):
    """The Alpaca route. Credentials come from APCA_API_KEY_ID / APCA_API_SECRET_KEY only."""

    enabled = fields.Boolean(load_default=False)
    environment = fields.String(load_default="paper", validate=validate.OneOf(tuple(ALPACA_URLS)))
    base_url = fields.String(load_default=None, allow_none=True,
                             validate=validate.URL(schemes={"http", "https"}, require_tld=False))
    dry_run = fields.Boolean(load_default=True)
    timeout_s = fields.Float(load_default=10.0, validate=_positive)
    retries = fields.Integer(load_default=3, validate=validate.Range(min=0, max=10))
    retry_backoff_s = fields.Float(load_default=0.5, validate=_non_negative)
    poll_interval_s = fields.Float(load_default=2.0, validate=_positive)


class RetentionSchema(_Section):
    days = fields.Integer(load_default=14, validate=validate.Range(min=1))


def _section(schema: type[Schema]) -> fields.Nested:
    """A table whose keys all take their defaults when the table is absent."""
    return fields.Nested(schema, load_default=lambda: schema().load({}))


class ConfigSchema(_Section):
    mode = fields.String(load_default="paper", validate=validate.OneOf(MODES))
    log_dir = fields.String(load_default="logs/execution", validate=validate.Length(min=1))
    strict_instruments = fields.Boolean(load_default=False)
    journal = _section(JournalSchema)
    paper = _section(PaperSchema)
    gates = _section(GatesSchema)
    risk = _section(RiskSchema)
    breakers = _section(BreakersSchema)
    instruments = fields.List(fields.Nested(InstrumentSchema), load_default=list)
    web = _section(WebSchema)
    alerts = _section(AlertsSchema)
    demo = _section(DemoSchema)
    retention = _section(RetentionSchema)
    alpaca = _section(AlpacaSchema)


class ConfigError(ValueError):
    """A configuration value is wrong; the message names key, value and what is allowed."""


Config = Mapping[str, Any]


def load_config(overrides: Mapping[str, Any] | None = None,
                environ: Mapping[str, str] | None = None) -> Config:
    """Build the configuration: defaults <- TOML file <- environment <- overrides."""
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    path = environ.get("PEAKTRADE_CONFIG")
    if path or Path("peaktrade.toml").is_file():
        _deep_merge(merged, _read_toml(Path(path or "peaktrade.toml"), required=bool(path)))
    _deep_merge(merged, _from_environ(environ))
    if overrides:
        _deep_merge(merged, _plain(overrides))
    try:
        data = ConfigSchema().load(merged)
    except ValidationError as err:
        raise ConfigError(_explain(err.messages, merged, ConfigSchema())) from None
    return _freeze(data)


def _read_toml(path: Path, *, required: bool) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        if required:
            raise ConfigError(f"PEAKTRADE_CONFIG = {str(path)!r}: file not found") from None
        return {}
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None


def _from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in ENV_NOT_CONFIG:
            continue
        dotted = ENV_ALIASES.get(name) or name[len(ENV_PREFIX):].lower().replace("__", ".")
        node = out
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name}: {key!r} is not a table")
        node[leaf] = None if value == "" else value
    return out


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = _plain(value) if isinstance(value, Mapping) else value


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _explain(messages: Any, given: Any, schema: Schema | None = None,
             prefix: str = "") -> str:
    """One line per bad key: 'config <key> = <value>: <what is wrong and what is allowed>'."""
    lines: list[str] = []
    for key, msg in messages.items():
        dotted = f"{prefix}{key}"
        value = given.get(key) if isinstance(given, Mapping) else None
        field = schema.fields.get(key) if schema is not None and isinstance(key, str) else None
        if isinstance(msg, dict):
            if isinstance(value, list):
                sub: Any = dict(enumerate(value))
                inner = _nested_schema(field)
                lines += [_explain(item, sub.get(index), inner, f"{dotted}[{index}].")
                          if isinstance(item, dict) else
                          f"config {dotted}[{index}] = {sub.get(index)!r}: {item}"
                          for index, item in msg.items()]
                continue
            lines.append(_explain(msg, value if isinstance(value, Mapping) else {},
                                  _nested_schema(field), f"{dotted}."))
            continue
        text = " ".join(msg) if isinstance(msg, list) else str(msg)
        if text == "Unknown field.":
            allowed = ", ".join(sorted(schema.fields)) if schema is not None else "see config.py"
            text = f"unknown key; allowed here: {allowed}."
        elif text == "Not a valid boolean.":
            text = "not a valid boolean; use true/false, 1/0, yes/no or on/off."
        lines.append(f"config {dotted} = {value!r}: {text}")
    return "\n".join(lines)


def _nested_schema(field: Any) -> Schema | None:
    """The schema inside a Nested (or a List of Nested) field."""
    inner = getattr(field, "inner", None)
    if inner is not None:
        field = inner
    nested = getattr(field, "schema", None)
    return nested if isinstance(nested, Schema) else None


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value
