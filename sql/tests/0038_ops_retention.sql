-- Migration 0038, retention: with liauto.now() moved, rows older than
-- their kind's days are deleted — emails sent or failed, webhook
-- deliveries delivered or failed, processed webhook events, inbox events,
-- expired idempotency keys — while recent ones and anything still to do
-- (pending, sending, unprocessed) stay, whatever their age. Batches hold
-- at most p_batch rows per kind; retention_start runs once per period.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(16);

SELECT liauto.set_clock('2027-03-01 12:00Z');

-- what other test files left committed is past every age by now: gone
-- first (rolled back with the rest), so the counts below are this file's
SELECT liauto.retention_batch('{"emails": 90, "webhook_deliveries": 90,
                                "webhook_events": 30, "inbox_events": 7}',
                              1000000);

INSERT INTO liauto.clients (id, name) VALUES
    ('a0000000-0000-0000-0000-000000000001', 'Client A');
INSERT INTO liauto.users (id, email, password_hash, role, client_id) VALUES
    ('a1000000-0000-0000-0000-000000000001', 'ret@t038.test',
     liauto.hash_password('retention pass'), 'agent',
     'a0000000-0000-0000-0000-000000000001');
INSERT INTO liauto.webhook_subscriptions (id, client_id, url, events, secret)
VALUES ('a5000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001', 'https://crm.example/h',
        '{lead.replied}', 'whsec_' || repeat('ab', 32));

-- name: <kind>-<old|new>-<state>; old is past every default age
CREATE TEMP TABLE ages (name text, at timestamptz);
INSERT INTO ages VALUES ('old', '2026-09-01 00:00Z'),
                        ('new', '2027-02-25 00:00Z');

INSERT INTO liauto.emails (client_id, kind, idempotency_key, recipients,
                           subject, html, text, status, due_at, last_error,
                           claim_token, lease_expires_at, created_at)
SELECT 'a0000000-0000-0000-0000-000000000001', 'reply_notification',
       'email-' || a.name || '-' || s || '-' || i, '{ops@t038.test}', 's',
       'h', 't', s, a.at, CASE WHEN s = 'failed' THEN 'bounced' END,
       CASE WHEN s = 'sending' THEN gen_random_uuid() END,
       CASE WHEN s = 'sending' THEN a.at END, a.at
FROM ages AS a, unnest('{sent,failed,pending,sending}'::text[]) AS s,
     generate_series(1, 3) AS i;

INSERT INTO liauto.webhook_deliveries (subscription_id, client_id, event_id,
                                       event_type, payload, status, due_at,
                                       last_error, claim_token,
                                       lease_expires_at, created_at)
SELECT 'a5000000-0000-0000-0000-000000000001',
       'a0000000-0000-0000-0000-000000000001', gen_random_uuid(),
       'lead.replied', 'delivery-' || a.name || '-' || s, s, a.at,
       CASE WHEN s = 'failed' THEN 'gave up' END,
       CASE WHEN s = 'sending' THEN gen_random_uuid() END,
       CASE WHEN s = 'sending' THEN a.at END, a.at
FROM ages AS a, unnest('{delivered,failed,pending,sending}'::text[]) AS s,
     generate_series(1, 3) AS i;

INSERT INTO liauto.webhook_events (source, delivery_key, body, received_at,
                                   processed_at)
SELECT 'unipile_messaging', 'event-' || a.name || '-' || p || '-' || i, '{}',
       a.at, CASE WHEN p = 'processed' THEN a.at END
FROM ages AS a, unnest('{processed,unprocessed}'::text[]) AS p,
     generate_series(1, 3) AS i;

INSERT INTO liauto.inbox_events (client_id, type, payload, created_at)
SELECT 'a0000000-0000-0000-0000-000000000001', 'message.created',
       jsonb_build_object('name', 'inbox-' || a.name), a.at
FROM ages AS a, generate_series(1, 3);
-- 30 hours old: past the stream's 24 h replay window, within 7 days
INSERT INTO liauto.inbox_events (client_id, type, payload, created_at)
VALUES ('a0000000-0000-0000-0000-000000000001', 'message.created',
        '{"name": "inbox-yesterday"}', '2027-02-28 06:00Z');

INSERT INTO liauto.idempotency_keys (user_id, key, fingerprint, created_at,
                                     expires_at)
SELECT 'a1000000-0000-0000-0000-000000000001', 'key-' || a.name || '-' || i,
       sha256(convert_to(a.name || i, 'UTF8')), now() - interval '1 day',
       -- on the database's clock, as api.dispatch_idempotent reads it
       CASE WHEN a.name = 'old' THEN now() - interval '1 hour'
            ELSE now() + interval '1 hour' END
FROM ages AS a, generate_series(1, 3) AS i;

CREATE FUNCTION pg_temp.keep() RETURNS jsonb LANGUAGE sql AS $$
    SELECT '{"emails": 90, "webhook_deliveries": 90, "webhook_events": 30,
             "inbox_events": 7}'::jsonb
$$;

-- what is left, per table, as sorted names
CREATE FUNCTION pg_temp.left_emails() RETURNS text[] LANGUAGE sql AS $$
    SELECT array_agg(n ORDER BY n)
    FROM (SELECT DISTINCT regexp_replace(idempotency_key, '-[0-9]+$', '')
          FROM liauto.emails) AS x (n)
$$;

-- first call: a batch of 2 rows per kind
SELECT is(liauto.retention_batch(pg_temp.keep(), 2),
          '{"emails": 2, "webhook_deliveries": 2, "webhook_events": 2,
            "inbox_events": 2, "idempotency_keys": 2}'::jsonb,
          'a batch deletes at most p_batch rows of each kind');

-- then the rest, batch after batch, as the worker does
CREATE TEMP TABLE batches AS
SELECT n, liauto.retention_batch(pg_temp.keep(), 2) AS counts
FROM generate_series(1, 4) AS n;
SELECT is((SELECT counts FROM batches WHERE n = 1),
          '{"emails": 2, "webhook_deliveries": 2, "webhook_events": 1,
            "inbox_events": 1, "idempotency_keys": 1}'::jsonb,
          'the next batch takes the rest of the smaller kinds');
SELECT is((SELECT counts FROM batches WHERE n = 2),
          '{"emails": 2, "webhook_deliveries": 2, "webhook_events": 0,
            "inbox_events": 0, "idempotency_keys": 0}'::jsonb,
          '... and goes on with the larger ones');
SELECT is((SELECT array_agg(counts) FROM batches WHERE n > 2),
          ARRAY['{"emails": 0, "webhook_deliveries": 0,
                  "webhook_events": 0, "inbox_events": 0,
                  "idempotency_keys": 0}'::jsonb,
                '{"emails": 0, "webhook_deliveries": 0,
                  "webhook_events": 0, "inbox_events": 0,
                  "idempotency_keys": 0}'],
          '... until nothing is left to delete');

SELECT is(pg_temp.left_emails(),
          '{email-new-failed,email-new-pending,email-new-sending,'
          'email-new-sent,email-old-pending,email-old-sending}',
          'emails: old sent and failed deleted; recent ones and old '
          'pending or sending kept');
SELECT is((SELECT array_agg(DISTINCT payload ORDER BY payload)
           FROM liauto.webhook_deliveries),
          '{delivery-new-delivered,delivery-new-failed,delivery-new-pending,'
          'delivery-new-sending,delivery-old-pending,delivery-old-sending}',
          'webhook deliveries: old delivered and failed deleted, the rest '
          'kept');
SELECT is((SELECT array_agg(n ORDER BY n)
           FROM (SELECT DISTINCT regexp_replace(delivery_key, '-[0-9]+$', '')
                 FROM liauto.webhook_events) AS x (n)),
          '{event-new-processed,event-new-unprocessed,'
          'event-old-unprocessed}',
          'webhook events: old processed deleted, unprocessed kept');
SELECT is((SELECT array_agg(DISTINCT payload ->> 'name'
                           ORDER BY payload ->> 'name')
           FROM liauto.inbox_events),
          '{inbox-new,inbox-yesterday}',
          'inbox events: older than 7 days deleted, 30 hours old kept');
SELECT is((SELECT array_agg(key ORDER BY key)
           FROM liauto.idempotency_keys),
          '{key-new-1,key-new-2,key-new-3}',
          'idempotency keys: expired deleted, live kept');
SELECT is((SELECT count(*) FROM liauto.webhook_deliveries), 18::bigint,
          '... 18 deliveries left of 24');

-- other ages: a short keep takes the recent ones too, never pending
SELECT is(liauto.retention_batch('{"emails": 1, "webhook_deliveries": 1,
                                   "webhook_events": 1,
                                   "inbox_events": 1}', 100),
          '{"emails": 6, "webhook_deliveries": 6, "webhook_events": 3,
            "inbox_events": 4, "idempotency_keys": 0}'::jsonb,
          'the ages are the caller''s');
SELECT is(pg_temp.left_emails(),
          '{email-new-pending,email-new-sending,email-old-pending,'
          'email-old-sending}', '... and what is still to do stays');

SELECT throws_ok($$SELECT liauto.retention_batch('{"emails": 0}', 10)$$,
                 '22023', NULL, 'a keep without every kind, or of 0 days, '
                 'is refused');

-- once per period: the first caller runs, the others get NULL
SELECT isnt(liauto.retention_start(3600, pg_temp.keep(), 10), NULL,
            'retention_start runs this period''s first batch');
SELECT is(liauto.retention_start(3600, pg_temp.keep(), 10), NULL,
          '... once: a second caller in the period gets NULL');
SELECT liauto.shift_clock('1 hour');
SELECT isnt(liauto.retention_start(3600, pg_temp.keep(), 10), NULL,
            '... and the next period runs again');

SELECT * FROM finish();
ROLLBACK;
