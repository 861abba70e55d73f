-- 0015_webhook_ingest: the webhook edge. The module authenticates a
-- delivery and checks that its body is a JSON object; api.ingest_webhook
-- stores it raw in liauto.webhook_events, deduplicated on its delivery key,
-- and wakes the processor (NOTIFY liauto_webhooks) only for a new row.
-- api.webhooks_health reports per source what arrived and how far the
-- processing is behind.

-- ------------------------------------------------------------------------
-- Storage
-- ------------------------------------------------------------------------

-- per source and hour: what the unique delivery key absorbed
CREATE TABLE liauto.webhook_duplicates (
    source      text NOT NULL
                CONSTRAINT webhook_duplicates_source_check
                CHECK (source IN ('unipile_users', 'unipile_messaging',
                                  'unipile_account_status')),
    hour        timestamptz NOT NULL
                CONSTRAINT webhook_duplicates_hour_check
                CHECK (hour = date_trunc('hour', hour, 'UTC')),
    count       bigint NOT NULL DEFAULT 0
                CONSTRAINT webhook_duplicates_count_check CHECK (count >= 0),

    PRIMARY KEY (source, hour)
);

COMMENT ON TABLE liauto.webhook_duplicates IS
    'Deliveries answered "duplicate" (a retry or a second copy of a stored '
    'event), counted per source and UTC hour for api.webhooks_health. Only '
    'duplicates write here, so accepted deliveries pay nothing for it.';

-- the health report's windows and the processor's "what came in lately"
CREATE INDEX webhook_events_source_received_idx
    ON liauto.webhook_events (source, received_at);

-- the latest status event of an account (liauto.account_status_key)
CREATE INDEX webhook_events_account_status_idx
    ON liauto.webhook_events ((body::jsonb #>> '{AccountStatus,account_id}'),
                              received_at)
    WHERE source = 'unipile_account_status';


-- ------------------------------------------------------------------------
-- Delivery keys
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.webhook_field(p_body jsonb, p_name text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT nullif(coalesce(p_body ->> p_name,
                           p_body -> 'data' ->> p_name), '')
$$;

COMMENT ON FUNCTION liauto.webhook_field(jsonb, text) IS
    'A top-level field of a Unipile payload, or the same field under '
    '"data" (the shape some webhook variants and renamings use); '
    'NULL when absent or empty.';

CREATE FUNCTION liauto.webhook_body_key(p_source text, p_body text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT p_source || ':sha256:'
           || encode(sha256(convert_to(p_body, 'UTF8')), 'hex')
$$;

COMMENT ON FUNCTION liauto.webhook_body_key(text, text) IS
    'The key of a delivery that names no event id: its source and the '
    'SHA-256 of its exact bytes, so that a retry (the same bytes) is '
    'absorbed and any other content is kept.';

CREATE FUNCTION liauto.webhook_delivery_key(p_source text, p_body text,
                                            p_json jsonb, p_headers jsonb)
RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_key    text;
    v_event  text := coalesce(liauto.webhook_field(p_json, 'event'), '');
BEGIN
    IF nullif(p_headers ->> 'webhook-id', '') IS NOT NULL THEN
        v_key := 'webhook-id:' || (p_headers ->> 'webhook-id');
    ELSIF p_source = 'unipile_messaging' THEN
        v_key := 'messaging:' || v_event || ':'
                 || coalesce(liauto.webhook_field(p_json, 'message_id'),
                             liauto.webhook_field(p_json,
                                                  'provider_message_id'));
    ELSIF p_source = 'unipile_users' THEN
        v_key := 'users:' || v_event || ':'
                 || liauto.webhook_field(p_json, 'account_id') || ':'
                 || coalesce(liauto.webhook_field(p_json, 'user_provider_id'),
                             liauto.webhook_field(p_json,
                                                  'user_public_identifier'));
    END IF;

    IF v_key IS NULL OR length(v_key) > 512 THEN
        RETURN liauto.webhook_body_key(p_source, p_body);
    END IF;
    RETURN v_key;
END
$$;

COMMENT ON FUNCTION liauto.webhook_delivery_key(text, text, jsonb, jsonb) IS
    'The identity of a users or messaging delivery across Unipile''s '
    'retries: "webhook-id:<id>" when the sender gives one (Standard '
    'Webhooks), else "messaging:<event>:<message_id>" (or the provider '
    'message id; top level or under data) and "users:<event>:<account_id>:'
    '<user_provider_id>" (or the public identifier). A payload without '
    'those ids, or with ids too long for a key, falls back to the hash of '
    'its bytes. Account status deliveries: liauto.account_status_key.';

CREATE FUNCTION liauto.account_status_key(p_body text, p_json jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_account  text := nullif(p_json #>> '{AccountStatus,account_id}', '');
    v_message  text := nullif(p_json #>> '{AccountStatus,message}', '');
    v_latest   liauto.webhook_events;
BEGIN
    IF v_account IS NULL OR v_message IS NULL THEN
        RETURN liauto.webhook_body_key('unipile_account_status', p_body);
    END IF;

    -- two copies of one status arriving together must meet on one key
    PERFORM pg_advisory_xact_lock(hashtextextended(
        'liauto.account_status:' || v_account, 0));

    SELECT e.* INTO v_latest
    FROM liauto.webhook_events AS e
    WHERE e.source = 'unipile_account_status'
      AND (e.body::jsonb #>> '{AccountStatus,account_id}') = v_account
    ORDER BY e.received_at DESC
    LIMIT 1;

    IF v_latest.delivery_key LIKE 'account_status:%'
       AND v_latest.body::jsonb #>> '{AccountStatus,message}' = v_message
       AND v_latest.received_at > liauto.now() - interval '1 hour' THEN
        RETURN v_latest.delivery_key;
    END IF;

    RETURN 'account_status:' || v_account || ':' || v_message || ':'
           || to_char(liauto.now() AT TIME ZONE 'UTC',
                      'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
END
$$;

COMMENT ON FUNCTION liauto.account_status_key(text, jsonb) IS
    'Key of an {"AccountStatus":{account_id,message}} delivery. The payload '
    'has no event id and no timestamp, so a retry cannot be told from a '
    'real repeat by its bytes. Rule: a status equal to the account''s '
    'latest stored status, received less than 1 hour after it, is a '
    'duplicate (it takes that row''s key); anything else is a new event '
    '(its key carries the receipt time). Unipile retries 5 times within '
    'minutes, so retries fall inside the hour; status webhooks fire on '
    'transitions only, so a repeat of the latest status changes nothing '
    'we know; and X, Y, X is always kept, however close together, as is '
    'the same status again after an hour. Serialized per account with a '
    'transaction advisory lock, so concurrent copies meet on one key.';


-- ------------------------------------------------------------------------
-- Ingest
-- ------------------------------------------------------------------------

CREATE FUNCTION api.ingest_webhook(p_source text, p_body text,
                                   p_headers jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_json  jsonb;
    v_key   text;
    v_id    uuid;
BEGIN
    BEGIN
        v_json := p_body::jsonb;
    EXCEPTION WHEN invalid_text_representation
                   OR untranslatable_character THEN
        RETURN QUERY SELECT * FROM api.error(400, 'BAD_REQUEST',
            'the request body is not valid JSON',
            jsonb_build_object('reason', SQLERRM));
        RETURN;
    END;

    IF jsonb_typeof(v_json) IS DISTINCT FROM 'object' THEN
        RETURN QUERY SELECT * FROM api.error(400, 'BAD_REQUEST',
            'the request body must be a JSON object',
            jsonb_build_object('body', 'must be an object'));
        RETURN;
    END IF;

    IF p_source = 'unipile_account_status'
       AND coalesce(p_headers ->> 'webhook-id', '') = '' THEN
        v_key := liauto.account_status_key(p_body, v_json);
    ELSE
        v_key := liauto.webhook_delivery_key(p_source, p_body, v_json,
                                             p_headers);
    END IF;

    INSERT INTO liauto.webhook_events (source, delivery_key, body, headers,
                                       received_at)
    VALUES (p_source, v_key, p_body, coalesce(p_headers, '{}'),
            liauto.now())
    ON CONFLICT (delivery_key) DO NOTHING
    RETURNING id INTO v_id;

    IF v_id IS NULL THEN
        INSERT INTO liauto.webhook_duplicates AS d (source, hour, count)
        VALUES (p_source, date_trunc('hour', liauto.now(), 'UTC'), 1)
        ON CONFLICT (source, hour) DO UPDATE SET count = d.count + 1;
        RETURN QUERY SELECT * FROM api.ok(200,
            jsonb_build_object('status', 'duplicate'));
        RETURN;
    END IF;

    -- The price of the wake-up: Postgres serializes the commits of
    -- notifying transactions (a database-wide lock from pre-commit to the
    -- end of the commit, WAL flush included), so concurrent deliveries
    -- commit one fsync after another instead of in a group. Measured on a
    -- 2-core box with fsync on, 64 concurrent calls: ~220 calls/s with it,
    -- ~3,200 without. Unipile's real rates are orders of magnitude lower;
    -- a coalesced wake-up (notify only an idle processor) is the lever if
    -- that ever changes.
    PERFORM pg_notify('liauto_webhooks', v_id::text);
    RETURN QUERY SELECT * FROM api.ok(200,
        jsonb_build_object('status', 'accepted', 'id', v_id));
END
$$;

COMMENT ON FUNCTION api.ingest_webhook(text, text, jsonb) IS
    'POST /webhooks/unipile/{users,messaging,account-status} after the '
    'module authenticated it: stores the raw body once per delivery key '
    '(liauto.webhook_delivery_key / liauto.account_status_key) with the '
    'headers worth keeping, NOTIFY liauto_webhooks ''<id>'' for a new row; '
    '200 {"status":"accepted","id"} or 200 {"status":"duplicate"} (counted '
    'in webhook_duplicates). A body that is not a JSON object: 400, '
    'nothing stored.';


-- ------------------------------------------------------------------------
-- Health
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.webhook_source_health(p_source text,
                                             p_now timestamptz)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'source', p_source,
        'last_delivery_at', api.ts(max(e.received_at)),
        'deliveries_24h', count(*) FILTER (
            WHERE e.received_at > p_now - interval '24 hours'),
        'deliveries_1h', count(*) FILTER (
            WHERE e.received_at > p_now - interval '1 hour'),
        'duplicates_24h', (SELECT coalesce(sum(d.count), 0)
                           FROM liauto.webhook_duplicates AS d
                           WHERE d.source = p_source
                             AND d.hour > p_now - interval '24 hours'),
        'duplicates_1h', (SELECT coalesce(sum(d.count), 0)
                          FROM liauto.webhook_duplicates AS d
                          WHERE d.source = p_source
                            AND d.hour > p_now - interval '1 hour'),
        'unprocessed', (SELECT count(*)
                        FROM liauto.webhook_events AS u
                        WHERE u.source = p_source
                          AND u.processed_at IS NULL),
        'oldest_unprocessed_age_s', (
            SELECT round(extract(epoch FROM p_now - min(u.received_at)), 3)
            FROM liauto.webhook_events AS u
            WHERE u.source = p_source AND u.processed_at IS NULL),
        'processing_failures', (SELECT count(*)
                                FROM liauto.webhook_events AS f
                                WHERE f.source = p_source
                                  AND f.processing_error IS NOT NULL),
        'lag_p50_ms', (
            SELECT round(percentile_cont(0.5) WITHIN GROUP (
                ORDER BY extract(epoch FROM p.processed_at - p.received_at)
            )::numeric * 1000, 1)
            FROM liauto.webhook_events AS p
            WHERE p.source = p_source
              AND p.processed_at > p_now - interval '1 hour'),
        'lag_p99_ms', (
            SELECT round(percentile_cont(0.99) WITHIN GROUP (
                ORDER BY extract(epoch FROM p.processed_at - p.received_at)
            )::numeric * 1000, 1)
            FROM liauto.webhook_events AS p
            WHERE p.source = p_source
              AND p.processed_at > p_now - interval '1 hour'))
    FROM liauto.webhook_events AS e
    WHERE e.source = p_source
$$;

COMMENT ON FUNCTION liauto.webhook_source_health(text, timestamptz) IS
    'One source of api.webhooks_health at p_now. The 24 h / 1 h windows '
    'are by received_at; duplicates by the hour they were counted in; the '
    'lag percentiles are processed_at - received_at of the events '
    'processed in the last hour (null when none).';

CREATE FUNCTION api.webhooks_health(p_caller jsonb, p_path text[],
                                    p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_envelope  text;
    v_now       timestamptz := liauto.now();
BEGIN
    PERFORM api.reject_query(p_query);
    PERFORM api.require_admin(p_caller);

    RETURN QUERY SELECT * FROM api.ok(200, jsonb_build_object(
        'generated_at', api.ts(v_now),
        'sources', (SELECT jsonb_agg(liauto.webhook_source_health(s, v_now)
                                     ORDER BY s)
                    FROM unnest(ARRAY['unipile_account_status',
                                      'unipile_messaging',
                                      'unipile_users']) AS s)));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.webhooks_health(jsonb, text[], jsonb, jsonb) IS
    'GET /webhooks/health (admin): {generated_at, sources: [per source: '
    'last_delivery_at, deliveries_24h, deliveries_1h, duplicates_24h, '
    'duplicates_1h, unprocessed, oldest_unprocessed_age_s, '
    'processing_failures, lag_p50_ms, lag_p99_ms]}.';
