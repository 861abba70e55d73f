-- The engine's outbox (migration 0011): planning, claiming with budgets and
-- pacing, the check before a send, every outcome, fencing, bounded
-- attempts, reconciliation, periodic jobs, index use, and two sessions
-- claiming at once (dblink, on committed rows cleaned up at the end).
--
-- Engine clock: Tue 24 Nov 2026 10:00 UTC unless a section moves it. Every
-- account and campaign here is in UTC except a5/c5 (Asia/Tokyo, UTC+9),
-- working hours 09:00-17:00 Mon-Fri unless said otherwise.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT plan(135);

SET LOCAL timezone = 'UTC';
SELECT liauto.set_clock('2026-11-24 10:00Z');

CREATE FUNCTION pg_temp.id(p_kind text, p_n integer) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$
    SELECT ('00000000-0000-0000-0007-' || p_kind
            || lpad(p_n::text, 12 - length(p_kind), '0'))::uuid
$$;

INSERT INTO liauto.clients (id, name)
VALUES (pg_temp.id('c', 1), 'engine outbox');

-- a1: 2 invites a day, 3 a week; a3 disconnected; a4 cooling off until
-- 12:00; a5 Tokyo; a6 paced 60 s; a8 roomy, for outcomes.
INSERT INTO liauto.linkedin_accounts
    (id, client_id, name, unipile_account_id, timezone, status,
     daily_invite_limit, weekly_invite_limit, daily_message_limit,
     spacing_min_seconds, spacing_max_seconds, cooldown_until)
SELECT pg_temp.id('a', n), pg_temp.id('c', 1), 'acc ' || n,
       'outbox-' || n, tz, st, inv, wk, msg, smin, smax, cool::timestamptz
FROM (VALUES (1, 'UTC', 'ok', 2, 3, 2, 0, 0, NULL),
             (3, 'UTC', 'credentials', 25, 100, 100, 0, 0, NULL),
             (4, 'UTC', 'ok', 25, 100, 100, 0, 0, '2026-11-24 12:00Z'),
             (5, 'Asia/Tokyo', 'ok', 25, 100, 100, 0, 0, NULL),
             (6, 'UTC', 'ok', 25, 100, 100, 60, 60, NULL),
             (8, 'UTC', 'ok', 25, 100, 100, 0, 0, NULL))
     AS x(n, tz, st, inv, wk, msg, smin, smax, cool);

-- c1..c8 on account aN; c2 paused. Steps: invite now, message after 1
-- working day, message after 2.
INSERT INTO liauto.campaigns
    (id, client_id, linkedin_account_id, name, status, timezone,
     sequence, started_at, paused_at)
SELECT pg_temp.id('ca', n), pg_temp.id('c', 1), pg_temp.id('a', acc),
       'camp ' || n, st, tz, '[
           {"type": "invite", "note": "Hi {{first_name|there}}",
            "delay_days": 0},
           {"type": "message", "text": "Thanks {{first_name}}",
            "delay_days": 1},
           {"type": "message", "text": "Bye", "delay_days": 2}]',
       '2026-11-23 09:00Z',
       CASE st WHEN 'paused' THEN '2026-11-23 12:00Z'::timestamptz END
FROM (VALUES (1, 1, 'active', 'UTC'), (2, 1, 'paused', 'UTC'),
             (3, 3, 'active', 'UTC'), (4, 4, 'active', 'UTC'),
             (5, 5, 'active', 'Asia/Tokyo'), (6, 6, 'active', 'UTC'),
             (8, 8, 'active', 'UTC'))
     AS x(n, acc, st, tz);

CREATE FUNCTION pg_temp.add_lead(p_n integer, p_campaign integer,
                                 p_status text, p_step integer,
                                 p_sent timestamptz)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO liauto.leads (id, client_id, campaign_id, public_identifier,
                              first_name, custom_fields, status,
                              current_step, last_step_sent_at, error_reason,
                              created_at)
    VALUES (pg_temp.id('', p_n), pg_temp.id('c', 1),
            pg_temp.id('ca', p_campaign), 'outbox-lead-' || p_n, 'Ann',
            '{"city": "Oslo"}', p_status, p_step, p_sent,
            CASE p_status WHEN 'error' THEN 'earlier failure' END,
            '2026-11-20 08:00Z')
$$;

-- Planning candidates: what each should get is on its line.
SELECT pg_temp.add_lead(n, camp, st, step, sent::timestamptz)
FROM (VALUES
    (1, 1, 'pending', 0, NULL),                  -- invite, due now
    (2, 1, 'responded', 1, '2026-11-23 10:00Z'), -- replied
    (3, 1, 'error', 1, '2026-11-23 10:00Z'),
    (4, 1, 'completed', 3, '2026-11-23 10:00Z'),
    (5, 1, 'skipped', 0, NULL),
    (6, 1, 'withdrawn', 0, NULL),
    (7, 1, 'invite_sent', 1, '2026-11-23 10:00Z'), -- not accepted yet
    (8, 1, 'connected', 1, '2026-11-23 10:00Z'),   -- Mon+1 wd = now
    (9, 1, 'connected', 1, '2026-11-24 09:30Z'),   -- due Wed 09:30
    (10, 1, 'messaged', 3, '2026-11-20 10:00Z'),   -- sequence over
    (11, 1, 'messaged', 2, '2026-11-20 10:00Z'),   -- Fri+2 wd = Tue 10:00
    (12, 2, 'pending', 0, NULL),                   -- campaign paused
    (13, 3, 'pending', 0, NULL),                   -- account disconnected
    (14, 4, 'pending', 0, NULL),                   -- account cooling off
    (15, 5, 'pending', 0, NULL))                   -- 19:00 in Tokyo
    AS x(n, camp, st, step, sent);

CREATE FUNCTION pg_temp.planned() RETURNS SETOF text LANGUAGE sql AS $$
    SELECT concat_ws(' ', right(lead_id::text, 2), step_index, kind,
                     to_char(due_at, 'DD HH24:MI'), status)
    FROM liauto.actions ORDER BY lead_id, step_index
$$;

-- plan_due -------------------------------------------------------------
UPDATE liauto.settings SET value = 'true' WHERE key = 'scheduler_paused';
SELECT is(engine.plan_due(100), 0, 'plan: nothing while the scheduler is '
                                   'paused');
UPDATE liauto.settings SET value = 'false' WHERE key = 'scheduler_paused';

SELECT is(engine.plan_due(1), 1, 'plan: the limit bounds one call');
SELECT is(engine.plan_due(100), 3, 'plan: the other three due leads');
-- Tokyo: Tue 19:00 JST is after hours, next opening Wed 09:00 JST =
-- Wed 00:00 UTC.
SELECT results_eq('SELECT * FROM pg_temp.planned()',
    $$VALUES ('01 0 invite 24 10:00 scheduled'),
             ('08 1 message 24 10:00 scheduled'),
             ('11 2 message 24 10:00 scheduled'),
             ('15 0 invite 25 00:00 scheduled')$$,
    'plan: exactly the due leads, due at their next send time');
SELECT is(engine.plan_due(100), 0, 'plan: planning again is a no-op');
SELECT is((SELECT payload FROM liauto.actions
           WHERE lead_id = pg_temp.id('', 1)),
          jsonb_build_object(
              'template', 'Hi {{first_name|there}}',
              'unipile_account_id', 'outbox-1',
              'public_identifier', 'outbox-lead-1', 'profile_url', NULL,
              'provider_id', NULL, 'member_id', NULL,
              'conversation_id', NULL,
              'vars', '{"city": "Oslo", "first_name": "Ann"}'::jsonb),
          'plan: payload carries the unrendered template and its inputs');
SELECT is((SELECT payload ->> 'template' FROM liauto.actions
           WHERE lead_id = pg_temp.id('', 8)),
          'Thanks {{first_name}}', 'plan: a message step''s text');

-- A cancelled action is dead: the step is planned again.
UPDATE liauto.actions SET status = 'cancelled'
WHERE lead_id = pg_temp.id('', 1);
SELECT is(engine.plan_due(100), 1, 'plan: a cancelled step is re-planned');
-- Acceptance arrives for lead 7: its message becomes plannable.
UPDATE liauto.leads SET status = 'connected' WHERE id = pg_temp.id('', 7);
SELECT is(engine.plan_due(100), 1, 'plan: a message once accepted');
-- The cool-off is over at 12:00 (Tue still inside working hours).
SELECT liauto.set_clock('2026-11-24 12:00Z');
SELECT is(engine.plan_due(100), 1, 'plan: an account after its cool-off');
SELECT ok(EXISTS (SELECT FROM liauto.actions
                  WHERE lead_id = pg_temp.id('', 14)),
          'plan: ... it is lead 14''s invite');

-- claim_actions: daily and weekly limits on a1 -------------------------
DELETE FROM liauto.actions;
SELECT liauto.set_clock('2026-11-24 10:00Z');
SELECT pg_temp.add_lead(n, 1, 'pending', 0, NULL)
FROM generate_series(21, 25) AS n;
CREATE FUNCTION pg_temp.schedule(p_lead integer, p_campaign integer,
                                 p_step integer, p_due timestamptz)
RETURNS uuid LANGUAGE sql AS $$
    -- ids in lead order: actions due at the same instant go in that order
    INSERT INTO liauto.actions (id, client_id, lead_id, campaign_id,
                                account_id, kind, step_index, due_at)
    SELECT pg_temp.id('e', p_lead * 10 + p_step), pg_temp.id('c', 1),
           pg_temp.id('', p_lead), c.id,
           c.linkedin_account_id, liauto.step_kind(p_step), p_step, p_due
    FROM liauto.campaigns AS c WHERE c.id = pg_temp.id('ca', p_campaign)
    RETURNING id
$$;
SELECT pg_temp.schedule(n, 1, 0, '2026-11-24 09:00Z'::timestamptz
                                 + make_interval(mins => n))
FROM generate_series(21, 25) AS n;

CREATE TEMP TABLE claims (LIKE liauto.actions) ON COMMIT DROP;
CREATE FUNCTION pg_temp.claim() RETURNS SETOF text LANGUAGE sql AS $$
    WITH c AS (INSERT INTO claims
               SELECT * FROM engine.claim_actions('w1', 10,
                                                  interval '2 minutes')
               RETURNING *)
    SELECT right(lead_id::text, 2) FROM c ORDER BY lead_id
$$;
-- Claims and sends whatever is claimable now; the leads sent.
CREATE FUNCTION pg_temp.send_round() RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(right(c.lead_id::text, 2) || ':'
                      || engine.complete_action(c.id, c.claim_token, 'sent',
                                                'ext-' || c.id, NULL, NULL),
                      ',' ORDER BY c.lead_id)
    FROM engine.claim_actions('w1', 10, interval '2 minutes') AS c
$$;
CREATE FUNCTION pg_temp.used(p_account integer, p_day date)
RETURNS text LANGUAGE sql AS $$
    SELECT invites || '/' || messages FROM liauto.rate_usage
    WHERE account_id = pg_temp.id('a', p_account) AND day = p_day
$$;

SELECT results_eq('SELECT * FROM pg_temp.claim()', $$VALUES ('21')$$,
                  'claim: the earliest due action of the account');
SELECT is((SELECT row(status, attempts, claimed_by, lease_expires_at,
                      claimed_at, claim_token IS NOT NULL)::text
           FROM liauto.actions WHERE lead_id = pg_temp.id('', 21)),
          row('claimed', 1, 'w1', '2026-11-24 10:02Z'::timestamptz,
              '2026-11-24 10:00Z'::timestamptz, true)::text,
          'claim: claimed, attempt 1, lease now + 2 min, a token');
SELECT is(pg_temp.used(1, '2026-11-24'), '1/0',
          'claim: the unit is reserved with the claim');
SELECT is((SELECT payload ->> 'template' FROM liauto.actions
           WHERE lead_id = pg_temp.id('', 21)),
          'Hi {{first_name|there}}', 'claim: the payload is filled in');
SELECT is_empty('SELECT * FROM pg_temp.claim()',
                'claim: nothing more while the account has one in flight');
SELECT is((SELECT engine.complete_action(id, claim_token, 'sent', 'inv-21',
                                         NULL, NULL)
           FROM claims WHERE lead_id = pg_temp.id('', 21)),
          'sent', 'claim: 21 sent');
SELECT is(pg_temp.send_round(), '22:sent', 'limit: second invite of the day');
SELECT is(pg_temp.send_round(), NULL, 'limit: no third invite today');
SELECT is(pg_temp.used(1, '2026-11-24'), '2/0', 'limit: 2 of 2 used');
SELECT results_eq(
    $$SELECT right(lead_id::text, 2), status, due_at FROM liauto.actions
      WHERE account_id = pg_temp.id('a', 1) AND status = 'scheduled'
      ORDER BY lead_id$$,
    $$VALUES ('23', 'scheduled', '2026-11-25 00:00Z'::timestamptz),
             ('24', 'scheduled', '2026-11-25 00:00Z'::timestamptz),
             ('25', 'scheduled', '2026-11-25 00:00Z'::timestamptz)$$,
    'limit: the rest wait for the account''s next day (not re-scanned)');
SELECT is(pg_temp.send_round(), NULL, 'limit: a repeated call claims nothing');
SELECT is(pg_temp.used(1, '2026-11-24'), '2/0',
          'limit: and reserves nothing');
-- Wed: one more invite fits the week (2 + 1 = 3), then the weekly cap
-- holds until the 7-day window drops Tue 24: Tue 1 Dec 00:00 UTC.
SELECT liauto.set_clock('2026-11-25 10:00Z');
SELECT is(pg_temp.send_round(), '23:sent', 'weekly: third invite of the week');
SELECT is(pg_temp.send_round(), NULL, 'weekly: no fourth');
SELECT is(pg_temp.used(1, '2026-11-25'), '1/0', 'weekly: 1 on Wed');
SELECT is((SELECT array_agg(DISTINCT due_at) FROM liauto.actions
           WHERE account_id = pg_temp.id('a', 1) AND status = 'scheduled'),
          ARRAY['2026-12-01 00:00Z'::timestamptz],
          'weekly: the rest wait for the week to have room');
-- Pushed to midnight, they are still pushed into working hours.
SELECT liauto.set_clock('2026-12-01 00:00Z');
SELECT is(pg_temp.send_round(), NULL, 'hours: nothing at midnight');
SELECT is((SELECT array_agg(DISTINCT due_at) FROM liauto.actions
           WHERE account_id = pg_temp.id('a', 1) AND status = 'scheduled'),
          ARRAY['2026-12-01 09:00Z'::timestamptz],
          'hours: moved to the campaign''s opening');
SELECT liauto.set_clock('2026-12-01 09:00Z');
SELECT matches(pg_temp.send_round(), '^2[45]:sent$',
               'hours: sent at the opening');
SELECT is((SELECT count(*)::integer FROM liauto.events
           WHERE account_id = pg_temp.id('a', 1)
             AND type = 'connection_request_sent'), 4,
          'limit: 4 invites over the run, one event each');

-- Pacing: a6 waits 60 s between two claims ------------------------------
DELETE FROM liauto.actions;
SELECT liauto.set_clock('2026-11-25 10:00Z');
SELECT pg_temp.add_lead(n, 6, 'pending', 0, NULL)
FROM generate_series(31, 33) AS n;
SELECT pg_temp.schedule(n, 6, 0, '2026-11-25 09:00Z'::timestamptz
                                 + make_interval(mins => n))
FROM generate_series(31, 33) AS n;
SELECT is(pg_temp.send_round(), '31:sent', 'pacing: first send');
SELECT is((SELECT row(last_action_at, next_action_at)::text
           FROM liauto.linkedin_accounts WHERE id = pg_temp.id('a', 6)),
          row('2026-11-25 10:00Z'::timestamptz,
              '2026-11-25 10:01Z'::timestamptz)::text,
          'pacing: next action 60 s after the claim');
SELECT is(pg_temp.send_round(), NULL, 'pacing: not before');
SELECT liauto.set_clock('2026-11-25 10:00:59Z');
SELECT is(pg_temp.send_round(), NULL, 'pacing: not 1 s before');
SELECT liauto.set_clock('2026-11-25 10:01Z');
UPDATE liauto.linkedin_accounts
SET spacing_min_seconds = 30, spacing_max_seconds = 90
WHERE id = pg_temp.id('a', 6);
SELECT is(pg_temp.send_round(), '32:sent', 'pacing: sent once it is time');
SELECT ok((SELECT next_action_at - last_action_at
                  BETWEEN interval '30 s' AND interval '90 s'
           FROM liauto.linkedin_accounts WHERE id = pg_temp.id('a', 6)),
          'pacing: random spacing within 30..90 s');
-- A cooling-off account claims nothing until the cool-off ends.
UPDATE liauto.linkedin_accounts
SET cooldown_until = '2026-11-25 11:00Z', next_action_at = NULL
WHERE id = pg_temp.id('a', 6);
SELECT is(pg_temp.send_round(), NULL, 'cool-off: nothing claimed');
SELECT liauto.set_clock('2026-11-25 11:00Z');
SELECT is(pg_temp.send_round(), '33:sent', 'cool-off: claimed once over');

-- Outcomes, fencing, check_before_send on a8 (Wed 25 Nov 10:00) --------
-- Only c8 plans from here on, so plan_due's answers are about its leads.
DELETE FROM liauto.actions;
UPDATE liauto.campaigns SET status = 'completed'
WHERE client_id = pg_temp.id('c', 1) AND id <> pg_temp.id('ca', 8);
SELECT liauto.set_clock('2026-11-25 10:00Z');
-- A lead at step p_step (messaged after an earlier message for step > 0),
-- its action due now, claimed (it is the only due action).
CREATE FUNCTION pg_temp.claim_lead(p_lead integer, p_step integer)
RETURNS liauto.actions LANGUAGE sql AS $$
    SELECT pg_temp.add_lead(
        p_lead, 8, CASE p_step WHEN 0 THEN 'pending' ELSE 'messaged' END,
        p_step, CASE WHEN p_step > 0 THEN '2026-11-20 10:00Z'::timestamptz
                END);
    SELECT pg_temp.schedule(p_lead, 8, p_step, liauto.now());
    SELECT * FROM engine.claim_actions('w1', 10, interval '2 minutes');
$$;
-- Takes a lead out of the way of later claims and plans.
CREATE FUNCTION pg_temp.retire(p_n integer) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM liauto.actions WHERE lead_id = pg_temp.id('', p_n);
    UPDATE liauto.leads SET status = 'completed'
    WHERE id = pg_temp.id('', p_n);
$$;
CREATE TEMP TABLE c (n integer PRIMARY KEY, a liauto.actions)
ON COMMIT DROP;
CREATE FUNCTION pg_temp.complete(p_n integer, p_outcome text,
                                 p_ext text DEFAULT NULL,
                                 p_error text DEFAULT NULL,
                                 p_retry timestamptz DEFAULT NULL,
                                 p_chat text DEFAULT NULL)
RETURNS text LANGUAGE sql AS $$
    SELECT engine.complete_action((a).id, (a).claim_token, p_outcome, p_ext,
                                  p_error, p_retry, p_chat)
    FROM c WHERE n = p_n
$$;
CREATE FUNCTION pg_temp.action(p_n integer) RETURNS text
LANGUAGE sql AS $$
    SELECT concat_ws(' ', x.status, x.attempts,
                     to_char(x.due_at, 'DD HH24:MI'), x.external_id,
                     x.last_error)
    FROM liauto.actions AS x, c WHERE c.n = p_n AND x.id = (c.a).id
$$;
CREATE FUNCTION pg_temp.lead(p_n integer) RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(' ', status, current_step,
                     to_char(last_step_sent_at, 'DD HH24:MI'),
                     conversation_id, error_reason)
    FROM liauto.leads WHERE id = pg_temp.id('', p_n)
$$;

-- sent (invite)
INSERT INTO c SELECT 41, pg_temp.claim_lead(41, 0);
SELECT is(pg_temp.used(8, '2026-11-25'), '1/0', 'sent: unit reserved');
SELECT is(engine.check_before_send((SELECT (a).id FROM c WHERE n = 41),
                                   (SELECT (a).claim_token FROM c
                                    WHERE n = 41)),
          'ok', 'check: ours and wanted: ok');
SELECT is(engine.check_before_send((SELECT (a).id FROM c WHERE n = 41),
                                   gen_random_uuid()),
          'stale', 'check: another token: stale');
SELECT is(pg_temp.complete(41, 'sent', 'inv-41'), 'sent', 'sent: sent');
SELECT is(pg_temp.action(41), 'sent 1 25 10:00 inv-41', 'sent: action');
SELECT is(pg_temp.lead(41), 'invite_sent 1 25 10:00', 'sent: lead advances');
SELECT is((SELECT row(type, external_id, occurred_at,
                      meta ->> 'step_index')::text
           FROM liauto.events WHERE lead_id = pg_temp.id('', 41)),
          row('connection_request_sent', 'inv-41',
              '2026-11-25 10:00Z'::timestamptz, '0')::text,
          'sent: one connection_request_sent with the provider id');
SELECT is(pg_temp.complete(41, 'sent', 'inv-41'), 'stale',
          'fencing: the same completion twice is stale');
SELECT is(pg_temp.complete(41, 'retry', NULL, 'x', liauto.now()), 'stale',
          'fencing: any later transition is stale');
SELECT is((SELECT count(*)::integer FROM liauto.events
           WHERE lead_id = pg_temp.id('', 41)), 1,
          'fencing: still one event');
SELECT is(pg_temp.action(41), 'sent 1 25 10:00 inv-41',
          'fencing: action unchanged');

-- sent (last message): the lead completes and keeps the chat id
INSERT INTO c SELECT 42, pg_temp.claim_lead(42, 2);
SELECT is(pg_temp.complete(42, 'sent', 'msg-42', NULL, NULL, 'chat-42'),
          'sent', 'sent message: sent');
SELECT is(pg_temp.lead(42), 'completed 3 25 10:00 chat-42',
          'sent message: last step completes the lead, chat stored');
SELECT is((SELECT type FROM liauto.events WHERE lead_id = pg_temp.id('', 42)),
          'message_sent', 'sent message: a message_sent event');
SELECT is(pg_temp.used(8, '2026-11-25'), '1/1', 'sent message: its unit');

-- retry keeps the unit, retry_unsent gives it back
INSERT INTO c SELECT 43, pg_temp.claim_lead(43, 0);
SELECT is(pg_temp.complete(43, 'retry', NULL, 'HTTP 503',
                           '2026-11-25 10:05Z'),
          'scheduled', 'retry: scheduled');
SELECT is(pg_temp.action(43), 'scheduled 1 25 10:05 HTTP 503',
          'retry: due at the retry time, reason kept');
SELECT is(pg_temp.used(8, '2026-11-25'), '2/1', 'retry: unit kept');
SELECT is(pg_temp.lead(43), 'pending 0', 'retry: lead unchanged');
SELECT pg_temp.retire(43);
INSERT INTO c SELECT 44, pg_temp.claim_lead(44, 0);
SELECT is(pg_temp.complete(44, 'retry_unsent', NULL, 'connect refused',
                           '2026-11-25 10:05Z'),
          'scheduled', 'retry_unsent: scheduled');
SELECT is(pg_temp.used(8, '2026-11-25'), '2/1', 'retry_unsent: unit back');
SELECT pg_temp.retire(44);

-- final outcomes
INSERT INTO c SELECT 45, pg_temp.claim_lead(45, 0);
SELECT is(pg_temp.complete(45, 'final_lead', NULL, 'already invited'),
          'failed', 'final_lead: failed');
SELECT is(pg_temp.lead(45), 'error 0 already invited',
          'final_lead: lead error with the reason');
SELECT is(pg_temp.used(8, '2026-11-25'), '3/1', 'final_lead: unit kept');
INSERT INTO c SELECT 46, pg_temp.claim_lead(46, 0);
SELECT is(pg_temp.complete(46, 'final_withdrawn', NULL, 'profile gone'),
          'failed', 'final_withdrawn: failed');
SELECT is(pg_temp.lead(46), 'withdrawn 0 profile gone',
          'final_withdrawn: lead withdrawn');
INSERT INTO c SELECT 47, pg_temp.claim_lead(47, 0);
SELECT is(pg_temp.complete(47, 'final_skipped', NULL, 'blacklisted'),
          'failed', 'final_skipped: failed');
SELECT is(pg_temp.lead(47), 'skipped 0 blacklisted',
          'final_skipped: lead skipped');
SELECT is(engine.plan_due(100), 0,
          'final: no lead that ended is planned again');

-- final_limit: the day is spent, the action waits for Thu 00:00 UTC
INSERT INTO c SELECT 48, pg_temp.claim_lead(48, 0);
SELECT is(pg_temp.complete(48, 'final_limit', NULL, 'weekly limit'),
          'scheduled', 'final_limit: scheduled');
SELECT is(pg_temp.action(48), 'scheduled 0 26 00:00 weekly limit',
          'final_limit: next local day, attempt given back');
SELECT is(pg_temp.used(8, '2026-11-25'), '25/1',
          'final_limit: the day''s invites are spent');
SELECT pg_temp.retire(48);
UPDATE liauto.rate_usage SET invites = 6
WHERE account_id = pg_temp.id('a', 8);

-- account_cooloff
INSERT INTO c SELECT 49, pg_temp.claim_lead(49, 0);
SELECT throws_ok($$SELECT pg_temp.complete(49, 'account_cooloff', NULL,
                                           'HTTP 429')$$,
                 '22023', 'complete_action: account_cooloff needs a retry '
                          'time', 'account_cooloff: needs a retry time');
SELECT is(pg_temp.complete(49, 'account_cooloff', NULL, 'HTTP 429',
                           '2026-11-25 10:30Z'),
          'scheduled', 'account_cooloff: scheduled');
SELECT is(pg_temp.action(49), 'scheduled 0 25 10:30 HTTP 429',
          'account_cooloff: at the cool-off end, attempt given back');
SELECT is((SELECT cooldown_until FROM liauto.linkedin_accounts
           WHERE id = pg_temp.id('a', 8)),
          '2026-11-25 10:30Z'::timestamptz,
          'account_cooloff: the account cools off');
SELECT is(pg_temp.used(8, '2026-11-25'), '6/1', 'account_cooloff: unit back');
SELECT pg_temp.retire(49);
UPDATE liauto.linkedin_accounts SET cooldown_until = NULL
WHERE id = pg_temp.id('a', 8);

-- account_blocked
INSERT INTO c SELECT 50, pg_temp.claim_lead(50, 0);
SELECT is(pg_temp.complete(50, 'account_blocked', NULL, 'restricted'),
          'scheduled', 'account_blocked: scheduled');
SELECT is((SELECT status || ' ' || status_reason
           FROM liauto.linkedin_accounts WHERE id = pg_temp.id('a', 8)),
          'error restricted', 'account_blocked: the account stops');
SELECT is_empty($$SELECT * FROM engine.claim_actions('w1', 10, '2 min')$$,
                'account_blocked: nothing claimed for it');
SELECT pg_temp.retire(50);
UPDATE liauto.linkedin_accounts SET status = 'ok'
WHERE id = pg_temp.id('a', 8);

-- unknown
INSERT INTO c SELECT 51, pg_temp.claim_lead(51, 0);
SELECT is(pg_temp.complete(51, 'unknown', NULL, 'timeout'), 'unknown',
          'unknown: unknown');
SELECT is(pg_temp.used(8, '2026-11-25'), '7/1', 'unknown: unit kept');
SELECT is(engine.plan_due(100), 0, 'unknown: the step is not planned again');
SELECT is(pg_temp.complete(51, 'sent', 'inv-51'), 'stale',
          'unknown: the worker cannot complete it any more');
SELECT throws_ok($$SELECT engine.complete_action(gen_random_uuid(),
                                                 gen_random_uuid(), 'done',
                                                 NULL, NULL, NULL)$$,
                 '22023', 'complete_action: unknown outcome done',
                 'complete: an unknown outcome is refused');

-- check_before_send: stop on reply, pauses, lease
INSERT INTO c SELECT 52, pg_temp.claim_lead(52, 0);
UPDATE liauto.leads SET status = 'responded' WHERE id = pg_temp.id('', 52);
SELECT is(engine.check_before_send((SELECT (a).id FROM c WHERE n = 52),
                                   (SELECT (a).claim_token FROM c
                                    WHERE n = 52)),
          'lead_responded', 'reply: a reply after the claim stops the send');
SELECT is(pg_temp.action(52), 'cancelled 1 25 10:00 lead_responded',
          'reply: action cancelled');
SELECT is(pg_temp.used(8, '2026-11-25'), '7/1', 'reply: unit given back');
SELECT is(pg_temp.complete(52, 'sent', 'inv-52'), 'stale',
          'reply: a send after the cancel records nothing');
SELECT is((SELECT count(*)::integer FROM liauto.events
           WHERE lead_id = pg_temp.id('', 52)), 0, 'reply: no event');

INSERT INTO c SELECT 53, pg_temp.claim_lead(53, 0);
UPDATE liauto.campaigns SET status = 'paused', paused_at = liauto.now()
WHERE id = pg_temp.id('ca', 8);
SELECT is(engine.check_before_send((SELECT (a).id FROM c WHERE n = 53),
                                   (SELECT (a).claim_token FROM c
                                    WHERE n = 53)),
          'campaign_paused', 'check: a paused campaign cancels');
UPDATE liauto.campaigns SET status = 'active' WHERE id = pg_temp.id('ca', 8);
SELECT pg_temp.retire(53);
INSERT INTO c SELECT 54, pg_temp.claim_lead(54, 0);
UPDATE liauto.settings SET value = 'true' WHERE key = 'scheduler_paused';
SELECT is(engine.check_before_send((SELECT (a).id FROM c WHERE n = 54),
                                   (SELECT (a).claim_token FROM c
                                    WHERE n = 54)),
          'scheduler_paused', 'check: the global pause cancels');
SELECT is_empty($$SELECT * FROM engine.claim_actions('w1', 10, '2 min')$$,
                'claim: nothing while the scheduler is paused');
UPDATE liauto.settings SET value = 'false' WHERE key = 'scheduler_paused';
SELECT pg_temp.retire(54);
INSERT INTO c SELECT 59, pg_temp.claim_lead(59, 0);
UPDATE liauto.linkedin_accounts SET cooldown_until = '2026-11-25 10:20Z'
WHERE id = pg_temp.id('a', 8);
SELECT is(engine.check_before_send((SELECT (a).id FROM c WHERE n = 59),
                                   (SELECT (a).claim_token FROM c
                                    WHERE n = 59)),
          'account_cooling_off', 'check: an account cooling off waits');
SELECT is(pg_temp.action(59), 'scheduled 0 25 10:20 account_cooling_off',
          'check: rescheduled to the end of the cool-off');
UPDATE liauto.linkedin_accounts SET cooldown_until = NULL
WHERE id = pg_temp.id('a', 8);
SELECT pg_temp.retire(59);
INSERT INTO c SELECT 55, pg_temp.claim_lead(55, 0);
SELECT liauto.set_clock('2026-11-25 10:02Z');
SELECT is(engine.check_before_send((SELECT (a).id FROM c WHERE n = 55),
                                   (SELECT (a).claim_token FROM c
                                    WHERE n = 55)),
          'lease_expired', 'check: a lease that ran out: do not send');
SELECT is(pg_temp.action(55),
          'scheduled 0 25 10:02 lease expired before the send',
          'check: back to scheduled, attempt given back');
SELECT is(pg_temp.used(8, '2026-11-25'), '7/1',
          'check: the four refused units were given back');
SELECT pg_temp.retire(55);

-- Bounded attempts: the 5th failed try puts the lead in error ----------
CREATE FUNCTION pg_temp.retry_round(p_n integer) RETURNS text
LANGUAGE sql AS $$
    SELECT engine.complete_action(x.id, x.claim_token, 'retry', NULL,
                                  'HTTP 502', liauto.now())
    FROM engine.claim_actions('w1', 10, interval '2 minutes') AS x
    WHERE x.lead_id = pg_temp.id('', p_n)
$$;
SELECT pg_temp.add_lead(56, 8, 'pending', 0, NULL);
SELECT pg_temp.schedule(56, 8, 0, liauto.now());
SELECT results_eq(
    'SELECT pg_temp.retry_round(56) FROM generate_series(1, 5)',
    $$VALUES ('scheduled'), ('scheduled'), ('scheduled'), ('scheduled'),
             ('failed')$$,
    'attempts: four retries, the fifth failure gives up');
SELECT is(pg_temp.lead(56), 'error 0 gave up after 5 attempts: HTTP 502',
          'attempts: the lead says why');
SELECT is(engine.plan_due(100), 0, 'attempts: an errored lead is not '
                                   'planned again');

-- Reconciliation ------------------------------------------------------
INSERT INTO c SELECT 57, pg_temp.claim_lead(57, 0);
SELECT is_empty($$SELECT * FROM engine.expired_claims(10)
                  WHERE lead_id = pg_temp.id('', 57)$$,
                'reconcile: a live lease is not handed out');
SELECT liauto.set_clock('2026-11-25 10:05Z');
SELECT is((SELECT string_agg(right(lead_id::text, 2) || ' ' || status, ',')
           FROM engine.expired_claims(10)),
          '57 unknown', 'reconcile: the expired claim, now unknown');
SELECT is(pg_temp.complete(57, 'sent', 'inv-57'), 'stale',
          'reconcile: the late worker is fenced off');
SELECT is_empty('SELECT * FROM engine.expired_claims(10)',
                'reconcile: handed out once per 5 minutes');
SELECT is(engine.resolve_unknown((SELECT (a).id FROM c WHERE n = 57), true,
                                 'inv-57', true),
          'sent', 'reconcile: found at the provider: sent');
SELECT is(pg_temp.lead(57), 'invite_sent 1 25 10:05',
          'reconcile: the lead advances');
SELECT is((SELECT count(*)::integer FROM liauto.events
           WHERE lead_id = pg_temp.id('', 57) AND external_id = 'inv-57'),
          1, 'reconcile: one event');
SELECT is(engine.resolve_unknown((SELECT (a).id FROM c WHERE n = 57), true,
                                 'inv-57', true),
          'stale', 'reconcile: resolving twice is stale');

-- 51 (unknown since 10:00): not found -> back to scheduled, unit back
SELECT is(pg_temp.used(8, '2026-11-25'), '13/1', 'reconcile: 13 units used');
SELECT is(engine.resolve_unknown((SELECT (a).id FROM c WHERE n = 51), false,
                                 NULL, true),
          'scheduled', 'reconcile: provably not sent: scheduled');
SELECT is(pg_temp.action(51), 'scheduled 1 25 10:05 not found at the provider',
          'reconcile: due now');
SELECT is(pg_temp.used(8, '2026-11-25'), '12/1', 'reconcile: unit back');
SELECT pg_temp.retire(51);

-- cannot tell -> needs_review, never claimed again
INSERT INTO c SELECT 58, pg_temp.claim_lead(58, 0);
SELECT is(pg_temp.complete(58, 'unknown', NULL, 'timeout'), 'unknown',
          'review: unknown');
SELECT is((SELECT count(*)::integer FROM engine.expired_claims(10)), 1,
          'review: an unknown outcome is reconciliation work');
SELECT is(engine.resolve_unknown((SELECT (a).id FROM c WHERE n = 58), false,
                                 NULL, false),
          'needs_review', 'review: the provider cannot tell');
SELECT is(engine.plan_due(100), 0, 'review: the step is never re-planned');
SELECT ok(NOT EXISTS (SELECT FROM engine.claim_actions('w1', 10, '2 min')
                      WHERE lead_id = pg_temp.id('', 58)),
          'review: and never claimed');

-- Periodic jobs --------------------------------------------------------
SELECT ok(engine.try_lead_job('weekly_report', '2026-11-23 00:00Z'),
          'job: the first caller leads the period');
SELECT ok(NOT engine.try_lead_job('weekly_report', '2026-11-23 00:00Z'),
          'job: a second call for the same period does not');
SELECT ok(engine.try_lead_job('weekly_report', '2026-11-30 00:00Z'),
          'job: the next period runs');

-- Index use -----------------------------------------------------------
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
    SELECT a.id FROM liauto.linkedin_accounts AS a
    CROSS JOIN LATERAL (
        SELECT x.due_at FROM liauto.actions AS x
        WHERE x.account_id = a.id AND x.status = 'scheduled'
          AND x.due_at <= liauto.now()
        ORDER BY x.due_at LIMIT 1) AS head
    WHERE a.status = 'ok'
    ORDER BY head.due_at, a.id$$),
    'actions_account_due_idx',
    'explain: the claim''s account heads use actions_account_due_idx');
SELECT doesnt_match(pg_temp.plan_of($$
    SELECT * FROM liauto.actions AS x
    WHERE x.account_id = pg_temp.id('a', 8) AND x.status = 'scheduled'
      AND x.due_at <= liauto.now()
    ORDER BY x.due_at, x.id LIMIT 1 FOR UPDATE SKIP LOCKED$$),
    'Seq Scan',
    'explain: the per-account pick is an index scan');
SELECT matches(pg_temp.plan_of($$
    SELECT 1 FROM liauto.actions AS x
    WHERE x.lead_id = pg_temp.id('', 8) AND x.step_index = 1
      AND x.status NOT IN ('failed', 'cancelled')$$),
    'actions_live_step_key',
    'explain: plan_due''s live-step test uses actions_live_step_key');
SELECT matches(pg_temp.plan_of($$
    SELECT id FROM liauto.actions
    WHERE status = 'unknown' AND lease_expires_at <= liauto.now()
    ORDER BY lease_expires_at LIMIT 10$$),
    'actions_unknown_idx', 'explain: unknown outcomes by index');
RESET enable_seqscan;

-- Two sessions at once (dblink) ---------------------------------------
-- dblink sessions only see committed rows: the fixtures are committed by
-- a third connection and removed at the end. Campaigns work around the
-- clock so the real time of the run does not matter; each account allows
-- 2 invites a day and has 3 due.
CREATE FUNCTION pg_temp.connect(p_name text) RETURNS text
LANGUAGE sql AS $$
    SELECT dblink_connect(p_name, format(
        'host=%s port=%s dbname=%s user=%s',
        split_part(current_setting('unix_socket_directories'), ',', 1),
        current_setting('port'), current_database(), current_user))
$$;
SELECT pg_temp.connect('setup'), pg_temp.connect('s1'),
       pg_temp.connect('s2');
SELECT dblink_exec('setup', $$
    INSERT INTO liauto.clients (id, name)
    VALUES ('00000000-0000-0000-0007-d0000000000c', 'outbox race');
    INSERT INTO liauto.linkedin_accounts
        (id, client_id, name, unipile_account_id, daily_invite_limit,
         spacing_min_seconds, spacing_max_seconds)
    SELECT ('00000000-0000-0000-0007-d00000000a0' || n)::uuid,
           '00000000-0000-0000-0007-d0000000000c', 'race ' || n,
           'outbox-race-' || n, 2, 0, 0
    FROM generate_series(1, 2) AS n;
    INSERT INTO liauto.campaigns
        (id, client_id, linkedin_account_id, name, status,
         working_hours_start, working_hours_end, working_days, sequence,
         started_at)
    SELECT ('00000000-0000-0000-0007-d00000000ca' || n)::uuid,
           '00000000-0000-0000-0007-d0000000000c',
           ('00000000-0000-0000-0007-d00000000a0' || n)::uuid,
           'race ' || n, 'active', '00:00', '24:00', '{1,2,3,4,5,6,7}',
           '[{"type": "invite", "note": null, "delay_days": 0}]',
           now() - interval '1 day'
    FROM generate_series(1, 2) AS n;
    INSERT INTO liauto.leads (id, client_id, campaign_id, public_identifier)
    SELECT ('00000000-0000-0000-0007-d000000001' || a || l)::uuid,
           '00000000-0000-0000-0007-d0000000000c',
           ('00000000-0000-0000-0007-d00000000ca' || a)::uuid,
           'outbox-race-' || a || l
    FROM generate_series(1, 2) AS a, generate_series(1, 3) AS l;
    INSERT INTO liauto.actions (client_id, lead_id, campaign_id, account_id,
                                kind, step_index, due_at)
    SELECT l.client_id, l.id, l.campaign_id, c.linkedin_account_id,
           'invite', 0, now() - interval '1 hour'
    FROM liauto.leads AS l JOIN liauto.campaigns AS c
         ON c.id = l.campaign_id
    WHERE l.client_id = '00000000-0000-0000-0007-d0000000000c'$$);

CREATE TEMP TABLE race (session text, id uuid, token uuid) ON COMMIT DROP;
CREATE FUNCTION pg_temp.race_claim(p_session text) RETURNS integer
LANGUAGE sql AS $$
    WITH got AS (
        INSERT INTO race
        SELECT p_session, r.id, r.token
        FROM dblink(p_session, format(
                 'SELECT id, claim_token FROM engine.claim_actions(%L, 10, '
                 '''2 minutes'') WHERE client_id = '
                 '''00000000-0000-0000-0007-d0000000000c''', p_session))
             AS r(id uuid, token uuid)
        RETURNING 1)
    SELECT count(*)::integer FROM got
$$;
CREATE FUNCTION pg_temp.race_send(p_session text) RETURNS integer
LANGUAGE sql AS $$
    SELECT count(*)::integer
    FROM race AS r,
         LATERAL dblink(p_session, format(
             'SELECT engine.complete_action(%L, %L, ''sent'', %L, NULL, '
             'NULL)', r.id, r.token, 'race-' || r.id)) AS d(outcome text)
    WHERE r.session = p_session AND d.outcome = 'sent'
$$;

-- Deterministic interleaving: s1 holds its claims uncommitted.
SELECT dblink_exec('s1', 'BEGIN');
SELECT is(pg_temp.race_claim('s1'), 2, 'race: s1 claims one per account');
SELECT dblink_exec('s2', 'BEGIN');
SELECT is(pg_temp.race_claim('s2'), 0,
          'race: s2 skips what s1 holds (SKIP LOCKED), no waiting');
SELECT dblink_exec('s1', 'COMMIT');
SELECT is(pg_temp.race_claim('s2'), 0,
          'race: after s1 commits, its sends in flight still block s2');
SELECT dblink_exec('s2', 'COMMIT');
SELECT is(pg_temp.race_send('s1'), 2, 'race: s1 sends both');
-- Free-running rounds: both sessions claim at the same moment.
CREATE FUNCTION pg_temp.race_round() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_sent  integer;
BEGIN
    DELETE FROM race;
    PERFORM dblink_send_query(s, format(
        'SELECT id, claim_token FROM engine.claim_actions(%L, 10, '
        '''2 minutes'') WHERE client_id = '
        '''00000000-0000-0000-0007-d0000000000c''', s))
    FROM unnest(ARRAY['s1', 's2']) AS s;
    INSERT INTO race
    SELECT s, r.id, r.token
    FROM unnest(ARRAY['s1', 's2']) AS s,
         LATERAL dblink_get_result(s) AS r(id uuid, token uuid);
    -- each connection answers once more, empty, before it is free
    PERFORM FROM unnest(ARRAY['s1', 's2']) AS s,
                 LATERAL dblink_get_result(s) AS r(id uuid, token uuid);
    v_sent := pg_temp.race_send('s1') + pg_temp.race_send('s2');
    RETURN v_sent;
END
$$;
SELECT is((SELECT sum(pg_temp.race_round())::integer
           FROM generate_series(1, 4)),
          2, 'race: 4 concurrent rounds send exactly the 2 left in budget');
SELECT is((SELECT string_agg(l, ',' ORDER BY l) FROM dblink('setup', $$
               SELECT account_id || ':' || invites FROM liauto.rate_usage
               WHERE account_id::text LIKE '00000000-0000-0000-0007-d%'$$)
               AS t(l text)),
          '00000000-0000-0000-0007-d00000000a01:2,'
          '00000000-0000-0000-0007-d00000000a02:2',
          'race: each account used exactly its 2 invites');
SELECT is((SELECT row(sent, dup, left_)::text FROM dblink('setup', $$
               SELECT count(*) FILTER (WHERE status = 'sent'),
                      count(*) - count(DISTINCT lead_id),
                      count(*) FILTER (WHERE status = 'scheduled')
               FROM liauto.actions
               WHERE client_id = '00000000-0000-0000-0007-d0000000000c'$$)
               AS t(sent bigint, dup bigint, left_ bigint)),
          row(4, 0, 2)::text,
          'race: 4 sent, no action twice, one per account left');
SELECT is((SELECT n FROM dblink('setup', $$
               SELECT count(*) FROM liauto.events
               WHERE client_id = '00000000-0000-0000-0007-d0000000000c'$$)
               AS t(n bigint)), 4::bigint, 'race: 4 events');

-- A period another session is running (uncommitted) or ran is not run
-- here, and this session does not wait for it.
SELECT dblink_exec('s1', 'BEGIN');
SELECT is((SELECT t FROM dblink('s1', $$SELECT engine.try_lead_job(
               'race_job', '2026-01-02 00:00Z')$$) AS r(t boolean)),
          true, 'job: s1 leads a period (uncommitted)');
SELECT ok(NOT engine.try_lead_job('race_job', '2026-01-02 00:00Z'),
          'job: meanwhile this session does not lead it, without waiting');
SELECT dblink_exec('s1', 'COMMIT');
SELECT ok(NOT engine.try_lead_job('race_job', '2026-01-02 00:00Z'),
          'job: nor once s1 committed it');

SELECT dblink_exec('setup', $$
    DELETE FROM liauto.lead_jobs WHERE job = 'race_job';
    DELETE FROM liauto.campaigns
    WHERE client_id = '00000000-0000-0000-0007-d0000000000c';
    DELETE FROM liauto.linkedin_accounts
    WHERE client_id = '00000000-0000-0000-0007-d0000000000c';
    DELETE FROM liauto.clients
    WHERE id = '00000000-0000-0000-0007-d0000000000c'$$);
SELECT dblink_disconnect(n) FROM unnest(ARRAY['setup', 's1', 's2']) AS n;

SELECT * FROM finish();
ROLLBACK;
