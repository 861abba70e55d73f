-- Engine budgets (migration 0005): the account's local day, atomic
-- reservations against the daily and weekly limits, releases, what is
-- left and when it resets, and two sessions reserving at once (dblink).
--
-- America/Los_Angeles is PST (UTC-8) in late November 2026, so a local day
-- runs from 08:00 UTC to 08:00 UTC the next day: 2026-11-25 05:00 UTC is
-- still Tue 24 Nov 21:00 in Los Angeles although it is the 25th in UTC.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT plan(48);

SET LOCAL timezone = 'UTC';

INSERT INTO liauto.clients (id, name)
VALUES ('00000000-0000-0000-0000-00000000c002', 'engine budget');
-- 3 invites a day, 5 a week, 2 messages a day.
INSERT INTO liauto.linkedin_accounts
    (id, client_id, name, unipile_account_id, timezone, daily_invite_limit,
     weekly_invite_limit, daily_message_limit)
VALUES ('00000000-0000-0000-0000-00000000a002',
        '00000000-0000-0000-0000-00000000c002', 'la', 'engine-budget-la',
        'America/Los_Angeles', 3, 5, 2),
       ('00000000-0000-0000-0000-00000000a003',
        '00000000-0000-0000-0000-00000000c002', 'zero', 'engine-budget-0',
        'UTC', 0, 5, 0);

CREATE FUNCTION pg_temp.reserve(p_kind text, p_at timestamptz)
RETURNS boolean LANGUAGE sql AS $$
    SELECT liauto.reserve_budget('00000000-0000-0000-0000-00000000a002',
                                 p_kind, p_at)
$$;
CREATE FUNCTION pg_temp.used(p_day date)
RETURNS text LANGUAGE sql AS $$
    SELECT invites || '/' || messages FROM liauto.rate_usage
    WHERE account_id = '00000000-0000-0000-0000-00000000a002'
      AND day = p_day
$$;
CREATE FUNCTION pg_temp.left_(p_kind text, p_at timestamptz)
RETURNS text LANGUAGE sql AS $$
    SELECT row(remaining, resets_at, limited_by)::text
    FROM liauto.budget_remaining('00000000-0000-0000-0000-00000000a002',
                                 p_kind, p_at)
$$;

-- account_day -------------------------------------------------------------
SELECT is(liauto.account_day('00000000-0000-0000-0000-00000000a002',
                             '2026-11-25 05:00Z'),
          '2026-11-24'::date, 'day: 05:00 UTC on the 25th is the 24th in LA');
SELECT is(liauto.account_day('00000000-0000-0000-0000-00000000a002',
                             '2026-11-25 07:59:59Z'),
          '2026-11-24'::date, 'day: last second of the LA day');
SELECT is(liauto.account_day('00000000-0000-0000-0000-00000000a002',
                             '2026-11-25 08:00Z'),
          '2026-11-25'::date, 'day: LA midnight is 08:00 UTC');
SELECT is(liauto.account_day('00000000-0000-0000-0000-00000000a003',
                             '2026-11-25 05:00Z'),
          '2026-11-25'::date, 'day: a UTC account at the same instant');
SELECT is(liauto.account_day(gen_random_uuid(), now()), NULL,
          'day: unknown account');

-- Daily invite limit (3) on LA Tue 24 Nov (18:00 UTC = 10:00 PST) --------
SELECT ok(pg_temp.reserve('invite', '2026-11-24 18:00Z'), 'invite 1 of 3');
SELECT ok(pg_temp.reserve('invite', '2026-11-24 19:00Z'), 'invite 2 of 3');
SELECT ok(pg_temp.reserve('invite', '2026-11-24 20:00Z'), 'invite 3 of 3');
SELECT ok(NOT pg_temp.reserve('invite', '2026-11-24 21:00Z'),
          'invite 4 refused: daily limit');
-- 05:00 UTC on the 25th is still the LA 24th: refused, and no row for the
-- 25th appears.
SELECT ok(NOT pg_temp.reserve('invite', '2026-11-25 05:00Z'),
          'UTC day changed but LA day did not: still refused');
SELECT is(pg_temp.used('2026-11-24'), '3/0', 'usage: 3 invites on the 24th');
SELECT is(pg_temp.used('2026-11-25'), NULL, 'usage: nothing on the 25th');
-- remaining 0, next unit at LA midnight = 2026-11-25 08:00 UTC.
SELECT is(pg_temp.left_('invite', '2026-11-25 05:00Z'),
          row(0, '2026-11-25 08:00Z'::timestamptz, 'daily')::text,
          'remaining: none until LA midnight');

-- A new LA day: 08:00 UTC on the 25th. Weekly limit 5, 3 used on the 24th.
SELECT ok(pg_temp.reserve('invite', '2026-11-25 08:00Z'),
          'LA midnight: a new day''s invite');
-- Daily left 3 - 1 = 2, weekly left 5 - 4 = 1: weekly binds; a unit
-- remains, so resets_at is the next LA midnight (26th 08:00 UTC).
SELECT is(pg_temp.left_('invite', '2026-11-25 09:00Z'),
          row(1, '2026-11-26 08:00Z'::timestamptz, 'weekly')::text,
          'remaining: the weekly limit binds');
SELECT ok(pg_temp.reserve('invite', '2026-11-25 18:00Z'), 'invite 5 of 5');
SELECT ok(NOT pg_temp.reserve('invite', '2026-11-25 19:00Z'),
          'invite 6 refused: weekly limit (daily has room: 2 of 3)');
SELECT is(pg_temp.used('2026-11-25'), '2/0', 'usage: 2 invites on the 25th');
-- Weekly full. The window ending on day X is [X-6, X]; the 24th's 3
-- invites leave it on X = 1 Dec (window 25 Nov .. 1 Dec holds 2 < 5);
-- before that (X = 26 .. 30 Nov) the window still holds 24th + 25th = 5.
-- LA midnight of 1 Dec = 2026-12-01 08:00 UTC.
SELECT is(pg_temp.left_('invite', '2026-11-25 20:00Z'),
          row(0, '2026-12-01 08:00Z'::timestamptz, 'weekly')::text,
          'remaining: weekly cap resets when the 24th leaves the window');
SELECT ok(NOT pg_temp.reserve('invite', '2026-11-30 18:00Z'),
          'still refused on 30 Nov (window 24..30 holds 5)');
SELECT ok(pg_temp.reserve('invite', '2026-12-01 18:00Z'),
          'allowed again on 1 Dec');
-- Windows that end after the day matter too. Usage is now 24 Nov: 3,
-- 25 Nov: 2, 1 Dec: 1. Take 3 on 7 Dec (window 1..7 Dec: 1 + 3 = 4).
SELECT ok(pg_temp.reserve('invite', '2026-12-07 18:00Z')
          AND pg_temp.reserve('invite', '2026-12-07 18:01Z')
          AND pg_temp.reserve('invite', '2026-12-07 18:02Z'),
          '3 invites on 7 Dec');
-- An invite for 2 Dec, reserved late: the window ending 2 Dec (26 Nov ..
-- 2 Dec) holds only 1, but the one ending 7 Dec holds 4, so one more fits
-- and a second would make it 6.
SELECT ok(pg_temp.reserve('invite', '2026-12-02 18:00Z'),
          'late 2 Dec: the first fits (window 1..7 Dec: 5)');
SELECT ok(NOT pg_temp.reserve('invite', '2026-12-02 18:01Z'),
          'late 2 Dec: the second is refused by the window ending 7 Dec');

-- Far from any usage (windows containing 20 Dec start on 14 Dec): the
-- daily limit binds, resets at the next LA midnight (21 Dec 08:00 UTC).
SELECT is(pg_temp.left_('invite', '2026-12-20 18:00Z'),
          row(3, '2026-12-21 08:00Z'::timestamptz, 'daily')::text,
          'remaining: a fresh day');

-- Messages (2 a day) and releases ------------------------------------------
SELECT ok(pg_temp.reserve('message', '2026-11-24 18:00Z'), 'message 1 of 2');
SELECT ok(pg_temp.reserve('message', '2026-11-24 18:05Z'), 'message 2 of 2');
SELECT ok(NOT pg_temp.reserve('message', '2026-11-24 18:10Z'),
          'message 3 refused');
SELECT is(pg_temp.used('2026-11-24'), '3/2', 'usage: invites and messages');
-- 06:00 UTC on the 25th is still the LA 24th.
SELECT is(pg_temp.left_('message', '2026-11-25 06:00Z'),
          row(0, '2026-11-25 08:00Z'::timestamptz, 'daily')::text,
          'remaining: messages of the LA day');
SELECT is(pg_temp.left_('message', '2026-11-25 08:00Z'),
          row(2, '2026-11-26 08:00Z'::timestamptz, 'daily')::text,
          'remaining: a new LA day, nothing used');
SELECT ok(liauto.release_budget('00000000-0000-0000-0000-00000000a002',
                                'message', '2026-11-25 07:00Z'),
          'release: a message of the LA 24th');
SELECT is(pg_temp.used('2026-11-24'), '3/1', 'release: one message back');
SELECT ok(pg_temp.reserve('message', '2026-11-24 23:00Z'),
          'the released unit can be taken again');
SELECT ok(liauto.release_budget('00000000-0000-0000-0000-00000000a002',
                                'message', '2026-11-24 18:00Z')
          AND liauto.release_budget('00000000-0000-0000-0000-00000000a002',
                                    'message', '2026-11-24 18:00Z'),
          'release: both units');
SELECT ok(NOT liauto.release_budget('00000000-0000-0000-0000-00000000a002',
                                    'message', '2026-11-24 18:00Z'),
          'release: nothing left to give back');
SELECT is(pg_temp.used('2026-11-24'), '3/0', 'release: never below zero');

-- A zero limit and bad kinds -----------------------------------------------
SELECT ok(NOT liauto.reserve_budget('00000000-0000-0000-0000-00000000a003',
                                    'invite', now()),
          'limit 0: nothing reserved');
SELECT is((SELECT row(remaining, resets_at)::text
           FROM liauto.budget_remaining(
               '00000000-0000-0000-0000-00000000a003', 'message', now())),
          row(0, NULL::timestamptz)::text, 'limit 0: never resets');
SELECT ok(NOT liauto.reserve_budget(gen_random_uuid(), 'invite', now()),
          'unknown account: nothing reserved');
SELECT throws_ok($$SELECT pg_temp.reserve('like', now())$$, '22023', NULL,
                 'an unknown kind is refused');

-- Two sessions at once ------------------------------------------------------
-- Committed rows, so two other connections see them: invites 25 a day and
-- 30 a week, messages 30 a day. Each session makes 40 attempts, each in its
-- own transaction, concurrently with the other.
SELECT dblink_connect('a', format('host=%s port=%s dbname=%s user=%s',
    split_part(current_setting('unix_socket_directories'), ',', 1),
    current_setting('port'), current_database(), current_user));
SELECT dblink_connect('b', format('host=%s port=%s dbname=%s user=%s',
    split_part(current_setting('unix_socket_directories'), ',', 1),
    current_setting('port'), current_database(), current_user));
SELECT dblink_exec('a', $$
    INSERT INTO liauto.clients (id, name)
    VALUES ('00000000-0000-0000-0000-00000000c003', 'engine race');
    INSERT INTO liauto.linkedin_accounts
        (id, client_id, name, unipile_account_id, daily_invite_limit,
         weekly_invite_limit, daily_message_limit)
    VALUES ('00000000-0000-0000-0000-00000000a004',
            '00000000-0000-0000-0000-00000000c003', 'race',
            'engine-budget-race', 25, 30, 30)$$);

CREATE FUNCTION pg_temp.race(p_kind_a text, p_at_a timestamptz,
                             p_kind_b text, p_at_b timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_loop  text := $q$
        DO $do$
        DECLARE
            v_taken  integer := 0;
        BEGIN
            FOR i IN 1..40 LOOP
                v_taken := v_taken + liauto.reserve_budget(
                    '00000000-0000-0000-0000-00000000a004', %L,
                    %L)::integer;
                COMMIT;
            END LOOP;
            PERFORM set_config('engine_test.taken', v_taken::text, false);
        END
        $do$ $q$;
    v_total  integer;
BEGIN
    PERFORM dblink_send_query('a', format(v_loop, p_kind_a, p_at_a));
    PERFORM dblink_send_query('b', format(v_loop, p_kind_b, p_at_b));
    PERFORM * FROM dblink_get_result('a') AS r(status text);
    PERFORM * FROM dblink_get_result('a') AS r(status text);
    PERFORM * FROM dblink_get_result('b') AS r(status text);
    PERFORM * FROM dblink_get_result('b') AS r(status text);
    SELECT sum(t::integer) INTO v_total
    FROM (SELECT * FROM dblink('a', $q$SELECT current_setting(
                                       'engine_test.taken')$q$) AS r(t text)
          UNION ALL
          SELECT * FROM dblink('b', $q$SELECT current_setting(
                                       'engine_test.taken')$q$) AS r(t text))
         AS x;
    RETURN v_total;
END
$$;

-- Messages, one day: 80 attempts, exactly 30 succeed.
SELECT is(pg_temp.race('message', '2026-11-24 12:00Z',
                       'message', '2026-11-24 13:00Z'),
          30, 'race: two sessions took exactly the daily 30 messages');
SELECT is((SELECT messages FROM liauto.rate_usage
           WHERE account_id = '00000000-0000-0000-0000-00000000a004'
             AND day = '2026-11-24'),
          30, 'race: the counter stopped at the limit');
-- Invites, two days either side of midnight: each day alone allows 25,
-- but the window ending on the 25th holds both, so 30 in total.
SELECT is(pg_temp.race('invite', '2026-11-24 23:59Z',
                       'invite', '2026-11-25 00:01Z'),
          30, 'race: two sessions on two days took exactly the weekly 30');
SELECT is((SELECT sum(invites)::integer FROM liauto.rate_usage
           WHERE account_id = '00000000-0000-0000-0000-00000000a004'),
          30, 'race: no 7-day window holds more than 30');

-- Deterministic interleaving: session a holds an uncommitted reservation
-- while b asks for the same budget. Account a005: 1 message a day, 2
-- invites a week, 1 invite already used on 23 Nov.
SELECT dblink_exec('a', $$
    INSERT INTO liauto.linkedin_accounts
        (id, client_id, name, unipile_account_id, daily_invite_limit,
         weekly_invite_limit, daily_message_limit)
    VALUES ('00000000-0000-0000-0000-00000000a005',
            '00000000-0000-0000-0000-00000000c003', 'race2',
            'engine-budget-race2', 5, 2, 1)$$);
SELECT ok((SELECT r FROM dblink('a', $$
               SELECT liauto.reserve_budget(
                   '00000000-0000-0000-0000-00000000a005', 'invite',
                   '2026-11-23 12:00Z')$$) AS t(r boolean)),
          'interleaved: one invite of the week used on 23 Nov');

CREATE FUNCTION pg_temp.interleave(p_kind text, p_at_a timestamptz,
                                   p_at_b timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_call   text := $q$SELECT liauto.reserve_budget(
                          '00000000-0000-0000-0000-00000000a005', %L, %L)$q$;
    v_a      boolean;
    v_b      boolean;
    v_busy   integer;
BEGIN
    PERFORM dblink_exec('a', 'BEGIN');
    SELECT r INTO v_a FROM dblink('a', format(v_call, p_kind, p_at_a))
                           AS t(r boolean);
    PERFORM dblink_send_query('b', format(v_call, p_kind, p_at_b));
    PERFORM pg_sleep(0.3);
    v_busy := dblink_is_busy('b');
    PERFORM dblink_exec('a', 'COMMIT');
    SELECT r INTO v_b FROM dblink_get_result('b') AS t(r boolean);
    PERFORM * FROM dblink_get_result('b') AS t(r boolean);
    RETURN format('a %s, b waited %s, b %s', v_a, v_busy = 1, v_b);
END
$$;

-- Same day: b's upsert waits for a's row, then sees it.
SELECT is(pg_temp.interleave('message', '2026-11-24 12:00Z',
                             '2026-11-24 13:00Z'),
          'a t, b waited t, b f',
          'interleaved: the second message of the day waits, then is refused');
-- Two different days (no shared row): b waits on the account lock, then
-- counts a's invite: 23 Nov + 24 Nov fill the week, 25 Nov is refused.
SELECT is(pg_temp.interleave('invite', '2026-11-24 12:00Z',
                             '2026-11-25 12:00Z'),
          'a t, b waited t, b f',
          'interleaved: an invite for the next day waits, then is refused');

SELECT dblink_exec('a', $$
    DELETE FROM liauto.linkedin_accounts
    WHERE client_id = '00000000-0000-0000-0000-00000000c003';
    DELETE FROM liauto.clients
    WHERE id = '00000000-0000-0000-0000-00000000c003'$$);
SELECT dblink_disconnect('a');
SELECT dblink_disconnect('b');

SELECT * FROM finish();
ROLLBACK;
