-- liauto.explain_wait (migration 0005): every reason a lead can be
-- waiting for, with the expected instant worked out by hand.
--
-- Campaign: Europe/London (GMT in November), 09:00-17:00 Mon-Fri; steps
-- invite (no delay), message after 3 working days, message after 2.
-- Account: America/Los_Angeles (PST, UTC-8: its day starts at 08:00 UTC).
-- 24 Nov 2026 is a Tuesday. The engine clock is set per case.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(23);

SET LOCAL timezone = 'UTC';

INSERT INTO liauto.clients (id, name)
VALUES ('00000000-0000-0000-0000-00000000c004', 'engine explain');
INSERT INTO liauto.linkedin_accounts
    (id, client_id, name, unipile_account_id, timezone, daily_invite_limit,
     weekly_invite_limit)
VALUES ('00000000-0000-0000-0000-00000000a006',
        '00000000-0000-0000-0000-00000000c004', 'Ann', 'engine-explain',
        'America/Los_Angeles', 2, 100);
INSERT INTO liauto.campaigns (id, client_id, linkedin_account_id, name,
                              status, timezone, sequence, started_at)
VALUES ('00000000-0000-0000-0000-00000000ca04',
        '00000000-0000-0000-0000-00000000c004',
        '00000000-0000-0000-0000-00000000a006', 'c', 'active',
        'Europe/London', '[
            {"type": "invite", "delay_days": 0},
            {"type": "message", "text": "a", "delay_days": 3},
            {"type": "message", "text": "b", "delay_days": 2}]',
        '2026-11-20 09:00Z');

-- Leads: id suffix, status, current step, last step sent; all created
-- before the campaign started, so step 0 counts from the start.
INSERT INTO liauto.leads (id, client_id, campaign_id, public_identifier,
                          status, current_step, last_step_sent_at,
                          error_reason, created_at)
SELECT ('00000000-0000-0000-0000-0000000022' || x.n)::uuid,
       '00000000-0000-0000-0000-00000000c004',
       '00000000-0000-0000-0000-00000000ca04', 'lead-' || x.n, x.status,
       x.step, x.sent::timestamptz, x.err, '2026-11-20 08:00Z'
FROM (VALUES ('01', 'pending', 0, NULL, NULL),
             ('02', 'connected', 1, '2026-11-23 11:00Z', NULL),
             ('03', 'invite_sent', 1, '2026-11-20 11:00Z', NULL),
             ('04', 'responded', 1, '2026-11-20 11:00Z', NULL),
             ('05', 'error', 1, '2026-11-20 11:00Z',
              'template variable company is missing'),
             ('06', 'messaged', 3, '2026-11-20 11:00Z', NULL))
     AS x(n, status, step, sent, err);

-- reason, expected_at and next_step in one line.
CREATE FUNCTION pg_temp.why(p_n text) RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(' ', w ->> 'reason', coalesce(w ->> 'expected_at', '-'),
                     coalesce(w ->> 'next_step', '-'))
    FROM liauto.explain_wait(('00000000-0000-0000-0000-0000000022'
                              || p_n)::uuid) AS w
$$;
CREATE FUNCTION pg_temp.detail(p_n text) RETURNS text LANGUAGE sql AS $$
    SELECT liauto.explain_wait(('00000000-0000-0000-0000-0000000022'
                                || p_n)::uuid) ->> 'detail'
$$;

-- Tue 24 Nov 10:00 UTC = 10:00 GMT, inside working hours.
SELECT liauto.set_clock('2026-11-24 10:00Z');

-- 01: the invite, no delay, account has budget: due now.
SELECT is(pg_temp.why('01'), 'due 2026-11-24T10:00:00.000Z 0',
          'due: runs now');
-- 02: message 3 working days after Mon 23 Nov 11:00: Tue 24 (1), Wed 25
-- (2), Thu 26 (3) 11:00 GMT, inside hours.
SELECT is(pg_temp.why('02'), 'delay 2026-11-26T11:00:00.000Z 1',
          'delay: 3 working days after the invite');
SELECT matches(pg_temp.detail('02'), 'Thu 2026-11-26 11:00 Europe/London',
               'delay: the detail says when, in the campaign''s zone');
SELECT is(pg_temp.why('03'), 'waiting_for_acceptance - 1',
          'waiting_for_acceptance: a message step before acceptance');
SELECT is(pg_temp.why('04'), 'responded - 1', 'responded');
SELECT is(pg_temp.why('05'), 'error - 1', 'error');
SELECT matches(pg_temp.detail('05'), 'template variable company is missing',
               'error: the detail carries the reason');
SELECT is(pg_temp.why('06'), 'finished - -',
          'finished: past the last step');
SELECT is(liauto.explain_wait(gen_random_uuid()), NULL, 'unknown lead');

-- Tue 18:00 GMT: after closing -> Wed 25 09:00 GMT.
SELECT liauto.set_clock('2026-11-24 18:00Z');
SELECT is(pg_temp.why('01'), 'outside_working_hours 2026-11-25T09:00:00.000Z 0',
          'outside_working_hours: evening');
-- Sat 28 Nov 12:00 GMT -> Mon 30 09:00 GMT.
SELECT liauto.set_clock('2026-11-28 12:00Z');
SELECT is(pg_temp.why('01'), 'weekend 2026-11-30T09:00:00.000Z 0',
          'weekend: Saturday');
SELECT matches(pg_temp.detail('01'), 'Saturday is not a working day',
               'weekend: the detail names the day');

-- Back to Tue 10:00 GMT = Tue 02:00 PST, LA day 24 Nov.
SELECT liauto.set_clock('2026-11-24 10:00Z');
-- Use the account's 2 invites of the day.
SELECT ok(liauto.reserve_budget('00000000-0000-0000-0000-00000000a006',
                                'invite', liauto.now())
          AND liauto.reserve_budget('00000000-0000-0000-0000-00000000a006',
                                    'invite', liauto.now()),
          'two invites used on the LA 24th');
-- The LA day ends at Wed 25 08:00 UTC (midnight PST) = 08:00 GMT, before
-- the campaign's 09:00 opening -> Wed 25 09:00 UTC.
SELECT is(pg_temp.why('01'), 'daily_cap 2026-11-25T09:00:00.000Z 0',
          'daily_cap: next LA day, then London working hours');
-- Step 02 is a message: the invite cap does not hold it.
SELECT is(pg_temp.why('02'), 'delay 2026-11-26T11:00:00.000Z 1',
          'a message is not held by the invite cap');
-- Weekly: daily 10, weekly 2; the 2 invites of the 24th fill the week
-- until the window no longer contains the 24th: LA 1 Dec 00:00 = 08:00
-- UTC, then London opening Tue 1 Dec 09:00 GMT.
UPDATE liauto.linkedin_accounts
SET daily_invite_limit = 10, weekly_invite_limit = 2
WHERE id = '00000000-0000-0000-0000-00000000a006';
SELECT is(pg_temp.why('01'), 'weekly_cap 2026-12-01T09:00:00.000Z 0',
          'weekly_cap: when the 24th leaves the 7-day window');
UPDATE liauto.linkedin_accounts SET weekly_invite_limit = 100
WHERE id = '00000000-0000-0000-0000-00000000a006';

-- A 429 cooled the account off until 12:00 UTC (inside hours).
UPDATE liauto.linkedin_accounts SET cooldown_until = '2026-11-24 12:00Z'
WHERE id = '00000000-0000-0000-0000-00000000a006';
SELECT is(pg_temp.why('01'), 'account_cooling_off 2026-11-24T12:00:00.000Z 0',
          'account_cooling_off: until the cool-off ends');
-- Until 17:30 UTC, after closing: Wed 25 09:00.
UPDATE liauto.linkedin_accounts SET cooldown_until = '2026-11-24 17:30Z'
WHERE id = '00000000-0000-0000-0000-00000000a006';
SELECT is(pg_temp.why('01'), 'account_cooling_off 2026-11-25T09:00:00.000Z 0',
          'account_cooling_off: then working hours');
UPDATE liauto.linkedin_accounts SET cooldown_until = NULL
WHERE id = '00000000-0000-0000-0000-00000000a006';

UPDATE liauto.linkedin_accounts SET status = 'credentials'
WHERE id = '00000000-0000-0000-0000-00000000a006';
SELECT is(pg_temp.why('01'), 'account_disconnected - 0',
          'account_disconnected');
UPDATE liauto.linkedin_accounts SET status = 'ok'
WHERE id = '00000000-0000-0000-0000-00000000a006';

UPDATE liauto.campaigns SET status = 'paused', paused_at = now()
WHERE id = '00000000-0000-0000-0000-00000000ca04';
SELECT is(pg_temp.why('01'), 'campaign_paused - 0', 'campaign_paused');
UPDATE liauto.campaigns SET status = 'active'
WHERE id = '00000000-0000-0000-0000-00000000ca04';

-- The global switch lives in liauto.settings (another migration); the
-- function checks for the table, so it is created here if absent.
SET LOCAL client_min_messages = warning;
CREATE TABLE IF NOT EXISTS liauto.settings (
    key         text PRIMARY KEY,
    value       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now());
INSERT INTO liauto.settings (key, value) VALUES ('scheduler_paused', 'true')
ON CONFLICT (key) DO UPDATE SET value = excluded.value;
SELECT is(pg_temp.why('01'), 'scheduler_paused - 0', 'scheduler_paused');
UPDATE liauto.settings SET value = 'false' WHERE key = 'scheduler_paused';
-- Resumed: the limit is 10 a day since the weekly case, 2 used -> due.
SELECT is(pg_temp.why('01'), 'due 2026-11-24T10:00:00.000Z 0',
          'scheduler resumed: due again');

-- A limit of 0 never resets: no expected time.
UPDATE liauto.linkedin_accounts SET daily_invite_limit = 0
WHERE id = '00000000-0000-0000-0000-00000000a006';
SELECT is(pg_temp.why('01'), 'daily_cap - 0',
          'daily_cap: a zero limit has no expected time');

SELECT liauto.set_clock(now());
SELECT * FROM finish();
ROLLBACK;
