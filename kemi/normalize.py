"""Dialed and calling number normalization (DESIGN §2 step 4).

Numbers leave here as E.164 digits without ``+``. Per-trunk rewrite rules come later and will
plug in after the tech-prefix strip.
"""

from __future__ import annotations

MAX_E164_DIGITS = 15
MIN_DIGITS = 3


def strip_international(user: str) -> str:
    """Drop a leading ``+`` or ``00`` international prefix."""
    if user.startswith("+"):
        return user[1:]
    if user.startswith("00"):
        return user[2:]
    return user


def called_number(user: str) -> str | None:
    """E.164 digits of a dialed number (tech-prefix already stripped), or None when invalid."""
    digits = strip_international(user)
    if MIN_DIGITS <= len(digits) <= MAX_E164_DIGITS and digits.isdigit() and digits.isascii():
        return digits
    return None


def calling_number(user: str) -> str:
    """The caller as digits when it is a number; otherwise kept as sent (``anonymous``)."""
    digits = strip_international(user)
    return digits if digits.isdigit() and digits.isascii() else user
