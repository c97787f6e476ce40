"""``akira tariff derive`` joins the tariff's record actions; ``akira notices``; --help on each."""

from __future__ import annotations

import pytest

from admin.cli import build_parser


@pytest.mark.parametrize(
    "command",
    [
        ["tariff"],
        ["tariff", "derive"],
        ["tariff", "create"],
        ["tariff", "show"],
        ["notices"],
        ["notices", "set"],
        ["notices", "show"],
        ["notices", "sheets"],
        ["notices", "files"],
    ],
)
def test_every_command_has_help(command: list[str], capsys):
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([*command, "--help"])
    assert done.value.code == 0
    assert "usage: akira " + " ".join(command) in capsys.readouterr().out


def test_derive_reads_its_arguments():
    args = build_parser().parse_args(
        ["tariff", "derive", "acme-usd", "--from", "alpha-usd", "bravo-usd", "--rules", "r.toml",
         "--at", "2026-12-10", "--rank", "2", "--dry-run"]
    )  # fmt: skip
    assert (args.tariff, args.vendors, str(args.rules)) == (
        "acme-usd",
        ["alpha-usd", "bravo-usd"],
        "r.toml",
    )
    assert (args.at, args.rank, args.dry_run, args.action) == ("2026-12-10", 2, True, "derive")


def test_derive_needs_vendor_tariffs_and_rules():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["tariff", "derive", "acme-usd", "--rules", "r.toml"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["tariff", "derive", "acme-usd", "--from", "alpha-usd"])
