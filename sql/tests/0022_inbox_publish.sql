-- The inbox tables publish their changes to the stream (migration 0022):
-- a threaded message, a queued reply and its outcome, reads and
-- assignments become events of the right client and assignee, and
-- another client's stream (liauto.inbox_events_after) sees none of them.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(8);

SET LOCAL timezone = 'UTC';
SELECT liauto.set_clock('2026-11-24 10:00Z');

\ir lib/api_calls.sql

INSERT INTO liauto.clients (id, name)
VALUES ((pg_temp.agent_a() ->> 'client_id')::uuid, 'publish A'),
       ((pg_temp.agent_b() ->> 'client_id')::uuid, 'publish B');
INSERT INTO liauto.users (id, client_id, email, password_hash, role)
VALUES ((pg_temp.agent_a() ->> 'sub')::uuid,
        (pg_temp.agent_a() ->> 'client_id')::uuid, 'a@publish.test',
        '$2a$06$' || repeat('x', 53), 'agent');
INSERT INTO liauto.linkedin_accounts (id, client_id, name,
                                      unipile_account_id)
VALUES ('00000000-0000-0000-0022-00000000000a',
        (pg_temp.agent_a() ->> 'client_id')::uuid, 'A', 'publish-a');

CREATE TEMP TABLE seen AS SELECT liauto.inbox_last_event_id() AS id;

-- What A's agent and B's agent would be streamed since the mark.
CREATE FUNCTION pg_temp.events(p_caller jsonb) RETURNS text[]
LANGUAGE sql AS $$
    SELECT coalesce(array_agg(e.type || coalesce(':' || (e.event::jsonb
                        #>> '{data,status}'), '') ORDER BY e.id), '{}')
    FROM liauto.inbox_events_after((SELECT id FROM seen),
                                   (p_caller ->> 'client_id')::uuid,
                                   (p_caller ->> 'sub')::uuid, 100) AS e
$$;

CREATE FUNCTION pg_temp.mark() RETURNS void LANGUAGE sql AS $$
    UPDATE seen SET id = liauto.inbox_last_event_id()
$$;

SELECT liauto.record_message(
    (pg_temp.agent_a() ->> 'client_id')::uuid,
    '00000000-0000-0000-0022-00000000000a', 'chat-p', NULL,
    '{"external_message_id": "p1", "direction": "inbound",
      "text": "Hello", "sent_at": "2026-11-24T09:00:00Z",
      "attendees": [{"provider_id": "ACoAAp"}]}');
SELECT is(pg_temp.events(pg_temp.agent_a()),
          '{message.created:received,conversation.updated:open}',
          'a threaded inbound message: message.created, conversation.updated');
SELECT is(pg_temp.events(pg_temp.agent_b()), '{}',
          'another client''s stream sees nothing of it');
SELECT is((SELECT e.event::jsonb #>> '{data,text}'
           FROM liauto.inbox_events_after((SELECT id FROM seen), NULL,
                                          NULL, 1) AS e),
          'Hello', 'the event carries a preview of the text');

SELECT pg_temp.mark();
SELECT pg_temp.call('api.inbox_reply', pg_temp.agent_a(),
    ARRAY[(SELECT id::text FROM liauto.conversations
           WHERE external_chat_id = 'chat-p')], '{}', '{"text": "Hi!"}');
SELECT is(pg_temp.events(pg_temp.agent_a()),
          '{message.created:queued,conversation.updated:open}',
          'a queued reply: message.created (queued)');

SELECT pg_temp.mark();
UPDATE liauto.actions SET status = 'sent', external_id = 'p2'
WHERE kind = 'reply';
SELECT is(pg_temp.events(pg_temp.agent_a()), '{message.updated:sent}',
          'its outcome: message.updated (sent)');

SELECT pg_temp.mark();
SELECT pg_temp.call('api.inbox_assign', pg_temp.agent_a(),
    ARRAY[(SELECT id::text FROM liauto.conversations
           WHERE external_chat_id = 'chat-p')], '{}',
    jsonb_build_object('user_id', pg_temp.agent_a() ->> 'sub'));
SELECT is((SELECT e.assignee_id FROM liauto.inbox_events_after(
               (SELECT id FROM seen), NULL, NULL, 10) AS e),
          (pg_temp.agent_a() ->> 'sub')::uuid,
          'an assignment: conversation.updated for the new assignee');

SELECT pg_temp.mark();
SELECT pg_temp.call('api.inbox_assign', pg_temp.agent_a(),
    ARRAY[(SELECT id::text FROM liauto.conversations
           WHERE external_chat_id = 'chat-p')], '{}', '{"user_id": null}');
SELECT is((SELECT array_agg(e.assignee_id::text ORDER BY e.id)
           FROM liauto.inbox_events_after((SELECT id FROM seen), NULL, NULL,
                                          10) AS e),
          ARRAY[NULL, pg_temp.agent_a() ->> 'sub'],
          'unassigned: told to everyone and to the agent it was taken from');

SELECT pg_temp.mark();
SELECT pg_temp.call('api.inbox_read', pg_temp.agent_a(),
    ARRAY[(SELECT id::text FROM liauto.conversations
           WHERE external_chat_id = 'chat-p')]);
SELECT is((SELECT array_agg((e.event::jsonb #>> '{data,unread_count}')
                            ORDER BY e.id)
           FROM liauto.inbox_events_after((SELECT id FROM seen), NULL, NULL,
                                          10) AS e),
          '{0}', 'read: conversation.updated with unread_count 0');

SELECT * FROM finish();
ROLLBACK;
