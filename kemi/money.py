"""Money rules (DESIGN §4): exact decimals, billed seconds by increments, one rounding at the end.

Shared by the ingester (prices CDRs) and the simulator (shows prices), never float.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

SIXTY = Decimal(60)


def decimal_text(value: Decimal) -> str:
    """Plain notation without trailing zeros: 0.02700000 -> '0.027', 0E-8 -> '0'."""
    return f"{value.normalize():f}"


def billable_seconds(duration: Decimal) -> int:
    """Whole seconds of talk time: any started second counts (2.001 s is 3 s)."""
    return int(duration.to_integral_value(rounding=ROUND_CEILING)) if duration > 0 else 0


def billed_seconds(
    seconds: int, initial_increment: int, next_increment: int, minimum_duration: int = 0
) -> int:
    """0 if d = 0; else, with d raised to the minimum duration: ``initial`` if d <= initial,
    else initial + ceil((d - initial) / next) * next."""
    if seconds <= 0:
        return 0
    seconds = max(seconds, minimum_duration)
    if seconds <= initial_increment:
        return initial_increment
    rest = seconds - initial_increment
    steps = -(-rest // next_increment)  # ceiling division on ints
    return initial_increment + steps * next_increment


def call_cost(
    *,
    answered: bool,
    duration: Decimal,
    rate: Decimal,
    initial_increment: int,
    next_increment: int,
    connect_fee: Decimal,
    precision: int,
    minimum_duration: int = 0,
) -> tuple[int, Decimal]:
    """(billed seconds, cost) of one call attempt; unanswered attempts cost nothing.

    Cost = connect fee + billed seconds x rate / 60, rounded once (half up) to ``precision``
    decimal places.
    """
    quantum = Decimal(1).scaleb(-precision)
    if not answered:
        return 0, Decimal(0).quantize(quantum)
    billed = billed_seconds(
        billable_seconds(duration), initial_increment, next_increment, minimum_duration
    )
    cost = connect_fee + Decimal(billed) * rate / SIXTY
    return billed, cost.quantize(quantum, rounding=ROUND_HALF_UP)
