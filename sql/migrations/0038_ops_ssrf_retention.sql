-- 0038 (ops): outbound webhook subscriptions may not point inside (SSRF
-- guard), and a retention job keeps the logs from growing forever.
--
-- A subscription URL is POSTed to by the worker from inside our network,
-- so a client could make us reach this host's or the LAN's services
-- (Postgres, metadata endpoints, admin panels) through it. At creation a
-- URL must be http(s), carry no credentials (they would be sent, and
-- logged, on every delivery) and not name an internal address literally:
-- loopback, private, link-local, multicast, unspecified or reserved, IPv4
-- or IPv6, an IPv4-mapped IPv6 address judged as its IPv4 address, and
-- "localhost" names. Numeric hosts other than a canonical dotted quad
-- (2130706433, 0x7f.1, 017.0.0.1: resolvers read them as IPv4) are
-- refused rather than decoded. A host name is not resolved here: the
-- worker checks the address it actually connects to (worker/src/nets.c),
-- which also stops DNS rebinding.
--
-- The database setting liauto.webhook_allow_nets ("127.0.0.0/8, ::1")
-- lifts the refusal for the networks it lists: the tests and the local
-- simulator deliver to 127.0.0.1 (./build.sh up sets it). Unset: refuse.

-- the address a connection reaches: ::ffff:a.b.c.d is a.b.c.d
CREATE FUNCTION liauto.address_unmapped(p_addr inet) RETURNS inet
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_addr <<= '::ffff:0.0.0.0/96'
                THEN '0.0.0.0'::inet + (p_addr - '::ffff:0.0.0.0'::inet)
                ELSE p_addr END
$$;

CREATE FUNCTION liauto.address_kind(p_addr inet) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT k.kind
    FROM (SELECT liauto.address_unmapped(p_addr) AS a) AS m,
         (VALUES (1, '0.0.0.0/8'::inet, 'unspecified'),
                 (2, '10.0.0.0/8', 'private'),
                 (3, '100.64.0.0/10', 'private (carrier-grade NAT)'),
                 (4, '127.0.0.0/8', 'loopback'),
                 (5, '169.254.0.0/16', 'link-local'),
                 (6, '172.16.0.0/12', 'private'),
                 (7, '192.0.0.0/24', 'reserved'),
                 (8, '192.168.0.0/16', 'private'),
                 (9, '198.18.0.0/15', 'reserved (benchmarking)'),
                 (10, '224.0.0.0/4', 'multicast'),
                 (11, '240.0.0.0/4', 'reserved'),
                 (12, '::/128', 'unspecified'),
                 (13, '::1/128', 'loopback'),
                 (14, '::/96', 'reserved (IPv4-compatible)'),
                 (15, 'fc00::/7', 'private (unique local)'),
                 (16, 'fe80::/10', 'link-local'),
                 (17, 'fec0::/10', 'private (site-local)'),
                 (18, 'ff00::/8', 'multicast')) AS k (ord, net, kind)
    WHERE m.a <<= k.net
    ORDER BY k.ord
    LIMIT 1
$$;

COMMENT ON FUNCTION liauto.address_kind(inet) IS
    'What an internal address is (loopback, private, link-local, '
    'multicast, unspecified, reserved), NULL when public; IPv4-mapped IPv6 '
    'is judged as its IPv4 address. The same table as worker/src/nets.c.';

CREATE FUNCTION liauto.webhook_allowed(p_addr inet) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1
        FROM regexp_split_to_table(
                 coalesce(current_setting('liauto.webhook_allow_nets', true),
                          ''), '[,[:space:]]+') AS n
        WHERE n <> ''
          AND liauto.address_unmapped(p_addr)
              <<= liauto.address_unmapped(n::inet))
$$;

COMMENT ON FUNCTION liauto.webhook_allowed(inet) IS
    'Whether the setting liauto.webhook_allow_nets (CIDRs) allows an '
    'internal address as a webhook target.';

-- The host of an http(s) URL: lower case, no brackets, no trailing dot.
CREATE FUNCTION liauto.url_host(p_url text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT rtrim(lower(CASE WHEN a LIKE '[%'
                            THEN substring(a FROM '^\[([^]]*)\]')
                            ELSE substring(a FROM '^([^:]*)') END), '.')
    FROM substring(p_url FROM '^https?://([^/?#]*)') AS a
$$;

CREATE FUNCTION liauto.webhook_url_error(p_url text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_host  text;
    v_addr  inet;
    v_kind  text;
BEGIN
    IF p_url !~ '^https?://[^[:space:]/?#]+[^[:space:]]*$' THEN
        RETURN 'must be an http:// or https:// URL';
    END IF;
    IF substring(p_url FROM '^https?://([^/?#]*)') LIKE '%@%' THEN
        RETURN 'must not carry credentials (user:password@host)';
    END IF;

    v_host := liauto.url_host(p_url);
    IF v_host IS NULL OR v_host = '' THEN
        RETURN 'must name a host';
    ELSIF v_host = 'localhost' OR v_host LIKE '%.localhost' THEN
        v_addr := '127.0.0.1';
    ELSIF v_host ~ '^((0x[0-9a-f]*|[0-9]+)(\.|$))+$' THEN
        -- what inet_aton() would read as IPv4: only the canonical form
        IF v_host !~ '^[0-9]{1,3}(\.[0-9]{1,3}){3}$'
           OR host(v_host::inet) <> v_host
        THEN
            RETURN 'must be a host name or a canonical IP address '
                   '(a.b.c.d)';
        END IF;
        v_addr := v_host::inet;
    ELSIF v_host LIKE '%:%' THEN
        BEGIN
            v_addr := v_host::inet;
        EXCEPTION WHEN invalid_text_representation THEN
            RETURN 'must be a host name or an IP address';
        END;
        IF masklen(v_addr) <> 128 THEN
            RETURN 'must be a host name or an IP address';
        END IF;
    ELSE
        RETURN NULL;    -- a name: the worker checks what it resolves to
    END IF;

    v_kind := liauto.address_kind(v_addr);
    IF v_kind IS NOT NULL AND NOT liauto.webhook_allowed(v_addr) THEN
        RETURN format('must not point at a %s address (%s): webhooks go '
                      'to public hosts only', v_kind, host(v_addr));
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION liauto.webhook_url_error(text) IS
    'Why a webhook subscription URL is refused (not http(s), credentials, '
    'an internal address literally), NULL when it may be subscribed.';

CREATE OR REPLACE FUNCTION api.webhook_subscriptions_create(p_caller jsonb,
                                                            p_path text[],
                                                            p_query jsonb,
                                                            p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_errors    jsonb;
    v_client    record;
    v_sub       liauto.webhook_subscriptions;
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    v_errors := api.validate_body(p_body,
        '{"url": {"type": "string", "required": true, "min": 1,
                  "max": 2048},
          "events": {"type": "array", "required": true},
          "client_id": {"type": "uuid"}}');
    IF jsonb_typeof(p_body -> 'url') = 'string' AND NOT v_errors ? 'url'
       AND liauto.webhook_url_error(p_body ->> 'url') IS NOT NULL
    THEN
        v_errors := v_errors || jsonb_build_object('url',
            liauto.webhook_url_error(p_body ->> 'url'));
    END IF;
    IF jsonb_typeof(p_body -> 'events') = 'array'
       AND liauto.webhook_events_error(p_body -> 'events') IS NOT NULL
    THEN
        v_errors := v_errors || jsonb_build_object('events',
            liauto.webhook_events_error(p_body -> 'events'));
    END IF;
    v_client := liauto.body_client_id(p_caller, p_body, v_errors);
    PERFORM api.raise_invalid(v_client.p_errors);

    INSERT INTO liauto.webhook_subscriptions AS s (client_id, url, events,
                                                   secret)
    VALUES (v_client.client_id, p_body ->> 'url',
            (SELECT array_agg(DISTINCT e)
             FROM jsonb_array_elements_text(p_body -> 'events') AS e),
            'whsec_' || encode(gen_random_bytes(32), 'hex'))
    RETURNING * INTO v_sub;

    RETURN QUERY SELECT * FROM api.ok(201,
        liauto.webhook_subscription_json(v_sub)
        || jsonb_build_object('secret', v_sub.secret));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.webhook_subscriptions_create(jsonb, text[], jsonb,
                                                     jsonb) IS
    'POST /webhook-subscriptions {url, events, client_id (admins)}: 201 '
    'with the signing secret, shown this once; 422 for a URL that is not '
    'http(s), carries credentials or names an internal address '
    '(liauto.webhook_url_error).';


-- ========================================================================
-- Retention
-- ========================================================================
--
-- Delivery logs and raw payloads are kept for a while (debugging, replay,
-- audit) and then deleted: emails sent or failed, outbound webhook
-- deliveries delivered or failed, Unipile webhook events processed, inbox
-- stream events, and idempotency keys past their expiry. Never anything
-- still to do (pending, sending, unprocessed). The worker runs it once per
-- period (engine.try_lead_job: one worker per period, whichever), in
-- batches of a few thousand rows per transaction so a large backlog never
-- holds long locks or one huge transaction; the ages are its settings
-- (LIAUTO_RETENTION_*, README).

CREATE FUNCTION liauto.retention_batch(p_keep jsonb, p_batch integer)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_now     timestamptz := liauto.now();
    v_counts  jsonb := '{}';
    v_n       bigint;
BEGIN
    IF p_batch IS NULL OR p_batch < 1
       OR (SELECT bool_or(value IS NULL OR jsonb_typeof(value) <> 'number'
                          OR value::numeric < 1)
           FROM jsonb_each(p_keep))
       OR NOT p_keep ?& '{emails,webhook_deliveries,webhook_events,'
                        'inbox_events}'
    THEN
        RAISE EXCEPTION 'retention_batch: p_keep needs emails, '
                        'webhook_deliveries, webhook_events, inbox_events '
                        '(days, >= 1) and p_batch rows (>= 1), got % and %',
                        p_keep, p_batch
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    WITH gone AS (
        DELETE FROM liauto.emails
        WHERE id IN (SELECT e.id FROM liauto.emails AS e
                     WHERE e.status IN ('sent', 'failed')
                       AND e.created_at < v_now - make_interval(
                               days => (p_keep ->> 'emails')::integer)
                     LIMIT p_batch
                     FOR UPDATE SKIP LOCKED)
        RETURNING 1)
    SELECT count(*) INTO v_n FROM gone;
    v_counts := v_counts || jsonb_build_object('emails', v_n);

    WITH gone AS (
        DELETE FROM liauto.webhook_deliveries
        WHERE id IN (SELECT d.id FROM liauto.webhook_deliveries AS d
                     WHERE d.status IN ('delivered', 'failed')
                       AND d.created_at < v_now - make_interval(
                               days => (p_keep ->> 'webhook_deliveries')
                                           ::integer)
                     LIMIT p_batch
                     FOR UPDATE SKIP LOCKED)
        RETURNING 1)
    SELECT count(*) INTO v_n FROM gone;
    v_counts := v_counts || jsonb_build_object('webhook_deliveries', v_n);

    WITH gone AS (
        DELETE FROM liauto.webhook_events
        WHERE id IN (SELECT w.id FROM liauto.webhook_events AS w
                     WHERE w.processed_at IS NOT NULL
                       AND w.received_at < v_now - make_interval(
                               days => (p_keep ->> 'webhook_events')
                                           ::integer)
                     LIMIT p_batch
                     FOR UPDATE SKIP LOCKED)
        RETURNING 1)
    SELECT count(*) INTO v_n FROM gone;
    v_counts := v_counts || jsonb_build_object('webhook_events', v_n);

    WITH gone AS (
        DELETE FROM liauto.inbox_events
        WHERE id IN (SELECT i.id FROM liauto.inbox_events AS i
                     WHERE i.created_at < v_now - make_interval(
                               days => (p_keep ->> 'inbox_events')::integer)
                     ORDER BY i.created_at
                     LIMIT p_batch
                     FOR UPDATE SKIP LOCKED)
        RETURNING 1)
    SELECT count(*) INTO v_n FROM gone;
    v_counts := v_counts || jsonb_build_object('inbox_events', v_n);

    -- expired keys are already treated as absent: nothing to keep. Their
    -- expiry is on the database's clock (api.dispatch_idempotent, 0002),
    -- not liauto.now(), so a moved engine clock cannot drop live keys.
    WITH gone AS (
        DELETE FROM liauto.idempotency_keys AS k
        USING (SELECT x.user_id, x.key FROM liauto.idempotency_keys AS x
               WHERE x.expires_at < now()
               ORDER BY x.expires_at
               LIMIT p_batch
               FOR UPDATE SKIP LOCKED) AS old
        WHERE k.user_id = old.user_id AND k.key = old.key
        RETURNING 1)
    SELECT count(*) INTO v_n FROM gone;
    v_counts := v_counts || jsonb_build_object('idempotency_keys', v_n);

    RETURN v_counts;
END
$$;

COMMENT ON FUNCTION liauto.retention_batch(jsonb, integer) IS
    'Deletes at most p_batch rows of each kind older than p_keep''s days '
    '({"emails": 90, "webhook_deliveries": 90, "webhook_events": 30, '
    '"inbox_events": 7}): emails sent or failed, webhook deliveries '
    'delivered or failed, webhook events processed, inbox events, and '
    'idempotency keys past expires_at. Returns the count per kind; call '
    'again while any equals p_batch.';

CREATE FUNCTION liauto.retention_start(p_period_seconds integer,
                                       p_keep jsonb, p_batch integer)
RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF p_period_seconds IS NULL OR p_period_seconds < 1 THEN
        RAISE EXCEPTION 'retention_start: the period must be >= 1 second'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF NOT engine.try_lead_job('retention', to_timestamp(
               floor(extract(epoch FROM liauto.now()) / p_period_seconds)
               * p_period_seconds))
    THEN
        RETURN NULL;
    END IF;

    RETURN liauto.retention_batch(p_keep, p_batch);
END
$$;

COMMENT ON FUNCTION liauto.retention_start(integer, jsonb, integer) IS
    'The first batch of this period''s retention run, for exactly one '
    'caller per period of p_period_seconds (committed with it); NULL for '
    'the others. The caller goes on with liauto.retention_batch.';
