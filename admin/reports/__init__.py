"""Reports (DESIGN §5, issue 10): traffic and money measures by any dimension over a time range.

Every report reads a rollup (``akira_rollups()`` in sql/schema.sql: on plain PostgreSQL tables,
the minute one kept by the CDR trigger and the coarser ones fed from it, read through their
``_live`` views; continuous aggregates of the same columns on TimescaleDB), so one query layer
serves both; the raw CDRs are a source too, for checking the rollups and for the benchmark.

- ``measures``: what is counted (attempts, ASR, ACD, PDD, NER, minutes, revenue, cost, margin)
- ``dimensions``: what it is counted by (customer, vendor, destination, trunks, time)
- ``query``: a report request, checked, as one SQL statement over the chosen source
- ``charts``: server-side SVG (top-N bars, time series); no script, no CDN
"""
