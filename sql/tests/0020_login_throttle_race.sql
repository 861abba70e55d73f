-- Login throttling under concurrency (migration 0020, liauto.lock_login):
-- failed logins sent at the same moment from several connections (dblink)
-- cannot all pass the throttle check before one of them is counted.
--
-- Deterministic interleaving: a "gate" connection holds a SHARE lock on
-- liauto.login_attempts, so every attempt that passes the check stops at
-- recording its failure. Once all attempts wait on a lock the gate opens.
-- Without serialisation every attempt has passed the check by then; with
-- it, only the first has and the others wait on its email or address
-- lock and check after it committed.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT plan(4);

CREATE FUNCTION pg_temp.connect(p_name text) RETURNS text
LANGUAGE sql AS $$
    SELECT dblink_connect(p_name, format(
        'host=%s port=%s dbname=%s user=%s',
        split_part(current_setting('unix_socket_directories'), ',', 1),
        current_setting('port'), current_database(), current_user))
$$;

-- Logins of (email, address) pairs, one per connection, all sent while
-- the gate is closed; returns the statuses, sorted.
CREATE FUNCTION pg_temp.race(p_logins text[][]) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_n        integer := array_length(p_logins, 1);
    v_waiting  integer;
    v_result   text;
BEGIN
    PERFORM dblink_exec('gate', 'BEGIN');
    PERFORM dblink_exec('gate',
        'LOCK TABLE liauto.login_attempts IN SHARE MODE');

    FOR i IN 1..v_n LOOP
        PERFORM pg_temp.connect('login' || i);
        PERFORM dblink_send_query('login' || i, format(
            'SELECT status FROM api.auth_login(%L, ''{}'', ''{}'', %L)',
            jsonb_build_object('ip', p_logins[i][2]),
            jsonb_build_object('email', p_logins[i][1],
                               'password', 'wrong')));
    END LOOP;

    -- Every attempt blocked: on the gate's table lock or on an attempt's
    -- login lock (bounded, so a hang is a failed test, not a stuck run).
    FOR t IN 1..600 LOOP
        PERFORM pg_stat_clear_snapshot();
        SELECT count(*) INTO v_waiting FROM pg_stat_activity
        WHERE query LIKE 'SELECT status FROM api.auth_login(%'
          AND wait_event_type = 'Lock';
        EXIT WHEN v_waiting = v_n;
        PERFORM pg_sleep(0.05);
    END LOOP;

    PERFORM dblink_exec('gate', 'COMMIT');

    SELECT string_agg(s::text, ',' ORDER BY s) INTO v_result
    FROM generate_series(1, v_n) AS i,
         LATERAL dblink_get_result('login' || i) AS r(s integer);
    PERFORM dblink_disconnect('login' || i)
    FROM generate_series(1, v_n) AS i;
    RETURN v_result;
END
$$;

SELECT pg_temp.connect('gate');
SELECT dblink_exec('gate',
    $$DELETE FROM liauto.login_attempts WHERE email LIKE '%@race.example'$$);

-- One email, 7 connections, 7 addresses: 5 failures counted, then 429.
SELECT is(pg_temp.race(ARRAY(
              SELECT ARRAY['victim@race.example', '192.0.2.' || n]
              FROM generate_series(1, 7) AS n)),
          '401,401,401,401,401,429,429',
          'one email: 7 concurrent failures, only 5 pass the throttle');
SELECT is((SELECT n FROM dblink('gate', $$
               SELECT count(*)::integer FROM liauto.login_attempts
               WHERE email = 'victim@race.example'$$) AS t(n integer)),
          5, 'one email: exactly the limit is recorded');

-- One address with 18 failures counted, 4 new emails at once: 2 fit.
SELECT dblink_exec('gate', $$
    INSERT INTO liauto.login_attempts (email, ip)
    SELECT 'spray' || n || '@race.example', '198.51.100.200'
    FROM generate_series(1, 18) AS n$$);
SELECT is(pg_temp.race(ARRAY(
              SELECT ARRAY['new' || n || '@race.example', '198.51.100.200']
              FROM generate_series(1, 4) AS n)),
          '401,401,429,429',
          'one address: 4 concurrent failures with 2 left, 2 pass');
SELECT is((SELECT n FROM dblink('gate', $$
               SELECT count(*)::integer FROM liauto.login_attempts
               WHERE ip = '198.51.100.200'$$) AS t(n integer)),
          20, 'one address: exactly the limit is recorded');

SELECT dblink_exec('gate',
    $$DELETE FROM liauto.login_attempts WHERE email LIKE '%@race.example'$$);
SELECT dblink_disconnect('gate');

SELECT * FROM finish();
ROLLBACK;
