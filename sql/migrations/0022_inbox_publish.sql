-- 0022_inbox_publish: the inbox tables tell the realtime stream (0021)
-- what changed, whoever changed them: webhook processing and polling
-- (liauto.record_message), the inbox API (0019) and the worker's replies.
--
--   message.created       a message stored (either direction, a queued
--                         reply included)
--   message.updated       a message's status changed (queued -> sent |
--                         failed, or its error while it waits)
--   conversation.updated  status, snooze, assignee, unread count, last
--                         message, lead or chat of a conversation changed
--
-- Each event carries the conversation's assignee, so the stream shows it
-- to agents only when it is theirs or unassigned; a conversation taken
-- away from an agent is also told to that agent (one event with the old
-- assignee), so its page drops it.

CREATE FUNCTION liauto.message_event_data(m liauto.messages) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'message_id', m.id,
        'direction', m.direction,
        'status', m.status,
        'error', m.error,
        'text', left(m.text, 200))
$$;

COMMENT ON FUNCTION liauto.message_event_data(liauto.messages) IS
    'The data of a message event: ids, direction, status, error and the '
    'first 200 characters of the text (a preview; the page reads the '
    'thread from the API).';

CREATE FUNCTION liauto.publish_message_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM liauto.publish_inbox_event(
        NEW.client_id,
        CASE TG_OP WHEN 'INSERT' THEN 'message.created'
                   ELSE 'message.updated' END,
        NEW.conversation_id,
        (SELECT c.assigned_to_user_id FROM liauto.conversations AS c
         WHERE c.id = NEW.conversation_id),
        liauto.message_event_data(NEW));
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION liauto.publish_message_event() IS
    'message.created / message.updated for the row, with its '
    'conversation''s assignee.';

CREATE TRIGGER messages_publish_created
    AFTER INSERT ON liauto.messages
    FOR EACH ROW EXECUTE FUNCTION liauto.publish_message_event();

CREATE TRIGGER messages_publish_updated
    AFTER UPDATE OF status, error ON liauto.messages
    FOR EACH ROW
    WHEN ((OLD.status, OLD.error) IS DISTINCT FROM (NEW.status, NEW.error))
    EXECUTE FUNCTION liauto.publish_message_event();

CREATE FUNCTION liauto.publish_conversation_event() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_data  jsonb := jsonb_build_object(
        'status', liauto.conversation_status(NEW.status, NEW.snoozed_until),
        'snoozed_until', api.ts(NEW.snoozed_until),
        'assigned_to_user_id', NEW.assigned_to_user_id,
        'unread_count', NEW.unread_count,
        'last_message_at', api.ts(NEW.last_message_at));
BEGIN
    PERFORM liauto.publish_inbox_event(NEW.client_id, 'conversation.updated',
                                       NEW.id, NEW.assigned_to_user_id,
                                       v_data);
    IF OLD.assigned_to_user_id IS NOT NULL
       AND OLD.assigned_to_user_id IS DISTINCT FROM NEW.assigned_to_user_id
    THEN
        PERFORM liauto.publish_inbox_event(
            NEW.client_id, 'conversation.updated', NEW.id,
            OLD.assigned_to_user_id, v_data);
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION liauto.publish_conversation_event() IS
    'conversation.updated with the new state, for the new assignee (and '
    'once more for the previous one when it changed).';

CREATE TRIGGER conversations_publish_updated
    AFTER UPDATE ON liauto.conversations
    FOR EACH ROW
    WHEN ((OLD.status, OLD.snoozed_until, OLD.assigned_to_user_id,
           OLD.unread_count, OLD.last_message_at, OLD.lead_id,
           OLD.external_chat_id)
          IS DISTINCT FROM
          (NEW.status, NEW.snoozed_until, NEW.assigned_to_user_id,
           NEW.unread_count, NEW.last_message_at, NEW.lead_id,
           NEW.external_chat_id))
    EXECUTE FUNCTION liauto.publish_conversation_event();
