-- The inbox API (migration 0019): what each role sees of threading and
-- duplicates, filters, full-text search, keyset pages, counters, the
-- conversation actions with their validation, tenant isolation on every
-- route, and the reply outbox: queued -> claimed with a budget unit ->
-- sent | failed with the reason, cool-off, bounded retries, expired
-- leases reconciled, and the sequence engine never taking a reply.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(72);

SET LOCAL timezone = 'UTC';
SELECT liauto.set_clock('2026-11-24 10:00Z');

\ir lib/api_calls.sql

CREATE FUNCTION pg_temp.id(p_kind text, p_n integer) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$
    SELECT ('00000000-0000-0000-0019-' || p_kind
            || lpad(p_n::text, 12 - length(p_kind), '0'))::uuid
$$;

-- Tenant A (the callers of lib/api_calls.sql) and tenant B.
INSERT INTO liauto.clients (id, name)
VALUES ((pg_temp.agent_a() ->> 'client_id')::uuid, 'inbox A'),
       ((pg_temp.agent_b() ->> 'client_id')::uuid, 'inbox B');
INSERT INTO liauto.users (id, client_id, email, password_hash, role)
SELECT (c ->> 'sub')::uuid, (c ->> 'client_id')::uuid,
       (c ->> 'role') || n || '@inbox.test',
       '$2a$06$' || repeat('x', 53), c ->> 'role'
FROM (VALUES (pg_temp.agent_a(), 1), (pg_temp.viewer_a(), 2),
             (pg_temp.agent_b(), 3)) AS v (c, n);
-- a second agent of A
INSERT INTO liauto.users (id, client_id, email, password_hash, role)
VALUES (pg_temp.id('b', 2), (pg_temp.agent_a() ->> 'client_id')::uuid,
        'agent2@inbox.test', '$2a$06$' || repeat('x', 53), 'agent');
CREATE FUNCTION pg_temp.agent_a2() RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('sub', pg_temp.id('b', 2), 'role', 'agent',
                              'client_id', pg_temp.agent_a() ->> 'client_id')
$$;

INSERT INTO liauto.linkedin_accounts (id, client_id, name,
                                      unipile_account_id, provider_user_id,
                                      daily_message_limit)
VALUES (pg_temp.id('a', 1), (pg_temp.agent_a() ->> 'client_id')::uuid,
        'Sender A', 'uni-a', 'ACoAAme', 3),
       (pg_temp.id('a', 2), (pg_temp.agent_b() ->> 'client_id')::uuid,
        'Sender B', 'uni-b', 'ACoAAmeB', 100);
INSERT INTO liauto.campaigns (id, client_id, linkedin_account_id, name)
VALUES (pg_temp.id('ca', 1), (pg_temp.agent_a() ->> 'client_id')::uuid,
        pg_temp.id('a', 1), 'A1');
INSERT INTO liauto.leads (id, client_id, campaign_id, provider_id)
VALUES (pg_temp.id('e', 1), (pg_temp.agent_a() ->> 'client_id')::uuid,
        pg_temp.id('ca', 1), 'ACoAAlea');

-- One message into the inbox of tenant 'A' or 'B' (as webhooks do).
CREATE FUNCTION pg_temp.msg(p_tenant text, p_chat text, p_ext text,
                            p_dir text, p_text text, p_at text,
                            p_lead uuid DEFAULT NULL)
RETURNS uuid
LANGUAGE sql AS $$
    SELECT (liauto.record_message(
        CASE p_tenant WHEN 'A' THEN (pg_temp.agent_a() ->> 'client_id')
                      ELSE pg_temp.agent_b() ->> 'client_id' END::uuid,
        CASE p_tenant WHEN 'A' THEN pg_temp.id('a', 1)
                      ELSE pg_temp.id('a', 2) END,
        p_chat, p_lead,
        jsonb_build_object(
            'external_message_id', p_ext, 'direction', p_dir,
            'text', p_text, 'sent_at', p_at,
            'sender', jsonb_build_object('provider_id',
                CASE p_dir WHEN 'inbound' THEN 'ACoAA' || p_chat
                           ELSE 'ACoAAme' END),
            'attendees', jsonb_build_array(jsonb_build_object(
                'provider_id', 'ACoAA' || p_chat,
                'name', 'Person ' || p_chat))))
        ->> 'conversation_id')::uuid
$$;

CREATE FUNCTION pg_temp.conv(p_chat text, p_tenant text DEFAULT 'A')
RETURNS uuid LANGUAGE sql AS $$
    SELECT c.id FROM liauto.conversations c
    JOIN liauto.clients k ON k.id = c.client_id
    WHERE c.external_chat_id = p_chat AND k.name = 'inbox ' || p_tenant
$$;

CREATE FUNCTION pg_temp.conv_call(p_fn text, p_caller jsonb, p_chat text,
                                  p_body jsonb DEFAULT NULL,
                                  p_query jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.call(p_fn, p_caller, ARRAY[pg_temp.conv(p_chat)::text],
                        p_query, p_body)
$$;

-- A: chat-1 (lead's, out of order with a duplicate), chat-2, chat-3
-- (assigned to agent a2 later), B: chat-1 (same external ids as A's).
SELECT pg_temp.msg('A', 'chat-1', 'm2', 'inbound', 'Sounds good, call me',
                   '2026-11-24T09:05:00Z', pg_temp.id('e', 1));
SELECT pg_temp.msg('A', 'chat-1', 'm1', 'outbound', 'Hello Lea',
                   '2026-11-24T09:00:00Z');
SELECT pg_temp.msg('A', 'chat-1', 'm2', 'inbound', 'Sounds good, call me',
                   '2026-11-24T09:05:00Z');
SELECT pg_temp.msg('A', 'chat-2', 'm3', 'inbound', 'Not interested',
                   '2026-11-24T09:30:00Z');
SELECT pg_temp.msg('A', 'chat-3', 'm4', 'inbound', 'Pricing please',
                   '2026-11-24T09:40:00Z');
SELECT pg_temp.msg('B', 'chat-1', 'm2', 'inbound', 'Secret of tenant B',
                   '2026-11-24T09:50:00Z');

-- ---------------------------------------------------------------- views

SELECT is(pg_temp.ids(pg_temp.call('api.inbox_conversations_list',
                                   pg_temp.agent_a())),
          ARRAY[pg_temp.conv('chat-3'), pg_temp.conv('chat-2'),
                pg_temp.conv('chat-1')]::text[],
          'the list: A''s conversations, latest activity first');
SELECT is(pg_temp.ids(pg_temp.call('api.inbox_conversations_list',
                                   pg_temp.admin(),
                                   p_query => '{"order": "asc"}')),
          ARRAY[pg_temp.conv('chat-1'), pg_temp.conv('chat-2'),
                pg_temp.conv('chat-3'), pg_temp.conv('chat-1', 'B')]::text[],
          'an admin sees every client''s, order=asc oldest first');
SELECT is(pg_temp.ids(pg_temp.call('api.inbox_conversations_list',
              pg_temp.admin(), p_query => jsonb_build_object(
                  'filter[client_id]', pg_temp.agent_b() ->> 'client_id'))),
          ARRAY[pg_temp.conv('chat-1', 'B')]::text[],
          'filter[client_id] narrows an admin to one client');
SELECT is(pg_temp.walk('api.inbox_conversations_list', pg_temp.agent_a(),
                       '{"limit": "1"}'),
          ARRAY[pg_temp.conv('chat-3'), pg_temp.conv('chat-2'),
                pg_temp.conv('chat-1')]::text[],
          'keyset pages of one follow next_cursor to the end');

SELECT is(
    (SELECT jsonb_agg(d -> 'external_message_id')
     FROM jsonb_array_elements(pg_temp.conv_call('api.inbox_messages_list',
              pg_temp.viewer_a(), 'chat-1') #> '{body,data}') d),
    '["m1", "m2"]',
    'the thread: both directions in order, the duplicate delivery once');
SELECT is(
    (SELECT jsonb_agg(d -> 'external_message_id')
     FROM jsonb_array_elements(pg_temp.conv_call('api.inbox_messages_list',
              pg_temp.viewer_a(), 'chat-1', p_query => '{"order": "desc"}')
              #> '{body,data}') d),
    '["m2", "m1"]', 'order=desc: newest first');

SELECT is(
    (SELECT jsonb_build_object(
         'status', a -> 'status', 'unread', a #> '{body,unread_count}',
         'lead', a #>> '{body,lead_id}',
         'campaign', a #>> '{body,campaign_id}',
         'people', a #> '{body,participants}' -> 0 -> 'display_name',
         'last', a #> '{body,last_message,text}')
     FROM pg_temp.conv_call('api.inbox_conversations_get',
                            pg_temp.viewer_a(), 'chat-1') a),
    jsonb_build_object('status', 200, 'unread', 1,
                       'lead', pg_temp.id('e', 1),
                       'campaign', pg_temp.id('ca', 1),
                       'people', 'Person chat-1',
                       'last', 'Sounds good, call me'),
    'detail: unread once, lead and campaign, participants, latest message');

-- filters
SELECT is(pg_temp.ids(pg_temp.call('api.inbox_conversations_list',
              pg_temp.agent_a(), p_query => '{"filter[search]": "CALL"}')),
          ARRAY[pg_temp.conv('chat-1')]::text[],
          'filter[search]: full text over message text, any case');
SELECT is(pg_temp.ids(pg_temp.call('api.inbox_conversations_list',
              pg_temp.admin(), p_query => '{"filter[search]": "secret"}')),
          ARRAY[pg_temp.conv('chat-1', 'B')]::text[],
          'an admin''s search finds B''s message');
SELECT is(pg_temp.ids(pg_temp.call('api.inbox_conversations_list',
              pg_temp.agent_a(), p_query => '{"filter[search]": "secret"}')),
          '{}'::text[], 'A''s agent searching B''s words finds nothing');
SELECT is(pg_temp.ids(pg_temp.call('api.inbox_conversations_list',
              pg_temp.agent_a(), p_query => jsonb_build_object(
                  'filter[campaign_id]', pg_temp.id('ca', 1)))),
          ARRAY[pg_temp.conv('chat-1')]::text[], 'filter[campaign_id]');
SELECT is(pg_temp.err(pg_temp.call('api.inbox_conversations_list',
              pg_temp.agent_a(), p_query => '{"filter[status]": "done",
                  "filter[assignee]": "bob", "filter[unread]": "yes",
                  "filter[colour]": "red"}')),
          jsonb_build_object('status', 400, 'code', 'BAD_REQUEST',
              'details', '{"filter[colour]": "unknown parameter"}'::jsonb),
          'an unknown filter is a 400');
SELECT is(pg_temp.err(pg_temp.call('api.inbox_conversations_list',
              pg_temp.agent_a(), p_query => '{"filter[status]": "done",
                  "filter[assignee]": "bob", "filter[unread]": "yes"}')),
          jsonb_build_object('status', 400, 'code', 'BAD_REQUEST',
              'details', '{"filter[status]": "must be one of: open, closed, snoozed",
                           "filter[assignee]": "must be me, none or a user id",
                           "filter[unread]": "must be true or false"}'::jsonb),
          'bad filter values: one 400 naming each');

-- ------------------------------------------------------------- actions

SELECT is(pg_temp.conv_call('api.inbox_read', pg_temp.agent_a(), 'chat-1')
              #> '{body,unread_count}', '0', 'read: unread_count 0');
SELECT ok((SELECT read_at IS NOT NULL FROM liauto.messages
           WHERE external_message_id = 'm2'
             AND conversation_id = pg_temp.conv('chat-1')),
          'read: the inbound message has read_at');
SELECT is(pg_temp.ids(pg_temp.call('api.inbox_conversations_list',
              pg_temp.agent_a(), p_query => '{"filter[unread]": "true"}')),
          ARRAY[pg_temp.conv('chat-3'), pg_temp.conv('chat-2')]::text[],
          'filter[unread]=true leaves the read one out');
SELECT is(pg_temp.conv_call('api.inbox_unread', pg_temp.agent_a(), 'chat-1')
              #> '{body,unread_count}', '1', 'unread: flagged again');

SELECT is(pg_temp.err(pg_temp.conv_call('api.inbox_assign', pg_temp.agent_a(),
              'chat-3', jsonb_build_object('user_id',
                  pg_temp.agent_b() ->> 'sub'))),
          pg_temp.invalid('{"user_id": "unknown user"}'),
          'assign: a user of another client is unknown');
SELECT is(pg_temp.err(pg_temp.conv_call('api.inbox_assign', pg_temp.agent_a(),
              'chat-3', jsonb_build_object('user_id',
                  pg_temp.viewer_a() ->> 'sub'))),
          pg_temp.invalid('{"user_id": "must be an agent or an admin '
                          '(viewers cannot answer)"}'),
          'assign: a viewer cannot be the assignee');
SELECT is(pg_temp.err(pg_temp.conv_call('api.inbox_assign', pg_temp.agent_a(),
              'chat-3', '{}')),
          pg_temp.invalid('{"user_id": "is required"}'),
          'assign: user_id is required (null unassigns)');
SELECT is(pg_temp.conv_call('api.inbox_assign', pg_temp.agent_a(), 'chat-3',
              jsonb_build_object('user_id', pg_temp.id('b', 2)))
              #>> '{body,assigned_to_user_id}',
          pg_temp.id('b', 2)::text, 'assign to the other agent of A');
SELECT is(pg_temp.conv_call('api.inbox_assign', pg_temp.agent_a(), 'chat-2',
              jsonb_build_object('user_id', pg_temp.agent_a() ->> 'sub'))
              #>> '{body,assigned_to_user_id}',
          pg_temp.agent_a() ->> 'sub', 'assign to oneself');

SELECT is(pg_temp.ids(pg_temp.call('api.inbox_conversations_list',
                                   pg_temp.agent_a())),
          ARRAY[pg_temp.conv('chat-2'), pg_temp.conv('chat-1')]::text[],
          'an agent sees its own and unassigned, not another agent''s');
SELECT is(pg_temp.ids(pg_temp.call('api.inbox_conversations_list',
                                   pg_temp.viewer_a())),
          ARRAY[pg_temp.conv('chat-3'), pg_temp.conv('chat-2'),
                pg_temp.conv('chat-1')]::text[],
          'a viewer sees all of its client');
SELECT is(pg_temp.conv_call('api.inbox_conversations_get', pg_temp.agent_a(),
                            'chat-3') -> 'status', '404',
          'another agent''s conversation is a 404 for the agent');
SELECT is(pg_temp.conv_call('api.inbox_messages_list', pg_temp.agent_a(),
                            'chat-3') -> 'status', '404',
          'and so are its messages');
SELECT is(pg_temp.ids(pg_temp.call('api.inbox_conversations_list',
              pg_temp.agent_a2(), p_query => '{"filter[assignee]": "me"}')),
          ARRAY[pg_temp.conv('chat-3')]::text[], 'filter[assignee]=me');
SELECT is(pg_temp.ids(pg_temp.call('api.inbox_conversations_list',
              pg_temp.viewer_a(), p_query => '{"filter[assignee]": "none"}')),
          ARRAY[pg_temp.conv('chat-1')]::text[], 'filter[assignee]=none');

SELECT is(pg_temp.conv_call('api.inbox_close', pg_temp.agent_a(), 'chat-2')
              #>> '{body,status}', 'closed', 'close');
SELECT is(pg_temp.err(pg_temp.conv_call('api.inbox_snooze', pg_temp.agent_a(),
              'chat-1', '{"until": "2026-11-24T09:00:00Z"}')),
          pg_temp.invalid('{"until": "must be in the future"}'),
          'snooze: until must be in the future');
SELECT is(pg_temp.err(pg_temp.conv_call('api.inbox_snooze', pg_temp.agent_a(),
              'chat-1', '{"until": "tomorrow"}')),
          pg_temp.invalid('{"until": "must be an ISO 8601 timestamp"}'),
          'snooze: until must be ISO 8601');
SELECT is(pg_temp.conv_call('api.inbox_snooze', pg_temp.agent_a(), 'chat-1',
              '{"until": "2026-11-24T12:00:00Z"}') #> '{body,snoozed_until}',
          '"2026-11-24T12:00:00.000Z"', 'snooze until noon');
SELECT is(pg_temp.ids(pg_temp.call('api.inbox_conversations_list',
              pg_temp.viewer_a(), p_query => '{"filter[status]": "open"}')),
          ARRAY[pg_temp.conv('chat-3')]::text[],
          'filter[status]=open: neither the closed nor the snoozed one');
SELECT liauto.set_clock('2026-11-24 12:00Z');
SELECT is(pg_temp.ids(pg_temp.call('api.inbox_conversations_list',
              pg_temp.viewer_a(), p_query => '{"filter[status]": "open"}')),
          ARRAY[pg_temp.conv('chat-3'), pg_temp.conv('chat-1')]::text[],
          'a snooze that is over is open again');
SELECT is(pg_temp.conv_call('api.inbox_reopen', pg_temp.agent_a(), 'chat-2')
              #>> '{body,status}', 'open', 'reopen');

-- ------------------------------------------------------------- counters

SELECT is(pg_temp.call('api.inbox_counters', pg_temp.agent_a()) -> 'body',
          jsonb_build_object(
              'queues', '{"mine": {"open": 1, "unread": 1},
                          "unassigned": {"open": 1, "unread": 1},
                          "all": {"open": 2, "unread": 2}}'::jsonb,
              'by_assignee', jsonb_build_array(jsonb_build_object(
                  'user_id', pg_temp.agent_a() ->> 'sub',
                  'open', 1, 'unread', 1))),
          'counters of an agent: its queue, unassigned, and no other''s');
SELECT is(pg_temp.call('api.inbox_counters', pg_temp.viewer_a())
              #> '{body,queues,all}',
          '{"open": 3, "unread": 3}', 'a viewer counts all of A');
SELECT is(pg_temp.call('api.inbox_counters', pg_temp.agent_b())
              #> '{body,queues,all}',
          '{"open": 1, "unread": 1}', 'B counts only its own');
SELECT is(pg_temp.call('api.inbox_counters', pg_temp.agent_b(),
              p_query => jsonb_build_object('filter[client_id]',
                  pg_temp.agent_a() ->> 'client_id')) #> '{body,queues,all}',
          '{"open": 0, "unread": 0}',
          'naming A''s client does not show B anything of A');
SELECT is(pg_temp.call('api.inbox_counters', pg_temp.admin())
              #> '{body,queues,all}',
          '{"open": 4, "unread": 4}', 'an admin counts every client');

-- ----------------------------------------------------- another tenant

SELECT is(pg_temp.ids(pg_temp.call('api.inbox_conversations_list',
              pg_temp.agent_b(), p_query => '{"filter[search]": "call"}')),
          '{}'::text[], 'B''s search does not find A''s words');
SELECT is(
    (SELECT jsonb_agg(pg_temp.call(fn, pg_temp.agent_b(),
                                   ARRAY[pg_temp.conv('chat-1')::text],
                                   '{}', b) -> 'status' ORDER BY fn)
     FROM (VALUES ('api.inbox_conversations_get', NULL::jsonb),
                  ('api.inbox_messages_list', NULL),
                  ('api.inbox_reply', '{"text": "hi"}'),
                  ('api.inbox_read', NULL), ('api.inbox_unread', NULL),
                  ('api.inbox_assign', '{"user_id": null}'),
                  ('api.inbox_close', NULL), ('api.inbox_reopen', NULL),
                  ('api.inbox_snooze', '{"until": "2030-01-01T00:00:00Z"}'))
          AS f (fn, b)),
    '[404, 404, 404, 404, 404, 404, 404, 404, 404]',
    'A''s conversation is a 404 for B on every route, body or not');
SELECT is((SELECT count(*)::int FROM liauto.actions WHERE kind = 'reply'),
          0, 'and B''s reply queued nothing');

-- ---------------------------------------------------------------- reply

SELECT is(pg_temp.err(pg_temp.conv_call('api.inbox_reply', pg_temp.agent_a(),
                                        'chat-1', '{"text": "  "}')),
          pg_temp.invalid('{"text": "must not be blank"}'),
          'a blank reply is refused');
SELECT is(
    (SELECT jsonb_build_object('status', a -> 'status',
                               'message', a #> '{body,status}',
                               'author', a #>> '{body,author_user_id}')
     FROM pg_temp.conv_call('api.inbox_reply', pg_temp.agent_a(), 'chat-1',
                            '{"text": "Calling you at 3"}') a),
    jsonb_build_object('status', 202, 'message', 'queued',
                       'author', pg_temp.agent_a() ->> 'sub'),
    'a reply: 202, the message queued, authored by the caller');
SELECT results_eq(
    $$SELECT x.kind, x.status, x.lead_id, x.step_index,
             x.payload - 'message_id' - 'conversation_id'
        FROM liauto.actions x
        JOIN liauto.messages m ON m.action_id = x.id$$,
    $$VALUES ('reply', 'scheduled', NULL::uuid, NULL::integer,
              '{"chat_id": "chat-1", "unipile_account_id": "uni-a",
                "provider_id": "ACoAAchat-1",
                "text": "Calling you at 3"}'::jsonb)$$,
    'its outbox action: kind reply, no lead or step, chat and attendee');
SELECT is(
    (SELECT d ->> 'text' FROM jsonb_array_elements(pg_temp.conv_call(
         'api.inbox_messages_list', pg_temp.agent_a(), 'chat-1')
         #> '{body,data}') WITH ORDINALITY AS e (d, n)
     ORDER BY n DESC LIMIT 1),
    'Calling you at 3', 'the queued reply is the newest of the thread');

-- the sequence engine never claims a reply; the reply path does, once
SELECT is((SELECT count(*)::int FROM engine.claim_actions('w1', 10,
                                                          '5 minutes')),
          0, 'engine.claim_actions leaves the reply alone');
CREATE TEMP TABLE claim AS
    SELECT * FROM engine.claim_replies('w1', 10, '5 minutes');
SELECT results_eq('SELECT kind, status, attempts FROM claim',
                  $$VALUES ('reply', 'claimed', 1)$$,
                  'engine.claim_replies claims it');
SELECT is((SELECT messages FROM liauto.rate_usage
           WHERE account_id = pg_temp.id('a', 1)),
          1, 'with one message unit of the account''s budget');
SELECT is((SELECT count(*)::int FROM engine.claim_replies('w2', 10,
                                                          '5 minutes')),
          0, 'a second claimer gets nothing');
SELECT is(engine.check_reply(id, claim_token), 'ok', 'check_reply: ok')
  FROM claim;
SELECT is(engine.complete_reply(id, gen_random_uuid(), 'sent', 'x', NULL,
                                NULL, NULL), 'stale',
          'a foreign claim token changes nothing')
  FROM claim;
SELECT is(engine.complete_reply(id, claim_token, 'sent', 'ext-r1', NULL,
                                NULL, 'chat-1'), 'sent',
          'complete_reply sent')
  FROM claim;
SELECT results_eq(
    $$SELECT status, external_message_id, error, sent_at
        FROM liauto.messages WHERE text = 'Calling you at 3'$$,
    $$VALUES ('sent', 'ext-r1', NULL::text,
              '2026-11-24 12:00Z'::timestamptz)$$,
    'the message is sent with the provider''s id');
SELECT is(pg_temp.msg('A', 'chat-1', 'ext-r1', 'outbound',
                      'Calling you at 3', '2026-11-24T12:00:01Z'),
          pg_temp.conv('chat-1'), 'its echo threads into the conversation');
SELECT is((SELECT count(*)::int FROM liauto.messages
           WHERE text = 'Calling you at 3'),
          1, 'and is not stored twice');

-- a refusal fails the message with the reason; the unit comes back
SELECT pg_temp.conv_call('api.inbox_reply', pg_temp.agent_a(), 'chat-2',
                         '{"text": "Sorry to hear"}');
DROP TABLE claim;
CREATE TEMP TABLE claim AS
    SELECT * FROM engine.claim_replies('w1', 10, '5 minutes');
SELECT is(engine.complete_reply(id, claim_token, 'final_lead', NULL,
              'Recipient cannot be reached: no_connection_with_recipient '
              '(HTTP 422)', NULL, NULL), 'failed',
          'a 422 of the provider fails the reply')
  FROM claim;
SELECT results_eq(
    $$SELECT status, error FROM liauto.messages
       WHERE text = 'Sorry to hear'$$,
    $$VALUES ('failed', 'Recipient cannot be reached: '
              'no_connection_with_recipient (HTTP 422)')$$,
    'the message says failed and why');

-- 429: the account cools off, the reply waits, queued, saying why
SELECT pg_temp.conv_call('api.inbox_reply', pg_temp.agent_a(), 'chat-2',
                         '{"text": "Second try"}');
DROP TABLE claim;
CREATE TEMP TABLE claim AS
    SELECT * FROM engine.claim_replies('w1', 10, '5 minutes');
SELECT is(engine.complete_reply(id, claim_token, 'account_cooloff', NULL,
              'rate limited (HTTP 429)', '2026-11-24 13:00Z', NULL),
          'scheduled', '429: the reply is scheduled again')
  FROM claim;
SELECT results_eq(
    $$SELECT m.status, m.error, a.cooldown_until
        FROM liauto.messages m, liauto.linkedin_accounts a
       WHERE m.text = 'Second try' AND a.id = $$ || quote_literal(
           pg_temp.id('a', 1)),
    $$VALUES ('queued', 'rate limited (HTTP 429)',
              '2026-11-24 13:00Z'::timestamptz)$$,
    'the account cools off until Retry-After; the message waits, saying why');
SELECT is((SELECT count(*)::int FROM engine.claim_replies('w1', 10,
                                                          '5 minutes')),
          0, 'nothing is claimed while the account cools off');
SELECT is((SELECT messages FROM liauto.rate_usage
           WHERE account_id = pg_temp.id('a', 1)),
          2, 'the 429 gave its unit back (the refused 422 keeps its own)');

-- retries are bounded: 5xx after engine_max_attempts claims fails it
SELECT liauto.set_clock('2026-11-24 13:00Z');
-- (the 429 gave its attempt back: this claim is the reply's first)
UPDATE liauto.settings SET value = '1' WHERE key = 'engine_max_attempts';
DROP TABLE claim;
CREATE TEMP TABLE claim AS
    SELECT * FROM engine.claim_replies('w1', 10, '5 minutes');
SELECT is(engine.complete_reply(id, claim_token, 'retry', NULL,
              'server error (HTTP 503)', '2026-11-24 13:00Z', NULL),
          'failed', 'a 503 on the last allowed attempt fails the reply')
  FROM claim;
SELECT results_eq(
    $$SELECT status, error FROM liauto.messages WHERE text = 'Second try'$$,
    $$VALUES ('failed', 'server error (HTTP 503)')$$,
    'with the last reason');
UPDATE liauto.settings SET value = '5' WHERE key = 'engine_max_attempts';

-- the daily budget: 3 messages a day, all spent (the 503 kept its unit)
SELECT pg_temp.conv_call('api.inbox_reply', pg_temp.agent_a(), 'chat-1',
                         '{"text": "Over budget"}');
SELECT is((SELECT count(*)::int FROM engine.claim_replies('w1', 10,
                                                          '5 minutes')),
          0, 'a reply over the daily message limit is not claimed');
SELECT results_eq(
    $$SELECT m.status, m.error, x.due_at
        FROM liauto.messages m JOIN liauto.actions x ON x.id = m.action_id
       WHERE m.text = 'Over budget'$$,
    $$VALUES ('queued', 'the account''s daily message limit is reached',
              '2026-11-25 00:00Z'::timestamptz)$$,
    'it waits for the next local day, saying why');

-- an expired lease: the reply path reconciles it, the engine does not
SELECT liauto.set_clock('2026-11-25 09:00Z');
DROP TABLE claim;
CREATE TEMP TABLE claim AS
    SELECT * FROM engine.claim_replies('w1', 10, '5 minutes');
SELECT liauto.set_clock('2026-11-25 09:06Z');
SELECT is((SELECT count(*)::int FROM engine.expired_claims(10)), 0,
          'engine.expired_claims does not hand out replies');
SELECT is((SELECT status FROM engine.expired_replies(10)), 'unknown',
          'engine.expired_replies does');
SELECT is(engine.resolve_reply(id, false, NULL), 'scheduled',
          'not found in the chat: scheduled again')
  FROM claim;
DROP TABLE claim;
CREATE TEMP TABLE claim AS
    SELECT * FROM engine.claim_replies('w1', 10, '5 minutes');
SELECT pg_temp.msg('A', 'chat-1', 'ext-echo', 'outbound', 'Over budget',
                   '2026-11-25T09:06:01Z');
SELECT is(engine.check_reply(id, claim_token), 'already_sent',
          'its echo came back meanwhile: check_reply will not send it')
  FROM claim;
SELECT results_eq(
    $$SELECT x.status, m.status, m.external_message_id
        FROM liauto.messages m JOIN liauto.actions x ON x.id = m.action_id
       WHERE m.text = 'Over budget'$$,
    $$VALUES ('sent', 'sent', 'ext-echo')$$,
    'the action and message are sent with the echo''s id');

SELECT * FROM finish();
ROLLBACK;
