-- plan_due at scale: 1,000,000 leads in 100 active campaigns on 100 ok
-- accounts, nothing due. 300,000 leads wait in a plannable status
-- (messaged, the next message 5 working days after the last one), the
-- rest wait for acceptance or are done. Prints how long plan_due(500)
-- takes: the ticks that first look at the new leads (leads.next_due_at,
-- migration 0020: at most 2,000 a tick) and then steady state. Run by
-- t/bench/run.sh, or alone with psql -f on a migrated database.
\set ON_ERROR_STOP 1
SELECT liauto.set_clock('2026-11-24 10:00Z');

INSERT INTO liauto.clients (id, name)
VALUES ('00000000-0000-0000-00be-000000000001', 'plan bench');
INSERT INTO liauto.linkedin_accounts (id, client_id, name,
                                      unipile_account_id)
SELECT ('00000000-0000-0000-00be-1' || lpad(n::text, 11, '0'))::uuid,
       '00000000-0000-0000-00be-000000000001', 'acc ' || n, 'plan-' || n
FROM generate_series(1, 100) AS n;
INSERT INTO liauto.campaigns (id, client_id, linkedin_account_id, name,
                              status, timezone, sequence, started_at)
SELECT ('00000000-0000-0000-00be-2' || lpad(n::text, 11, '0'))::uuid,
       '00000000-0000-0000-00be-000000000001',
       ('00000000-0000-0000-00be-1' || lpad(n::text, 11, '0'))::uuid,
       'plan ' || n, 'active', 'Europe/Paris', '[
           {"type": "invite", "note": "Hi {{first_name|there}}"},
           {"type": "message", "text": "Thanks", "delay_days": 3},
           {"type": "message", "text": "Bye", "delay_days": 5}]',
       '2026-10-01 09:00Z'
FROM generate_series(1, 100) AS n;
INSERT INTO liauto.leads (client_id, campaign_id, public_identifier,
                          first_name, status, current_step,
                          last_step_sent_at, error_reason)
SELECT '00000000-0000-0000-00be-000000000001',
       ('00000000-0000-0000-00be-2' || lpad((g % 100 + 1)::text, 11, '0'))
           ::uuid,
       'plan-lead-' || g, 'Lead',
       s.status, s.step, liauto.now() - interval '1 hour', NULL
FROM generate_series(1, 1000000) AS g
CROSS JOIN LATERAL (
    SELECT CASE WHEN g % 10 < 3 THEN 'messaged'
                WHEN g % 10 < 7 THEN 'invite_sent'
                WHEN g % 10 < 9 THEN 'completed'
                ELSE 'responded' END AS status,
           CASE WHEN g % 10 < 3 THEN 2
                WHEN g % 10 < 7 THEN 1
                WHEN g % 10 < 9 THEN 3
                ELSE 1 END AS step) AS s;
VACUUM ANALYZE liauto.leads;
VACUUM ANALYZE liauto.actions;

SELECT count(*) AS plannable_leads FROM liauto.leads
WHERE status IN ('pending', 'connected', 'messaged');

CREATE FUNCTION pg_temp.tick() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_start    timestamptz := clock_timestamp();
    v_planned  integer := engine.plan_due(500);
BEGIN
    RETURN format('plan_due(500) planned %s in %s ms', v_planned,
                  round(extract(epoch FROM clock_timestamp() - v_start)
                        * 1000, 1));
END
$$;
SELECT n AS tick, pg_temp.tick() FROM generate_series(1, 3) AS n;

CREATE FUNCTION pg_temp.catch_up() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_start  timestamptz := clock_timestamp();
    v_ticks  integer := 0;
BEGIN
    WHILE EXISTS (SELECT FROM liauto.leads
                  WHERE status IN ('pending', 'connected', 'messaged')
                    AND next_due_at <= liauto.now())
          AND v_ticks < 1000
    LOOP
        PERFORM engine.plan_due(500);
        v_ticks := v_ticks + 1;
    END LOOP;
    RETURN format('every lead looked at once after %s more ticks, %s s',
                  v_ticks, round(extract(epoch FROM clock_timestamp()
                                         - v_start)::numeric, 1));
END
$$;
SELECT pg_temp.catch_up();
SELECT n AS steady_tick, pg_temp.tick() FROM generate_series(1, 5) AS n;
