import pytest

from kemi.normalize import called_number, calling_number


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("447700900123", "447700900123"),
        ("+447700900123", "447700900123"),
        ("00447700900123", "447700900123"),
        ("+1234567890123456", None),  # 16 digits: longer than E.164 allows
        ("12", None),
        ("", None),
        ("4477abc", None),
        ("+", None),
        ("٤٤٧٧٠٠٩٠٠", None),  # non-ASCII digits are not dialable
    ],
)
def test_called_number(user, expected):
    assert called_number(user) == expected


def test_calling_number_keeps_non_numeric_callers():
    assert calling_number("+15550001") == "15550001"
    assert calling_number("anonymous") == "anonymous"
