-- Webhook processing (migration 0017): the payload variants seen in the
-- wild each reach the right lead or a recorded "unmatched", never another
-- tenant's lead; direction; the profile lookup round trip; new_relation
-- feeding the engine; a reply stopping the sequence (scheduled and
-- claimed); AccountStatus; unknown events; idempotency; the fallbacks'
-- SQL (polled messages, relation sync, conversation backfill, job
-- periods).
--
-- Two clients share one person, Jane (ACoAAjane / jane-doe): client A's
-- lead knows her provider id, client B's only her public identifier.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(81);

SET LOCAL timezone = 'UTC';
SELECT liauto.set_clock('2026-11-24 10:00Z');

CREATE FUNCTION pg_temp.id(p_kind text, p_n integer) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$
    SELECT ('00000000-0000-0000-0017-' || p_kind
            || lpad(p_n::text, 12 - length(p_kind), '0'))::uuid
$$;

INSERT INTO liauto.clients (id, name)
VALUES (pg_temp.id('c', 1), 'hooks A'), (pg_temp.id('c', 2), 'hooks B');
INSERT INTO liauto.linkedin_accounts
    (id, client_id, name, unipile_account_id, provider_user_id,
     spacing_min_seconds, spacing_max_seconds)
VALUES (pg_temp.id('a', 1), pg_temp.id('c', 1), 'A', 'acc-A', 'ACoAAownA',
        0, 0),
       (pg_temp.id('a', 2), pg_temp.id('c', 2), 'B', 'acc-B', NULL, 0, 0);
INSERT INTO liauto.campaigns
    (id, client_id, linkedin_account_id, name, status, sequence, started_at)
SELECT pg_temp.id('ca', n), pg_temp.id('c', n), pg_temp.id('a', n),
       'camp ' || n, 'active', '[
           {"type": "invite", "note": "Hi", "delay_days": 0},
           {"type": "message", "text": "Thanks", "delay_minutes": 0},
           {"type": "message", "text": "Bye", "delay_days": 2}]',
       '2026-11-23 09:00Z'
FROM generate_series(1, 2) AS n;

-- e1 Jane@A (provider id), e2 Jane@B (slug only), e3 Max@A (member id
-- only), e4 Ola@A (no ids but a chat), e5 Pia@A (invitation withdrawn)
INSERT INTO liauto.leads (id, client_id, campaign_id, first_name,
                          provider_id, public_identifier, member_id,
                          conversation_id, status, current_step,
                          last_step_sent_at)
VALUES
  (pg_temp.id('e', 1), pg_temp.id('c', 1), pg_temp.id('ca', 1), 'Jane',
   'ACoAAjane', NULL, NULL, NULL, 'invite_sent', 1, '2026-11-23 10:00Z'),
  (pg_temp.id('e', 2), pg_temp.id('c', 2), pg_temp.id('ca', 2), 'Jane',
   NULL, 'jane-doe', NULL, NULL, 'messaged', 2, '2026-11-23 10:00Z'),
  (pg_temp.id('e', 3), pg_temp.id('c', 1), pg_temp.id('ca', 1), 'Max',
   NULL, 'max-m', '4242', NULL, 'messaged', 2, '2026-11-23 10:00Z'),
  (pg_temp.id('e', 4), pg_temp.id('c', 1), pg_temp.id('ca', 1), 'Ola',
   NULL, 'ola-o', NULL, 'chat-ola', 'messaged', 2, '2026-11-23 10:00Z'),
  (pg_temp.id('e', 5), pg_temp.id('c', 1), pg_temp.id('ca', 1), 'Pia',
   'ACoAApia', NULL, NULL, NULL, 'withdrawn', 1, '2026-11-20 10:00Z');

-- a stored delivery, as the edge leaves it
CREATE FUNCTION pg_temp.deliver(p_source text, p_body jsonb) RETURNS uuid
LANGUAGE sql AS $$
    INSERT INTO liauto.webhook_events (source, delivery_key, body,
                                       received_at)
    VALUES (p_source, gen_random_uuid()::text, p_body::text, liauto.now())
    RETURNING id
$$;

-- the real capture of ref. §4.5, with the sender and chat varied
CREATE FUNCTION pg_temp.msg(p_account text, p_id text, p_sender jsonb,
                            p_extra jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE sql AS $$
    SELECT jsonb_build_object(
        'event', 'message_received', 'account_id', p_account,
        'account_type', 'LINKEDIN',
        'account_info', jsonb_build_object('type', 'LINKEDIN',
                                           'user_id', 'ACoAAown' ||
                                               right(p_account, 1)),
        'chat_id', 'chat-' || p_id, 'message_id', p_id,
        'message', 'text of ' || p_id, 'timestamp', '2026-11-24T09:43:27.002Z',
        'attendees', jsonb_build_array(p_sender), 'sender', p_sender,
        'attachments', '[]'::jsonb, 'is_sender', false) || p_extra
$$;

CREATE FUNCTION pg_temp.process(p_source text, p_body jsonb,
                                p_lookup jsonb DEFAULT NULL) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT webhooks.process_event(pg_temp.deliver(p_source, p_body),
                                  p_lookup)
$$;

CREATE FUNCTION pg_temp.events(p_lead integer, p_type text) RETURNS integer
LANGUAGE sql AS $$
    SELECT count(*)::integer FROM liauto.events
    WHERE lead_id = pg_temp.id('e', p_lead) AND type = p_type
$$;

CREATE FUNCTION pg_temp.status(p_lead integer) RETURNS text
LANGUAGE sql AS $$
    SELECT status FROM liauto.leads WHERE id = pg_temp.id('e', p_lead)
$$;

-- ---------------------------------------------------------------- relations

SELECT is(engine.plan_due(100), 0,
          'before acceptance the message step of Jane@A is not planned');

SELECT is(pg_temp.process('unipile_users', '{
              "event": "new_relation", "account_id": "acc-A",
              "account_type": "LINKEDIN", "webhook_name": "",
              "user_full_name": "Jane Doe",
              "user_provider_id": "ACoAAjane",
              "user_public_identifier": "jane-doe",
              "user_profile_url": "https://www.linkedin.com/in/jane-doe/"}'
          ) ->> 'outcome', 'processed', 'new_relation is processed');
SELECT is(pg_temp.status(1), 'connected', 'Jane@A is connected');
SELECT is(pg_temp.events(1, 'connection_accepted'), 1,
          'one connection_accepted event');
SELECT is((SELECT external_id FROM liauto.events
           WHERE lead_id = pg_temp.id('e', 1)
             AND type = 'connection_accepted'), 'ACoAAjane',
          'its external id is the relation''s provider id');
SELECT is((SELECT public_identifier FROM liauto.leads
           WHERE id = pg_temp.id('e', 1)), 'jane-doe',
          'the missing public identifier is filled');
SELECT is(pg_temp.status(2), 'messaged',
          'client B''s Jane is untouched by account A''s relation');
SELECT is(pg_temp.process('unipile_users', '{
              "event": "new_relation", "account_id": "acc-A",
              "user_provider_id": "ACoAAjane"}') ->> 'outcome',
          'duplicate', 'the same relation again is a duplicate');
SELECT is(pg_temp.events(1, 'connection_accepted'), 1,
          'still one connection_accepted event');
SELECT is(engine.plan_due(100), 1,
          'acceptance feeds the engine: the message step is planned');
SELECT results_eq(
    $$SELECT kind, step_index, status FROM liauto.actions
      WHERE lead_id = pg_temp.id('e', 1)$$,
    $$VALUES ('message', 1, 'scheduled')$$,
    'Jane@A''s first message is scheduled');

SELECT is(pg_temp.process('unipile_users', '{
              "event": "new_relation", "account_id": "acc-A",
              "user_provider_id": "ACoAApia"}') ->> 'outcome',
          'duplicate',
          'a relation with a lead whose invitation was withdrawn changes '
          'nothing');
SELECT is(pg_temp.status(5), 'withdrawn', 'Pia stays withdrawn');

SELECT is(pg_temp.process('unipile_users', '{
              "event": "new_relation", "account_id": "acc-A",
              "user_provider_id": "ACoAAnobody"}') ->> 'outcome',
          'needs_lookup',
          'a relation without public identifier matching no provider id '
          'asks for a profile lookup');
SELECT is(pg_temp.process('unipile_users', '{
              "event": "new_relation", "account_id": "acc-A",
              "user_provider_id": "ACoAAnobody"}', '{"not_found": true}')
          ->> 'outcome', 'unmatched',
          'and is unmatched when the lookup finds no lead');

-- ---------------------------------------------------------------- replies

-- a reply while the step is claimed: the claim is refused right before
-- the HTTP call
SELECT is((SELECT count(*)::integer
           FROM engine.claim_actions('w-test', 10, '2 minutes')
           WHERE lead_id = pg_temp.id('e', 1)), 1,
          'Jane@A''s message step is claimed');
SELECT is(pg_temp.process('unipile_messaging',
              pg_temp.msg('acc-A', 'm-jane-1', '{
                  "attendee_id": "C8zaRZTl", "attendee_provider_id":
                  "ACoAAjane", "attendee_name": "Jane Doe",
                  "attendee_public_identifier": null}')) ->> 'outcome',
          'processed', 'an inbound reply (real capture shape) is processed');
SELECT is(pg_temp.status(1), 'responded', 'Jane@A responded');
SELECT is(pg_temp.events(1, 'message_received'), 1,
          'one message_received event');
SELECT is(engine.check_before_send(x.id, x.claim_token), 'lead_responded',
          'the claimed step is refused before its send')
FROM liauto.actions AS x WHERE x.lead_id = pg_temp.id('e', 1);
SELECT is((SELECT conversation_id FROM liauto.leads
           WHERE id = pg_temp.id('e', 1)), 'chat-m-jane-1',
          'the lead learns its conversation');
SELECT results_eq(
    $$SELECT m.direction, m.text, c.lead_id
      FROM liauto.messages AS m
      JOIN liauto.conversations AS c ON c.id = m.conversation_id
      WHERE m.external_message_id = 'm-jane-1'$$,
    $$VALUES ('inbound', 'text of m-jane-1', pg_temp.id('e', 1))$$,
    'the reply is threaded in the inbox, linked to the lead');
SELECT is(pg_temp.status(2), 'messaged',
          'client B''s Jane is untouched by account A''s reply');

SELECT is(pg_temp.process('unipile_messaging',
              pg_temp.msg('acc-A', 'm-jane-1', '{
                  "attendee_provider_id": "ACoAAjane"}')) ->> 'outcome',
          'duplicate', 'a second copy of the reply is a duplicate');
SELECT is(pg_temp.events(1, 'message_received'), 1,
          'still one message_received event');

-- client B: the sender's provider id is unknown there, the lead has only
-- a public identifier; is_sender absent, the sender is not B's own user
SELECT is(pg_temp.process('unipile_messaging',
              pg_temp.msg('acc-B', 'm-jane-b', '{
                  "attendee_provider_id": "ACoAAjane"}') - 'is_sender'),
          '{"outcome": "needs_lookup", "account_id": "acc-B",
            "identifier": "ACoAAjane"}'::jsonb,
          'an unknown provider id asks for a profile lookup');
SELECT is((SELECT provider_user_id FROM liauto.linkedin_accounts
           WHERE id = pg_temp.id('a', 2)), 'ACoAAownB',
          'account B learns its own user id from account_info');
SELECT is(webhooks.process_event(
              (SELECT id FROM liauto.webhook_events
               WHERE outcome = 'needs_lookup'
                 AND body::jsonb ->> 'message_id' = 'm-jane-b'),
              '{"object": "UserProfile", "provider_id": "ACoAAjane",
                "public_identifier": "jane-doe", "member_urn": "555"}')
          ->> 'matched_by', 'public_identifier',
          'with the profile, client B''s Jane is matched by her slug');
SELECT is(pg_temp.status(2), 'responded', 'Jane@B responded');
SELECT results_eq(
    $$SELECT provider_id, member_id FROM liauto.leads
      WHERE id = pg_temp.id('e', 2)$$,
    $$VALUES ('ACoAAjane', '555')$$,
    'the lookup''s ids are backfilled on B''s lead');
SELECT is(pg_temp.events(1, 'message_received'), 1,
          'client A''s Jane got no event from B''s message');

-- identifiers under data.*, as URNs, as numeric member ids
SELECT is(pg_temp.process('unipile_messaging', jsonb_build_object(
              'data', pg_temp.msg('acc-A', 'm-max-1', '{
                  "attendee_provider_id": "urn:li:member:4242"}')))
          ->> 'matched_by', 'member_id',
          'a payload under data with a numeric member URN finds Max');
SELECT is(pg_temp.status(3), 'responded', 'Max responded');
SELECT is(pg_temp.process('unipile_messaging',
              pg_temp.msg('acc-A', 'm-max-2', '{
                  "attendee_provider_id": "ACoAAmax",
                  "attendee_specifics": {"member_urn":
                                         "urn:li:member:4242"}}'))
          ->> 'matched_by', 'member_id',
          'attendee_specifics.member_urn finds Max too');
SELECT is((SELECT provider_id FROM liauto.leads
           WHERE id = pg_temp.id('e', 3)), 'ACoAAmax',
          'and his provider id is backfilled');
SELECT is(pg_temp.process('unipile_messaging',
              pg_temp.msg('acc-A', 'm-max-3', '{
                  "attendee_provider_id": "urn:li:fsd_profile:ACoAAmax"}'))
          ->> 'matched_by', 'provider_id',
          'a profile URN is unwrapped to the provider id');
SELECT is(pg_temp.events(3, 'message_received'), 3,
          'one event per message id for Max');

-- the chat is the last resort: Ola's conversation_id
SELECT is(pg_temp.process('unipile_messaging',
              pg_temp.msg('acc-A', 'm-ola', '{
                  "attendee_provider_id": "ACoAAola"}',
                  '{"chat_id": "chat-ola"}'), '{"not_found": true}')
          ->> 'matched_by', 'conversation',
          'an unknown sender in the lead''s chat is matched by the chat');
SELECT is(pg_temp.status(4), 'responded', 'Ola responded');

-- direction
SELECT is(pg_temp.process('unipile_messaging',
              pg_temp.msg('acc-A', 'm-own-1', '{
                  "attendee_provider_id": "ACoAAownA"}',
                  '{"is_sender": true, "attendees":
                    [{"attendee_provider_id": "ACoAApia"}]}'))
          ->> 'direction', 'outbound', 'is_sender true is outbound');
SELECT is(pg_temp.events(5, 'message_received'), 0,
          'our own message is never a reply');
SELECT is(pg_temp.status(5), 'withdrawn',
          'the lead in attendees stays put');
SELECT results_eq(
    $$SELECT m.direction, c.lead_id FROM liauto.messages AS m
      JOIN liauto.conversations AS c ON c.id = m.conversation_id
      WHERE m.external_message_id = 'm-own-1'$$,
    $$VALUES ('outbound', pg_temp.id('e', 5))$$,
    'it is threaded as outbound with the attendee''s lead');
SELECT is(pg_temp.process('unipile_messaging',
              pg_temp.msg('acc-A', 'm-own-2', '{
                  "attendee_provider_id": "ACoAAownA"}') - 'is_sender')
          ->> 'direction', 'outbound',
          'is_sender absent and the sender is our own user: outbound');
INSERT INTO liauto.linkedin_accounts (client_id, name, unipile_account_id)
VALUES (pg_temp.id('c', 1), 'C', 'acc-C');
SELECT is(pg_temp.process('unipile_messaging',
              pg_temp.msg('acc-C', 'm-anon', '{
                  "attendee_provider_id": "ACoAAsomeone"}')
              - 'is_sender' - 'account_info', '{"not_found": true}')
          ->> 'direction', 'inbound',
          'is_sender absent and our own user unknown: inbound (a reply is '
          'never dropped for want of our id)');
SELECT is(pg_temp.process('unipile_messaging',
              pg_temp.msg('acc-A', 'm-pia', '{
                  "attendee_provider_id": "ACoAApia"}',
                  '{"is_sender": 0}')) ->> 'outcome', 'processed',
          'is_sender 0 (REST style) is inbound');
SELECT is(pg_temp.status(5), 'responded', 'Pia responded');

-- unmatched, never another tenant's lead
SELECT is(pg_temp.process('unipile_messaging',
              pg_temp.msg('acc-B', 'm-max-b', '{
                  "attendee_provider_id": "urn:li:member:4242"}'),
              '{"not_found": true}') ->> 'outcome', 'unmatched',
          'Max writing to client B''s account is unmatched there');
SELECT is((SELECT count(*)::integer FROM liauto.events AS e
           JOIN liauto.webhook_events AS w
             ON w.body::jsonb ->> 'message_id' = e.external_id
           WHERE w.body::jsonb ->> 'account_id' = 'acc-B'
             AND e.client_id = pg_temp.id('c', 1)), 0,
          'no event of client A comes from account B''s deliveries');
SELECT is(pg_temp.process('unipile_messaging',
              pg_temp.msg('acc-B', 'm-stranger', '{
                  "attendee_provider_id": "ACoAAstranger",
                  "attendee_public_identifier": "a-stranger"}'))
          ->> 'outcome', 'unmatched',
          'a sender whose public identifier is known is unmatched without '
          'spending a profile lookup');
SELECT is(pg_temp.process('unipile_messaging',
              pg_temp.msg('acc-Z', 'm-z', '{
                  "attendee_provider_id": "ACoAAjane"}')),
          '{"outcome": "unmatched", "reason": "unknown_account",
            "account_id": "acc-Z"}'::jsonb,
          'an unknown account is unmatched');
SELECT is((SELECT outcome FROM liauto.webhook_events
           WHERE body::jsonb ->> 'message_id' = 'm-max-b'), 'unmatched',
          'the outcome is recorded on the delivery');

-- the note chat: accepting an invitation that had a note opens a chat
-- holding it, and Unipile sends it back as our own message (ref. §1.6 b)
INSERT INTO liauto.leads (id, client_id, campaign_id, provider_id, status,
                          current_step, last_step_sent_at)
VALUES (pg_temp.id('e', 7), pg_temp.id('c', 1), pg_temp.id('ca', 1),
        'ACoAAnoa', 'invite_sent', 1, '2026-11-23 10:00Z');
SELECT is(pg_temp.process('unipile_messaging',
              pg_temp.msg('acc-A', 'm-note', '{
                  "attendee_provider_id": "ACoAAownA"}',
                  '{"is_sender": true, "attendees":
                    [{"attendee_provider_id": "ACoAAnoa"}]}'))
          ->> 'accepted', 'true',
          'our note coming back in a new chat with an invited lead');
SELECT results_eq(
    $$SELECT l.status, l.conversation_id, e.type, e.meta ->> 'via'
      FROM liauto.leads AS l JOIN liauto.events AS e ON e.lead_id = l.id
      WHERE l.id = pg_temp.id('e', 7)$$,
    $$VALUES ('connected', 'chat-m-note', 'connection_accepted',
              'note_chat')$$,
    '... is the acceptance: connected, its chat, one event');
SELECT is(pg_temp.process('unipile_users', '{
              "event": "new_relation", "account_id": "acc-A",
              "user_provider_id": "ACoAAnoa"}') ->> 'outcome', 'duplicate',
          'the new_relation that follows hours later adds nothing');

-- ---------------------------------------------------------------- others

SELECT is(pg_temp.process('unipile_messaging', '{
              "event": "message_reaction", "account_id": "acc-A"}')
          ->> 'outcome', 'ignored', 'an unknown event is ignored');
SELECT isnt((SELECT processed_at FROM liauto.webhook_events
             WHERE body::jsonb ->> 'event' = 'message_reaction'), NULL,
            'and marked processed');
SELECT is(pg_temp.process('unipile_messaging', '{
              "event": "message_received", "account_id": "acc-A"}')
          ->> 'outcome', 'error',
          'a message without an id is an error, kept for a retry');
SELECT results_eq(
    $$SELECT attempts, processing_error, processed_at IS NULL
      FROM liauto.webhook_events
      WHERE body::jsonb = '{"event": "message_received",
                            "account_id": "acc-A"}'$$,
    $$VALUES (1, 'message_received without a message id', true)$$,
    'the error is recorded, the row stays unprocessed');

SELECT is(pg_temp.process('unipile_account_status',
              '{"AccountStatus": {"account_id": "acc-B",
                                  "message": "CREDENTIALS"}}')
          ->> 'status', 'credentials', 'CREDENTIALS pauses the account');
SELECT results_eq(
    $$SELECT status, status_reason FROM liauto.linkedin_accounts
      WHERE id = pg_temp.id('a', 2)$$,
    $$VALUES ('credentials', 'Unipile account status CREDENTIALS')$$,
    'with the reason');
SELECT liauto.set_clock('2026-11-24 11:00Z');
SELECT isnt(pg_temp.process('unipile_account_status',
                '{"AccountStatus": {"account_id": "acc-B",
                                    "message": "RECONNECTED"}}')
            ->> 'catchup_job_id', NULL,
            'back to ok: a catch-up poll is requested');
SELECT results_eq(
    $$SELECT a.status, j.job, (j.params ->> 'since')::timestamptz
      FROM liauto.linkedin_accounts AS a
      JOIN liauto.sync_jobs AS j ON j.account_id = a.id
      WHERE a.id = pg_temp.id('a', 2)$$,
    $$VALUES ('ok', 'poll_messages',
              '2026-11-24 09:55Z'::timestamptz)$$,
    'the account is ok; the poll starts before it went down');
SELECT is(webhooks.process_event(pg_temp.id('f', 0)) ->> 'outcome', 'busy',
          'an id that is not there (or locked) is busy');
INSERT INTO liauto.webhook_events (source, delivery_key, body, received_at)
VALUES ('unipile_account_status', 'late-status',
        '{"AccountStatus": {"account_id": "acc-B", "message": "STOPPED"}}',
        '2026-11-24 10:30Z');
SELECT is(webhooks.process_event(
              (SELECT id FROM liauto.webhook_events
               WHERE delivery_key = 'late-status')) ->> 'reason',
          'older_than_current_status',
          'a status received before the current one does not override it');

-- ---------------------------------------------------------------- fallbacks

-- a polled reply (REST shape) from Jane@A in a new chat: stored as a
-- delivery and processed like a webhook; a message already threaded is
-- skipped
SELECT liauto.request_job('poll_messages', 'test:1', pg_temp.id('a', 1),
                          NULL, '{}', NULL);
SELECT is(webhooks.poll_messages_page(
              (SELECT id FROM liauto.sync_jobs WHERE period_key = 'test:1'),
              '[{"object": "Message", "id": "m-jane-1", "chat_id": "x",
                 "sender_id": "ACoAAjane", "text": "old", "is_sender": 0},
                {"object": "Message", "id": "m-jane-poll",
                 "chat_id": "chat-m-jane-1", "sender_id": "ACoAAjane",
                 "text": "polled", "is_sender": 0,
                 "timestamp": "2026-11-24T10:59:00.000Z"}]'), 1,
          'one polled message is new');
SELECT is(webhooks.process_event(id) ->> 'outcome', 'processed',
          'it is processed by the webhook path')
FROM liauto.webhook_events WHERE delivery_key = 'poll:acc-A:m-jane-poll';
SELECT is(pg_temp.events(1, 'message_received'), 2,
          'Jane@A has the polled reply''s event');
SELECT is((SELECT counts FROM liauto.sync_jobs WHERE period_key = 'test:1'),
          '{"new": 1, "pages": 1, "messages": 2}'::jsonb,
          'the run counts the page');

-- relation sync: Ann@A was invited; her relation has no public identifier
INSERT INTO liauto.leads (id, client_id, campaign_id, public_identifier,
                          status, current_step, last_step_sent_at)
VALUES (pg_temp.id('e', 6), pg_temp.id('c', 1), pg_temp.id('ca', 1),
        'ann-a', 'invite_sent', 1, '2026-11-20 10:00Z');
SELECT liauto.request_job('sync_relations', 'test:2', pg_temp.id('a', 1),
                          NULL, '{}', NULL);
SELECT is(webhooks.sync_relation(
              (SELECT id FROM liauto.sync_jobs WHERE period_key = 'test:2'),
              '{"object": "UserRelation", "member_id": "ACoAAann",
                "public_identifier": null, "created_at": 1795000000000}')
          ->> 'outcome', 'needs_lookup',
          'a relation without public identifier needs its profile');
SELECT is(webhooks.sync_relation(
              (SELECT id FROM liauto.sync_jobs WHERE period_key = 'test:2'),
              '{"object": "UserRelation", "member_id": "ACoAAann",
                "public_identifier": null, "created_at": 1795000000000}',
              '{"provider_id": "ACoAAann", "public_identifier": "ann-a"}')
          ->> 'outcome', 'accepted', 'the profile names Ann: accepted');
SELECT results_eq(
    $$SELECT l.status, l.provider_id, e.external_id
      FROM liauto.leads AS l JOIN liauto.events AS e ON e.lead_id = l.id
      WHERE l.id = pg_temp.id('e', 6)$$,
    $$VALUES ('connected', 'ACoAAann', 'ACoAAann')$$,
    'Ann is connected with one connection_accepted_historical event');
SELECT is(webhooks.sync_relation(
              (SELECT id FROM liauto.sync_jobs WHERE period_key = 'test:2'),
              '{"member_id": "ACoAAjane", "public_identifier": "jane-doe"}')
          ->> 'outcome', 'unmatched',
          'a relation of a lead past invite_sent is left alone');
SELECT is(pg_temp.process('unipile_users', '{
              "event": "new_relation", "account_id": "acc-A",
              "user_provider_id": "ACoAAann"}') ->> 'outcome', 'duplicate',
          'a late new_relation after the sync adds no second acceptance');

-- conversation backfill
UPDATE liauto.leads SET conversation_id = NULL
WHERE id = pg_temp.id('e', 6);
SELECT liauto.request_job('backfill_conversations', 'test:3',
                          pg_temp.id('a', 1), NULL, '{}', NULL);
SELECT is(webhooks.backfill_conversations_page(
              (SELECT id FROM liauto.sync_jobs WHERE period_key = 'test:3'),
              '[{"object": "Chat", "id": "chat-ann", "type": 0,
                 "attendee_provider_id": "ACoAAann"},
                {"object": "Chat", "id": "chat-b", "type": 0,
                 "attendee_provider_id": "ACoAAjane"}]'), 1,
          'one lead without a conversation gets its chat');
SELECT is((SELECT conversation_id FROM liauto.leads
           WHERE id = pg_temp.id('e', 6)), 'chat-ann', 'Ann''s chat');

-- periodic jobs: once per period whoever asks
SELECT is(webhooks.schedule_jobs(300, 7200), 9,
          'three ok accounts: a poll, a relation sync and a chat backfill '
          'each');
SELECT is(webhooks.schedule_jobs(300, 7200), 0,
          'asked again in the same period: nothing new');
UPDATE liauto.sync_jobs SET status = 'done',
       finished_at = '2026-11-16 10:00Z' WHERE period_key = 'test:1';
SELECT is(webhooks.schedule_jobs(300, 7200), 0, 'a later call');
SELECT is((SELECT count(*)::integer FROM liauto.sync_jobs
           WHERE period_key = 'test:1'), 0,
          '... deletes the runs finished more than a week ago');
SELECT is((SELECT count(*)::integer FROM webhooks.claim_job('w1', 60)), 1,
          'a worker claims one run');

SELECT * FROM finish();
ROLLBACK;
