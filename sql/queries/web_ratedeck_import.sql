-- The admin's rate-deck import page (admin/web/ratedeck_import.py).

-- name: web_ratedeck_mapping_names
-- The saved mappings an operator may choose for a deck, by name.
SELECT name FROM rate_deck_mappings ORDER BY name;

-- name: web_ratedeck_tariff_revision
-- The tariff's revision when its diff is made (read before the diff: a write in between makes
-- the job look stale, never fresh).
SELECT revision FROM tariffs WHERE id = %(tariff_id)s;

-- name: web_ratedeck_tariff_revision_lock
-- The same inside the applying transaction, the tariff locked as store.apply locks it.
SELECT revision FROM tariffs WHERE id = %(tariff_id)s FOR UPDATE;
