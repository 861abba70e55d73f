-- 0002_api_framework: the shared helpers every api.<resource>_<verb>
-- function is built from (error envelopes, list parameters, keyset pages,
-- body validation, idempotent dispatch) and the settings table.
--
-- Error mechanism (see sql/README.md): a helper that finds a bad request
-- calls api.raise_error(), which raises SQLSTATE 'LIAPI' carrying the whole
-- envelope as JSON in DETAIL. Each api.* resource function ends with
--
--     EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
--         GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
--         RETURN QUERY SELECT * FROM api.error_from(v_envelope);
--
-- so the caller always gets one (status, body) row, and whatever the
-- function wrote before the error is rolled back with the block.

-- ------------------------------------------------------------------------
-- Responses
-- ------------------------------------------------------------------------

CREATE FUNCTION api.error(p_status integer, p_code text, p_message text,
                          p_details jsonb DEFAULT '{}')
RETURNS TABLE (status integer, body text)
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_status,
           jsonb_build_object('code', p_code,
                              'message', p_message,
                              'details', coalesce(p_details, '{}'))::text
$$;

COMMENT ON FUNCTION api.error(integer, text, text, jsonb) IS
    'The error envelope {"code","message","details"} as the one '
    '(status, body) row every api function returns.';

CREATE FUNCTION api.ok(p_status integer, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_status, coalesce(p_body::text, '')
$$;

COMMENT ON FUNCTION api.ok(integer, jsonb) IS
    'A success row; a NULL body becomes the empty body of a 204.';

CREATE FUNCTION api.ts(p_time timestamptz) RETURNS text
LANGUAGE sql STABLE STRICT AS $$
    SELECT to_char(p_time AT TIME ZONE 'UTC',
                   'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

COMMENT ON FUNCTION api.ts(timestamptz) IS
    'ISO 8601 UTC with milliseconds and Z, whatever the session TimeZone. '
    'For display only: cursors keep full microseconds (api.keyset_page).';

CREATE FUNCTION api.raise_error(p_status integer, p_code text,
                                p_message text, p_details jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'LIAPI',
        MESSAGE = p_message,
        DETAIL = jsonb_build_object('status', p_status,
                                    'code', p_code,
                                    'message', p_message,
                                    'details', coalesce(p_details, '{}'));
END
$$;

COMMENT ON FUNCTION api.raise_error(integer, text, text, jsonb) IS
    'Abandons the request with an error envelope: SQLSTATE LIAPI, the '
    'envelope in DETAIL. Lets helpers nested deep in a request stop it '
    'without every caller checking a return value.';

CREATE FUNCTION api.error_from(p_envelope text)
RETURNS TABLE (status integer, body text)
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT e.*
    FROM (SELECT p_envelope::jsonb AS j) AS d,
         api.error((d.j ->> 'status')::integer, d.j ->> 'code',
                   d.j ->> 'message', d.j -> 'details') AS e
$$;

COMMENT ON FUNCTION api.error_from(text) IS
    'The (status, body) row of an envelope raised by api.raise_error, for '
    'the EXCEPTION WHEN SQLSTATE ''LIAPI'' handler of api functions.';

CREATE FUNCTION api.raise_invalid(p_errors jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_errors <> '{}' THEN
        PERFORM api.raise_error(422, 'VALIDATION_FAILED',
                                'validation failed', p_errors);
    END IF;
END
$$;

COMMENT ON FUNCTION api.raise_invalid(jsonb) IS
    'Raises 422 VALIDATION_FAILED with every collected field error at '
    'once ({"field": "message"}); does nothing when there is none.';


-- ------------------------------------------------------------------------
-- Tenancy
-- ------------------------------------------------------------------------

CREATE FUNCTION api.caller_sees(p_caller jsonb, p_client_id uuid)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(p_caller ->> 'role' = 'admin'
                    OR p_client_id = (p_caller ->> 'client_id')::uuid,
                    false)
$$;

COMMENT ON FUNCTION api.caller_sees(jsonb, uuid) IS
    'Tenant rule of every query: admins see every client, agents and '
    'viewers only their own; a caller without client_id sees nothing. '
    'Plain SQL so the planner inlines it into the WHERE clause.';


-- ------------------------------------------------------------------------
-- Lists: query parameters, cursors, keyset pages
-- ------------------------------------------------------------------------

CREATE TYPE api.list_query AS (
    "limit"  integer,
    cursor   jsonb,
    sort     text,
    "order"  text
);

COMMENT ON TYPE api.list_query IS
    'Validated list parameters (api.list_params); cursor is the decoded '
    '[sort_value, id, sort, order] or NULL for the first page.';

CREATE FUNCTION api.encode_cursor(p_value jsonb, p_id uuid, p_sort text,
                                  p_order text)
RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT translate(encode(convert_to(
                         jsonb_build_array(p_value, p_id, p_sort,
                                           p_order)::text, 'UTF8'),
                         'base64'),
                     E'+/=\n', '-_')
$$;

COMMENT ON FUNCTION api.encode_cursor(jsonb, uuid, text, text) IS
    'Opaque cursor: unpadded base64url of [sort_value, id, sort, order]. '
    'Not signed on purpose: it only names a position, and every page query '
    'is still scoped to the caller''s tenant, so a forged or foreign '
    'cursor can reveal nothing.';

CREATE FUNCTION api.decode_cursor(p_cursor text, p_sort text, p_order text)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_base64  text := translate(p_cursor, '-_', '+/');
    v_cursor  jsonb;
BEGIN
    BEGIN
        v_cursor := convert_from(decode(
                        v_base64 || repeat('=', (4 - length(v_base64) % 4) % 4),
                        'base64'), 'UTF8')::jsonb;
    EXCEPTION WHEN OTHERS THEN
        -- Garbage of any kind (bad base64, bad UTF-8, bad JSON) is the
        -- client's mistake, not a server error.
        v_cursor := NULL;
    END;

    IF v_cursor IS NULL
       OR jsonb_typeof(v_cursor) <> 'array'
       OR jsonb_array_length(v_cursor) <> 4
       OR jsonb_typeof(v_cursor -> 0) NOT IN ('string', 'number')
       OR coalesce(v_cursor ->> 1, '') !~* '^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$'
       OR v_cursor ->> 2 IS DISTINCT FROM p_sort
       OR v_cursor ->> 3 IS DISTINCT FROM p_order
    THEN
        PERFORM api.raise_error(400, 'BAD_REQUEST', 'invalid cursor',
                                '{"cursor": "invalid cursor"}');
    END IF;

    RETURN v_cursor;
END
$$;

COMMENT ON FUNCTION api.decode_cursor(text, text, text) IS
    'Decoded cursor, or 400 "invalid cursor" for garbage and for a cursor '
    'made with another sort or order (its position means nothing there).';

CREATE FUNCTION api.list_params(p_query jsonb, p_sortable text[],
                                p_filters text[])
RETURNS api.list_query
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_query   jsonb := coalesce(p_query, '{}');
    v_errors  jsonb := '{}';
    v_param   text;
    v_result  api.list_query;
BEGIN
    FOR v_param IN SELECT jsonb_object_keys(v_query) LOOP
        IF v_param NOT IN ('limit', 'cursor', 'sort', 'order')
           AND NOT (v_param LIKE 'filter[%]'
                    AND substr(v_param, 8, length(v_param) - 8)
                        = ANY (p_filters))
        THEN
            v_errors := v_errors || jsonb_build_object(v_param,
                                                       'unknown parameter');
        ELSIF jsonb_typeof(v_query -> v_param) <> 'string' THEN
            v_errors := v_errors || jsonb_build_object(v_param,
                                                       'must be a string');
        END IF;
    END LOOP;

    v_result."limit" := 50;
    IF v_query ? 'limit' THEN
        IF v_query ->> 'limit' ~ '^[0-9]{1,3}$'
           AND (v_query ->> 'limit')::integer BETWEEN 1 AND 200
        THEN
            v_result."limit" := (v_query ->> 'limit')::integer;
        ELSE
            v_errors := v_errors || '{"limit": "must be an integer between '
                                    '1 and 200"}';
        END IF;
    END IF;

    v_result.sort := coalesce(v_query ->> 'sort', 'created_at');
    IF NOT v_result.sort = ANY (p_sortable) THEN
        v_errors := v_errors || jsonb_build_object('sort',
            'must be one of: ' || array_to_string(p_sortable, ', '));
    END IF;

    v_result."order" := coalesce(v_query ->> 'order', 'desc');
    IF v_result."order" NOT IN ('asc', 'desc') THEN
        v_errors := v_errors || '{"order": "must be asc or desc"}';
    END IF;

    IF v_errors <> '{}' THEN
        PERFORM api.raise_error(400, 'BAD_REQUEST',
                                'invalid query parameters', v_errors);
    END IF;

    IF v_query ? 'cursor' THEN
        v_result.cursor := api.decode_cursor(v_query ->> 'cursor',
                                             v_result.sort,
                                             v_result."order");
    END IF;

    RETURN v_result;
END
$$;

COMMENT ON FUNCTION api.list_params(jsonb, text[], text[]) IS
    'Validates limit (1..200, default 50), sort (one of p_sortable, '
    'default created_at), order (asc|desc, default desc), cursor and that '
    'every parameter is known (filter[<name>] for name in p_filters); '
    'raises one 400 BAD_REQUEST naming every bad parameter.';

CREATE FUNCTION api.query_timestamp(p_query jsonb, p_param text)
RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_text  text := p_query ->> p_param;
BEGIN
    IF v_text IS NULL THEN
        RETURN NULL;
    END IF;
    -- The regex keeps Postgres' lenient input ('now', 'epoch', 'Jan 5')
    -- out: the contract promises ISO 8601 only.
    IF v_text ~ ('^\d{4}-\d{2}-\d{2}'
                 '([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?'
                 '(Z|[+-]\d{2}(:?\d{2})?)?)?$')
    THEN
        BEGIN
            RETURN v_text::timestamptz;
        EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow
        THEN
            NULL;  -- a well-formed but impossible date, e.g. 2026-02-30
        END;
    END IF;
    PERFORM api.raise_error(400, 'BAD_REQUEST', 'invalid query parameters',
                            jsonb_build_object(p_param,
                                'must be an ISO 8601 timestamp'));
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION api.query_timestamp(jsonb, text) IS
    'A filter[created_from]-style timestamp parameter, NULL when absent, '
    '400 when not ISO 8601.';

CREATE FUNCTION api.like_pattern(p_search text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT '%' || replace(replace(replace(p_search, '\', '\\'),
                                  '%', '\%'), '_', '\_') || '%'
$$;

COMMENT ON FUNCTION api.like_pattern(text) IS
    'ILIKE pattern "contains p_search": the client''s % and _ are literal '
    'characters, not wildcards (a search for "100%" finds "100%").';

CREATE FUNCTION api.keyset_page(p_params api.list_query, p_table regclass,
                                p_json text, p_where text, p_args jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_type      text;
    v_key       text;
    v_after     text := '';
    v_cmp       text := CASE p_params."order" WHEN 'asc' THEN '>' ELSE '<' END;
    v_data      jsonb := '[]';
    v_next      text;
    v_row       record;
    v_count     integer := 0;
BEGIN
    SELECT format_type(a.atttypid, a.atttypmod),
           CASE WHEN a.attnotnull THEN format('t.%I', a.attname)
                ELSE format('coalesce(t.%I, '''')', a.attname) END
    INTO v_type, v_key
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = p_table AND a.attname = p_params.sort
      AND a.attnum > 0 AND NOT a.attisdropped;
    IF v_type IS NULL THEN
        RAISE EXCEPTION 'keyset_page: % has no column %', p_table,
                        p_params.sort;
    END IF;

    IF p_params.cursor IS NOT NULL THEN
        BEGIN
            -- A hand-made cursor may hold a value of the wrong type.
            EXECUTE format('SELECT $1::%s', v_type) USING p_params.cursor ->> 0;
        EXCEPTION WHEN data_exception THEN
            PERFORM api.raise_error(400, 'BAD_REQUEST', 'invalid cursor',
                                    '{"cursor": "invalid cursor"}');
        END;
        v_after := format('AND (%s, t.id) %s ($2::%s, $3::uuid)',
                          v_key, v_cmp, v_type);
    END IF;

    -- Only identifiers and keywords chosen by this function and SQL text
    -- written by the calling api function are spliced in; every value the
    -- client sent travels as $1 (p_args), $2 and $3.
    FOR v_row IN EXECUTE format(
        'SELECT %s AS obj, to_jsonb(%s) AS sort_value, t.id FROM %s AS t '
        'WHERE (%s) %s ORDER BY %s %s, t.id %s LIMIT %s',
        p_json, v_key, p_table, p_where, v_after, v_key, p_params."order",
        p_params."order", p_params."limit" + 1)
        USING p_args, p_params.cursor ->> 0, p_params.cursor ->> 1
    LOOP
        v_count := v_count + 1;
        EXIT WHEN v_count > p_params."limit";
        v_data := v_data || jsonb_build_array(v_row.obj);
        v_next := api.encode_cursor(v_row.sort_value, v_row.id,
                                    p_params.sort, p_params."order");
    END LOOP;

    RETURN QUERY SELECT * FROM api.ok(200, jsonb_build_object(
        'data', v_data,
        'next_cursor', CASE WHEN v_count > p_params."limit" THEN v_next END));
END
$$;

COMMENT ON FUNCTION api.keyset_page(api.list_query, regclass, text, text,
                                    jsonb) IS
    'One page {"data","next_cursor"} of p_table (alias t) ordered by '
    '(sort, id) and filtered by p_where, keyset only (LIMIT n+1, never '
    'OFFSET). p_json is the SQL expression of one object, p_where a '
    'constant condition reading client values from $1 = p_args only; it '
    'must contain the tenant rule. A nullable sort column must be text '
    '(NULL sorts as '''').';


-- ------------------------------------------------------------------------
-- Request bodies
-- ------------------------------------------------------------------------

CREATE FUNCTION api.field_error(p_value jsonb, p_rule jsonb) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_type  text := jsonb_typeof(p_value);
    v_text  text := p_value #>> '{}';
    v_min   numeric := (p_rule ->> 'min')::numeric;
    v_max   numeric := (p_rule ->> 'max')::numeric;
BEGIN
    IF v_type = 'null' THEN
        RETURN CASE WHEN (p_rule ->> 'nullable')::boolean THEN NULL
                    ELSE 'must not be null' END;
    END IF;

    CASE p_rule ->> 'type'
    WHEN 'string' THEN
        IF v_type <> 'string' THEN
            RETURN 'must be a string';
        ELSIF p_rule ? 'enum' AND NOT (p_rule -> 'enum') ? v_text THEN
            RETURN 'must be one of: '
                   || (SELECT string_agg(e, ', ')
                       FROM jsonb_array_elements_text(p_rule -> 'enum') e);
        ELSIF v_min >= 1 AND btrim(v_text) = '' THEN
            RETURN 'must not be blank';
        ELSIF length(btrim(v_text)) < v_min THEN
            RETURN format('must be at least %s characters', v_min);
        ELSIF length(btrim(v_text)) > v_max THEN
            RETURN format('must be at most %s characters', v_max);
        END IF;
    WHEN 'int' THEN
        IF v_type <> 'number' THEN
            RETURN 'must be an integer';
        ELSIF v_text::numeric <> trunc(v_text::numeric)
              OR v_text::numeric NOT BETWEEN -2147483648 AND 2147483647
        THEN
            RETURN 'must be an integer';
        ELSIF v_text::numeric NOT BETWEEN coalesce(v_min, -2147483648)
                                      AND coalesce(v_max, 2147483647)
        THEN
            RETURN format('must be between %s and %s',
                          coalesce(v_min, -2147483648),
                          coalesce(v_max, 2147483647));
        END IF;
    WHEN 'bool' THEN
        IF v_type <> 'boolean' THEN
            RETURN 'must be a boolean';
        END IF;
    WHEN 'uuid' THEN
        IF v_type <> 'string' OR v_text !~*
           '^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$'
        THEN
            RETURN 'must be a UUID';
        END IF;
    WHEN 'email' THEN
        -- Same shape as the users/leads CHECKs: one @, no blanks.
        IF v_type <> 'string' OR length(v_text) > 320
           OR v_text !~ '^[^@[:space:]]+@[^@[:space:]]+$'
        THEN
            RETURN 'must be an email address';
        END IF;
    WHEN 'timezone' THEN
        IF v_type <> 'string' OR NOT liauto.is_valid_timezone(v_text) THEN
            RETURN 'must be an IANA timezone name such as Europe/London';
        END IF;
    WHEN 'time' THEN
        IF v_type <> 'string' OR v_text !~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'
        THEN
            RETURN 'must be a time "HH:MM"';
        END IF;
    WHEN 'object' THEN
        IF v_type <> 'object' THEN
            RETURN 'must be an object';
        END IF;
    WHEN 'array' THEN
        IF v_type <> 'array' THEN
            RETURN 'must be an array';
        END IF;
    END CASE;  -- an unknown rule type raises CASE_NOT_FOUND: a bug, a 500

    RETURN NULL;
END
$$;

COMMENT ON FUNCTION api.field_error(jsonb, jsonb) IS
    'The message for one bad field value, NULL when it is fine. Rule: '
    '{"type": string|int|bool|uuid|email|timezone|time|object|array, '
    '"nullable": bool, "min"/"max": length of the trimmed string or '
    'integer range, "enum": [allowed strings]}. Strict JSON types: "5" is '
    'not an integer.';

CREATE FUNCTION api.validate_body(p_body jsonb, p_rules jsonb,
                                  p_partial boolean DEFAULT false,
                                  p_read_only text[]
                                      DEFAULT '{id,created_at,updated_at}')
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_errors  jsonb := '{}';
    v_field   text;
    v_value   jsonb;
    v_rule    jsonb;
    v_error   text;
BEGIN
    IF p_body IS NULL OR jsonb_typeof(p_body) <> 'object' THEN
        PERFORM api.raise_error(400, 'BAD_REQUEST',
                                'request body must be a JSON object');
    END IF;

    FOR v_field, v_value IN SELECT * FROM jsonb_each(p_body) LOOP
        IF v_field = ANY (p_read_only) THEN
            v_error := 'read-only field';
        ELSIF NOT p_rules ? v_field THEN
            v_error := 'unknown field';
        ELSE
            v_error := api.field_error(v_value, p_rules -> v_field);
        END IF;
        IF v_error IS NOT NULL THEN
            v_errors := v_errors || jsonb_build_object(v_field, v_error);
        END IF;
    END LOOP;

    IF NOT p_partial THEN
        FOR v_field, v_rule IN SELECT * FROM jsonb_each(p_rules) LOOP
            IF (v_rule ->> 'required')::boolean AND NOT p_body ? v_field THEN
                v_errors := v_errors || jsonb_build_object(v_field,
                                                           'is required');
            END IF;
        END LOOP;
    END IF;

    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION api.validate_body(jsonb, jsonb, boolean, text[]) IS
    'Field errors of a request body against p_rules {"field": rule} '
    '(api.field_error): unknown fields, read-only fields, bad values and, '
    'unless p_partial (PATCH), missing required fields, one message per '
    'field. A body that is not an object is a 400 at once. Returns the '
    'errors so the caller can add cross-field ones before '
    'api.raise_invalid.';


-- ------------------------------------------------------------------------
-- Idempotency (DESIGN §4)
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.idempotency_lock_key(p_user_id uuid, p_key text)
RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT hashtextextended('liauto.idempotency:' || p_user_id || ':'
                            || p_key, 0)
$$;

COMMENT ON FUNCTION liauto.idempotency_lock_key(uuid, text) IS
    'Advisory lock id of one (user, Idempotency-Key). A 64-bit hash: a '
    'collision only makes a concurrent request see a spurious 409.';

CREATE FUNCTION api.dispatch_idempotent(p_fn text, p_caller jsonb,
                                        p_path text[], p_query jsonb,
                                        p_body jsonb, p_key text,
                                        p_fingerprint bytea)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_fn       regprocedure;
    v_user_id  uuid := (p_caller ->> 'sub')::uuid;
    v_stored   liauto.idempotency_keys;
    v_status   integer;
    v_body     text;
BEGIN
    IF p_key IS NULL OR length(p_key) NOT BETWEEN 1 AND 255 THEN
        RETURN QUERY SELECT * FROM api.error(400, 'BAD_REQUEST',
            'Idempotency-Key must be 1 to 255 characters',
            '{"Idempotency-Key": "must be 1 to 255 characters"}');
        RETURN;
    END IF;

    -- Only api functions of the route signature can be dispatched.
    v_fn := to_regprocedure(p_fn || '(jsonb,text[],jsonb,jsonb)');
    IF v_fn IS NULL OR p_fn NOT LIKE 'api.%' THEN
        RAISE EXCEPTION 'dispatch_idempotent: no route function %', p_fn;
    END IF;

    -- Held until this transaction ends, so the stored answer is committed
    -- before a retry can take the lock. Re-entrant in one session, which
    -- is fine: the module runs one request at a time per connection.
    IF NOT pg_try_advisory_xact_lock(
               liauto.idempotency_lock_key(v_user_id, p_key)) THEN
        RETURN QUERY SELECT * FROM api.error(409, 'IDEMPOTENCY_KEY_IN_USE',
            'a request with this Idempotency-Key is in progress');
        RETURN;
    END IF;

    SELECT * INTO v_stored FROM liauto.idempotency_keys AS k
    WHERE k.user_id = v_user_id AND k.key = p_key AND k.expires_at > now();

    IF FOUND AND v_stored.fingerprint <> p_fingerprint THEN
        RETURN QUERY SELECT * FROM api.error(422, 'IDEMPOTENCY_KEY_REUSED',
            'this Idempotency-Key was used with another request');
        RETURN;
    ELSIF FOUND AND v_stored.state = 'done' THEN
        RETURN QUERY SELECT v_stored.response_status, v_stored.response_body;
        RETURN;
    END IF;

    EXECUTE format('SELECT status, body FROM %s($1, $2, $3, $4)',
                   v_fn::regproc)
    INTO v_status, v_body
    USING p_caller, p_path, p_query, p_body;

    -- 2xx and 4xx are answers the client may rely on; a 5xx is ours and a
    -- retry deserves another try.
    IF v_status < 500 THEN
        INSERT INTO liauto.idempotency_keys AS k
            (user_id, key, fingerprint, state, response_status,
             response_body)
        VALUES (v_user_id, p_key, p_fingerprint, 'done', v_status, v_body)
        ON CONFLICT (user_id, key) DO UPDATE   -- an expired row
        SET fingerprint = excluded.fingerprint,
            state = excluded.state,
            response_status = excluded.response_status,
            response_body = excluded.response_body,
            created_at = now(),
            expires_at = now() + interval '24 hours';
    END IF;

    RETURN QUERY SELECT v_status, v_body;
END
$$;

COMMENT ON FUNCTION api.dispatch_idempotent(text, jsonb, text[], jsonb,
                                            jsonb, text, bytea) IS
    'Runs route function p_fn (''api.clients_create'') under an '
    'Idempotency-Key, in the caller''s transaction: 409 while another '
    'request holds the key, 422 when the key came with another '
    'fingerprint, the stored status and body byte for byte when it is '
    'done, else the function''s answer, stored for 24 h unless 5xx.';


-- ------------------------------------------------------------------------
-- Settings
-- ------------------------------------------------------------------------

CREATE TABLE liauto.settings (
    key         text PRIMARY KEY
                CONSTRAINT settings_key_check
                CHECK (key ~ '^[a-z][a-z0-9_]*$'),
    value       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE liauto.settings IS
    'Installation-wide switches read by the API and the workers, e.g. '
    'scheduler_paused (true stops claiming new work).';

CREATE TRIGGER settings_touch_updated_at BEFORE UPDATE ON liauto.settings
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION liauto.touch_updated_at();

INSERT INTO liauto.settings (key, value) VALUES ('scheduler_paused', 'false');
