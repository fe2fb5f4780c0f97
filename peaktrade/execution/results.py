"""What the desk answers: order results and check verdicts (frozen values)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple


@dataclass(frozen=True, slots=True)
class OrderResult:
    """An order as the desk knows it now (REJECTED ones too: they carry the reason)."""

    order_id: str
    client_order_id: str | None
    symbol: str
    side: str
    quantity: float
    filled_quantity: float
    avg_fill_price: float | None
    price: float | None
    order_type: str
    limit_price: float | None
    tif: str
    status: str
    reason: str | None
    route: str
    source: str | None
    strategy: str | None
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id, "client_order_id": self.client_order_id,
            "symbol": self.symbol, "side": self.side, "quantity": self.quantity,
            "filled_quantity": self.filled_quantity, "avg_fill_price": self.avg_fill_price,
            "price": self.price, "order_type": self.order_type,
            "limit_price": self.limit_price, "tif": self.tif, "status": self.status,
            "reason": self.reason, "route": self.route, "source": self.source,
            "strategy": self.strategy, "created_at": self.created_at,
        }


class Check(NamedTuple):
    """One check's decision: pass, adjust or block, with the limit, value and headroom.

    A NamedTuple rather than a frozen dataclass: several are built per intent on the hot path.
    """

    gate: str
    decision: str
    code: str
    reason: str
    limit: float | str | None = None
    value: float | str | None = None
    headroom: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


@dataclass(frozen=True, slots=True)
class Verdict:
    """The overall decision on one intent: the deciding check's code and every check run."""

    symbol: str
    side: str
    quantity: float
    decision: str
    code: str | None
    reason: str
    checks: tuple[Check, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "side": self.side, "quantity": self.quantity,
                "decision": self.decision, "code": self.code, "reason": self.reason,
                "checks": [c.to_dict() for c in self.checks]}
