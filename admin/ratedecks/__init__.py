"""The rate-deck importer: one reader of vendors' decks for the CLI, the admin, bench/ and tests.

A deck goes through small steps, each its own module:

- ``sheets``: the file's rows of cells (CSV in any dialect, or XLSX), numbered as a
  spreadsheet numbers them;
- ``layout``: which column holds which field (detected from the header, a named preset, or a
  mapping saved for the terminator or tariff);
- ``values`` (one cell), ``rows`` (one row), ``normalize`` (the deck, into a ``deck.Deck``):
  exact values (``Decimal`` money, whole-second increments, UTC dates, digits-only prefixes),
  every refusal a ``row N, column: message``;
- ``diff``: the deck against the tariff's current windows — new, increased, decreased,
  changed, unchanged, closed — and the writes that make the tariff say what the deck says;
- ``store``: those writes in one transaction with one audit row (history kept);
- ``export``: a tariff back out in the canonical layout (DESIGN §6).

docs/ratedecks.md says what a deck means (scheduled increases, New, Closed, omitted codes).
"""
