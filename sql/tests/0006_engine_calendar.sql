-- Engine time rules (migration 0005): the controllable clock,
-- working-day arithmetic, snapping into working hours, DST in both
-- directions, several zones and when a lead's next step may run.
--
-- Every expected instant is worked out by hand in the comment above it.
-- Calendar facts used (2026): 24 Nov is a Tuesday, so 27 Nov is a Friday,
-- 28/29 Nov the weekend, 30 Nov a Monday, 1 Dec a Tuesday.
-- Europe/London: GMT (+0) -> BST (+1) at 01:00 GMT on Sun 29 Mar,
--   BST -> GMT at 02:00 BST on Sun 25 Oct.
-- America/New_York: EST (-5) -> EDT (-4) at 02:00 EST on Sun 8 Mar,
--   EDT -> EST at 02:00 EDT on Sun 1 Nov.
-- Pacific/Auckland: NZDT (+13) -> NZST (+12) at 03:00 NZDT on Sun 5 Apr;
--   NZDT again from 27 Sep. Asia/Kolkata: IST (+05:30), no DST.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(70);

SET LOCAL timezone = 'UTC';

-- The controllable clock --------------------------------------------------
SELECT is(liauto.now(), now(), 'clock: no offset, liauto.now() = now()');
SELECT is(liauto.set_clock('2026-03-27 12:00Z'), '2026-03-27 12:00Z',
          'clock: set_clock returns the new time');
SELECT is(liauto.now(), '2026-03-27 12:00Z',
          'clock: liauto.now() reads the set time');
SELECT is(liauto.shift_clock('1 day 30 minutes'), '2026-03-28 12:30Z',
          'clock: shift_clock moves it on');
SELECT is(liauto.now(), '2026-03-28 12:30Z',
          'clock: liauto.now() follows the shift');
SELECT is(liauto.shift_clock('-30 minutes'), '2026-03-28 12:00Z',
          'clock: shift_clock moves it back too');
SELECT is(liauto.set_clock(now()), now(), 'clock: set_clock(now()) resets');
SELECT is((SELECT clock_offset FROM liauto.engine_clock), interval '0',
          'clock: offset back to zero');
SELECT throws_ok($$INSERT INTO liauto.engine_clock DEFAULT VALUES$$,
                 '23505', NULL, 'clock: a single row');

-- resolve_local_time ------------------------------------------------------
-- 10:00 on an ordinary day in London in summer is 09:00 UTC (BST = +1).
SELECT is(liauto.resolve_local_time('2026-07-01 10:00', 'Europe/London'),
          '2026-07-01 09:00Z', 'local: ordinary BST time');
-- 01:30 on 29 Mar does not exist in London (01:00 GMT jumps to 02:00
-- BST): read with the offset before the change (GMT) it is 01:30 UTC,
-- which the wall clock shows as 02:30 BST.
SELECT is(liauto.resolve_local_time('2026-03-29 01:30', 'Europe/London'),
          '2026-03-29 01:30Z', 'local: London spring gap moves later');
-- 02:30 on 8 Mar does not exist in New York: with EST (-5) -> 07:30 UTC
-- (03:30 EDT).
SELECT is(liauto.resolve_local_time('2026-03-08 02:30', 'America/New_York'),
          '2026-03-08 07:30Z', 'local: New York spring gap moves later');
-- 01:30 on 25 Oct happens twice in London: first in BST (00:30 UTC), then
-- in GMT (01:30 UTC). The first occurrence is chosen.
SELECT is(liauto.resolve_local_time('2026-10-25 01:30', 'Europe/London'),
          '2026-10-25 00:30Z', 'local: London fall-back: first occurrence');
-- 01:30 on 1 Nov happens twice in New York: EDT (05:30 UTC) then EST
-- (06:30 UTC, Postgres' own pick). The first occurrence is chosen.
SELECT is(liauto.resolve_local_time('2026-11-01 01:30', 'America/New_York'),
          '2026-11-01 05:30Z',
          'local: New York fall-back: first occurrence');

-- add_working_days (Mon-Fri unless stated) --------------------------------
-- Fri 27 Nov 16:00 + 1 working day: Sat, Sun skipped -> Mon 30 Nov 16:00.
SELECT is(liauto.add_working_days('2026-11-27 16:00Z', 1, 'UTC'),
          '2026-11-30 16:00Z', 'working days: Friday + 1 is Monday');
-- Thu 26 Nov + 3: Fri 27 (1), Mon 30 (2), Tue 1 Dec (3).
SELECT is(liauto.add_working_days('2026-11-26 10:00Z', 3, 'UTC'),
          '2026-12-01 10:00Z', 'working days: Thursday + 3 is Tuesday');
-- Sat 28 Nov + 1: Sun skipped, Mon 30 is the first working day after.
SELECT is(liauto.add_working_days('2026-11-28 10:00Z', 1, 'UTC'),
          '2026-11-30 10:00Z', 'working days: Saturday + 1 is Monday');
-- Sun 29 Nov + 5: Mon 30, Tue 1, Wed 2, Thu 3, Fri 4 Dec.
SELECT is(liauto.add_working_days('2026-11-29 08:15Z', 5, 'UTC'),
          '2026-12-04 08:15Z', 'working days: Sunday + 5 is Friday');
-- Mon 30 Nov + 10: two full weeks -> Mon 14 Dec.
SELECT is(liauto.add_working_days('2026-11-30 09:00Z', 10, 'UTC'),
          '2026-12-14 09:00Z', 'working days: Monday + 10 is Monday + 2w');
-- 0 days is the same instant, even on a Saturday.
SELECT is(liauto.add_working_days('2026-11-28 10:00Z', 0, 'UTC'),
          '2026-11-28 10:00Z', 'working days: + 0 is unchanged');
-- Mon/Wed/Fri only: Mon 30 Nov + 2 -> Wed 2 Dec (1), Fri 4 Dec (2).
SELECT is(liauto.add_working_days('2026-11-30 09:00Z', 2, 'UTC', '{1,3,5}'),
          '2026-12-04 09:00Z', 'working days: Mon/Wed/Fri week');
-- Sun-Thu week: Thu 26 Nov + 1 -> Fri, Sat skipped -> Sun 29 Nov.
SELECT is(liauto.add_working_days('2026-11-26 11:00Z', 1, 'UTC',
                                  '{7,1,2,3,4}'),
          '2026-11-29 11:00Z', 'working days: Sunday-Thursday week');
-- The local date decides: 2026-11-27 20:00 UTC is Sat 28 Nov 01:30 in
-- Kolkata (+05:30), so + 1 is Mon 30 Nov 01:30 IST = Sun 29 Nov 20:00 UTC;
-- in UTC the same instant is a Friday, + 1 -> Mon 30 Nov 20:00 UTC.
SELECT is(liauto.add_working_days('2026-11-27 20:00Z', 1, 'Asia/Kolkata'),
          '2026-11-29 20:00Z', 'working days: Kolkata local Saturday');
SELECT is(liauto.add_working_days('2026-11-27 20:00Z', 1, 'UTC'),
          '2026-11-30 20:00Z', 'working days: same instant, UTC Friday');
SELECT throws_ok($$SELECT liauto.add_working_days(now(), -1, 'UTC')$$,
                 '22023', NULL, 'working days: a negative count is refused');

-- Across DST: same local time of day, so the UTC time moves by an hour.
-- London: Fri 27 Mar 10:00 GMT (10:00 UTC) + 1 -> Mon 30 Mar 10:00 BST
-- = 09:00 UTC.
SELECT is(liauto.add_working_days('2026-03-27 10:00Z', 1, 'Europe/London'),
          '2026-03-30 09:00Z', 'DST: London spring forward keeps 10:00');
-- London: Fri 23 Oct 10:00 BST (09:00 UTC) + 1 -> Mon 26 Oct 10:00 GMT
-- = 10:00 UTC.
SELECT is(liauto.add_working_days('2026-10-23 09:00Z', 1, 'Europe/London'),
          '2026-10-26 10:00Z', 'DST: London fall back keeps 10:00');
-- New York: Fri 6 Mar 09:30 EST (14:30 UTC) + 1 -> Mon 9 Mar 09:30 EDT
-- = 13:30 UTC.
SELECT is(liauto.add_working_days('2026-03-06 14:30Z', 1,
                                  'America/New_York'),
          '2026-03-09 13:30Z', 'DST: New York spring forward keeps 09:30');
-- New York: Fri 30 Oct 09:30 EDT (13:30 UTC) + 1 -> Mon 2 Nov 09:30 EST
-- = 14:30 UTC.
SELECT is(liauto.add_working_days('2026-10-30 13:30Z', 1,
                                  'America/New_York'),
          '2026-11-02 14:30Z', 'DST: New York fall back keeps 09:30');
-- Every day a working day, landing in the gap: Sat 7 Mar 02:30 EST
-- (07:30 UTC) + 1 -> Sun 8 Mar 02:30, which does not exist -> 03:30 EDT
-- = 07:30 UTC.
SELECT is(liauto.add_working_days('2026-03-07 07:30Z', 1,
                                  'America/New_York', '{1,2,3,4,5,6,7}'),
          '2026-03-08 07:30Z', 'DST: landing in the spring gap');
-- Landing in the repeated hour: Sat 31 Oct 01:30 EDT (05:30 UTC) + 1 ->
-- Sun 1 Nov 01:30, first occurrence (EDT) = 05:30 UTC.
SELECT is(liauto.add_working_days('2026-10-31 05:30Z', 1,
                                  'America/New_York', '{1,2,3,4,5,6,7}'),
          '2026-11-01 05:30Z', 'DST: landing in the repeated hour');

-- working_days_between ----------------------------------------------------
-- Fri 27 Nov 16:00 -> Mon 30 Nov 09:00: only Mon 30 counts.
SELECT is(liauto.working_days_between('2026-11-27 16:00Z',
                                      '2026-11-30 09:00Z', 'UTC'),
          1, 'between: over a weekend');
-- Thu 26 Nov -> Tue 1 Dec: Fri 27, Mon 30, Tue 1.
SELECT is(liauto.working_days_between('2026-11-26 10:00Z',
                                      '2026-12-01 10:00Z', 'UTC'),
          3, 'between: Thursday to Tuesday');
SELECT is(liauto.working_days_between('2026-12-01 10:00Z',
                                      '2026-11-26 10:00Z', 'UTC'),
          -3, 'between: backwards is negative');
SELECT is(liauto.working_days_between('2026-11-24 01:00Z',
                                      '2026-11-24 23:00Z', 'UTC'),
          0, 'between: same local day');
-- Thu 26 Nov 20:00 UTC is Fri 27 01:30 IST and Fri 27 20:00 UTC is Sat 28
-- 01:30 IST: in Kolkata only a Saturday lies after -> 0; in UTC the
-- Friday does -> 1.
SELECT is(liauto.working_days_between('2026-11-26 20:00Z',
                                      '2026-11-27 20:00Z', 'Asia/Kolkata'),
          0, 'between: Kolkata Friday to Saturday');
SELECT is(liauto.working_days_between('2026-11-26 20:00Z',
                                      '2026-11-27 20:00Z', 'UTC'),
          1, 'between: UTC Thursday to Friday');

-- snap_to_working_hours (09:00-17:00, Mon-Fri unless stated) --------------
SELECT is(liauto.snap_to_working_hours('2026-11-24 10:00Z', 'UTC',
                                       '09:00', '17:00'),
          '2026-11-24 10:00Z', 'snap: inside stays');
SELECT is(liauto.snap_to_working_hours('2026-11-24 09:00Z', 'UTC',
                                       '09:00', '17:00'),
          '2026-11-24 09:00Z', 'snap: the opening instant is inside');
SELECT is(liauto.snap_to_working_hours('2026-11-24 07:00Z', 'UTC',
                                       '09:00', '17:00'),
          '2026-11-24 09:00Z', 'snap: early morning -> opening');
-- The window is [09:00, 17:00): 17:00 is out -> Wed 25 09:00.
SELECT is(liauto.snap_to_working_hours('2026-11-24 17:00Z', 'UTC',
                                       '09:00', '17:00'),
          '2026-11-25 09:00Z', 'snap: closing instant -> next day');
-- Fri 27 18:00 -> Sat, Sun skipped -> Mon 30 09:00.
SELECT is(liauto.snap_to_working_hours('2026-11-27 18:00Z', 'UTC',
                                       '09:00', '17:00'),
          '2026-11-30 09:00Z', 'snap: Friday evening -> Monday');
SELECT is(liauto.snap_to_working_hours('2026-11-28 12:00Z', 'UTC',
                                       '09:00', '17:00'),
          '2026-11-30 09:00Z', 'snap: Saturday noon -> Monday');
-- Kolkata: Tue 24 Nov 12:00 UTC = 17:30 IST, after closing -> Wed 25
-- 09:00 IST = 03:30 UTC.
SELECT is(liauto.snap_to_working_hours('2026-11-24 12:00Z', 'Asia/Kolkata',
                                       '09:00', '17:00'),
          '2026-11-25 03:30Z', 'snap: Kolkata evening');
-- Kolkata: Fri 27 Nov 20:00 UTC = Sat 28 01:30 IST -> Mon 30 09:00 IST =
-- 03:30 UTC (in UTC it would still be Friday evening, same answer by
-- another road; the IST opening time shows the zone was used).
SELECT is(liauto.snap_to_working_hours('2026-11-27 20:00Z', 'Asia/Kolkata',
                                       '09:00', '17:00'),
          '2026-11-30 03:30Z', 'snap: Kolkata weekend');
-- Auckland (NZDT +13): Sun 29 Nov 20:00 UTC is Mon 30 09:00 NZDT, inside.
SELECT is(liauto.snap_to_working_hours('2026-11-29 20:00Z',
                                       'Pacific/Auckland', '09:00', '17:00'),
          '2026-11-29 20:00Z', 'snap: Auckland Monday opening (UTC Sunday)');
-- Auckland: Fri 27 Nov 04:30 UTC = Fri 17:30 NZDT -> Mon 30 09:00 NZDT =
-- Sun 29 Nov 20:00 UTC.
SELECT is(liauto.snap_to_working_hours('2026-11-27 04:30Z',
                                       'Pacific/Auckland', '09:00', '17:00'),
          '2026-11-29 20:00Z', 'snap: Auckland Friday evening');
-- Auckland across its DST end: Fri 3 Apr 05:00 UTC = 18:00 NZDT -> Mon 6
-- Apr 09:00 NZST (+12) = Sun 5 Apr 21:00 UTC.
SELECT is(liauto.snap_to_working_hours('2026-04-03 05:00Z',
                                       'Pacific/Auckland', '09:00', '17:00'),
          '2026-04-05 21:00Z', 'snap: Auckland across DST end');
-- DST weekends in both zones, both directions (Fri 17:30 -> Mon 09:00).
-- London: Fri 27 Mar 17:30 GMT -> Mon 30 Mar 09:00 BST = 08:00 UTC.
SELECT is(liauto.snap_to_working_hours('2026-03-27 17:30Z', 'Europe/London',
                                       '09:00', '17:00'),
          '2026-03-30 08:00Z', 'snap: London spring forward');
-- London: Fri 23 Oct 17:30 BST (16:30 UTC) -> Mon 26 Oct 09:00 GMT.
SELECT is(liauto.snap_to_working_hours('2026-10-23 16:30Z', 'Europe/London',
                                       '09:00', '17:00'),
          '2026-10-26 09:00Z', 'snap: London fall back');
-- New York: Fri 6 Mar 17:30 EST (22:30 UTC) -> Mon 9 Mar 09:00 EDT
-- = 13:00 UTC.
SELECT is(liauto.snap_to_working_hours('2026-03-06 22:30Z',
                                       'America/New_York', '09:00', '17:00'),
          '2026-03-09 13:00Z', 'snap: New York spring forward');
-- New York: Fri 30 Oct 17:30 EDT (21:30 UTC) -> Mon 2 Nov 09:00 EST
-- = 14:00 UTC.
SELECT is(liauto.snap_to_working_hours('2026-10-30 21:30Z',
                                       'America/New_York', '09:00', '17:00'),
          '2026-11-02 14:00Z', 'snap: New York fall back');
-- Windows at night on the change days themselves (every day working).
-- London 01:30-03:00: Sat 28 Mar 04:00 GMT is past Saturday's window;
-- Sunday's opens at 01:30 which does not exist -> 02:30 BST = 01:30 UTC.
SELECT is(liauto.snap_to_working_hours('2026-03-28 04:00Z', 'Europe/London',
                                       '01:30', '03:00', '{1,2,3,4,5,6,7}'),
          '2026-03-29 01:30Z', 'snap: opening inside the spring gap');
-- New York 01:30-03:00 on Sun 1 Nov: opens at the first 01:30 (EDT) =
-- 05:30 UTC.
SELECT is(liauto.snap_to_working_hours('2026-10-31 12:00Z',
                                       'America/New_York', '01:30', '03:00',
                                       '{1,2,3,4,5,6,7}'),
          '2026-11-01 05:30Z', 'snap: opening in the repeated hour');
-- 06:15 UTC is 01:15 EST, the second pass through 01:xx: between the
-- opening (05:30 UTC) and the closing 03:00 EST (08:00 UTC) -> inside.
SELECT is(liauto.snap_to_working_hours('2026-11-01 06:15Z',
                                       'America/New_York', '01:30', '03:00',
                                       '{1,2,3,4,5,6,7}'),
          '2026-11-01 06:15Z', 'snap: the repeated hour is inside');
-- New York 00:00-01:30: the window closes at the first 01:30 (05:30 UTC).
-- 06:10 UTC reads 01:10 EST but is after it -> Mon 2 Nov 00:00 EST =
-- 05:00 UTC.
SELECT is(liauto.snap_to_working_hours('2026-11-01 06:10Z',
                                       'America/New_York', '00:00', '01:30',
                                       '{1,2,3,4,5,6,7}'),
          '2026-11-02 05:00Z', 'snap: closes at the first 01:30');
-- Windows up to midnight. London 20:00-24:00 Mon-Fri, GMT in November:
-- Fri 27 23:30 is inside; Sat 28 00:00 is not -> Mon 30 20:00.
SELECT is(liauto.snap_to_working_hours('2026-11-27 23:30Z', 'Europe/London',
                                       '20:00', '24:00'),
          '2026-11-27 23:30Z', 'snap: late window, inside before midnight');
SELECT is(liauto.snap_to_working_hours('2026-11-28 00:00Z', 'Europe/London',
                                       '20:00', '24:00'),
          '2026-11-30 20:00Z', 'snap: late window, midnight is outside');
-- New York 00:00-06:00: Mon 30 Nov 05:00 UTC = 00:00 EST, inside.
SELECT is(liauto.snap_to_working_hours('2026-11-30 05:00Z',
                                       'America/New_York', '00:00', '06:00'),
          '2026-11-30 05:00Z', 'snap: window from midnight');
SELECT throws_ok($$SELECT liauto.snap_to_working_hours(now(), 'UTC',
                                                       '17:00', '09:00')$$,
                 '22023', NULL, 'snap: an empty window is refused');

-- next_send_at (pure) -----------------------------------------------------
-- Sequence: invite now, a message 3 working days later, one 90 minutes
-- after that. London, 09:00-17:00 Mon-Fri, GMT in November.
CREATE TEMP TABLE seq AS SELECT '[
    {"type": "invite", "delay_days": 0},
    {"type": "message", "text": "a", "delay_days": 3},
    {"type": "message", "text": "b", "delay_minutes": 90}]'::jsonb AS s;
-- Step 0 counted from a Saturday 10:00 start: due at once, snapped to
-- Mon 30 Nov 09:00.
SELECT is(liauto.next_send_at((SELECT s FROM seq), 0, '2026-11-28 10:00Z',
                              'Europe/London', '09:00', '17:00',
                              '{1,2,3,4,5}'),
          '2026-11-30 09:00Z', 'next send: invite started on a Saturday');
-- Step 1 after an invite on Thu 26 Nov 15:00: Fri 27, Mon 30, Tue 1 Dec
-- 15:00, inside hours.
SELECT is(liauto.next_send_at((SELECT s FROM seq), 1, '2026-11-26 15:00Z',
                              'Europe/London', '09:00', '17:00',
                              '{1,2,3,4,5}'),
          '2026-12-01 15:00Z', 'next send: 3 working days over a weekend');
-- Same, invite at Thu 08:00: Tue 1 Dec 08:00 is before opening -> 09:00.
SELECT is(liauto.next_send_at((SELECT s FROM seq), 1, '2026-11-26 08:00Z',
                              'Europe/London', '09:00', '17:00',
                              '{1,2,3,4,5}'),
          '2026-12-01 09:00Z', 'next send: delay then opening hour');
-- Step 2 after Fri 27 Nov 16:00: + 90 min = 17:30, closed -> Mon 09:00.
SELECT is(liauto.next_send_at((SELECT s FROM seq), 2, '2026-11-27 16:00Z',
                              'Europe/London', '09:00', '17:00',
                              '{1,2,3,4,5}'),
          '2026-11-30 09:00Z', 'next send: minutes past closing on Friday');
SELECT is(liauto.next_send_at((SELECT s FROM seq), 3, '2026-11-27 16:00Z',
                              'Europe/London', '09:00', '17:00',
                              '{1,2,3,4,5}'),
          NULL, 'next send: NULL when the sequence is finished');
-- New York, step 1 after Wed 4 Mar 16:30 EST (21:30 UTC): Thu 5, Fri 6,
-- Mon 9 Mar 16:30 EDT = 20:30 UTC (inside 09-17).
SELECT is(liauto.next_send_at((SELECT s FROM seq), 1, '2026-03-04 21:30Z',
                              'America/New_York', '09:00', '17:00',
                              '{1,2,3,4,5}'),
          '2026-03-09 20:30Z', 'next send: New York over spring forward');
-- Kolkata, step 1 after Fri 27 Nov 11:00 UTC (16:30 IST): Mon 30, Tue 1,
-- Wed 2 Dec 16:30 IST = 11:00 UTC.
SELECT is(liauto.next_send_at((SELECT s FROM seq), 1, '2026-11-27 11:00Z',
                              'Asia/Kolkata', '09:00', '17:00',
                              '{1,2,3,4,5}'),
          '2026-12-02 11:00Z', 'next send: Kolkata');
-- Auckland, step 1 after Fri 3 Apr 03:00 UTC (16:00 NZDT): Mon 6, Tue 7,
-- Wed 8 Apr 16:00 NZST (+12) = 04:00 UTC.
SELECT is(liauto.next_send_at((SELECT s FROM seq), 1, '2026-04-03 03:00Z',
                              'Pacific/Auckland', '09:00', '17:00',
                              '{1,2,3,4,5}'),
          '2026-04-08 04:00Z', 'next send: Auckland over DST end');

-- next_send_at (stored campaign and lead) ---------------------------------
INSERT INTO liauto.clients (id, name)
VALUES ('00000000-0000-0000-0000-00000000c001', 'engine calendar');
INSERT INTO liauto.linkedin_accounts (id, client_id, name, unipile_account_id)
VALUES ('00000000-0000-0000-0000-00000000a001',
        '00000000-0000-0000-0000-00000000c001', 'acct', 'engine-cal-1');
INSERT INTO liauto.campaigns (id, client_id, linkedin_account_id, name,
                              status, timezone, sequence, started_at)
VALUES ('00000000-0000-0000-0000-00000000ca01',
        '00000000-0000-0000-0000-00000000c001',
        '00000000-0000-0000-0000-00000000a001', 'c', 'active',
        'Europe/London', (SELECT s FROM seq), '2026-11-20 09:00Z');
INSERT INTO liauto.leads (id, client_id, campaign_id, public_identifier,
                          status, current_step, last_step_sent_at)
VALUES ('00000000-0000-0000-0000-0000000011a1',
        '00000000-0000-0000-0000-00000000c001',
        '00000000-0000-0000-0000-00000000ca01', 'jane', 'connected', 1,
        '2026-11-26 15:00Z'),
       ('00000000-0000-0000-0000-0000000011a2',
        '00000000-0000-0000-0000-00000000c001',
        '00000000-0000-0000-0000-00000000ca01', 'john', 'responded', 1,
        '2026-11-26 15:00Z');
-- Same as the pure case above: Thu 26 Nov 15:00 + 3 working days.
SELECT is(liauto.next_send_at('00000000-0000-0000-0000-00000000ca01',
                              '00000000-0000-0000-0000-0000000011a1'),
          '2026-12-01 15:00Z', 'next send: from the stored lead');
SELECT is(liauto.next_send_at('00000000-0000-0000-0000-00000000ca01',
                              '00000000-0000-0000-0000-0000000011a2'),
          NULL, 'next send: NULL for a lead that replied');

SELECT * FROM finish();
ROLLBACK;
