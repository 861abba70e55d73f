-- Migration 0024, outbound webhooks: subscriptions through the API
-- (secret shown once, 422 per field, tenants), the events the triggers
-- produce (one frozen body per event, one delivery per subscription),
-- claim/complete with retries then failure, the delivery log and replay.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(34);

SET LOCAL timezone = 'UTC';

\ir lib/api_calls.sql

INSERT INTO liauto.clients (id, name) VALUES
    ('a0000000-0000-0000-0000-000000000001', 'Client A'),
    ('b0000000-0000-0000-0000-000000000001', 'Client B');
INSERT INTO liauto.linkedin_accounts (id, client_id, name,
                                      unipile_account_id)
VALUES ('a2000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001', 'Ann', 'w-a1'),
       ('b2000000-0000-0000-0000-000000000001',
        'b0000000-0000-0000-0000-000000000001', 'Bea', 'w-b1');
INSERT INTO liauto.campaigns (id, client_id, linkedin_account_id, name)
VALUES ('a3000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001',
        'a2000000-0000-0000-0000-000000000001', 'Campaign A'),
       ('b3000000-0000-0000-0000-000000000001',
        'b0000000-0000-0000-0000-000000000001',
        'b2000000-0000-0000-0000-000000000001', 'Campaign B');
INSERT INTO liauto.leads (id, client_id, campaign_id, first_name,
                          public_identifier)
VALUES ('a4000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000001', 'Ada', 'ada'),
       ('b4000000-0000-0000-0000-000000000001',
        'b0000000-0000-0000-0000-000000000001',
        'b3000000-0000-0000-0000-000000000001', 'Bob', 'bob');

SELECT liauto.set_clock('2026-11-30 10:00Z');

-- ------------------------------------------------------ subscriptions

CREATE TEMP TABLE created AS
SELECT pg_temp.call('api.webhook_subscriptions_create', pg_temp.agent_a(),
                    '{}', '{}',
                    '{"url": "https://crm.example/hooks?x=1",
                      "events": ["lead.replied", "lead.status_changed",
                                 "lead.replied"]}') AS a;
SELECT is((SELECT a ->> 'status' FROM created), '201', 'created: 201');
SELECT ok((SELECT a #>> '{body,secret}' ~ '^whsec_[0-9a-f]{64}$'
           FROM created), '... with its secret (256 random bits)');
SELECT is((SELECT a #> '{body,events}' FROM created),
          '["lead.replied", "lead.status_changed"]',
          '... for the events asked (once each)');
SELECT is((SELECT a #>> '{body,client_id}' FROM created),
          'a0000000-0000-0000-0000-000000000001',
          '... of the agent''s own client');

SELECT is(pg_temp.call('api.webhook_subscriptions_create', pg_temp.admin(),
                       '{}', '{}',
                       '{"url": "http://hooks.example:9/all",
                         "client_id": "a0000000-0000-0000-0000-000000000001",
                         "events": ["lead.replied", "lead.connected",
                                    "campaign.completed"]}') ->> 'status',
          '201', 'an admin subscribes for a client');
SELECT is(pg_temp.call('api.webhook_subscriptions_create', pg_temp.agent_b(),
                       '{}', '{}',
                       '{"url": "http://b.example/h",
                         "events": ["lead.replied"]}') ->> 'status',
          '201', 'client B subscribes too');

SELECT is(pg_temp.err(pg_temp.call('api.webhook_subscriptions_create',
              pg_temp.agent_a(), '{}', '{}',
              '{"url": "ftp://x", "events": ["lead.deleted"], "x": 1}')),
          pg_temp.invalid(jsonb_build_object(
              'url', 'must be an http:// or https:// URL',
              'events', 'must list events among: lead.replied, '
                        'lead.connected, lead.status_changed, '
                        'campaign.completed',
              'x', 'unknown field')),
          '422 naming each bad field');
SELECT is(pg_temp.err(pg_temp.call('api.webhook_subscriptions_create',
              pg_temp.admin(), '{}', '{}',
              '{"url": "https://x.example", "events": []}')),
          pg_temp.invalid('{"events": "must not be empty",
                            "client_id": "is required"}'),
          'an admin names the client; events must not be empty');
SELECT is(pg_temp.err(pg_temp.call('api.webhook_subscriptions_create',
              pg_temp.agent_a(), '{}', '{}',
              '{"url": "https://x.example", "events": ["lead.replied"],
                "client_id": "b0000000-0000-0000-0000-000000000001"}')),
          pg_temp.invalid('{"client_id": "unknown client"}'),
          'another tenant''s client is unknown');

SELECT is((SELECT count(*)::integer
           FROM jsonb_array_elements(pg_temp.call(
                    'api.webhook_subscriptions_list', pg_temp.agent_a())
                    #> '{body,data}') AS s),
          2, 'the list: the agent''s client''s two');
SELECT ok(NOT (pg_temp.call('api.webhook_subscriptions_list',
                            pg_temp.admin()) -> 'body')::text
              LIKE '%whsec_%',
          '... never with a secret');
SELECT is(pg_temp.call('api.webhook_subscriptions_delete', pg_temp.agent_b(),
                       ARRAY[(SELECT a #>> '{body,id}' FROM created)])
          ->> 'status', '404', 'another tenant''s: 404 on delete');

-- ------------------------------------------------------------- events

INSERT INTO liauto.events (client_id, lead_id, campaign_id, type,
                           external_id, meta)
VALUES ('a0000000-0000-0000-0000-000000000001',
        'a4000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000001', 'message_received', 'm-1',
        '{"text": "Yes, let''s talk"}');
SELECT is((SELECT count(*)::integer FROM liauto.webhook_deliveries
           WHERE event_type = 'lead.replied'), 2,
          'a reply: one delivery per subscription of the client');
SELECT is((SELECT count(DISTINCT event_id)::integer
           FROM liauto.webhook_deliveries), 1, '... of one event');
SELECT is((SELECT count(DISTINCT payload)::integer
           FROM liauto.webhook_deliveries), 1, '... with one body');
SELECT is((SELECT payload::jsonb - 'id' FROM liauto.webhook_deliveries
           LIMIT 1),
          jsonb_build_object(
              'type', 'lead.replied',
              'created_at', '2026-11-30T10:00:00.000Z',
              'client_id', 'a0000000-0000-0000-0000-000000000001',
              'data', jsonb_build_object(
                  'lead', liauto.webhook_lead_json(
                              'a4000000-0000-0000-0000-000000000001'),
                  'event_id', (SELECT id FROM liauto.events),
                  'occurred_at', api.ts((SELECT occurred_at
                                         FROM liauto.events)),
                  'message', '{"text": "Yes, let''s talk",
                               "external_id": "m-1"}'::jsonb)),
          '... which says who replied, what, and when');

UPDATE liauto.leads SET status = 'responded'
WHERE id = 'a4000000-0000-0000-0000-000000000001';
SELECT is((SELECT (payload::jsonb -> 'data') - 'lead' - 'error_reason'
           FROM liauto.webhook_deliveries
           WHERE event_type = 'lead.status_changed'),
          '{"from": "pending", "to": "responded"}',
          'a status change: from and to, to its one subscriber');
UPDATE liauto.leads SET first_name = 'Ada L.'
WHERE id = 'a4000000-0000-0000-0000-000000000001';
SELECT is((SELECT count(*)::integer FROM liauto.webhook_deliveries
           WHERE event_type = 'lead.status_changed'), 1,
          'another change of the lead is no status change');

INSERT INTO liauto.events (client_id, lead_id, campaign_id, type)
VALUES ('a0000000-0000-0000-0000-000000000001',
        'a4000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000001', 'connection_accepted');
UPDATE liauto.campaigns SET status = 'completed'
WHERE id = 'a3000000-0000-0000-0000-000000000001';
SELECT is((SELECT array_agg(event_type ORDER BY event_type)
           FROM liauto.webhook_deliveries
           WHERE event_type IN ('lead.connected', 'campaign.completed')),
          '{campaign.completed,lead.connected}',
          'lead.connected and campaign.completed to the subscriber of both');

INSERT INTO liauto.events (client_id, lead_id, campaign_id, type)
VALUES ('b0000000-0000-0000-0000-000000000001',
        'b4000000-0000-0000-0000-000000000001',
        'b3000000-0000-0000-0000-000000000001', 'connection_accepted');
SELECT is((SELECT count(*)::integer FROM liauto.webhook_deliveries
           WHERE client_id = 'b0000000-0000-0000-0000-000000000001'), 0,
          'client B did not subscribe to lead.connected: nothing');

-- ----------------------------------------------------- claim, complete

DELETE FROM liauto.webhook_deliveries
WHERE event_type <> 'lead.status_changed';
SELECT is((SELECT url || ' ' || (secret = (SELECT a #>> '{body,secret}'
                                           FROM created))
           FROM liauto.claim_webhook_deliveries('w1', 10, '1 minute')),
          'https://crm.example/hooks?x=1 true',
          'a worker claims it with the URL and the secret to sign with');
SELECT is((SELECT count(*)::integer
           FROM liauto.claim_webhook_deliveries('w2', 10, '1 minute')), 0,
          'nobody else can');
SELECT is(liauto.complete_webhook_delivery(id, claim_token, 'retry', '503',
              'the receiver answered HTTP 503', 60), 'pending',
          'a 503: pending again')
FROM liauto.webhook_deliveries;
SELECT is((SELECT response_status FROM liauto.webhook_deliveries), 503,
          '... its status logged');

CREATE FUNCTION pg_temp.attempt() RETURNS text LANGUAGE sql AS $$
    SELECT liauto.shift_clock('1 hour');
    SELECT liauto.complete_webhook_delivery(c.id, c.claim_token, 'retry',
               '0', 'no answer from the receiver: timed out', 60)
    FROM liauto.claim_webhook_deliveries('w1', 10, '1 minute') AS c;
$$;
SELECT is(pg_temp.attempt(), 'pending', 'attempt 2: pending');
SELECT pg_temp.attempt(), pg_temp.attempt(), pg_temp.attempt();
SELECT is(pg_temp.attempt(), 'failed',
          'attempt 6 (webhook_max_attempts): failed');
SELECT is((SELECT last_error || ' / ' || coalesce(response_status::text, '-')
           FROM liauto.webhook_deliveries),
          'gave up after 6 attempts: no answer from the receiver: timed out'
          || ' / -', '... saying why');

-- --------------------------------------------------- log and replay

CREATE TEMP TABLE log AS
SELECT pg_temp.call('api.webhook_deliveries_list', pg_temp.viewer_a(),
                    ARRAY[(SELECT a #>> '{body,id}' FROM created)]) AS a;
SELECT is((SELECT a #>> '{body,data,0,status}' || ' '
                  || (a #>> '{body,data,0,attempts}') FROM log),
          'failed 6', 'the delivery log shows it');
SELECT is(pg_temp.call('api.webhook_deliveries_list', pg_temp.agent_b(),
                       ARRAY[(SELECT a #>> '{body,id}' FROM created)])
          ->> 'status', '404', '... to its own tenant only');

CREATE TEMP TABLE replayed AS
SELECT pg_temp.call('api.webhook_delivery_replay', pg_temp.agent_a(),
                    ARRAY[(SELECT a #>> '{body,id}' FROM created),
                          (SELECT a #>> '{body,data,0,id}' FROM log)]) AS a;
SELECT is((SELECT a ->> 'status' || ' ' || (a #>> '{body,status}')
           FROM replayed), '202 pending', 'replay: 202, a new delivery');
SELECT is((SELECT a #>> '{body,replay_of}' FROM replayed),
          (SELECT a #>> '{body,data,0,id}' FROM log),
          '... of the failed one');
SELECT is((SELECT count(DISTINCT (event_id, payload))::integer
           FROM liauto.webhook_deliveries), 1,
          '... with the same event id and body');
SELECT is(pg_temp.call('api.webhook_delivery_replay', pg_temp.agent_a(),
                       ARRAY[(SELECT a #>> '{body,id}' FROM created),
                             gen_random_uuid()::text]) ->> 'status',
          '404', 'an unknown delivery: 404');

SELECT is(pg_temp.call('api.webhook_subscriptions_delete', pg_temp.agent_a(),
                       ARRAY[(SELECT a #>> '{body,id}' FROM created)])
          ->> 'status', '204', 'delete: 204');

SELECT * FROM finish();
ROLLBACK;
