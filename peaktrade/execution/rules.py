"""The configured limits the checks read, taken from the configuration once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from peaktrade.execution.codes import ALPACA_ROUTE, BREAKER_CONFIG_KEYS


@dataclass(frozen=True, slots=True)
class Rules:
    """Every limit of the desk; None means the limit is off."""

    mode: str
    starting_cash: float
    slippage_bps: float
    fee_bps: float
    min_notional: float
    price_band_pct: float
    quote_staleness_s: float
    block_research_in_live: bool
    max_notional_per_symbol: float | None
    max_weight_per_symbol: float | None
    max_gross_exposure: float | None
    max_orders_per_second: float | None
    max_sector_exposure: Mapping[str, float]
    max_region_exposure: Mapping[str, float]
    breaker_limits: Mapping[str, float]
    has_risk_limits: bool  # any pre-trade risk limit set (all are off by default)
    live_routes: frozenset[str] = frozenset()  # routes to a real broker, dry or not

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Rules:
        paper, gates, risk = config["paper"], config["gates"], config["risk"]
        breakers = config["breakers"]
        limits = {name: float(breakers[key]) for name, key in BREAKER_CONFIG_KEYS.items()
                  if breakers[key] is not None}
        return cls(
            mode=config["mode"], starting_cash=paper["starting_cash"],
            slippage_bps=paper["slippage_bps"], fee_bps=paper["fee_bps"],
            min_notional=gates["min_notional"], price_band_pct=gates["price_band_pct"],
            quote_staleness_s=gates["quote_staleness_s"],
            block_research_in_live=gates["block_research_in_live"],
            max_notional_per_symbol=risk["max_notional_per_symbol"],
            max_weight_per_symbol=risk["max_weight_per_symbol"],
            max_gross_exposure=risk["max_gross_exposure"],
            max_orders_per_second=risk["max_orders_per_second"],
            max_sector_exposure=dict(risk["max_sector_exposure"]),
            max_region_exposure=dict(risk["max_region_exposure"]),
            breaker_limits=limits,
            has_risk_limits=any(risk[key] is not None for key in (
                "max_notional_per_symbol", "max_weight_per_symbol", "max_gross_exposure",
                "max_orders_per_second")) or bool(risk["max_sector_exposure"])
            or bool(risk["max_region_exposure"]),
            live_routes=frozenset({ALPACA_ROUTE}) if config["alpaca"]["enabled"] else frozenset(),
        )
