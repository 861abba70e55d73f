-- Functions of migration 0001: timezone validation, profile URL
-- normalisation, password hashing, worker heartbeats, api.health() and the
-- updated_at trigger.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(41);

-- is_valid_timezone -------------------------------------------------------
SELECT ok(liauto.is_valid_timezone('Europe/London'), 'Europe/London is valid');
SELECT ok(liauto.is_valid_timezone('America/New_York'),
          'America/New_York is valid');
SELECT ok(liauto.is_valid_timezone('UTC'), 'UTC is valid');
SELECT ok(NOT liauto.is_valid_timezone('Mars/Olympus'),
          'an unknown zone is not');
SELECT ok(NOT liauto.is_valid_timezone('UTC+3'),
          'a POSIX offset string is not (its sign is inverted)');
SELECT ok(NOT liauto.is_valid_timezone('europe/london'),
          'zone names are spelt exactly');
SELECT ok(NOT liauto.is_valid_timezone(''), 'the empty string is not');
SELECT is(liauto.is_valid_timezone(NULL), NULL, 'NULL stays NULL');

-- normalize_profile_url ---------------------------------------------------
SELECT is(liauto.normalize_profile_url('https://www.linkedin.com/in/Jane-Doe/'),
          'linkedin.com/in/jane-doe', 'scheme, www and trailing slash go');
SELECT is(liauto.normalize_profile_url(
              'http://uk.linkedin.com/in/jane-doe?trk=public#top'),
          'linkedin.com/in/jane-doe', 'country subdomain, query and fragment');
SELECT is(liauto.normalize_profile_url('  linkedin.com/in/jane-doe///  '),
          'linkedin.com/in/jane-doe', 'blanks and repeated slashes');
SELECT is(liauto.normalize_profile_url(
              'https://www.linkedin.com/sales/lead/ACwAAB1,NAME_SEARCH'),
          'linkedin.com/sales/lead/acwaab1,name_search',
          'Sales Navigator URLs keep their path');
SELECT is(liauto.normalize_profile_url('https://example.com/in/jane-doe'),
          'https://example.com/in/jane-doe',
          'a non-LinkedIn URL keeps its host and scheme');
SELECT is(liauto.normalize_profile_url('?utm=x'), NULL,
          'nothing left means no key');

-- hash_password / verify_password -----------------------------------------
SELECT matches(liauto.hash_password('correct horse'),
               '^\$2a\$10\$[./A-Za-z0-9]{53}$', 'bcrypt with cost 10');
SELECT isnt(liauto.hash_password('correct horse'),
            liauto.hash_password('correct horse'), 'salted: hashes differ');
SELECT ok(liauto.verify_password(liauto.hash_password('correct horse'),
                                 'correct horse'),
          'the right password verifies');
SELECT ok(NOT liauto.verify_password(liauto.hash_password('correct horse'),
                                     'Correct horse'),
          'a wrong password does not');

-- record_heartbeat --------------------------------------------------------
SELECT liauto.record_heartbeat('w-1', 'host-a', 100, '0.1.0', 'starting');
SELECT results_eq(
    $$SELECT hostname, pid, version, state, started_at = now(),
             last_seen_at = now()
      FROM liauto.worker_heartbeats WHERE worker_id = 'w-1'$$,
    $$VALUES ('host-a', 100, '0.1.0', 'starting', true, true)$$,
    'the first heartbeat creates the row');

UPDATE liauto.worker_heartbeats
SET started_at = now() - interval '1 hour',
    last_seen_at = now() - interval '1 minute'
WHERE worker_id = 'w-1';
SELECT liauto.record_heartbeat('w-1', 'host-a', 100, '0.1.0', 'running');
SELECT results_eq(
    $$SELECT state, started_at = now() - interval '1 hour',
             last_seen_at = now()
      FROM liauto.worker_heartbeats WHERE worker_id = 'w-1'$$,
    $$VALUES ('running', true, true)$$,
    'the same process keeps started_at, moves last_seen_at, updates state');
SELECT is((SELECT count(*) FROM liauto.worker_heartbeats
           WHERE worker_id = 'w-1'),
          1::bigint, 'still one row per worker id');

SELECT liauto.record_heartbeat('w-1', 'host-a', 200, '0.2.0', 'starting');
SELECT results_eq(
    $$SELECT pid, version, started_at = now()
      FROM liauto.worker_heartbeats WHERE worker_id = 'w-1'$$,
    $$VALUES (200, '0.2.0', true)$$,
    'a new pid under the same worker id is a new run');

UPDATE liauto.worker_heartbeats
SET started_at = now() - interval '1 hour'
WHERE worker_id = 'w-1';
SELECT liauto.record_heartbeat('w-1', 'host-b', 200, '0.2.0', 'running');
SELECT is((SELECT started_at FROM liauto.worker_heartbeats
           WHERE worker_id = 'w-1'),
          now(), 'the same pid on another host is a new run');

SELECT liauto.record_heartbeat('w-2', NULL, NULL, NULL, NULL);
SELECT is((SELECT count(*) FROM liauto.worker_heartbeats
           WHERE worker_id IN ('w-1', 'w-2')),
          2::bigint, 'another worker id gets its own row');

-- api.health --------------------------------------------------------------
-- The ledger is the migrator's; create it here when the migration was
-- applied by hand.
SET LOCAL client_min_messages = warning;
CREATE TABLE IF NOT EXISTS public.schema_migrations (
    version     text PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO public.schema_migrations (version, name, checksum)
VALUES ('0001', '0001_core_schema.sql', 'x'),
       ('9998', '9998_test.sql', 'x'),
       ('9999', '9999_test.sql', 'x')
ON CONFLICT (version) DO NOTHING;

DELETE FROM liauto.worker_heartbeats;
INSERT INTO liauto.worker_heartbeats (worker_id, started_at, last_seen_at)
VALUES ('fresh', now() - interval '1 hour', now()),
       ('recent', now() - interval '1 hour', now() - interval '29 seconds'),
       ('stale', now() - interval '1 hour', now() - interval '31 seconds'),
       ('dead', now() - interval '1 day', now() - interval '1 hour');

SELECT is(api.health()::jsonb,
          '{"schema_version": "9999", "workers_alive": 2}'::jsonb,
          'health: highest applied version, workers seen in the last 30 s');
SELECT liauto.record_heartbeat('dead', 'host-a', 300, '0.2.0', 'running');
SELECT is(api.health()::jsonb -> 'workers_alive', '3'::jsonb,
          'a worker counts again once it reports');
SELECT liauto.record_heartbeat('dead', 'host-a', 300, '0.2.0', 'stopped');
SELECT is(api.health()::jsonb -> 'workers_alive', '2'::jsonb,
          'a worker that said it stopped is not alive');
DELETE FROM liauto.worker_heartbeats;
SELECT is(api.health()::jsonb -> 'workers_alive', '0'::jsonb,
          'no heartbeats, no live workers');

-- touch_updated_at --------------------------------------------------------
-- Fixtures carry created_at = updated_at = 2000-01-01 (an INSERT does not
-- fire the trigger); each table then gets a no-op and a real update.
INSERT INTO liauto.clients (id, name, created_at, updated_at)
VALUES ('a0000000-0000-0000-0000-000000000001', 'Client A',
        '2000-01-01', '2000-01-01');
INSERT INTO liauto.users (id, client_id, email, password_hash, role,
                          created_at, updated_at)
VALUES ('a1000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001', 'agent@a.example',
        liauto.hash_password('x'), 'agent', '2000-01-01', '2000-01-01');
INSERT INTO liauto.refresh_tokens (user_id, family_id, token_hash,
                                   expires_at, created_at, updated_at)
VALUES ('a1000000-0000-0000-0000-000000000001', gen_random_uuid(),
        digest('t', 'sha256'), '2000-02-01', '2000-01-01', '2000-01-01');
INSERT INTO liauto.linkedin_accounts (id, client_id, name, unipile_account_id,
                                      created_at, updated_at)
VALUES ('a2000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001', 'A one', 'uni-a1',
        '2000-01-01', '2000-01-01');
INSERT INTO liauto.campaigns (id, client_id, linkedin_account_id, name,
                              created_at, updated_at)
VALUES ('a3000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001',
        'a2000000-0000-0000-0000-000000000001', 'A outreach',
        '2000-01-01', '2000-01-01');
INSERT INTO liauto.leads (id, client_id, campaign_id, public_identifier,
                          created_at, updated_at)
VALUES ('a4000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000001', 'jane-doe',
        '2000-01-01', '2000-01-01');
INSERT INTO liauto.rate_usage (account_id, day, created_at, updated_at)
VALUES ('a2000000-0000-0000-0000-000000000001', '2000-01-01',
        '2000-01-01', '2000-01-01');
INSERT INTO liauto.actions (client_id, lead_id, campaign_id, account_id,
                            kind, step_index, created_at, updated_at)
VALUES ('a0000000-0000-0000-0000-000000000001',
        'a4000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000001',
        'a2000000-0000-0000-0000-000000000001', 'invite', 0,
        '2000-01-01', '2000-01-01');
INSERT INTO liauto.webhook_events (source, delivery_key, body, created_at,
                                   updated_at)
VALUES ('unipile_users', 'rel:1', '{}', '2000-01-01', '2000-01-01');
INSERT INTO liauto.idempotency_keys (user_id, key, fingerprint, created_at,
                                     updated_at, expires_at)
VALUES ('a1000000-0000-0000-0000-000000000001', 'k-1', digest('r', 'sha256'),
        '2000-01-01', '2000-01-01', '2000-01-02');

-- Applies p_set to the fixture row of p_table and reports whether its
-- updated_at moved to now() (p_moves) or stayed at 2000-01-01.
CREATE FUNCTION pg_temp.touch_test(p_table text, p_set text, p_moves boolean,
                                   p_description text)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_stamp  timestamptz;
BEGIN
    EXECUTE format('UPDATE liauto.%I SET %s WHERE created_at = %L',
                   p_table, p_set, '2000-01-01');
    EXECUTE format('SELECT updated_at FROM liauto.%I WHERE created_at = %L',
                   p_table, '2000-01-01')
        INTO STRICT v_stamp;
    RETURN is(v_stamp,
              CASE WHEN p_moves THEN now()
                   ELSE '2000-01-01'::timestamptz END,
              p_description);
END
$$;

SELECT pg_temp.touch_test('clients', 'name = name', false,
                          'a no-op update keeps clients.updated_at');
SELECT pg_temp.touch_test('leads', 'status = status', false,
                          'a no-op update keeps leads.updated_at');
SELECT pg_temp.touch_test('clients', $$name = 'Client A2'$$, true,
                          'clients.updated_at moves on change');
SELECT pg_temp.touch_test('users', $$role = 'viewer'$$, true,
                          'users.updated_at moves on change');
SELECT pg_temp.touch_test('refresh_tokens', 'revoked_at = now()', true,
                          'refresh_tokens.updated_at moves on change');
SELECT pg_temp.touch_test('linkedin_accounts',
                          $$cooldown_until = now() + interval '1 hour'$$,
                          true, 'linkedin_accounts.updated_at moves on change');
SELECT pg_temp.touch_test('campaigns', $$name = 'Renamed'$$, true,
                          'campaigns.updated_at moves on change');
SELECT pg_temp.touch_test('leads', $$status = 'invite_sent'$$, true,
                          'leads.updated_at moves on change');
SELECT pg_temp.touch_test('rate_usage', 'invites = invites + 1', true,
                          'rate_usage.updated_at moves on change');
SELECT pg_temp.touch_test('actions', $$status = 'cancelled'$$, true,
                          'actions.updated_at moves on change');
SELECT pg_temp.touch_test('webhook_events', 'attempts = attempts + 1', true,
                          'webhook_events.updated_at moves on change');
SELECT pg_temp.touch_test('idempotency_keys',
                          $$state = 'done', response_status = 200$$, true,
                          'idempotency_keys.updated_at moves on change');
SELECT pg_temp.touch_test('campaigns', $$updated_at = '2001-01-01'$$, true,
                          'updated_at cannot be set by hand');

SELECT * FROM finish();
ROLLBACK;
