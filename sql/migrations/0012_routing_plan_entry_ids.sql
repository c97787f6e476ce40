-- 0012: a routing plan's entries get an id of their own, so the admin's generic record
-- pages, API and audit log address one like any other row (the pair stays unique: a
-- terminator is in a plan once).

ALTER TABLE routing_plan_entries ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE routing_plan_entries ADD CONSTRAINT routing_plan_entries_id_key UNIQUE (id);
