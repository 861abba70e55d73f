-- api.ingest_webhook and api.webhooks_health (migration 0015): the
-- delivery key of each payload variant, duplicates absorbed into one row
-- and counted, the account status rule, bodies refused whole, the health
-- numbers at a known clock.  (NOTIFY is only delivered at commit: t/040
-- listens for it.)
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(26);

SET LOCAL timezone = 'UTC';

\ir lib/api_calls.sql

DELETE FROM liauto.webhook_events;
DELETE FROM liauto.webhook_duplicates;
SELECT liauto.set_clock('2026-11-24 12:00Z');

-- the key a delivery was stored under, or the answer when nothing was
CREATE FUNCTION pg_temp.ingest(p_source text, p_body text,
                               p_headers jsonb DEFAULT '{}')
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_status  integer;
    v_body    jsonb;
BEGIN
    SELECT i.status, i.body::jsonb INTO v_status, v_body
    FROM api.ingest_webhook(p_source, p_body, p_headers) AS i;
    IF v_body ->> 'status' = 'accepted' THEN
        RETURN (SELECT delivery_key FROM liauto.webhook_events
                WHERE id = (v_body ->> 'id')::uuid);
    END IF;
    RETURN v_status || ' ' || coalesce(v_body ->> 'status',
                                       v_body ->> 'message');
END
$$;

-- ---------------------------------------------------------------- keys

SELECT is(pg_temp.ingest('unipile_messaging',
          '{"event":"message_received","message_id":"m1","message":"hi"}'),
          'messaging:message_received:m1',
          'messaging: event and message_id');
SELECT is(pg_temp.ingest('unipile_messaging',
          '{"event":"message_received","data":{"message_id":"m2"}}'),
          'messaging:message_received:m2',
          'messaging: message_id under data');
SELECT is(pg_temp.ingest('unipile_messaging',
          '{"event":"message_read","provider_message_id":"2-abc"}'),
          'messaging:message_read:2-abc',
          'messaging: the provider message id when there is no message_id');
SELECT is(pg_temp.ingest('unipile_messaging',
          '{"event":"message_read","message_id":"m1"}'),
          'messaging:message_read:m1',
          'messaging: another event of the same message is another delivery');
SELECT is(pg_temp.ingest('unipile_users',
          '{"event":"new_relation","account_id":"acc1",'
          '"user_provider_id":"ACoAA1","user_public_identifier":"ada"}'),
          'users:new_relation:acc1:ACoAA1',
          'users: event, account and provider id');
SELECT is(pg_temp.ingest('unipile_users',
          '{"event":"new_relation","account_id":"acc1",'
          '"data":{"user_public_identifier":"grace"}}'),
          'users:new_relation:acc1:grace',
          'users: the public identifier (under data) without a provider id');
SELECT is(pg_temp.ingest('unipile_messaging',
          '{"event":"message_received","message_id":"m9"}',
          '{"webhook-id":"msg_42"}'),
          'webhook-id:msg_42',
          'a webhook-id header is the key, whatever the body');
SELECT is(pg_temp.ingest('unipile_messaging', '{"event":"mystery"}'),
          'unipile_messaging:sha256:'
          || encode(sha256(convert_to('{"event":"mystery"}', 'UTF8')),
                    'hex'),
          'no event id: the hash of the exact bytes');
SELECT is(pg_temp.ingest('unipile_messaging',
          '{"event":"message_received","message_id":"'
          || repeat('x', 600) || '"}'),
          'unipile_messaging:sha256:'
          || encode(sha256(convert_to('{"event":"message_received",'
                                      || '"message_id":"' || repeat('x', 600)
                                      || '"}', 'UTF8')), 'hex'),
          'an id too long for a key: the hash too');

-- ---------------------------------------------------------- duplicates

SELECT is(pg_temp.ingest('unipile_messaging',
          '{"event":"message_received","message_id":"m1","message":"hi"}'),
          '200 duplicate', 'a retry is answered "duplicate"');
SELECT is(pg_temp.ingest('unipile_messaging',
          '{"message":"hi","message_id":"m1","event":"message_received"}'),
          '200 duplicate', 'so is the same message in other bytes');
SELECT is((SELECT count(*) FROM liauto.webhook_events
           WHERE delivery_key = 'messaging:message_received:m1'), 1::bigint,
          'one row for the message');
SELECT is((SELECT count FROM liauto.webhook_duplicates
           WHERE source = 'unipile_messaging'), 2::bigint,
          'both duplicates counted in their hour');
SELECT is((SELECT received_at FROM liauto.webhook_events
           WHERE delivery_key = 'messaging:message_received:m1'),
          '2026-11-24 12:00Z'::timestamptz,
          'received_at is the engine clock');

-- ------------------------------------------------------ account status

SELECT matches(pg_temp.ingest('unipile_account_status',
               '{"AccountStatus":{"account_id":"acc1","message":"CREDENTIALS"}}'),
               '^account_status:acc1:CREDENTIALS:2026-11-24T12:00:00',
               'a status: account, message and receipt time');
SELECT is(pg_temp.ingest('unipile_account_status',
          '{"AccountStatus":{"account_id":"acc1","message":"CREDENTIALS"}}'),
          '200 duplicate', 'the same status again at once: a retry');
SELECT liauto.shift_clock(interval '1 minute');
SELECT matches(pg_temp.ingest('unipile_account_status',
               '{"AccountStatus":{"account_id":"acc1","message":"RECONNECTED"}}'),
               '^account_status:acc1:RECONNECTED:', 'another status: kept');
SELECT matches(pg_temp.ingest('unipile_account_status',
               '{"AccountStatus":{"account_id":"acc1","message":"CREDENTIALS"}}'),
               '^account_status:acc1:CREDENTIALS:2026-11-24T12:01:00',
               'X, Y, X: the second X is kept too');
SELECT is(pg_temp.ingest('unipile_account_status',
          '{"AccountStatus":{"account_id":"acc2","message":"CREDENTIALS"}}')
          LIKE 'account_status:acc2:CREDENTIALS:%', true,
          'the same status of another account is its own');
SELECT liauto.shift_clock(interval '61 minutes');
SELECT matches(pg_temp.ingest('unipile_account_status',
               '{"AccountStatus":{"account_id":"acc1","message":"CREDENTIALS"}}'),
               '^account_status:acc1:CREDENTIALS:2026-11-24T13:02:00',
               'the latest status repeated after an hour: kept');

-- ------------------------------------------------------- refused bodies

SELECT is(pg_temp.ingest('unipile_users', '[{"event":"new_relation"}]'),
          '400 the request body must be a JSON object',
          'an array is refused');
SELECT is(pg_temp.ingest('unipile_users', '{"event":'),
          '400 the request body is not valid JSON',
          'broken JSON is refused (the module checks first; SQL too)');
SELECT is((SELECT count(*) FROM liauto.webhook_events), 14::bigint,
          'refused bodies stored nothing: 7 messaging, 2 users, 5 status rows');

-- ------------------------------------------------------------- health

UPDATE liauto.webhook_events
SET processed_at = received_at + interval '1 second'
WHERE delivery_key IN ('messaging:message_received:m1',
                       'messaging:message_received:m2');
UPDATE liauto.webhook_events
SET processing_error = 'unknown account', attempts = 3
WHERE delivery_key = 'messaging:message_read:2-abc';

-- now 13:02; the messaging rows came at 12:00 (processed 12:00:01)
SELECT is((SELECT pg_temp.call('api.webhooks_health',
                               '{"role":"admin"}'::jsonb)
                  #> '{body,sources,1}'),
          '{"source": "unipile_messaging",
            "last_delivery_at": "2026-11-24T12:00:00.000Z",
            "deliveries_24h": 7, "deliveries_1h": 0,
            "duplicates_24h": 2, "duplicates_1h": 0,
            "unprocessed": 5, "oldest_unprocessed_age_s": 3720.000,
            "processing_failures": 1,
            "lag_p50_ms": null, "lag_p99_ms": null}'::jsonb,
          'health of messaging: windows, backlog, failures; no lag this hour');

SELECT liauto.set_clock('2026-11-24 12:30Z');
SELECT is((SELECT pg_temp.call('api.webhooks_health',
                               '{"role":"admin"}'::jsonb)
                  #> '{body,sources,1}') - 'oldest_unprocessed_age_s'
          - 'last_delivery_at' - 'unprocessed' - 'processing_failures'
          - 'source',
          '{"deliveries_24h": 7, "deliveries_1h": 7,
            "duplicates_24h": 2, "duplicates_1h": 2,
            "lag_p50_ms": 1000.0, "lag_p99_ms": 1000.0}'::jsonb,
          'at 12:30: the last hour holds them, and the 1 s lag');

SELECT is(pg_temp.err(pg_temp.call('api.webhooks_health',
                                   '{"role":"agent"}'::jsonb)),
          '{"status": 403, "code": "FORBIDDEN", "details": {}}'::jsonb,
          'health is for admins');

SELECT * FROM finish();
ROLLBACK;
