-- Planning by leads.next_due_at (migration 0020): plan_due looks at a lead
-- when its step can be due and moves next_due_at to the step's due time,
-- or to infinity while nothing can be planned; what could change that
-- (the lead's status or step, its action failing or being cancelled, the
-- campaign's timing) makes it look again; the bookkeeping is no updated_at
-- change; the lookup is an index range scan.
--
-- Engine clock: Tue 24 Nov 2026 10:00 UTC; campaign in UTC, Mon-Fri
-- 09:00-17:00; steps: invite now, message after 1 working day.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(16);

SET LOCAL timezone = 'UTC';
SELECT liauto.set_clock('2026-11-24 10:00Z');

INSERT INTO liauto.clients (id, name)
VALUES ('00000000-0000-0000-0020-c00000000001', 'next due');
INSERT INTO liauto.linkedin_accounts (id, client_id, name, unipile_account_id,
                                      spacing_min_seconds,
                                      spacing_max_seconds)
VALUES ('00000000-0000-0000-0020-a00000000001',
        '00000000-0000-0000-0020-c00000000001', 'acc', 'next-due', 0, 0);
INSERT INTO liauto.campaigns (id, client_id, linkedin_account_id, name,
                              status, timezone, sequence, started_at)
VALUES ('00000000-0000-0000-0020-ca0000000001',
        '00000000-0000-0000-0020-c00000000001',
        '00000000-0000-0000-0020-a00000000001', 'next due', 'active', 'UTC',
        '[{"type": "invite", "note": "Hi"},
          {"type": "message", "text": "Thanks", "delay_days": 1}]',
        '2026-11-23 09:00Z');

-- 1 pending (invite due now); 2 connected, message due Wed 09:30;
-- 3 messaged with no step left.
INSERT INTO liauto.leads (id, client_id, campaign_id, public_identifier,
                          status, current_step, last_step_sent_at,
                          created_at, updated_at)
SELECT ('00000000-0000-0000-0020-00000000000' || n)::uuid,
       '00000000-0000-0000-0020-c00000000001',
       '00000000-0000-0000-0020-ca0000000001', 'next-due-' || n, st, step,
       sent::timestamptz, '2026-11-20Z', '2026-01-01Z'
FROM (VALUES (1, 'pending', 0, NULL),
             (2, 'connected', 1, '2026-11-24 09:30Z'),
             (3, 'messaged', 2, '2026-11-20 10:00Z')) AS x(n, st, step, sent);

CREATE FUNCTION pg_temp.next_due(p_n integer) RETURNS timestamptz
LANGUAGE sql AS $$
    SELECT next_due_at FROM liauto.leads
    WHERE id = ('00000000-0000-0000-0020-00000000000' || p_n)::uuid
$$;

SELECT is(pg_temp.next_due(1), '-infinity', 'a new lead is looked at now');
SELECT is(engine.plan_due(100), 1, 'plan: the due invite');
SELECT is(pg_temp.next_due(1), 'infinity',
          'planned: not looked at while its action lives');
SELECT is(pg_temp.next_due(2), '2026-11-25 09:30Z',
          'not due: looked at again when its delay ends (1 working day)');
SELECT is(pg_temp.next_due(3), 'infinity', 'no step left: not looked at');
SELECT is((SELECT count(*)::integer FROM liauto.leads
           WHERE campaign_id = '00000000-0000-0000-0020-ca0000000001'
             AND updated_at = '2026-01-01Z'),
          3, 'the bookkeeping leaves updated_at alone');

-- What makes the planner look again.
UPDATE liauto.actions SET status = 'cancelled'
WHERE lead_id = '00000000-0000-0000-0020-000000000001';
SELECT is(pg_temp.next_due(1), '-infinity', 'a cancelled action: look again');
SELECT is(engine.plan_due(100), 1, '... and the step is planned again');
UPDATE liauto.actions SET status = 'failed'
WHERE lead_id = '00000000-0000-0000-0020-000000000001'
  AND status = 'scheduled';
SELECT is(pg_temp.next_due(1), '-infinity', 'a failed action: look again');
DELETE FROM liauto.actions
WHERE lead_id = '00000000-0000-0000-0020-000000000001';
SELECT is(engine.plan_due(100), 1, 'planned once more');
DELETE FROM liauto.actions
WHERE lead_id = '00000000-0000-0000-0020-000000000001';
SELECT is(pg_temp.next_due(1), '-infinity', 'a deleted action: look again');

UPDATE liauto.leads SET status = 'responded'
WHERE id = '00000000-0000-0000-0020-000000000002';
UPDATE liauto.leads SET status = 'connected'
WHERE id = '00000000-0000-0000-0020-000000000002';
SELECT is(pg_temp.next_due(2), '-infinity', 'a status change: look again');

-- The message delay becomes 0: lead 2 is due at once.
SELECT engine.plan_due(100);
UPDATE liauto.campaigns
SET sequence = jsonb_set(sequence, '{1,delay_days}', '0')
WHERE id = '00000000-0000-0000-0020-ca0000000001';
SELECT is(pg_temp.next_due(2), '-infinity',
          'a sequence change: every lead of the campaign looks again');
SELECT is(engine.plan_due(100), 1, '... and the shorter delay is planned');
SELECT is((SELECT string_agg(right(lead_id::text, 1) || ':' || kind, ','
                             ORDER BY lead_id)
           FROM liauto.actions WHERE status = 'scheduled'),
          '1:invite,2:message', 'the actions planned');

-- The lookup is a range scan of the partial index, per active campaign.
SET LOCAL enable_seqscan = off;
CREATE FUNCTION pg_temp.plan_of(p_sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_line  text;
    v_plan  text := '';
BEGIN
    FOR v_line IN EXECUTE 'EXPLAIN ' || p_sql LOOP
        v_plan := v_plan || v_line || E'\n';
    END LOOP;
    RETURN v_plan;
END
$$;
SELECT matches(pg_temp.plan_of($$
    SELECT l.id FROM liauto.leads AS l
    WHERE l.campaign_id = '00000000-0000-0000-0020-ca0000000001'
      AND l.status IN ('pending', 'connected', 'messaged')
      AND l.next_due_at <= liauto.now()
    ORDER BY l.next_due_at LIMIT 2000$$),
    'Index Scan using leads_campaign_next_due_idx',
    'explain: the leads to look at come from leads_campaign_next_due_idx');

SELECT * FROM finish();
ROLLBACK;
