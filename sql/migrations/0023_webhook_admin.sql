-- 0023_webhook_admin: managing the Unipile webhooks themselves (issue 5,
-- "Admin webhook management"): list, register exactly one webhook per
-- source pointing to our endpoint with the secret header, delete, and
-- repair the misconfigured ones (the seed's "messaging webhook pointed at
-- /users" incident). The module never calls Unipile: each request is a
-- manage_webhooks run of liauto.sync_jobs that the worker carries out;
-- liauto.unipile_webhooks is what the worker last saw.

ALTER TABLE liauto.sync_jobs
    ALTER COLUMN account_id DROP NOT NULL,
    DROP CONSTRAINT sync_jobs_job_check,
    ADD CONSTRAINT sync_jobs_job_check
        CHECK (job IN ('poll_messages', 'sync_relations',
                       'backfill_conversations', 'manage_webhooks')),
    ADD CONSTRAINT sync_jobs_account_check
        CHECK ((job = 'manage_webhooks') = (account_id IS NULL));

COMMENT ON CONSTRAINT sync_jobs_account_check ON liauto.sync_jobs IS
    'Webhooks are workspace-wide: a manage_webhooks run has no account, '
    'every other run exactly one.';

CREATE TABLE liauto.unipile_webhooks (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    unipile_id   text NOT NULL
                 CONSTRAINT unipile_webhooks_unipile_id_key UNIQUE,
    source       text NOT NULL,
    name         text,
    request_url  text NOT NULL,
    enabled      boolean,
    header_keys  text[] NOT NULL DEFAULT '{}',
    events       jsonb NOT NULL DEFAULT '[]',
    seen_at      timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE liauto.unipile_webhooks IS
    'The webhooks registered at Unipile as the worker last listed them '
    '(our own id, for the admin API, and Unipile''s). Header values are '
    'never kept: they hold the secret.';

CREATE TRIGGER unipile_webhooks_touch_updated_at
    BEFORE UPDATE ON liauto.unipile_webhooks
    FOR EACH ROW EXECUTE FUNCTION liauto.touch_updated_at();


-- ------------------------------------------------------------------------
-- What the worker calls
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.store_webhook(p_item jsonb) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO liauto.unipile_webhooks AS w
           (unipile_id, source, name, request_url, enabled, header_keys,
            events, seen_at)
    VALUES (coalesce(p_item ->> 'id', p_item ->> 'webhook_id'),
            coalesce(p_item ->> 'source', 'unknown'), p_item ->> 'name',
            coalesce(p_item ->> 'request_url', ''),
            (p_item ->> 'enabled')::boolean,
            ARRAY(SELECT h ->> 'key'
                  FROM jsonb_array_elements(
                           CASE jsonb_typeof(p_item -> 'headers')
                           WHEN 'array' THEN p_item -> 'headers'
                           ELSE '[]' END) AS h),
            CASE jsonb_typeof(p_item -> 'events') WHEN 'array'
                 THEN p_item -> 'events' ELSE '[]' END,
            liauto.now())
    ON CONFLICT (unipile_id) DO UPDATE
       SET source = EXCLUDED.source, name = EXCLUDED.name,
           request_url = EXCLUDED.request_url, enabled = EXCLUDED.enabled,
           header_keys = EXCLUDED.header_keys, events = EXCLUDED.events,
           seen_at = EXCLUDED.seen_at
$$;

COMMENT ON FUNCTION liauto.store_webhook(jsonb) IS
    'One Webhook of Unipile''s list (or of our own create) into the '
    'cache, header keys only.';

CREATE FUNCTION webhooks.store_webhooks_page(p_job_id uuid, p_items jsonb)
RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM liauto.store_webhook(i)
    FROM jsonb_array_elements(p_items) AS i
    WHERE coalesce(i ->> 'id', '') <> '';
    PERFORM liauto.count_job(p_job_id, jsonb_build_object(
        'pages', 1, 'webhooks', jsonb_array_length(p_items)));
    RETURN jsonb_array_length(p_items);
END
$$;

COMMENT ON FUNCTION webhooks.store_webhooks_page(uuid, jsonb) IS
    'One page of GET /webhooks into liauto.unipile_webhooks.';

CREATE FUNCTION liauto.webhook_path(p_source text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_source WHEN 'users' THEN '/users'
                         WHEN 'messaging' THEN '/messaging'
                         WHEN 'account_status' THEN '/account-status' END
$$;

COMMENT ON FUNCTION liauto.webhook_path(text) IS
    'Our endpoint for a Unipile webhook source, under the base URL '
    '(POST /api/v1/webhooks/unipile/{users,messaging,account-status}).';

CREATE FUNCTION webhooks.webhook_plan(p_job_id uuid, p_base_url text)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_job   liauto.sync_jobs;
    v_base  text := rtrim(p_base_url, '/');
    v_keep  uuid[];
BEGIN
    SELECT * INTO v_job FROM liauto.sync_jobs WHERE id = p_job_id;
    -- the run listed every webhook first: older rows are gone at Unipile
    DELETE FROM liauto.unipile_webhooks WHERE seen_at < v_job.started_at;

    -- per source, the oldest correct one: our URL for that source, the
    -- auth header, not disabled
    v_keep := ARRAY(
        SELECT DISTINCT ON (w.source) w.id
        FROM liauto.unipile_webhooks AS w
        WHERE w.request_url = v_base || liauto.webhook_path(w.source)
          AND EXISTS (SELECT 1 FROM unnest(w.header_keys) AS k
                      WHERE lower(k) = 'unipile-auth')
          AND w.enabled IS NOT false
        ORDER BY w.source, w.created_at, w.unipile_id);

    RETURN jsonb_build_object(
        -- ours (under our base URL) but not a keeper: wrong source for the
        -- URL, no secret, disabled, or a second one of its source
        'delete', coalesce((
            SELECT jsonb_agg(w.unipile_id ORDER BY w.created_at,
                                                   w.unipile_id)
            FROM liauto.unipile_webhooks AS w
            WHERE (w.request_url = v_base
                   OR left(w.request_url, length(v_base) + 1) = v_base || '/')
              AND w.id <> ALL (v_keep)), '[]'),
        'create', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'source', s.source,
                       'request_url', v_base || liauto.webhook_path(s.source),
                       'name', 'liauto-' || s.source,
                       'events', s.events) ORDER BY s.source)
            FROM (VALUES ('users', '["new_relation"]'::jsonb),
                         ('messaging', '["message_received"]'),
                         ('account_status',
                          '["ok", "error", "stopped", "credentials",
                            "permissions", "connecting", "deleted",
                            "creation_success", "creation_fail",
                            "reconnected", "sync_success"]'))
                 AS s (source, events)
            WHERE NOT EXISTS (
                SELECT 1 FROM liauto.unipile_webhooks AS w
                WHERE w.id = ANY (v_keep) AND w.source = s.source)), '[]'));
END
$$;

COMMENT ON FUNCTION webhooks.webhook_plan(uuid, text) IS
    'What a manage_webhooks ensure run must do after listing: delete every '
    'webhook under p_base_url that is not the one correct webhook of its '
    'source (wrong URL for its source, no Unipile-Auth header, disabled, '
    'duplicate), and create the sources that have none (every '
    'account_status event, OK included, so recoveries are seen). '
    '{"delete": [unipile ids], "create": [bodies without headers]}; the '
    'worker adds the secret header. Webhooks of other URLs are left alone.';

CREATE FUNCTION webhooks.webhook_changed(p_job_id uuid, p_unipile_id text,
                                         p_created jsonb)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_created IS NULL THEN
        DELETE FROM liauto.unipile_webhooks WHERE unipile_id = p_unipile_id;
    ELSE
        PERFORM liauto.store_webhook(p_created || jsonb_build_object(
            'id', p_unipile_id, 'enabled', true,
            'headers', '[{"key": "Unipile-Auth"},
                         {"key": "Content-Type"}]'::jsonb));
    END IF;
    PERFORM liauto.count_job(p_job_id, jsonb_build_object(
        CASE WHEN p_created IS NULL THEN 'deleted' ELSE 'created' END, 1));
END
$$;

COMMENT ON FUNCTION webhooks.webhook_changed(uuid, text, jsonb) IS
    'A webhook the run deleted (p_created NULL) or created (its body) is '
    'reflected in the cache and the run''s counts.';


-- ------------------------------------------------------------------------
-- Admin API
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.unipile_webhook_json(p_w liauto.unipile_webhooks)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', p_w.id, 'unipile_id', p_w.unipile_id, 'source', p_w.source,
        'name', p_w.name, 'request_url', p_w.request_url,
        'enabled', p_w.enabled, 'header_keys', to_jsonb(p_w.header_keys),
        'events', p_w.events, 'seen_at', api.ts(p_w.seen_at))
$$;

COMMENT ON FUNCTION liauto.unipile_webhook_json(liauto.unipile_webhooks) IS
    'A registered webhook as the admin API shows it.';

CREATE FUNCTION liauto.request_webhook_job(p_caller jsonb, p_period text,
                                           p_params jsonb)
RETURNS uuid
LANGUAGE sql AS $$
    SELECT liauto.request_job('manage_webhooks', p_period, NULL, NULL,
                              p_params,
                              (SELECT u.id FROM liauto.users AS u
                               WHERE u.id::text = p_caller ->> 'sub'))
$$;

COMMENT ON FUNCTION liauto.request_webhook_job(jsonb, text, jsonb) IS
    'Asks the workers for a manage_webhooks run (list, ensure, delete).';

CREATE FUNCTION liauto.job_response(p_status integer, p_job_id uuid)
RETURNS TABLE (status integer, body text)
LANGUAGE sql STABLE AS $$
    SELECT * FROM api.ok(p_status, (SELECT liauto.sync_job_json(j)
                                    FROM liauto.sync_jobs AS j
                                    WHERE j.id = p_job_id))
$$;

COMMENT ON FUNCTION liauto.job_response(integer, uuid) IS
    'A run as the body of a 202.';

CREATE FUNCTION api.admin_webhooks_list(p_caller jsonb, p_path text[],
                                        p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_job       uuid;
    v_envelope  text;
BEGIN
    PERFORM api.require_admin(p_caller);
    PERFORM api.reject_query(p_query);
    -- a fresh list at most once a minute, whoever asks
    v_job := liauto.request_webhook_job(
        p_caller, 'list:' || to_char(liauto.now() AT TIME ZONE 'UTC',
                                     'YYYY-MM-DD"T"HH24:MI'),
        '{"action": "list"}');

    RETURN QUERY SELECT * FROM api.ok(200, jsonb_build_object(
        'data', coalesce((SELECT jsonb_agg(liauto.unipile_webhook_json(w)
                                           ORDER BY w.source, w.created_at)
                          FROM liauto.unipile_webhooks AS w), '[]'),
        'next_cursor', NULL,
        'seen_at', (SELECT api.ts(max(w.seen_at))
                    FROM liauto.unipile_webhooks AS w),
        'refresh_job_id', v_job));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.admin_webhooks_list(jsonb, text[], jsonb, jsonb) IS
    'GET /admin/webhooks: the webhooks as the worker last listed them '
    '(seen_at), and a refresh asked for (refresh_job_id, NULL when one '
    'was already asked this minute).';

CREATE FUNCTION api.admin_webhooks_ensure(p_caller jsonb, p_path text[],
                                          p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_job       uuid;
    v_envelope  text;
BEGIN
    PERFORM api.require_admin(p_caller);
    PERFORM api.reject_query(p_query);
    PERFORM api.raise_invalid(api.validate_body(coalesce(p_body, '{}'),
                                                '{}', true, '{}'));
    -- its own statement: the answer below must see the new run
    v_job := liauto.request_webhook_job(p_caller,
                                        'ensure:' || gen_random_uuid(),
                                        '{"action": "ensure"}');
    RETURN QUERY SELECT * FROM liauto.job_response(202, v_job);
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.admin_webhooks_ensure(jsonb, text[], jsonb, jsonb) IS
    'POST /admin/webhooks {}: a run that lists the webhooks, deletes the '
    'misconfigured ones under our URL and registers the missing sources '
    '(webhooks.webhook_plan); 202 with the run.';

CREATE FUNCTION api.admin_webhooks_delete(p_caller jsonb, p_path text[],
                                          p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_hook      liauto.unipile_webhooks;
    v_job       uuid;
    v_envelope  text;
BEGIN
    PERFORM api.require_admin(p_caller);
    PERFORM api.reject_query(p_query);
    SELECT * INTO v_hook FROM liauto.unipile_webhooks
    WHERE id = p_path[1]::uuid;
    IF NOT FOUND THEN
        PERFORM api.raise_error(404, 'NOT_FOUND', 'webhook not found');
    END IF;
    v_job := liauto.request_webhook_job(
        p_caller, 'delete:' || gen_random_uuid(),
        jsonb_build_object('action', 'delete',
                           'unipile_id', v_hook.unipile_id));
    RETURN QUERY SELECT * FROM liauto.job_response(202, v_job);
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.admin_webhooks_delete(jsonb, text[], jsonb, jsonb) IS
    'DELETE /admin/webhooks/{id}: a run that deletes that webhook at '
    'Unipile; 202 with the run.';
