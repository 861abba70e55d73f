-- 0016: the unified inbox's tables (seed §9, DESIGN §3) and the one
-- function that threads a message into them.  Webhooks, polling and our
-- own sends all go through liauto.record_message, so a message is stored
-- once per (client, channel, external id) whichever path sees it first.

CREATE TABLE liauto.conversations (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id            uuid NOT NULL
                         REFERENCES liauto.clients (id) ON DELETE CASCADE,
    account_id           uuid,
    channel              text NOT NULL DEFAULT 'linkedin'
                         CONSTRAINT conversations_channel_check
                         CHECK (channel IN ('linkedin')),
    external_chat_id     text NOT NULL
                         CONSTRAINT conversations_external_chat_id_check
                         CHECK (length(external_chat_id) BETWEEN 1 AND 512),
    lead_id              uuid,
    campaign_id          uuid,
    subject              text,
    status               text NOT NULL DEFAULT 'open'
                         CONSTRAINT conversations_status_check
                         CHECK (status IN ('open', 'closed', 'snoozed')),
    snoozed_until        timestamptz,
    assigned_to_user_id  uuid
                         REFERENCES liauto.users (id) ON DELETE SET NULL,
    unread_count         integer NOT NULL DEFAULT 0
                         CONSTRAINT conversations_unread_count_check
                         CHECK (unread_count >= 0),
    last_message_at      timestamptz,
    last_inbound_at      timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT conversations_id_client_key UNIQUE (id, client_id),
    CONSTRAINT conversations_chat_key
        UNIQUE (client_id, channel, external_chat_id),
    CONSTRAINT conversations_account_fkey
        FOREIGN KEY (account_id, client_id)
        REFERENCES liauto.linkedin_accounts (id, client_id)
        ON DELETE SET NULL (account_id),
    CONSTRAINT conversations_lead_fkey
        FOREIGN KEY (lead_id, client_id)
        REFERENCES liauto.leads (id, client_id)
        ON DELETE SET NULL (lead_id),
    CONSTRAINT conversations_campaign_fkey
        FOREIGN KEY (campaign_id, client_id)
        REFERENCES liauto.campaigns (id, client_id)
        ON DELETE SET NULL (campaign_id),
    CONSTRAINT conversations_snooze_check
        CHECK ((status = 'snoozed') = (snoozed_until IS NOT NULL))
);

COMMENT ON TABLE liauto.conversations IS
    'One per Unipile chat of a client (seed §9). unread_count and '
    'last_message_at are only changed by liauto.record_message and the '
    'inbox API, in the transaction that stores or reads the message.';
COMMENT ON COLUMN liauto.conversations.external_chat_id IS
    'Unipile chat_id; unique per client and channel, so two tenants that '
    'happen to share a chat each have their own conversation.';

CREATE INDEX conversations_client_updated_idx
    ON liauto.conversations (client_id, updated_at DESC, id);
CREATE INDEX conversations_client_last_message_idx
    ON liauto.conversations (client_id, last_message_at DESC, id);
CREATE INDEX conversations_assignee_idx
    ON liauto.conversations (assigned_to_user_id, status)
    WHERE assigned_to_user_id IS NOT NULL;
CREATE INDEX conversations_lead_idx
    ON liauto.conversations (lead_id) WHERE lead_id IS NOT NULL;


CREATE TABLE liauto.messages (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id            uuid NOT NULL,
    conversation_id      uuid NOT NULL,
    channel              text NOT NULL DEFAULT 'linkedin',
    direction            text NOT NULL
                         CONSTRAINT messages_direction_check
                         CHECK (direction IN ('inbound', 'outbound')),
    status               text NOT NULL DEFAULT 'received'
                         CONSTRAINT messages_status_check
                         CHECK (status IN ('received', 'queued', 'sent',
                                           'failed')),
    error                text,
    sender_name          text,
    sender_external_id   text,
    text                 text NOT NULL DEFAULT '',
    html                 text,
    attachments          jsonb NOT NULL DEFAULT '[]'
                         CONSTRAINT messages_attachments_check
                         CHECK (jsonb_typeof(attachments) = 'array'),
    external_message_id  text
                         CONSTRAINT messages_external_message_id_check
                         CHECK (length(external_message_id)
                                BETWEEN 1 AND 512),
    author_user_id       uuid
                         REFERENCES liauto.users (id) ON DELETE SET NULL,
    action_id            uuid,
    sent_at              timestamptz,
    received_at          timestamptz NOT NULL DEFAULT now(),
    read_at              timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    search               tsvector
                         GENERATED ALWAYS AS
                         (to_tsvector('simple', text)) STORED,

    CONSTRAINT messages_conversation_fkey
        FOREIGN KEY (conversation_id, client_id)
        REFERENCES liauto.conversations (id, client_id) ON DELETE CASCADE,
    CONSTRAINT messages_direction_status_check
        CHECK ((direction = 'inbound') = (status = 'received')),
    CONSTRAINT messages_failed_check
        CHECK (status <> 'failed' OR error IS NOT NULL)
);

COMMENT ON TABLE liauto.messages IS
    'Every message of a conversation, both directions. An outbound reply '
    'typed in the inbox is queued here and in the outbox (action_id) and '
    'becomes sent or failed with the worker''s outcome.';
COMMENT ON COLUMN liauto.messages.search IS
    'Full-text search over the text (''simple'' configuration: names and '
    'words of any language are matched as written, without stemming).';

-- Idempotency on (channel, external id), per client (seed §9): webhook
-- retries, polling and the echo of our own sends store a message once.
CREATE UNIQUE INDEX messages_external_key
    ON liauto.messages (client_id, channel, external_message_id);
CREATE INDEX messages_conversation_sent_idx
    ON liauto.messages (conversation_id, sent_at, id);
CREATE INDEX messages_search_idx
    ON liauto.messages USING gin (search);


CREATE TABLE liauto.participants (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id            uuid NOT NULL,
    conversation_id      uuid NOT NULL,
    role                 text NOT NULL
                         CONSTRAINT participants_role_check
                         CHECK (role IN ('attendee', 'agent')),
    display_name         text,
    provider_id          text NOT NULL
                         CONSTRAINT participants_provider_id_check
                         CHECK (length(provider_id) BETWEEN 1 AND 512),
    public_identifier    text,
    member_id            text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT participants_conversation_fkey
        FOREIGN KEY (conversation_id, client_id)
        REFERENCES liauto.conversations (id, client_id) ON DELETE CASCADE,
    CONSTRAINT participants_conversation_provider_key
        UNIQUE (conversation_id, provider_id)
);

COMMENT ON TABLE liauto.participants IS
    'People in a conversation: the lead (attendee) and our own account '
    '(agent), with the identifiers known for them (seed §9 '
    'external_ids_json, as columns so chat-participant matching can use '
    'an index).';

CREATE INDEX participants_provider_idx
    ON liauto.participants (client_id, provider_id);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['conversations', 'messages', 'participants']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON liauto.%I '
                       'FOR EACH ROW '
                       'EXECUTE FUNCTION liauto.touch_updated_at()',
                       t || '_touch_updated_at', t);
    END LOOP;
END;
$$;


-- Upserts one participant; identifiers already known are kept.
CREATE FUNCTION liauto.upsert_participant(p_client_id uuid,
                                          p_conversation_id uuid,
                                          p_role text, p_person jsonb)
RETURNS void
LANGUAGE sql
AS $$
    INSERT INTO liauto.participants AS p
           (client_id, conversation_id, role, provider_id, display_name,
            public_identifier, member_id)
    SELECT p_client_id, p_conversation_id, p_role,
           p_person->>'provider_id', p_person->>'name',
           p_person->>'public_identifier', p_person->>'member_id'
     WHERE nullif(p_person->>'provider_id', '') IS NOT NULL
    ON CONFLICT (conversation_id, provider_id) DO UPDATE
       SET display_name = coalesce(EXCLUDED.display_name, p.display_name),
           public_identifier = coalesce(p.public_identifier,
                                        EXCLUDED.public_identifier),
           member_id = coalesce(p.member_id, EXCLUDED.member_id)
     WHERE (p.display_name, p.public_identifier, p.member_id)
           IS DISTINCT FROM
           (coalesce(EXCLUDED.display_name, p.display_name),
            coalesce(p.public_identifier, EXCLUDED.public_identifier),
            coalesce(p.member_id, EXCLUDED.member_id));
$$;


-- The conversation of (client, chat), created on first sight and linked
-- to its lead as soon as one is known.
CREATE FUNCTION liauto.upsert_conversation(p_client_id uuid,
                                           p_account_id uuid,
                                           p_chat_id text, p_lead_id uuid)
RETURNS uuid
LANGUAGE plpgsql
AS $$
DECLARE
    v_id  uuid;
BEGIN
    INSERT INTO liauto.conversations AS c
           (client_id, account_id, external_chat_id, lead_id, campaign_id)
    SELECT p_client_id, p_account_id, p_chat_id, p_lead_id,
           (SELECT l.campaign_id FROM liauto.leads l
             WHERE l.id = p_lead_id AND l.client_id = p_client_id)
    ON CONFLICT (client_id, channel, external_chat_id) DO UPDATE
       SET lead_id = EXCLUDED.lead_id,
           campaign_id = EXCLUDED.campaign_id
     WHERE c.lead_id IS NULL AND EXCLUDED.lead_id IS NOT NULL
    RETURNING id INTO v_id;

    IF v_id IS NULL THEN
        SELECT c.id INTO v_id
          FROM liauto.conversations c
         WHERE c.client_id = p_client_id AND c.channel = 'linkedin'
           AND c.external_chat_id = p_chat_id;
    END IF;
    RETURN v_id;
END;
$$;


-- An outbound message we queued ourselves comes back from Unipile (the
-- send's answer, or its webhook echo, whichever is first): adopt the
-- queued row instead of storing the message twice.
CREATE FUNCTION liauto.adopt_queued_message(p_conversation_id uuid,
                                            p_external_message_id text,
                                            p_text text)
RETURNS uuid
LANGUAGE sql
AS $$
    UPDATE liauto.messages m
       SET external_message_id = p_external_message_id,
           status = 'sent',
           sent_at = coalesce(m.sent_at, liauto.now())
     WHERE m.id = (SELECT q.id FROM liauto.messages q
                    WHERE q.conversation_id = p_conversation_id
                      AND q.direction = 'outbound'
                      AND q.external_message_id IS NULL
                      AND q.status IN ('queued', 'sent')
                      AND q.text = p_text
                    ORDER BY q.created_at
                    LIMIT 1
                      FOR UPDATE)
    RETURNING m.id;
$$;


-- Threads one message into the inbox.  p_message:
--   {"external_message_id", "direction": "inbound"|"outbound", "text",
--    "sent_at", "sender": {"provider_id", "name", ...},
--    "attendees": [{"provider_id", "name", "public_identifier",
--                   "member_id"}], "attachments": [...]}
-- Returns {"conversation_id", "message_id", "inserted": bool}; a message
-- already stored (same client, channel and external id) changes nothing.
CREATE FUNCTION liauto.record_message(p_client_id uuid, p_account_id uuid,
                                      p_chat_id text, p_lead_id uuid,
                                      p_message jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    v_conversation  uuid;
    v_message       uuid;
    v_inbound       boolean := p_message->>'direction' = 'inbound';
    v_sent_at       timestamptz := coalesce((p_message->>'sent_at')::timestamptz,
                                            liauto.now());
    v_person        jsonb;
BEGIN
    v_conversation := liauto.upsert_conversation(p_client_id, p_account_id,
                                                 p_chat_id, p_lead_id);

    FOR v_person IN
        SELECT a FROM jsonb_array_elements(
                   coalesce(p_message->'attendees', '[]')) a
    LOOP
        PERFORM liauto.upsert_participant(p_client_id, v_conversation,
                                          'attendee', v_person);
    END LOOP;

    SELECT m.id INTO v_message
      FROM liauto.messages m
     WHERE m.client_id = p_client_id AND m.channel = 'linkedin'
       AND m.external_message_id = p_message->>'external_message_id';
    IF FOUND THEN
        RETURN jsonb_build_object('conversation_id', v_conversation,
                                  'message_id', v_message,
                                  'inserted', false);
    END IF;

    IF NOT v_inbound THEN
        v_message := liauto.adopt_queued_message(
            v_conversation, p_message->>'external_message_id',
            coalesce(p_message->>'text', ''));
        IF v_message IS NOT NULL THEN
            RETURN jsonb_build_object('conversation_id', v_conversation,
                                      'message_id', v_message,
                                      'inserted', false);
        END IF;
    END IF;

    INSERT INTO liauto.messages
           (client_id, conversation_id, direction, status, sender_name,
            sender_external_id, text, attachments, external_message_id,
            sent_at)
    VALUES (p_client_id, v_conversation,
            p_message->>'direction',
            CASE WHEN v_inbound THEN 'received' ELSE 'sent' END,
            p_message->'sender'->>'name',
            p_message->'sender'->>'provider_id',
            coalesce(p_message->>'text', ''),
            coalesce(p_message->'attachments', '[]'),
            p_message->>'external_message_id', v_sent_at)
    ON CONFLICT (client_id, channel, external_message_id) DO NOTHING
    RETURNING id INTO v_message;

    IF v_message IS NULL THEN       -- a concurrent path stored it first
        SELECT m.id INTO v_message
          FROM liauto.messages m
         WHERE m.client_id = p_client_id AND m.channel = 'linkedin'
           AND m.external_message_id = p_message->>'external_message_id';
        RETURN jsonb_build_object('conversation_id', v_conversation,
                                  'message_id', v_message,
                                  'inserted', false);
    END IF;

    -- an inbound message reopens a closed or snoozed conversation
    UPDATE liauto.conversations c
       SET unread_count = c.unread_count + CASE WHEN v_inbound THEN 1
                                                ELSE 0 END,
           last_message_at = greatest(c.last_message_at, v_sent_at),
           last_inbound_at = CASE WHEN v_inbound
                                  THEN greatest(c.last_inbound_at, v_sent_at)
                                  ELSE c.last_inbound_at END,
           status = CASE WHEN v_inbound THEN 'open' ELSE c.status END,
           snoozed_until = CASE WHEN v_inbound THEN NULL
                                ELSE c.snoozed_until END
     WHERE c.id = v_conversation;

    RETURN jsonb_build_object('conversation_id', v_conversation,
                              'message_id', v_message, 'inserted', true);
END;
$$;

COMMENT ON FUNCTION liauto.record_message(uuid, uuid, text, uuid, jsonb) IS
    'Threads a message (webhook, poll or own send) into its conversation, '
    'once per (client, channel, external_message_id); inbound ones bump '
    'unread_count and reopen the conversation, all in one transaction.';
