-- API leftovers of issue 3 (migration 0020): spreadsheet formulas in CSV
-- exports are neutralised (OWASP CSV injection); a campaign's working
-- hours may end at "24:00", the end of the day.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(19);

-- route calls, answers, lists and callers shared by the API tests
\ir lib/api_calls.sql

INSERT INTO liauto.clients (id, name)
VALUES ('a0000000-0000-0000-0000-000000000001', 'Client A');
INSERT INTO liauto.campaigns (id, client_id, name)
VALUES ('a3000000-0000-0000-0000-000000000020',
        'a0000000-0000-0000-0000-000000000001', 'A 0020');

-- csv_field: the cells a spreadsheet would evaluate -----------------------
SELECT is(liauto.csv_field(v), w, 'csv_field: ' || d)
FROM (VALUES ('=1+1', '''=1+1', 'a formula gets a leading quote'),
             ('+33 1 23 45 67 89', '''+33 1 23 45 67 89', '... so does +'),
             ('-2+3', '''-2+3', '... and -'),
             ('@SUM(A1)', '''@SUM(A1)', '... and @'),
             (E'\t=1', E'''\t=1', '... and a leading tab'),
             (E'\r=1', E'"''\r=1"', '... and a leading CR (then quoted)'),
             ('=HYPERLINK("http://x","y")',
              '"''=HYPERLINK(""http://x"",""y"")"',
              'a formula with quotes and commas: prefixed, then quoted'),
             ('a=b', 'a=b', 'an = inside a value is left alone'),
             ('Ann', 'Ann', 'plain text is unchanged'))
     AS t(v, w, d);

-- the export through the route -------------------------------------------
INSERT INTO liauto.leads (client_id, campaign_id, first_name, company,
                          public_identifier, custom_fields)
VALUES ('a0000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000020', '=cmd|'' /C calc''!A0',
        '@Acme', 'csv-injection', '{"=evil": "-1"}');
SELECT is(pg_temp.call('api.leads_export', pg_temp.agent_a(),
                       '{a3000000-0000-0000-0000-000000000020}') -> 'status',
          '200', 'export: 200');
SELECT alike(pg_temp.call('api.leads_export', pg_temp.agent_a(),
                          '{a3000000-0000-0000-0000-000000000020}') ->> 'body',
             '%,''=evil' || E'\r\n' || '%,''=cmd|'' /C calc''!A0,,''@Acme,,,'
             || 'csv-injection,,pending,0,%,''-1' || E'\r\n',
             'export: header and cells starting with = @ - are quoted as text');

-- working_hours_end "24:00" ---------------------------------------------
SELECT is(api.field_error('"24:00"', '{"type": "time", "end_of_day": true}'),
          NULL, 'field_error: 24:00 is an end of day');
SELECT is(api.field_error('"24:00"', '{"type": "time"}'),
          'must be a time "HH:MM"', 'field_error: ... not a plain time');
SELECT is(api.field_error('"24:01"', '{"type": "time", "end_of_day": true}'),
          'must be a time "HH:MM" or "24:00" (the end of the day)',
          'field_error: 24:01 is no time at all');

CREATE TEMP TABLE made (answer jsonb);
INSERT INTO made SELECT pg_temp.call('api.campaigns_create',
    pg_temp.agent_a(), '{}', '{}',
    '{"name": "Evenings", "working_hours_start": "18:00",
      "working_hours_end": "24:00", "timezone": "Europe/London"}');
SELECT is((SELECT answer -> 'status' FROM made), '201',
          'create: a window up to 24:00 is accepted');
SELECT is((SELECT answer #>> '{body,working_hours_end}' FROM made), '24:00',
          '... and answered as 24:00');
SELECT is((SELECT liauto.snap_to_working_hours(
                      '2026-11-24 23:59 Europe/London', c.timezone,
                      c.working_hours_start, c.working_hours_end,
                      c.working_days)
           FROM liauto.campaigns AS c
           WHERE c.id = (SELECT (answer #>> '{body,id}')::uuid FROM made)),
          '2026-11-24 23:59 Europe/London'::timestamptz,
          '... and the engine sends until midnight');
SELECT is(pg_temp.err(pg_temp.call('api.campaigns_update', pg_temp.agent_a(),
              ARRAY[(SELECT answer #>> '{body,id}' FROM made)], '{}',
              '{"working_hours_start": "24:00"}')),
          pg_temp.invalid(
              '{"working_hours_start": "must be a time \"HH:MM\""}'),
          'update: 24:00 is no start');
SELECT is(pg_temp.err(pg_temp.call('api.campaigns_create', pg_temp.agent_a(),
              '{}', '{}', '{"name": "Late", "working_hours_end": "24:30"}')),
          pg_temp.invalid('{"working_hours_end":
              "must be a time \"HH:MM\" or \"24:00\" (the end of the day)"}'),
          'create: 24:30 is refused, saying what is allowed');

SELECT * FROM finish();
ROLLBACK;
