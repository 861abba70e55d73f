-- Exports (migration 0032): the CSV field rules kept by the inlinable
-- csv_field, the campaign exports as rows (header row first with the
-- status, one record per later row, refusals raised before any row), the
-- CSV of the views 0018 lacked (variants, real-time) and the sheets of the
-- XLSX report.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(14);

SET LOCAL timezone = 'UTC';

\ir lib/api_calls.sql

INSERT INTO liauto.clients (id, name) VALUES
    ('a0000000-0000-0000-0000-000000000001', 'Client A'),
    ('b0000000-0000-0000-0000-000000000001', 'Client B');
INSERT INTO liauto.campaigns (id, client_id, name) VALUES
    ('a3000000-0000-0000-0000-000000000001',
     'a0000000-0000-0000-0000-000000000001', 'A one'),
    ('b3000000-0000-0000-0000-000000000001',
     'b0000000-0000-0000-0000-000000000001', 'B one');
INSERT INTO liauto.leads (client_id, campaign_id, public_identifier,
                          created_at)
SELECT 'a0000000-0000-0000-0000-000000000001',
       'a3000000-0000-0000-0000-000000000001', 'p' || i,
       '2026-01-01 00:00Z'::timestamptz + i * interval '1 minute'
FROM generate_series(1, 5) AS i;

-- csv_field ---------------------------------------------------------------
SELECT is(array_agg(liauto.csv_field(v) ORDER BY n),
          ARRAY['', 'plain', '"a,b"', '"say ""hi"""', E'"l1\nl2"',
                '''=1+1', '''+33 1', '''-2', '''@x', E'''\tx',
                E'"''\r1"', '"''=A(""x"",1)"', '12'],
          'csv_field: RFC 4180 quoting and the formula guard, as 0020')
FROM unnest(ARRAY[NULL, 'plain', 'a,b', 'say "hi"', E'l1\nl2', '=1+1',
                  '+33 1', '-2', '@x', E'\tx', E'\r1', '=A("x",1)', '12'])
     WITH ORDINALITY AS f (v, n);

-- the campaign exports as rows ----------------------------------------------
SELECT is(array_agg(e.status ORDER BY e.n), ARRAY[200, NULL, NULL, NULL,
                                                   NULL, NULL],
          'leads_export: the status on the header row, then one row a lead')
FROM api.leads_export(pg_temp.viewer_a(),
                      '{a3000000-0000-0000-0000-000000000001}', '{}', NULL)
     WITH ORDINALITY AS e (status, body, n);
SELECT is(array_agg(split_part(e.body, ',', 7) ORDER BY e.n),
          ARRAY['public_identifier', 'p1', 'p2', 'p3', 'p4', 'p5'],
          'leads_export: oldest lead first')
FROM api.leads_export(pg_temp.viewer_a(),
                      '{a3000000-0000-0000-0000-000000000001}', '{}', NULL)
     WITH ORDINALITY AS e (status, body, n);
SELECT ok(bool_and(e.body ~ E'^[^\r\n]*\r\n$'),
          'leads_export: every row is one CRLF-ended record')
FROM api.leads_export(pg_temp.viewer_a(),
                      '{a3000000-0000-0000-0000-000000000001}', '{}', NULL)
     AS e;
SELECT throws_ok($$SELECT * FROM api.leads_export(pg_temp.viewer_a(),
                      '{b3000000-0000-0000-0000-000000000001}', '{}', NULL)$$,
                 'LIAPI', 'campaign not found',
                 'leads_export: another tenant''s campaign raises, no row');
SELECT throws_ok($$SELECT * FROM api.lead_events_export(pg_temp.viewer_a(),
                      '{a3000000-0000-0000-0000-000000000001}',
                      '{"format": "xlsx"}', NULL)$$,
                 'LIAPI', 'invalid query parameters',
                 'lead_events_export: a bad query raises, no row');
SELECT is(pg_temp.call('api.lead_events_export', pg_temp.viewer_a(),
              '{a3000000-0000-0000-0000-000000000001}') #>> '{body}',
          'id,type,occurred_at,lead_id,public_identifier,profile_url,'
          'account_id,external_id,meta' || E'\r\n',
          'lead_events_export: the header alone without events');

-- every view as CSV -------------------------------------------------------
SELECT is(pg_temp.call('api.analytics_export', pg_temp.viewer_a(), '{}',
              '{"view": "variants",
                "id": "a3000000-0000-0000-0000-000000000001"}'),
          jsonb_build_object('status', 200, 'body',
              'step_index,variant,text,sent,accepted,acceptance_rate,'
              'replied,reply_rate' || E'\r\n'),
          'analytics_export: variants (none: the header)');
SELECT is(liauto.analytics_csv('variants', '{"steps": [{"step_index": 1,
              "variants": [{"variant": 0, "text": "=hi", "sent": 2,
                            "accepted": null, "acceptance_rate": null,
                            "replied": 1, "reply_rate": 0.5000}]}]}'),
          'step_index,variant,text,sent,accepted,acceptance_rate,replied,'
          'reply_rate' || E'\r\n' || '1,0,''=hi,2,,,1,0.5000' || E'\r\n',
          'analytics_csv: variants, one record per step and variant');
SELECT matches(pg_temp.call('api.analytics_export', pg_temp.viewer_a(), '{}',
                   '{"view": "real-time"}') #>> '{body}',
               E'^field,value\r\n(.*\r\n)*now,2[^\r]*\r\n',
               'analytics_export: real-time needs no id');
SELECT is(pg_temp.err(pg_temp.call('api.analytics_export', pg_temp.viewer_a(),
              '{}', '{"view": "variants",
                      "id": "b3000000-0000-0000-0000-000000000001"}')),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'analytics_export: another tenant''s variants are a 404');

-- the XLSX report's sheets ------------------------------------------------
SELECT is(ARRAY(SELECT s ->> 'name'
                FROM jsonb_array_elements(
                         (pg_temp.call('api.analytics_report',
                              pg_temp.viewer_a(),
                              '{a3000000-0000-0000-0000-000000000001}')
                          #> '{body,sheets}')) AS s),
          '{summary,timeseries,funnel,timings,"replies by step",accounts}',
          'analytics_report: one sheet per view (no variants without any)');
SELECT is((pg_temp.call('api.analytics_report', pg_temp.viewer_a(),
               '{a3000000-0000-0000-0000-000000000001}', '{"days": 7}')
           #> '{body,sheets,1,rows}') -> 6 ->> 'day',
          liauto.local_today('UTC')::text,
          'analytics_report: days= reaches the timeseries sheet');
SELECT is(pg_temp.err(pg_temp.call('api.analytics_report', pg_temp.viewer_a(),
              '{b3000000-0000-0000-0000-000000000001}')),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'analytics_report: another tenant''s campaign is a 404');

SELECT * FROM finish();
ROLLBACK;
