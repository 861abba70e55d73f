-- Migration 0025: the do-not-contact list (keys, matching at insert,
-- update and import, entries skipping leads in flight, the check before a
-- send, the API with tenants), company-level care (stop on reply, daily
-- invite cap) and account warm-up with the budget endpoint.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(51);

\ir lib/api_calls.sql

SET LOCAL timezone = 'UTC';
SELECT liauto.set_clock('2026-11-24 10:00Z');          -- a Tuesday

INSERT INTO liauto.clients (id, name) VALUES
    ('a0000000-0000-0000-0000-000000000001', 'Client A'),
    ('b0000000-0000-0000-0000-000000000001', 'Client B');
INSERT INTO liauto.users (id, client_id, email, password_hash, role) VALUES
    ('a1000000-0000-0000-0000-000000000001',
     'a0000000-0000-0000-0000-000000000001', 'agent-a@dnc.test', liauto.hash_password('x'),
     'agent'),
    ('b1000000-0000-0000-0000-000000000001',
     'b0000000-0000-0000-0000-000000000001', 'agent-b@dnc.test', liauto.hash_password('x'),
     'agent');
INSERT INTO liauto.linkedin_accounts (id, client_id, name, unipile_account_id,
                                      created_at)
VALUES ('a2000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001', 'A', 'dnc-a', '2026-01-01Z'),
       ('b2000000-0000-0000-0000-000000000001',
        'b0000000-0000-0000-0000-000000000001', 'B', 'dnc-b', '2026-01-01Z');
INSERT INTO liauto.campaigns (id, client_id, linkedin_account_id, name,
                              status, sequence, started_at)
VALUES ('a3000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001',
        'a2000000-0000-0000-0000-000000000001', 'A1', 'active',
        '[{"type": "invite"}]', '2026-11-23Z'),
       ('a3000000-0000-0000-0000-000000000002',
        'a0000000-0000-0000-0000-000000000001',
        'a2000000-0000-0000-0000-000000000001', 'A2', 'active',
        '[{"type": "invite"}]', '2026-11-23Z'),
       ('b3000000-0000-0000-0000-000000000001',
        'b0000000-0000-0000-0000-000000000001',
        'b2000000-0000-0000-0000-000000000001', 'B1', 'active',
        '[{"type": "invite"}]', '2026-11-23Z');

-- A lead of campaign c of client x; returns its status after insert.
CREATE FUNCTION pg_temp.lead(p_campaign text, p_slug text,
                             p_company text DEFAULT NULL,
                             p_email text DEFAULT NULL,
                             p_fields jsonb DEFAULT '{}')
RETURNS text
LANGUAGE sql AS $$
    INSERT INTO liauto.leads (client_id, campaign_id, public_identifier,
                              company, email, custom_fields)
    SELECT c.client_id, c.id, p_slug, p_company, p_email, p_fields
    FROM liauto.campaigns AS c WHERE c.id = p_campaign::uuid
    RETURNING status
$$;

CREATE FUNCTION pg_temp.status(p_slug text, p_client text DEFAULT 'a')
RETURNS text
LANGUAGE sql AS $$
    SELECT l.status || coalesce(': ' || l.error_reason, '')
    FROM liauto.leads AS l
    WHERE l.public_identifier = p_slug
      AND l.client_id = (p_client || '0000000-0000-0000-0000-000000000001')
                        ::uuid
$$;

CREATE FUNCTION pg_temp.block(p_caller jsonb, p_kind text, p_value text)
RETURNS jsonb
LANGUAGE sql AS $$
    SELECT pg_temp.call('api.blocklist_create', p_caller, '{}', '{}',
                        jsonb_build_object('kind', p_kind, 'value', p_value))
$$;


-- Keys -----------------------------------------------------------------
SELECT is(liauto.blocklist_key('profile_url',
                               'https://www.LinkedIn.com/in/Jane-Doe/?trk=1'),
          'linkedin.com/in/jane-doe', 'a profile URL keys like lead dedupe');
SELECT is(liauto.blocklist_key('company', '  ACME   Corp '), 'acme corp',
          'company names ignore case and spacing');
SELECT is(liauto.blocklist_key('domain', 'https://www.Acme.com/about'),
          'acme.com', 'a domain is taken from a URL');
SELECT is(liauto.lead_domains('jane@eu.mail.acme.com',
                              '{"website": "http://globex.io/x"}'),
          '{acme.com,eu.mail.acme.com,globex.io,mail.acme.com}',
          'a lead is reachable under its email''s and website''s domains '
          'and their parents');


-- Entries through the API ------------------------------------------------
SELECT is(pg_temp.lead('a3000000-0000-0000-0000-000000000001', 'ann',
                       'Acme Corp'), 'pending', 'ann (Acme) starts pending');
SELECT pg_temp.lead('a3000000-0000-0000-0000-000000000002', 'bob',
                    'acme  corp');
SELECT pg_temp.lead('a3000000-0000-0000-0000-000000000001', 'cid', 'Globex');
SELECT pg_temp.lead('b3000000-0000-0000-0000-000000000001', 'ann',
                    'Acme Corp');
UPDATE liauto.leads SET status = 'completed' WHERE public_identifier = 'cid';

CREATE TEMP TABLE answer AS
SELECT pg_temp.block(pg_temp.agent_a(), 'company', 'ACME Corp') AS a;
SELECT is((SELECT a -> 'status' FROM answer), '201', 'an entry is created');
SELECT is((SELECT (a -> 'body') - '{id,created_at}'::text[] FROM answer),
          '{"client_id": "a0000000-0000-0000-0000-000000000001",
            "kind": "company", "value": "ACME Corp", "note": null,
            "created_by": "a1000000-0000-0000-0000-000000000001",
            "leads_skipped": 2}',
          'it says how many in-flight leads it skipped');
SELECT is(pg_temp.status('ann'), 'skipped: blocklisted company "ACME Corp"',
          'ann is skipped, with the entry as the reason');
SELECT is(pg_temp.status('bob'), 'skipped: blocklisted company "ACME Corp"',
          'so is bob, in another campaign of the client');
SELECT is(pg_temp.status('ann', 'b'), 'pending',
          'client B''s lead at the same company is untouched');

SELECT is(pg_temp.err(pg_temp.block(pg_temp.agent_a(), 'company',
                                    'acme   corp')) - 'details',
          '{"status": 409, "code": "DUPLICATE"}',
          'the same company spelled otherwise is a duplicate');
SELECT is(pg_temp.err(pg_temp.call('api.blocklist_create', pg_temp.agent_a(),
              '{}', '{}', '{"kind": "person", "value": " ", "x": 1}')),
          pg_temp.invalid('{"kind": "must be one of: profile_url, '
                          'public_identifier, company, domain",
                          "value": "must not be blank",
                          "x": "unknown field"}'),
          'one error per bad field');
SELECT is(pg_temp.err(pg_temp.block(pg_temp.agent_a(), 'domain', 'acme')),
          pg_temp.invalid('{"value": "must be a domain such as '
                          'example.com"}'),
          'a domain needs a dot');
SELECT is(pg_temp.err(pg_temp.block(pg_temp.agent_a(), 'profile_url',
                                    'https://example.com/in/x')),
          pg_temp.invalid('{"value": "must be a linkedin.com/in/ profile '
                          'URL"}'),
          'a profile URL must be a LinkedIn one');
SELECT is(pg_temp.err(pg_temp.block(pg_temp.admin(), 'company', 'Initech')),
          pg_temp.invalid('{"client_id": "is required"}'),
          'an admin names the client');
SELECT is((pg_temp.call('api.blocklist_create', pg_temp.agent_b(), '{}', '{}',
              '{"kind": "company", "value": "Initech",
                "client_id": "a0000000-0000-0000-0000-000000000001"}')
           -> 'body' -> 'details'),
          '{"client_id": "unknown client"}',
          'an agent cannot write into another client''s list');


-- Matching at insert, update and import ------------------------------------
SELECT pg_temp.block(pg_temp.agent_a(), 'public_identifier', 'Dora-X');
SELECT pg_temp.block(pg_temp.agent_a(), 'domain', 'initech.com');
SELECT pg_temp.block(pg_temp.agent_a(), 'profile_url',
                     'linkedin.com/in/eve-y');
SELECT is(pg_temp.lead('a3000000-0000-0000-0000-000000000001', 'dora-x'),
          'skipped', 'a new lead with a listed identifier is skipped');
SELECT is(pg_temp.lead('a3000000-0000-0000-0000-000000000001', 'fay',
                       NULL, 'fay@sales.initech.com'),
          'skipped', 'an email under a listed domain is skipped');
SELECT is(pg_temp.lead('a3000000-0000-0000-0000-000000000001', 'gus',
                       NULL, NULL, '{"website": "https://initech.com"}'),
          'skipped', 'so is a website of a listed domain');
SELECT is(pg_temp.lead('a3000000-0000-0000-0000-000000000001', 'hal',
                       'Hooli', 'hal@hooli.com'),
          'pending', 'a lead matching nothing stays pending');
UPDATE liauto.leads SET company = 'Acme corp' WHERE public_identifier = 'hal';
SELECT is(pg_temp.status('hal'), 'skipped: blocklisted company "ACME Corp"',
          'a lead whose company changes to a listed one is skipped');

SELECT is(liauto.import_leads(c, '["LinkedIn URL", "Company"]',
              '[["https://linkedin.com/in/eve-y", "X"],
                ["https://linkedin.com/in/ivy", "Acme Corp"],
                ["https://linkedin.com/in/jon", "Umbrella"]]') ->> 'imported',
          '3', 'an import stores listed rows too')
FROM liauto.campaigns AS c
WHERE c.id = 'a3000000-0000-0000-0000-000000000002';
SELECT results_eq(
    $$SELECT public_identifier, status FROM liauto.leads
      WHERE public_identifier IN ('eve-y', 'ivy', 'jon')
      ORDER BY public_identifier$$,
    $$VALUES ('eve-y', 'skipped'), ('ivy', 'skipped'), ('jon', 'pending')$$,
    'but only the unlisted one is contactable');


-- Listing and deleting, per tenant ----------------------------------------
SELECT pg_temp.block(pg_temp.agent_b(), 'company', 'Umbrella');
SELECT is(jsonb_array_length(pg_temp.call('api.blocklist_list',
              pg_temp.agent_a()) #> '{body,data}'),
          4, 'agent A lists its 4 entries');
SELECT is(pg_temp.call('api.blocklist_list', pg_temp.agent_b())
              #>> '{body,data,0,value}',
          'Umbrella', 'agent B only its own');
SELECT is(jsonb_array_length(pg_temp.call('api.blocklist_list',
              pg_temp.admin(), '{}',
              '{"filter[client_id]": "b0000000-0000-0000-0000-000000000001"}')
              #> '{body,data}'),
          1, 'an admin filters by client');
SELECT is(pg_temp.call('api.blocklist_list', pg_temp.agent_a(), '{}',
              '{"filter[kind]": "domain"}') #>> '{body,data,0,value}',
          'initech.com', 'filter[kind]');
SELECT is(pg_temp.call('api.blocklist_list', pg_temp.agent_a(), '{}',
              '{"filter[search]": "acme"}') #>> '{body,data,0,value}',
          'ACME Corp', 'filter[search]');
SELECT is(pg_temp.err(pg_temp.call('api.blocklist_list', pg_temp.agent_a(),
              '{}', '{"filter[client_id]": "nope"}')) ->> 'status',
          '400', 'a bad client filter is a 400');
SELECT is((pg_temp.call('api.blocklist_delete', pg_temp.agent_b(),
              ARRAY[(SELECT id::text FROM liauto.blocklist_entries
                     WHERE value = 'initech.com')]) -> 'status')::int,
          404, 'another client''s entry is a 404');
SELECT is((pg_temp.call('api.blocklist_delete', pg_temp.agent_a(),
              ARRAY[(SELECT id::text FROM liauto.blocklist_entries
                     WHERE value = 'initech.com')]) -> 'status')::int,
          204, 'its own is deleted');
SELECT is(pg_temp.lead('a3000000-0000-0000-0000-000000000001', 'kim',
                       NULL, 'kim@initech.com'),
          'pending', 'and no longer matches');


-- The check right before a send --------------------------------------------
INSERT INTO liauto.actions (id, client_id, lead_id, campaign_id, account_id,
                            kind, step_index, status, claim_token,
                            claimed_by, claimed_at, lease_expires_at,
                            attempts)
SELECT ('a9000000-0000-0000-0000-00000000000' || n)::uuid, l.client_id, l.id,
       l.campaign_id, 'a2000000-0000-0000-0000-000000000001', 'invite', 0,
       'claimed', ('a8000000-0000-0000-0000-00000000000' || n)::uuid, 'w',
       liauto.now(), liauto.now() + interval '5 minutes', 1
FROM (VALUES (1, 'jon'), (2, 'kim')) AS x (n, slug)
JOIN liauto.leads AS l ON l.public_identifier = x.slug
                      AND l.client_id = 'a0000000-0000-0000-0000-000000000001';
SELECT pg_temp.block(pg_temp.agent_a(), 'company', 'Umbrella');
SELECT is(engine.check_before_send('a9000000-0000-0000-0000-000000000001',
                                   'a8000000-0000-0000-0000-000000000001'),
          'lead_skipped',
          'an entry added while the invite is claimed stops it');
SELECT is(status, 'cancelled', 'the action is cancelled')
FROM liauto.actions WHERE id = 'a9000000-0000-0000-0000-000000000001';
SELECT is(engine.check_before_send('a9000000-0000-0000-0000-000000000002',
                                   'a8000000-0000-0000-0000-000000000002'),
          'ok', 'an unlisted lead''s claimed invite still goes');


-- Company care -----------------------------------------------------------
UPDATE liauto.campaigns SET stop_company_on_reply = true
WHERE id = 'a3000000-0000-0000-0000-000000000001';
SELECT pg_temp.lead('a3000000-0000-0000-0000-000000000001', 'lu', 'Wayne');
SELECT pg_temp.lead('a3000000-0000-0000-0000-000000000002', 'mo', 'WAYNE');
SELECT pg_temp.lead('a3000000-0000-0000-0000-000000000001', 'ned', 'Wayne');
SELECT pg_temp.lead('b3000000-0000-0000-0000-000000000001', 'lu', 'Wayne');
UPDATE liauto.leads SET status = 'responded'
WHERE public_identifier = 'lu'
  AND client_id = 'a0000000-0000-0000-0000-000000000001';
SELECT alike(pg_temp.status('mo'), 'skipped: company_replied: lead % of '
                                   '"Wayne" replied',
            'a reply stops the client''s other leads at the company');
SELECT alike(pg_temp.status('ned'), 'skipped: company_replied%',
            'in the same campaign too');
SELECT is(pg_temp.status('lu', 'b'), 'pending',
          'another client''s lead at that company is untouched');
UPDATE liauto.leads SET status = 'pending', error_reason = NULL
WHERE public_identifier IN ('mo', 'ned');
UPDATE liauto.leads SET status = 'responded'
WHERE public_identifier = 'mo';
SELECT is(pg_temp.status('ned'), 'pending',
          'a reply in a campaign without the option stops nobody');

-- Daily invite cap per company: one Wayne invite today already went.
UPDATE liauto.campaigns SET company_daily_invite_cap = 1
WHERE id = 'a3000000-0000-0000-0000-000000000001';
UPDATE liauto.leads SET status = 'pending', error_reason = NULL
WHERE public_identifier = 'ned';
INSERT INTO liauto.actions (id, client_id, lead_id, campaign_id, account_id,
                            kind, step_index, status, claim_token,
                            claimed_by, claimed_at, lease_expires_at,
                            attempts)
SELECT ('a9000000-0000-0000-0000-00000000000' || n)::uuid, l.client_id, l.id,
       l.campaign_id, 'a2000000-0000-0000-0000-000000000001', 'invite', 0,
       st, ('a8000000-0000-0000-0000-00000000000' || n)::uuid, 'w',
       liauto.now() - interval '1 hour',
       liauto.now() + interval '5 minutes', 1
FROM (VALUES (3, 'mo', 'sent'), (4, 'ned', 'claimed')) AS x (n, slug, st)
JOIN liauto.leads AS l ON l.public_identifier = x.slug
                      AND l.client_id = 'a0000000-0000-0000-0000-000000000001';
SELECT is(engine.check_before_send('a9000000-0000-0000-0000-000000000004',
                                   'a8000000-0000-0000-0000-000000000004'),
          'company_daily_cap', 'a second invite to the company today waits');
SELECT results_eq(
    $$SELECT status, due_at FROM liauto.actions
      WHERE id = 'a9000000-0000-0000-0000-000000000004'$$,
    $$VALUES ('scheduled', '2026-11-25 09:00Z'::timestamptz)$$,
    'until the next working morning');
UPDATE liauto.campaigns SET company_daily_invite_cap = 2
WHERE id = 'a3000000-0000-0000-0000-000000000001';
UPDATE liauto.actions
SET status = 'claimed', claim_token = 'a8000000-0000-0000-0000-000000000004',
    claimed_by = 'w', lease_expires_at = liauto.now() + interval '5 minutes',
    attempts = 1
WHERE id = 'a9000000-0000-0000-0000-000000000004';
SELECT is(engine.check_before_send('a9000000-0000-0000-0000-000000000004',
                                   'a8000000-0000-0000-0000-000000000004'),
          'ok', 'under a cap of 2 it goes');


-- Warm-up -------------------------------------------------------------------
UPDATE liauto.linkedin_accounts SET warmup_days = 10
WHERE id = 'a2000000-0000-0000-0000-000000000001';
SELECT is(warmup_started_on, '2026-11-24'::date,
          'setting warmup_days starts the ramp today')
FROM liauto.linkedin_accounts
WHERE id = 'a2000000-0000-0000-0000-000000000001';
SELECT is(array_agg(liauto.daily_limit(a, 'invite', '2026-11-24'::date + n)
                    ORDER BY n),
          '{5,7,9,11,13,15,17,19,21,23,25,25}',
          'invites ramp from 20 % of 25 to 25 over 10 days (documented '
          'formula)')
FROM liauto.linkedin_accounts AS a, generate_series(0, 11) AS n
WHERE a.id = 'a2000000-0000-0000-0000-000000000001';
SELECT is(liauto.daily_limit(a, 'message', '2026-11-24'), 20,
          'messages ramp too (20 % of 100)')
FROM liauto.linkedin_accounts AS a
WHERE a.id = 'a2000000-0000-0000-0000-000000000001';
DELETE FROM liauto.rate_usage;
SELECT is(array_agg(liauto.reserve_budget(
              'a2000000-0000-0000-0000-000000000001', 'invite',
              liauto.now())),
          '{t,t,t,t,t,f}', 'reservations stop at the warm-up limit (5)')
FROM generate_series(1, 6);

CREATE TEMP TABLE budget AS
SELECT pg_temp.call('api.accounts_budget', pg_temp.viewer_a(),
                    '{a2000000-0000-0000-0000-000000000001}') AS a;
SELECT is((SELECT a #> '{body,invite}' FROM budget),
          '{"configured_limit": 25, "daily_limit": 5, "used": 5,
            "remaining": 0, "limited_by": "daily",
            "resets_at": "2026-11-25T00:00:00.000Z",
            "weekly_limit": 100, "weekly_used": 5}',
          'the budget says today''s invite limit, use and reset');
SELECT is((SELECT a #> '{body,message,remaining}' FROM budget), '20',
          'and the message budget');
SELECT is((SELECT a #> '{body,warmup}' FROM budget),
          '{"days": 10, "start_percent": 20, "started_on": "2026-11-24",
            "day": 0, "complete": false}',
          'and the warm-up progress');
SELECT is((pg_temp.call('api.accounts_budget', pg_temp.agent_b(),
                        '{a2000000-0000-0000-0000-000000000001}')
           -> 'status')::int,
          404, 'another client''s account budget is a 404');
SELECT is(pg_temp.call('api.accounts_update', pg_temp.agent_a(),
              '{a2000000-0000-0000-0000-000000000001}', '{}',
              '{"warmup_days": 91, "warmup_start_percent": 0}')
              #> '{body,details}',
          '{"warmup_days": "must be between 0 and 90",
            "warmup_start_percent": "must be between 1 and 100"}',
          'warm-up settings are validated');

SELECT * FROM finish();
ROLLBACK;
