"""Every sample deck in shared/data/ratedecks reads to the table of the deck it came from (the
vendor-A deck of shared/data/numbering), for the fields its layout has; the broken samples are
refused with row-level errors (admin/ratedecks, docs/ratedecks.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from admin.ratedecks.layout import PRESETS, Layout
from admin.ratedecks.normalize import Deck, DeckErrors, read_deck

SHARED = Path(__file__).resolve().parents[1] / "data" / "shared"  # tests/data/shared/README.md
SAMPLES = SHARED / "ratedecks" / "samples"
VENDOR_A = SHARED / "numbering" / "ratedeck_50k_seed42_vendorA.csv"


# variant -> (its layout: None = detected from the header, the fields it carries)
VARIANTS: dict[str, tuple[Layout | None, tuple[str, ...]]] = {
    "variant_carrier_notification.xlsx": (
        None,
        ("destination", "rate", "initial_increment", "next_increment", "effective_from", "change"),
    ),
    "variant_ixc_semicolon_decimal_comma.csv": (PRESETS["ixc"], ("destination", "rate")),
    # its rate/call column (the preset's connect_fee) was written as 0 for every code
    "variant_syncswitch_noheader.csv": (
        PRESETS["syncswitch"],
        ("destination", "rate", "initial_increment", "next_increment"),
    ),
    "variant_freeside_cc_area.csv": (PRESETS["freeside"], ("destination", "rate")),
    "variant_us_prefix_jurisdiction.csv": (
        None,
        ("rate", "initial_increment", "next_increment", "effective_from"),
    ),
}


@pytest.fixture(scope="module")
def vendor_a() -> Deck:
    return read_deck(VENDOR_A)


def table(deck: Deck, fields: tuple[str, ...], codes: set[str] | None = None) -> dict:
    return {
        prefix: tuple(getattr(rate, name) for name in fields)
        for prefix, rate in deck.rates.items()
        if codes is None or prefix in codes
    }


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_a_variant_reads_as_the_deck_it_came_from(name, vendor_a):
    layout, fields = VARIANTS[name]
    variant = read_deck(SAMPLES / "variants" / name, layout)
    assert len(variant.rates) >= 60
    assert table(variant, fields) == table(vendor_a, fields, set(variant.rates))


def test_the_variants_hold_the_readme_codes():
    codes = set()
    for name, (layout, _) in VARIANTS.items():
        codes |= set(read_deck(SAMPLES / "variants" / name, layout).rates)
    assert len(codes) == 215 + 60  # 215 codes of seven destinations, 60 US NPA-NXX


def test_the_vendor_deck_reads_whole(vendor_a):
    assert vendor_a.rows == len(vendor_a.rates) == 50_000
    changes = {}
    for rate in vendor_a.rates.values():
        changes[rate.change] = changes.get(rate.change, 0) + 1
    assert {str(k): v for k, v in changes.items()} == {
        "unchanged": 44_143, "increase": 2_070, "decrease": 1_822, "new": 1_490, "closed": 475,
    }  # fmt: skip
    assert vendor_a.unused_columns == ["Type"]


@pytest.mark.parametrize(
    ("path", "says"),
    [
        # the export whose only row is column-shifted: a number where the name goes
        (
            "astpp/ASTPP-TERMINATION-RATES-2019-05-24-16-46-40.csv",
            "row 2, Destination: '24.9999' is a number, not a destination name",
        ),
        # rows end with a trailing comma: one field more than the header
        ("astpp/originationrates_sample.csv", "row 2, row: 8 fields, the header has 7"),
        ("astpp/terminationrates_sample.csv", "row 2, row: 9 fields, the header has 8"),
        # CGRateS' normalised tariff plan is not an A-Z deck: no rate column beside the codes
        ("cgrates_tutorial/Destinations.csv", "no header row naming a code and a rate column"),
        ("cgrates_tutorial/Rates.csv", "no header row naming a code and a rate column"),
    ],
)
def test_the_broken_samples_are_refused_by_row(path, says):
    with pytest.raises(DeckErrors) as refused:
        read_deck(SAMPLES / path)
    assert says in str(refused.value)
