-- api.leads_schedule (migration 0014): why a lead waits, for its own
-- tenant only.  Campaign in Europe/London, 09:00-17:00 Mon-Fri; the engine
-- clock is set so each answer is known in advance.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(6);

SET LOCAL timezone = 'UTC';

\ir lib/api_calls.sql

INSERT INTO liauto.clients (id, name) VALUES
    ('a0000000-0000-0000-0000-000000000001', 'Client A'),
    ('b0000000-0000-0000-0000-000000000001', 'Client B');
INSERT INTO liauto.linkedin_accounts (id, client_id, name, unipile_account_id,
                                      timezone)
VALUES ('a2000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001', 'Ann', 'sched-a', 'UTC');
INSERT INTO liauto.campaigns (id, client_id, linkedin_account_id, name,
                              status, timezone, sequence, started_at)
VALUES ('a3000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001',
        'a2000000-0000-0000-0000-000000000001', 'c', 'active',
        'Europe/London', '[{"type": "invite", "delay_days": 0},
                           {"type": "message", "text": "hi",
                            "delay_days": 1}]',
        '2026-11-20 09:00Z');
INSERT INTO liauto.leads (id, client_id, campaign_id, public_identifier,
                          status, created_at)
VALUES ('a4000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000001', 'ada', 'pending',
        '2026-11-20 08:00Z');

-- Saturday 28 Nov 2026, 12:00 UTC (= London): the invite waits for
-- Monday 30 Nov 09:00 London = 09:00Z
SELECT liauto.set_clock('2026-11-28 12:00Z');

SELECT is((pg_temp.call('api.leads_schedule', pg_temp.agent_a(),
                        '{a4000000-0000-0000-0000-000000000001}')
           #> '{body}') - 'detail'::text,
          '{"lead_id": "a4000000-0000-0000-0000-000000000001",
            "status": "pending", "current_step": 0, "next_step": 0,
            "reason": "weekend",
            "expected_at": "2026-11-30T09:00:00.000Z"}'::jsonb,
          'on a Saturday the invite waits for Monday 09:00 London');
SELECT ok(pg_temp.call('api.leads_schedule', pg_temp.agent_a(),
                       '{a4000000-0000-0000-0000-000000000001}')
          #>> '{body,detail}' <> '',
          'with a human sentence');

-- Tuesday 1 Dec 10:00: nothing blocks it
SELECT liauto.set_clock('2026-12-01 10:00Z');
SELECT is(pg_temp.call('api.leads_schedule', pg_temp.viewer_a(),
                       '{a4000000-0000-0000-0000-000000000001}')
          #>> '{body,reason}', 'due', 'inside working hours it is due');

-- the lead replied: nothing more is sent
UPDATE liauto.leads SET status = 'responded'
WHERE id = 'a4000000-0000-0000-0000-000000000001';
SELECT is(pg_temp.call('api.leads_schedule', pg_temp.agent_a(),
                       '{a4000000-0000-0000-0000-000000000001}')
          #>> '{body,reason}', 'responded', 'a reply stops the sequence');

SELECT is(pg_temp.err(pg_temp.call('api.leads_schedule', pg_temp.agent_b(),
                                   '{a4000000-0000-0000-0000-000000000001}')),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}'::jsonb,
          'another tenant''s lead is a 404');
SELECT is(pg_temp.call('api.leads_schedule', pg_temp.agent_a(),
                       '{a4000000-0000-0000-0000-000000000001}',
                       '{"limit": "1"}') -> 'status',
          '400'::jsonb, 'query parameters are refused');

SELECT liauto.set_clock(now());
SELECT * FROM finish();
ROLLBACK;
