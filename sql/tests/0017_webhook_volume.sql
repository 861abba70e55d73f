-- 1,000 deliveries (migration 0017): 700 distinct events (100 relations,
-- 400 replies, 200 echoes of our own messages) plus 300 extra copies
-- under other delivery keys (a webhook and a poll of the same message,
-- a copy Unipile sent twice), processed in a random order, a few of them
-- failing first and retried, every one processed a second time. Exactly
-- the right events and lead transitions, whatever the order; client B,
-- whose leads are the same 100 people, is never touched.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(11);

SET LOCAL timezone = 'UTC';
SELECT liauto.set_clock('2026-11-24 10:00Z');
SELECT setseed(0.17);

INSERT INTO liauto.clients (id, name)
VALUES ('00000000-0000-0000-0017-c00000000001', 'volume A'),
       ('00000000-0000-0000-0017-c00000000002', 'volume B');
INSERT INTO liauto.linkedin_accounts (id, client_id, name,
                                      unipile_account_id, provider_user_id)
VALUES ('00000000-0000-0000-0017-a00000000001',
        '00000000-0000-0000-0017-c00000000001', 'A', 'vol-A', 'ACoAAownA'),
       ('00000000-0000-0000-0017-a00000000002',
        '00000000-0000-0000-0017-c00000000002', 'B', 'vol-B', 'ACoAAownB');
INSERT INTO liauto.campaigns (id, client_id, linkedin_account_id, name)
VALUES ('00000000-0000-0000-0017-ca0000000001',
        '00000000-0000-0000-0017-c00000000001',
        '00000000-0000-0000-0017-a00000000001', 'A'),
       ('00000000-0000-0000-0017-ca0000000002',
        '00000000-0000-0000-0017-c00000000002',
        '00000000-0000-0000-0017-a00000000002', 'B');

-- person i: ACoAAp<i>, slug p-<i>; A knows the provider id, B the slug
INSERT INTO liauto.leads (client_id, campaign_id, provider_id,
                          public_identifier, status, current_step,
                          last_step_sent_at)
SELECT c.client_id, c.id,
       CASE WHEN c.name = 'A' THEN 'ACoAAp' || i END, 'p-' || i,
       'invite_sent', 1, '2026-11-23 10:00Z'
FROM generate_series(1, 100) AS i, liauto.campaigns AS c
WHERE c.name IN ('A', 'B') AND c.id::text LIKE '%0017-ca%';

CREATE TEMP TABLE bodies (n serial, source text, body jsonb);
INSERT INTO bodies (source, body)
SELECT 'unipile_users', jsonb_build_object(
           'event', 'new_relation', 'account_id', 'vol-A',
           'user_provider_id', 'ACoAAp' || i)
FROM generate_series(1, 100) AS i;
INSERT INTO bodies (source, body)
SELECT 'unipile_messaging', jsonb_build_object(
           'event', 'message_received', 'account_id', 'vol-A',
           'account_info', '{"user_id": "ACoAAownA"}'::jsonb,
           'chat_id', 'chat-' || i, 'message_id', 'in-' || i || '-' || k,
           'message', 'reply ' || k, 'is_sender', false,
           'timestamp', '2026-11-24T09:00:00.000Z',
           'sender', jsonb_build_object('attendee_provider_id',
                                        'ACoAAp' || i))
FROM generate_series(1, 100) AS i, generate_series(1, 4) AS k;
INSERT INTO bodies (source, body)
SELECT 'unipile_messaging', jsonb_build_object(
           'event', 'message_received', 'account_id', 'vol-A',
           'chat_id', 'chat-' || i, 'message_id', 'out-' || i || '-' || k,
           'message', 'ours ' || k, 'is_sender', true,
           'sender', '{"attendee_provider_id": "ACoAAownA"}'::jsonb,
           'attendees', jsonb_build_array(jsonb_build_object(
               'attendee_provider_id', 'ACoAAp' || i)))
FROM generate_series(1, 100) AS i, generate_series(1, 2) AS k;

-- every event once, 300 of them a second time
INSERT INTO liauto.webhook_events (source, delivery_key, body, received_at)
SELECT source, 'vol:' || n || ':' || copy, body::text, liauto.now()
FROM (SELECT b.*, 1 AS copy, random() AS r FROM bodies AS b
      UNION ALL
      SELECT b.*, 2, random() FROM bodies AS b
      ORDER BY copy, r
      LIMIT 1000) AS d;

SELECT is(count(*)::integer, 1000, '1,000 deliveries stored')
FROM liauto.webhook_events WHERE delivery_key LIKE 'vol:%';

-- 20 fail on their first try (their body is briefly not an object)
CREATE TEMP TABLE broken AS
SELECT id, body FROM liauto.webhook_events
WHERE delivery_key LIKE 'vol:%' ORDER BY random() LIMIT 20;
UPDATE liauto.webhook_events AS w SET body = '[]'
FROM broken AS b WHERE w.id = b.id;

CREATE FUNCTION pg_temp.process_all() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_id  uuid;
    v_n   integer := 0;
BEGIN
    FOR v_id IN SELECT id FROM liauto.webhook_events
                WHERE delivery_key LIKE 'vol:%' ORDER BY random()
    LOOP
        PERFORM webhooks.process_event(v_id);
        v_n := v_n + 1;
    END LOOP;
    RETURN v_n;
END
$$;

SELECT is(pg_temp.process_all(), 1000, 'a first pass in random order');
SELECT is(count(*)::integer, 20, 'the 20 broken ones wait for a retry')
FROM liauto.webhook_events
WHERE delivery_key LIKE 'vol:%' AND processed_at IS NULL
  AND processing_error IS NOT NULL AND attempts = 1;

UPDATE liauto.webhook_events AS w SET body = b.body
FROM broken AS b WHERE w.id = b.id;
SELECT is(pg_temp.process_all(), 1000,
          'a second pass: the retries, and every other one again');

SELECT is(count(*)::integer, 1000, 'all processed or duplicate')
FROM liauto.webhook_events
WHERE delivery_key LIKE 'vol:%' AND outcome IN ('processed', 'duplicate')
  AND processed_at IS NOT NULL;
SELECT is(count(*)::integer, 600,
          'exactly one delivery of each distinct message had an effect')
FROM liauto.webhook_events
WHERE delivery_key LIKE 'vol:%' AND outcome = 'processed'
  AND body::jsonb ? 'message_id';
SELECT results_eq(
    $$SELECT type, count(*)::integer FROM liauto.events
      WHERE client_id = '00000000-0000-0000-0017-c00000000001'
      GROUP BY type ORDER BY type$$,
    $$VALUES ('connection_accepted', 100), ('message_received', 400)$$,
    'one acceptance per lead, one event per distinct reply');
SELECT results_eq(
    $$SELECT status, count(*)::integer FROM liauto.leads
      WHERE client_id = '00000000-0000-0000-0017-c00000000001'
      GROUP BY status$$,
    $$VALUES ('responded', 100)$$,
    'every lead of A responded');
SELECT results_eq(
    $$SELECT direction, count(*)::integer FROM liauto.messages
      WHERE client_id = '00000000-0000-0000-0017-c00000000001'
      GROUP BY direction ORDER BY direction$$,
    $$VALUES ('inbound', 400), ('outbound', 200)$$,
    'every message threaded once');
SELECT is(count(*)::integer, 100, 'one conversation per chat')
FROM liauto.conversations
WHERE client_id = '00000000-0000-0000-0017-c00000000001';
SELECT results_eq(
    $$SELECT l.status, count(*)::integer,
             count(e.id)::integer
      FROM liauto.leads AS l LEFT JOIN liauto.events AS e
        ON e.lead_id = l.id
      WHERE l.client_id = '00000000-0000-0000-0017-c00000000002'
      GROUP BY l.status$$,
    $$VALUES ('invite_sent', 100, 0)$$,
    'client B''s leads (the same people) are untouched');

SELECT * FROM finish();
ROLLBACK;
