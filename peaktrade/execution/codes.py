"""Every stable name of the desk: statuses, sides, reason codes, gate names, control actions."""

from __future__ import annotations


def _values(namespace: type) -> tuple[str, ...]:
    """The constants of a namespace class, in the order they are defined."""
    return tuple(v for k, v in vars(namespace).items() if k.isupper())


class Status:
    PENDING = "PENDING"  # sent to a broker that has not acknowledged it yet (in flight)
    NEW = "NEW"
    PARTIAL = "PARTIAL"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"

WORKING_STATUSES = frozenset({Status.PENDING, Status.NEW, Status.PARTIAL})
STATUSES = _values(Status)

class Side:
    BUY = "BUY"
    SELL = "SELL"

SIDES = _values(Side)

class OrderType:
    MARKET = "MARKET"
    LIMIT = "LIMIT"

ORDER_TYPES = _values(OrderType)

class TimeInForce:
    DAY = "DAY"
    IOC = "IOC"

TIFS = _values(TimeInForce)

SOURCES = ("API", "FORM", "WS", "CLI", "DEMO")
DEFAULT_SOURCE = "API"
RESEARCH_ONLY_TAG = "research_only"

class Decision:
    PASS = "pass"
    ADJUST = "adjust"
    BLOCK = "block"

class Code:
    """Stable reason codes of checks, rejects and cancels."""

    KILL_SWITCH = "KILL_SWITCH"
    QA_BLOCK = "QA_BLOCK"
    PRICE_SANITY = "PRICE_SANITY"
    RESEARCH_ONLY = "RESEARCH_ONLY"
    LOT_SIZE = "LOT_SIZE"
    MIN_NOTIONAL = "MIN_NOTIONAL"
    RATE_LIMIT = "RATE_LIMIT"
    MAX_NOTIONAL = "MAX_NOTIONAL"
    MAX_WEIGHT = "MAX_WEIGHT"
    MAX_GROSS = "MAX_GROSS"
    MAX_SECTOR = "MAX_SECTOR"
    MAX_REGION = "MAX_REGION"
    USER_CANCEL = "USER_CANCEL"
    IOC_UNFILLED = "IOC_UNFILLED"
    BROKER_REJECTED = "BROKER_REJECTED"
    BROKER_NOT_FOUND = "BROKER_NOT_FOUND"
    BROKER_CANCELLED = "BROKER_CANCELLED"

class Gate:
    """Check names in the order they run."""

    KILL_SWITCH = "KillSwitch"
    QA_BLOCK = "QABlock"
    BREAKER = "Breaker"
    PRICE_SANITY = "PriceSanity"
    RESEARCH_ONLY = "ResearchOnly"
    LOT_SIZE = "LotSize"
    MIN_NOTIONAL = "MinNotional"
    RATE_LIMIT = "RateLimit"
    MAX_NOTIONAL = "MaxNotional"
    MAX_WEIGHT = "MaxWeight"
    MAX_GROSS = "MaxGross"
    MAX_SECTOR = "MaxSector"
    MAX_REGION = "MaxRegion"

GATE_ORDER = _values(Gate)

class Breaker:
    """Circuit breakers; the value is the name in codes (BREAKER_<NAME>) and the UI."""

    DAILY_LOSS = "DAILY_LOSS"
    DAILY_DRAWDOWN = "DAILY_DRAWDOWN"
    TRADES_PER_DAY = "TRADES_PER_DAY"
    TRADES_PER_STRATEGY = "TRADES_PER_STRATEGY"
    LOSS_STREAK = "LOSS_STREAK"

BREAKERS = _values(Breaker)
# The [breakers] configuration key of each breaker.
BREAKER_CONFIG_KEYS = {
    Breaker.DAILY_LOSS: "max_daily_loss",
    Breaker.DAILY_DRAWDOWN: "max_daily_drawdown_pct",
    Breaker.TRADES_PER_DAY: "max_trades_per_day",
    Breaker.TRADES_PER_STRATEGY: "max_trades_per_strategy_per_day",
    Breaker.LOSS_STREAK: "max_loss_streak",
}

def breaker_code(breaker: str) -> str:
    """The reject code of a breaker: BREAKER_<NAME>."""
    return f"BREAKER_{breaker}"

class KillSwitchMode:
    HALT = "HALT"
    REDUCE_ONLY = "REDUCE_ONLY"

KILL_SWITCH_MODES = _values(KillSwitchMode)
KILL_SWITCH_ENV = "PEAKTRADE_KILL_SWITCH"
KILL_SWITCH_REASON = "Kill switch is engaged"
ENV_ON = frozenset({"1", "true", "yes", "on"})
ENV_OFF = frozenset({"", "0", "false", "no", "off"})

class Action:
    """control events: what happened to the desk's controls."""

    KILL_SWITCH_ENGAGE = "kill_switch.engage"
    KILL_SWITCH_RELEASE = "kill_switch.release"
    BREAKER_TRIP = "breaker.trip"
    BREAKER_RESET = "breaker.reset"
    QA_BLOCK = "qa.block"
    QA_UNBLOCK = "qa.unblock"
    SESSION_START = "session.start"

# What an operator may ask Desk.control to do (a trip and a session start are the desk's).
OPERATOR_ACTIONS = (Action.KILL_SWITCH_ENGAGE, Action.KILL_SWITCH_RELEASE,
                    Action.BREAKER_RESET, Action.QA_BLOCK, Action.QA_UNBLOCK)

LIVE_MODE = "live"  # the configured mode in which orders leave the process
DRY_RUN_MODE = "dry_run"  # the mode of a record journaled instead of sent
PAPER_ROUTE = "PAPER"
ALPACA_ROUTE = "ALPACA"
