-- Constraints of the core schema (migration 0001): every CHECK refuses a bad
-- value and accepts a good one, the uniqueness rules (lead dedupe per
-- client, one live action per step, token hashes, delivery keys,
-- idempotency keys), tenant-consistent foreign keys and their ON DELETE
-- behaviour.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(110);

-- Runs p_sql and checks that it fails with p_sqlstate on p_constraint
-- (the constraint name is what the API maps to a field error).
CREATE FUNCTION pg_temp.rejects(p_sql text, p_sqlstate text,
                                p_constraint text, p_description text)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_sqlstate    text := 'no error';
    v_constraint  text := '';
BEGIN
    BEGIN
        EXECUTE p_sql;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_sqlstate = RETURNED_SQLSTATE,
                                v_constraint = CONSTRAINT_NAME;
    END;
    RETURN is(v_sqlstate || ' ' || v_constraint,
              p_sqlstate || ' ' || p_constraint, p_description);
END
$$;

-- Fixtures: clients A and B, an account and a campaign in each, a second
-- (draft, account-less) campaign in A, one lead in A.
INSERT INTO liauto.clients (id, name) VALUES
    ('a0000000-0000-0000-0000-000000000001', 'Client A'),
    ('b0000000-0000-0000-0000-000000000001', 'Client B'),
    ('c0000000-0000-0000-0000-000000000001', 'Client C');
INSERT INTO liauto.users (id, client_id, email, password_hash, role) VALUES
    ('a1000000-0000-0000-0000-000000000001',
     'a0000000-0000-0000-0000-000000000001', 'Agent@A.example',
     liauto.hash_password('secret'), 'agent'),
    ('c1000000-0000-0000-0000-000000000001',
     'c0000000-0000-0000-0000-000000000001', 'viewer@c.example',
     liauto.hash_password('secret'), 'viewer');
INSERT INTO liauto.linkedin_accounts (id, client_id, name, unipile_account_id)
VALUES
    ('a2000000-0000-0000-0000-000000000001',
     'a0000000-0000-0000-0000-000000000001', 'A one', 'uni-a1'),
    ('a2000000-0000-0000-0000-000000000002',
     'a0000000-0000-0000-0000-000000000001', 'A two', 'uni-a2'),
    ('b2000000-0000-0000-0000-000000000001',
     'b0000000-0000-0000-0000-000000000001', 'B one', 'uni-b1');
INSERT INTO liauto.campaigns (id, client_id, linkedin_account_id, name) VALUES
    ('a3000000-0000-0000-0000-000000000001',
     'a0000000-0000-0000-0000-000000000001',
     'a2000000-0000-0000-0000-000000000001', 'A outreach'),
    ('a3000000-0000-0000-0000-000000000002',
     'a0000000-0000-0000-0000-000000000001', NULL, 'A draft'),
    ('b3000000-0000-0000-0000-000000000001',
     'b0000000-0000-0000-0000-000000000001',
     'b2000000-0000-0000-0000-000000000001', 'B outreach');
INSERT INTO liauto.leads (id, client_id, campaign_id, first_name,
                          public_identifier, profile_url) VALUES
    ('a4000000-0000-0000-0000-000000000001',
     'a0000000-0000-0000-0000-000000000001',
     'a3000000-0000-0000-0000-000000000001', 'Jane',
     'Jane-Doe', 'https://www.linkedin.com/in/jane-doe/');


-- clients ---------------------------------------------------------------
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.clients (name) VALUES ('   ')$$,
    '23514', 'clients_name_check', 'a client needs a name');

-- users -----------------------------------------------------------------
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.users (client_id, email, password_hash, role)
      VALUES ('a0000000-0000-0000-0000-000000000001', 'o@a.example',
              liauto.hash_password('x'), 'owner')$$,
    '23514', 'users_role_check', 'role must be admin, agent or viewer');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.users (email, password_hash, role)
      VALUES ('agent@nowhere.example', liauto.hash_password('x'), 'agent')$$,
    '23514', 'users_client_required_check', 'an agent needs a client');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.users (email, password_hash, role)
      VALUES ('viewer@nowhere.example', liauto.hash_password('x'),
              'viewer')$$,
    '23514', 'users_client_required_check', 'a viewer needs a client');
SELECT pg_temp.rejects(
    $$UPDATE liauto.users SET client_id = NULL
      WHERE id = 'a1000000-0000-0000-0000-000000000001'$$,
    '23514', 'users_client_required_check',
    'an agent cannot lose its client');
SELECT lives_ok(
    $$INSERT INTO liauto.users (email, password_hash, role)
      VALUES ('root@liauto.example', liauto.hash_password('x'), 'admin')$$,
    'an admin may have no client (= all clients)');
SELECT lives_ok(
    $$INSERT INTO liauto.users (client_id, email, password_hash, role)
      VALUES ('b0000000-0000-0000-0000-000000000001', 'admin@b.example',
              liauto.hash_password('x'), 'admin')$$,
    'an admin may also belong to a client');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.users (client_id, email, password_hash, role)
      VALUES ('a0000000-0000-0000-0000-000000000001', 'p@a.example',
              'hunter2', 'agent')$$,
    '23514', 'users_password_hash_check', 'a plain-text password is refused');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.users (client_id, email, password_hash, role)
      VALUES ('b0000000-0000-0000-0000-000000000001', 'agent@a.EXAMPLE',
              liauto.hash_password('x'), 'agent')$$,
    '23505', 'users_email_key',
    'emails are unique case-insensitively, across clients');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.users (client_id, email, password_hash, role)
      VALUES ('a0000000-0000-0000-0000-000000000001', 'not-an-email',
              liauto.hash_password('x'), 'agent')$$,
    '23514', 'users_email_check', 'an email needs an @');

-- refresh_tokens --------------------------------------------------------
SELECT lives_ok(
    $$INSERT INTO liauto.refresh_tokens (user_id, family_id, token_hash,
                                         expires_at)
      VALUES ('a1000000-0000-0000-0000-000000000001',
              'f0000000-0000-0000-0000-000000000001',
              digest('token-1', 'sha256'), now() + interval '30 days'),
             ('a1000000-0000-0000-0000-000000000001',
              'f0000000-0000-0000-0000-000000000001',
              digest('token-2', 'sha256'), now() + interval '30 days')$$,
    'two tokens of one family');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.refresh_tokens (user_id, family_id, token_hash,
                                         expires_at)
      VALUES ('c1000000-0000-0000-0000-000000000001', gen_random_uuid(),
              digest('token-1', 'sha256'), now() + interval '30 days')$$,
    '23505', 'refresh_tokens_token_hash_key',
    'a token hash is unique, whoever presents it');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.refresh_tokens (user_id, family_id, token_hash,
                                         expires_at)
      VALUES ('a1000000-0000-0000-0000-000000000001', gen_random_uuid(),
              convert_to('token-3', 'UTF8'), now() + interval '30 days')$$,
    '23514', 'refresh_tokens_token_hash_check',
    'only a sha256 (32 bytes) is stored, never the token');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.refresh_tokens (user_id, family_id, token_hash,
                                         expires_at)
      VALUES ('a1000000-0000-0000-0000-000000000001', gen_random_uuid(),
              digest('token-4', 'sha256'), now())$$,
    '23514', 'refresh_tokens_expires_check',
    'a token expires after it is created');

-- linkedin_accounts -----------------------------------------------------
SELECT results_eq(
    $$SELECT status, timezone, daily_invite_limit, daily_message_limit,
             weekly_invite_limit
      FROM liauto.linkedin_accounts
      WHERE id = 'a2000000-0000-0000-0000-000000000001'$$,
    $$VALUES ('ok', 'UTC', 25, 100, 100)$$,
    'account defaults: ok, UTC, 25 invites and 100 messages a day, '
    '100 invites a week');
SELECT pg_temp.rejects(
    $$UPDATE liauto.linkedin_accounts SET status = 'banned'
      WHERE id = 'a2000000-0000-0000-0000-000000000001'$$,
    '23514', 'linkedin_accounts_status_check', 'unknown account status');
SELECT lives_ok(
    $$UPDATE liauto.linkedin_accounts SET status = 'credentials'
      WHERE id = 'a2000000-0000-0000-0000-000000000002'$$,
    'a known account status');
SELECT pg_temp.rejects(
    $$UPDATE liauto.linkedin_accounts SET daily_invite_limit = -1
      WHERE id = 'a2000000-0000-0000-0000-000000000001'$$,
    '23514', 'linkedin_accounts_daily_invite_limit_check',
    'daily invite limit >= 0');
SELECT pg_temp.rejects(
    $$UPDATE liauto.linkedin_accounts SET daily_message_limit = -1
      WHERE id = 'a2000000-0000-0000-0000-000000000001'$$,
    '23514', 'linkedin_accounts_daily_message_limit_check',
    'daily message limit >= 0');
SELECT pg_temp.rejects(
    $$UPDATE liauto.linkedin_accounts SET weekly_invite_limit = -1
      WHERE id = 'a2000000-0000-0000-0000-000000000001'$$,
    '23514', 'linkedin_accounts_weekly_invite_limit_check',
    'weekly invite limit >= 0');
SELECT lives_ok(
    $$UPDATE liauto.linkedin_accounts
      SET daily_invite_limit = 0, daily_message_limit = 5000
      WHERE id = 'a2000000-0000-0000-0000-000000000001'$$,
    'limits of 0 (paused) and high limits (bench) are fine');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.linkedin_accounts (client_id, name,
                                            unipile_account_id)
      VALUES ('b0000000-0000-0000-0000-000000000001', 'dup', 'uni-a1')$$,
    '23505', 'linkedin_accounts_unipile_account_id_key',
    'a Unipile account is registered once, in one client');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.linkedin_accounts (client_id, name,
                                            unipile_account_id, timezone)
      VALUES ('a0000000-0000-0000-0000-000000000001', 'tz', 'uni-tz',
              'Mars/Olympus')$$,
    '23514', 'linkedin_accounts_timezone_check',
    'an unknown timezone is refused on insert');
SELECT pg_temp.rejects(
    $$UPDATE liauto.linkedin_accounts SET timezone = 'UTC+3'
      WHERE id = 'a2000000-0000-0000-0000-000000000001'$$,
    '23514', 'linkedin_accounts_timezone_check',
    'a POSIX offset string is refused on update');
SELECT lives_ok(
    $$UPDATE liauto.linkedin_accounts SET timezone = 'America/New_York'
      WHERE id = 'a2000000-0000-0000-0000-000000000001'$$,
    'an IANA zone is accepted');

-- campaigns -------------------------------------------------------------
SELECT results_eq(
    $$SELECT status, timezone, working_hours_start, working_hours_end,
             working_days, sequence
      FROM liauto.campaigns
      WHERE id = 'a3000000-0000-0000-0000-000000000002'$$,
    $$VALUES ('draft', 'UTC', '09:00'::time, '17:00'::time,
              '{1,2,3,4,5}'::smallint[], '[]'::jsonb)$$,
    'campaign defaults: draft, UTC, Mon-Fri 09:00-17:00, empty sequence');
SELECT pg_temp.rejects(
    $$UPDATE liauto.campaigns SET status = 'running'
      WHERE id = 'a3000000-0000-0000-0000-000000000001'$$,
    '23514', 'campaigns_status_check', 'unknown campaign status');
SELECT pg_temp.rejects(
    $$UPDATE liauto.campaigns
      SET working_hours_start = '17:00', working_hours_end = '09:00'
      WHERE id = 'a3000000-0000-0000-0000-000000000001'$$,
    '23514', 'campaigns_working_hours_check',
    'working hours start before they end');
SELECT pg_temp.rejects(
    $$UPDATE liauto.campaigns
      SET working_hours_start = '09:00', working_hours_end = '09:00'
      WHERE id = 'a3000000-0000-0000-0000-000000000001'$$,
    '23514', 'campaigns_working_hours_check',
    'an empty working window is refused');
SELECT pg_temp.rejects(
    $$UPDATE liauto.campaigns SET working_days = '{0,1}'
      WHERE id = 'a3000000-0000-0000-0000-000000000001'$$,
    '23514', 'campaigns_working_days_check', 'weekday 0 does not exist');
SELECT pg_temp.rejects(
    $$UPDATE liauto.campaigns SET working_days = '{1,8}'
      WHERE id = 'a3000000-0000-0000-0000-000000000001'$$,
    '23514', 'campaigns_working_days_check', 'weekday 8 does not exist');
SELECT pg_temp.rejects(
    $$UPDATE liauto.campaigns SET working_days = '{}'
      WHERE id = 'a3000000-0000-0000-0000-000000000001'$$,
    '23514', 'campaigns_working_days_check', 'at least one working day');
SELECT pg_temp.rejects(
    $$UPDATE liauto.campaigns SET working_days = '{1,NULL}'
      WHERE id = 'a3000000-0000-0000-0000-000000000001'$$,
    '23514', 'campaigns_working_days_check', 'no NULL working day');
SELECT lives_ok(
    $$UPDATE liauto.campaigns
      SET working_days = '{6,7}', working_hours_start = '00:00',
          working_hours_end = '23:59:59'
      WHERE id = 'a3000000-0000-0000-0000-000000000001'$$,
    'a weekend-only, all-day campaign is valid');
SELECT pg_temp.rejects(
    $$UPDATE liauto.campaigns SET sequence = '{"steps": []}'
      WHERE id = 'a3000000-0000-0000-0000-000000000001'$$,
    '23514', 'campaigns_sequence_check', 'a sequence is a JSON array');
SELECT pg_temp.rejects(
    $$UPDATE liauto.campaigns SET timezone = 'Europe/Londn'
      WHERE id = 'a3000000-0000-0000-0000-000000000001'$$,
    '23514', 'campaigns_timezone_check', 'a misspelt timezone is refused');
SELECT pg_temp.rejects(
    $$UPDATE liauto.campaigns SET status = 'active', started_at = now()
      WHERE id = 'a3000000-0000-0000-0000-000000000002'$$,
    '23514', 'campaigns_active_check',
    'a campaign without an account cannot be active');
SELECT pg_temp.rejects(
    $$UPDATE liauto.campaigns SET status = 'active'
      WHERE id = 'a3000000-0000-0000-0000-000000000001'$$,
    '23514', 'campaigns_active_check', 'an active campaign has started_at');
SELECT pg_temp.rejects(
    $$UPDATE liauto.campaigns SET status = 'paused'
      WHERE id = 'a3000000-0000-0000-0000-000000000001'$$,
    '23514', 'campaigns_paused_check', 'a paused campaign has paused_at');
SELECT lives_ok(
    $$UPDATE liauto.campaigns
      SET status = 'active', started_at = now(), timezone = 'Europe/London'
      WHERE id = 'a3000000-0000-0000-0000-000000000001'$$,
    'starting a campaign with an account');
SELECT pg_temp.rejects(
    $$UPDATE liauto.campaigns
      SET linkedin_account_id = 'b2000000-0000-0000-0000-000000000001'
      WHERE id = 'a3000000-0000-0000-0000-000000000002'$$,
    '23503', 'campaigns_account_fkey',
    'a campaign cannot use another client''s account');

-- leads -----------------------------------------------------------------
SELECT pg_temp.rejects(
    $$UPDATE liauto.leads SET status = 'contacted'
      WHERE id = 'a4000000-0000-0000-0000-000000000001'$$,
    '23514', 'leads_status_check', 'unknown lead status');
SELECT pg_temp.rejects(
    $$UPDATE liauto.leads SET status = 'error'
      WHERE id = 'a4000000-0000-0000-0000-000000000001'$$,
    '23514', 'leads_error_reason_check', 'an error lead says why');
SELECT lives_ok(
    $$UPDATE liauto.leads
      SET status = 'error', error_reason = 'missing {{company}}'
      WHERE id = 'a4000000-0000-0000-0000-000000000001'$$,
    'an error lead with its reason');
SELECT pg_temp.rejects(
    $$UPDATE liauto.leads SET current_step = -1
      WHERE id = 'a4000000-0000-0000-0000-000000000001'$$,
    '23514', 'leads_current_step_check', 'current_step >= 0');
SELECT pg_temp.rejects(
    $$UPDATE liauto.leads SET custom_fields = '["x"]'
      WHERE id = 'a4000000-0000-0000-0000-000000000001'$$,
    '23514', 'leads_custom_fields_check', 'custom fields are an object');
SELECT pg_temp.rejects(
    $$UPDATE liauto.leads SET email = 'jane at example'
      WHERE id = 'a4000000-0000-0000-0000-000000000001'$$,
    '23514', 'leads_email_check', 'a lead email needs an @');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.leads (client_id, campaign_id, first_name)
      VALUES ('a0000000-0000-0000-0000-000000000001',
              'a3000000-0000-0000-0000-000000000001', 'Nobody')$$,
    '23514', 'leads_identity_check',
    'a lead needs a public identifier, profile URL or provider id');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.leads (client_id, campaign_id, public_identifier)
      VALUES ('a0000000-0000-0000-0000-000000000001',
              'a3000000-0000-0000-0000-000000000001', '')$$,
    '23514', 'leads_public_identifier_check',
    'a blank public identifier is refused (it would dedupe everything)');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.leads (client_id, campaign_id, public_identifier)
      VALUES ('a0000000-0000-0000-0000-000000000001',
              'b3000000-0000-0000-0000-000000000001', 'john')$$,
    '23503', 'leads_campaign_fkey',
    'a lead''s client is its campaign''s client');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.leads (client_id, campaign_id, public_identifier)
      VALUES ('a0000000-0000-0000-0000-000000000001',
              'a3000000-0000-0000-0000-000000000002', 'JANE-doe')$$,
    '23505', 'leads_client_public_identifier_key',
    'same public identifier (any case) in another campaign of the client');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.leads (client_id, campaign_id, profile_url)
      VALUES ('a0000000-0000-0000-0000-000000000001',
              'a3000000-0000-0000-0000-000000000002',
              'http://uk.linkedin.com/in/Jane-Doe?trk=public')$$,
    '23505', 'leads_client_profile_url_key',
    'same profile URL, spelt differently, in the same client');
SELECT lives_ok(
    $$INSERT INTO liauto.leads (client_id, campaign_id, public_identifier,
                                profile_url)
      VALUES ('b0000000-0000-0000-0000-000000000001',
              'b3000000-0000-0000-0000-000000000001', 'jane-doe',
              'https://www.linkedin.com/in/jane-doe/')$$,
    'the same person may be a lead of another client');
SELECT lives_ok(
    $$INSERT INTO liauto.leads (client_id, campaign_id, provider_id)
      VALUES ('a0000000-0000-0000-0000-000000000001',
              'a3000000-0000-0000-0000-000000000002', 'ACoAAA1'),
             ('a0000000-0000-0000-0000-000000000001',
              'a3000000-0000-0000-0000-000000000002', 'ACoAAA2')$$,
    'leads without public identifier or URL do not collide on NULL');
INSERT INTO liauto.leads (client_id, campaign_id, public_identifier,
                          profile_url)
VALUES ('a0000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000002', 'new-one', NULL),
       ('a0000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000002', 'jane-DOE', NULL),
       ('a0000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000002', NULL,
        'linkedin.com/in/jane-doe'),
       ('a0000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000002', 'new-two',
        'https://www.linkedin.com/in/new-two')
ON CONFLICT DO NOTHING;
SELECT results_eq(
    $$SELECT coalesce(public_identifier, profile_url) FROM liauto.leads
      WHERE campaign_id = 'a3000000-0000-0000-0000-000000000002'
        AND provider_id IS NULL
      ORDER BY 1$$,
    ARRAY['new-one', 'new-two'],
    'an import with ON CONFLICT DO NOTHING skips both kinds of duplicate');

-- events ----------------------------------------------------------------
SELECT lives_ok(
    $$INSERT INTO liauto.events (client_id, lead_id, campaign_id, account_id,
                                 type, external_id)
      VALUES ('a0000000-0000-0000-0000-000000000001',
              'a4000000-0000-0000-0000-000000000001',
              'a3000000-0000-0000-0000-000000000001',
              'a2000000-0000-0000-0000-000000000001',
              'message_received', 'msg-1')$$,
    'an event with an external id');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.events (client_id, lead_id, campaign_id, type,
                                 external_id)
      VALUES ('a0000000-0000-0000-0000-000000000001',
              'a4000000-0000-0000-0000-000000000001',
              'a3000000-0000-0000-0000-000000000001',
              'message_received', 'msg-1')$$,
    '23505', 'events_lead_type_external_key',
    'the same message is recorded once per lead');
SELECT lives_ok(
    $$INSERT INTO liauto.events (client_id, lead_id, campaign_id, type,
                                 external_id)
      VALUES ('a0000000-0000-0000-0000-000000000001',
              'a4000000-0000-0000-0000-000000000001',
              'a3000000-0000-0000-0000-000000000001',
              'message_sent', 'msg-1'),
             ('a0000000-0000-0000-0000-000000000001',
              'a4000000-0000-0000-0000-000000000001',
              'a3000000-0000-0000-0000-000000000001',
              'connection_accepted', NULL),
             ('a0000000-0000-0000-0000-000000000001',
              'a4000000-0000-0000-0000-000000000001',
              'a3000000-0000-0000-0000-000000000001',
              'connection_accepted', NULL)$$,
    'another type with that id, and events without external id, are fine');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.events (client_id, lead_id, campaign_id, type)
      VALUES ('a0000000-0000-0000-0000-000000000001',
              'a4000000-0000-0000-0000-000000000001',
              'a3000000-0000-0000-0000-000000000001', 'profile_viewed')$$,
    '23514', 'events_type_check', 'unknown event type');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.events (client_id, lead_id, campaign_id, type, meta)
      VALUES ('a0000000-0000-0000-0000-000000000001',
              'a4000000-0000-0000-0000-000000000001',
              'a3000000-0000-0000-0000-000000000001', 'message_sent',
              '"text"')$$,
    '23514', 'events_meta_check', 'meta is an object');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.events (client_id, lead_id, campaign_id, type)
      VALUES ('b0000000-0000-0000-0000-000000000001',
              'a4000000-0000-0000-0000-000000000001',
              'b3000000-0000-0000-0000-000000000001', 'message_sent')$$,
    '23503', 'events_lead_fkey',
    'an event cannot attach another client''s lead');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.events (client_id, lead_id, campaign_id, account_id,
                                 type)
      VALUES ('a0000000-0000-0000-0000-000000000001',
              'a4000000-0000-0000-0000-000000000001',
              'a3000000-0000-0000-0000-000000000001',
              'b2000000-0000-0000-0000-000000000001', 'message_sent')$$,
    '23503', 'events_account_fkey',
    'an event cannot name another client''s account');

-- rate_usage ------------------------------------------------------------
SELECT lives_ok(
    $$INSERT INTO liauto.rate_usage (account_id, day, invites, messages)
      VALUES ('a2000000-0000-0000-0000-000000000001', '2026-03-02', 25, 0)$$,
    'a day of usage');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.rate_usage (account_id, day)
      VALUES ('a2000000-0000-0000-0000-000000000001', '2026-03-02')$$,
    '23505', 'rate_usage_pkey', 'one usage row per account and day');
SELECT pg_temp.rejects(
    $$UPDATE liauto.rate_usage SET invites = invites - 26$$,
    '23514', 'rate_usage_invites_check', 'invites never go below 0');
SELECT pg_temp.rejects(
    $$UPDATE liauto.rate_usage SET messages = -1$$,
    '23514', 'rate_usage_messages_check', 'messages never go below 0');

-- actions ---------------------------------------------------------------
INSERT INTO liauto.actions (id, client_id, lead_id, campaign_id, account_id,
                            kind, step_index)
VALUES ('a5000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001',
        'a4000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000001',
        'a2000000-0000-0000-0000-000000000001', 'invite', 0);

SELECT pg_temp.rejects(
    $$INSERT INTO liauto.actions (client_id, lead_id, campaign_id,
                                  account_id, kind, step_index)
      VALUES ('a0000000-0000-0000-0000-000000000001',
              'a4000000-0000-0000-0000-000000000001',
              'a3000000-0000-0000-0000-000000000001',
              'a2000000-0000-0000-0000-000000000001', 'invite', 0)$$,
    '23505', 'actions_live_step_key',
    'a second live action for the same lead and step is refused');
SELECT lives_ok(
    $$INSERT INTO liauto.actions (client_id, lead_id, campaign_id,
                                  account_id, kind, step_index)
      VALUES ('a0000000-0000-0000-0000-000000000001',
              'a4000000-0000-0000-0000-000000000001',
              'a3000000-0000-0000-0000-000000000001',
              'a2000000-0000-0000-0000-000000000001', 'message', 1)$$,
    'the next step of the same lead is another action');
SELECT lives_ok(
    $$UPDATE liauto.actions SET status = 'failed'
      WHERE id = 'a5000000-0000-0000-0000-000000000001';
      INSERT INTO liauto.actions (id, client_id, lead_id, campaign_id,
                                  account_id, kind, step_index)
      VALUES ('a5000000-0000-0000-0000-000000000002',
              'a0000000-0000-0000-0000-000000000001',
              'a4000000-0000-0000-0000-000000000001',
              'a3000000-0000-0000-0000-000000000001',
              'a2000000-0000-0000-0000-000000000001', 'invite', 0)$$,
    'a failed action makes room for a retry of its step');
SELECT pg_temp.rejects(
    $$UPDATE liauto.actions SET status = 'unknown'
      WHERE id = 'a5000000-0000-0000-0000-000000000002';
      INSERT INTO liauto.actions (client_id, lead_id, campaign_id,
                                  account_id, kind, step_index)
      VALUES ('a0000000-0000-0000-0000-000000000001',
              'a4000000-0000-0000-0000-000000000001',
              'a3000000-0000-0000-0000-000000000001',
              'a2000000-0000-0000-0000-000000000001', 'invite', 0)$$,
    '23505', 'actions_live_step_key',
    'an unknown outcome blocks a resend of its step');
SELECT pg_temp.rejects(
    $$UPDATE liauto.actions SET status = 'scheduled'
      WHERE id = 'a5000000-0000-0000-0000-000000000001'$$,
    '23505', 'actions_live_step_key',
    'a failed action cannot be revived beside a live one');
SELECT pg_temp.rejects(
    $$UPDATE liauto.actions SET kind = 'visit'
      WHERE id = 'a5000000-0000-0000-0000-000000000002'$$,
    '23514', 'actions_kind_check', 'unknown action kind');
SELECT pg_temp.rejects(
    $$UPDATE liauto.actions SET status = 'sending'
      WHERE id = 'a5000000-0000-0000-0000-000000000002'$$,
    '23514', 'actions_status_check', 'unknown action status');
SELECT pg_temp.rejects(
    $$UPDATE liauto.actions SET kind = 'message'
      WHERE id = 'a5000000-0000-0000-0000-000000000002'$$,
    '23514', 'actions_kind_step_check', 'step 0 is always the invite');
-- 0037: a later step may be an invite (the not_accepted branch's)
SELECT lives_ok(
    $$UPDATE liauto.actions SET kind = 'invite' WHERE step_index = 1$$,
    'a later step may be an invite');
UPDATE liauto.actions SET kind = 'message' WHERE step_index = 1;
SELECT pg_temp.rejects(
    $$UPDATE liauto.actions SET step_index = -1, kind = 'message'
      WHERE step_index = 1$$,
    '23514', 'actions_step_index_check', 'step_index >= 0');
SELECT pg_temp.rejects(
    $$UPDATE liauto.actions SET attempts = -1
      WHERE id = 'a5000000-0000-0000-0000-000000000002'$$,
    '23514', 'actions_attempts_check', 'attempts >= 0');
SELECT pg_temp.rejects(
    $$UPDATE liauto.actions SET payload = '[]'
      WHERE id = 'a5000000-0000-0000-0000-000000000002'$$,
    '23514', 'actions_payload_check', 'payload is an object');
SELECT pg_temp.rejects(
    $$UPDATE liauto.actions SET status = 'claimed'
      WHERE step_index = 1$$,
    '23514', 'actions_claim_check',
    'a claim without token, lease and claimer is refused');
SELECT lives_ok(
    $$UPDATE liauto.actions
      SET status = 'claimed', claim_token = gen_random_uuid(),
          lease_expires_at = now() + interval '2 minutes',
          claimed_by = 'worker-1', claimed_at = now(),
          attempts = attempts + 1
      WHERE step_index = 1$$,
    'a claim with token, lease and claimer');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.actions (client_id, lead_id, campaign_id,
                                  account_id, kind, step_index)
      VALUES ('a0000000-0000-0000-0000-000000000001',
              'a4000000-0000-0000-0000-000000000001',
              'a3000000-0000-0000-0000-000000000001',
              'b2000000-0000-0000-0000-000000000001', 'message', 2)$$,
    '23503', 'actions_account_fkey',
    'an action cannot send from another client''s account');

-- webhook_events --------------------------------------------------------
SELECT lives_ok(
    $$INSERT INTO liauto.webhook_events (source, delivery_key, body)
      VALUES ('unipile_messaging', 'msg:abc', '{"event":"message_received"}')$$,
    'a raw delivery');
INSERT INTO liauto.webhook_events (source, delivery_key, body)
VALUES ('unipile_messaging', 'msg:abc', '{"retry":true}')
ON CONFLICT (delivery_key) DO NOTHING;
SELECT results_eq(
    $$SELECT body FROM liauto.webhook_events WHERE delivery_key = 'msg:abc'$$,
    ARRAY['{"event":"message_received"}'],
    'a retried delivery is absorbed by ON CONFLICT DO NOTHING');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.webhook_events (source, delivery_key, body)
      VALUES ('unipile_messaging', 'msg:abc', '{}')$$,
    '23505', 'webhook_events_delivery_key_key',
    'a delivery key is stored once');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.webhook_events (source, delivery_key, body)
      VALUES ('stripe', 'evt_1', '{}')$$,
    '23514', 'webhook_events_source_check', 'unknown webhook source');
SELECT pg_temp.rejects(
    $$UPDATE liauto.webhook_events SET attempts = -1$$,
    '23514', 'webhook_events_attempts_check', 'attempts >= 0');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.webhook_events (source, delivery_key, body)
      VALUES ('unipile_users', '', '{}')$$,
    '23514', 'webhook_events_delivery_key_check',
    'an empty delivery key is refused');

-- idempotency_keys ------------------------------------------------------
SELECT lives_ok(
    $$INSERT INTO liauto.idempotency_keys (user_id, key, fingerprint)
      VALUES ('a1000000-0000-0000-0000-000000000001', 'k-1',
              digest('POST /campaigns {}', 'sha256'))$$,
    'claiming a key');
SELECT is(
    (SELECT expires_at - created_at FROM liauto.idempotency_keys
     WHERE key = 'k-1'),
    interval '24 hours',
    'a key is kept 24 hours');
SELECT is(
    (SELECT state FROM liauto.idempotency_keys WHERE key = 'k-1'),
    'in_progress',
    'a claimed key starts in_progress');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.idempotency_keys (user_id, key, fingerprint)
      VALUES ('a1000000-0000-0000-0000-000000000001', 'k-1',
              digest('other', 'sha256'))$$,
    '23505', 'idempotency_keys_pkey', 'a key is unique per user');
SELECT lives_ok(
    $$INSERT INTO liauto.idempotency_keys (user_id, key, fingerprint)
      VALUES ('c1000000-0000-0000-0000-000000000001', 'k-1',
              digest('other', 'sha256'))$$,
    'another user may use the same key');
SELECT pg_temp.rejects(
    $$UPDATE liauto.idempotency_keys SET state = 'done'
      WHERE user_id = 'a1000000-0000-0000-0000-000000000001'$$,
    '23514', 'idempotency_keys_done_check',
    'a done key carries its response status');
SELECT pg_temp.rejects(
    $$UPDATE liauto.idempotency_keys SET response_status = 201
      WHERE user_id = 'a1000000-0000-0000-0000-000000000001'$$,
    '23514', 'idempotency_keys_done_check',
    'an in-progress key has no response yet');
SELECT lives_ok(
    $$UPDATE liauto.idempotency_keys
      SET state = 'done', response_status = 201, response_body = '{"id":1}'
      WHERE user_id = 'a1000000-0000-0000-0000-000000000001'$$,
    'completing a key with its response');
SELECT pg_temp.rejects(
    $$UPDATE liauto.idempotency_keys SET state = 'stale'
      WHERE user_id = 'c1000000-0000-0000-0000-000000000001'$$,
    '23514', 'idempotency_keys_state_check', 'unknown key state');
SELECT pg_temp.rejects(
    $$UPDATE liauto.idempotency_keys SET response_status = 99
      WHERE user_id = 'a1000000-0000-0000-0000-000000000001'$$,
    '23514', 'idempotency_keys_response_status_check',
    'a response status is an HTTP status');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.idempotency_keys (user_id, key, fingerprint)
      VALUES ('a1000000-0000-0000-0000-000000000001', repeat('k', 256),
              digest('x', 'sha256'))$$,
    '23514', 'idempotency_keys_key_check', 'keys are at most 255 characters');
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.idempotency_keys (user_id, key, fingerprint)
      VALUES ('a1000000-0000-0000-0000-000000000001', 'k-2', 'abc')$$,
    '23514', 'idempotency_keys_fingerprint_check',
    'the fingerprint is a sha256');

-- worker_heartbeats -----------------------------------------------------
SELECT pg_temp.rejects(
    $$INSERT INTO liauto.worker_heartbeats (worker_id, pid) VALUES ('w', 0)$$,
    '23514', 'worker_heartbeats_pid_check', 'a pid is positive');

-- ON DELETE behaviour ---------------------------------------------------
SELECT pg_temp.rejects(
    $$DELETE FROM liauto.clients
      WHERE id = 'a0000000-0000-0000-0000-000000000001'$$,
    '23503', 'linkedin_accounts_client_id_fkey',
    'a client with accounts cannot be deleted');
SELECT pg_temp.rejects(
    $$DELETE FROM liauto.linkedin_accounts
      WHERE id = 'a2000000-0000-0000-0000-000000000001'$$,
    '23503', 'campaigns_account_fkey',
    'an account used by a campaign cannot be deleted');
SELECT lives_ok(
    $$UPDATE liauto.campaigns
      SET linkedin_account_id = 'a2000000-0000-0000-0000-000000000002'
      WHERE id = 'a3000000-0000-0000-0000-000000000001';
      DELETE FROM liauto.linkedin_accounts
      WHERE id = 'a2000000-0000-0000-0000-000000000001'$$,
    'an account no campaign uses can be deleted');
SELECT results_eq(
    $$SELECT (SELECT count(*) FROM liauto.events
              WHERE lead_id = 'a4000000-0000-0000-0000-000000000001'
                AND account_id IS NULL),
             (SELECT count(*) FROM liauto.events
              WHERE lead_id = 'a4000000-0000-0000-0000-000000000001'),
             (SELECT count(*) FROM liauto.rate_usage),
             (SELECT count(*) FROM liauto.actions)$$,
    $$VALUES (4::bigint, 4::bigint, 0::bigint, 0::bigint)$$,
    'its events stay with account_id NULL; its usage and outbox go');
SELECT lives_ok(
    $$INSERT INTO liauto.actions (client_id, lead_id, campaign_id,
                                  account_id, kind, step_index)
      VALUES ('a0000000-0000-0000-0000-000000000001',
              'a4000000-0000-0000-0000-000000000001',
              'a3000000-0000-0000-0000-000000000001',
              'a2000000-0000-0000-0000-000000000002', 'invite', 0);
      DELETE FROM liauto.campaigns
      WHERE id = 'a3000000-0000-0000-0000-000000000001'$$,
    'a campaign can be deleted');
SELECT results_eq(
    $$SELECT (SELECT count(*) FROM liauto.leads
              WHERE campaign_id = 'a3000000-0000-0000-0000-000000000001'),
             (SELECT count(*) FROM liauto.events
              WHERE campaign_id = 'a3000000-0000-0000-0000-000000000001'),
             (SELECT count(*) FROM liauto.actions)$$,
    $$VALUES (0::bigint, 0::bigint, 0::bigint)$$,
    'deleting a campaign deletes its leads, their events and actions');
SELECT lives_ok(
    $$DELETE FROM liauto.users
      WHERE id = 'a1000000-0000-0000-0000-000000000001'$$,
    'a user can be deleted');
SELECT results_eq(
    $$SELECT (SELECT count(*) FROM liauto.refresh_tokens
              WHERE user_id = 'a1000000-0000-0000-0000-000000000001'),
             (SELECT count(*) FROM liauto.idempotency_keys
              WHERE user_id = 'a1000000-0000-0000-0000-000000000001')$$,
    $$VALUES (0::bigint, 0::bigint)$$,
    'a deleted user''s refresh tokens and idempotency keys go with it');
SELECT lives_ok(
    $$DELETE FROM liauto.clients
      WHERE id = 'c0000000-0000-0000-0000-000000000001'$$,
    'a client with only users can be deleted');
SELECT is(
    (SELECT count(*) FROM liauto.users
     WHERE id = 'c1000000-0000-0000-0000-000000000001'),
    0::bigint,
    'its users go with it');

SELECT * FROM finish();
ROLLBACK;
