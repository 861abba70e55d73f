-- 0017_webhook_processing: what a stored webhook delivery does (DESIGN §6,
-- issue 5 "Processing" and "Fallbacks"), and the fallback jobs that catch
-- what webhooks missed.
--
-- One delivery (liauto.webhook_events, stored raw by the edge) is
-- processed by webhooks.process_event, in its own transaction, with the
-- row locked (FOR UPDATE SKIP LOCKED: any number of workers):
--   users / new_relation        -> lead connected, connection_accepted
--   messaging / message_received -> inbound: message_received event, lead
--                                   responded, scheduled steps cancelled;
--                                   both directions threaded (inbox)
--   {"AccountStatus": {...}}    -> linkedin_accounts.status; back to ok:
--                                   a catch-up poll job
--   anything else               -> outcome ignored
-- Effects are idempotent per external id (events_lead_type_external_key,
-- messages_external_key) and on the lead's row lock, so a retry, a second
-- copy, a poll of the same message or a reordered delivery changes
-- nothing twice. Leads are only ever looked for in the client that owns
-- the delivery's account.
--
-- Matching a person to a lead (liauto.find_lead), in the client:
--   provider id -> member id -> public identifier -> the chat (the
--   lead's conversation_id, the conversation's lead).
-- When none matches and the person has an id a profile lookup could
-- resolve, the outcome is needs_lookup: the worker asks Unipile (GET
-- /users/{id}) and calls process_event again with what it learned. Local
-- keys go first because a profile lookup counts against LinkedIn's ~100
-- profile views a day.
--
-- Fallbacks (liauto.sync_jobs, one row per run, unique on (job,
-- period_key) so each period runs once whichever worker sees it first):
-- poll_messages (GET /messages since a lookback; each message becomes a
-- stored delivery and is processed by the same function as a webhook),
-- sync_relations (GET /users/relations -> connection_accepted_historical),
-- backfill_conversations (GET /chats -> leads.conversation_id).

CREATE SCHEMA webhooks;

COMMENT ON SCHEMA webhooks IS
    'Functions the worker calls to process webhook deliveries and run the '
    'fallback jobs (polling, relation sync, conversation backfill).';


-- ------------------------------------------------------------------------
-- Columns and tables
-- ------------------------------------------------------------------------

ALTER TABLE liauto.webhook_events
    ADD COLUMN outcome text
        CONSTRAINT webhook_events_outcome_check
        CHECK (outcome IN ('processed', 'duplicate', 'unmatched', 'ignored',
                           'needs_lookup', 'failed')),
    ADD COLUMN outcome_detail jsonb NOT NULL DEFAULT '{}'
        CONSTRAINT webhook_events_outcome_detail_check
        CHECK (jsonb_typeof(outcome_detail) = 'object'),
    ADD COLUMN next_attempt_at timestamptz;

COMMENT ON COLUMN liauto.webhook_events.outcome IS
    'What processing concluded: processed (it had an effect), duplicate '
    '(its effect was already there), unmatched (no lead of the account''s '
    'client, or an unknown account), ignored (an event we do not act on), '
    'needs_lookup (waiting for a profile lookup; processed_at still NULL), '
    'failed (gave up after processing_max_attempts() errors).';
COMMENT ON COLUMN liauto.webhook_events.outcome_detail IS
    'Why: the lead and the key that matched it, the ids tried when '
    'unmatched, the event type ignored.';
COMMENT ON COLUMN liauto.webhook_events.next_attempt_at IS
    'An unprocessed row is not taken before it (error backoff, a pending '
    'profile lookup); NULL: at once.';

ALTER TABLE liauto.linkedin_accounts
    ADD COLUMN status_event_at timestamptz;

COMMENT ON COLUMN liauto.linkedin_accounts.status_event_at IS
    'Receipt time of the AccountStatus webhook that set status: an older '
    'one processed later (retries, reordering) does not override it.';

CREATE TABLE liauto.sync_jobs (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    job               text NOT NULL
                      CONSTRAINT sync_jobs_job_check
                      CHECK (job IN ('poll_messages', 'sync_relations',
                                     'backfill_conversations')),
    period_key        text NOT NULL
                      CONSTRAINT sync_jobs_period_key_check
                      CHECK (length(period_key) BETWEEN 1 AND 200),
    account_id        uuid NOT NULL
                      REFERENCES liauto.linkedin_accounts (id)
                      ON DELETE CASCADE,
    campaign_id       uuid
                      REFERENCES liauto.campaigns (id) ON DELETE CASCADE,
    params            jsonb NOT NULL DEFAULT '{}'
                      CONSTRAINT sync_jobs_params_check
                      CHECK (jsonb_typeof(params) = 'object'),
    status            text NOT NULL DEFAULT 'requested'
                      CONSTRAINT sync_jobs_status_check
                      CHECK (status IN ('requested', 'running', 'done',
                                        'failed')),
    requested_by      uuid
                      REFERENCES liauto.users (id) ON DELETE SET NULL,
    attempts          integer NOT NULL DEFAULT 0,
    claimed_by        text,
    lease_expires_at  timestamptz,
    counts            jsonb NOT NULL DEFAULT '{}'
                      CONSTRAINT sync_jobs_counts_check
                      CHECK (jsonb_typeof(counts) = 'object'),
    error             text,
    started_at        timestamptz,
    finished_at       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT sync_jobs_period_key UNIQUE (job, period_key)
);

COMMENT ON TABLE liauto.sync_jobs IS
    'One row per fallback run for one account: periodic ones (period_key '
    '<account>:<period>, so each period runs exactly once across workers), '
    'the catch-up poll after an account is ok again (catchup:<event>) and '
    'admin requests (request:<uuid>). counts grows while it runs.';
COMMENT ON COLUMN liauto.sync_jobs.params IS
    'poll_messages: since (ISO time); sync_relations: max_pages '
    '(0: all); backfill_conversations: max_pages.';

CREATE TRIGGER sync_jobs_touch_updated_at BEFORE UPDATE ON liauto.sync_jobs
    FOR EACH ROW EXECUTE FUNCTION liauto.touch_updated_at();

CREATE INDEX sync_jobs_requested_idx
    ON liauto.sync_jobs (created_at) WHERE status IN ('requested', 'running');
CREATE INDEX sync_jobs_account_idx
    ON liauto.sync_jobs (account_id, created_at);
CREATE INDEX sync_jobs_finished_idx
    ON liauto.sync_jobs (finished_at) WHERE status IN ('done', 'failed');

INSERT INTO liauto.settings (key, value)
VALUES ('webhook_processing_max_attempts', '5')
ON CONFLICT (key) DO NOTHING;


-- ------------------------------------------------------------------------
-- Reading payloads
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.json_first(p_obj jsonb, p_keys text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT v FROM (
        SELECT nullif(btrim(p_obj ->> k), '') AS v, n
        FROM unnest(p_keys) WITH ORDINALITY AS u (k, n)) AS x
    WHERE v IS NOT NULL AND jsonb_typeof(p_obj) = 'object'
    ORDER BY n
    LIMIT 1
$$;

COMMENT ON FUNCTION liauto.json_first(jsonb, text[]) IS
    'The first non-empty string among p_obj''s keys p_keys, or NULL.';

CREATE FUNCTION liauto.unwrap_payload(p_body jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(p_body -> 'data') = 'object'
                THEN (p_body -> 'data') || (p_body - 'data')
                ELSE p_body END
$$;

COMMENT ON FUNCTION liauto.unwrap_payload(jsonb) IS
    'A payload with its "data" object''s keys lifted to the top (variants '
    'that wrap the message, and Unipile''s data renaming); top-level keys '
    'win.';

CREATE FUNCTION liauto.linkedin_person(p_obj jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_id      text := liauto.json_first(p_obj, ARRAY[
                          'attendee_provider_id', 'provider_id',
                          'user_provider_id', 'sender_id', 'member_id',
                          'invited_user_id']);
    v_urn     text := coalesce(
                          liauto.json_first(p_obj -> 'attendee_specifics',
                                            ARRAY['member_urn']),
                          liauto.json_first(p_obj, ARRAY['member_urn',
                                                         'sender_urn']));
    v_url     text := liauto.json_first(p_obj, ARRAY[
                          'attendee_profile_url', 'profile_url',
                          'user_profile_url', 'public_profile_url']);
    v_public  text := liauto.json_first(p_obj, ARRAY[
                          'attendee_public_identifier', 'public_identifier',
                          'user_public_identifier', 'public_id']);
    v_member  text;
    v_m       text[];
BEGIN
    -- urn:li:member:123 and bare digits are member ids; urn:li:
    -- fsd_profile:ACoAA... wraps a provider id
    v_m := regexp_match(v_id, '^urn:li:[A-Za-z_]+:(.+)$');
    IF v_m IS NOT NULL THEN
        v_id := v_m[1];
    END IF;
    IF v_id ~ '^[0-9]+$' THEN
        v_member := v_id;
        v_id := NULL;
    END IF;
    v_m := regexp_match(v_urn, '(?:^|:)([0-9]+)$');
    IF v_m IS NOT NULL THEN
        v_member := coalesce(v_member, v_m[1]);
    ELSE
        v_m := regexp_match(v_urn, ':(ACo[A-Za-z0-9_-]+)$');
        v_id := coalesce(v_id, v_m[1]);
    END IF;

    -- a profile URL names the public identifier, unless it is an id URL
    IF v_public IS NULL THEN
        v_m := regexp_match(v_url, '/in/([^/?#]+)');
        IF v_m IS NOT NULL AND v_m[1] !~ '^ACo' THEN
            v_public := v_m[1];
        END IF;
    END IF;

    RETURN jsonb_strip_nulls(jsonb_build_object(
        'provider_id', v_id, 'member_id', v_member,
        'public_identifier', v_public,
        'name', coalesce(liauto.json_first(p_obj, ARRAY['attendee_name',
                                                        'name',
                                                        'user_full_name']),
                         nullif(btrim(concat_ws(' ', p_obj ->> 'first_name',
                                                p_obj ->> 'last_name')),
                                ''))));
END
$$;

COMMENT ON FUNCTION liauto.linkedin_person(jsonb) IS
    'One person of a payload (webhook sender/attendee, relation, REST '
    'message sender) as {provider_id, member_id, public_identifier, '
    'name}: provider id from attendee_provider_id / provider_id / '
    'user_provider_id / sender_id / member_id, URNs unwrapped, numeric ids '
    'taken as member ids (also attendee_specifics.member_urn), the public '
    'identifier from its field or a /in/<slug> URL.';

CREATE FUNCTION liauto.merge_lookup(p_person jsonb, p_lookup jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
               'provider_id', p_lookup ->> 'provider_id',
               'public_identifier', p_lookup ->> 'public_identifier',
               'member_id', substring(p_lookup ->> 'member_urn',
                                      '([0-9]+)$')))
           || p_person
$$;

COMMENT ON FUNCTION liauto.merge_lookup(jsonb, jsonb) IS
    'A person completed with what a profile lookup (UserProfile: '
    'provider_id, public_identifier, member_urn) adds; known ids stay.';


-- ------------------------------------------------------------------------
-- Matching
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.find_lead(p_client_id uuid, p_account_id uuid,
                                 p_person jsonb, p_chat_id text,
                                 OUT lead_id uuid, OUT matched_by text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    -- one index probe per key (UNION ALL, not OR); among the leads of
    -- the first key that matches, one of a campaign of this account, then
    -- the oldest
    SELECT m.id, m.key INTO lead_id, matched_by
    FROM (
        SELECT l.id, 1 AS n, 'provider_id' AS key, l.created_at, l.campaign_id
        FROM liauto.leads AS l
        WHERE l.client_id = p_client_id
          AND l.provider_id = p_person ->> 'provider_id'
        UNION ALL
        SELECT l.id, 2, 'member_id', l.created_at, l.campaign_id
        FROM liauto.leads AS l
        WHERE l.client_id = p_client_id
          AND l.member_id = p_person ->> 'member_id'
        UNION ALL
        SELECT l.id, 3, 'public_identifier', l.created_at, l.campaign_id
        FROM liauto.leads AS l
        WHERE l.client_id = p_client_id
          AND lower(l.public_identifier)
              = lower(p_person ->> 'public_identifier')
        UNION ALL
        SELECT l.id, 4, 'conversation', l.created_at, l.campaign_id
        FROM liauto.leads AS l
        WHERE l.client_id = p_client_id AND l.conversation_id = p_chat_id
        UNION ALL
        SELECT l.id, 5, 'conversation', l.created_at, l.campaign_id
        FROM liauto.conversations AS v
        JOIN liauto.leads AS l ON l.id = v.lead_id
        WHERE v.client_id = p_client_id AND v.channel = 'linkedin'
          AND v.external_chat_id = p_chat_id
          AND l.client_id = p_client_id) AS m
    JOIN liauto.campaigns AS c ON c.id = m.campaign_id
    ORDER BY m.n, (c.linkedin_account_id = p_account_id) DESC NULLS LAST,
             m.created_at, m.id
    LIMIT 1;
END
$$;

COMMENT ON FUNCTION liauto.find_lead(uuid, uuid, jsonb, text) IS
    'The client''s lead for a person: by provider id, member id, public '
    'identifier (case-insensitive), then by the chat (the lead''s '
    'conversation_id or the conversation''s lead). Only p_client_id''s '
    'leads are ever considered; among several, one of a campaign of '
    'p_account_id first. NULLs when none.';

CREATE FUNCTION liauto.lookup_identifier(p_person jsonb, p_lookup jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_lookup IS NULL
                THEN coalesce(p_person ->> 'provider_id',
                              p_person ->> 'member_id') END
$$;

COMMENT ON FUNCTION liauto.lookup_identifier(jsonb, jsonb) IS
    'The id a profile lookup should resolve for an unmatched person, or '
    'NULL when one was already made (p_lookup given, even as '
    '{"not_found": true}) or the person has no id.';

CREATE FUNCTION liauto.backfill_lead_ids(p_lead_id uuid, p_person jsonb)
RETURNS void
LANGUAGE sql AS $$
    -- a public identifier another lead of the client already holds stays
    -- unset (leads_client_public_identifier_key)
    UPDATE liauto.leads AS l
    SET provider_id = coalesce(l.provider_id, p_person ->> 'provider_id'),
        member_id = coalesce(l.member_id, p_person ->> 'member_id'),
        public_identifier = coalesce(
            l.public_identifier,
            (SELECT p_person ->> 'public_identifier'
             WHERE NOT EXISTS (
                 SELECT 1 FROM liauto.leads AS o
                 WHERE o.client_id = l.client_id
                   AND lower(o.public_identifier)
                       = lower(p_person ->> 'public_identifier'))))
    WHERE l.id = p_lead_id
      AND (l.provider_id IS NULL AND p_person ? 'provider_id'
           OR l.member_id IS NULL AND p_person ? 'member_id'
           OR l.public_identifier IS NULL AND p_person ? 'public_identifier')
$$;

COMMENT ON FUNCTION liauto.backfill_lead_ids(uuid, jsonb) IS
    'Fills the lead''s missing provider_id, member_id and '
    'public_identifier from a matched person, so the next delivery '
    'matches on the first key.';

CREATE FUNCTION liauto.account_by_unipile_id(p_unipile_id text)
RETURNS liauto.linkedin_accounts
LANGUAGE sql STABLE AS $$
    SELECT * FROM liauto.linkedin_accounts
    WHERE unipile_account_id = p_unipile_id
$$;

COMMENT ON FUNCTION liauto.account_by_unipile_id(text) IS
    'The account a payload''s account_id names (a row of NULLs if none).';


-- ------------------------------------------------------------------------
-- Effects on a lead
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.lead_accepted(p_lead_id uuid, p_account_id uuid,
                                     p_type text, p_external_id text,
                                     p_at timestamptz, p_meta jsonb)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_lead  liauto.leads;
BEGIN
    SELECT * INTO v_lead FROM liauto.leads WHERE id = p_lead_id FOR UPDATE;

    -- one acceptance per lead, whichever path (webhook, note chat, sync)
    -- saw it first
    IF v_lead.status IN ('pending', 'skipped', 'withdrawn')
       OR EXISTS (SELECT 1 FROM liauto.events AS e
                  WHERE e.lead_id = p_lead_id
                    AND e.type IN ('connection_accepted',
                                   'connection_accepted_historical'))
    THEN
        RETURN false;
    END IF;

    -- invite_sent -> connected is what engine.plan_due waits for
    -- (liauto.lead_ready_for): the first message step is planned on its
    -- next pass, its delay counted from the invite's send
    UPDATE liauto.leads SET status = 'connected'
    WHERE id = p_lead_id AND status = 'invite_sent';

    INSERT INTO liauto.events (client_id, lead_id, campaign_id, account_id,
                               type, occurred_at, external_id, meta)
    VALUES (v_lead.client_id, v_lead.id, v_lead.campaign_id, p_account_id,
            p_type, coalesce(p_at, liauto.now()), p_external_id, p_meta)
    ON CONFLICT (lead_id, type, external_id) DO NOTHING;
    RETURN true;
END
$$;

COMMENT ON FUNCTION liauto.lead_accepted(uuid, uuid, text, text, timestamptz,
                                         jsonb) IS
    'The lead''s invitation was accepted: invite_sent -> connected (so the '
    'engine plans its message steps) and one connection_accepted(_'
    'historical) event. False (no change) when the lead already has an '
    'acceptance event or was never invited (pending, skipped, withdrawn).';

CREATE FUNCTION liauto.lead_replied(p_lead_id uuid, p_account_id uuid,
                                    p_message_id text, p_chat_id text,
                                    p_at timestamptz, p_meta jsonb)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_lead      liauto.leads;
    v_inserted  boolean;
BEGIN
    -- the lead's row lock orders us with the engine's claims and with
    -- every other delivery about this lead
    SELECT * INTO v_lead FROM liauto.leads WHERE id = p_lead_id FOR UPDATE;

    INSERT INTO liauto.events (client_id, lead_id, campaign_id, account_id,
                               type, occurred_at, external_id, meta)
    VALUES (v_lead.client_id, v_lead.id, v_lead.campaign_id, p_account_id,
            'message_received', coalesce(p_at, liauto.now()), p_message_id,
            p_meta)
    ON CONFLICT (lead_id, type, external_id) DO NOTHING
    RETURNING true INTO v_inserted;

    -- a claimed step is caught by engine.check_before_send
    -- (liauto.unwanted_reason: lead_responded); scheduled ones go now
    UPDATE liauto.leads
    SET status = 'responded', error_reason = NULL,
        conversation_id = coalesce(conversation_id, p_chat_id)
    WHERE id = p_lead_id
      AND (status <> 'responded' OR conversation_id IS NULL
           AND p_chat_id IS NOT NULL);

    UPDATE liauto.actions
    SET status = 'cancelled', last_error = 'lead_responded'
    WHERE lead_id = p_lead_id AND status = 'scheduled';

    RETURN coalesce(v_inserted, false);
END
$$;

COMMENT ON FUNCTION liauto.lead_replied(uuid, uuid, text, text, timestamptz,
                                        jsonb) IS
    'An inbound message from the lead: one message_received event per '
    'message id, lead responded (the sequence stops: its scheduled '
    'actions are cancelled, a claimed one is refused by '
    'engine.check_before_send), conversation_id set. True when the event '
    'is new.';


-- ------------------------------------------------------------------------
-- Processing one payload
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.is_sender_flag(p_value jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE jsonb_typeof(p_value)
           WHEN 'boolean' THEN p_value::text::boolean
           WHEN 'number' THEN p_value::text::numeric <> 0
           WHEN 'string' THEN lower(p_value #>> '{}') IN ('true', '1')
           END
$$;

COMMENT ON FUNCTION liauto.is_sender_flag(jsonb) IS
    'is_sender as a boolean whether it came as true/false (webhooks), 0/1 '
    '(REST) or a string; NULL when absent.';

CREATE FUNCTION liauto.message_counterpart(p_body jsonb, p_sender jsonb,
                                           p_inbound boolean, p_own text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_inbound THEN p_sender
        ELSE (SELECT liauto.linkedin_person(a)
              FROM jsonb_array_elements(
                       CASE jsonb_typeof(p_body -> 'attendees')
                       WHEN 'array' THEN p_body -> 'attendees'
                       ELSE '[]' END) WITH ORDINALITY AS x (a, n)
              WHERE liauto.linkedin_person(a) ->> 'provider_id'
                    IS DISTINCT FROM coalesce(p_own,
                                              p_sender ->> 'provider_id')
              ORDER BY n
              LIMIT 1)
        END
$$;

COMMENT ON FUNCTION liauto.message_counterpart(jsonb, jsonb, boolean, text)
    IS 'Who the lead would be: the sender of an inbound message; for an '
       'outbound one the first attendee that is not our own account.';

CREATE FUNCTION liauto.process_message(p_body jsonb, p_lookup jsonb,
                                       p_last_try boolean)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_body      jsonb := liauto.unwrap_payload(p_body);
    v_account   liauto.linkedin_accounts;
    v_own       text;
    v_sender    jsonb;
    v_person    jsonb;
    v_flag      boolean;
    v_inbound   boolean;
    v_msg_id    text;
    v_chat_id   text;
    v_at        timestamptz;
    v_match     record;
    v_lookup    text;
    v_thread    jsonb;
    v_detail    jsonb;
BEGIN
    v_account := liauto.account_by_unipile_id(v_body ->> 'account_id');
    IF v_account.id IS NULL THEN
        RETURN jsonb_build_object('outcome', 'unmatched', 'reason',
                                  'unknown_account', 'account_id',
                                  v_body ->> 'account_id');
    END IF;

    v_msg_id := liauto.json_first(v_body, ARRAY['message_id', 'id',
                                                'provider_message_id']);
    IF v_msg_id IS NULL THEN
        RAISE EXCEPTION 'message_received without a message id';
    END IF;
    v_chat_id := liauto.json_first(v_body, ARRAY['chat_id',
                                                 'provider_chat_id']);
    v_at := (v_body ->> 'timestamp')::timestamptz;

    -- our own LinkedIn id, learnt from the first payload that carries it
    v_own := coalesce(v_account.provider_user_id,
                      v_body #>> '{account_info,user_id}');
    IF v_account.provider_user_id IS NULL AND v_own IS NOT NULL THEN
        UPDATE liauto.linkedin_accounts SET provider_user_id = v_own
        WHERE id = v_account.id AND provider_user_id IS NULL;
    END IF;

    v_sender := liauto.linkedin_person(
        CASE jsonb_typeof(v_body -> 'sender') WHEN 'object'
             THEN v_body -> 'sender' ELSE v_body END);
    v_flag := liauto.is_sender_flag(v_body -> 'is_sender');
    -- is_sender absent: ours when the sender is our own account; when we
    -- cannot tell, inbound (missing a reply is the failure that hurts)
    v_inbound := CASE WHEN v_flag IS NOT NULL THEN NOT v_flag
                      WHEN v_own IS NULL OR NOT v_sender ? 'provider_id'
                          THEN true
                      ELSE v_sender ->> 'provider_id' <> v_own END;

    v_person := liauto.merge_lookup(
        coalesce(liauto.message_counterpart(v_body, v_sender, v_inbound,
                                            v_own), '{}'),
        p_lookup);
    v_match := liauto.find_lead(v_account.client_id, v_account.id, v_person,
                                v_chat_id);
    v_lookup := liauto.lookup_identifier(v_person, p_lookup);
    -- a profile would only repeat a public identifier we already have
    IF v_match.lead_id IS NULL AND v_lookup IS NOT NULL AND NOT p_last_try
       AND NOT v_person ? 'public_identifier'
    THEN
        RETURN jsonb_build_object('outcome', 'needs_lookup',
                                  'account_id', v_account.unipile_account_id,
                                  'identifier', v_lookup);
    END IF;

    IF v_chat_id IS NOT NULL THEN
        v_thread := liauto.record_message(
            v_account.client_id, v_account.id, v_chat_id, v_match.lead_id,
            jsonb_build_object(
                'external_message_id', v_msg_id,
                'direction', CASE WHEN v_inbound THEN 'inbound'
                                  ELSE 'outbound' END,
                'text', coalesce(v_body ->> 'message', v_body ->> 'text'),
                'sent_at', v_at,
                'sender', v_sender,
                'attendees', CASE WHEN v_person ? 'provider_id'
                                  THEN jsonb_build_array(v_person)
                                  ELSE '[]' END,
                'attachments', CASE jsonb_typeof(v_body -> 'attachments')
                               WHEN 'array' THEN v_body -> 'attachments'
                               WHEN 'object'
                                   THEN jsonb_build_array(
                                            v_body -> 'attachments')
                               ELSE '[]' END));
    END IF;

    v_detail := jsonb_build_object(
        'direction', CASE WHEN v_inbound THEN 'inbound' ELSE 'outbound' END,
        'message_id', v_msg_id, 'chat_id', v_chat_id,
        'client_id', v_account.client_id, 'person', v_person,
        'threaded', v_thread IS NOT NULL);

    IF v_match.lead_id IS NULL THEN
        RETURN v_detail || jsonb_build_object('outcome', 'unmatched',
                                              'reason', 'no_lead');
    END IF;

    v_detail := v_detail || jsonb_build_object(
        'lead_id', v_match.lead_id, 'matched_by', v_match.matched_by);
    PERFORM liauto.backfill_lead_ids(v_match.lead_id, v_person);

    IF v_inbound THEN
        RETURN v_detail || jsonb_build_object('outcome',
            CASE WHEN liauto.lead_replied(
                          v_match.lead_id, v_account.id, v_msg_id, v_chat_id,
                          v_at, jsonb_build_object('chat_id', v_chat_id,
                                                   'matched_by',
                                                   v_match.matched_by))
                 THEN 'processed' ELSE 'duplicate' END);
    END IF;

    -- Our own message in a chat with a lead still at invite_sent: the
    -- chat LinkedIn opens with the invitation note when it is accepted
    -- (Unipile "detecting accepted invitations", method b).
    UPDATE liauto.leads SET conversation_id = v_chat_id
    WHERE id = v_match.lead_id AND conversation_id IS NULL
      AND v_chat_id IS NOT NULL;
    IF liauto.lead_accepted(v_match.lead_id, v_account.id,
                            'connection_accepted',
                            coalesce(v_person ->> 'provider_id', v_msg_id),
                            v_at, jsonb_build_object('via', 'note_chat',
                                                     'message_id', v_msg_id))
    THEN
        RETURN v_detail || jsonb_build_object('outcome', 'processed',
                                              'accepted', true);
    END IF;
    RETURN v_detail || jsonb_build_object(
        'outcome', CASE WHEN coalesce((v_thread ->> 'inserted')::boolean,
                                      false)
                        THEN 'processed' ELSE 'duplicate' END);
END
$$;

COMMENT ON FUNCTION liauto.process_message(jsonb, jsonb, boolean) IS
    'A message_received payload (webhook or a polled message in the same '
    'shape). Direction: inbound when is_sender is false, or absent and the '
    'sender is not the account''s own user (provider_user_id, learnt from '
    'account_info.user_id). Threads it (liauto.record_message), matches '
    'the counterpart to a lead of the account''s client; inbound: '
    'liauto.lead_replied; outbound to a lead at invite_sent: the note '
    'chat of an acceptance. needs_lookup when unmatched with a resolvable '
    'id, no public identifier and no lookup made yet (unless '
    'p_last_try).';

CREATE FUNCTION liauto.process_relation(p_body jsonb, p_lookup jsonb,
                                        p_last_try boolean)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_body     jsonb := liauto.unwrap_payload(p_body);
    v_account  liauto.linkedin_accounts;
    v_person   jsonb;
    v_match    record;
    v_lookup   text;
    v_detail   jsonb;
BEGIN
    v_account := liauto.account_by_unipile_id(v_body ->> 'account_id');
    IF v_account.id IS NULL THEN
        RETURN jsonb_build_object('outcome', 'unmatched', 'reason',
                                  'unknown_account', 'account_id',
                                  v_body ->> 'account_id');
    END IF;

    v_person := liauto.merge_lookup(liauto.linkedin_person(v_body), p_lookup);
    v_match := liauto.find_lead(v_account.client_id, v_account.id, v_person,
                                NULL);
    v_lookup := liauto.lookup_identifier(v_person, p_lookup);
    -- without a public identifier, an unmatched provider id may still be
    -- a lead known only by its slug
    IF v_match.lead_id IS NULL AND v_lookup IS NOT NULL AND NOT p_last_try
       AND NOT v_person ? 'public_identifier'
    THEN
        RETURN jsonb_build_object('outcome', 'needs_lookup',
                                  'account_id', v_account.unipile_account_id,
                                  'identifier', v_lookup);
    END IF;

    v_detail := jsonb_build_object('client_id', v_account.client_id,
                                   'person', v_person);
    IF v_match.lead_id IS NULL THEN
        RETURN v_detail || jsonb_build_object('outcome', 'unmatched',
                                              'reason', 'no_lead');
    END IF;

    PERFORM liauto.backfill_lead_ids(v_match.lead_id, v_person);
    RETURN v_detail || jsonb_build_object(
        'lead_id', v_match.lead_id, 'matched_by', v_match.matched_by,
        'outcome',
        CASE WHEN liauto.lead_accepted(
                      v_match.lead_id, v_account.id, 'connection_accepted',
                      coalesce(v_person ->> 'provider_id',
                               v_person ->> 'public_identifier'),
                      (v_body ->> 'timestamp')::timestamptz,
                      jsonb_build_object('via', 'new_relation'))
             THEN 'processed' ELSE 'duplicate' END);
END
$$;

COMMENT ON FUNCTION liauto.process_relation(jsonb, jsonb, boolean) IS
    'A users/new_relation payload: the lead of the account''s client with '
    'that provider id (or public identifier, or after a profile lookup '
    'when the payload has no public identifier) is accepted '
    '(liauto.lead_accepted) and its missing ids are filled.';

CREATE FUNCTION liauto.account_status_of(p_message text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE upper(p_message)
           WHEN 'OK' THEN 'ok'
           WHEN 'CREATION_SUCCESS' THEN 'ok'
           WHEN 'RECONNECTED' THEN 'ok'
           WHEN 'SYNC_SUCCESS' THEN 'ok'
           WHEN 'CREATION_FAIL' THEN 'error'
           WHEN 'ERROR' THEN 'error'
           WHEN 'STOPPED' THEN 'stopped'
           WHEN 'CREDENTIALS' THEN 'credentials'
           WHEN 'PERMISSIONS' THEN 'permissions'
           WHEN 'CONNECTING' THEN 'connecting'
           WHEN 'DELETED' THEN 'deleted'
           END
$$;

COMMENT ON FUNCTION liauto.account_status_of(text) IS
    'linkedin_accounts.status for an AccountStatus message (the mapping of '
    'the column''s comment); NULL for a message we do not know.';

CREATE FUNCTION liauto.process_account_status(p_body jsonb,
                                              p_received_at timestamptz,
                                              p_event_id uuid)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_message  text := p_body #>> '{AccountStatus,message}';
    v_status   text := liauto.account_status_of(v_message);
    v_account  liauto.linkedin_accounts;
    v_job      uuid;
BEGIN
    IF v_status IS NULL THEN
        RETURN jsonb_build_object('outcome', 'ignored', 'reason',
                                  'unknown_status', 'message', v_message);
    END IF;

    SELECT * INTO v_account FROM liauto.linkedin_accounts
    WHERE unipile_account_id = p_body #>> '{AccountStatus,account_id}'
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('outcome', 'unmatched', 'reason',
                                  'unknown_account', 'account_id',
                                  p_body #>> '{AccountStatus,account_id}');
    END IF;
    IF v_account.status_event_at > p_received_at THEN
        RETURN jsonb_build_object('outcome', 'duplicate', 'reason',
                                  'older_than_current_status');
    END IF;

    UPDATE liauto.linkedin_accounts
    SET status = v_status, status_event_at = p_received_at,
        status_reason = CASE WHEN v_status = 'ok' THEN NULL
                             ELSE 'Unipile account status ' || v_message
                             END
    WHERE id = v_account.id;

    -- Unipile withholds message webhooks while an account is down: poll
    -- what was missed since it left ok (bounded by the lookback)
    IF v_status = 'ok' AND v_account.status <> 'ok' THEN
        v_job := liauto.request_job(
            'poll_messages', 'catchup:' || p_event_id, v_account.id, NULL,
            jsonb_build_object('since', coalesce(v_account.status_event_at,
                                                 p_received_at)
                                        - interval '5 minutes'),
            NULL);
    END IF;

    RETURN jsonb_build_object('outcome',
               CASE WHEN v_account.status = v_status THEN 'duplicate'
                    ELSE 'processed' END,
               'account_id', v_account.id, 'client_id', v_account.client_id,
               'status', v_status, 'previous_status', v_account.status,
               'catchup_job_id', v_job);
END
$$;

COMMENT ON FUNCTION liauto.process_account_status(jsonb, timestamptz, uuid)
    IS 'An {"AccountStatus":{account_id, message}} payload: the account''s '
       'status (liauto.account_status_of) and status_reason, unless a '
       'newer status event was already applied; back to ok from anything '
       'else: a catch-up poll_messages job from when it went down.';


-- ------------------------------------------------------------------------
-- The worker's entry points for deliveries
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.dispatch_event(p_event liauto.webhook_events,
                                      p_lookup jsonb, p_last_try boolean)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_body   jsonb := p_event.body::jsonb;
    v_event  text;
BEGIN
    IF jsonb_typeof(v_body) <> 'object' THEN
        RAISE EXCEPTION 'the body is not a JSON object';
    END IF;
    IF v_body ? 'AccountStatus' THEN
        RETURN liauto.process_account_status(v_body, p_event.received_at,
                                             p_event.id);
    END IF;

    v_event := liauto.json_first(liauto.unwrap_payload(v_body),
                                 ARRAY['event']);
    RETURN CASE v_event
        WHEN 'new_relation' THEN
            liauto.process_relation(v_body, p_lookup, p_last_try)
        WHEN 'message_received' THEN
            liauto.process_message(v_body, p_lookup, p_last_try)
        ELSE jsonb_build_object('outcome', 'ignored', 'event', v_event)
        END;
END
$$;

COMMENT ON FUNCTION liauto.dispatch_event(liauto.webhook_events, jsonb,
                                          boolean) IS
    'Routes a delivery on its body (ref. §4.8): AccountStatus, '
    'new_relation, message_received (top level or under data); any other '
    'event is ignored. The source endpoint is not trusted for routing: '
    'the seed''s messaging webhook once pointed at /users.';

CREATE FUNCTION liauto.processing_max_attempts() RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT (value #>> '{}')::integer FROM liauto.settings
                     WHERE key = 'webhook_processing_max_attempts'), 5)
$$;

COMMENT ON FUNCTION liauto.processing_max_attempts() IS
    'Tries a delivery gets (errors, profile lookups that did not answer) '
    'before it is given up as failed, or processed without the lookup '
    '(settings webhook_processing_max_attempts, default 5).';

CREATE FUNCTION webhooks.process_event(p_event_id uuid,
                                       p_lookup jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_event   liauto.webhook_events;
    v_result  jsonb;
    v_error   text;
    v_last    boolean;
BEGIN
    SELECT * INTO v_event FROM liauto.webhook_events
    WHERE id = p_event_id
    FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('outcome', 'busy');
    END IF;
    IF v_event.processed_at IS NOT NULL THEN
        RETURN jsonb_build_object('outcome', 'done', 'previous',
                                  v_event.outcome);
    END IF;

    v_last := v_event.attempts + 1 >= liauto.processing_max_attempts();
    BEGIN
        v_result := liauto.dispatch_event(v_event, p_lookup, v_last);
    EXCEPTION WHEN OTHERS THEN
        v_error := SQLERRM;
    END;

    IF v_error IS NOT NULL THEN
        UPDATE liauto.webhook_events
        SET attempts = attempts + 1, processing_error = v_error,
            outcome = CASE WHEN v_last THEN 'failed' END,
            processed_at = CASE WHEN v_last THEN liauto.now() END,
            next_attempt_at = liauto.now()
                              + make_interval(secs => 5 * 2 ^ attempts)
        WHERE id = v_event.id;
        RETURN jsonb_build_object('outcome', CASE WHEN v_last THEN 'failed'
                                                  ELSE 'error' END,
                                  'error', v_error);
    END IF;

    IF v_result ->> 'outcome' = 'needs_lookup' THEN
        -- the worker looks the profile up and comes back; if it never
        -- does, a sweep retries after the pause
        UPDATE liauto.webhook_events
        SET attempts = attempts + 1, outcome = 'needs_lookup',
            outcome_detail = v_result,
            next_attempt_at = liauto.now() + interval '1 minute'
        WHERE id = v_event.id;
        RETURN v_result;
    END IF;

    UPDATE liauto.webhook_events
    SET attempts = attempts + 1, processed_at = liauto.now(),
        outcome = v_result ->> 'outcome',
        outcome_detail = v_result - 'outcome', processing_error = NULL,
        next_attempt_at = NULL
    WHERE id = v_event.id;
    RETURN v_result;
END
$$;

COMMENT ON FUNCTION webhooks.process_event(uuid, jsonb) IS
    'Processes one stored delivery in the caller''s transaction, the row '
    'locked (busy: another worker has it; done: already processed). '
    'Returns the outcome object: processed / duplicate / unmatched / '
    'ignored (processed_at set, outcome and outcome_detail stored); '
    'needs_lookup {account_id, identifier} (call again with p_lookup = '
    'the UserProfile, or {"not_found": true}); error (processing_error '
    'kept, retried after a backoff) or failed after processing_max_attempts. '
    'The last attempt proceeds without a lookup.';

CREATE FUNCTION webhooks.pending_events(p_limit integer)
RETURNS SETOF uuid
LANGUAGE sql STABLE AS $$
    SELECT id FROM liauto.webhook_events
    WHERE processed_at IS NULL
      AND coalesce(next_attempt_at, received_at) <= liauto.now()
    ORDER BY received_at
    LIMIT p_limit
$$;

COMMENT ON FUNCTION webhooks.pending_events(integer) IS
    'Unprocessed deliveries due now, oldest first (through '
    'webhook_events_unprocessed_idx): the sweep''s work list (each is '
    'then taken with webhooks.process_event, which skips rows another '
    'worker holds).';


-- ------------------------------------------------------------------------
-- Fallback jobs
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.request_job(p_job text, p_period_key text,
                                   p_account_id uuid, p_campaign_id uuid,
                                   p_params jsonb, p_user_id uuid)
RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_id  uuid;
BEGIN
    INSERT INTO liauto.sync_jobs (job, period_key, account_id, campaign_id,
                                  params, requested_by)
    VALUES (p_job, p_period_key, p_account_id, p_campaign_id,
            coalesce(p_params, '{}'), p_user_id)
    ON CONFLICT (job, period_key) DO NOTHING
    RETURNING id INTO v_id;

    IF v_id IS NOT NULL THEN
        PERFORM pg_notify('liauto_webhooks', 'job:' || v_id);
    END IF;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION liauto.request_job(text, text, uuid, uuid, jsonb, uuid)
    IS 'Asks for a fallback run once per (job, period_key) and wakes the '
       'workers (NOTIFY liauto_webhooks ''job:<id>''); NULL when that '
       'period already has its run.';

CREATE FUNCTION webhooks.schedule_jobs(p_poll_interval integer,
                                       p_poll_lookback integer)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_now    timestamptz := liauto.now();
    v_slot   bigint := floor(extract(epoch FROM v_now) / p_poll_interval);
    v_day    text := to_char(v_now AT TIME ZONE 'UTC', 'YYYY-MM-DD');
    v_count  integer := 0;
    v_a      liauto.linkedin_accounts;
BEGIN
    IF p_poll_interval IS NULL OR p_poll_interval < 1
       OR p_poll_lookback IS NULL OR p_poll_lookback < 1
    THEN
        RAISE EXCEPTION 'schedule_jobs: interval and lookback must be '
                        'positive seconds'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- a week of runs is kept for GET /admin/jobs/{id} and debugging
    DELETE FROM liauto.sync_jobs
    WHERE status IN ('done', 'failed')
      AND finished_at < v_now - interval '7 days';

    FOR v_a IN SELECT * FROM liauto.linkedin_accounts WHERE status = 'ok'
    LOOP
        v_count := v_count
            + (liauto.request_job(
                   'poll_messages', v_a.id || ':' || v_slot, v_a.id, NULL,
                   jsonb_build_object('since', v_now - make_interval(
                                                   secs => p_poll_lookback)),
                   NULL) IS NOT NULL)::integer
            -- relations and chats: the newest page, once a day
            + (liauto.request_job(
                   'sync_relations', v_a.id || ':' || v_day, v_a.id, NULL,
                   '{"max_pages": 1}', NULL) IS NOT NULL)::integer
            + (liauto.request_job(
                   'backfill_conversations', v_a.id || ':' || v_day, v_a.id,
                   NULL, '{"max_pages": 1}', NULL) IS NOT NULL)::integer;
    END LOOP;
    RETURN v_count;
END
$$;

COMMENT ON FUNCTION webhooks.schedule_jobs(integer, integer) IS
    'Requests the periodic fallbacks of every ok account (idempotent per '
    'period, so every worker may call it every tick): a poll of the last '
    'p_poll_lookback seconds of messages per p_poll_interval slot, and '
    'the first page of relations and of chats once per UTC day. Runs '
    'finished more than 7 days ago are deleted. Returns how many runs it '
    'requested.';

CREATE FUNCTION webhooks.claim_job(p_worker text, p_lease integer)
RETURNS TABLE (id uuid, job text, unipile_account_id text,
               params jsonb, campaign_id uuid)
LANGUAGE sql AS $$
    UPDATE liauto.sync_jobs AS j
    SET status = 'running', claimed_by = p_worker,
        lease_expires_at = liauto.now() + make_interval(secs => p_lease),
        started_at = coalesce(j.started_at, liauto.now()),
        attempts = j.attempts + 1
    WHERE j.id = (SELECT x.id FROM liauto.sync_jobs AS x
                  WHERE x.status = 'requested'
                     OR x.status = 'running'
                        AND x.lease_expires_at <= liauto.now()
                  ORDER BY x.created_at, x.id
                  LIMIT 1
                  FOR UPDATE SKIP LOCKED)
    RETURNING j.id, j.job,
              (SELECT a.unipile_account_id FROM liauto.linkedin_accounts AS a
               WHERE a.id = j.account_id),
              -- Unipile's filters take exactly ...T09:43:27.002Z
              CASE WHEN j.params ? 'since'
                   THEN jsonb_set(j.params, '{since}', to_jsonb(api.ts(
                            (j.params ->> 'since')::timestamptz)))
                   ELSE j.params END,
              j.campaign_id
$$;

COMMENT ON FUNCTION webhooks.claim_job(text, integer) IS
    'Takes the oldest requested run (or one whose worker''s lease of '
    'p_lease seconds expired: a crashed run starts over; every step of a '
    'job is idempotent), SKIP LOCKED so two workers never take the same.';

CREATE FUNCTION webhooks.finish_job(p_id uuid, p_error text)
RETURNS void
LANGUAGE sql AS $$
    UPDATE liauto.sync_jobs
    SET status = CASE WHEN p_error IS NULL THEN 'done' ELSE 'failed' END,
        error = p_error, finished_at = liauto.now(), lease_expires_at = NULL
    WHERE id = p_id AND status = 'running'
$$;

COMMENT ON FUNCTION webhooks.finish_job(uuid, text) IS
    'Ends a run: done, or failed with the reason.';

CREATE FUNCTION liauto.count_job(p_id uuid, p_counts jsonb)
RETURNS void
LANGUAGE sql AS $$
    UPDATE liauto.sync_jobs AS j
    SET counts = (SELECT jsonb_object_agg(
                             k, coalesce((j.counts ->> k)::bigint, 0)
                                + coalesce((p_counts ->> k)::bigint, 0))
                  FROM (SELECT jsonb_object_keys(j.counts || p_counts)) AS
                       x (k)),
        lease_expires_at = greatest(j.lease_expires_at,
                                    liauto.now() + interval '2 minutes')
    WHERE j.id = p_id
$$;

COMMENT ON FUNCTION liauto.count_job(uuid, jsonb) IS
    'Adds a page''s counts to the run''s and extends its lease (a long run '
    'that makes progress keeps it).';

CREATE FUNCTION webhooks.poll_messages_page(p_job_id uuid, p_items jsonb)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_account  liauto.linkedin_accounts;
    v_item     jsonb;
    v_id       uuid;
    v_new      integer := 0;
BEGIN
    SELECT a.* INTO v_account
    FROM liauto.sync_jobs AS j
    JOIN liauto.linkedin_accounts AS a ON a.id = j.account_id
    WHERE j.id = p_job_id;

    FOR v_item IN SELECT * FROM jsonb_array_elements(p_items)
    LOOP
        -- already threaded (webhook, earlier poll, our own send): nothing
        -- to do; else stored as a delivery and processed like one
        CONTINUE WHEN nullif(v_item ->> 'id', '') IS NULL
            OR EXISTS (SELECT 1 FROM liauto.messages AS m
                       WHERE m.client_id = v_account.client_id
                         AND m.channel = 'linkedin'
                         AND m.external_message_id = v_item ->> 'id');

        INSERT INTO liauto.webhook_events (source, delivery_key, body,
                                           headers, received_at)
        VALUES ('unipile_messaging',
                'poll:' || v_account.unipile_account_id || ':'
                || (v_item ->> 'id'),
                jsonb_build_object(
                    'event', 'message_received',
                    'account_id', v_account.unipile_account_id,
                    'chat_id', v_item ->> 'chat_id',
                    'message_id', v_item ->> 'id',
                    'message', v_item ->> 'text',
                    'timestamp', v_item ->> 'timestamp',
                    'is_sender', liauto.is_sender_flag(
                                     v_item -> 'is_sender'),
                    'sender', jsonb_build_object(
                        'attendee_provider_id', v_item ->> 'sender_id'),
                    'attachments', coalesce(v_item -> 'attachments', '[]'),
                    'liauto_origin', 'poll',
                    'liauto_job_id', p_job_id)::text,
                jsonb_build_object('x-liauto-origin', 'poll'),
                liauto.now())
        ON CONFLICT (delivery_key) DO NOTHING
        RETURNING id INTO v_id;

        IF v_id IS NOT NULL THEN
            v_new := v_new + 1;
            PERFORM pg_notify('liauto_webhooks', v_id::text);
        END IF;
    END LOOP;

    PERFORM liauto.count_job(p_job_id, jsonb_build_object(
        'pages', 1, 'messages', jsonb_array_length(p_items),
        'new', v_new));
    RETURN v_new;
END
$$;

COMMENT ON FUNCTION webhooks.poll_messages_page(uuid, jsonb) IS
    'One page of GET /messages for the run''s account: each message not '
    'threaded yet becomes a delivery (source unipile_messaging, key '
    'poll:<account>:<message id>, the message_received shape) that '
    'webhooks.process_event handles exactly as a webhook. Returns how '
    'many were new.';

CREATE FUNCTION webhooks.sync_relation(p_job_id uuid, p_relation jsonb,
                                       p_lookup jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_job      liauto.sync_jobs;
    v_account  liauto.linkedin_accounts;
    v_person   jsonb := liauto.merge_lookup(liauto.linkedin_person(
                                                p_relation), p_lookup);
    v_lead     uuid;
    v_outcome  text;
BEGIN
    SELECT * INTO v_job FROM liauto.sync_jobs WHERE id = p_job_id;
    SELECT * INTO v_account FROM liauto.linkedin_accounts
    WHERE id = v_job.account_id;

    -- leads waiting for this acceptance: invite_sent, in campaigns of
    -- this account (and of the requested campaign)
    SELECT l.id INTO v_lead
    FROM liauto.leads AS l
    JOIN liauto.campaigns AS c ON c.id = l.campaign_id
    WHERE l.client_id = v_account.client_id
      AND c.linkedin_account_id = v_account.id
      AND (v_job.campaign_id IS NULL OR c.id = v_job.campaign_id)
      AND l.status = 'invite_sent'
      AND (l.provider_id = v_person ->> 'provider_id'
           OR l.member_id = v_person ->> 'member_id'
           OR lower(l.public_identifier)
              = lower(v_person ->> 'public_identifier'))
    ORDER BY l.created_at, l.id
    LIMIT 1;

    IF v_lead IS NOT NULL THEN
        PERFORM liauto.backfill_lead_ids(v_lead, v_person);
        v_outcome := CASE WHEN liauto.lead_accepted(
                                   v_lead, v_account.id,
                                   'connection_accepted_historical',
                                   coalesce(v_person ->> 'provider_id',
                                            v_person ->> 'public_identifier'),
                                   to_timestamp((p_relation ->> 'created_at')
                                                ::double precision / 1000),
                                   jsonb_build_object('via', 'relation_sync',
                                                      'job_id', p_job_id))
                          THEN 'accepted' ELSE 'already' END;
    ELSIF p_lookup IS NULL AND NOT v_person ? 'public_identifier'
          AND v_person ? 'provider_id'
          AND EXISTS (SELECT 1 FROM liauto.leads AS l
                      JOIN liauto.campaigns AS c ON c.id = l.campaign_id
                      WHERE c.linkedin_account_id = v_account.id
                        AND l.client_id = v_account.client_id
                        AND (v_job.campaign_id IS NULL
                             OR c.id = v_job.campaign_id)
                        AND l.status = 'invite_sent'
                        AND l.provider_id IS NULL)
    THEN
        -- only worth a profile view while a lead could be this person
        RETURN jsonb_build_object('outcome', 'needs_lookup',
                                  'account_id', v_account.unipile_account_id,
                                  'identifier', v_person ->> 'provider_id');
    ELSE
        v_outcome := 'unmatched';
    END IF;

    PERFORM liauto.count_job(p_job_id, jsonb_build_object(
        'relations', 1, v_outcome, 1,
        'lookups', (p_lookup IS NOT NULL)::integer));
    RETURN jsonb_build_object('outcome', v_outcome, 'lead_id', v_lead);
END
$$;

COMMENT ON FUNCTION webhooks.sync_relation(uuid, jsonb, jsonb) IS
    'One UserRelation of a sync_relations run: the account''s invite_sent '
    'lead (in the run''s campaign if it has one) with that member id / '
    'public identifier becomes connected with one '
    'connection_accepted_historical event (accepted; already when it had '
    'an acceptance). A relation without public_identifier that matches no '
    'provider id, while some invite_sent lead lacks one: needs_lookup '
    '(call again with the profile). Counts go to the run.';

CREATE FUNCTION webhooks.backfill_conversations_page(p_job_id uuid,
                                                     p_items jsonb)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_account  liauto.linkedin_accounts;
    v_linked   integer;
BEGIN
    SELECT a.* INTO v_account
    FROM liauto.sync_jobs AS j
    JOIN liauto.linkedin_accounts AS a ON a.id = j.account_id
    WHERE j.id = p_job_id;

    WITH chat AS (
        SELECT DISTINCT ON (c ->> 'attendee_provider_id')
               c ->> 'id' AS chat_id, c ->> 'attendee_provider_id' AS person
        FROM jsonb_array_elements(p_items) AS c
        WHERE coalesce((c ->> 'type')::integer, 0) = 0
          AND nullif(c ->> 'attendee_provider_id', '') IS NOT NULL
          AND nullif(c ->> 'id', '') IS NOT NULL
        ORDER BY c ->> 'attendee_provider_id', c ->> 'timestamp' DESC
    )
    UPDATE liauto.leads AS l
    SET conversation_id = chat.chat_id
    FROM chat, liauto.campaigns AS c
    WHERE l.client_id = v_account.client_id
      AND c.id = l.campaign_id AND c.linkedin_account_id = v_account.id
      AND l.provider_id = chat.person
      AND l.conversation_id IS NULL;
    GET DIAGNOSTICS v_linked = ROW_COUNT;

    -- the inbox's conversation of that chat learns its lead too
    UPDATE liauto.conversations AS v
    SET lead_id = l.id, campaign_id = l.campaign_id
    FROM liauto.leads AS l
    WHERE v.client_id = v_account.client_id AND v.lead_id IS NULL
      AND l.client_id = v.client_id
      AND l.conversation_id = v.external_chat_id;

    PERFORM liauto.count_job(p_job_id, jsonb_build_object(
        'pages', 1, 'chats', jsonb_array_length(p_items),
        'linked', v_linked));
    RETURN v_linked;
END
$$;

COMMENT ON FUNCTION webhooks.backfill_conversations_page(uuid, jsonb) IS
    'One page of GET /chats for the run''s account: every lead of the '
    'account''s campaigns without a conversation_id whose provider id is '
    'a 1:1 chat''s attendee_provider_id gets that chat (the newest when '
    'several), and the inbox conversation of that chat its lead. Returns '
    'how many leads were linked.';


-- ------------------------------------------------------------------------
-- Admin API: asking for fallback runs, reading them, migrations
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.sync_job_json(p_job liauto.sync_jobs) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', p_job.id, 'job', p_job.job, 'account_id', p_job.account_id,
        'campaign_id', p_job.campaign_id, 'status', p_job.status,
        'params', p_job.params, 'counts', p_job.counts,
        'error', p_job.error, 'attempts', p_job.attempts,
        'requested_at', api.ts(p_job.created_at),
        'started_at', api.ts(p_job.started_at),
        'finished_at', api.ts(p_job.finished_at))
$$;

COMMENT ON FUNCTION liauto.sync_job_json(liauto.sync_jobs) IS
    'A fallback run as the admin API shows it.';

CREATE FUNCTION liauto.job_accounts(p_body jsonb, p_allow_campaign boolean,
                                    OUT account_ids uuid[],
                                    OUT campaign_id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    v_rules   jsonb := '{"account_id": {"type": "uuid"},
                         "since": {"type": "string", "min": 1, "max": 64},
                         "campaign_id": {"type": "uuid"}}';
    v_errors  jsonb;
BEGIN
    IF NOT p_allow_campaign THEN
        v_rules := v_rules - 'campaign_id';
    END IF;
    v_errors := api.validate_body(p_body, v_rules, true, '{}');
    IF p_body ? 'account_id' AND p_body ? 'campaign_id' THEN
        v_errors := v_errors || '{"campaign_id": "give account_id or '
                                'campaign_id, not both"}';
    END IF;
    PERFORM api.raise_invalid(v_errors);

    IF p_body ? 'campaign_id' THEN
        SELECT c.id, ARRAY[c.linkedin_account_id]
        INTO campaign_id, account_ids
        FROM liauto.campaigns AS c
        WHERE c.id = (p_body ->> 'campaign_id')::uuid
          AND c.linkedin_account_id IS NOT NULL;
        IF campaign_id IS NULL THEN
            PERFORM api.raise_invalid('{"campaign_id": "unknown campaign '
                                      'or one without an account"}');
        END IF;
    ELSIF p_body ? 'account_id' THEN
        account_ids := ARRAY(SELECT a.id FROM liauto.linkedin_accounts AS a
                             WHERE a.id = (p_body ->> 'account_id')::uuid);
        IF cardinality(account_ids) = 0 THEN
            PERFORM api.raise_invalid('{"account_id": "unknown account"}');
        END IF;
    ELSE
        account_ids := ARRAY(SELECT a.id FROM liauto.linkedin_accounts AS a
                             WHERE a.status <> 'deleted'
                             ORDER BY a.created_at, a.id);
    END IF;
END
$$;

COMMENT ON FUNCTION liauto.job_accounts(jsonb, boolean) IS
    'The accounts an admin run request covers: body account_id, the '
    'account of campaign_id (when allowed), or every account not deleted. '
    '422 for a bad body or an unknown id.';

CREATE FUNCTION liauto.body_since(p_body jsonb) RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
    v_since  timestamptz;
BEGIN
    BEGIN
        v_since := coalesce((p_body ->> 'since')::timestamptz,
                            liauto.now() - interval '24 hours');
    EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow THEN
        PERFORM api.raise_invalid('{"since": "must be an ISO 8601 time"}');
    END;
    IF v_since < liauto.now() - interval '30 days' THEN
        PERFORM api.raise_invalid('{"since": "must be within the last 30 '
                                  'days"}');
    END IF;
    RETURN v_since;
END
$$;

COMMENT ON FUNCTION liauto.body_since(jsonb) IS
    'The "since" of a reply backfill request: default 24 hours ago, 422 '
    'when it is not a time or older than 30 days.';

CREATE FUNCTION liauto.request_admin_jobs(p_caller jsonb, p_query jsonb,
                                          p_body jsonb, p_job text)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_body     jsonb := coalesce(p_body, '{}');
    v_scope    record;
    v_params   jsonb := '{"max_pages": 0}';
    v_user     uuid;
    v_account  uuid;
    v_ids      uuid[] := '{}';
BEGIN
    PERFORM api.require_admin(p_caller);
    PERFORM api.reject_query(p_query);
    IF jsonb_typeof(v_body) <> 'object' THEN
        PERFORM api.raise_invalid('{"body": "must be an object"}');
    END IF;
    SELECT * INTO v_scope
    FROM liauto.job_accounts(v_body, p_job = 'sync_relations');
    IF p_job = 'poll_messages' THEN
        v_params := jsonb_build_object('since', liauto.body_since(v_body));
    END IF;
    v_user := (SELECT u.id FROM liauto.users AS u
               WHERE u.id::text = p_caller ->> 'sub');

    FOREACH v_account IN ARRAY v_scope.account_ids
    LOOP
        v_ids := v_ids || liauto.request_job(
                              p_job, 'request:' || gen_random_uuid(),
                              v_account, v_scope.campaign_id, v_params,
                              v_user);
    END LOOP;

    RETURN QUERY SELECT * FROM api.ok(202, jsonb_build_object(
        'data', (SELECT coalesce(jsonb_agg(liauto.sync_job_json(j)
                                           ORDER BY j.created_at, j.id),
                                 '[]')
                 FROM liauto.sync_jobs AS j WHERE j.id = ANY (v_ids)),
        'next_cursor', NULL));
END
$$;

COMMENT ON FUNCTION liauto.request_admin_jobs(jsonb, jsonb, jsonb, text) IS
    'The admin run requests: one requested run of p_job per account in '
    'scope (liauto.job_accounts), the workers woken; poll_messages from '
    'the body''s since (liauto.body_since), the others over every page. '
    '202 {"data": [run], "next_cursor": null}.';

CREATE FUNCTION api.admin_backfill_replies(p_caller jsonb, p_path text[],
                                           p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    RETURN QUERY SELECT * FROM liauto.request_admin_jobs(
        p_caller, p_query, p_body, 'poll_messages');
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.admin_backfill_replies(jsonb, text[], jsonb, jsonb)
    IS 'POST /admin/backfill/replies {account_id?, since?}: a poll of '
       'every message since (default 24 h ago, at most 30 days) per '
       'account, each processed like a webhook; 202 with the runs.';

CREATE FUNCTION api.admin_sync_relations(p_caller jsonb, p_path text[],
                                         p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    RETURN QUERY SELECT * FROM liauto.request_admin_jobs(
        p_caller, p_query, p_body, 'sync_relations');
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.admin_sync_relations(jsonb, text[], jsonb, jsonb) IS
    'POST /admin/sync/relations {account_id? | campaign_id?}: every '
    'relation of the account(s) against their invite_sent leads '
    '(connection_accepted_historical); 202 with the runs.';

CREATE FUNCTION api.admin_backfill_conversations(p_caller jsonb,
                                                 p_path text[],
                                                 p_query jsonb,
                                                 p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    RETURN QUERY SELECT * FROM liauto.request_admin_jobs(
        p_caller, p_query, p_body, 'backfill_conversations');
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.admin_backfill_conversations(jsonb, text[], jsonb,
                                                     jsonb) IS
    'POST /admin/backfill/conversations {account_id?}: every chat of the '
    'account(s) links leads without a conversation_id; 202 with the runs.';

CREATE FUNCTION api.admin_jobs_get(p_caller jsonb, p_path text[],
                                   p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_job       liauto.sync_jobs;
    v_envelope  text;
BEGIN
    PERFORM api.require_admin(p_caller);
    PERFORM api.reject_query(p_query);
    SELECT * INTO v_job FROM liauto.sync_jobs WHERE id = p_path[1]::uuid;
    IF NOT FOUND THEN
        PERFORM api.raise_error(404, 'NOT_FOUND', 'job not found');
    END IF;
    RETURN QUERY SELECT * FROM api.ok(200, liauto.sync_job_json(v_job));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.admin_jobs_get(jsonb, text[], jsonb, jsonb) IS
    'GET /admin/jobs/{id}: a fallback run (requested, running, done, '
    'failed) with its counts.';

CREATE FUNCTION api.admin_migrations_status(p_caller jsonb, p_path text[],
                                            p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    PERFORM api.require_admin(p_caller);
    PERFORM api.reject_query(p_query);
    RETURN QUERY SELECT * FROM api.ok(200, (
        SELECT jsonb_build_object(
                   'current', (array_agg(m.version ORDER BY m.version
                                         DESC))[1],
                   'data', coalesce(jsonb_agg(jsonb_build_object(
                               'version', m.version, 'name', m.name,
                               'checksum', m.checksum,
                               'applied_at', api.ts(m.applied_at))
                           ORDER BY m.version), '[]'),
                   'next_cursor', NULL)
        FROM public.schema_migrations AS m));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.admin_migrations_status(jsonb, text[], jsonb, jsonb)
    IS 'GET /admin/migrations/status: every applied migration (version, '
       'name, checksum, applied_at) in order, and the current version.';
