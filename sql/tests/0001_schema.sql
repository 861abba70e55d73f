-- Structure of the core schema (migration 0001): tables, exact columns and
-- their types, keys, foreign keys, indexes, functions, triggers, and that
-- the engine's and the API's hot queries can use their indexes.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(135);

SELECT has_schema('liauto');
SELECT has_schema('api');
SELECT has_extension('pgcrypto');

-- A superset check: later migrations add tables of their own (tested in
-- their own files) and this file runs against the fully migrated schema.
SELECT bag_has(
    $$SELECT tablename::text FROM pg_tables WHERE schemaname = 'liauto'$$,
    $$SELECT unnest(ARRAY[
        'clients', 'users', 'refresh_tokens', 'linkedin_accounts',
        'campaigns', 'leads', 'events', 'rate_usage', 'actions',
        'webhook_events', 'idempotency_keys', 'worker_heartbeats'])$$,
    'Schema liauto has the tables of 0001');

-- Exact columns of every table.
SELECT columns_are('liauto', 'clients',      -- email..settings: 0003
    ARRAY['id', 'name', 'created_at', 'updated_at', 'email', 'timezone',
          'settings']);
SELECT columns_are('liauto', 'users',
    ARRAY['id', 'client_id', 'email', 'password_hash', 'role',
          'created_at', 'updated_at']);
SELECT columns_are('liauto', 'refresh_tokens',
    ARRAY['id', 'user_id', 'family_id', 'token_hash', 'created_at',
          'updated_at', 'expires_at', 'rotated_at', 'revoked_at']);
SELECT columns_are('liauto', 'linkedin_accounts',  -- spacing..: 0011,
                                                   -- status_event_at: 0017,
                                                   -- warmup_*: 0025
    ARRAY['id', 'client_id', 'name', 'unipile_account_id',
          'provider_user_id', 'status', 'timezone', 'daily_invite_limit',
          'daily_message_limit', 'weekly_invite_limit', 'cooldown_until',
          'created_at', 'updated_at', 'spacing_min_seconds',
          'spacing_max_seconds', 'last_action_at', 'next_action_at',
          'status_reason', 'status_event_at', 'warmup_days',
          'warmup_start_percent', 'warmup_started_on',
          'daily_withdraw_limit']);
SELECT columns_are('liauto', 'campaigns',  -- stop_company..: 0025-0026,
                                            -- holidays..: 0035,
                                            -- sequence_version: 0037
    ARRAY['id', 'client_id', 'linkedin_account_id', 'name', 'status',
          'timezone', 'working_hours_start', 'working_hours_end',
          'working_days', 'sequence', 'started_at', 'paused_at',
          'created_at', 'updated_at', 'stop_company_on_reply',
          'company_daily_invite_cap', 'auto_withdraw_days',
          'note_fallback', 'variant_seed', 'holidays',
          'holiday_calendar', 'sequence_version']);
SELECT columns_are('liauto', 'leads',  -- next_due_at: 0020, invite_note..: 0028,
                                        -- sender_account_id: 0036,
                                        -- branch: 0037
    ARRAY['id', 'client_id', 'campaign_id', 'first_name', 'last_name',
          'company', 'title', 'email', 'public_identifier', 'provider_id',
          'member_id', 'profile_url', 'custom_fields', 'status',
          'error_reason', 'current_step', 'last_step_sent_at',
          'conversation_id', 'created_at', 'updated_at', 'next_due_at',
          'invite_note_dropped', 'sender_account_id', 'branch']);
SELECT columns_are('liauto', 'events',
    ARRAY['id', 'client_id', 'lead_id', 'campaign_id', 'account_id', 'type',
          'occurred_at', 'meta', 'external_id', 'created_at']);
SELECT columns_are('liauto', 'rate_usage',
    ARRAY['account_id', 'day', 'invites', 'messages', 'created_at',
          'updated_at']);
SELECT columns_are('liauto', 'actions',  -- sequence_version: 0037
    ARRAY['id', 'client_id', 'lead_id', 'campaign_id', 'account_id', 'kind',
          'step_index', 'status', 'due_at', 'attempts', 'lease_expires_at',
          'claim_token', 'claimed_by', 'claimed_at', 'external_id',
          'last_error', 'payload', 'created_at', 'updated_at',
          'sequence_version']);
SELECT columns_are('liauto', 'webhook_events',  -- outcome..: 0017
    ARRAY['id', 'source', 'delivery_key', 'body', 'headers', 'received_at',
          'processed_at', 'processing_error', 'attempts', 'created_at',
          'updated_at', 'outcome', 'outcome_detail', 'next_attempt_at']);
SELECT columns_are('liauto', 'idempotency_keys',
    ARRAY['user_id', 'key', 'fingerprint', 'state', 'response_status',
          'response_body', 'created_at', 'updated_at', 'expires_at']);
SELECT columns_are('liauto', 'worker_heartbeats',
    ARRAY['worker_id', 'hostname', 'pid', 'version', 'state', 'started_at',
          'last_seen_at', 'info']);

-- Types that other components rely on.
SELECT col_type_is('liauto', 'clients', 'id', 'uuid',
    'liauto.clients.id is uuid');
SELECT col_type_is('liauto', 'users', 'client_id', 'uuid',
    'liauto.users.client_id is uuid');
SELECT col_type_is('liauto', 'users', 'email', 'text',
    'liauto.users.email is text');
SELECT col_type_is('liauto', 'refresh_tokens', 'token_hash', 'bytea',
    'liauto.refresh_tokens.token_hash is bytea');
SELECT col_type_is('liauto', 'refresh_tokens', 'family_id', 'uuid',
    'liauto.refresh_tokens.family_id is uuid');
SELECT col_type_is('liauto', 'refresh_tokens', 'expires_at',
                   'timestamp with time zone',
    'liauto.refresh_tokens.expires_at is timestamp with time zone');
SELECT col_type_is('liauto', 'linkedin_accounts', 'daily_invite_limit',
                   'integer',
    'liauto.linkedin_accounts.daily_invite_limit is integer');
SELECT col_type_is('liauto', 'linkedin_accounts', 'cooldown_until',
                   'timestamp with time zone',
    'liauto.linkedin_accounts.cooldown_until is timestamp with time zone');
SELECT col_type_is('liauto', 'campaigns', 'working_hours_start',
                   'time without time zone',
    'liauto.campaigns.working_hours_start is time without time zone');
SELECT col_type_is('liauto', 'campaigns', 'working_hours_end',
                   'time without time zone',
    'liauto.campaigns.working_hours_end is time without time zone');
SELECT col_type_is('liauto', 'campaigns', 'working_days', 'smallint[]',
    'liauto.campaigns.working_days is smallint[]');
SELECT col_type_is('liauto', 'campaigns', 'sequence', 'jsonb',
    'liauto.campaigns.sequence is jsonb');
SELECT col_type_is('liauto', 'leads', 'custom_fields', 'jsonb',
    'liauto.leads.custom_fields is jsonb');
SELECT col_type_is('liauto', 'leads', 'last_step_sent_at',
                   'timestamp with time zone',
    'liauto.leads.last_step_sent_at is timestamp with time zone');
SELECT col_type_is('liauto', 'events', 'occurred_at',
                   'timestamp with time zone',
    'liauto.events.occurred_at is timestamp with time zone');
SELECT col_type_is('liauto', 'events', 'meta', 'jsonb',
    'liauto.events.meta is jsonb');
SELECT col_type_is('liauto', 'rate_usage', 'day', 'date',
    'liauto.rate_usage.day is date');
SELECT col_type_is('liauto', 'actions', 'claim_token', 'uuid',
    'liauto.actions.claim_token is uuid');
SELECT col_type_is('liauto', 'actions', 'due_at', 'timestamp with time zone',
    'liauto.actions.due_at is timestamp with time zone');
SELECT col_type_is('liauto', 'actions', 'payload', 'jsonb',
    'liauto.actions.payload is jsonb');
SELECT col_type_is('liauto', 'webhook_events', 'body', 'text',
    'liauto.webhook_events.body is text');
SELECT col_type_is('liauto', 'webhook_events', 'headers', 'jsonb',
    'liauto.webhook_events.headers is jsonb');
SELECT col_type_is('liauto', 'idempotency_keys', 'fingerprint', 'bytea',
    'liauto.idempotency_keys.fingerprint is bytea');
SELECT col_type_is('liauto', 'idempotency_keys', 'response_body', 'text',
    'liauto.idempotency_keys.response_body is text');
SELECT col_type_is('liauto', 'worker_heartbeats', 'worker_id', 'text',
    'liauto.worker_heartbeats.worker_id is text');
SELECT col_type_is('liauto', 'worker_heartbeats', 'hostname', 'text',
    'liauto.worker_heartbeats.hostname is text');
SELECT col_type_is('liauto', 'worker_heartbeats', 'pid', 'integer',
    'liauto.worker_heartbeats.pid is integer');
SELECT col_type_is('liauto', 'worker_heartbeats', 'version', 'text',
    'liauto.worker_heartbeats.version is text');
SELECT col_type_is('liauto', 'worker_heartbeats', 'state', 'text',
    'liauto.worker_heartbeats.state is text');
SELECT col_type_is('liauto', 'worker_heartbeats', 'started_at',
                   'timestamp with time zone',
    'liauto.worker_heartbeats.started_at is timestamp with time zone');
SELECT col_type_is('liauto', 'worker_heartbeats', 'last_seen_at',
                   'timestamp with time zone',
    'liauto.worker_heartbeats.last_seen_at is timestamp with time zone');
SELECT col_type_is('liauto', 'worker_heartbeats', 'info', 'jsonb',
    'liauto.worker_heartbeats.info is jsonb');

-- ids are generated uuids.
SELECT col_default_is('liauto', 'leads', 'id', 'gen_random_uuid()',
    'liauto.leads.id defaults to gen_random_uuid()');
SELECT col_default_is('liauto', 'actions', 'id', 'gen_random_uuid()',
    'liauto.actions.id defaults to gen_random_uuid()');

-- Primary keys.
SELECT col_is_pk('liauto', 'clients', 'id',
    'primary key of liauto.clients is (id)');
SELECT col_is_pk('liauto', 'users', 'id',
    'primary key of liauto.users is (id)');
SELECT col_is_pk('liauto', 'refresh_tokens', 'id',
    'primary key of liauto.refresh_tokens is (id)');
SELECT col_is_pk('liauto', 'linkedin_accounts', 'id',
    'primary key of liauto.linkedin_accounts is (id)');
SELECT col_is_pk('liauto', 'campaigns', 'id',
    'primary key of liauto.campaigns is (id)');
SELECT col_is_pk('liauto', 'leads', 'id',
    'primary key of liauto.leads is (id)');
SELECT col_is_pk('liauto', 'events', 'id',
    'primary key of liauto.events is (id)');
SELECT col_is_pk('liauto', 'rate_usage', ARRAY['account_id', 'day']::name[],
    'primary key of liauto.rate_usage is (account_id, day)');
SELECT col_is_pk('liauto', 'actions', 'id',
    'primary key of liauto.actions is (id)');
SELECT col_is_pk('liauto', 'webhook_events', 'id',
    'primary key of liauto.webhook_events is (id)');
SELECT col_is_pk('liauto', 'idempotency_keys', ARRAY['user_id', 'key']::name[],
    'primary key of liauto.idempotency_keys is (user_id, key)');
SELECT col_is_pk('liauto', 'worker_heartbeats', 'worker_id',
    'primary key of liauto.worker_heartbeats is (worker_id)');

-- Foreign keys; the (x_id, client_id) pairs keep denormalised tenant ids
-- equal to the parent's.
SELECT fk_ok('liauto', 'users', 'client_id', 'liauto', 'clients', 'id');
SELECT fk_ok('liauto', 'refresh_tokens', 'user_id',
             'liauto', 'users', 'id');
SELECT fk_ok('liauto', 'linkedin_accounts', 'client_id',
             'liauto', 'clients', 'id');
SELECT fk_ok('liauto', 'campaigns', 'client_id', 'liauto', 'clients', 'id');
SELECT fk_ok('liauto', 'campaigns', ARRAY['linkedin_account_id', 'client_id'],
             'liauto', 'linkedin_accounts', ARRAY['id', 'client_id']);
SELECT fk_ok('liauto', 'leads', ARRAY['campaign_id', 'client_id'],
             'liauto', 'campaigns', ARRAY['id', 'client_id']);
SELECT fk_ok('liauto', 'events', ARRAY['lead_id', 'client_id'],
             'liauto', 'leads', ARRAY['id', 'client_id']);
SELECT fk_ok('liauto', 'events', ARRAY['campaign_id', 'client_id'],
             'liauto', 'campaigns', ARRAY['id', 'client_id']);
SELECT fk_ok('liauto', 'events', ARRAY['account_id', 'client_id'],
             'liauto', 'linkedin_accounts', ARRAY['id', 'client_id']);
SELECT fk_ok('liauto', 'rate_usage', 'account_id',
             'liauto', 'linkedin_accounts', 'id');
SELECT fk_ok('liauto', 'actions', ARRAY['lead_id', 'client_id'],
             'liauto', 'leads', ARRAY['id', 'client_id']);
SELECT fk_ok('liauto', 'actions', ARRAY['campaign_id', 'client_id'],
             'liauto', 'campaigns', ARRAY['id', 'client_id']);
SELECT fk_ok('liauto', 'actions', ARRAY['account_id', 'client_id'],
             'liauto', 'linkedin_accounts', ARRAY['id', 'client_id']);
SELECT fk_ok('liauto', 'idempotency_keys', 'user_id',
             'liauto', 'users', 'id');

-- Indexes, with their columns or expressions.
SELECT has_index('liauto', 'clients', 'clients_created_idx',
                 ARRAY['created_at', 'id']::name[],
    'index clients_created_idx on liauto.clients');
SELECT has_index('liauto', 'users', 'users_email_key', 'lower(email)',
    'index users_email_key on liauto.users');
SELECT index_is_unique('liauto', 'users', 'users_email_key');
SELECT has_index('liauto', 'users', 'users_client_created_idx',
                 ARRAY['client_id', 'created_at', 'id']::name[],
    'index users_client_created_idx on liauto.users');
SELECT has_index('liauto', 'refresh_tokens', 'refresh_tokens_token_hash_key',
                 ARRAY['token_hash']::name[],
    'index refresh_tokens_token_hash_key on liauto.refresh_tokens');
SELECT index_is_unique('liauto', 'refresh_tokens',
                       'refresh_tokens_token_hash_key');
SELECT has_index('liauto', 'refresh_tokens', 'refresh_tokens_family_idx',
                 ARRAY['family_id']::name[],
    'index refresh_tokens_family_idx on liauto.refresh_tokens');
SELECT has_index('liauto', 'refresh_tokens', 'refresh_tokens_user_idx',
                 ARRAY['user_id']::name[],
    'index refresh_tokens_user_idx on liauto.refresh_tokens');
SELECT has_index('liauto', 'linkedin_accounts',
                 'linkedin_accounts_client_created_idx',
                 ARRAY['client_id', 'created_at', 'id']::name[],
    'index linkedin_accounts_client_created_idx on liauto.linkedin_accounts');
SELECT index_is_unique('liauto', 'linkedin_accounts',
                       'linkedin_accounts_unipile_account_id_key');
SELECT has_index('liauto', 'campaigns', 'campaigns_client_created_idx',
                 ARRAY['client_id', 'created_at', 'id']::name[],
    'index campaigns_client_created_idx on liauto.campaigns');
SELECT has_index('liauto', 'campaigns', 'campaigns_account_idx',
                 ARRAY['linkedin_account_id']::name[],
    'index campaigns_account_idx on liauto.campaigns');
SELECT has_index('liauto', 'leads', 'leads_client_created_idx',
                 ARRAY['client_id', 'created_at', 'id']::name[],
    'index leads_client_created_idx on liauto.leads');
SELECT has_index('liauto', 'leads', 'leads_campaign_created_idx',
                 ARRAY['campaign_id', 'created_at', 'id']::name[],
    'index leads_campaign_created_idx on liauto.leads');
SELECT has_index('liauto', 'leads', 'leads_campaign_status_idx',
                 ARRAY['campaign_id', 'status']::name[],
    'index leads_campaign_status_idx on liauto.leads');
SELECT has_index('liauto', 'leads', 'leads_client_public_identifier_key',
                 ARRAY['client_id', 'lower(public_identifier)']::name[],
    'index leads_client_public_identifier_key on liauto.leads');
SELECT index_is_unique('liauto', 'leads',
                       'leads_client_public_identifier_key');
SELECT has_index('liauto', 'leads', 'leads_client_profile_url_key',
                 ARRAY['client_id',
                       'liauto.normalize_profile_url(profile_url)']::name[],
    'index leads_client_profile_url_key on liauto.leads');
SELECT index_is_unique('liauto', 'leads', 'leads_client_profile_url_key');
SELECT has_index('liauto', 'leads', 'leads_provider_id_idx',
                 ARRAY['provider_id']::name[],
    'index leads_provider_id_idx on liauto.leads');
SELECT has_index('liauto', 'leads', 'leads_member_id_idx',
                 ARRAY['member_id']::name[],
    'index leads_member_id_idx on liauto.leads');
SELECT has_index('liauto', 'leads', 'leads_conversation_id_idx',
                 ARRAY['conversation_id']::name[],
    'index leads_conversation_id_idx on liauto.leads');
SELECT has_index('liauto', 'events', 'events_lead_type_external_key',
                 ARRAY['lead_id', 'type', 'external_id']::name[],
    'index events_lead_type_external_key on liauto.events');
SELECT index_is_unique('liauto', 'events', 'events_lead_type_external_key');
SELECT has_index('liauto', 'events', 'events_lead_occurred_idx',
                 ARRAY['lead_id', 'occurred_at']::name[],
    'index events_lead_occurred_idx on liauto.events');
SELECT has_index('liauto', 'events', 'events_campaign_type_occurred_idx',
                 ARRAY['campaign_id', 'type', 'occurred_at']::name[],
    'index events_campaign_type_occurred_idx on liauto.events');
SELECT has_index('liauto', 'events', 'events_client_occurred_idx',
                 ARRAY['client_id', 'occurred_at']::name[],
    'index events_client_occurred_idx on liauto.events');
SELECT has_index('liauto', 'actions', 'actions_live_step_key',
                 ARRAY['lead_id', 'step_index']::name[],
    'index actions_live_step_key on liauto.actions');
SELECT index_is_unique('liauto', 'actions', 'actions_live_step_key');
SELECT has_index('liauto', 'actions', 'actions_due_idx',
                 ARRAY['due_at', 'id']::name[],
    'index actions_due_idx on liauto.actions');
SELECT has_index('liauto', 'actions', 'actions_lease_idx',
                 ARRAY['lease_expires_at']::name[],
    'index actions_lease_idx on liauto.actions');
SELECT has_index('liauto', 'actions', 'actions_account_due_idx',  -- id: 0029
                 ARRAY['account_id', 'due_at', 'id']::name[],
    'index actions_account_due_idx on liauto.actions');
SELECT index_is_unique('liauto', 'webhook_events',
                       'webhook_events_delivery_key_key');
SELECT has_index('liauto', 'webhook_events', 'webhook_events_unprocessed_idx',
                 ARRAY['received_at']::name[],
    'index webhook_events_unprocessed_idx on liauto.webhook_events');
SELECT has_index('liauto', 'idempotency_keys', 'idempotency_keys_expires_idx',
                 ARRAY['expires_at']::name[],
    'index idempotency_keys_expires_idx on liauto.idempotency_keys');

-- The partial indexes cover exactly the rows their queries want.
SELECT is(
    (SELECT pg_get_expr(i.indpred, i.indrelid)
     FROM pg_index i
     WHERE i.indexrelid = 'liauto.actions_live_step_key'::regclass),
    '(status <> ALL (ARRAY[''failed''::text, ''cancelled''::text]))',
    'actions_live_step_key ignores failed and cancelled actions');
SELECT is(
    (SELECT pg_get_expr(i.indpred, i.indrelid)
     FROM pg_index i
     WHERE i.indexrelid = 'liauto.actions_due_idx'::regclass),
    '(status = ''scheduled''::text)',
    'actions_due_idx holds only scheduled actions');
SELECT is(
    (SELECT pg_get_expr(i.indpred, i.indrelid)
     FROM pg_index i
     WHERE i.indexrelid = 'liauto.actions_lease_idx'::regclass),
    '(status = ''claimed''::text)',
    'actions_lease_idx holds only claimed actions');

-- Functions and triggers.
SELECT has_function('liauto', 'touch_updated_at', ARRAY[]::text[]);
SELECT function_returns('liauto', 'is_valid_timezone', ARRAY['text'],
                        'boolean');
SELECT function_returns('liauto', 'normalize_profile_url', ARRAY['text'],
                        'text');
SELECT function_returns('liauto', 'hash_password', ARRAY['text'], 'text');
SELECT function_returns('liauto', 'verify_password', ARRAY['text', 'text'],
                        'boolean');
SELECT function_returns('liauto', 'record_heartbeat',
                        ARRAY['text', 'text', 'integer', 'text', 'text'],
                        'void');
SELECT function_returns('api', 'health', ARRAY[]::text[], 'json');

SELECT has_trigger('liauto', 'linkedin_accounts',
                   'linkedin_accounts_timezone_check',
    'trigger linkedin_accounts_timezone_check on liauto.linkedin_accounts');
SELECT has_trigger('liauto', 'campaigns', 'campaigns_timezone_check',
    'trigger campaigns_timezone_check on liauto.campaigns');
SELECT bag_eq(
    $$SELECT c.relname::text
      FROM pg_trigger t
      JOIN pg_class c ON c.oid = t.tgrelid
      JOIN pg_proc p ON p.oid = t.tgfoid
      WHERE c.relnamespace = 'liauto'::regnamespace
        AND p.proname = 'touch_updated_at'$$,
    $$SELECT c.table_name::text
      FROM information_schema.columns AS c
      JOIN information_schema.tables AS t USING (table_schema, table_name)
      WHERE c.table_schema = 'liauto' AND c.column_name = 'updated_at'
        AND t.table_type = 'BASE TABLE'$$,
    'every table with updated_at has the touch trigger');

-- The hot queries can use their indexes (sequential scans priced out, so
-- a missing or unusable index shows up as a Seq Scan).
CREATE FUNCTION pg_temp.plan_of(p_query text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_line  text;
    v_plan  text := '';
BEGIN
    FOR v_line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || p_query LOOP
        v_plan := v_plan || v_line || E'\n';
    END LOOP;
    RETURN v_plan;
END
$$;

SET LOCAL enable_seqscan = off;

SELECT matches(pg_temp.plan_of(
    $$SELECT id FROM liauto.actions
      WHERE status = 'scheduled' AND due_at <= now()
      ORDER BY due_at, id LIMIT 10 FOR UPDATE SKIP LOCKED$$),
    'Index Scan using actions_due_idx',
    'the claim query walks actions_due_idx in due order');
SELECT matches(pg_temp.plan_of(
    $$SELECT id FROM liauto.actions
      WHERE status = 'claimed' AND lease_expires_at < now()
      FOR UPDATE SKIP LOCKED$$),
    'actions_lease_idx',
    'the expired-lease sweep uses actions_lease_idx');
SELECT matches(pg_temp.plan_of(
    $$SELECT id FROM liauto.leads
      WHERE client_id = '00000000-0000-0000-0000-000000000001'
        AND (created_at, id) > (now(), '00000000-0000-0000-0000-000000000001')
      ORDER BY created_at, id LIMIT 50$$),
    E'Limit\n  ->  Index (Only )?Scan using leads_client_created_idx',
    'a tenant''s lead page is a keyset range on leads_client_created_idx');
-- (a plannable status such as pending may use 0020's smaller
-- leads_campaign_next_due_idx instead)
SELECT matches(pg_temp.plan_of(
    $$SELECT id FROM liauto.leads
      WHERE campaign_id = '00000000-0000-0000-0000-000000000001'
        AND status = 'error'$$),
    'leads_campaign_status_idx',
    'leads of a campaign by status use leads_campaign_status_idx');
SELECT matches(pg_temp.plan_of(
    $$SELECT id FROM liauto.leads WHERE provider_id = 'ACoAA1'$$),
    'leads_provider_id_idx',
    'webhook match by provider id uses leads_provider_id_idx');
SELECT matches(pg_temp.plan_of(
    $$SELECT id FROM liauto.leads WHERE member_id = '119375570'$$),
    'leads_member_id_idx',
    'webhook match by member id uses leads_member_id_idx');
SELECT matches(pg_temp.plan_of(
    $$SELECT id FROM liauto.leads
      WHERE client_id = '00000000-0000-0000-0000-000000000001'
        AND lower(public_identifier) = lower('Jane-Doe')$$),
    'leads_client_public_identifier_key',
    'match by public identifier uses the dedupe index');
SELECT matches(pg_temp.plan_of(
    $$SELECT id FROM liauto.leads
      WHERE client_id = '00000000-0000-0000-0000-000000000001'
        AND liauto.normalize_profile_url(profile_url)
            = liauto.normalize_profile_url('linkedin.com/in/jane')$$),
    'leads_client_profile_url_key',
    'match by profile URL uses the dedupe index');
SELECT matches(pg_temp.plan_of(
    $$SELECT count(*) FROM liauto.events
      WHERE campaign_id = '00000000-0000-0000-0000-000000000001'
        AND type = 'message_sent'
        AND occurred_at >= now() - interval '30 days'$$),
    'events_campaign_type_occurred_idx',
    'campaign analytics use events_campaign_type_occurred_idx');
SELECT matches(pg_temp.plan_of(
    $$SELECT id FROM liauto.events
      WHERE lead_id = '00000000-0000-0000-0000-000000000001'
      ORDER BY occurred_at$$),
    'events_lead_occurred_idx',
    'a lead''s timeline uses events_lead_occurred_idx');
SELECT matches(pg_temp.plan_of(
    $$SELECT id FROM liauto.webhook_events
      WHERE processed_at IS NULL ORDER BY received_at LIMIT 10
      FOR UPDATE SKIP LOCKED$$),
    'webhook_events_unprocessed_idx',
    'unprocessed deliveries are found through webhook_events_unprocessed_idx');

SELECT * FROM finish();
ROLLBACK;
