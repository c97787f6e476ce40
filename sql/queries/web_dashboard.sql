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

-- name: web_traffic_window
-- The calls that ended in the last %(minutes)s minutes (a CDR is written when its call
-- ends): attempts, calls, answered calls, talk time, and those started in the last minute.
SELECT count(*) AS attempts,
       count(DISTINCT call_id) AS calls,
       count(DISTINCT call_id) FILTER (WHERE answered_at IS NOT NULL) AS answered,
       coalesce(sum(duration) FILTER (WHERE answered_at IS NOT NULL), 0)::text AS talk_seconds,
       count(DISTINCT call_id) FILTER (WHERE call_started_at > now() - interval '1 minute')
           AS last_minute
FROM cdrs
WHERE started_at > now() - make_interval(mins => %(minutes)s)
  AND ended_at > now() - make_interval(mins => %(minutes)s);

-- name: web_rejects_by_cause
SELECT reason, sip_code, count(*)::int AS attempts
FROM cdrs
WHERE started_at > now() - make_interval(mins => %(minutes)s)
  AND ended_at > now() - make_interval(mins => %(minutes)s) AND answered_at IS NULL
GROUP BY reason, sip_code ORDER BY attempts DESC LIMIT 10;
