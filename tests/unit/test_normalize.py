import pytest

from kemi.normalize import is_number, strip_international


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("447700900123", True),
        ("4930123456789012", True),  # 16 digits: a German direct-dial extension
        ("1" * 32, True),
        ("1" * 33, False),
        ("12", False),
        ("", False),
        ("4477abc", False),
        ("٤٤٧٧٠٠٩٠٠", False),  # non-ASCII digits are not dialable
    ],
)
def test_numbers_are_3_to_32_ascii_digits_by_default(user, expected):
    assert is_number(user) is expected


def test_a_trunks_own_range_is_stricter():
    assert is_number("447700900123", 5, 12)
    assert not is_number("4477009001234", 5, 12)


@pytest.mark.parametrize(
    ("user", "expected"),
    [("+447700", "447700"), ("00447700", "447700"), ("0207", "0207"), ("+", "")],
)
def test_international_prefix(user, expected):
    assert strip_international(user) == expected
