"""Customer tariffs priced from vendor costs, and the notices customers get (docs/pricing.md).

Small steps, each its own module:

- ``rules``: markup rules read from a TOML file (per prefix range or destination: percent
  and/or fixed per minute, a minimum margin, rounding to N places) and the price one rule
  makes of a cost — exact ``Decimal``, never a float;
- ``derivation``: the cheapest (or Nth cheapest) vendor rate of every code among chosen
  vendor tariffs, priced by the first rule that matches it, as the same normalized rows
  (``DeckRate``) the rate-deck importer diffs and applies;
- ``notices``: each customer company's notice period, and the check that refuses an
  increase or closure sooner than it;
- ``rate_sheets``: the sheet (CSV and XLSX, with change flags) a customer gets when its
  tariff changes, written to the notification outbox;
- ``service``: the derivation applied through the importer (``admin.ratedecks.store``) in
  one transaction with the notice check and the rate sheets.
"""
