-- The leads API of migration 0006: create through /leads and
-- /campaigns/{id}/leads, client-wide dedupe, validation, PATCH status
-- rules, delete, lists (filters, sorts, pages, tenant isolation) and the
-- per-lead events.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(58);

-- route calls, answers, lists and callers shared by the API tests
\ir lib/api_calls.sql

-- Fixtures: clients A and B; campaigns A1 and A2 of A, B1 of B; Jane is a
-- lead of A1.
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
    ('b3000000-0000-0000-0000-000000000001',
     'b0000000-0000-0000-0000-000000000001', 'B1');
INSERT INTO liauto.leads (id, client_id, campaign_id, first_name, last_name,
                          public_identifier, profile_url, created_at)
VALUES ('a4000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000001', 'Jane', 'Doe', 'jane-doe',
        'https://www.linkedin.com/in/jane-doe/', '2026-01-01 00:00Z');


-- create ----------------------------------------------------------------
CREATE TEMP TABLE answer AS
SELECT pg_temp.call('api.leads_create', pg_temp.agent_a(), '{}', '{}',
    '{"campaign_id": "a3000000-0000-0000-0000-000000000002",
      "first_name": " Ann ", "last_name": "Lee", "company": "Acme",
      "title": "CEO", "email": "ann@acme.example",
      "profile_url": "https://uk.linkedin.com/in/Ann-Lee/?trk=x",
      "custom_fields": {"team": "Sales", "size": 12}}') AS a;
SELECT is((SELECT a -> 'status' FROM answer), '201', 'leads_create: 201');
SELECT is((SELECT (a -> 'body') - '{id,created_at,updated_at}'::text[]
           FROM answer),
          '{"client_id": "a0000000-0000-0000-0000-000000000001",
            "campaign_id": "a3000000-0000-0000-0000-000000000002",
            "first_name": "Ann", "last_name": "Lee", "company": "Acme",
            "title": "CEO", "email": "ann@acme.example",
            "public_identifier": "ann-lee",
            "profile_url": "https://uk.linkedin.com/in/Ann-Lee/?trk=x",
            "custom_fields": {"team": "Sales", "size": 12},
            "status": "pending", "error_reason": null, "current_step": 0,
            "sender_account_id": null, "last_step_sent_at": null}',
          'leads_create: the lead, its identifier derived from the URL');
SELECT is(pg_temp.err(pg_temp.call('api.leads_create', pg_temp.agent_a(),
              '{}', '{}',
              '{"campaign_id": "a3000000-0000-0000-0000-000000000002",
                "public_identifier": "JANE-DOE"}')),
          '{"status": 409, "code": "DUPLICATE",
            "details": {"existing_lead_id": "a4000000-0000-0000-0000-000000000001"}}',
          'leads_create: same identifier (any case) in another campaign '
          'of the client is a duplicate');
SELECT is(pg_temp.err(pg_temp.call('api.leads_create', pg_temp.agent_a(),
              '{}', '{}',
              '{"campaign_id": "a3000000-0000-0000-0000-000000000001",
                "profile_url": "linkedin.com/in/JANE-DOE?utm=1",
                "public_identifier": "someone-else"}')),
          '{"status": 409, "code": "DUPLICATE",
            "details": {"existing_lead_id": "a4000000-0000-0000-0000-000000000001"}}',
          'leads_create: same normalised profile URL is a duplicate');
SELECT is(pg_temp.call('api.leads_create', pg_temp.agent_b(), '{}', '{}',
              '{"campaign_id": "b3000000-0000-0000-0000-000000000001",
                "public_identifier": "jane-doe"}') -> 'status',
          '201', 'leads_create: the same person may be a lead of another '
                 'client');
SELECT is(pg_temp.err(pg_temp.call('api.leads_create', pg_temp.agent_a(),
              '{}', '{}',
              '{"campaign_id": "b3000000-0000-0000-0000-000000000001",
                "public_identifier": "x", "status": "connected",
                "current_step": 2, "email": "not-an-email",
                "custom_fields": ["a"], "first_name": 7, "nickname": "J"}')),
          pg_temp.invalid('{"campaign_id": "unknown campaign",
                            "status": "read-only field",
                            "current_step": "read-only field",
                            "email": "must be an email address",
                            "custom_fields": "must be an object",
                            "first_name": "must be a string",
                            "nickname": "unknown field"}'),
          'leads_create: one error per bad field; another client''s '
          'campaign is unknown');
SELECT is(pg_temp.err(pg_temp.call('api.leads_create', pg_temp.agent_a(),
              '{}', '{}', '{"first_name": "x"}')),
          pg_temp.invalid('{"campaign_id": "is required",
                            "profile_url": "a lead needs a profile_url or a public_identifier"}'),
          'leads_create: campaign and a LinkedIn identity are required');
SELECT is(pg_temp.err(pg_temp.call('api.leads_create', pg_temp.agent_a(),
              '{}', '{}',
              '{"campaign_id": "a3000000-0000-0000-0000-000000000001",
                "profile_url": "https://example.com/in/jane"}')),
          pg_temp.invalid('{"profile_url": "must be a linkedin.com URL"}'),
          'leads_create: a profile URL is a LinkedIn URL');
-- Both identities are unique-index keys: too long would be a 500.
SELECT is(pg_temp.err(pg_temp.call('api.leads_create', pg_temp.agent_a(),
              '{}', '{}', jsonb_build_object(
                  'campaign_id', 'a3000000-0000-0000-0000-000000000001',
                  'profile_url',
                  'https://linkedin.com/in/x?' || repeat('é', 999)))),
          pg_temp.invalid('{"profile_url": "must be at most 2000 bytes"}'),
          'leads_create: a profile URL is at most 2000 bytes');
SELECT is(pg_temp.err(pg_temp.call('api.leads_create', pg_temp.agent_a(),
              '{}', '{}', jsonb_build_object(
                  'campaign_id', 'a3000000-0000-0000-0000-000000000001',
                  'profile_url',
                  'https://linkedin.com/in/' || repeat('a', 201)))),
          pg_temp.invalid('{"profile_url": "its /in/ name is longer than 200 characters"}'),
          'leads_create: the identifier taken from it is at most 200');
SELECT is(pg_temp.err(pg_temp.call('api.leads_create', pg_temp.agent_a(),
              '{}', '{}', '"lead"')),
          '{"status": 400, "code": "BAD_REQUEST", "details": {}}',
          'leads_create: a body that is not an object is a 400');
SELECT is(pg_temp.call('api.leads_create', pg_temp.agent_a(), '{}', '{}',
              $${"campaign_id": "a3000000-0000-0000-0000-000000000001",
                 "public_identifier": "x'); DELETE FROM liauto.leads; --",
                 "company": "\"; DROP TABLE liauto.campaigns; --"}$$)
          -> 'body' ->> 'company',
          '"; DROP TABLE liauto.campaigns; --',
          'leads_create: SQL in fields is stored as data');

-- A concurrent request that commits the same person between the
-- duplicate check and the INSERT, played by a trigger inserting it first.
CREATE FUNCTION pg_temp.racer() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO liauto.leads (id, client_id, campaign_id, public_identifier)
    VALUES ('a4000000-0000-0000-0000-0000000000ff', NEW.client_id,
            'a3000000-0000-0000-0000-000000000002', 'RACER');
    RETURN NEW;
END
$$;
CREATE TRIGGER racer BEFORE INSERT ON liauto.leads FOR EACH ROW
    WHEN (NEW.public_identifier = 'racer') EXECUTE FUNCTION pg_temp.racer();
-- (Here the trigger's row is rolled back with the failed INSERT, so the
-- answer cannot name it; a committed competitor is found and named.)
SELECT is(pg_temp.err(pg_temp.call('api.leads_create', pg_temp.agent_a(),
              '{}', '{}',
              '{"campaign_id": "a3000000-0000-0000-0000-000000000001",
                "public_identifier": "racer"}')) - 'details',
          '{"status": 409, "code": "DUPLICATE"}',
          'leads_create: losing a race to the same person is a 409 too');
DROP TRIGGER racer ON liauto.leads;

SELECT is(pg_temp.call('api.campaign_leads_create', pg_temp.agent_a(),
              '{a3000000-0000-0000-0000-000000000001}', '{}',
              '{"public_identifier": "bob-o", "last_name": "O''Brien"}')
          #>> '{body,campaign_id}',
          'a3000000-0000-0000-0000-000000000001',
          'campaign_leads_create: the lead joins the path''s campaign');
SELECT is(pg_temp.err(pg_temp.call('api.campaign_leads_create',
              pg_temp.agent_a(), '{a3000000-0000-0000-0000-000000000001}',
              '{}',
              '{"public_identifier": "carl",
                "campaign_id": "a3000000-0000-0000-0000-000000000002"}')),
          pg_temp.invalid('{"campaign_id": "read-only field"}'),
          'campaign_leads_create: the campaign comes from the path');
SELECT is(pg_temp.err(pg_temp.call('api.campaign_leads_create',
              pg_temp.agent_a(), '{b3000000-0000-0000-0000-000000000001}',
              '{}', '{"public_identifier": "carl"}')),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'campaign_leads_create: another client''s campaign is a 404');
SELECT is((SELECT count(*) FROM liauto.leads
           WHERE client_id = 'b0000000-0000-0000-0000-000000000001'),
          1::bigint, 'campaign_leads_create: nothing written for B');

-- get, update, delete ---------------------------------------------------
SELECT is(pg_temp.call('api.leads_get', pg_temp.viewer_a(),
              '{a4000000-0000-0000-0000-000000000001}') #>> '{body,first_name}',
          'Jane', 'leads_get: 200');
SELECT is(pg_temp.err(pg_temp.call('api.leads_get', pg_temp.agent_b(),
              '{a4000000-0000-0000-0000-000000000001}')),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'leads_get: another client''s lead is a 404');

SELECT is(pg_temp.err(pg_temp.call('api.leads_get', pg_temp.agent_a(),
              '{a4000000-0000-0000-0000-000000000001}', '{"with": "events"}')),
          '{"status": 400, "code": "BAD_REQUEST",
            "details": {"with": "unknown parameter"}}',
          'leads_get: unknown query parameter');

INSERT INTO liauto.actions (client_id, lead_id, campaign_id, account_id,
                            kind, step_index)
VALUES ('a0000000-0000-0000-0000-000000000001',
        'a4000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000001',
        'a2000000-0000-0000-0000-000000000001', 'invite', 0);
SELECT is(pg_temp.call('api.leads_update', pg_temp.agent_a(),
              '{a4000000-0000-0000-0000-000000000001}', '{}',
              '{"status": "skipped", "title": "CTO", "email": null}')
          -> 'body' ->> 'status', 'skipped', 'leads_update: skip a lead');
SELECT is((SELECT status FROM liauto.actions
           WHERE lead_id = 'a4000000-0000-0000-0000-000000000001'),
          'cancelled', 'leads_update: a skipped lead''s sends are cancelled');
SELECT is(pg_temp.call('api.leads_update', pg_temp.agent_a(),
              '{a4000000-0000-0000-0000-000000000001}', '{}',
              '{"status": "pending"}') -> 'body' ->> 'status',
          'pending', 'leads_update: skipped → pending');
UPDATE liauto.leads SET status = 'error', error_reason = 'no fallback'
WHERE id = 'a4000000-0000-0000-0000-000000000001';
SELECT is((pg_temp.call('api.leads_update', pg_temp.agent_a(),
               '{a4000000-0000-0000-0000-000000000001}', '{}',
               '{"status": "pending"}') -> 'body')
          - '{id,client_id,campaign_id,first_name,last_name,company,email,'
            'public_identifier,profile_url,custom_fields,current_step,'
            'last_step_sent_at,created_at,updated_at,sender_account_id}'
            ::text[],
          '{"status": "pending", "error_reason": null, "title": "CTO"}',
          'leads_update: error → pending clears the reason');
UPDATE liauto.leads SET status = 'invite_sent'
WHERE id = 'a4000000-0000-0000-0000-000000000001';
SELECT is(pg_temp.err(pg_temp.call('api.leads_update', pg_temp.agent_a(),
              '{a4000000-0000-0000-0000-000000000001}', '{}',
              '{"status": "pending"}')),
          pg_temp.invalid('{"status": "only a skipped or failed lead can go back to pending"}'),
          'leads_update: a lead in flight does not go back to pending');
SELECT is(pg_temp.err(pg_temp.call('api.leads_update', pg_temp.agent_a(),
              '{a4000000-0000-0000-0000-000000000001}', '{}',
              '{"status": "responded",
                "campaign_id": "a3000000-0000-0000-0000-000000000002",
                "current_step": 0}')),
          pg_temp.invalid('{"status": "must be one of: skipped, pending",
                            "campaign_id": "read-only field",
                            "current_step": "read-only field"}'),
          'leads_update: status only skipped/pending; campaign fixed');
SELECT is(pg_temp.err(pg_temp.call('api.leads_update', pg_temp.agent_a(),
              '{a4000000-0000-0000-0000-000000000001}', '{}',
              '{"public_identifier": "ANN-LEE"}')),
          jsonb_build_object('status', 409, 'code', 'DUPLICATE', 'details',
              jsonb_build_object('existing_lead_id',
                  (SELECT a #>> '{body,id}' FROM answer))),
          'leads_update: taking another lead''s identity is a duplicate');
SELECT is(pg_temp.call('api.leads_update', pg_temp.agent_a(),
              '{a4000000-0000-0000-0000-000000000001}', '{}',
              '{"public_identifier": "Jane-Doe"}') -> 'status',
          '200', 'leads_update: a lead is no duplicate of itself');
SELECT is(pg_temp.err(pg_temp.call('api.leads_update', pg_temp.agent_a(),
              '{a4000000-0000-0000-0000-000000000001}', '{}',
              '{"public_identifier": null, "profile_url": null}')),
          pg_temp.invalid('{"profile_url": "a lead needs a profile_url or a public_identifier"}'),
          'leads_update: a lead keeps a LinkedIn identity');
SELECT is(pg_temp.err(pg_temp.call('api.leads_update', pg_temp.agent_b(),
              '{a4000000-0000-0000-0000-000000000001}', '{}',
              '{"first_name": "Mallory"}')),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'leads_update: another client''s lead is a 404');
SELECT is((SELECT first_name FROM liauto.leads
           WHERE id = 'a4000000-0000-0000-0000-000000000001'),
          'Jane', 'leads_update: and it is unchanged');

-- events ----------------------------------------------------------------
INSERT INTO liauto.events (id, client_id, lead_id, campaign_id, account_id,
                           type, occurred_at, meta, created_at)
SELECT ('a5000000-0000-0000-0000-00000000000' || n)::uuid,
       'a0000000-0000-0000-0000-000000000001',
       'a4000000-0000-0000-0000-000000000001',
       'a3000000-0000-0000-0000-000000000001',
       'a2000000-0000-0000-0000-000000000001',
       CASE WHEN n = 1 THEN 'connection_request_sent'
            ELSE 'message_sent' END,
       '2026-03-01 10:00Z'::timestamptz + n * interval '1 day',
       jsonb_build_object('n', n),
       '2026-03-01 10:00Z'::timestamptz + n * interval '1 day'
FROM generate_series(1, 3) AS n;
SELECT is(pg_temp.call('api.lead_events_list', pg_temp.viewer_a(),
              '{a4000000-0000-0000-0000-000000000001}', '{"limit": "1"}')
          #> '{body,data,0}',
          '{"id": "a5000000-0000-0000-0000-000000000003",
            "type": "message_sent", "occurred_at": "2026-03-04T10:00:00.000Z",
            "lead_id": "a4000000-0000-0000-0000-000000000001",
            "campaign_id": "a3000000-0000-0000-0000-000000000001",
            "account_id": "a2000000-0000-0000-0000-000000000001",
            "meta": {"n": 3}, "created_at": "2026-03-04T10:00:00.000Z"}',
          'lead_events_list: the newest event first, its fields');
SELECT is(pg_temp.walk('api.lead_events_list', pg_temp.agent_a(),
                       '{"limit": "2", "sort": "occurred_at",
                         "order": "asc"}',
                       '{a4000000-0000-0000-0000-000000000001}'),
          '{a5000000-0000-0000-0000-000000000001,
            a5000000-0000-0000-0000-000000000002,
            a5000000-0000-0000-0000-000000000003}',
          'lead_events_list: pages in occurred_at order');
SELECT is(pg_temp.ids(pg_temp.call('api.lead_events_list', pg_temp.agent_a(),
              '{a4000000-0000-0000-0000-000000000001}',
              '{"filter[type]": "connection_request_sent"}')),
          '{a5000000-0000-0000-0000-000000000001}',
          'lead_events_list: filter[type]');
SELECT is(pg_temp.err(pg_temp.call('api.lead_events_list', pg_temp.agent_b(),
              '{a4000000-0000-0000-0000-000000000001}')),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'lead_events_list: another client''s lead is a 404');

-- lists -----------------------------------------------------------------
INSERT INTO liauto.leads (client_id, campaign_id, first_name, last_name,
                          company, public_identifier, status, created_at)
SELECT 'a0000000-0000-0000-0000-000000000001',
       ('a3000000-0000-0000-0000-00000000000' || (1 + n % 2))::uuid,
       'P' || n, CASE WHEN n <> 4 THEN 'Last' || (10 - n) END,
       'Company ' || n, 'page-' || n,
       CASE WHEN n % 3 = 0 THEN 'connected' ELSE 'pending' END,
       '2026-02-01 00:00Z'::timestamptz + n * interval '1 hour'
FROM generate_series(1, 7) AS n;

SELECT is(pg_temp.walk('api.leads_list', pg_temp.agent_a(),
                       '{"limit": "3"}'),
          (SELECT array_agg(id::text ORDER BY created_at DESC, id DESC)
           FROM liauto.leads
           WHERE client_id = 'a0000000-0000-0000-0000-000000000001'),
          'leads_list: every lead of the client across pages, none of B');
SELECT is(pg_temp.walk('api.leads_list', pg_temp.agent_a(),
                       '{"limit": "2", "sort": "last_name",
                         "order": "asc"}'),
          (SELECT array_agg(id::text ORDER BY coalesce(last_name, ''), id)
           FROM liauto.leads
           WHERE client_id = 'a0000000-0000-0000-0000-000000000001'),
          'leads_list: sort=last_name (none first) across pages');
SELECT is(pg_temp.walk('api.leads_list', pg_temp.agent_a(),
                       '{"limit": "2", "sort": "status",
                         "filter[campaign_id]":
                             "a3000000-0000-0000-0000-000000000002"}'),
          (SELECT array_agg(id::text ORDER BY status DESC, id DESC)
           FROM liauto.leads
           WHERE campaign_id = 'a3000000-0000-0000-0000-000000000002'),
          'leads_list: filter[campaign_id] and sort=status across pages');
SELECT is(pg_temp.ids(pg_temp.call('api.leads_list', pg_temp.agent_a(),
              '{}', '{"filter[campaign_id]":
                          "b3000000-0000-0000-0000-000000000001"}')),
          '{}', 'leads_list: another client''s campaign filter finds nothing');
SELECT is(pg_temp.err(pg_temp.call('api.leads_list', pg_temp.agent_a(),
              '{}', $${"filter[campaign_id]": "' OR ''='"}$$)),
          '{"status": 400, "code": "BAD_REQUEST",
            "details": {"filter[campaign_id]": "must be a UUID"}}',
          'leads_list: filter[campaign_id] must be a UUID');
SELECT is(pg_temp.ids(pg_temp.call('api.leads_list', pg_temp.agent_a(),
              '{}', '{"filter[status]": "connected", "order": "asc"}')),
          ARRAY(SELECT id::text FROM liauto.leads
                WHERE public_identifier IN ('page-3', 'page-6')
                ORDER BY created_at),
          'leads_list: filter[status]');
SELECT is(pg_temp.ids(pg_temp.call('api.leads_list', pg_temp.agent_a(),
              '{}', '{"filter[search]": "company 5"}')),
          ARRAY(SELECT id::text FROM liauto.leads
                WHERE public_identifier = 'page-5'),
          'leads_list: filter[search] on the company');
SELECT is(pg_temp.ids(pg_temp.call('api.leads_list', pg_temp.agent_a(),
              '{}', '{"filter[search]": "o''brien"}')),
          ARRAY(SELECT id::text FROM liauto.leads
                WHERE public_identifier = 'bob-o'),
          'leads_list: filter[search] on the last name, quote as data');
SELECT is(pg_temp.ids(pg_temp.call('api.leads_list', pg_temp.agent_b(),
              '{}', '{"filter[search]": "jane"}')),
          '{}', 'leads_list: filter[search] never finds another client''s');
SELECT is(pg_temp.ids(pg_temp.call('api.leads_list', pg_temp.agent_a(),
              '{}', $${"filter[search]": "x' OR '1'='1",
                       "filter[status]": "pending' --"}$$)),
          '{}', 'leads_list: SQL in filters is data');
SELECT is(pg_temp.ids(pg_temp.call('api.leads_list', pg_temp.agent_a(),
              '{}', '{"filter[created_from]": "2026-02-01T02:00:00Z",
                      "filter[created_to]": "2026-02-01T04:00:00.000Z",
                      "order": "asc"}')),
          ARRAY(SELECT id::text FROM liauto.leads
                WHERE public_identifier IN ('page-2', 'page-3')
                ORDER BY created_at),
          'leads_list: created range');
SELECT is(pg_temp.ids(pg_temp.call('api.leads_list', pg_temp.agent_b(),
              '{}', jsonb_build_object('cursor',
                  pg_temp.call('api.leads_list', pg_temp.admin(), '{}',
                               '{"limit": "1"}') #>> '{body,next_cursor}'))),
          ARRAY(SELECT id::text FROM liauto.leads
                WHERE client_id = 'b0000000-0000-0000-0000-000000000001'
                  AND (created_at, id) < (SELECT created_at, id
                                          FROM liauto.leads
                                          ORDER BY created_at DESC, id DESC
                                          LIMIT 1)),
          'leads_list: an admin''s cursor gives an agent only its own rows');
SELECT is(pg_temp.err(pg_temp.call('api.leads_list', pg_temp.agent_a(),
              '{}', '{"cursor": "bm90IGEgY3Vyc29y", "sort": "title"}')),
          '{"status": 400, "code": "BAD_REQUEST",
            "details": {"sort": "must be one of: created_at, last_name, company, status"}}',
          'leads_list: unknown sort field');
SELECT is(pg_temp.err(pg_temp.call('api.leads_list', pg_temp.agent_a(),
              '{}', '{"cursor": "bm90IGEgY3Vyc29y"}')),
          '{"status": 400, "code": "BAD_REQUEST",
            "details": {"cursor": "invalid cursor"}}',
          'leads_list: a garbage cursor is a 400');

SELECT is(pg_temp.walk('api.campaign_leads_list', pg_temp.agent_a(),
                       '{"limit": "2"}',
                       '{a3000000-0000-0000-0000-000000000001}'),
          (SELECT array_agg(id::text ORDER BY created_at DESC, id DESC)
           FROM liauto.leads
           WHERE campaign_id = 'a3000000-0000-0000-0000-000000000001'),
          'campaign_leads_list: the campaign''s leads across pages');
SELECT is(pg_temp.err(pg_temp.call('api.campaign_leads_list',
              pg_temp.agent_a(), '{a3000000-0000-0000-0000-000000000001}',
              '{"filter[campaign_id]": "a3000000-0000-0000-0000-000000000002"}')),
          '{"status": 400, "code": "BAD_REQUEST",
            "details": {"filter[campaign_id]": "unknown parameter"}}',
          'campaign_leads_list: no campaign filter on a campaign''s list');
SELECT is(pg_temp.err(pg_temp.call('api.campaign_leads_list',
              pg_temp.agent_a(), '{b3000000-0000-0000-0000-000000000001}')),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'campaign_leads_list: another client''s campaign is a 404');

-- plans -----------------------------------------------------------------
-- The query keyset_page runs for a page: an agent's reads the client's
-- (client_id, created_at, id) index from its end, whatever the number of
-- leads, because the tenant rule also comes as a plain equality.
CREATE FUNCTION pg_temp.page_plan(p_caller jsonb, p_query jsonb,
                                  p_order text)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_filter  record;
    v_plan    text := '';
    v_line    text;
BEGIN
    v_filter := liauto.list_filters(p_caller, p_query,
                                    '{first_name,last_name,company}');
    FOR v_line IN EXECUTE format(
        'EXPLAIN (COSTS OFF) SELECT liauto.lead_json(t) FROM liauto.leads '
        'AS t WHERE %s ORDER BY %s LIMIT 51', v_filter.sql, p_order)
        USING v_filter.args
    LOOP
        v_plan := v_plan || v_line || E'\n';
    END LOOP;
    RETURN v_plan;
END
$$;
SET LOCAL enable_seqscan = off;
SELECT matches(pg_temp.page_plan(pg_temp.agent_a(), '{}',
                                 't.created_at DESC, t.id DESC'),
               'Index Scan Backward using leads_client_created_idx on leads t'
               '\s+Index Cond: \(client_id = ',
               'leads_list: an agent''s page walks its client''s index');
SELECT matches(pg_temp.page_plan(pg_temp.viewer_a(),
                                 '{"filter[status]": "pending"}',
                                 't.created_at, t.id'),
               'Index Scan using leads_client_created_idx on leads t'
               '\s+Index Cond: \(client_id = ',
               'leads_list: with a filter too');
RESET enable_seqscan;

-- delete ----------------------------------------------------------------
SELECT is(pg_temp.err(pg_temp.call('api.leads_delete', pg_temp.agent_b(),
              '{a4000000-0000-0000-0000-000000000001}')),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'leads_delete: another client''s lead is a 404');
SELECT is(pg_temp.call('api.leads_delete', pg_temp.agent_a(),
              '{a4000000-0000-0000-0000-000000000001}'),
          '{"status": 204, "body": ""}', 'leads_delete: 204');
SELECT is((SELECT count(*) FROM liauto.events
           WHERE lead_id = 'a4000000-0000-0000-0000-000000000001'),
          0::bigint, 'leads_delete: its events go with it');
SELECT is(pg_temp.call('api.leads_get', pg_temp.agent_a(),
              '{a4000000-0000-0000-0000-000000000001}') -> 'status',
          '404', 'leads_delete: gone');

SELECT * FROM finish();
ROLLBACK;
