"""A customer tariff from vendor costs, the notice check and the rate sheet's lines (pure:
admin/pricing/derivation.py, notices.py, rate_sheets.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from admin.pricing import notices
from admin.pricing.derivation import DerivationError, VendorRate, VendorTariff, derive
from admin.pricing.notices import Kind, NoticePeriod
from admin.pricing.rate_sheets import lines
from admin.pricing.rules import parse_rules
from admin.ratedecks.diff import Category, CodeChange, Terms

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)


def vendor_rate(rate: str, destination: str = "", increments=(1, 1), fee: str = "0") -> VendorRate:
    return VendorRate(destination, D(rate), *increments, D(fee), 0)


ALPHA = VendorTariff(
    "alpha",
    {
        "44": vendor_rate("0.0100", "United Kingdom"),
        "447": vendor_rate("0.0500", "United Kingdom Mobile", (60, 60)),
        "33": vendor_rate("0.0200", "France"),
    },
)
BRAVO = VendorTariff(
    "bravo",
    {
        "44": vendor_rate("0.0080", "UK"),
        "4479": vendor_rate("0.0300", "UK Mobile Vodafone", (30, 6), "0.01"),
        "33": vendor_rate("0.0200", "France (bravo)"),
    },
)
RULES = parse_rules(
    """
    [[rule]]
    name = "mobiles"
    destination = "*mobile*"
    percent = 20
    minimum_margin = 0.004
    [[rule]]
    name = "the rest"
    percent = 10
    fixed = 0.0005
    """,
    "rules.toml",
)


def test_each_code_is_priced_from_the_cheapest_longest_prefix_of_each_vendor():
    derivation = derive([ALPHA, BRAVO], RULES)
    rates = derivation.deck.rates
    assert list(rates) == ["33", "44", "447", "4479"]
    # 44: bravo's 0.008 beats alpha's 0.01; 0.008 * 1.1 + 0.0005 = 0.0093
    assert (rates["44"].rate, derivation.sources["44"].vendor) == (D("0.0093"), "bravo")
    # 447: alpha has it at 0.05, bravo carries it under its 44 at 0.008 (as the engine routes)
    source = derivation.sources["447"]
    assert (source.vendor, source.vendor_prefix, source.cost) == ("bravo", "44", D("0.0080"))
    # a mobile: 0.008 * 1.2 = 0.0096, below cost + minimum margin 0.012
    assert rates["447"].rate == D("0.0120") and source.rule == "mobiles"
    # the name is the first vendor's holding the code itself; the terms the chosen rate's
    assert rates["447"].destination == "United Kingdom Mobile"
    assert (rates["447"].initial_increment, rates["447"].next_increment) == (1, 1)
    # 4479: bravo's own 0.03 (30/6, connect fee 0.01) beats alpha's 447 at 0.05
    assert rates["4479"].rate == D("0.0360")  # 0.03 * 1.2
    assert (rates["4479"].initial_increment, rates["4479"].next_increment) == (30, 6)
    assert rates["4479"].connect_fee == D("0.01")
    assert all(rate.effective_from is None for rate in rates.values())  # at once
    assert derivation.deck.rows == 4


def test_a_tie_goes_to_the_vendor_given_first():
    assert derive([ALPHA, BRAVO], RULES).sources["33"].vendor == "alpha"
    assert derive([BRAVO, ALPHA], RULES).sources["33"].vendor == "bravo"


def test_the_nth_cheapest_and_the_dearest_when_fewer_vendors_price_a_code():
    derivation = derive([ALPHA, BRAVO], RULES.with_rank(2))
    assert derivation.sources["44"].vendor == "alpha"  # 0.01, the second cheapest
    assert derivation.sources["447"].cost == D("0.0500")  # alpha's own 447
    only_alpha = derive([ALPHA], RULES.with_rank(3))
    assert only_alpha.sources["44"].cost == D("0.0100")


def test_a_rule_sets_increments_and_connect_fee_and_a_future_date_is_kept():
    rules = parse_rules('[[rule]]\nincrements = "60/60"\nconnect_fee = "0.02"\n')
    later = NOW + timedelta(days=7)
    rate = derive([BRAVO], rules, later).deck.rates["4479"]
    assert (rate.initial_increment, rate.next_increment, rate.connect_fee) == (60, 60, D("0.02"))
    assert rate.effective_from == later
    assert rate.rate == D("0.0300")  # no markup, 4 places


def test_codes_no_rule_prices_refuse_the_derivation():
    rules = parse_rules('[[rule]]\nprefix = "44"\npercent = 1\n', "uk.toml")
    with pytest.raises(DerivationError, match=r"no rule of uk.toml prices 1 code\(s\): 33"):
        derive([ALPHA], rules)
    with pytest.raises(DerivationError, match="price no code"):
        derive([VendorTariff("empty", {})], RULES)


def terms(rate: str, fee: str = "0", increments=(1, 1)) -> Terms:
    return Terms("X", D(rate), *increments, D(fee), 0)


def change(prefix, category, current, new, effective=NOW) -> CodeChange:
    return CodeChange(prefix, category, 1, current, new, effective)


SEVEN = NoticePeriod(1, "acme", {Kind.INCREASE: 7, Kind.CLOSURE: 7, Kind.DECREASE: 0})
TEN = NoticePeriod(2, "globex", {Kind.INCREASE: 10, Kind.CLOSURE: 3})


def test_increases_and_closures_sooner_than_the_notice_period_are_found():
    changes = [
        change("44", Category.INCREASED, terms("0.01"), terms("0.02")),
        change("45", Category.INCREASED, terms("0.01"), terms("0.02"), NOW + timedelta(days=7)),
        change("46", Category.DECREASED, terms("0.02"), terms("0.01")),
        change("47", Category.NEW, None, terms("0.01")),
        change("48", Category.CLOSED, terms("0.01"), None, NOW + timedelta(days=6)),
        # same rate, a connect fee: dearer, so an increase
        change("49", Category.CHANGED, terms("0.01"), terms("0.01", "0.05")),
        # same rate, shorter increments: cheaper
        change("50", Category.CHANGED, terms("0.01", increments=(60, 60)), terms("0.01")),
    ]
    found = notices.check(changes, [SEVEN], NOW)
    assert [(v.prefix, v.kind) for v in found] == [
        ("44", Kind.INCREASE),
        ("48", Kind.CLOSURE),
        ("49", Kind.INCREASE),
    ]
    assert {v.earliest for v in found} == {NOW + timedelta(days=7)}
    refused = notices.NoticeRefused("acme-usd", found)
    assert "44 (increase 0.01 → 0.02 from 2026-12-03 12:00Z)" in str(refused)
    assert "the earliest allowed date is 2026-12-10 12:00Z" in str(refused)
    assert "--at 2026-12-10T12:00:00Z" in str(refused)
    assert notices.check(changes, [], NOW) == []  # no customer, no notice owed


def test_a_tariff_of_several_customers_waits_for_the_longest_period():
    changes = [
        change("44", Category.INCREASED, terms("0.01"), terms("0.02"), NOW + timedelta(days=8)),
        change("48", Category.CLOSED, terms("0.01"), None, NOW + timedelta(days=6)),
    ]
    found = notices.check(changes, [SEVEN, TEN], NOW)
    assert [(v.prefix, v.company, v.days) for v in found] == [
        ("44", "globex", 10),
        ("48", "acme", 7),
    ]


def test_the_rate_sheet_lists_every_code_with_its_flag_previous_rate_and_date():
    later = NOW + timedelta(days=7)
    windows = [  # canonical rows after the change, in prefix then start order
        ("33", "France", "0.02", "1", "1", "0", "2026-01-01T00:00:00Z", ""),
        ("44", "UK", "0.01", "1", "1", "0", "2026-01-01T00:00:00Z", "2026-12-10T12:00:00Z"),
        ("44", "UK", "0.012", "1", "1", "0", "2026-12-10T12:00:00Z", ""),
        ("45", "UK 45", "0.009", "1", "1", "0", "2026-12-03T12:00:00Z", ""),
        ("46", "New", "0.05", "60", "60", "0", "2026-12-03T12:00:00Z", ""),
        ("47", "Closing", "0.03", "1", "1", "0", "2026-01-01T00:00:00Z", "2026-12-10T12:00:00Z"),
    ]
    changes = {
        "44": change("44", Category.INCREASED, terms("0.01"), terms("0.012"), later),
        "45": change("45", Category.DECREASED, terms("0.011"), terms("0.009")),
        "46": change("46", Category.NEW, None, terms("0.05")),
        "47": change("47", Category.CLOSED, terms("0.03"), None, later),
        "48": change("48", Category.CLOSED, terms("0.07"), None),  # closed now: no window
    }
    sheet = lines(windows, changes, "USD")
    assert [(line[0], line[2], line[3], line[5], line[6]) for line in sheet] == [
        ("33", "0.02", "0.02", "2026-01-01T00:00:00Z", "Unchanged"),
        ("44", "0.012", "0.01", "2026-12-10T12:00:00Z", "Increase"),
        ("45", "0.009", "0.011", "2026-12-03T12:00:00Z", "Decrease"),
        ("46", "0.05", "", "2026-12-03T12:00:00Z", "New"),
        ("47", "0.03", "0.03", "2026-12-10T12:00:00Z", "Closed"),
        ("48", "0.07", "0.07", "2026-12-03T12:00:00Z", "Closed"),
    ]
    assert sheet[3][7] == "60/60" and sheet[0][4] == "USD"
