-- API leftovers of issue 3 (migration 0020): spreadsheet formulas in CSV
-- exports are neutralised (OWASP CSV injection).
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(11);

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

SELECT * FROM finish();
ROLLBACK;
