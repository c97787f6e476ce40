"""The deck as Kamailio ``lcr`` tables (db_text): what an integrator precomputes for baseline (b).

Kamailio's C ``lcr`` module knows nothing about prices: a rule is a prefix with gateways in a
priority order. So the integrator turns the tariffs into rules offline, exactly as Akira's
engine decides at call time (``kemi.pipeline.decide`` with the ``least_cost`` strategy):

- one rule per prefix that any tariff has in effect at generation time (closed and future codes
  fall to their parent, as ``kemi.rates.TariffFile.match`` does), each a *stopper*, so the
  longest matching prefix alone decides, never its parents;
- its targets are the vendors with a rate for the prefix (their own longest effective code),
  ordered by that rate, ties by the plan's order; lcr priority 0, 1, 2 ... keeps that order
  exactly (equal priorities would be shuffled by weight);
- margin protection: a vendor dearer than the customer's rate for the prefix is no target; a
  prefix without a customer rate gets no rule (Akira refuses such calls too).

``predict`` replays the lookup the way ``load_gws`` does, so the bench can check before any SIP
that lcr sends every dialed number to the vendor Akira's decision picks first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from admin.catalog import RateRow

LCR_ID = 1
CUSTOMER_GROUP = 1  # permissions address group of the customer's trunks
UDP = 1  # lcr_gw.transport: 1 = udp
SIP = 1  # lcr_gw.uri_scheme: 1 = sip

# Headers and versions as Kamailio 5.6 ships them (/usr/share/kamailio/dbtext/kamailio/).
HEADERS = {
    "lcr_gw": "id(int,auto) lcr_id(int) gw_name(string,null) ip_addr(string,null) "
    "hostname(string,null) port(int,null) params(string,null) uri_scheme(int,null) "
    "transport(int,null) strip(int,null) prefix(string,null) tag(string,null) flags(int) "
    "defunct(int,null)",
    "lcr_rule": "id(int,auto) lcr_id(int) prefix(string,null) from_uri(string,null) "
    "request_uri(string,null) mt_tvalue(string,null) stopper(int) enabled(int)",
    "lcr_rule_target": "id(int,auto) lcr_id(int) rule_id(int) gw_id(int) priority(int) weight(int)",
    "address": "id(int,auto) grp(int) ip_addr(string) mask(int) port(int) tag(string,null)",
    "version": "id(int,auto) table_name(string) table_version(int)",
}
VERSIONS = {"lcr_gw": 3, "lcr_rule": 3, "lcr_rule_target": 1, "address": 6}


@dataclass(frozen=True, slots=True)
class Gateway:
    id: int
    vendor: str
    ip: str
    port: int


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    prefix: str
    targets: tuple[str, ...]  # vendor names, cheapest first


@dataclass(frozen=True)
class LcrTables:
    gateways: tuple[Gateway, ...]
    rules: tuple[Rule, ...]
    dropped_for_margin: int  # (prefix, vendor) pairs left out because dearer than the customer
    without_customer_rate: int  # prefixes with vendor rates but nothing to sell them at
    _by_prefix: dict[str, Rule] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_prefix", {rule.prefix: rule for rule in self.rules})

    @property
    def targets(self) -> int:
        return sum(len(rule.targets) for rule in self.rules)

    def predict(self, number: str) -> str | None:
        """The first vendor ``load_gws`` + ``next_gw`` pick: the longest rule (all stoppers)."""
        for length in range(len(number), 0, -1):
            rule = self._by_prefix.get(number[:length])
            if rule is not None:
                return rule.targets[0] if rule.targets else None
        return None


def effective_rates(rows: Iterable[RateRow], at: datetime) -> dict[str, Decimal]:
    """prefix -> rate in effect at ``at``; of several windows the newest effective one wins."""
    best: dict[str, tuple[datetime, Decimal]] = {}
    for row in rows:
        if row.effective_from > at or (row.effective_to is not None and at >= row.effective_to):
            continue
        current = best.get(row.prefix)
        if current is None or row.effective_from > current[0]:
            best[row.prefix] = (row.effective_from, row.rate)
    return {prefix: rate for prefix, (_, rate) in best.items()}


def longest_match(rates: Mapping[str, Decimal], prefix: str) -> Decimal | None:
    """The rate a number under ``prefix`` gets from one tariff: its longest code in effect."""
    for length in range(len(prefix), 0, -1):
        rate = rates.get(prefix[:length])
        if rate is not None:
            return rate
    return None


def build(
    tariffs: Mapping[str, Sequence[RateRow]],
    vendor_ports: Mapping[str, int],
    host: str,
    at: datetime,
) -> LcrTables:
    """Rules for every prefix in effect at ``at``; ``vendor_ports`` order is the plan's order."""
    vendors = list(vendor_ports)
    customer = effective_rates(tariffs["customer"], at)
    vendor_rates = {vendor: effective_rates(tariffs[vendor], at) for vendor in vendors}
    prefixes = set(customer).union(*(rates.keys() for rates in vendor_rates.values()))
    rules: list[Rule] = []
    dropped = unsellable = 0
    for prefix in sorted(prefixes):
        sell = longest_match(customer, prefix)
        if sell is None:
            unsellable += 1
            continue
        offers = []
        for position, vendor in enumerate(vendors):
            cost = longest_match(vendor_rates[vendor], prefix)
            if cost is None:
                continue
            if cost > sell:
                dropped += 1
                continue
            offers.append((cost, position, vendor))
        targets = tuple(vendor for _, _, vendor in sorted(offers))
        rules.append(Rule(len(rules) + 1, prefix, targets))
    gateways = tuple(
        Gateway(index + 1, vendor, host, port)
        for index, (vendor, port) in enumerate(vendor_ports.items())
    )
    return LcrTables(gateways, tuple(rules), dropped, unsellable)


def _field(value: object) -> str:
    """One db_text field: None is NULL (empty); ':' and '\\' are escaped."""
    if value is None:
        return ""
    return str(value).replace("\\", "\\\\").replace(":", "\\:").replace("\n", "\\n")


def _write(directory: Path, table: str, rows: Iterable[Sequence[object]]) -> None:
    with (directory / table).open("w", encoding="utf-8") as out:
        out.write(HEADERS[table] + "\n")
        for row in rows:
            out.write(":".join(_field(value) for value in row) + "\n")


def write(directory: Path, tables: LcrTables, customer_networks: Sequence[tuple[str, int]]) -> None:
    """The db_text database of baseline (b): lcr tables, permissions' address table, version."""
    directory.mkdir(parents=True, exist_ok=True)
    gateway_id = {gateway.vendor: gateway.id for gateway in tables.gateways}
    _write(
        directory,
        "lcr_gw",
        (
            # id lcr_id gw_name ip_addr hostname port params uri_scheme transport strip
            # prefix tag flags defunct: the vendor name is the tag, kept for the CDR
            (
                *(g.id, LCR_ID, f"vendor-{g.vendor.lower()}", g.ip, None, g.port, None),
                *(SIP, UDP, 0, None, g.vendor, 0, None),
            )
            for g in tables.gateways
        ),
    )
    _write(
        directory,
        "lcr_rule",
        ((rule.id, LCR_ID, rule.prefix, None, None, None, 1, 1) for rule in tables.rules),
    )
    targets = [
        (rule.id, priority, gateway_id[vendor])
        for rule in tables.rules
        for priority, vendor in enumerate(rule.targets)  # priority 0 is tried first
    ]
    _write(
        directory,
        "lcr_rule_target",
        (
            (index, LCR_ID, rule_id, gw_id, priority, 1)
            for index, (rule_id, priority, gw_id) in enumerate(targets, start=1)
        ),
    )
    _write(
        directory,
        "address",
        (
            (index, CUSTOMER_GROUP, ip, mask, 0, "bench-customer")
            for index, (ip, mask) in enumerate(customer_networks, start=1)
        ),
    )
    _write(
        directory,
        "version",
        ((index, table, version) for index, (table, version) in enumerate(VERSIONS.items(), 1)),
    )
