"""Markup rules (admin/pricing/rules.py): exact prices, first match wins, bad files refused."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from admin.pricing.rules import PrefixRange, Rule, RulesError, parse_rules


@pytest.mark.parametrize(
    ("rule", "cost", "price"),
    [
        (Rule("percent", percent=D(10)), "0.0100", "0.0110"),
        (Rule("fixed", fixed=D("0.002")), "0.01", "0.0120"),
        (Rule("both", percent=D(5), fixed=D("0.001")), "0.02", "0.0220"),
        # 0.013574 to 4 places in each mode
        (Rule("up", percent=D(10)), "0.01234", "0.0136"),
        (Rule("down", percent=D(10), rounding="down"), "0.01234", "0.0135"),
        (Rule("half-up", percent=D(10), rounding="half-up"), "0.01234", "0.0136"),
        (Rule("half-even tie", rounding="half-even"), "0.00125", "0.0012"),
        (Rule("half-up tie", rounding="half-up"), "0.00125", "0.0013"),
        (Rule("two places", percent=D(1), places=2), "0.10", "0.11"),
        (Rule("eight places", percent=D("33.333"), places=8), "0.00000003", "0.00000004"),
        # the minimum margin wins over a small markup
        (Rule("margin", percent=D(10), minimum_margin=D("0.005")), "0.001", "0.0060"),
        # and holds after rounding down: 0.01501 would round to 0.0150, below cost + margin
        (Rule("margin kept", minimum_margin=D("0.005"), rounding="down"), "0.01001", "0.0151"),
        (Rule("margin met", percent=D(50), minimum_margin=D("0.001")), "0.0100", "0.0150"),
        (Rule("no markup"), "0.12345", "0.1235"),
        (Rule("free stays free"), "0", "0.0000"),
        (Rule("a discount never goes below 0", fixed=D("-1")), "0.5", "0.0000"),
    ],
    ids=lambda value: value.name if isinstance(value, Rule) else None,
)
def test_price_is_exact(rule: Rule, cost: str, price: str):
    result = rule.price(D(cost))
    assert result == D(price)
    assert result.as_tuple().exponent == -rule.places  # rounded to exactly N places


def test_toml_numbers_are_read_as_exact_decimals():
    rules = parse_rules(
        """
        places = 5
        [[rule]]
        percent = 12.5
        fixed = 0.1
        minimum_margin = "0.003"
        """
    )
    (rule,) = rules.rules
    assert (rule.percent, rule.fixed, rule.minimum_margin) == (D("12.5"), D("0.1"), D("0.003"))
    assert isinstance(rule.fixed, D) and rule.places == 5
    assert rule.price(D("0.2")) == D("0.2 ") * D("1.125") + D("0.1")


def test_prefix_ranges():
    assert PrefixRange.parse("44").matches("4471")
    assert PrefixRange.parse("44").matches("44")
    assert not PrefixRange.parse("44").matches("4")
    span = PrefixRange.parse("4470-4479")
    assert span.matches("4475") and span.matches("447512") and span.matches("4479")
    assert not span.matches("4480") and not span.matches("447") and not span.matches("4469")
    assert str(span) == "4470-4479"


def test_the_first_matching_rule_prices_a_code():
    rules = parse_rules(
        """
        [[rule]]
        name = "UK mobile"
        prefix = ["447", "4470-4479"]
        percent = 20
        [[rule]]
        name = "mobiles"
        destination = "*mobile*"
        percent = 15
        [[rule]]
        name = "UK"
        prefix = "44"
        percent = 10
        [[rule]]
        name = "the rest"
        percent = 5
        """
    )
    assert rules.first_match("44712", "United Kingdom Mobile").name == "UK mobile"
    assert rules.first_match("3361", "France MOBILE Orange").name == "mobiles"
    assert rules.first_match("4420", "United Kingdom London").name == "UK"
    assert rules.first_match("1", "USA").name == "the rest"
    assert rules.with_rank(2).first_match("1", "USA").rank == 2


def test_both_selectors_must_match():
    rules = parse_rules('[[rule]]\nprefix = "33"\ndestination = "*Mobile*"\npercent = 1\n')
    assert rules.first_match("336", "France Mobile") is not None
    assert rules.first_match("331", "France Paris") is None
    assert rules.first_match("447", "UK Mobile") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no \\[\\[rule\\]\\]"),
        ("[[rule]]\nmarkup = 10\n", "rule 1: unknown key\\(s\\) markup"),
        ("colour = 1\n[[rule]]\n", "unknown key\\(s\\) colour"),
        ('[[rule]]\nrounding = "ceiling"\n', "rounding: 'ceiling' is not one of up"),
        ("[[rule]]\nplaces = 9\n", "places: 9 must be a whole number from 0 to 8"),
        ("[[rule]]\nrank = 0\n", "rank: 0"),
        ('[[rule]]\nprefix = "4479-4470"\n', "'4479-4470' is not a prefix"),
        ('[[rule]]\nprefix = "44x"\n', "'44x' is not a prefix"),
        ('[[rule]]\nname = "cheap"\nminimum_margin = -0.1\n', "rule 1 \\(cheap\\): minimum_margin"),
        ("[[rule]]\nfixed = 0.000000001\n", "more than 8 decimal places"),
        ('[[rule]]\nincrements = "60"\n', "increments: '60' is not F/N"),
        ('[[rule]]\npercent = "ten"\n', "percent: 'ten' is not a decimal"),
        ("[[rule]\n", "rules: "),  # not TOML
    ],
)
def test_a_bad_rules_file_is_refused_with_the_rule_and_key(text: str, message: str):
    with pytest.raises(RulesError, match=message):
        parse_rules(text)
