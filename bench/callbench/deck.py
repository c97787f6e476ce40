"""The 50k A-Z deck as four tariffs, and the numbers the customer dials.

Only vendor A's deck exists as a file; vendors B and C are derived from it with exact Decimal
factors, chosen per code so that each of the three vendors is the cheapest for about a third of
the codes: least-cost routing then spreads calls over all three vendor UAS processes, and every
call's expected first vendor is known in advance (the CDR check relies on it). The customer's
tariff is A's deck marked up 25 %, dearer than every vendor, so margin protection drops nobody.
"""

from __future__ import annotations

import csv
import random
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from admin.catalog import EPOCH, RateRow

SHARED_DATA = Path("/work/shared/data/numbering")
DEFAULT_DECK = SHARED_DATA / "ratedeck_50k_seed42_vendorA.csv"
COUNTRY_CODES = SHARED_DATA / "e164_country_codes.csv"

CUSTOMER_MARKUP = Decimal("1.25")
CHEAPER = Decimal("0.9")
DEARER = Decimal("1.1")
RATE_STEP = Decimal("0.00000001")  # rates.rate is numeric(18, 8)
VENDORS = ("A", "B", "C")

# National significant number lengths used to pad codes into dialable numbers. libphonenumber
# is not a dependency of the project; +1 and +7 use 10 digits, elsewhere 9 digits is typical.
NSN_LENGTH = {"1": 10, "7": 10}
DEFAULT_NSN_LENGTH = 9
MAX_E164 = 15


@dataclass(frozen=True, slots=True)
class DeckRow:
    code: str
    destination: str
    rate: Decimal
    initial_increment: int
    next_increment: int
    connect_fee: Decimal
    effective: datetime
    closed: bool  # "Closed": the code stops being routable at ``effective``


def billing_increment(text: str) -> tuple[int, int]:
    """``30/6`` -> (30, 6): first period, then each following period, in seconds."""
    initial, _, following = text.partition("/")
    return int(initial), int(following or initial)


def read_deck(path: Path) -> list[DeckRow]:
    """Columns Code, Rate, Billing Increment, Connection Fee, Effective Date, Change."""
    rows = []
    with path.open(newline="", encoding="utf-8") as deck:
        for record in csv.DictReader(deck):
            initial, following = billing_increment(record["Billing Increment"])
            day = date.fromisoformat(record["Effective Date"])
            rows.append(
                DeckRow(
                    code=record["Code"],
                    destination=record["Destination"],
                    rate=Decimal(record["Rate"]),
                    initial_increment=initial,
                    next_increment=following,
                    connect_fee=Decimal(record["Connection Fee"] or "0"),
                    effective=datetime(day.year, day.month, day.day, tzinfo=UTC),
                    closed=record["Change"] == "Closed",
                )
            )
    return rows


def vendor_factor(vendor: str, code: str) -> Decimal:
    """Price factor of a vendor for one code; deterministic, so every run loads the same decks.

    crc32(code) % 3 picks the cheapest vendor: 0 -> B (x0.9), 1 -> C (x0.9), 2 -> A (x1,
    the others x1.1).
    """
    if vendor == "A":
        return Decimal(1)
    cheapest = "BCA"[zlib.crc32(code.encode()) % 3]
    return CHEAPER if cheapest == vendor else DEARER


def exact(value: Decimal) -> Decimal:
    """The value at the database's 8 decimals; refuses to round money silently."""
    stored = value.quantize(RATE_STEP)
    if stored != value:
        raise ValueError(f"{value} does not fit numeric(18, 8)")
    return stored


def rate_rows(deck: Sequence[DeckRow], factor: Callable[[str], Decimal]) -> list[RateRow]:
    """One tariff's rates; a Closed code is effective until its date, then falls to its parent."""
    return [
        RateRow(
            prefix=row.code,
            rate=exact(row.rate * factor(row.code)),
            destination=row.destination,
            initial_increment=row.initial_increment,
            next_increment=row.next_increment,
            connect_fee=row.connect_fee,
            effective_from=EPOCH if row.closed else row.effective,
            effective_to=row.effective if row.closed else None,
        )
        for row in deck
    ]


def tariffs(deck: Sequence[DeckRow]) -> dict[str, list[RateRow]]:
    """'customer' and one tariff per vendor name, all over the same codes."""
    decks = {"customer": rate_rows(deck, lambda code: CUSTOMER_MARKUP)}
    for vendor in VENDORS:
        decks[vendor] = rate_rows(deck, lambda code, v=vendor: vendor_factor(v, code))
    return decks


def country_codes(path: Path = COUNTRY_CODES) -> set[str]:
    with path.open(newline="", encoding="utf-8") as codes:
        return {record["country_code"] for record in csv.DictReader(codes)}


def number_length(code: str, codes: set[str]) -> int:
    """Digits of a full E.164 number under ``code``: country code + national number."""
    cc = next((code[:n] for n in (1, 2, 3) if code[:n] in codes), code[:3])
    nsn = NSN_LENGTH.get(cc, DEFAULT_NSN_LENGTH)
    return min(MAX_E164, max(len(cc) + nsn, len(code) + 2))


def dialed_numbers(
    deck: Sequence[DeckRow], count: int, *, seed: int = 42, now: datetime | None = None
) -> list[str]:
    """``count`` distinct numbers, one per randomly chosen open code, padded with random digits."""
    now = now or datetime.now(UTC)
    codes = country_codes()
    open_codes = sorted(row.code for row in deck if not row.closed and row.effective <= now)
    rng = random.Random(seed)
    picked = rng.sample(open_codes, min(count, len(open_codes)))
    numbers: list[str] = []
    seen: set[str] = set()
    for code in picked:
        length = number_length(code, codes)
        number = code + "".join(rng.choice("0123456789") for _ in range(length - len(code)))
        if number not in seen:
            seen.add(number)
            numbers.append(number)
    return numbers


def write_inf(path: Path, numbers: Sequence[str], *, seed: int = 42) -> None:
    """SIPp -inf file: field0 the dialed number, field1 a NANP-looking caller."""
    rng = random.Random(seed + 1)
    with path.open("w", encoding="utf-8") as inf:
        inf.write("SEQUENTIAL\n")
        for number in numbers:
            inf.write(f"{number};1{rng.randint(2012000000, 9899999999)}\n")
