-- CSV import and export and the scheduler controls of migration 0006:
-- header mapping (BOM, export formats, custom columns), messy rows,
-- duplicates in the file and across the client's campaigns, exact counts,
-- RFC 4180 export quoting, and the scheduler status, stop and start.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(36);

-- route calls, answers, lists and callers shared by the API tests
\ir lib/api_calls.sql

-- Fixtures: clients A and B; campaigns A1, A2 (A) and B1 (B). A2 already
-- has existing-one; B1 has other-client.
INSERT INTO liauto.clients (id, name) VALUES
    ('a0000000-0000-0000-0000-000000000001', 'Client A'),
    ('b0000000-0000-0000-0000-000000000001', 'Client B');
INSERT INTO liauto.linkedin_accounts (id, client_id, name, unipile_account_id)
VALUES ('a2000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001', 'A one', 'uni-a1');
INSERT INTO liauto.campaigns (id, client_id, name) VALUES
    ('a3000000-0000-0000-0000-000000000001',
     'a0000000-0000-0000-0000-000000000001', 'A1'),
    ('a3000000-0000-0000-0000-000000000002',
     'a0000000-0000-0000-0000-000000000001', 'A2'),
    ('a3000000-0000-0000-0000-000000000003',
     'a0000000-0000-0000-0000-000000000001', 'A3 export'),
    ('b3000000-0000-0000-0000-000000000001',
     'b0000000-0000-0000-0000-000000000001', 'B1');
INSERT INTO liauto.leads (id, client_id, campaign_id, public_identifier,
                          profile_url)
VALUES ('a4000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000002', 'existing-one',
        'https://www.linkedin.com/in/existing-one'),
       ('b4000000-0000-0000-0000-000000000001',
        'b0000000-0000-0000-0000-000000000001',
        'b3000000-0000-0000-0000-000000000001', 'other-client', NULL);

-- import ----------------------------------------------------------------
-- What libcsv hands over for a Sales Navigator / Apollo style export: a
-- BOM glued to the first header name, quoted commas, quotes and newlines
-- already unquoted into the strings, short and long rows.
CREATE TEMP TABLE csv (body jsonb);
INSERT INTO csv VALUES (jsonb_build_object(
    'header', jsonb_build_array(U&'\FEFFFirst Name', 'last_name',
        'Company Name', 'Job Title', 'Email Address', 'Person Linkedin Url',
        'Notes', 'Lead Score'),
    'rows', jsonb_build_array(
        jsonb_build_array('Ann', 'Lee', 'Acme, Inc.', 'CEO',
                          'ann@acme.example',
                          'https://www.linkedin.com/in/ann-lee',
                          E'said "hi"\nthen left', ''),
        jsonb_build_array('Dup', '', '', '', '',
                          'https://linkedin.com/in/ANN-LEE/?trk=1'),
        jsonb_build_array('No', 'Id', 'Co'),
        jsonb_build_array('Ex', '', '', '', '',
                          ' linkedin.com/in/existing-one '),
        jsonb_build_array('Bad', 'Mail', '', '', 'not an email',
                          'https://www.linkedin.com/in/bad-mail'),
        jsonb_build_array('Other', '', '', '', '',
                          'https://www.linkedin.com/in/other-client'),
        to_jsonb('oops'::text),
        jsonb_build_array('Web', '', '', '', '',
                          'https://example.com/in/web'),
        jsonb_build_array('Sales', 'Nav', '', '', '',
                          'https://www.linkedin.com/sales/lead/ACwAAB1,NAME'),
        jsonb_build_array('Long', 'Row', '', '', '',
                          'https://www.linkedin.com/in/long-row', '', '7',
                          'extra', 'cells'))));

CREATE TEMP TABLE imported AS
SELECT pg_temp.call('api.leads_import', pg_temp.agent_a(),
                    '{a3000000-0000-0000-0000-000000000001}', '{}',
                    (SELECT body FROM csv)) AS a;
SELECT is((SELECT a -> 'status' FROM imported), '200', 'leads_import: 200');
SELECT is((SELECT (a -> 'body') - '{errors,duplicate_rows}'::text[]
           FROM imported),
          '{"imported": 4, "duplicates": 2, "invalid": 4}',
          'leads_import: exact counts');
SELECT is((SELECT a #> '{body,errors}' FROM imported),
          '[{"row": 3, "reason": "no LinkedIn profile URL or public identifier"},
            {"row": 5, "reason": "invalid email address"},
            {"row": 7, "reason": "not a list of fields"},
            {"row": 8, "reason": "profile URL is not a linkedin.com URL"}]',
          'leads_import: each invalid row with its 1-based number and why');
SELECT is((SELECT a #> '{body,duplicate_rows}' FROM imported),
          jsonb_build_array(
              jsonb_build_object('row', 2, 'existing_lead_id',
                  (SELECT id FROM liauto.leads
                   WHERE public_identifier = 'ann-lee')),
              '{"row": 4,
                "existing_lead_id": "a4000000-0000-0000-0000-000000000001"}'
                  ::jsonb),
          'leads_import: a repeat in the file and a lead of another '
          'campaign of the client are duplicates, naming the lead');
SELECT is((SELECT array_agg(coalesce(public_identifier, profile_url)
                            ORDER BY public_identifier)
           FROM liauto.leads
           WHERE campaign_id = 'a3000000-0000-0000-0000-000000000001'),
          ARRAY['ann-lee', 'long-row', 'other-client',
                'https://www.linkedin.com/sales/lead/ACwAAB1,NAME'],
          'leads_import: the four leads, identifiers derived from /in/ '
          'URLs; the same person in another client is no duplicate');
SELECT is((SELECT to_jsonb(l) - '{id,created_at,updated_at,client_id,'
                                 'campaign_id,provider_id,member_id,'
                                 'conversation_id,last_step_sent_at,'
                                 'sender_account_id,'
                                 'error_reason,current_step,'
                                 'next_due_at,invite_note_dropped,'
                                 'branch}'::text[]
           FROM liauto.leads AS l WHERE public_identifier = 'ann-lee'),
          '{"first_name": "Ann", "last_name": "Lee",
            "company": "Acme, Inc.", "title": "CEO",
            "email": "ann@acme.example", "public_identifier": "ann-lee",
            "profile_url": "https://www.linkedin.com/in/ann-lee",
            "custom_fields": {"Notes": "said \"hi\"\nthen left"},
            "status": "pending"}',
          'leads_import: mapped columns (BOM header too), other columns '
          'as custom fields, blank cells left out');
SELECT is((SELECT custom_fields FROM liauto.leads
           WHERE public_identifier = 'long-row'),
          '{"Lead Score": "7"}',
          'leads_import: cells past the header are ignored');

SELECT is((SELECT (a -> 'body') - '{errors,duplicate_rows}'::text[]
           FROM (SELECT pg_temp.call('api.leads_import', pg_temp.agent_a(),
                     '{a3000000-0000-0000-0000-000000000002}', '{}',
                     (SELECT body FROM csv)) AS a) AS again),
          '{"imported": 0, "duplicates": 6, "invalid": 4}',
          'leads_import: the same file into another campaign of the '
          'client imports nobody twice');
SELECT is(pg_temp.call('api.leads_import', pg_temp.agent_b(),
              '{b3000000-0000-0000-0000-000000000001}', '{}',
              (SELECT body FROM csv)) #> '{body,imported}',
          '4', 'leads_import: another client imports them (other-client '
               'is its own duplicate)');

CREATE TEMP TABLE by_identifier AS
SELECT pg_temp.call('api.leads_import', pg_temp.agent_a(),
           '{a3000000-0000-0000-0000-000000000001}', '{}',
           '{"header": ["firstname", "PUBLIC IDENTIFIER", "E-mail"],
             "rows": [["Zed", "zed-1", "z@x.example"],
                      ["Zed again", "ZED-1", ""],
                      ["Yan", "yan-1", "y@x.example"]]}') AS a;
SELECT is((SELECT a -> 'body' FROM by_identifier),
          jsonb_build_object('imported', 2, 'duplicates', 1, 'invalid', 0,
              'errors', '[]'::jsonb, 'duplicate_rows', jsonb_build_array(
                  jsonb_build_object('row', 2, 'existing_lead_id',
                      (SELECT id FROM liauto.leads
                       WHERE public_identifier = 'zed-1')))),
          'leads_import: a public identifier column, compared without case');
SELECT is((SELECT email FROM liauto.leads WHERE public_identifier = 'yan-1'),
          'y@x.example', 'leads_import: "E-mail" maps to email');

-- LinkedIn's own connections export.
SELECT is(pg_temp.call('api.leads_import', pg_temp.agent_a(),
              '{a3000000-0000-0000-0000-000000000001}', '{}',
              '{"header": ["First Name", "Last Name", "URL", "Email Address",
                           "Company", "Position", "Connected On"],
                "rows": [["Cy", "Dee", "https://www.linkedin.com/in/cy-dee",
                          "", "Initech", "CFO", "01 Mar 2026"]]}')
          #> '{body,imported}', '1',
          'leads_import: a LinkedIn connections export');
SELECT is((SELECT jsonb_build_array(company, title, custom_fields)
           FROM liauto.leads WHERE public_identifier = 'cy-dee'),
          '["Initech", "CFO", {"Connected On": "01 Mar 2026"}]',
          'leads_import: its URL, Company and Position columns are mapped');

-- A cell too long for the dedupe indexes spoils its row, not the file.
SELECT is(pg_temp.call('api.leads_import', pg_temp.agent_a(),
              '{a3000000-0000-0000-0000-000000000001}', '{}',
              jsonb_build_object(
                  'header', '["Profile URL", "Public Identifier"]'::jsonb,
                  'rows', jsonb_build_array(
                      jsonb_build_array('https://linkedin.com/in/long?'
                                        || repeat('q', 3000), ''),
                      jsonb_build_array('', repeat('y', 201)),
                      jsonb_build_array('https://linkedin.com/in/'
                                        || repeat('z', 201), ''),
                      jsonb_build_array('', 'fine-one')))) -> 'body',
          '{"imported": 1, "duplicates": 0, "invalid": 3,
            "errors": [
              {"row": 1, "reason": "profile URL longer than 2000 bytes"},
              {"row": 2,
               "reason": "public identifier longer than 200 characters"},
              {"row": 3,
               "reason": "public identifier longer than 200 characters"}],
            "duplicate_rows": []}',
          'leads_import: over-long identities are invalid rows');

SELECT is(pg_temp.err(pg_temp.call('api.leads_import', pg_temp.agent_a(),
              '{a3000000-0000-0000-0000-000000000001}', '{}',
              '{"header": ["Name", "Email"], "rows": [["x", "x@y.z"]]}')),
          pg_temp.invalid('{"header": "no LinkedIn column: name one \"LinkedIn URL\", \"Profile URL\", \"LinkedIn Profile\", \"Person Linkedin Url\" or \"Public Identifier\""}'),
          'leads_import: a file without a LinkedIn column is refused whole');
SELECT is(pg_temp.err(pg_temp.call('api.leads_import', pg_temp.agent_a(),
              '{a3000000-0000-0000-0000-000000000001}', '{}',
              '{"header": "x", "rows": {}, "sep": ";"}')),
          '{"status": 400, "code": "BAD_REQUEST",
            "details": {"header": "must be a non-empty array of column names",
                        "rows": "must be an array of rows",
                        "sep": "unknown field"}}',
          'leads_import: a body of the wrong shape is a 400');
SELECT is(pg_temp.err(pg_temp.call('api.leads_import', pg_temp.agent_a(),
              '{b3000000-0000-0000-0000-000000000001}', '{}',
              (SELECT body FROM csv))),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'leads_import: another client''s campaign is a 404');
SELECT is(pg_temp.call('api.leads_import', pg_temp.agent_a(),
              '{a3000000-0000-0000-0000-000000000001}', '{}',
              $${"header": ["LinkedIn URL", "Company"],
                 "rows": [["https://linkedin.com/in/inj", "'); DROP TABLE liauto.leads; --"]]}$$)
          #> '{body,imported}', '1',
          'leads_import: SQL in a cell is data');
SELECT is((SELECT company FROM liauto.leads WHERE public_identifier = 'inj'),
          $$'); DROP TABLE liauto.leads; --$$, 'leads_import: stored as is');

-- export ----------------------------------------------------------------
INSERT INTO liauto.leads (id, client_id, campaign_id, first_name, last_name,
                          company, title, public_identifier, profile_url,
                          custom_fields, created_at)
VALUES ('a4000000-0000-0000-0000-000000000011',
        'a0000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000003', 'Ann', 'O"Neil',
        'Acme, Inc.', E'Line1\r\nLine2', 'ann', 'https://linkedin.com/in/ann',
        '{"b": "x,y", "a": "1"}', '2026-01-01 00:00Z'),
       ('a4000000-0000-0000-0000-000000000012',
        'a0000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000003', 'Bob', NULL, NULL, NULL,
        'bob', NULL, '{"c": "z"}', '2026-01-02 00:00Z');
SELECT is(pg_temp.call('api.leads_export', pg_temp.viewer_a(),
              '{a3000000-0000-0000-0000-000000000003}',
              '{"format": "csv"}') #>> '{body}',
          'id,first_name,last_name,company,title,email,public_identifier,'
          'profile_url,status,current_step,created_at,a,b,c' || E'\r\n'
          || 'a4000000-0000-0000-0000-000000000011,Ann,"O""Neil",'
          || '"Acme, Inc.","Line1' || E'\r\n' || 'Line2",,ann,'
          || 'https://linkedin.com/in/ann,pending,0,'
          || '2026-01-01T00:00:00.000Z,1,"x,y",' || E'\r\n'
          || 'a4000000-0000-0000-0000-000000000012,Bob,,,,,bob,,pending,0,'
          || '2026-01-02T00:00:00.000Z,,,z' || E'\r\n',
          'leads_export: header, RFC 4180 quoting, CRLF, custom columns');
SELECT is(pg_temp.call('api.leads_export', pg_temp.agent_a(),
              '{a3000000-0000-0000-0000-000000000002}') #>> '{body}',
          'id,first_name,last_name,company,title,email,public_identifier,'
          'profile_url,status,current_step,created_at' || E'\r\n'
          || 'a4000000-0000-0000-0000-000000000001,,,,,,existing-one,'
          || 'https://www.linkedin.com/in/existing-one,pending,0,'
          || (SELECT api.ts(created_at) FROM liauto.leads
              WHERE id = 'a4000000-0000-0000-0000-000000000001')
          || E'\r\n',
          'leads_export: no custom column when no lead has one');
SELECT is(pg_temp.err(pg_temp.call('api.leads_export', pg_temp.agent_a(),
              '{a3000000-0000-0000-0000-000000000003}',
              '{"format": "xlsx", "limit": "5"}')),
          '{"status": 400, "code": "BAD_REQUEST",
            "details": {"limit": "unknown parameter"}}',
          'leads_export: unknown parameters are a 400');
SELECT is(pg_temp.err(pg_temp.call('api.leads_export', pg_temp.agent_a(),
              '{a3000000-0000-0000-0000-000000000003}',
              '{"format": "xlsx"}')),
          '{"status": 400, "code": "BAD_REQUEST",
            "details": {"format": "must be csv"}}',
          'leads_export: only csv');
SELECT is(pg_temp.err(pg_temp.call('api.leads_export', pg_temp.agent_b(),
              '{a3000000-0000-0000-0000-000000000003}')),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'leads_export: another client''s campaign is a 404');

INSERT INTO liauto.events (id, client_id, lead_id, campaign_id, account_id,
                           type, occurred_at, external_id, meta)
VALUES ('a5000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001',
        'a4000000-0000-0000-0000-000000000011',
        'a3000000-0000-0000-0000-000000000003',
        'a2000000-0000-0000-0000-000000000001', 'message_received',
        '2026-02-03 04:05:06.789Z', 'msg-1', '{"text": "Hi, \"you\""}'),
       ('a5000000-0000-0000-0000-000000000002',
        'a0000000-0000-0000-0000-000000000001',
        'a4000000-0000-0000-0000-000000000012',
        'a3000000-0000-0000-0000-000000000003', NULL,
        'connection_request_sent', '2026-02-01 00:00Z', NULL, '{}');
SELECT is(pg_temp.call('api.lead_events_export', pg_temp.viewer_a(),
              '{a3000000-0000-0000-0000-000000000003}') #>> '{body}',
          'id,type,occurred_at,lead_id,public_identifier,profile_url,'
          'account_id,external_id,meta' || E'\r\n'
          || 'a5000000-0000-0000-0000-000000000002,connection_request_sent,'
          || '2026-02-01T00:00:00.000Z,a4000000-0000-0000-0000-000000000012,'
          || 'bob,,,,{}' || E'\r\n'
          || 'a5000000-0000-0000-0000-000000000001,message_received,'
          || '2026-02-03T04:05:06.789Z,a4000000-0000-0000-0000-000000000011,'
          || 'ann,https://linkedin.com/in/ann,'
          || 'a2000000-0000-0000-0000-000000000001,msg-1,'
          || '"{""text"": ""Hi, \""you\""""}"' || E'\r\n',
          'lead_events_export: oldest first, meta as quoted JSON');
SELECT is(pg_temp.err(pg_temp.call('api.lead_events_export',
              pg_temp.agent_b(), '{a3000000-0000-0000-0000-000000000003}')),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'lead_events_export: another client''s campaign is a 404');

-- scheduler -------------------------------------------------------------
DELETE FROM liauto.worker_heartbeats;
INSERT INTO liauto.worker_heartbeats (worker_id, hostname, pid, version,
                                      state, started_at, last_seen_at)
VALUES ('w1', 'host-1', 101, '0.1.0', 'running', '2026-01-01 00:00Z', now()),
       ('w2', 'host-2', 102, '0.1.0', 'running', '2026-01-01 00:00Z',
        now() - interval '31 seconds'),
       ('w3', 'host-3', 103, '0.1.0', 'stopped', '2026-01-01 00:00Z', now());
INSERT INTO liauto.actions (client_id, lead_id, campaign_id, account_id,
                            kind, step_index, status, due_at,
                            claim_token, lease_expires_at, claimed_by)
VALUES ('a0000000-0000-0000-0000-000000000001',
        'a4000000-0000-0000-0000-000000000011',
        'a3000000-0000-0000-0000-000000000003',
        'a2000000-0000-0000-0000-000000000001', 'invite', 0, 'scheduled',
        now() - interval '1 minute', NULL, NULL, NULL),
       ('a0000000-0000-0000-0000-000000000001',
        'a4000000-0000-0000-0000-000000000012',
        'a3000000-0000-0000-0000-000000000003',
        'a2000000-0000-0000-0000-000000000001', 'invite', 0, 'scheduled',
        now() + interval '1 day', NULL, NULL, NULL),
       ('a0000000-0000-0000-0000-000000000001',
        'a4000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000002',
        'a2000000-0000-0000-0000-000000000001', 'invite', 0, 'claimed',
        now(), gen_random_uuid(), now() + interval '1 minute', 'w1');
UPDATE liauto.settings SET value = 'false' WHERE key = 'scheduler_paused';

SELECT is((pg_temp.call('api.scheduler_status', pg_temp.viewer_a())
           -> 'body') - 'workers',
          '{"paused": false, "paused_at": null,
            "due": {"scheduled": 1, "claimed": 1}}',
          'scheduler_status: not paused; due now and claimed work');
SELECT is((SELECT jsonb_agg(jsonb_build_array(w ->> 'worker_id',
                                              w -> 'alive', w -> 'pid'))
           FROM jsonb_array_elements(pg_temp.call('api.scheduler_status',
                    pg_temp.admin()) #> '{body,workers}') AS w),
          '[["w1", true, 101], ["w2", false, 102], ["w3", false, 103]]',
          'scheduler_status: alive = seen within 30 s and not stopped');
SELECT is(pg_temp.call('api.scheduler_status', pg_temp.agent_b())
          #> '{body,due}', '{"scheduled": 0, "claimed": 0}',
          'scheduler_status: due counts of the caller''s tenant only');
SELECT is(pg_temp.err(pg_temp.call('api.scheduler_stop', pg_temp.agent_a())),
          '{"status": 403, "code": "FORBIDDEN", "details": {}}',
          'scheduler_stop: admins only');
SELECT is((SELECT value FROM liauto.settings WHERE key = 'scheduler_paused'),
          'false', 'scheduler_stop: a refused stop changes nothing');
SELECT is(pg_temp.call('api.scheduler_stop', pg_temp.admin()) #> '{body,paused}',
          'true', 'scheduler_stop: paused');
SELECT is((SELECT value FROM liauto.settings WHERE key = 'scheduler_paused'),
          'true', 'scheduler_stop: the flag the workers read');
SELECT matches(pg_temp.call('api.scheduler_status', pg_temp.agent_a())
               #>> '{body,paused_at}',
               '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$',
               'scheduler_status: paused_at while paused');
SELECT is((pg_temp.call('api.scheduler_start', pg_temp.admin()) -> 'body')
          - '{workers,due}'::text[],
          '{"paused": false, "paused_at": null}', 'scheduler_start: resumed');
SELECT is(pg_temp.err(pg_temp.call('api.scheduler_status', pg_temp.admin(),
              '{}', '{"verbose": "1"}')),
          '{"status": 400, "code": "BAD_REQUEST",
            "details": {"verbose": "unknown parameter"}}',
          'scheduler_status: unknown parameter');

SELECT * FROM finish();
ROLLBACK;
