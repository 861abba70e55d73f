-- Migration 0035: holidays. The country calendars (Easter and n-th weekday
-- rules), the working-day arithmetic with a set of non-working dates across
-- a DST change and the new year, the campaign's set (own dates + country
-- calendar) in the planner and right before a send, and validation.
--
-- Calendar facts used: Easter Sunday 2026-04-05, 2027-03-28, 2028-04-16.
-- 2026: Thu 24 Dec, Fri 25 Dec, Mon 28 Dec, Thu 31 Dec; Fri 1 Jan 2027,
-- Mon 4 Jan 2027. Europe/Paris is CET (+1) in winter.
-- America/New_York: EDT (-4) -> EST (-5) on Sun 1 Nov 2026; Fri 30 Oct,
-- Mon 2 Nov, Tue 3 Nov.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(28);

\ir lib/api_calls.sql

SET LOCAL timezone = 'UTC';

-- Country calendars -------------------------------------------------------
SELECT is(ARRAY[liauto.easter_sunday(2026), liauto.easter_sunday(2027),
                liauto.easter_sunday(2028)],
          ARRAY[date '2026-04-05', '2027-03-28', '2028-04-16'],
          'calendar: Easter Sunday by the Gregorian algorithm');
SELECT is((SELECT array_agg(day ORDER BY day) FROM liauto.calendar_holidays
           WHERE calendar = 'FR' AND extract(year FROM day) = 2026),
          ARRAY[date '2026-01-01', '2026-04-06', '2026-05-01', '2026-05-08',
                '2026-05-14', '2026-05-25', '2026-07-14', '2026-08-15',
                '2026-11-01', '2026-11-11', '2026-12-25'],
          'calendar: France 2026, Easter Monday, Ascension and Whit Monday '
          'from Easter');
SELECT is((SELECT day FROM liauto.calendar_holidays
           WHERE calendar = 'DE' AND name = 'Karfreitag'
             AND extract(year FROM day) = 2027),
          date '2027-03-26', 'calendar: Good Friday 2027 in Germany');
SELECT is((SELECT array_agg(day ORDER BY day) FROM liauto.calendar_holidays
           WHERE calendar = 'US' AND name IN ('Martin Luther King Jr. Day',
                                              'Memorial Day', 'Labor Day',
                                              'Thanksgiving Day')
             AND day BETWEEN '2026-05-01' AND '2027-04-30'),
          ARRAY[date '2026-05-25', '2026-09-07', '2026-11-26', '2027-01-18'],
          'calendar: the last Monday of May, first Monday of September, '
          'fourth Thursday of November, third Monday of January');
SELECT is((SELECT count(DISTINCT calendar)::integer
           FROM liauto.calendar_holidays), 6,
          'calendar: six countries');
SELECT is((SELECT count(*)::integer FROM liauto.calendar_holidays
           WHERE calendar = 'IT'), 11 * 6,
          'calendar: Italy has its 11 holidays in each of 2025-2030');

-- Working-day arithmetic with holidays -----------------------------------
-- the old signatures count no holiday
SELECT is(liauto.add_working_days('2026-12-24 09:00Z', 1, 'Europe/Paris'),
          '2026-12-25 09:00Z', 'add: without holidays Thu + 1 is Fri');
-- Thu 24 Dec + 1 skips Christmas (Fri) and the weekend: Mon 28 10:00 CET
SELECT is(liauto.add_working_days('2026-12-24 09:00Z', 1, 'Europe/Paris',
                                  '{1,2,3,4,5}', '{2026-12-25}'),
          '2026-12-28 09:00Z', 'add: Christmas is skipped');
-- + 4 across the new year: 28, 29, 30 Dec, then (31 Dec, 1 Jan, weekend)
-- Mon 4 Jan
SELECT is(liauto.add_working_days('2026-12-24 09:00Z', 4, 'Europe/Paris',
                                  '{1,2,3,4,5}',
                                  '{2026-12-25,2026-12-31,2027-01-01}'),
          '2027-01-04 09:00Z', 'add: across the new year');
-- a holiday before the start changes nothing
SELECT is(liauto.add_working_days('2026-12-28 09:00Z', 1, 'Europe/Paris',
                                  '{1,2,3,4,5}', '{2026-12-25}'),
          '2026-12-29 09:00Z', 'add: past holidays do not count');
-- Fri 30 Oct 10:00 EDT + 1, Mon 2 Nov off: Tue 3 Nov 10:00 EST = 15:00Z
SELECT is(liauto.add_working_days('2026-10-30 14:00Z', 1,
                                  'America/New_York', '{1,2,3,4,5}',
                                  '{2026-11-02}'),
          '2026-11-03 15:00Z', 'add: a holiday after a fall-back change');
-- only Mondays worked, three Mondays off: + 1 takes a month
SELECT is(liauto.add_working_days('2026-11-30 09:00Z', 1, 'UTC', '{1}',
                                  '{2026-12-07,2026-12-14,2026-12-21}'),
          '2026-12-28 09:00Z', 'add: the search reaches past many holidays');
SELECT is(liauto.working_days_between('2026-12-24 09:00Z',
                                      '2027-01-04 09:00Z', 'Europe/Paris',
                                      '{1,2,3,4,5}',
                                      '{2026-12-25,2026-12-31,2027-01-01}'),
          4, 'between: the inverse, holidays not counted');
SELECT is(liauto.working_days_between('2027-01-04 09:00Z',
                                      '2026-12-24 09:00Z', 'Europe/Paris',
                                      '{1,2,3,4,5}',
                                      '{2026-12-25,2026-12-31,2027-01-01}'),
          -4, 'between: negative backwards');
-- Thu 24 Dec 18:00 CET is after hours; Fri is Christmas: Mon 09:00 CET
SELECT is(liauto.snap_to_working_hours('2026-12-24 17:00Z', 'Europe/Paris',
                                       '09:00', '17:00', '{1,2,3,4,5}',
                                       '{2026-12-25}'),
          '2026-12-28 08:00Z', 'snap: the next opening skips the holiday');
-- inside hours on a holiday: no send that day
SELECT is(liauto.snap_to_working_hours('2026-12-31 10:00Z', 'Europe/Paris',
                                       '09:00', '17:00', '{1,2,3,4,5}',
                                       '{2026-12-31,2027-01-01}'),
          '2027-01-04 08:00Z', 'snap: a holiday has no working hours');
SELECT is(liauto.snap_to_working_hours('2026-12-31 10:00Z', 'Europe/Paris',
                                       '09:00', '17:00'),
          '2026-12-31 10:00Z', 'snap: the old signature sends that day');
-- step 1 waits 2 working days after Wed 23 Dec 10:00 CET: Thu 24, (25),
-- Mon 28
SELECT is(liauto.step_due_at('[{"type": "invite"}, {"type": "message",
                              "text": "x", "delay_days": 2}]', 1,
                             '2026-12-23 09:00Z', 'Europe/Paris',
                             '{1,2,3,4,5}', '{2026-12-25}'),
          '2026-12-28 09:00Z', 'step_due_at: the delay skips the holiday');

-- A campaign's set and the planner ----------------------------------------
SELECT liauto.set_clock('2026-12-25 10:00 Europe/Paris');  -- Christmas
INSERT INTO liauto.clients (id, name)
VALUES ('a0000000-0000-0000-0000-000000000035', 'Holidays');
INSERT INTO liauto.linkedin_accounts (id, client_id, name,
                                      unipile_account_id, timezone)
VALUES ('a2000000-0000-0000-0000-000000000035',
        'a0000000-0000-0000-0000-000000000035', 'Sender', 'hol-1',
        'Europe/Paris');
INSERT INTO liauto.campaigns (id, client_id, linkedin_account_id, name,
                              status, timezone, sequence, started_at,
                              holidays, holiday_calendar)
VALUES ('a3000000-0000-0000-0000-000000000035',
        'a0000000-0000-0000-0000-000000000035',
        'a2000000-0000-0000-0000-000000000035', 'Holidays', 'active',
        'Europe/Paris', '[{"type": "invite", "note": "Hi"}]',
        '2026-12-01Z', '{2026-12-28}', 'FR');
INSERT INTO liauto.leads (id, client_id, campaign_id, public_identifier)
VALUES ('a1000000-0000-0000-0000-000000000035',
        'a0000000-0000-0000-0000-000000000035',
        'a3000000-0000-0000-0000-000000000035', 'hol-lead');

SELECT ok((SELECT date '2026-12-25' = ANY (liauto.campaign_holidays(c))
                  AND date '2026-12-28' = ANY (liauto.campaign_holidays(c))
           FROM liauto.campaigns AS c
           WHERE id = 'a3000000-0000-0000-0000-000000000035'),
          'campaign: its own dates and its country''s');
SELECT is(liauto.explain_wait('a1000000-0000-0000-0000-000000000035')
          - 'detail',
          '{"next_step": 0, "expected_at": "2026-12-29T08:00:00.000Z",
            "reason": "holiday"}',
          'schedule: the lead waits for the holiday, says so and when');
SELECT is(engine.plan_due(100), 1, 'plan: the invite is planned');
-- Christmas (FR) and Mon 28 (the campaign's own) are skipped: Tue 29
-- 09:00 CET
SELECT is((SELECT due_at FROM liauto.actions
           WHERE lead_id = 'a1000000-0000-0000-0000-000000000035'),
          '2026-12-29 08:00Z',
          'plan: due at the first opening after the holidays');

-- An action due on a holiday (planned before it was one) is held.
UPDATE liauto.actions SET due_at = liauto.now()
WHERE lead_id = 'a1000000-0000-0000-0000-000000000035';
SELECT is((SELECT row(d.wait_until, d.reason)::text
           FROM liauto.actions AS x, liauto.send_delay(x) AS d
           WHERE x.lead_id = 'a1000000-0000-0000-0000-000000000035'),
          row(timestamptz '2026-12-29 08:00Z', 'holiday')::text,
          'send: held until the next working opening, because of a holiday');
SELECT liauto.set_clock('2026-12-29 10:00 Europe/Paris');
SELECT is((SELECT d.reason FROM liauto.actions AS x, liauto.send_delay(x) AS d
           WHERE x.lead_id = 'a1000000-0000-0000-0000-000000000035'),
          NULL, 'send: goes on the next working day');

-- Validation ---------------------------------------------------------------
SELECT is(pg_temp.err(pg_temp.call('api.campaigns_update',
              '{"role": "admin"}', '{a3000000-0000-0000-0000-000000000035}',
              '{}', '{"holidays": ["2026-12-24", "2026-02-30", 7,
                                   "2026-12-24", "24/12/2026"],
                      "holiday_calendar": "XX"}')),
          pg_temp.invalid('{"holidays[1]": "must be a date \"YYYY-MM-DD\"",
                            "holidays[2]": "must be a date \"YYYY-MM-DD\"",
                            "holidays[3]": "duplicate date",
                            "holidays[4]": "must be a date \"YYYY-MM-DD\"",
                            "holiday_calendar": "unknown calendar; one of: BE, DE, ES, FR, IT, US"}'),
          'validation: one error per bad date, and the calendar');
SELECT is(pg_temp.err(pg_temp.call('api.campaigns_update',
              '{"role": "admin"}', '{a3000000-0000-0000-0000-000000000035}',
              '{}', '{"holidays": "2026-12-24"}')),
          pg_temp.invalid('{"holidays": "must be an array"}'),
          'validation: a list');
SELECT is((pg_temp.call('api.campaigns_update', '{"role": "admin"}',
               '{a3000000-0000-0000-0000-000000000035}', '{}',
               '{"holidays": ["2027-01-02", "2026-12-31"],
                 "holiday_calendar": null}') -> 'body')
          - '{id,client_id,name,status,timezone,working_hours_start,'
            'working_hours_end,working_days,started_at,paused_at,'
            'created_at,updated_at,stop_company_on_reply,'
            'company_daily_invite_cap,auto_withdraw_days,note_fallback,'
            'linkedin_account_id,sender_account_ids}'::text[],
          '{"holidays": ["2026-12-31", "2027-01-02"],
            "holiday_calendar": null}',
          'update: the dates are stored and shown in order');
SELECT is((SELECT next_due_at FROM liauto.leads
           WHERE id = 'a1000000-0000-0000-0000-000000000035'),
          '-infinity', 'update: the campaign''s leads are looked at again');

SELECT * FROM finish();
ROLLBACK;
