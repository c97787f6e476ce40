-- The admin's dashboard and health check (admin/web/dashboard.py, admin/web/health.py).

-- name: web_catalog_counts
SELECT (SELECT count(*) FROM originators) AS originators,
       (SELECT count(*) FROM terminators) AS terminators,
       (SELECT count(*) FROM tariffs) AS tariffs;

-- name: web_recent_publications
SELECT version, published_at, published_by, originators, terminators, tariffs, rates,
       duration_ms
FROM snapshot_publications
ORDER BY version DESC
LIMIT %(limit)s;

-- name: web_health_check
SELECT 1;
