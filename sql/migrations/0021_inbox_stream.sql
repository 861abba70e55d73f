-- 0021_inbox_stream: the events behind GET /api/v1/inbox/stream (SSE).
--
-- Whoever changes a conversation or a message calls
-- liauto.publish_inbox_event(); it stores the event and sends
--   NOTIFY liauto_inbox, '{"id":..,"client_id":..,"type":..,
--                          "conversation_id":..,"assignee_id":..,
--                          "data":{..},"created_at":".."}'
-- Every nginx worker LISTENs on one connection and fans the event out to
-- its subscribers; a subscriber that comes back with Last-Event-ID, and a
-- worker whose LISTEN connection dropped, read what they missed from
-- liauto.inbox_events by id (liauto.inbox_events_after).
--
-- Ids are handed out in commit order (publish_inbox_event serializes
-- publishers until their commit), so "everything after id N" is exact:
-- no event can commit later with a smaller id and be skipped by a reader
-- that has already seen N.

CREATE TABLE liauto.inbox_events (
    id               bigserial PRIMARY KEY,
    client_id        uuid NOT NULL
                     REFERENCES liauto.clients (id) ON DELETE CASCADE,
    type             text NOT NULL
                     CONSTRAINT inbox_events_type_check
                     CHECK (type ~ '^[a-z_]+(\.[a-z_]+)*$'),
    conversation_id  uuid,
    assignee_id      uuid,
    payload          jsonb NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT liauto.now()
);

COMMENT ON TABLE liauto.inbox_events IS
    'Inbox changes as the realtime stream sends them (SSE id = id). Kept '
    'for Last-Event-ID resume and for nginx workers catching up after a '
    'lost LISTEN connection; rows older than 24 hours may be pruned '
    '(liauto.prune_inbox_events). The type is one SSE "event:" word, '
    'e.g. message.created or conversation.updated.';

-- replay of one tenant after an id
CREATE INDEX inbox_events_client_idx ON liauto.inbox_events (client_id, id);
-- pruning
CREATE INDEX inbox_events_created_idx ON liauto.inbox_events (created_at);


-- The event as the stream's "data:" line: one line of JSON, the same text
-- in the notification and in a replay.
CREATE FUNCTION liauto.inbox_event_json(p_event liauto.inbox_events)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', p_event.id,
        'client_id', p_event.client_id,
        'type', p_event.type,
        'conversation_id', p_event.conversation_id,
        'assignee_id', p_event.assignee_id,
        'data', p_event.payload,
        'created_at', api.ts(p_event.created_at))
$$;


-- The NOTIFY payload: the event, or, over what a notification may carry
-- (8000 bytes), the event without "data" and with "truncated": true; the
-- listeners then read it from the table.
CREATE FUNCTION liauto.inbox_notification(p_event liauto.inbox_events)
RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN octet_length(j::text) <= 7900 THEN j::text
                ELSE (j - 'data' || '{"truncated": true}')::text END
    FROM liauto.inbox_event_json(p_event) j
$$;


CREATE FUNCTION liauto.publish_inbox_event(p_client_id uuid, p_type text,
    p_conversation_id uuid, p_assignee_id uuid, p_data jsonb)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_event  liauto.inbox_events;
BEGIN
    -- Held until commit: a later publisher gets a larger id and commits
    -- after this one, so readers may resume "after id N" without a gap.
    -- Publishing is the last step of short transactions; the lock is not
    -- taken by anything else.
    PERFORM pg_advisory_xact_lock(
                hashtextextended('liauto.inbox_events', 0));

    INSERT INTO liauto.inbox_events (client_id, type, conversation_id,
                                     assignee_id, payload)
    VALUES (p_client_id, p_type, p_conversation_id, p_assignee_id,
            coalesce(p_data, '{}'))
    RETURNING * INTO v_event;

    PERFORM pg_notify('liauto_inbox', liauto.inbox_notification(v_event));

    RETURN v_event.id;
END
$$;

COMMENT ON FUNCTION liauto.publish_inbox_event(uuid, text, uuid, uuid,
                                               jsonb) IS
    'Stores an inbox event and NOTIFYs liauto_inbox with it (without '
    '"data" and with "truncated": true when over 7900 bytes). Returns its '
    'id. Serializes publishers until commit so ids follow commit order.';


-- What a reader missed: events after p_after, oldest first, at most
-- p_limit. A NULL client is every client (admins, nginx's catch-up); an
-- assignee keeps only its own and unassigned conversations (agents).
CREATE FUNCTION liauto.inbox_events_after(p_after bigint, p_client_id uuid,
    p_assignee_id uuid, p_limit integer)
RETURNS TABLE (id bigint, client_id uuid, assignee_id uuid, type text,
               event text)
LANGUAGE sql STABLE AS $$
    SELECT e.id, e.client_id, e.assignee_id, e.type,
           liauto.inbox_event_json(e)::text
    FROM liauto.inbox_events e
    WHERE e.id > p_after
      AND (p_client_id IS NULL OR e.client_id = p_client_id)
      AND (p_assignee_id IS NULL OR e.assignee_id IS NULL
           OR e.assignee_id = p_assignee_id)
    ORDER BY e.id
    LIMIT p_limit
$$;


-- Where a new listener starts: the newest event already committed.
CREATE FUNCTION liauto.inbox_last_event_id() RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce(max(id), 0) FROM liauto.inbox_events
$$;


-- Retention: events older than 24 hours serve no resume any more (a
-- client away that long reloads its lists). Returns how many went.
CREATE FUNCTION liauto.prune_inbox_events() RETURNS bigint
LANGUAGE sql AS $$
    WITH gone AS (
        DELETE FROM liauto.inbox_events
        WHERE created_at < liauto.now() - interval '24 hours'
        RETURNING 1)
    SELECT count(*) FROM gone
$$;
