-- Migration 0040: api.metrics() — the Prometheus text of the product's
-- gauges, each equal to what the tables say, in the exposition format
-- (HELP and TYPE once per family, then its samples).
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(9);

SET LOCAL timezone = 'UTC';
SELECT liauto.set_clock('2026-11-24 10:00Z');

INSERT INTO liauto.clients (id, name)
VALUES ('a0000000-0000-0000-0000-000000000040', 'metrics');
INSERT INTO liauto.linkedin_accounts (id, client_id, name, unipile_account_id,
                                      status, timezone)
VALUES ('a2000000-0000-0000-0000-000000000040',
        'a0000000-0000-0000-0000-000000000040', 'Paris', 'm-paris', 'ok',
        'Europe/Paris'),
       ('a2000000-0000-0000-0000-000000000041',
        'a0000000-0000-0000-0000-000000000040', 'Gone', 'm-gone',
        'credentials', 'UTC');
INSERT INTO liauto.campaigns (id, client_id, linkedin_account_id, name)
VALUES ('a3000000-0000-0000-0000-000000000040',
        'a0000000-0000-0000-0000-000000000040',
        'a2000000-0000-0000-0000-000000000040', 'metrics');
INSERT INTO liauto.leads (id, client_id, campaign_id, first_name,
                          public_identifier)
SELECT ('a4000000-0000-0000-0000-0000000000' || n)::uuid,
       'a0000000-0000-0000-0000-000000000040',
       'a3000000-0000-0000-0000-000000000040', 'L' || n, 'metrics-' || n
FROM generate_series(10, 14) AS n;
-- due, not due yet, parked twice, unknown once
INSERT INTO liauto.actions (client_id, lead_id, campaign_id, account_id,
                            kind, step_index, status, due_at)
SELECT 'a0000000-0000-0000-0000-000000000040',
       ('a4000000-0000-0000-0000-0000000000' || n)::uuid,
       'a3000000-0000-0000-0000-000000000040',
       'a2000000-0000-0000-0000-000000000040', 'invite', 0, s, d
FROM (VALUES (10, 'scheduled', timestamptz '2026-11-24 09:00Z'),
             (11, 'scheduled', timestamptz '2026-11-24 11:00Z'),
             (12, 'needs_review', timestamptz '2026-11-24 08:00Z'),
             (13, 'needs_review', timestamptz '2026-11-24 08:00Z'),
             (14, 'unknown', timestamptz '2026-11-24 08:00Z'))
     AS x (n, s, d);
-- today in Paris is the 24th; yesterday's units do not count
INSERT INTO liauto.rate_usage (account_id, day, invites, messages)
VALUES ('a2000000-0000-0000-0000-000000000040', '2026-11-24', 7, 3),
       ('a2000000-0000-0000-0000-000000000040', '2026-11-23', 50, 50);

CREATE TEMP TABLE m AS SELECT api.metrics() AS text;

CREATE FUNCTION pg_temp.sample(p_line text) RETURNS numeric
LANGUAGE sql AS $$
    SELECT (regexp_match(m.text, '(?:^|\n)' || regexp_replace(p_line,
                '([{}"\[\]().+*?^$|\\])', '\\\1', 'g') || ' ([0-9.]+)\n'))[1]
           ::numeric
    FROM m
$$;

SELECT is(pg_temp.sample('liauto_actions{state="due"}'),
          (SELECT count(*) FROM liauto.actions
           WHERE status = 'scheduled' AND due_at <= liauto.now())::numeric,
          'due: scheduled actions whose time has come, by the engine clock');
SELECT is(pg_temp.sample('liauto_actions{state="needs_review"}'),
          (SELECT count(*) FROM liauto.actions
           WHERE status = 'needs_review')::numeric,
          'parked actions');
SELECT is(pg_temp.sample('liauto_actions{state="unknown"}'),
          (SELECT count(*) FROM liauto.actions
           WHERE status = 'unknown')::numeric,
          'actions whose outcome is being reconciled');
SELECT cmp_ok(pg_temp.sample('liauto_actions{state="needs_review"}'), '>=',
              2::numeric, 'the fixture''s parked actions are among them');
SELECT is(pg_temp.sample('liauto_budget_used_today{kind="invite"}'),
          (SELECT sum(u.invites) FROM liauto.rate_usage AS u
           JOIN liauto.linkedin_accounts AS a ON a.id = u.account_id
           WHERE u.day = (liauto.now() AT TIME ZONE a.timezone)::date)
          ::numeric,
          'invites used today, each account on its own day');
SELECT is(pg_temp.sample('liauto_linkedin_accounts{status="credentials"}'),
          (SELECT count(*) FROM liauto.linkedin_accounts
           WHERE status = 'credentials')::numeric,
          'accounts by status');
SELECT is((SELECT count(*) FROM regexp_matches(
               (SELECT text FROM m), '# TYPE liauto_actions gauge', 'g')),
          1::bigint, 'one TYPE line per family');
SELECT ok((SELECT text FROM m) ~ '^# HELP liauto_database_up [^\n]+\n'
                                 '# TYPE liauto_database_up gauge\n'
                                 'liauto_database_up 1\n',
          'the text starts with a family: HELP, TYPE, sample');
SELECT ok((SELECT bool_and(line ~ '^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+'
                                  '(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})?'
                                  ' [0-9.]+)$')
           FROM regexp_split_to_table(rtrim((SELECT text FROM m), E'\n'),
                                      E'\n') AS line),
          'every line is a comment or name{labels} value');

SELECT * FROM finish();
ROLLBACK;
