-- The inbox tables and liauto.record_message (migration 0016): threading
-- of both directions into one conversation in order, idempotency per
-- (client, channel, external id), unread/last_message bookkeeping, the
-- queued reply adopted by its echo, participants, tenant separation.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(27);

SET LOCAL timezone = 'UTC';
SELECT liauto.set_clock('2026-11-24 10:00Z');

CREATE FUNCTION pg_temp.id(p_kind text, p_n integer) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$
    SELECT ('00000000-0000-0000-0016-' || p_kind
            || lpad(p_n::text, 12 - length(p_kind), '0'))::uuid
$$;

INSERT INTO liauto.clients (id, name)
VALUES (pg_temp.id('c', 1), 'inbox A'), (pg_temp.id('c', 2), 'inbox B');
INSERT INTO liauto.linkedin_accounts (id, client_id, name, unipile_account_id)
VALUES (pg_temp.id('a', 1), pg_temp.id('c', 1), 'A', 'inbox-acc-1'),
       (pg_temp.id('a', 2), pg_temp.id('c', 2), 'B', 'inbox-acc-2');
INSERT INTO liauto.campaigns (id, client_id, linkedin_account_id, name)
VALUES (pg_temp.id('ca', 1), pg_temp.id('c', 1), pg_temp.id('a', 1), 'A1');
INSERT INTO liauto.leads (id, client_id, campaign_id, provider_id)
VALUES (pg_temp.id('e', 1), pg_temp.id('c', 1), pg_temp.id('ca', 1),
        'ACoAAlead1');

CREATE FUNCTION pg_temp.msg(p_client integer, p_chat text, p_lead uuid,
                            p_ext text, p_dir text, p_text text,
                            p_at text) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT liauto.record_message(
        pg_temp.id('c', p_client), pg_temp.id('a', p_client), p_chat, p_lead,
        jsonb_build_object(
            'external_message_id', p_ext, 'direction', p_dir,
            'text', p_text, 'sent_at', p_at,
            'sender', jsonb_build_object(
                'provider_id', CASE p_dir WHEN 'inbound' THEN 'ACoAAlead1'
                                          ELSE 'ACoAAme' END,
                'name', CASE p_dir WHEN 'inbound' THEN 'Lea Lead'
                                   ELSE 'Our Sender' END),
            'attendees', '[{"provider_id": "ACoAAlead1", "name": "Lea Lead",
                            "public_identifier": "lea-lead"}]'::jsonb))
$$;

-- Three messages of one chat, delivered out of order, one of them twice.
SELECT is((pg_temp.msg(1, 'chat-1', pg_temp.id('e', 1), 'm2', 'inbound',
                       'Sounds good', '2026-11-24T09:05:00Z'))->>'inserted',
          'true', 'a new inbound message is inserted');
SELECT is((pg_temp.msg(1, 'chat-1', NULL, 'm1', 'outbound',
                       'Hello Lea', '2026-11-24T09:00:00Z'))->>'inserted',
          'true', 'an outbound message of the same chat is inserted');
SELECT is((pg_temp.msg(1, 'chat-1', NULL, 'm2', 'inbound',
                       'Sounds good', '2026-11-24T09:05:00Z'))->>'inserted',
          'false', 'a duplicate delivery inserts nothing');
SELECT is((pg_temp.msg(1, 'chat-1', NULL, 'm3', 'inbound',
                       'Call me', '2026-11-24T09:07:00Z'))->>'inserted',
          'true', 'a later inbound message is inserted');

SELECT is(count(*)::int, 1, 'one conversation for the chat')
  FROM liauto.conversations WHERE client_id = pg_temp.id('c', 1);
SELECT results_eq(
    $$SELECT m.external_message_id, m.direction, m.status
        FROM liauto.messages m
        JOIN liauto.conversations c ON c.id = m.conversation_id
       WHERE c.external_chat_id = 'chat-1'
       ORDER BY m.sent_at, m.id$$,
    $$VALUES ('m1', 'outbound', 'sent'), ('m2', 'inbound', 'received'),
             ('m3', 'inbound', 'received')$$,
    'both directions threaded in order, duplicates ignored');
SELECT results_eq(
    $$SELECT unread_count, last_message_at, last_inbound_at, lead_id,
             campaign_id, status
        FROM liauto.conversations WHERE external_chat_id = 'chat-1'$$,
    $$VALUES (2, '2026-11-24 09:07Z'::timestamptz,
              '2026-11-24 09:07Z'::timestamptz, pg_temp.id('e', 1),
              pg_temp.id('ca', 1), 'open')$$,
    'unread counts inbound only; last_message_at is the latest; the lead '
    'and its campaign are linked from the first message that knew them');
SELECT results_eq(
    $$SELECT role, provider_id, display_name, public_identifier
        FROM liauto.participants p
        JOIN liauto.conversations c ON c.id = p.conversation_id
       WHERE c.external_chat_id = 'chat-1'$$,
    $$VALUES ('attendee', 'ACoAAlead1', 'Lea Lead', 'lea-lead')$$,
    'the attendee is one participant however many messages name it');

-- An older message arriving late keeps last_message_at.
SELECT pg_temp.msg(1, 'chat-1', NULL, 'm0', 'outbound', 'Invite note',
                   '2026-11-24T08:00:00Z');
SELECT is(last_message_at, '2026-11-24 09:07Z'::timestamptz,
          'a late older message does not move last_message_at back')
  FROM liauto.conversations WHERE external_chat_id = 'chat-1';

-- Closed or snoozed conversations reopen on an inbound message only.
UPDATE liauto.conversations SET status = 'closed'
 WHERE external_chat_id = 'chat-1';
SELECT pg_temp.msg(1, 'chat-1', NULL, 'm4', 'outbound', 'Bye',
                   '2026-11-24T09:10:00Z');
SELECT is(status, 'closed', 'an outbound message leaves it closed')
  FROM liauto.conversations WHERE external_chat_id = 'chat-1';
UPDATE liauto.conversations
   SET status = 'snoozed', snoozed_until = '2026-11-30Z'
 WHERE external_chat_id = 'chat-1';
SELECT pg_temp.msg(1, 'chat-1', NULL, 'm5', 'inbound', 'One more thing',
                   '2026-11-24T09:11:00Z');
SELECT results_eq(
    $$SELECT status, snoozed_until, unread_count
        FROM liauto.conversations WHERE external_chat_id = 'chat-1'$$,
    $$VALUES ('open', NULL::timestamptz, 3)$$,
    'an inbound message reopens a snoozed conversation and counts unread');

-- A reply queued from the inbox is adopted by its echo, not duplicated.
INSERT INTO liauto.messages (client_id, conversation_id, direction, status,
                             text)
SELECT client_id, id, 'outbound', 'queued', 'On my way'
  FROM liauto.conversations WHERE external_chat_id = 'chat-1';
SELECT is((pg_temp.msg(1, 'chat-1', NULL, 'm6', 'outbound', 'On my way',
                       '2026-11-24T09:12:00Z'))->>'inserted',
          'false', 'the echo of a queued reply inserts nothing');
SELECT results_eq(
    $$SELECT status, external_message_id FROM liauto.messages
       WHERE text = 'On my way'$$,
    $$VALUES ('sent', 'm6')$$,
    'the queued reply became sent with the external id of its echo');
SELECT is((pg_temp.msg(1, 'chat-1', NULL, 'm6', 'outbound', 'On my way',
                       '2026-11-24T09:12:00Z'))->>'inserted',
          'false', 'a second echo still inserts nothing');
SELECT is(count(*)::int, 1, 'exactly one row for the reply')
  FROM liauto.messages WHERE text = 'On my way';

-- Another tenant: same chat id and message id are its own rows.
SELECT is((pg_temp.msg(2, 'chat-1', NULL, 'm2', 'inbound',
                       'Tenant B text', '2026-11-24T09:05:00Z'))->>'inserted',
          'true', 'the same external ids in another client are new rows');
SELECT is(count(*)::int, 2, 'two conversations, one per client')
  FROM liauto.conversations WHERE external_chat_id = 'chat-1';
SELECT is(unread_count, 3, 'tenant B''s message does not touch A''s counts')
  FROM liauto.conversations
 WHERE client_id = pg_temp.id('c', 1) AND external_chat_id = 'chat-1';
SELECT is(m.text, 'Sounds good', 'A''s message m2 kept its own text')
  FROM liauto.messages m
 WHERE m.client_id = pg_temp.id('c', 1) AND m.external_message_id = 'm2';

-- Full-text search over message text.
SELECT is(count(*)::int, 1, 'full-text search finds the message')
  FROM liauto.messages
 WHERE client_id = pg_temp.id('c', 1)
   AND search @@ plainto_tsquery('simple', 'call');
SELECT is(count(*)::int, 0, 'and only with its words')
  FROM liauto.messages
 WHERE client_id = pg_temp.id('c', 1)
   AND search @@ plainto_tsquery('simple', 'tenant');

-- Constraints that keep the model honest.
SELECT throws_ok(
    $$INSERT INTO liauto.messages (client_id, conversation_id, direction,
                                   status, text)
      SELECT client_id, id, 'inbound', 'queued', 'x'
        FROM liauto.conversations WHERE external_chat_id = 'chat-1'
       LIMIT 1$$,
    '23514', NULL, 'an inbound message cannot be queued');
SELECT throws_ok(
    $$INSERT INTO liauto.messages (client_id, conversation_id, direction,
                                   status, text)
      SELECT client_id, id, 'outbound', 'failed', 'x'
        FROM liauto.conversations WHERE external_chat_id = 'chat-1'
       LIMIT 1$$,
    '23514', NULL, 'a failed message says why');
SELECT throws_ok(
    $$INSERT INTO liauto.messages (client_id, conversation_id, direction,
                                   text)
      SELECT pg_temp.id('c', 2), id, 'inbound', 'x'
        FROM liauto.conversations
       WHERE client_id = pg_temp.id('c', 1) LIMIT 1$$,
    '23503', NULL, 'a message cannot point at another client''s conversation');
SELECT throws_ok(
    $$UPDATE liauto.conversations SET status = 'snoozed'
       WHERE external_chat_id = 'chat-1'$$,
    '23514', NULL, 'a snoozed conversation has a snoozed_until');
SELECT throws_ok(
    $$UPDATE liauto.conversations SET unread_count = -1
       WHERE external_chat_id = 'chat-1'$$,
    '23514', NULL, 'unread_count never goes negative');
SELECT is(count(*)::int, 0,
          'a participant without a provider id is not stored')
  FROM (SELECT liauto.upsert_participant(
                   pg_temp.id('c', 1), c.id, 'attendee', '{"name": "x"}')
          FROM liauto.conversations c
         WHERE c.client_id = pg_temp.id('c', 1)) s
  JOIN liauto.participants p ON p.display_name = 'x';

SELECT * FROM finish();
ROLLBACK;
