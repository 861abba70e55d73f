-- Migration 0034: outcomes recorded in batches (engine.complete_actions)
-- do exactly what one engine.complete_action call each does; the sent
-- event carries its variant from the start; the milestones' reply step is
-- still kept when the leads touched are looked up by key.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(14);

SET LOCAL timezone = 'UTC';
SELECT liauto.set_clock('2026-11-24 10:00Z');

INSERT INTO liauto.clients (id, name)
VALUES ('00000000-0000-0000-0034-c00000000001', 'batch');
INSERT INTO liauto.linkedin_accounts (id, client_id, name, unipile_account_id,
                                      spacing_min_seconds,
                                      spacing_max_seconds)
SELECT ('00000000-0000-0000-0034-a0000000000' || n)::uuid,
       '00000000-0000-0000-0034-c00000000001', 'acc ' || n, 'batch-' || n,
       0, 0
FROM generate_series(1, 3) AS n;
INSERT INTO liauto.campaigns (id, client_id, linkedin_account_id, name,
                              status, timezone, working_hours_start,
                              working_hours_end, working_days, sequence,
                              started_at)
SELECT ('00000000-0000-0000-0034-ca000000000' || n)::uuid,
       '00000000-0000-0000-0034-c00000000001',
       ('00000000-0000-0000-0034-a0000000000' || n)::uuid, 'batch ' || n,
       'active', 'UTC', '00:00', '24:00', '{1,2,3,4,5,6,7}',
       CASE n WHEN 3
           THEN '[{"type": "invite", "variants": ["A {{first_name}}",
                                                   "B {{first_name}}"]},
                  {"type": "message", "text": "hi"}]'
           ELSE '[{"type": "invite"}, {"type": "message", "text": "hi"}]'
       END::jsonb,
       '2026-11-23 09:00Z'
FROM generate_series(1, 3) AS n;
INSERT INTO liauto.leads (client_id, campaign_id, first_name,
                          public_identifier, created_at)
SELECT '00000000-0000-0000-0034-c00000000001',
       ('00000000-0000-0000-0034-ca000000000' || n)::uuid, 'L' || n,
       'batch-' || n, '2026-11-20Z'
FROM generate_series(1, 3) AS n;
SELECT engine.plan_due(10);

CREATE TEMP TABLE claimed AS
SELECT c.*, l.public_identifier AS who
FROM engine.claim_actions('w', 10, '5 minutes') AS c
JOIN liauto.leads AS l ON l.id = c.lead_id;
SELECT is((SELECT count(*)::integer FROM claimed), 3,
          'claim: one action of each account');

-- lead 1 sent, lead 2 retry later (unit back), lead 3 (variants) sent;
-- and a stale token
CREATE TEMP TABLE answers AS
SELECT * FROM engine.complete_actions((
    SELECT jsonb_agg(CASE c.who
        WHEN 'batch-1' THEN jsonb_build_object(
            'id', c.id, 'claim_token', c.claim_token, 'outcome', 'sent',
            'external_id', 'inv-1', 'error', NULL, 'retry_in_s', NULL,
            'conversation_id', NULL)
        WHEN 'batch-2' THEN jsonb_build_object(
            'id', c.id, 'claim_token', c.claim_token,
            'outcome', 'retry_unsent', 'error', 'HTTP 503',
            'retry_in_s', 60)
        ELSE jsonb_build_object(
            'id', c.id, 'claim_token', c.claim_token, 'outcome', 'sent')
        END ORDER BY c.who DESC)
    || jsonb_build_array(jsonb_build_object(
           'id', (SELECT id FROM claimed WHERE who = 'batch-1'),
           'claim_token', gen_random_uuid(), 'outcome', 'sent',
           'external_id', 'inv-x'))
    FROM claimed AS c));

SELECT results_eq(
    'SELECT item, status FROM answers ORDER BY item',
    $$VALUES (1, 'sent'), (2, 'scheduled'), (3, 'sent'), (4, 'stale')$$,
    'batch: one answer per outcome, by its position (3, 2, 1 by lead, '
    'then the stale token)');
SELECT results_eq(
    $$SELECT c.who, a.status, a.external_id
      FROM claimed AS c JOIN liauto.actions AS a ON a.id = c.id
      ORDER BY c.who$$,
    $$VALUES ('batch-1', 'sent', 'inv-1'), ('batch-2', 'scheduled', NULL),
             ('batch-3', 'sent', NULL)$$,
    'batch: each action as complete_action leaves it (stale changed none)');
SELECT is((SELECT a.due_at FROM claimed AS c
           JOIN liauto.actions AS a ON a.id = c.id WHERE c.who = 'batch-2'),
          '2026-11-24 10:01Z'::timestamptz,
          'batch: retry_in_s counts from the engine clock');
SELECT results_eq(
    $$SELECT l.public_identifier, l.status, l.current_step
      FROM liauto.leads AS l
      WHERE l.client_id = '00000000-0000-0000-0034-c00000000001'
      ORDER BY 1$$,
    $$VALUES ('batch-1', 'invite_sent', 1), ('batch-2', 'pending', 0),
             ('batch-3', 'invite_sent', 1)$$,
    'batch: the sent leads advance');
SELECT results_eq(
    $$SELECT u.account_id, u.invites FROM liauto.rate_usage AS u
      WHERE u.account_id IN (SELECT account_id FROM claimed)
      ORDER BY 1$$,
    $$VALUES ('00000000-0000-0000-0034-a00000000001'::uuid, 1),
             ('00000000-0000-0000-0034-a00000000002'::uuid, 0),
             ('00000000-0000-0000-0034-a00000000003'::uuid, 1)$$,
    'batch: the unsent one''s unit is back, the sent ones'' spent');
SELECT results_eq(
    $$SELECT e.external_id, e.meta ->> 'step_index', e.meta -> 'variant'
      FROM liauto.events AS e
      WHERE e.client_id = '00000000-0000-0000-0034-c00000000001'
      ORDER BY 1$$,
    $$VALUES ('inv-1', '0', NULL::jsonb),
             (NULL, '0', (SELECT payload -> 'variant' FROM claimed
                          WHERE who = 'batch-3'))$$,
    'events: one per send; the variant in the meta, also of a send '
    'without a provider id (it was only added to events that had one)');
SELECT isnt((SELECT payload -> 'variant' FROM claimed WHERE who = 'batch-3'),
            NULL, '... (the step has variants: the payload names one)');
SELECT results_eq(
    $$SELECT s.campaign_id, s.invites FROM liauto.campaign_daily_stats AS s
      WHERE s.client_id = '00000000-0000-0000-0034-c00000000001'
      ORDER BY 1$$,
    $$VALUES ('00000000-0000-0000-0034-ca0000000001'::uuid, 1),
             ('00000000-0000-0000-0034-ca0000000003'::uuid, 1)$$,
    'analytics: one invite per sent event');

-- The reply step: a reply, then a late backfilled sent event before it
SELECT set_config('test.lead', (SELECT lead_id::text FROM claimed
                                WHERE who = 'batch-1'), true);
INSERT INTO liauto.events (client_id, lead_id, campaign_id, account_id, type,
                           occurred_at, external_id)
VALUES ('00000000-0000-0000-0034-c00000000001',
        current_setting('test.lead')::uuid,
        '00000000-0000-0000-0034-ca0000000001',
        '00000000-0000-0000-0034-a00000000001', 'message_received',
        '2026-11-24 12:00Z', 'msg-in-1');
SELECT is((SELECT reply_step FROM liauto.lead_milestones
           WHERE lead_id = current_setting('test.lead')::uuid),
          0, 'milestones: the reply came after step 0');
INSERT INTO liauto.events (client_id, lead_id, campaign_id, account_id, type,
                           occurred_at, external_id, meta)
VALUES ('00000000-0000-0000-0034-c00000000001',
        current_setting('test.lead')::uuid,
        '00000000-0000-0000-0034-ca0000000001',
        '00000000-0000-0000-0034-a00000000001', 'message_sent',
        '2026-11-24 11:00Z', 'msg-out-1', '{"step_index": 1}');
SELECT is((SELECT reply_step FROM liauto.lead_milestones
           WHERE lead_id = current_setting('test.lead')::uuid),
          1, 'milestones: a sent event before the reply moves the step');

-- Bad input: nothing recorded, a clear error
SELECT throws_ok(
    $$SELECT * FROM engine.complete_actions('{"id": 1}')$$,
    '22023', 'complete_actions: need a JSON array of outcomes',
    'complete_actions: not an array');
SELECT throws_ok(
    $$SELECT * FROM engine.complete_actions('[{"id": "x"}]')$$,
    '22P02', NULL, 'complete_actions: an id that is not a uuid');
SELECT throws_ok(
    format($$SELECT * FROM engine.complete_actions('[{"id": "%s",
               "claim_token": "%s", "outcome": "retry"}]')$$,
           gen_random_uuid(), gen_random_uuid()),
    '22023', 'complete_action: retry needs a retry time',
    'complete_actions: each outcome checked like complete_action''s');

SELECT * FROM finish();
ROLLBACK;
