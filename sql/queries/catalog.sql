-- Writes of the catalog (companies, tariffs, trunks, plans) used by the demo loader, the
-- tests and the benchmarks. The admin's forms will reuse them.

-- name: insert_company
INSERT INTO companies (name, is_customer, is_vendor, currency, credit_limit)
VALUES (%(name)s, %(is_customer)s, %(is_vendor)s, %(currency)s, %(credit_limit)s)
RETURNING id;

-- name: insert_tariff
INSERT INTO tariffs (name, currency, description)
VALUES (%(name)s, %(currency)s, %(description)s)
RETURNING id;

-- name: copy_rates
COPY rates (tariff_id, prefix, destination, rate, initial_increment, next_increment,
            connect_fee, effective_from, effective_to, minimum_duration)
FROM STDIN;

-- name: insert_routing_plan
INSERT INTO routing_plans (name, strategy, hunt_stop_codes, allow_loss)
VALUES (%(name)s, %(strategy)s, %(hunt_stop_codes)s, %(allow_loss)s)
RETURNING id;

-- name: insert_routing_plan_entry
INSERT INTO routing_plan_entries (routing_plan_id, terminator_id, priority, weight, position)
VALUES (%(routing_plan_id)s, %(terminator_id)s, %(priority)s, %(weight)s, %(position)s);

-- name: insert_terminator
INSERT INTO terminators (company_id, name, tariff_id, tech_prefix, enabled)
VALUES (%(company_id)s, %(name)s, %(tariff_id)s, %(tech_prefix)s, %(enabled)s)
RETURNING id;

-- name: insert_gateway
INSERT INTO terminator_gateways (terminator_id, host, port, transport, position)
VALUES (%(terminator_id)s, %(host)s, %(port)s, %(transport)s, %(position)s);

-- name: insert_originator
INSERT INTO originators (company_id, name, tariff_id, routing_plan_id, tech_prefix,
                         max_call_duration, enabled)
VALUES (%(company_id)s, %(name)s, %(tariff_id)s, %(routing_plan_id)s, %(tech_prefix)s,
        %(max_call_duration)s, %(enabled)s)
RETURNING id;

-- name: insert_device
INSERT INTO devices (originator_id, network, port, transport, description)
VALUES (%(originator_id)s, %(network)s, %(port)s, %(transport)s, %(description)s);

-- name: company_id_by_name
SELECT id FROM companies WHERE name = %(name)s;
