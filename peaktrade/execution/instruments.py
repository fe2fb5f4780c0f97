"""The instrument catalog: lot sizes, minimum quantities, sectors and regions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from peaktrade.config import InstrumentSchema


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable symbol and its trading rules."""

    symbol: str
    lot_size: float
    min_qty: float
    sector: str
    region: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_CATALOG: tuple[Instrument, ...] = (
    Instrument("BTC-USD", 0.0001, 0.0001, "crypto", "global"),
    Instrument("ETH-USD", 0.001, 0.001, "crypto", "global"),
    Instrument("SOL-USD", 0.01, 0.01, "crypto", "global"),
    Instrument("AAPL", 1.0, 1.0, "technology", "US"),
    Instrument("GOOGL", 1.0, 1.0, "communication", "US"),
    Instrument("MSFT", 1.0, 1.0, "technology", "US"),
    Instrument("AMZN", 1.0, 1.0, "consumer", "US"),
    Instrument("SAP", 1.0, 1.0, "technology", "EU"),
)


class Catalog:
    """Instruments by symbol: the default catalog overlaid by configured [[instruments]]."""

    def __init__(self, instruments: Iterable[Instrument], *, strict: bool = False) -> None:
        self._by_symbol = {i.symbol: i for i in instruments}
        self._unknown: dict[str, Instrument] = {}
        self.strict = strict
        self._unknown_defaults = InstrumentSchema().load({"symbol": "DEFAULT"})

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Catalog:
        """The default catalog with the configured instruments replacing or adding symbols."""
        configured = [Instrument(str(i["symbol"]).upper(), float(i["lot_size"]),
                                 float(i["min_qty"]), str(i["sector"]), str(i["region"]))
                      for i in config["instruments"]]
        return cls([*DEFAULT_CATALOG, *configured], strict=config["strict_instruments"])

    def __contains__(self, symbol: str) -> bool:
        return symbol in self._by_symbol

    def get(self, symbol: str) -> Instrument:
        """The instrument; an unknown symbol gets the configured defaults (check `known` first)."""
        found = self._by_symbol.get(symbol) or self._unknown.get(symbol)
        if found is None:
            d = self._unknown_defaults
            found = Instrument(symbol, d["lot_size"], d["min_qty"], d["sector"], d["region"])
            self._unknown[symbol] = found
        return found

    def known(self, symbol: str) -> bool:
        """Whether the symbol may be traded: always, unless strict_instruments is on."""
        return not self.strict or symbol in self._by_symbol

    def symbols(self) -> list[str]:
        return sorted(self._by_symbol)

    def all(self) -> list[Instrument]:
        return [self._by_symbol[s] for s in sorted(self._by_symbol)]
