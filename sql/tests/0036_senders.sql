-- Migration 0036: sender rotation. The sender list (PUT, validation,
-- tenants, the single-sender field), binding by remaining capacity with
-- stable ties, every sender at capacity (the lead waits, nothing over a
-- limit), a binding that never changes, a disconnected sender (its leads
-- wait, unbound ones go elsewhere), per-sender analytics.
--
-- Tue 24 Nov 2026 10:00 UTC, campaign in UTC 09:00-17:00. A1 may send 3
-- invites a day, A2 2, A3 5 but is disconnected; B1 is client B's.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(28);

\ir lib/api_calls.sql

SET LOCAL timezone = 'UTC';
SELECT liauto.set_clock('2026-11-24 10:00Z');

CREATE FUNCTION pg_temp.id(p_kind text, p_n integer) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$
    SELECT (p_kind || '000000-0000-0000-0000-0000000000'
            || lpad(p_n::text, 2, '0'))::uuid
$$;

INSERT INTO liauto.clients (id, name)
VALUES (pg_temp.id('c0', 1), 'Senders A'), (pg_temp.id('c0', 2), 'Senders B');
INSERT INTO liauto.linkedin_accounts
    (id, client_id, name, unipile_account_id, timezone, status,
     daily_invite_limit)
VALUES (pg_temp.id('a0', 1), pg_temp.id('c0', 1), 'A1', 'snd-1', 'UTC', 'ok',
        3),
       (pg_temp.id('a0', 2), pg_temp.id('c0', 1), 'A2', 'snd-2', 'UTC', 'ok',
        2),
       (pg_temp.id('a0', 3), pg_temp.id('c0', 1), 'A3', 'snd-3', 'UTC',
        'credentials', 5),
       (pg_temp.id('b0', 1), pg_temp.id('c0', 2), 'B1', 'snd-b', 'UTC', 'ok',
        5);
INSERT INTO liauto.campaigns (id, client_id, name, status, timezone,
                              sequence, started_at)
VALUES (pg_temp.id('ca', 1), pg_temp.id('c0', 1), 'Rotation', 'draft', 'UTC',
        '[{"type": "invite", "note": "Hi", "delay_days": 0},
          {"type": "message", "text": "Thanks", "delay_days": 0}]',
        '2026-11-23Z');
INSERT INTO liauto.leads (id, client_id, campaign_id, public_identifier,
                          created_at)
SELECT pg_temp.id('1e', n), pg_temp.id('c0', 1), pg_temp.id('ca', 1),
       'snd-lead-' || n, '2026-11-20Z'
FROM generate_series(1, 8) AS n;

CREATE FUNCTION pg_temp.agent_1() RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('role', 'agent', 'sub', gen_random_uuid(),
                              'client_id', pg_temp.id('c0', 1))
$$;
CREATE FUNCTION pg_temp.put(p_ids text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.call('api.campaigns_senders_put', pg_temp.agent_1(),
                        ARRAY[pg_temp.id('ca', 1)::text], '{}',
                        jsonb_build_object('account_ids', p_ids::jsonb))
$$;
-- n:account name per bound lead, in lead order
CREATE FUNCTION pg_temp.bound() RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(right(l.id::text, 1) || ':' || coalesce(a.name, '-'),
                      ' ' ORDER BY l.id)
    FROM liauto.leads AS l
    LEFT JOIN liauto.linkedin_accounts AS a ON a.id = l.sender_account_id
    WHERE l.campaign_id = pg_temp.id('ca', 1)
$$;
CREATE FUNCTION pg_temp.planned() RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(a.name || '=' || n, ' ' ORDER BY a.name), '')
    FROM (SELECT account_id, count(*) AS n FROM liauto.actions
          WHERE campaign_id = pg_temp.id('ca', 1)
            AND status NOT IN ('failed', 'cancelled')
          GROUP BY 1) AS x
    JOIN liauto.linkedin_accounts AS a ON a.id = x.account_id
$$;

-- The list ---------------------------------------------------------------
SELECT is(pg_temp.err(pg_temp.put(format('["%s", "nope", "%s", "%s", "%s"]',
              pg_temp.id('b0', 1), pg_temp.id('a0', 1), pg_temp.id('a0', 1),
              gen_random_uuid()))),
          pg_temp.invalid('{"account_ids[0]": "unknown linkedin account",
                            "account_ids[1]": "must be a UUID",
                            "account_ids[3]": "listed twice",
                            "account_ids[4]": "unknown linkedin account"}'),
          'put: one error per bad entry; client B''s account is unknown');
SELECT is(pg_temp.err(pg_temp.call('api.campaigns_senders_put',
              pg_temp.agent_1(), ARRAY[pg_temp.id('ca', 1)::text], '{}',
              '{"accounts": []}')),
          pg_temp.invalid('{"accounts": "unknown field",
                            "account_ids": "is required"}'),
          'put: account_ids is required');
SELECT is(pg_temp.call('api.campaigns_senders_put',
              jsonb_build_object('role', 'agent', 'sub', gen_random_uuid(),
                                 'client_id', pg_temp.id('c0', 2)),
              ARRAY[pg_temp.id('ca', 1)::text], '{}',
              jsonb_build_object('account_ids',
                                 jsonb_build_array(pg_temp.id('b0', 1))))
          -> 'status', '404', 'put: client B does not see the campaign');
SELECT throws_ok(format('INSERT INTO liauto.campaign_senders (campaign_id, '
                        'client_id, account_id, position) VALUES (%L, %L, '
                        '%L, 9)', pg_temp.id('ca', 1), pg_temp.id('c0', 1),
                        pg_temp.id('b0', 1)),
                 '23503', NULL,
                 'table: another client''s account cannot be a sender');
SELECT is(pg_temp.put(format('["%s", "%s", "%s"]', pg_temp.id('a0', 1),
                             pg_temp.id('a0', 2), pg_temp.id('a0', 3)))
          #> '{body,account_ids}',
          jsonb_build_array(pg_temp.id('a0', 1), pg_temp.id('a0', 2),
                            pg_temp.id('a0', 3)),
          'put: the senders in order');
SELECT is((SELECT linkedin_account_id FROM liauto.campaigns
           WHERE id = pg_temp.id('ca', 1)), pg_temp.id('a0', 1),
          'put: linkedin_account_id is the first sender');
SELECT is((pg_temp.call('api.campaigns_start', pg_temp.agent_1(),
                        ARRAY[pg_temp.id('ca', 1)::text]) -> 'status'),
          '200', 'start: a campaign with senders is ready');
SELECT is(pg_temp.err(pg_temp.put('[]')),
          pg_temp.invalid('{"account_ids": "an active campaign needs at '
                          'least one sender"}'),
          'put: an active campaign keeps a sender');

-- Binding by capacity -------------------------------------------------------
-- A1 3, A2 2, A3 disconnected: A1 (3) A1 (2 = 2, the earlier) A2 (2 > 1)
-- A1 (1 = 1) A2; then both are at capacity.
SELECT is(engine.plan_due(100), 5, 'plan: five invites, the capacity');
SELECT is(pg_temp.bound(),
          '1:A1 2:A1 3:A2 4:A1 5:A2 6:- 7:- 8:-',
          'bind: the most capacity first, ties to the earlier sender');
SELECT is(pg_temp.planned(), 'A1=3 A2=2',
          'plan: each sender''s invites within its daily limit');
SELECT is((SELECT count(*)::integer FROM liauto.leads
           WHERE campaign_id = pg_temp.id('ca', 1)
             AND sender_account_id IS NULL
             AND next_due_at = '2026-11-25 00:00Z'),
          3, 'wait: the others wait, unplanned, for the budgets'' reset');
SELECT is(engine.plan_due(100), 0, 'wait: nothing more today');
SELECT is(((pg_temp.call('api.campaigns_senders_get', pg_temp.agent_1(),
                         ARRAY[pg_temp.id('ca', 1)::text]) -> 'body')
           -> 'senders' -> 0) - 'capacity_resets_at',
          jsonb_build_object('account_id', pg_temp.id('a0', 1),
                             'name', 'A1', 'status', 'ok', 'active', true,
                             'position', 0, 'leads_bound', 3,
                             'invite_capacity', 0),
          'get: bound leads and capacity per sender');
SELECT throws_ok(format('UPDATE liauto.leads SET sender_account_id = %L '
                        'WHERE id = %L', pg_temp.id('a0', 2),
                        pg_temp.id('1e', 1)),
                 '23000', NULL, 'bind: a bound sender never changes');

-- The next day: the five invites went out; A1 disconnects.
UPDATE liauto.actions SET status = 'sent',
       claimed_at = liauto.now()
WHERE campaign_id = pg_temp.id('ca', 1);
UPDATE liauto.leads SET status = 'invite_sent', current_step = 1,
       last_step_sent_at = liauto.now()
WHERE sender_account_id IS NOT NULL;
INSERT INTO liauto.rate_usage (account_id, day, invites)
VALUES (pg_temp.id('a0', 1), '2026-11-24', 3),
       (pg_temp.id('a0', 2), '2026-11-24', 2);
UPDATE liauto.leads SET status = 'connected' WHERE id = pg_temp.id('1e', 1);
UPDATE liauto.linkedin_accounts SET status = 'credentials'
WHERE id = pg_temp.id('a0', 1);
SELECT liauto.set_clock('2026-11-25 10:00Z');

SELECT is(engine.plan_due(100), 2, 'disconnected: two invites from A2');
SELECT is(pg_temp.bound(),
          '1:A1 2:A1 3:A2 4:A1 5:A2 6:A2 7:A2 8:-',
          'disconnected: unbound leads go to the sender that may send');
SELECT is((SELECT count(*)::integer FROM liauto.actions
           WHERE lead_id = pg_temp.id('1e', 1) AND step_index = 1),
          0, 'disconnected: A1''s accepted lead waits for A1');

UPDATE liauto.linkedin_accounts SET status = 'ok'
WHERE id = pg_temp.id('a0', 1);
SELECT is(engine.plan_due(100), 2,
          'reconnected: A1 takes the last lead and sends its message');
SELECT is((SELECT account_id FROM liauto.actions
           WHERE lead_id = pg_temp.id('1e', 1) AND step_index = 1),
          pg_temp.id('a0', 1), 'reconnected: the message goes from A1');
SELECT is(pg_temp.bound(),
          '1:A1 2:A1 3:A2 4:A1 5:A2 6:A2 7:A2 8:A1',
          'reconnected: every lead bound once');
SELECT is((SELECT count(DISTINCT x.account_id)::integer
           FROM liauto.actions AS x
           WHERE x.campaign_id = pg_temp.id('ca', 1)
           GROUP BY x.lead_id ORDER BY 1 DESC LIMIT 1),
          1, 'no lead has actions from two accounts');

-- An action of another account than the lead's is not sent.
SELECT is((SELECT liauto.unwanted_reason(x) FROM liauto.actions AS x
           WHERE x.lead_id = pg_temp.id('1e', 1) AND x.step_index = 1),
          NULL, 'check: the lead''s own sender may send');
SELECT is((SELECT liauto.unwanted_reason(jsonb_populate_record(x,
                      jsonb_build_object('account_id', pg_temp.id('a0', 2))))
           FROM liauto.actions AS x
           WHERE x.lead_id = pg_temp.id('1e', 1) AND x.step_index = 1),
          'not_the_lead_sender', 'check: another account may not');

-- The single-sender field ---------------------------------------------------
SELECT is((pg_temp.call('api.campaigns_update', pg_temp.agent_1(),
               ARRAY[pg_temp.id('ca', 1)::text], '{}',
               jsonb_build_object('linkedin_account_id', pg_temp.id('a0', 2)))
           #> '{body,sender_account_ids}'),
          jsonb_build_array(pg_temp.id('a0', 2)),
          'patch: linkedin_account_id makes the only active sender');
SELECT is((SELECT string_agg(a.name || ':' || s.active, ' ' ORDER BY a.name)
           FROM liauto.campaign_senders AS s
           JOIN liauto.linkedin_accounts AS a ON a.id = s.account_id
           WHERE s.campaign_id = pg_temp.id('ca', 1)),
          'A1:false A2:true A3:false',
          'patch: the others are retired, their leads still theirs');

-- Analytics per sender ------------------------------------------------------
INSERT INTO liauto.events (client_id, lead_id, campaign_id, account_id, type,
                           occurred_at)
SELECT pg_temp.id('c0', 1), pg_temp.id('1e', n), pg_temp.id('ca', 1), acc,
       t, liauto.now()
FROM (VALUES (1, pg_temp.id('a0', 1), 'connection_request_sent'),
             (2, pg_temp.id('a0', 1), 'connection_request_sent'),
             (1, pg_temp.id('a0', 1), 'connection_accepted'),
             (1, pg_temp.id('a0', 1), 'message_sent'),
             (1, NULL, 'message_received'),
             (3, pg_temp.id('a0', 2), 'connection_request_sent'))
     AS e (n, acc, t);
SELECT is((pg_temp.call('api.campaigns_sender_analytics', pg_temp.agent_1(),
                        ARRAY[pg_temp.id('ca', 1)::text]) -> 'body')
          -> 'senders',
          jsonb_build_array(
              jsonb_build_object('account_id', pg_temp.id('a0', 2),
                  'name', 'A2', 'active', true, 'leads_bound', 4,
                  'invites', 1, 'acceptances', 0, 'messages', 0,
                  'replies', 0, 'acceptance_rate', 0.0,
                  'reply_rate', 0.0),
              jsonb_build_object('account_id', pg_temp.id('a0', 1),
                  'name', 'A1', 'active', false, 'leads_bound', 4,
                  'invites', 2, 'acceptances', 1, 'messages', 1,
                  'replies', 1, 'acceptance_rate', 0.5,
                  'reply_rate', 0.25),
              jsonb_build_object('account_id', pg_temp.id('a0', 3),
                  'name', 'A3', 'active', false, 'leads_bound', 0,
                  'invites', 0, 'acceptances', 0, 'messages', 0,
                  'replies', 0, 'acceptance_rate', NULL,
                  'reply_rate', NULL)),
          'analytics: per sender, active first');
SELECT is((pg_temp.call('api.campaigns_sender_analytics',
               jsonb_build_object('role', 'agent', 'sub', gen_random_uuid(),
                                  'client_id', pg_temp.id('c0', 2)),
               ARRAY[pg_temp.id('ca', 1)::text]) -> 'status'),
          '404', 'analytics: another client''s campaign is a 404');

SELECT * FROM finish();
ROLLBACK;
