-- 0001_core_schema: the core data model of DESIGN §3.
--
-- Applied by `liauto-worker migrate` inside one transaction; never edit this
-- file once it has landed (the migrator refuses a changed checksum): add a
-- new migration instead.

CREATE SCHEMA liauto;
CREATE SCHEMA api;

COMMENT ON SCHEMA liauto IS
    'Tables and internal functions of liauto.';
COMMENT ON SCHEMA api IS
    'Functions the nginx module calls; nothing else lives here.';

CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA public;


-- ------------------------------------------------------------------------
-- Shared helpers
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION liauto.touch_updated_at() IS
    'BEFORE UPDATE trigger: stamps updated_at. Attached with '
    'WHEN (OLD.* IS DISTINCT FROM NEW.*) so a no-op update keeps it.';

CREATE FUNCTION liauto.is_valid_timezone(p_name text) RETURNS boolean
LANGUAGE sql STABLE STRICT AS $$
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_names
                   WHERE name = p_name)
$$;

COMMENT ON FUNCTION liauto.is_valid_timezone(text) IS
    'True for an IANA zone name exactly as Postgres knows it '
    '(Europe/London, UTC). Abbreviations and POSIX strings such as '
    '"UTC+3" are refused: their DST rules are not what users mean. '
    'Reading pg_timezone_names costs ~20 ms, so it runs from a trigger '
    'only when the timezone column changes, not from a CHECK on every '
    'row update.';

CREATE FUNCTION liauto.check_timezone() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.timezone IS NOT DISTINCT FROM OLD.timezone
    THEN
        RETURN NEW;
    END IF;

    IF NOT liauto.is_valid_timezone(NEW.timezone) THEN
        RAISE EXCEPTION 'invalid timezone "%"', NEW.timezone
            USING ERRCODE = 'check_violation',
                  SCHEMA = TG_TABLE_SCHEMA,
                  TABLE = TG_TABLE_NAME,
                  COLUMN = 'timezone',
                  CONSTRAINT = TG_TABLE_NAME || '_timezone_check';
    END IF;

    RETURN NEW;
END
$$;

COMMENT ON FUNCTION liauto.check_timezone() IS
    'BEFORE INSERT OR UPDATE OF timezone trigger. Fails like a CHECK '
    '(SQLSTATE 23514, constraint <table>_timezone_check) so callers map '
    'it to a field error the same way as every other constraint.';

CREATE FUNCTION liauto.normalize_profile_url(p_url text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT NULLIF(
        regexp_replace(
            regexp_replace(
                regexp_replace(lower(btrim(p_url)), '[?#].*$', ''),
                '^([a-z][a-z0-9+.-]*://)?([a-z0-9-]+\.)*(linkedin\.com)',
                '\3'),
            '/+$', ''),
        '')
$$;

COMMENT ON FUNCTION liauto.normalize_profile_url(text) IS
    'Dedupe key of a profile URL: lower case, no scheme, no www./country '
    'subdomain, no query, fragment or trailing slash, so '
    'https://uk.linkedin.com/in/Jane/?trk=x and linkedin.com/in/jane are '
    'one lead. IMMUTABLE because a unique index is built from it: '
    'changing it needs a migration that rebuilds '
    'leads_client_profile_url_key.';

CREATE FUNCTION liauto.hash_password(p_password text) RETURNS text
LANGUAGE sql VOLATILE STRICT AS $$
    SELECT public.crypt(p_password, public.gen_salt('bf', 10))
$$;

COMMENT ON FUNCTION liauto.hash_password(text) IS
    'bcrypt (pgcrypto, cost 10) of a password, for users.password_hash.';

CREATE FUNCTION liauto.verify_password(p_hash text, p_password text)
RETURNS boolean
LANGUAGE sql STABLE STRICT AS $$
    SELECT public.crypt(p_password, p_hash) = p_hash
$$;

COMMENT ON FUNCTION liauto.verify_password(text, text) IS
    'True when p_password matches the bcrypt hash p_hash.';


-- ------------------------------------------------------------------------
-- Tenants and people
-- ------------------------------------------------------------------------

CREATE TABLE liauto.clients (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL
                CONSTRAINT clients_name_check
                CHECK (name = btrim(name) AND length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE liauto.clients IS
    'Tenants. Deleting one is refused (RESTRICT) while it still owns '
    'LinkedIn accounts or campaigns: business data never disappears as a '
    'side effect; its users and their tokens go with it (CASCADE).';

CREATE INDEX clients_created_idx ON liauto.clients (created_at, id);


CREATE TABLE liauto.users (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id      uuid REFERENCES liauto.clients (id) ON DELETE CASCADE,
    email          text NOT NULL
                   CONSTRAINT users_email_check
                   CHECK (email = btrim(email)
                          AND length(email) <= 320
                          AND email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    password_hash  text NOT NULL
                   CONSTRAINT users_password_hash_check
                   CHECK (password_hash
                          ~ '^\$2[aby]\$[0-9]{2}\$[./A-Za-z0-9]{53}$'),
    role           text NOT NULL
                   CONSTRAINT users_role_check
                   CHECK (role IN ('admin', 'agent', 'viewer')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT users_client_required_check
        CHECK (role = 'admin' OR client_id IS NOT NULL)
);

COMMENT ON TABLE liauto.users IS
    'API users. An admin without client_id sees every client; agents and '
    'viewers always belong to exactly one client.';
COMMENT ON COLUMN liauto.users.email IS
    'Kept as typed; unique case-insensitively (users_email_key on '
    'lower(email)), so look users up with lower(email) = lower($1).';
COMMENT ON COLUMN liauto.users.password_hash IS
    'bcrypt only (liauto.hash_password); the CHECK makes storing a '
    'plain-text password impossible.';

CREATE UNIQUE INDEX users_email_key ON liauto.users (lower(email));
CREATE INDEX users_client_created_idx
    ON liauto.users (client_id, created_at, id);


CREATE TABLE liauto.refresh_tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES liauto.users (id) ON DELETE CASCADE,
    family_id   uuid NOT NULL,
    token_hash  bytea NOT NULL
                CONSTRAINT refresh_tokens_token_hash_check
                CHECK (octet_length(token_hash) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    rotated_at  timestamptz,
    revoked_at  timestamptz,

    CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash),
    CONSTRAINT refresh_tokens_expires_check CHECK (expires_at > created_at),
    CONSTRAINT refresh_tokens_rotated_check
        CHECK (rotated_at IS NULL OR rotated_at >= created_at),
    CONSTRAINT refresh_tokens_revoked_check
        CHECK (revoked_at IS NULL OR revoked_at >= created_at)
);

COMMENT ON TABLE liauto.refresh_tokens IS
    'One row per issued refresh token. A refresh rotates the presented '
    'token (rotated_at) and issues a successor in the same family; '
    'presenting an already rotated token is reuse and revokes the whole '
    'family (revoked_at on every row of family_id).';
COMMENT ON COLUMN liauto.refresh_tokens.token_hash IS
    'sha256 of the token (digest($1, ''sha256'')). Tokens are 256-bit '
    'random values, so a fast unsalted hash is enough and allows the '
    'unique lookup; the token itself is never stored.';
COMMENT ON COLUMN liauto.refresh_tokens.family_id IS
    'id of the first token of a login session; shared by all its '
    'rotations.';

CREATE INDEX refresh_tokens_user_idx ON liauto.refresh_tokens (user_id);
CREATE INDEX refresh_tokens_family_idx ON liauto.refresh_tokens (family_id);


-- ------------------------------------------------------------------------
-- LinkedIn accounts and campaigns
-- ------------------------------------------------------------------------

CREATE TABLE liauto.linkedin_accounts (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id            uuid NOT NULL
                         REFERENCES liauto.clients (id) ON DELETE RESTRICT,
    name                 text NOT NULL
                         CONSTRAINT linkedin_accounts_name_check
                         CHECK (name = btrim(name)
                                AND length(name) BETWEEN 1 AND 200),
    unipile_account_id   text NOT NULL
                         CONSTRAINT linkedin_accounts_unipile_account_id_check
                         CHECK (unipile_account_id = btrim(unipile_account_id)
                                AND length(unipile_account_id)
                                    BETWEEN 1 AND 200),
    provider_user_id     text
                         CONSTRAINT linkedin_accounts_provider_user_id_check
                         CHECK (btrim(provider_user_id) <> ''),
    status               text NOT NULL DEFAULT 'ok'
                         CONSTRAINT linkedin_accounts_status_check
                         CHECK (status IN ('ok', 'connecting', 'credentials',
                                           'permissions', 'error', 'stopped',
                                           'deleted')),
    timezone             text NOT NULL DEFAULT 'UTC',
    daily_invite_limit   integer NOT NULL DEFAULT 25
                         CONSTRAINT linkedin_accounts_daily_invite_limit_check
                         CHECK (daily_invite_limit BETWEEN 0 AND 100000),
    daily_message_limit  integer NOT NULL DEFAULT 100
                         CONSTRAINT linkedin_accounts_daily_message_limit_check
                         CHECK (daily_message_limit BETWEEN 0 AND 100000),
    weekly_invite_limit  integer NOT NULL DEFAULT 100
                         CONSTRAINT linkedin_accounts_weekly_invite_limit_check
                         CHECK (weekly_invite_limit BETWEEN 0 AND 100000),
    cooldown_until       timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT linkedin_accounts_unipile_account_id_key
        UNIQUE (unipile_account_id),
    CONSTRAINT linkedin_accounts_id_client_key UNIQUE (id, client_id)
);

COMMENT ON TABLE liauto.linkedin_accounts IS
    'LinkedIn accounts connected through Unipile. Deleting one is refused '
    'while a campaign uses it; its outbox and usage rows go with it and '
    'its events keep their history with account_id set to NULL.';
COMMENT ON COLUMN liauto.linkedin_accounts.status IS
    'Unipile account status, lower case (OK, CREATION_SUCCESS, RECONNECTED '
    'and SYNC_SUCCESS map to ok; CREATION_FAIL to error). Assumed ok at '
    'registration because status webhooks only fire on transitions. '
    'Only ok accounts send.';
COMMENT ON COLUMN liauto.linkedin_accounts.provider_user_id IS
    'The account''s own LinkedIn provider id: a message_received whose '
    'sender is this id is our own outbound message, never a reply.';
COMMENT ON COLUMN liauto.linkedin_accounts.timezone IS
    'Day boundary of rate_usage (daily limits are per calendar day here).';
COMMENT ON COLUMN liauto.linkedin_accounts.cooldown_until IS
    'Set after a provider 429: no send for this account before it.';
COMMENT ON CONSTRAINT linkedin_accounts_id_client_key
    ON liauto.linkedin_accounts IS
    'Target of the (account_id, client_id) foreign keys that stop a row of '
    'one client pointing at another client''s account.';

CREATE INDEX linkedin_accounts_client_created_idx
    ON liauto.linkedin_accounts (client_id, created_at, id);


CREATE TABLE liauto.campaigns (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id            uuid NOT NULL
                         REFERENCES liauto.clients (id) ON DELETE RESTRICT,
    linkedin_account_id  uuid,
    name                 text NOT NULL
                         CONSTRAINT campaigns_name_check
                         CHECK (name = btrim(name)
                                AND length(name) BETWEEN 1 AND 200),
    status               text NOT NULL DEFAULT 'draft'
                         CONSTRAINT campaigns_status_check
                         CHECK (status IN ('draft', 'active', 'paused',
                                           'completed')),
    timezone             text NOT NULL DEFAULT 'UTC',
    working_hours_start  time NOT NULL DEFAULT '09:00',
    working_hours_end    time NOT NULL DEFAULT '17:00',
    working_days         smallint[] NOT NULL DEFAULT '{1,2,3,4,5}'
                         CONSTRAINT campaigns_working_days_check
                         CHECK (cardinality(working_days) BETWEEN 1 AND 7
                                AND array_ndims(working_days) = 1
                                AND working_days <@ '{1,2,3,4,5,6,7}'),
    sequence             jsonb NOT NULL DEFAULT '[]'
                         CONSTRAINT campaigns_sequence_check
                         CHECK (jsonb_typeof(sequence) = 'array'),
    started_at           timestamptz,
    paused_at            timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT campaigns_id_client_key UNIQUE (id, client_id),
    CONSTRAINT campaigns_account_fkey
        FOREIGN KEY (linkedin_account_id, client_id)
        REFERENCES liauto.linkedin_accounts (id, client_id)
        ON DELETE RESTRICT,
    CONSTRAINT campaigns_working_hours_check
        CHECK (working_hours_start < working_hours_end),
    CONSTRAINT campaigns_active_check
        CHECK (status <> 'active'
               OR (linkedin_account_id IS NOT NULL AND started_at IS NOT NULL)),
    CONSTRAINT campaigns_paused_check
        CHECK (status <> 'paused' OR paused_at IS NOT NULL)
);

COMMENT ON TABLE liauto.campaigns IS
    'A sequence of steps sent to the campaign''s leads from one LinkedIn '
    'account of the same client. Deleting a campaign deletes its leads, '
    'their events and their outbox rows.';
COMMENT ON COLUMN liauto.campaigns.working_days IS
    'ISO weekdays (1 = Monday .. 7 = Sunday, extract(isodow)) on which '
    'steps may be sent, in the campaign''s timezone.';
COMMENT ON COLUMN liauto.campaigns.working_hours_start IS
    'Local wall-clock time in timezone; a window never crosses midnight '
    '(start < end), which keeps next-send arithmetic per calendar day.';
COMMENT ON COLUMN liauto.campaigns.sequence IS
    'Ordered steps: [{"type":"invite","note":..,"delay_days":0}, '
    '{"type":"message","text":..,"delay_days":3}, ...]; the API validates '
    'the step shapes, the table only that it is an array.';
COMMENT ON CONSTRAINT campaigns_active_check ON liauto.campaigns IS
    'Backstop for CAMPAIGN_NOT_READY: an active campaign has an account '
    'and a start time.';

CREATE INDEX campaigns_client_created_idx
    ON liauto.campaigns (client_id, created_at, id);
CREATE INDEX campaigns_account_idx
    ON liauto.campaigns (linkedin_account_id);


-- ------------------------------------------------------------------------
-- Leads and their events
-- ------------------------------------------------------------------------

CREATE TABLE liauto.leads (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id          uuid NOT NULL,
    campaign_id        uuid NOT NULL,
    first_name         text,
    last_name          text,
    company            text,
    title              text,
    email              text
                       CONSTRAINT leads_email_check
                       CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    public_identifier  text
                       CONSTRAINT leads_public_identifier_check
                       CHECK (public_identifier = btrim(public_identifier)
                              AND public_identifier <> ''),
    provider_id        text
                       CONSTRAINT leads_provider_id_check
                       CHECK (provider_id = btrim(provider_id)
                              AND provider_id <> ''),
    member_id          text
                       CONSTRAINT leads_member_id_check
                       CHECK (member_id = btrim(member_id)
                              AND member_id <> ''),
    profile_url        text
                       CONSTRAINT leads_profile_url_check
                       CHECK (btrim(profile_url) <> ''),
    custom_fields      jsonb NOT NULL DEFAULT '{}'
                       CONSTRAINT leads_custom_fields_check
                       CHECK (jsonb_typeof(custom_fields) = 'object'),
    status             text NOT NULL DEFAULT 'pending'
                       CONSTRAINT leads_status_check
                       CHECK (status IN ('pending', 'invite_sent', 'connected',
                                         'messaged', 'responded', 'completed',
                                         'error', 'withdrawn', 'skipped')),
    error_reason       text,
    current_step       integer NOT NULL DEFAULT 0
                       CONSTRAINT leads_current_step_check
                       CHECK (current_step >= 0),
    last_step_sent_at  timestamptz,
    conversation_id    text
                       CONSTRAINT leads_conversation_id_check
                       CHECK (btrim(conversation_id) <> ''),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT leads_id_client_key UNIQUE (id, client_id),
    CONSTRAINT leads_campaign_fkey
        FOREIGN KEY (campaign_id, client_id)
        REFERENCES liauto.campaigns (id, client_id)
        ON DELETE CASCADE,
    CONSTRAINT leads_identity_check
        CHECK (public_identifier IS NOT NULL OR profile_url IS NOT NULL
               OR provider_id IS NOT NULL),
    CONSTRAINT leads_error_reason_check
        CHECK (status <> 'error' OR error_reason IS NOT NULL)
);

COMMENT ON TABLE liauto.leads IS
    'People a campaign contacts. client_id is denormalised from the '
    'campaign (and kept equal to it by leads_campaign_fkey) so every lead '
    'query is tenant-scoped without a join and client-wide dedupe is a '
    'plain unique index.';
COMMENT ON COLUMN liauto.leads.profile_url IS
    'As given; its dedupe key is liauto.normalize_profile_url(profile_url) '
    '(an expression index, not a generated column, so the updated_at '
    'trigger can compare whole rows).';
COMMENT ON COLUMN liauto.leads.current_step IS
    'Index into the campaign''s sequence of the next step to send.';
COMMENT ON COLUMN liauto.leads.conversation_id IS
    'Unipile chat id of the 1:1 chat with this lead, once known.';
COMMENT ON CONSTRAINT leads_identity_check ON liauto.leads IS
    'A lead with no LinkedIn identity can never be contacted.';

-- Dedupe within a client, across all of its campaigns. Not partial, so
-- INSERT ... ON CONFLICT DO NOTHING (CSV import) infers them directly;
-- NULLs never collide.
CREATE UNIQUE INDEX leads_client_public_identifier_key
    ON liauto.leads (client_id, lower(public_identifier));
CREATE UNIQUE INDEX leads_client_profile_url_key
    ON liauto.leads (client_id, liauto.normalize_profile_url(profile_url));

CREATE INDEX leads_client_created_idx
    ON liauto.leads (client_id, created_at, id);
CREATE INDEX leads_campaign_created_idx
    ON liauto.leads (campaign_id, created_at, id);
CREATE INDEX leads_campaign_status_idx
    ON liauto.leads (campaign_id, status);
-- Webhook matching (DESIGN §6): provider id first, then member id, then
-- the public identifier (client-scoped: leads_client_public_identifier_key),
-- then the chat.
CREATE INDEX leads_provider_id_idx
    ON liauto.leads (provider_id) WHERE provider_id IS NOT NULL;
CREATE INDEX leads_member_id_idx
    ON liauto.leads (member_id) WHERE member_id IS NOT NULL;
CREATE INDEX leads_conversation_id_idx
    ON liauto.leads (conversation_id) WHERE conversation_id IS NOT NULL;


CREATE TABLE liauto.events (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id    uuid NOT NULL,
    lead_id      uuid NOT NULL,
    campaign_id  uuid NOT NULL,
    account_id   uuid,
    type         text NOT NULL
                 CONSTRAINT events_type_check
                 CHECK (type IN ('connection_request_sent',
                                 'connection_accepted',
                                 'connection_accepted_historical',
                                 'message_sent', 'message_received')),
    occurred_at  timestamptz NOT NULL DEFAULT now(),
    meta         jsonb NOT NULL DEFAULT '{}'
                 CONSTRAINT events_meta_check
                 CHECK (jsonb_typeof(meta) = 'object'),
    external_id  text
                 CONSTRAINT events_external_id_check
                 CHECK (btrim(external_id) <> ''),
    created_at   timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT events_lead_fkey
        FOREIGN KEY (lead_id, client_id)
        REFERENCES liauto.leads (id, client_id) ON DELETE CASCADE,
    CONSTRAINT events_campaign_fkey
        FOREIGN KEY (campaign_id, client_id)
        REFERENCES liauto.campaigns (id, client_id) ON DELETE CASCADE,
    CONSTRAINT events_account_fkey
        FOREIGN KEY (account_id, client_id)
        REFERENCES liauto.linkedin_accounts (id, client_id)
        ON DELETE SET NULL (account_id)
);

COMMENT ON TABLE liauto.events IS
    'Append-only history of what happened to a lead (no updated_at). '
    'Analytics and the per-lead timeline read it.';
COMMENT ON COLUMN liauto.events.external_id IS
    'Provider id of the message or invitation; with lead and type it makes '
    'webhook retries, polling and backfills record an event once.';
COMMENT ON CONSTRAINT events_account_fkey ON liauto.events IS
    'Deleting an account keeps its history: only account_id is cleared.';

-- Not partial so ON CONFLICT (lead_id, type, external_id) infers it; rows
-- with a NULL external_id never collide.
CREATE UNIQUE INDEX events_lead_type_external_key
    ON liauto.events (lead_id, type, external_id);
CREATE INDEX events_lead_occurred_idx
    ON liauto.events (lead_id, occurred_at);
CREATE INDEX events_campaign_type_occurred_idx
    ON liauto.events (campaign_id, type, occurred_at);
CREATE INDEX events_client_occurred_idx
    ON liauto.events (client_id, occurred_at);
CREATE INDEX events_account_occurred_idx
    ON liauto.events (account_id, occurred_at);


-- ------------------------------------------------------------------------
-- The engine: budgets and the outbox
-- ------------------------------------------------------------------------

CREATE TABLE liauto.rate_usage (
    account_id  uuid NOT NULL
                REFERENCES liauto.linkedin_accounts (id) ON DELETE CASCADE,
    day         date NOT NULL,
    invites     integer NOT NULL DEFAULT 0
                CONSTRAINT rate_usage_invites_check CHECK (invites >= 0),
    messages    integer NOT NULL DEFAULT 0
                CONSTRAINT rate_usage_messages_check CHECK (messages >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),

    PRIMARY KEY (account_id, day)
);

COMMENT ON TABLE liauto.rate_usage IS
    'Budget units reserved per account and calendar day (in the account''s '
    'timezone), incremented in the transaction that claims an action and '
    'never given back when the outcome is unknown. The weekly invite limit '
    'sums the last 7 days through the primary key.';


CREATE TABLE liauto.actions (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id         uuid NOT NULL,
    lead_id           uuid NOT NULL,
    campaign_id       uuid NOT NULL,
    account_id        uuid NOT NULL,
    kind              text NOT NULL
                      CONSTRAINT actions_kind_check
                      CHECK (kind IN ('invite', 'message')),
    step_index        integer NOT NULL
                      CONSTRAINT actions_step_index_check
                      CHECK (step_index >= 0),
    status            text NOT NULL DEFAULT 'scheduled'
                      CONSTRAINT actions_status_check
                      CHECK (status IN ('scheduled', 'claimed', 'sent',
                                        'failed', 'unknown', 'cancelled',
                                        'needs_review')),
    due_at            timestamptz NOT NULL DEFAULT now(),
    attempts          integer NOT NULL DEFAULT 0
                      CONSTRAINT actions_attempts_check CHECK (attempts >= 0),
    lease_expires_at  timestamptz,
    claim_token       uuid,
    claimed_by        text,
    claimed_at        timestamptz,
    external_id       text,
    last_error        text,
    payload           jsonb NOT NULL DEFAULT '{}'
                      CONSTRAINT actions_payload_check
                      CHECK (jsonb_typeof(payload) = 'object'),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT actions_lead_fkey
        FOREIGN KEY (lead_id, client_id)
        REFERENCES liauto.leads (id, client_id) ON DELETE CASCADE,
    CONSTRAINT actions_campaign_fkey
        FOREIGN KEY (campaign_id, client_id)
        REFERENCES liauto.campaigns (id, client_id) ON DELETE CASCADE,
    CONSTRAINT actions_account_fkey
        FOREIGN KEY (account_id, client_id)
        REFERENCES liauto.linkedin_accounts (id, client_id)
        ON DELETE CASCADE,
    CONSTRAINT actions_kind_step_check
        CHECK ((kind = 'invite') = (step_index = 0)),
    CONSTRAINT actions_claim_check
        CHECK (status <> 'claimed'
               OR (claim_token IS NOT NULL AND lease_expires_at IS NOT NULL
                   AND claimed_by IS NOT NULL))
);

COMMENT ON TABLE liauto.actions IS
    'The send outbox (DESIGN §5): scheduled -> claimed (committed with a '
    'lease before the HTTP call) -> sent | failed | unknown; an expired '
    'lease is reconciled against Unipile before anything is retried, and '
    'what cannot be decided becomes needs_review (never resent '
    'automatically).';
COMMENT ON COLUMN liauto.actions.claim_token IS
    'Fencing token, new for every claim: every transition after the claim '
    'is UPDATE ... WHERE id = $1 AND claim_token = $2, so a worker whose '
    'lease was taken over changes nothing.';
COMMENT ON COLUMN liauto.actions.claimed_by IS
    'worker_heartbeats.worker_id of the claimer.';
COMMENT ON COLUMN liauto.actions.step_index IS
    'Index into campaigns.sequence; step 0 is always the invite.';
COMMENT ON COLUMN liauto.actions.payload IS
    'What was (to be) sent, rendered at claim time: note or text, chat id.';

-- At most one live action per (lead, step): a step is sent at most once.
-- failed and cancelled rows are dead and make room for a new attempt;
-- unknown and needs_review stay live on purpose (the send may have
-- happened).
CREATE UNIQUE INDEX actions_live_step_key
    ON liauto.actions (lead_id, step_index)
    WHERE status NOT IN ('failed', 'cancelled');
-- The claim query: ... WHERE status = 'scheduled' AND due_at <= now()
-- ORDER BY due_at, id FOR UPDATE SKIP LOCKED.
CREATE INDEX actions_due_idx
    ON liauto.actions (due_at, id) WHERE status = 'scheduled';
-- Per-account claim and "why is it waiting" lookups.
CREATE INDEX actions_account_due_idx
    ON liauto.actions (account_id, due_at) WHERE status = 'scheduled';
-- The expired-lease sweep: status = 'claimed' AND lease_expires_at < now().
CREATE INDEX actions_lease_idx
    ON liauto.actions (lease_expires_at) WHERE status = 'claimed';
CREATE INDEX actions_lead_idx
    ON liauto.actions (lead_id, created_at);
CREATE INDEX actions_campaign_status_idx
    ON liauto.actions (campaign_id, status);
CREATE INDEX actions_account_status_idx
    ON liauto.actions (account_id, status);


-- ------------------------------------------------------------------------
-- The edge: webhooks and idempotency
-- ------------------------------------------------------------------------

CREATE TABLE liauto.webhook_events (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    source            text NOT NULL
                      CONSTRAINT webhook_events_source_check
                      CHECK (source IN ('unipile_users', 'unipile_messaging',
                                        'unipile_account_status')),
    delivery_key      text NOT NULL
                      CONSTRAINT webhook_events_delivery_key_check
                      CHECK (length(delivery_key) BETWEEN 1 AND 512),
    body              text NOT NULL,
    headers           jsonb NOT NULL DEFAULT '{}'
                      CONSTRAINT webhook_events_headers_check
                      CHECK (jsonb_typeof(headers) = 'object'),
    received_at       timestamptz NOT NULL DEFAULT now(),
    processed_at      timestamptz,
    processing_error  text,
    attempts          integer NOT NULL DEFAULT 0
                      CONSTRAINT webhook_events_attempts_check
                      CHECK (attempts >= 0),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT webhook_events_delivery_key_key UNIQUE (delivery_key)
);

COMMENT ON TABLE liauto.webhook_events IS
    'Every authenticated delivery, stored raw before the 200 is returned; '
    'the worker processes it afterwards. No client_id: the tenant is only '
    'known once the body is matched to an account.';
COMMENT ON COLUMN liauto.webhook_events.source IS
    'Which endpoint received it (/webhooks/unipile/users, /messaging, '
    '/account-status).';
COMMENT ON COLUMN liauto.webhook_events.delivery_key IS
    'Identity of the delivery across retries (the webhook-id header, or '
    'the message id / account+relation for Unipile); INSERT ... ON '
    'CONFLICT DO NOTHING absorbs duplicates.';
COMMENT ON COLUMN liauto.webhook_events.body IS
    'Raw bytes as received (text, not jsonb): signatures are over the '
    'exact body and Unipile may send no Content-Type.';
COMMENT ON COLUMN liauto.webhook_events.received_at IS
    'When the edge accepted the request; created_at is the row insert.';

CREATE INDEX webhook_events_unprocessed_idx
    ON liauto.webhook_events (received_at) WHERE processed_at IS NULL;


CREATE TABLE liauto.idempotency_keys (
    user_id          uuid NOT NULL
                     REFERENCES liauto.users (id) ON DELETE CASCADE,
    key              text NOT NULL
                     CONSTRAINT idempotency_keys_key_check
                     CHECK (length(key) BETWEEN 1 AND 255),
    fingerprint      bytea NOT NULL
                     CONSTRAINT idempotency_keys_fingerprint_check
                     CHECK (octet_length(fingerprint) = 32),
    state            text NOT NULL DEFAULT 'in_progress'
                     CONSTRAINT idempotency_keys_state_check
                     CHECK (state IN ('in_progress', 'done')),
    response_status  integer
                     CONSTRAINT idempotency_keys_response_status_check
                     CHECK (response_status BETWEEN 100 AND 599),
    response_body    text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL DEFAULT now() + interval '24 hours',

    PRIMARY KEY (user_id, key),
    CONSTRAINT idempotency_keys_expires_check CHECK (expires_at > created_at),
    CONSTRAINT idempotency_keys_done_check
        CHECK ((state = 'done') = (response_status IS NOT NULL))
);

COMMENT ON TABLE liauto.idempotency_keys IS
    'Idempotency-Key records (DESIGN §4), scoped to the calling user (and '
    'so to its tenant). Claimed atomically with INSERT ... ON CONFLICT DO '
    'NOTHING RETURNING; completed in the transaction of the business '
    'write. A row past expires_at is treated as absent and may be '
    'replaced.';
COMMENT ON COLUMN liauto.idempotency_keys.fingerprint IS
    'sha256 over method, route and body: same key with another '
    'fingerprint is 422.';
COMMENT ON COLUMN liauto.idempotency_keys.response_body IS
    'Stored as text so a replay is byte-identical to the first answer.';

CREATE INDEX idempotency_keys_expires_idx
    ON liauto.idempotency_keys (expires_at);


-- ------------------------------------------------------------------------
-- Workers and health
-- ------------------------------------------------------------------------

CREATE TABLE liauto.worker_heartbeats (
    worker_id     text PRIMARY KEY
                  CONSTRAINT worker_heartbeats_worker_id_check
                  CHECK (length(worker_id) BETWEEN 1 AND 200),
    hostname      text,
    pid           integer
                  CONSTRAINT worker_heartbeats_pid_check CHECK (pid > 0),
    version       text,
    state         text,
    started_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    info          jsonb
                  CONSTRAINT worker_heartbeats_info_check
                  CHECK (jsonb_typeof(info) = 'object')
);

COMMENT ON TABLE liauto.worker_heartbeats IS
    'One row per worker, upserted by liauto.record_heartbeat every few '
    'seconds. Shape fixed by the team conventions (started_at is its '
    'creation time). state is free text owned by the worker.';

CREATE FUNCTION liauto.record_heartbeat(p_worker_id text, p_hostname text,
                                        p_pid integer, p_version text,
                                        p_state text)
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO liauto.worker_heartbeats AS h
        (worker_id, hostname, pid, version, state, started_at, last_seen_at)
    VALUES (p_worker_id, p_hostname, p_pid, p_version, p_state, now(), now())
    ON CONFLICT (worker_id) DO UPDATE
    SET hostname = excluded.hostname,
        pid = excluded.pid,
        version = excluded.version,
        state = excluded.state,
        started_at = CASE
                         WHEN h.hostname IS NOT DISTINCT FROM excluded.hostname
                              AND h.pid IS NOT DISTINCT FROM excluded.pid
                         THEN h.started_at
                         ELSE excluded.started_at
                     END,
        last_seen_at = excluded.last_seen_at
$$;

COMMENT ON FUNCTION liauto.record_heartbeat(text, text, integer, text, text)
    IS 'Upsert of a worker''s heartbeat: last_seen_at = now(). started_at '
       'is kept while the same process (hostname and pid) reports, and '
       'restarts when a new process reuses the worker_id.';

CREATE FUNCTION api.health() RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_version  text;
BEGIN
    -- The ledger belongs to the migrator, which creates it before applying
    -- 0001; a database migrated by hand simply reports no version.
    IF to_regclass('public.schema_migrations') IS NOT NULL THEN
        SELECT max(version) INTO v_version FROM public.schema_migrations;
    END IF;

    RETURN json_build_object(
        'schema_version', v_version,
        'workers_alive', (SELECT count(*)
                          FROM liauto.worker_heartbeats
                          WHERE last_seen_at >= now() - interval '30 seconds'
                            AND state IS DISTINCT FROM 'stopped'));
END
$$;

COMMENT ON FUNCTION api.health() IS
    '{"schema_version": max applied migration or null, "workers_alive": '
    'workers seen in the last 30 s}.';


-- ------------------------------------------------------------------------
-- Triggers
-- ------------------------------------------------------------------------

CREATE TRIGGER linkedin_accounts_timezone_check
    BEFORE INSERT OR UPDATE OF timezone ON liauto.linkedin_accounts
    FOR EACH ROW EXECUTE FUNCTION liauto.check_timezone();
CREATE TRIGGER campaigns_timezone_check
    BEFORE INSERT OR UPDATE OF timezone ON liauto.campaigns
    FOR EACH ROW EXECUTE FUNCTION liauto.check_timezone();

DO $$
DECLARE
    v_table  text;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['clients', 'users', 'refresh_tokens',
                                   'linkedin_accounts', 'campaigns', 'leads',
                                   'rate_usage', 'actions', 'webhook_events',
                                   'idempotency_keys']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON liauto.%I '
                       'FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) '
                       'EXECUTE FUNCTION liauto.touch_updated_at()',
                       v_table || '_touch_updated_at', v_table);
    END LOOP;
END
$$;
