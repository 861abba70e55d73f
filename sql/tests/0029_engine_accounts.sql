-- Re-checking accounts out of ok (migration 0029): which accounts a worker
-- asks Unipile about and when, and what its answer does.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(9);

SET LOCAL timezone = 'UTC';
SELECT liauto.set_clock('2026-11-24 10:00Z');

INSERT INTO liauto.clients (id, name)
VALUES ('00000000-0000-0000-0020-c00000000003', 'recheck');
INSERT INTO liauto.linkedin_accounts (id, client_id, name, unipile_account_id,
                                      status, status_reason)
SELECT ('00000000-0000-0000-0020-a0000000000' || n)::uuid,
       '00000000-0000-0000-0020-c00000000003', 'acc ' || n, 'recheck-' || n,
       st, CASE WHEN st <> 'ok' THEN 'why ' || n END
FROM (VALUES (1, 'ok'), (2, 'error'), (3, 'credentials'), (4, 'deleted'))
     AS x(n, st);

CREATE FUNCTION pg_temp.due() RETURNS text
LANGUAGE sql AS $$
    SELECT coalesce(string_agg(unipile_account_id, ','
                               ORDER BY unipile_account_id), '')
    FROM engine.accounts_to_recheck(300, 10)
$$;
CREATE FUNCTION pg_temp.account(p_n integer) RETURNS text
LANGUAGE sql AS $$
    SELECT status || ' / ' || coalesce(status_reason, '-')
    FROM liauto.linkedin_accounts
    WHERE id = ('00000000-0000-0000-0020-a0000000000' || p_n)::uuid
$$;

SELECT is(pg_temp.due(), 'recheck-2,recheck-3',
          'recheck: the accounts neither ok nor deleted');
SELECT is(pg_temp.due(), '', 'recheck: not again within the interval');
SELECT liauto.shift_clock('5 minutes');
SELECT is(pg_temp.due(), 'recheck-2,recheck-3',
          'recheck: again once it has passed (engine clock)');

SELECT is(engine.record_account_status(
              '00000000-0000-0000-0020-a00000000002', 'CREDENTIALS'),
          'credentials', 'record: another status is kept, lower case');
SELECT is(pg_temp.account(2),
          'credentials / Unipile reports the account as CREDENTIALS',
          'record: ... with the reason');
SELECT is(engine.record_account_status(
              '00000000-0000-0000-0020-a00000000003', 'CREDENTIALS'),
          'credentials', 'record: the same status again');
SELECT is(pg_temp.account(3), 'credentials / why 3',
          'record: ... keeps the reason it had');
SELECT is(engine.record_account_status(
              '00000000-0000-0000-0020-a00000000002', 'RECONNECTED'),
          'ok', 'record: RECONNECTED is ok');
SELECT is(pg_temp.account(2), 'ok / -',
          'record: ... and the reason goes');

SELECT * FROM finish();
ROLLBACK;
