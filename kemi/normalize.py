"""Number normalization (DESIGN §2 step 4): what counts as a number, the international prefix.

Numbers leave the pipeline as digits without ``+``. Real numbering plans exceed E.164's 15
digits (German fixed lines with direct-dial extensions reach 16-17), so the default range is
permissive: 3 to 32 digits; only a trunk's own range (min_digits/max_digits) is stricter.
"""

from __future__ import annotations

MIN_DIGITS = 3
MAX_DIGITS = 32


def strip_international(user: str) -> str:
    """Drop a leading ``+`` or ``00`` international prefix."""
    if user.startswith("+"):
        return user[1:]
    if user.startswith("00"):
        return user[2:]
    return user


def is_number(digits: str, shortest: int = MIN_DIGITS, longest: int = MAX_DIGITS) -> bool:
    return shortest <= len(digits) <= longest and digits.isdigit() and digits.isascii()
