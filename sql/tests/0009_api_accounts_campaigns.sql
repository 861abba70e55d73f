-- The linkedin-accounts and campaigns API of migration 0006: CRUD, field
-- validation, tenant isolation by id, filter and cursor, pagination,
-- sequences (validation, in-flight refusal), status, start and pause.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(100);

-- route calls, answers, lists and callers shared by the API tests
\ir lib/api_calls.sql

-- Fixtures: clients A and B, an account and a campaign each.
INSERT INTO liauto.clients (id, name) VALUES
    ('a0000000-0000-0000-0000-000000000001', 'Client A'),
    ('b0000000-0000-0000-0000-000000000001', 'Client B');
INSERT INTO liauto.linkedin_accounts (id, client_id, name, unipile_account_id,
                                      created_at)
VALUES
    ('a2000000-0000-0000-0000-000000000001',
     'a0000000-0000-0000-0000-000000000001', 'A one', 'uni-a1',
     '2026-01-01 00:00Z'),
    ('b2000000-0000-0000-0000-000000000001',
     'b0000000-0000-0000-0000-000000000001', 'B one', 'uni-b1',
     '2026-01-01 00:00Z');
INSERT INTO liauto.campaigns (id, client_id, linkedin_account_id, name,
                              created_at)
VALUES
    ('a3000000-0000-0000-0000-000000000001',
     'a0000000-0000-0000-0000-000000000001',
     'a2000000-0000-0000-0000-000000000001', 'A outreach',
     '2026-01-01 00:00Z'),
    ('b3000000-0000-0000-0000-000000000001',
     'b0000000-0000-0000-0000-000000000001',
     'b2000000-0000-0000-0000-000000000001', 'B outreach',
     '2026-01-01 00:00Z');


-- accounts: create ------------------------------------------------------
CREATE TEMP TABLE answer AS
SELECT pg_temp.call('api.accounts_create', pg_temp.agent_a(), '{}', '{}',
    '{"name": "  Sales  ", "unipile_account_id": "uni-a2",
      "timezone": "Europe/Paris", "daily_invite_limit": 10}') AS a;
SELECT is((SELECT a -> 'status' FROM answer), '201',
          'accounts_create: 201');
SELECT is((SELECT a #> '{body,client_id}' FROM answer),
          '"a0000000-0000-0000-0000-000000000001"',
          'accounts_create: an agent''s account belongs to its client');
SELECT is((SELECT a #>> '{body,name}' || '|' || (a #>> '{body,timezone}')
                  || '|' || (a #>> '{body,daily_invite_limit}')
                  || '|' || (a #>> '{body,daily_message_limit}')
                  || '|' || (a #>> '{body,status}')
           FROM answer),
          'Sales|Europe/Paris|10|100|ok',
          'accounts_create: trimmed name, given and default fields');
SELECT matches((SELECT a #>> '{body,created_at}' FROM answer),
               '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$',
               'accounts_create: ISO 8601 UTC timestamps');
SELECT ok(EXISTS (SELECT 1 FROM liauto.linkedin_accounts
                  WHERE id = (SELECT (a #>> '{body,id}')::uuid FROM answer)
                    AND name = 'Sales'),
          'accounts_create: stored');

SELECT is(pg_temp.err(pg_temp.call('api.accounts_create', pg_temp.admin(),
              '{}', '{}', '{"name": "x", "unipile_account_id": "u"}')),
          '{"status": 422, "code": "VALIDATION_FAILED",
            "details": {"client_id": "is required"}}',
          'accounts_create: an admin must name the client');
SELECT is(pg_temp.err(pg_temp.call('api.accounts_create', pg_temp.agent_a(),
              '{}', '{}',
              '{"name": " ", "unipile_account_id": 5, "status": "ok",
                "id": "x", "color": "red", "daily_invite_limit": "5",
                "weekly_invite_limit": 100001, "timezone": "Mars/Base",
                "provider_user_id": null}')),
          '{"status": 422, "code": "VALIDATION_FAILED",
            "details": {"name": "must not be blank",
                        "unipile_account_id": "must be a string",
                        "status": "read-only field",
                        "id": "read-only field",
                        "color": "unknown field",
                        "daily_invite_limit": "must be an integer",
                        "weekly_invite_limit": "must be between 0 and 100000",
                        "timezone": "must be an IANA timezone name such as Europe/London"}}',
          'accounts_create: one error per bad field, all at once');
SELECT is(pg_temp.err(pg_temp.call('api.accounts_create', pg_temp.agent_a(),
              '{}', '{}', '{}')),
          '{"status": 422, "code": "VALIDATION_FAILED",
            "details": {"name": "is required",
                        "unipile_account_id": "is required"}}',
          'accounts_create: missing required fields');
SELECT is(pg_temp.err(pg_temp.call('api.accounts_create', pg_temp.agent_a(),
              '{}', '{}',
              '{"name": "x", "unipile_account_id": "u-x",
                "client_id": "b0000000-0000-0000-0000-000000000001"}')),
          '{"status": 422, "code": "VALIDATION_FAILED",
            "details": {"client_id": "unknown client"}}',
          'accounts_create: an agent cannot use another client''s id');
SELECT is(pg_temp.call('api.accounts_create', pg_temp.admin(), '{}', '{}',
              '{"name": "x", "unipile_account_id": "u-x",
                "client_id": "b0000000-0000-0000-0000-000000000001"}')
          #>> '{body,client_id}',
          'b0000000-0000-0000-0000-000000000001',
          'accounts_create: an admin creates for any client');
SELECT is(pg_temp.err(pg_temp.call('api.accounts_create', pg_temp.agent_a(),
              '{}', '{}', '{"name": "x", "unipile_account_id": "uni-b1"}')),
          '{"status": 409, "code": "DUPLICATE",
            "details": {"unipile_account_id": "already registered"}}',
          'accounts_create: a unipile_account_id is registered once');
SELECT is(pg_temp.err(pg_temp.call('api.accounts_create', pg_temp.agent_a(),
              '{}', '{}', '["name"]')),
          '{"status": 400, "code": "BAD_REQUEST", "details": {}}',
          'accounts_create: a body that is not an object is a 400');
SELECT is(pg_temp.err(pg_temp.call('api.accounts_create', pg_temp.agent_a(),
              '{}', '{"dry_run": "1"}',
              '{"name": "x", "unipile_account_id": "u-y"}')),
          '{"status": 400, "code": "BAD_REQUEST",
            "details": {"dry_run": "unknown parameter"}}',
          'accounts_create: unknown query parameter');
SELECT is(pg_temp.call('api.accounts_create', pg_temp.agent_a(), '{}', '{}',
              $${"name": "Robert'); DROP TABLE liauto.clients;--",
                 "unipile_account_id": "' OR 1=1 --"}$$)
          #>> '{body,name}',
          $$Robert'); DROP TABLE liauto.clients;--$$,
          'accounts_create: SQL in a field is stored as data');

-- accounts: get, update, delete ----------------------------------------
SELECT is(pg_temp.call('api.accounts_get', pg_temp.viewer_a(),
              '{a2000000-0000-0000-0000-000000000001}') #>> '{body,name}',
          'A one', 'accounts_get: a viewer reads its client''s account');
SELECT is(pg_temp.err(pg_temp.call('api.accounts_get', pg_temp.agent_a(),
              '{b2000000-0000-0000-0000-000000000001}')),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'accounts_get: another client''s account is a 404');
SELECT is(pg_temp.err(pg_temp.call('api.accounts_get', pg_temp.admin(),
              '{00000000-0000-0000-0000-000000000000}')),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'accounts_get: a missing account is a 404');
SELECT is(pg_temp.call('api.accounts_get', pg_temp.admin(),
              '{b2000000-0000-0000-0000-000000000001}') #>> '{body,name}',
          'B one', 'accounts_get: an admin reads any client''s account');

SELECT is(pg_temp.err(pg_temp.call('api.accounts_get', pg_temp.agent_a(),
              '{a2000000-0000-0000-0000-000000000001}',
              '{"expand": "campaigns"}')),
          '{"status": 400, "code": "BAD_REQUEST",
            "details": {"expand": "unknown parameter"}}',
          'accounts_get: unknown query parameter');

SELECT is(pg_temp.call('api.accounts_update', pg_temp.agent_a(),
              '{a2000000-0000-0000-0000-000000000001}', '{}',
              '{"name": "A first", "provider_user_id": "ACoA1"}')
          #>> '{body,provider_user_id}',
          'ACoA1', 'accounts_update: 200 with the new values');
SELECT is((SELECT name FROM liauto.linkedin_accounts
           WHERE id = 'a2000000-0000-0000-0000-000000000001'),
          'A first', 'accounts_update: stored');
SELECT is(pg_temp.err(pg_temp.call('api.accounts_update', pg_temp.agent_a(),
              '{a2000000-0000-0000-0000-000000000001}', '{}',
              '{"client_id": "a0000000-0000-0000-0000-000000000001",
                "status": "error", "daily_message_limit": -1}')),
          '{"status": 422, "code": "VALIDATION_FAILED",
            "details": {"client_id": "read-only field",
                        "status": "read-only field",
                        "daily_message_limit": "must be between 0 and 100000"}}',
          'accounts_update: client_id and status are read-only');
SELECT is(pg_temp.err(pg_temp.call('api.accounts_update', pg_temp.agent_a(),
              '{b2000000-0000-0000-0000-000000000001}', '{}',
              '{"name": "mine now"}')),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'accounts_update: another client''s account is a 404');
SELECT is((SELECT name FROM liauto.linkedin_accounts
           WHERE id = 'b2000000-0000-0000-0000-000000000001'),
          'B one', 'accounts_update: and it is left alone');
SELECT is(pg_temp.err(pg_temp.call('api.accounts_update', pg_temp.agent_a(),
              '{a2000000-0000-0000-0000-000000000001}', '{}',
              '{"unipile_account_id": "uni-b1"}')),
          '{"status": 409, "code": "DUPLICATE",
            "details": {"unipile_account_id": "already registered"}}',
          'accounts_update: duplicate unipile_account_id');

SELECT is(pg_temp.err(pg_temp.call('api.accounts_delete', pg_temp.agent_a(),
              '{a2000000-0000-0000-0000-000000000001}')),
          '{"status": 409, "code": "CONFLICT",
            "details": {"campaigns": ["a3000000-0000-0000-0000-000000000001"]}}',
          'accounts_delete: refused while a campaign uses it');
SELECT is(pg_temp.err(pg_temp.call('api.accounts_delete', pg_temp.agent_a(),
              '{b2000000-0000-0000-0000-000000000001}')),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'accounts_delete: another client''s account is a 404');
SELECT is(pg_temp.call('api.accounts_delete', pg_temp.agent_a(),
              ARRAY[(SELECT a #>> '{body,id}' FROM answer)]),
          '{"status": 204, "body": ""}',
          'accounts_delete: 204 and an empty body');
SELECT is(pg_temp.call('api.accounts_get', pg_temp.agent_a(),
              ARRAY[(SELECT a #>> '{body,id}' FROM answer)]) -> 'status',
          '404', 'accounts_delete: gone');

-- accounts: lists -------------------------------------------------------
INSERT INTO liauto.linkedin_accounts (client_id, name, unipile_account_id,
                                      status, created_at)
SELECT 'a0000000-0000-0000-0000-000000000001', 'Page ' || n, 'uni-p' || n,
       CASE WHEN n = 3 THEN 'credentials' ELSE 'ok' END,
       '2026-02-01 00:00Z'::timestamptz + n * interval '1 hour'
FROM generate_series(1, 5) AS n;

SELECT is(cardinality(pg_temp.walk('api.accounts_list', pg_temp.agent_a(),
                                   '{"limit": "2"}')),
          (SELECT count(*)::integer FROM liauto.linkedin_accounts
           WHERE client_id = 'a0000000-0000-0000-0000-000000000001'),
          'accounts_list: pages of 2 cover every account of the client');
SELECT is(pg_temp.walk('api.accounts_list', pg_temp.agent_a(),
                       '{"limit": "2"}'),
          (SELECT array_agg(id::text ORDER BY created_at DESC, id DESC)
           FROM liauto.linkedin_accounts
           WHERE client_id = 'a0000000-0000-0000-0000-000000000001'),
          'accounts_list: newest first, each once, nothing of client B');
SELECT is(pg_temp.walk('api.accounts_list', pg_temp.agent_a(),
                       '{"limit": "3", "sort": "name", "order": "asc"}'),
          (SELECT array_agg(id::text ORDER BY name, id)
           FROM liauto.linkedin_accounts
           WHERE client_id = 'a0000000-0000-0000-0000-000000000001'),
          'accounts_list: sort=name order=asc across pages');
SELECT is(pg_temp.ids(pg_temp.call('api.accounts_list', pg_temp.agent_a(),
              '{}', '{"filter[status]": "credentials"}')),
          ARRAY(SELECT id::text FROM liauto.linkedin_accounts
                WHERE name = 'Page 3'),
          'accounts_list: filter[status]');
SELECT is(pg_temp.ids(pg_temp.call('api.accounts_list', pg_temp.agent_a(),
              '{}', '{"filter[search]": "one"}')),
          '{}', 'accounts_list: filter[search] never finds another client''s');
SELECT is(pg_temp.ids(pg_temp.call('api.accounts_list', pg_temp.admin(),
              '{}', '{"filter[search]": "ONE"}')),
          '{b2000000-0000-0000-0000-000000000001}',
          'accounts_list: filter[search] is case-insensitive (admin sees B)');
SELECT is(pg_temp.ids(pg_temp.call('api.accounts_list', pg_temp.agent_a(),
              '{}', $${"filter[search]": "' OR 1=1 --",
                       "filter[status]": "ok' OR 'x'='x"}$$)),
          '{}', 'accounts_list: SQL in filters is data');
SELECT is(pg_temp.ids(pg_temp.call('api.accounts_list', pg_temp.agent_a(),
              '{}', '{"filter[search]": "%"}')),
          '{}', 'accounts_list: % in a search is literal');
SELECT is(pg_temp.ids(pg_temp.call('api.accounts_list', pg_temp.agent_a(),
              '{}', '{"filter[created_from]": "2026-02-01T02:00:00Z",
                      "filter[created_to]": "2026-02-01T04:00:00Z",
                      "order": "asc"}')),
          ARRAY(SELECT id::text FROM liauto.linkedin_accounts
                WHERE name IN ('Page 2', 'Page 3') ORDER BY name),
          'accounts_list: created range, from inclusive, to exclusive');
SELECT is(pg_temp.err(pg_temp.call('api.accounts_list', pg_temp.agent_a(),
              '{}', '{"filter[created_from]": "yesterday",
                      "filter[owner]": "x", "limit": "0"}')),
          '{"status": 400, "code": "BAD_REQUEST",
            "details": {"filter[owner]": "unknown parameter",
                        "limit": "must be an integer between 1 and 200"}}',
          'accounts_list: bad parameters are a 400');
SELECT is(pg_temp.err(pg_temp.call('api.accounts_list', pg_temp.agent_a(),
              '{}', '{"filter[created_from]": "yesterday"}')),
          '{"status": 400, "code": "BAD_REQUEST",
            "details": {"filter[created_from]": "must be an ISO 8601 timestamp"}}',
          'accounts_list: a created bound must be ISO 8601');

-- A cursor taken by an admin from a page holding client B's account
-- leads an agent of A to A's rows only.
SELECT is(pg_temp.ids(pg_temp.call('api.accounts_list', pg_temp.agent_a(),
              '{}', jsonb_build_object('limit', '50', 'cursor',
                  pg_temp.call('api.accounts_list', pg_temp.admin(), '{}',
                               '{"limit": "1", "order": "asc"}')
                  #>> '{body,next_cursor}', 'order', 'asc'))),
          (SELECT array_agg(id::text ORDER BY created_at, id)
           FROM liauto.linkedin_accounts
           WHERE client_id = 'a0000000-0000-0000-0000-000000000001'
             AND (created_at, id) > (SELECT created_at, id
                                     FROM liauto.linkedin_accounts
                                     ORDER BY created_at, id LIMIT 1)),
          'accounts_list: a foreign cursor yields only the caller''s rows');
SELECT is(pg_temp.err(pg_temp.call('api.accounts_list', pg_temp.agent_a(),
              '{}', jsonb_build_object('sort', 'name', 'cursor',
                  pg_temp.call('api.accounts_list', pg_temp.agent_a(), '{}',
                               '{"limit": "1"}') #>> '{body,next_cursor}'))),
          '{"status": 400, "code": "BAD_REQUEST",
            "details": {"cursor": "invalid cursor"}}',
          'accounts_list: a cursor of another sort is a 400');


-- campaigns: create, get, update, delete --------------------------------
DROP TABLE answer;
CREATE TEMP TABLE answer AS
SELECT pg_temp.call('api.campaigns_create', pg_temp.agent_a(), '{}', '{}',
    '{"name": "Q1 push"}') AS a;
SELECT is((SELECT a -> 'status' FROM answer), '201',
          'campaigns_create: 201');
SELECT is((SELECT (a -> 'body') - '{id,created_at,updated_at}'::text[]
           FROM answer),
          '{"client_id": "a0000000-0000-0000-0000-000000000001",
            "linkedin_account_id": null, "name": "Q1 push",
            "status": "draft", "timezone": "UTC",
            "working_hours_start": "09:00", "working_hours_end": "17:00",
            "working_days": [1, 2, 3, 4, 5], "started_at": null,
            "paused_at": null, "stop_company_on_reply": false,
            "company_daily_invite_cap": null, "auto_withdraw_days": 21,
            "note_fallback": "send_without_note", "sender_account_ids": [],
            "holidays": [], "holiday_calendar": null}',
          'campaigns_create: a draft with the default schedule');
SELECT is((pg_temp.call('api.campaigns_create', pg_temp.agent_a(), '{}', '{}',
              '{"name": "Weekend", "timezone": "America/New_York",
                "working_hours_start": "10:30", "working_hours_end": "12:00",
                "working_days": [6, 7], "stop_company_on_reply": true,
                "company_daily_invite_cap": 3, "auto_withdraw_days": null,
                "note_fallback": "stop",
                "holidays": ["2026-12-31", "2026-12-24"],
                "holiday_calendar": "US",
                "linkedin_account_id": "a2000000-0000-0000-0000-000000000001"}')
          -> 'body') - '{id,created_at,updated_at,client_id,name,status,'
                      'started_at,paused_at}'::text[],
          '{"timezone": "America/New_York", "working_hours_start": "10:30",
            "working_hours_end": "12:00", "working_days": [6, 7],
            "stop_company_on_reply": true, "company_daily_invite_cap": 3,
            "auto_withdraw_days": null, "note_fallback": "stop",
            "linkedin_account_id": "a2000000-0000-0000-0000-000000000001",
            "sender_account_ids": ["a2000000-0000-0000-0000-000000000001"],
            "holidays": ["2026-12-24", "2026-12-31"],
            "holiday_calendar": "US"}',
          'campaigns_create: every field given');
SELECT is(pg_temp.err(pg_temp.call('api.campaigns_create', pg_temp.agent_a(),
              '{}', '{}',
              '{"name": "", "working_days": [0, 8, "1"],
                "working_hours_start": "9am", "timezone": "UTC+3",
                "linkedin_account_id": "b2000000-0000-0000-0000-000000000001",
                "status": "active", "sequence": [], "budget": 1}')),
          '{"status": 422, "code": "VALIDATION_FAILED",
            "details": {"name": "must not be blank",
                "working_days": "must be a non-empty list of distinct ISO weekdays 1 (Monday) to 7 (Sunday)",
                "working_hours_start": "must be a time \"HH:MM\"",
                "timezone": "must be an IANA timezone name such as Europe/London",
                "linkedin_account_id": "unknown linkedin account",
                "status": "read-only field", "sequence": "read-only field",
                "budget": "unknown field"}}',
          'campaigns_create: one error per bad field; another client''s '
          'account is unknown');
SELECT is(pg_temp.err(pg_temp.call('api.campaigns_create', pg_temp.agent_a(),
              '{}', '{}',
              '{"name": "x", "working_hours_start": "18:00",
                "working_days": [1, 1]}')),
          '{"status": 422, "code": "VALIDATION_FAILED",
            "details": {"working_hours_end": "must be after working_hours_start",
                "working_days": "must be a non-empty list of distinct ISO weekdays 1 (Monday) to 7 (Sunday)"}}',
          'campaigns_create: start after the default end; repeated day');

SELECT is(pg_temp.err(pg_temp.call('api.campaigns_get', pg_temp.agent_a(),
              '{b3000000-0000-0000-0000-000000000001}')),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'campaigns_get: another client''s campaign is a 404');
SELECT is(pg_temp.call('api.campaigns_get', pg_temp.viewer_a(),
              ARRAY[(SELECT a #>> '{body,id}' FROM answer)])
          #>> '{body,name}', 'Q1 push', 'campaigns_get: 200');

SELECT is(pg_temp.err(pg_temp.call('api.campaigns_get', pg_temp.agent_a(),
              '{a3000000-0000-0000-0000-000000000001}',
              '{"expand": "leads", "fields": "name"}')),
          '{"status": 400, "code": "BAD_REQUEST",
            "details": {"expand": "unknown parameter",
                        "fields": "unknown parameter"}}',
          'campaigns_get: unknown query parameters');
-- The hot GETs run without an exception block: entering one starts a
-- subtransaction, which cost GET /campaigns/{id} 60 % of its throughput.
SELECT is((SELECT array_agg(p.proname::text ORDER BY p.proname)
           FROM pg_proc AS p
           WHERE p.pronamespace = 'api'::regnamespace
             AND p.proname IN ('accounts_get', 'campaigns_get', 'leads_get')
             AND p.prosrc !~* '\mEXCEPTION\M'),
          '{accounts_get,campaigns_get,leads_get}',
          'the GET-by-id functions have no exception block');

SELECT is(pg_temp.call('api.campaigns_update', pg_temp.agent_a(),
              ARRAY[(SELECT a #>> '{body,id}' FROM answer)], '{}',
              '{"working_hours_end": "18:30", "name": "Q1 push 2"}')
          -> 'body' -> 'working_hours_end', '"18:30"',
          'campaigns_update: 200 with the new values');
SELECT is(pg_temp.err(pg_temp.call('api.campaigns_update', pg_temp.agent_a(),
              ARRAY[(SELECT a #>> '{body,id}' FROM answer)], '{}',
              '{"working_hours_start": "19:00",
                "client_id": "a0000000-0000-0000-0000-000000000001"}')),
          '{"status": 422, "code": "VALIDATION_FAILED",
            "details": {"working_hours_end": "must be after working_hours_start",
                        "client_id": "read-only field"}}',
          'campaigns_update: checks against the stored end; client fixed');
SELECT is(pg_temp.err(pg_temp.call('api.campaigns_update', pg_temp.agent_a(),
              '{b3000000-0000-0000-0000-000000000001}', '{}',
              '{"name": "x"}')),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'campaigns_update: another client''s campaign is a 404');

-- campaigns: lists ------------------------------------------------------
SELECT is(pg_temp.walk('api.campaigns_list', pg_temp.agent_a(),
                       '{"limit": "1"}'),
          (SELECT array_agg(id::text ORDER BY created_at DESC, id DESC)
           FROM liauto.campaigns
           WHERE client_id = 'a0000000-0000-0000-0000-000000000001'),
          'campaigns_list: pages of 1, only the client''s campaigns');
SELECT is(pg_temp.walk('api.campaigns_list', pg_temp.admin(),
                       '{"limit": "2", "sort": "name", "order": "asc"}'),
          (SELECT array_agg(id::text ORDER BY name, id)
           FROM liauto.campaigns),
          'campaigns_list: an admin sees every client''s, sorted by name');
SELECT is(pg_temp.ids(pg_temp.call('api.campaigns_list', pg_temp.agent_b(),
              '{}', '{"filter[search]": "outreach"}')),
          '{b3000000-0000-0000-0000-000000000001}',
          'campaigns_list: filter[search] within the tenant');
SELECT is(pg_temp.err(pg_temp.call('api.campaigns_list', pg_temp.agent_a(),
              '{}', '{"sort": "budget"}')),
          '{"status": 400, "code": "BAD_REQUEST",
            "details": {"sort": "must be one of: created_at, name, status"}}',
          'campaigns_list: unknown sort field');


-- sequences -------------------------------------------------------------
SELECT is(pg_temp.call('api.campaigns_sequence_get', pg_temp.agent_a(),
              '{a3000000-0000-0000-0000-000000000001}'),
          '{"status": 200, "body": {"steps": [], "version": 0}}',
          'campaigns_sequence_get: no steps yet (version 0)');
SELECT is(pg_temp.call('api.campaigns_sequence_put', pg_temp.agent_a(),
              '{a3000000-0000-0000-0000-000000000001}', '{}',
              '{"steps": [
                 {"type": "invite", "note": null, "delay_days": 0},
                 {"type": "message", "text": "Hi {{first_name|there}}",
                  "delay_days": 3},
                 {"type": "message",
                  "text": "{{ company }}: {{custom.Team Size|your team}}",
                  "delay_minutes": 90}]}') -> 'status',
          '200', 'campaigns_sequence_put: a valid sequence is stored');
SELECT is((SELECT jsonb_array_length(sequence) || ' ' || (sequence #>> '{1,text}')
           FROM liauto.campaigns
           WHERE id = 'a3000000-0000-0000-0000-000000000001'),
          '3 Hi {{first_name|there}}',
          'campaigns_sequence_put: campaigns.sequence holds the steps');
SELECT is(pg_temp.call('api.campaigns_sequence_get', pg_temp.viewer_a(),
              '{a3000000-0000-0000-0000-000000000001}') #> '{body,steps,2}',
          '{"type": "message", "delay_minutes": 90,
            "text": "{{ company }}: {{custom.Team Size|your team}}"}',
          'campaigns_sequence_get: the steps as stored');
SELECT is(pg_temp.err(pg_temp.call('api.campaigns_sequence_get',
              pg_temp.agent_a(), '{b3000000-0000-0000-0000-000000000001}')),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'campaigns_sequence_get: another client''s campaign is a 404');
SELECT is(pg_temp.err(pg_temp.call('api.campaigns_sequence_put',
              pg_temp.agent_a(), '{b3000000-0000-0000-0000-000000000001}',
              '{}', '{"steps": [{"type": "invite", "delay_days": 0}]}')),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'campaigns_sequence_put: another client''s campaign is a 404');

CREATE FUNCTION pg_temp.put_steps(p_steps jsonb) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT pg_temp.err(pg_temp.call('api.campaigns_sequence_put',
        pg_temp.agent_a(), '{a3000000-0000-0000-0000-000000000001}', '{}',
        jsonb_build_object('steps', p_steps)))
$$;

SELECT is(pg_temp.put_steps('[]'),
          pg_temp.invalid('{"steps": "must have at least one step"}'),
          'sequence: at least one step');
SELECT is(pg_temp.put_steps('{"type": "invite"}'),
          pg_temp.invalid('{"steps": "must be an array"}'),
          'sequence: steps is an array');
SELECT is(pg_temp.err(pg_temp.call('api.campaigns_sequence_put',
              pg_temp.agent_a(), '{a3000000-0000-0000-0000-000000000001}',
              '{}', '{"steps": [], "version": 2}')),
          pg_temp.invalid('{"version": "unknown field"}'),
          'sequence: unknown body field');
SELECT is(pg_temp.put_steps(
              '[{"type": "message", "text": "hi", "delay_days": 0}]'),
          pg_temp.invalid('{"steps[0].type": "the first step must be \"invite\"",
                            "steps[0].text": "unknown field"}'),
          'sequence: the first step is an invite');
SELECT is(pg_temp.put_steps(jsonb_build_array(jsonb_build_object(
              'type', 'invite', 'note', repeat('x', 301), 'delay_days', 0))),
          pg_temp.invalid('{"steps[0].note": "must be at most 300 characters"}'),
          'sequence: an invite note is at most 300 characters');
SELECT is(pg_temp.put_steps(jsonb_build_array(jsonb_build_object(
              'type', 'invite', 'note', repeat('é', 300), 'delay_days', 0)))
          -> 'status', '200',
          'sequence: 300 characters (not bytes) is fine');
SELECT is(pg_temp.put_steps(
              '[{"type": "invite", "delay_days": 0},
                {"type": "invite", "text": "  ", "delay_days": 1},
                {"type": "message", "delay_days": 1, "delay_minutes": 5,
                 "text": "x"},
                {"type": "message", "text": "x"},
                {"type": "message", "text": "x", "delay_days": -1},
                {"type": "message", "text": "x", "delay_minutes": 1.5},
                {"type": "message", "text": "x", "delay_days": "3"},
                "wait"]'),
          pg_temp.invalid('{
              "steps[1].type": "steps after the first must be \"message\"",
              "steps[1].text": "required: a non-empty string",
              "steps[2].delay_days": "exactly one of delay_days and delay_minutes is required",
              "steps[3].delay_days": "exactly one of delay_days and delay_minutes is required",
              "steps[4].delay_days": "must be an integer between 0 and 365",
              "steps[5].delay_minutes": "must be an integer between 0 and 525600",
              "steps[6].delay_days": "must be an integer between 0 and 365",
              "steps[7]": "must be an object"}'),
          'sequence: message steps, text and exactly one integer delay >= 0');
SELECT is(pg_temp.put_steps(
              '[{"type": "invite", "note": "Hi {{first_name}", "delay_days": 0},
                {"type": "message", "text": "{{nickname|friend}}",
                 "delay_days": 1},
                {"type": "message", "text": "{{}} there", "delay_days": 1},
                {"type": "message", "text": "first_name}} oops",
                 "delay_days": 1}]'),
          pg_temp.invalid('{
              "steps[0].note": "unbalanced braces in template",
              "steps[1].text": "unknown variable \"nickname\" (known: first_name, last_name, company, title, email, custom.<key>)",
              "steps[2].text": "empty variable in template",
              "steps[3].text": "unbalanced braces in template"}'),
          'sequence: templates parse and use known variables');

-- In flight: one lead has been sent the invite (current_step 1), another
-- has step 1 scheduled in the outbox.
SELECT is(pg_temp.put_steps(
              '[{"type": "invite", "note": null, "delay_days": 0},
                {"type": "message", "text": "Hi {{first_name|there}}",
                 "delay_days": 3},
                {"type": "message", "text": "later", "delay_days": 5}]')
          -> 'status', '200', 'sequence: reset before leads start');
INSERT INTO liauto.leads (id, client_id, campaign_id, public_identifier,
                          status, current_step)
VALUES ('a4000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000001', 'sent-invite',
        'invite_sent', 1),
       ('a4000000-0000-0000-0000-000000000002',
        'a0000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000001', 'step-one-due',
        'connected', 1);
INSERT INTO liauto.actions (client_id, lead_id, campaign_id, account_id,
                            kind, step_index)
VALUES ('a0000000-0000-0000-0000-000000000001',
        'a4000000-0000-0000-0000-000000000002',
        'a3000000-0000-0000-0000-000000000001',
        'a2000000-0000-0000-0000-000000000001', 'message', 1);

-- Since 0037 an edit of steps leads reached is a new version, not a 409
-- (sql/tests/0037_sequence_branches_versions.sql tests the rule).
SELECT is(pg_temp.put_steps(
              '[{"type": "invite", "note": "Now with a note",
                 "delay_days": 0},
                {"type": "message", "text": "Hi {{first_name|there}}",
                 "delay_days": 3}]') -> 'status',
          '200', 'sequence: a reached step may change (a new version)');
SELECT is(pg_temp.put_steps(
              '[{"type": "invite", "note": null, "delay_days": 0},
                {"type": "message", "text": "later", "delay_days": 5},
                {"type": "message", "text": "Hi {{first_name|there}}",
                 "delay_days": 3}]') -> 'status',
          '200', 'sequence: a step with a scheduled send may change');
SELECT is((SELECT status FROM liauto.actions
           WHERE lead_id = 'a4000000-0000-0000-0000-000000000002'),
          'cancelled',
          'sequence: the scheduled send of a changed step is cancelled');
SELECT is((SELECT sequence #>> '{1,text}' FROM liauto.campaigns
           WHERE id = 'a3000000-0000-0000-0000-000000000001'),
          'later', 'sequence: the edit is stored');
SELECT is(pg_temp.put_steps(
              '[{"type": "invite", "note": null, "delay_days": 0},
                {"type": "message", "text": "Hi {{first_name|there}}",
                 "delay_days": 3},
                {"type": "message", "text": "edited", "delay_days": 4},
                {"type": "message", "text": "appended", "delay_minutes": 0}]')
          -> 'status', '200',
          'sequence: unreached steps may change and steps may be appended');
UPDATE liauto.actions SET status = 'cancelled'
WHERE lead_id = 'a4000000-0000-0000-0000-000000000002';
UPDATE liauto.leads SET current_step = 0
WHERE id = 'a4000000-0000-0000-0000-000000000002';
SELECT is(pg_temp.put_steps(
              '[{"type": "invite", "note": null, "delay_days": 0},
                {"type": "message", "text": "rewritten", "delay_days": 3}]')
          -> 'status', '200',
          'sequence: a cancelled send no longer holds its step');


-- status, start, pause --------------------------------------------------
INSERT INTO liauto.events (client_id, lead_id, campaign_id, type,
                           occurred_at)
VALUES ('a0000000-0000-0000-0000-000000000001',
        'a4000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000001', 'connection_request_sent',
        '2026-03-04 05:06:07.891Z');
SELECT is(pg_temp.call('api.campaigns_status', pg_temp.viewer_a(),
              '{a3000000-0000-0000-0000-000000000001}') -> 'body',
          '{"id": "a3000000-0000-0000-0000-000000000001", "status": "draft",
            "leads": {"pending": 0, "invite_sent": 1, "connected": 1,
                      "messaged": 0, "responded": 0, "completed": 0,
                      "error": 0, "withdrawn": 0, "skipped": 0},
            "last_activity_at": "2026-03-04T05:06:07.891Z"}',
          'campaigns_status: every lead status counted, last activity');
SELECT is(pg_temp.err(pg_temp.call('api.campaigns_status', pg_temp.agent_b(),
              '{a3000000-0000-0000-0000-000000000001}')),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'campaigns_status: another client''s campaign is a 404');

SELECT is(pg_temp.err(pg_temp.call('api.campaigns_start', pg_temp.agent_a(),
              ARRAY[(SELECT a #>> '{body,id}' FROM answer)])),
          '{"status": 422, "code": "CAMPAIGN_NOT_READY",
            "details": {"sequence": "the campaign has no steps: PUT its sequence",
                        "linkedin_account": "the campaign has no linkedin account"}}',
          'campaigns_start: no steps and no account');
SELECT is(pg_temp.call('api.campaigns_update', pg_temp.agent_a(),
              ARRAY[(SELECT a #>> '{body,id}' FROM answer)], '{}',
              '{"linkedin_account_id": "a2000000-0000-0000-0000-000000000001"}')
          -> 'status', '200', 'campaigns_update: account set');
SELECT is(pg_temp.err(pg_temp.call('api.campaigns_start', pg_temp.agent_a(),
              ARRAY[(SELECT a #>> '{body,id}' FROM answer)])),
          '{"status": 422, "code": "CAMPAIGN_NOT_READY",
            "details": {"sequence": "the campaign has no steps: PUT its sequence"}}',
          'campaigns_start: no steps');
SELECT is((SELECT status FROM liauto.campaigns
           WHERE id = (SELECT (a #>> '{body,id}')::uuid FROM answer)),
          'draft', 'campaigns_start: a refused start leaves it a draft');
SELECT is(pg_temp.err(pg_temp.call('api.campaigns_start', pg_temp.agent_b(),
              '{a3000000-0000-0000-0000-000000000001}')),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'campaigns_start: another client''s campaign is a 404');

SELECT is(pg_temp.err(pg_temp.call('api.campaigns_pause', pg_temp.agent_a(),
              '{a3000000-0000-0000-0000-000000000001}')),
          '{"status": 409, "code": "CONFLICT",
            "details": {"status": "draft"}}',
          'campaigns_pause: a draft cannot be paused');
SELECT is(pg_temp.call('api.campaigns_start', pg_temp.agent_a(),
              '{a3000000-0000-0000-0000-000000000001}') #>> '{body,status}',
          'active', 'campaigns_start: steps and account → active');
SELECT ok((SELECT started_at IS NOT NULL AND paused_at IS NULL
           FROM liauto.campaigns
           WHERE id = 'a3000000-0000-0000-0000-000000000001'),
          'campaigns_start: started_at set');
SELECT is(pg_temp.call('api.campaigns_start', pg_temp.agent_a(),
              '{a3000000-0000-0000-0000-000000000001}') -> 'status',
          '200', 'campaigns_start: starting an active campaign is a no-op');
SELECT is(pg_temp.err(pg_temp.call('api.campaigns_update', pg_temp.agent_a(),
              '{a3000000-0000-0000-0000-000000000001}', '{}',
              '{"linkedin_account_id": null}')),
          pg_temp.invalid('{"linkedin_account_id": "an active campaign needs a linkedin account"}'),
          'campaigns_update: an active campaign keeps its account');
SELECT is(pg_temp.err(pg_temp.call('api.campaigns_delete', pg_temp.agent_a(),
              '{a3000000-0000-0000-0000-000000000001}')),
          '{"status": 409, "code": "CONFLICT",
            "details": {"status": "active"}}',
          'campaigns_delete: refused while active');
SELECT is(pg_temp.call('api.campaigns_pause', pg_temp.agent_a(),
              '{a3000000-0000-0000-0000-000000000001}') #>> '{body,status}',
          'paused', 'campaigns_pause: active → paused');
SELECT ok((SELECT paused_at IS NOT NULL FROM liauto.campaigns
           WHERE id = 'a3000000-0000-0000-0000-000000000001'),
          'campaigns_pause: paused_at set');
SELECT is(pg_temp.call('api.campaigns_pause', pg_temp.agent_a(),
              '{a3000000-0000-0000-0000-000000000001}') -> 'status',
          '200', 'campaigns_pause: pausing again is a no-op');
SELECT is(pg_temp.call('api.campaigns_start', pg_temp.agent_a(),
              '{a3000000-0000-0000-0000-000000000001}')
          #>> '{body,paused_at}', NULL,
          'campaigns_start: resumes a paused campaign');
UPDATE liauto.campaigns SET status = 'completed'
WHERE id = 'b3000000-0000-0000-0000-000000000001';
SELECT is(pg_temp.err(pg_temp.call('api.campaigns_start', pg_temp.agent_b(),
              '{b3000000-0000-0000-0000-000000000001}')),
          '{"status": 409, "code": "CONFLICT",
            "details": {"status": "completed"}}',
          'campaigns_start: a completed campaign stays completed');

SELECT is(pg_temp.err(pg_temp.call('api.campaigns_delete', pg_temp.agent_a(),
              '{b3000000-0000-0000-0000-000000000001}')),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'campaigns_delete: another client''s campaign is a 404');
SELECT is(pg_temp.call('api.campaigns_delete', pg_temp.agent_a(),
              ARRAY[(SELECT a #>> '{body,id}' FROM answer)]),
          '{"status": 204, "body": ""}', 'campaigns_delete: 204');
SELECT is(pg_temp.call('api.campaigns_get', pg_temp.agent_a(),
              ARRAY[(SELECT a #>> '{body,id}' FROM answer)]) -> 'status',
          '404', 'campaigns_delete: gone');

SELECT * FROM finish();
ROLLBACK;
