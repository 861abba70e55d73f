-- Claiming (migration 0029): an account's next action comes from its own
-- range of actions_account_due_idx (no sort, no other account's rows),
-- and an account with a send in flight is not even tried.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
-- Before any call: whether a function's calls are counted is fixed when
-- its first call is planned.
SET LOCAL track_functions = 'all';
SELECT plan(4);

SET LOCAL timezone = 'UTC';
SELECT liauto.set_clock('2026-11-24 10:00Z');

INSERT INTO liauto.clients (id, name)
VALUES ('00000000-0000-0000-0020-c00000000002', 'claim');
INSERT INTO liauto.linkedin_accounts (id, client_id, name, unipile_account_id,
                                      spacing_min_seconds,
                                      spacing_max_seconds)
VALUES ('00000000-0000-0000-0020-a00000000002',
        '00000000-0000-0000-0020-c00000000002', 'acc', 'claim', 0, 0);
INSERT INTO liauto.campaigns (id, client_id, linkedin_account_id, name,
                              status, timezone, working_hours_start,
                              working_hours_end, working_days, sequence,
                              started_at)
VALUES ('00000000-0000-0000-0020-ca0000000002',
        '00000000-0000-0000-0020-c00000000002',
        '00000000-0000-0000-0020-a00000000002', 'claim', 'active', 'UTC',
        '00:00', '24:00', '{1,2,3,4,5,6,7}', '[{"type": "invite"}]',
        '2026-11-23 09:00Z');
INSERT INTO liauto.leads (client_id, campaign_id, public_identifier,
                          created_at)
SELECT '00000000-0000-0000-0020-c00000000002',
       '00000000-0000-0000-0020-ca0000000002', 'claim-' || n, '2026-11-20Z'
FROM generate_series(1, 3) AS n;
SELECT engine.plan_due(10);
-- Other accounts' scheduled actions (the accounts out of ok: nothing to
-- claim there), and statistics that know of them: the plan must not
-- depend on what earlier test files left behind.
INSERT INTO liauto.linkedin_accounts (id, client_id, name, unipile_account_id,
                                      status)
SELECT ('00000000-0000-0000-0021-' || lpad(n::text, 12, '0'))::uuid,
       '00000000-0000-0000-0020-c00000000002', 'other ' || n, 'claim-o' || n,
       'credentials'
FROM generate_series(1, 20) AS n;
WITH l AS (
    INSERT INTO liauto.leads (client_id, campaign_id, public_identifier)
    SELECT '00000000-0000-0000-0020-c00000000002',
           '00000000-0000-0000-0020-ca0000000002', 'claim-other-' || n
    FROM generate_series(1, 2000) AS n
    RETURNING id, public_identifier)
INSERT INTO liauto.actions (client_id, lead_id, campaign_id, account_id, kind,
                            step_index, due_at)
SELECT '00000000-0000-0000-0020-c00000000002', l.id,
       '00000000-0000-0000-0020-ca0000000002',
       ('00000000-0000-0000-0021-'
        || lpad((1 + substr(l.public_identifier, 13)::integer % 20)::text,
                12, '0'))::uuid,
       'invite', 0, '2026-11-24 08:00Z'
FROM l;
ANALYZE liauto.actions;

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
    SELECT * FROM liauto.actions AS x
    WHERE x.account_id = '00000000-0000-0000-0020-a00000000002'
      AND x.status = 'scheduled' AND x.due_at <= liauto.now()
    ORDER BY x.due_at, x.id LIMIT 1 FOR UPDATE SKIP LOCKED$$),
    E'^Limit[^\n]*\n  ->  LockRows[^\n]*\n        ->  Index Scan using '
    'actions_account_due_idx',
    'explain: the account''s next action is the head of its index range');

CREATE FUNCTION pg_temp.tries() RETURNS bigint
LANGUAGE sql AS $$
    SELECT coalesce((SELECT calls FROM pg_stat_xact_user_functions
                     WHERE schemaname = 'liauto'
                       AND funcname = 'claim_for_account'), 0)
$$;

SELECT is((SELECT count(*)::integer
           FROM engine.claim_actions('w', 5, '1 minute')),
          1, 'claim: one action of the account');
CREATE TEMP TABLE before AS SELECT pg_temp.tries() AS n;
SELECT is((SELECT count(*)::integer
           FROM engine.claim_actions('w', 5, '1 minute')),
          0, 'claim: nothing more while it is in flight');
SELECT is(pg_temp.tries() - (SELECT n FROM before), 0::bigint,
          'claim: ... and the account is not even tried');

SELECT * FROM finish();
ROLLBACK;
