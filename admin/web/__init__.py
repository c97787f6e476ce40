"""The operators' web UI and JSON API (Litestar, Jinja2, HTMX; docs/decisions/0004).

Start at ``app.create_app``; entities live in ``entities/``, one module each, and the generic
list machinery they declare themselves to is in ``listing``, ``table``, ``views`` and ``api``.
"""
