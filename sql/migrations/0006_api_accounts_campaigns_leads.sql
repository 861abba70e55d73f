-- 0006_api_accounts_campaigns_leads: the route functions of
-- /linkedin-accounts, /campaigns (sequence, status, start, pause), /leads
-- (incl. CSV import and export and per-lead events) and
-- /automation/scheduler, built on the framework of 0002 (sql/README.md).
--
-- Every api.* function has the route signature (p_caller, p_path, p_query,
-- p_body) and returns one (status, body) row; helpers stop a request with
-- api.raise_error and each api function turns that back into its row.
-- Tenancy: every read goes through api.caller_sees, so another client's
-- object is a 404 by id, absent from lists by filter or cursor, and an
-- "unknown" field value when named in a body.

-- ------------------------------------------------------------------------
-- ------------------------------------------------------------------------
-- CSV
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.csv_field(p_value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
               WHEN p_value ~ '[",\r\n]'
               THEN '"' || replace(p_value, '"', '""') || '"'
               ELSE coalesce(p_value, '')
           END
$$;

COMMENT ON FUNCTION liauto.csv_field(text) IS
    'One RFC 4180 field: quoted (quotes doubled) when it holds a comma, '
    'quote, CR or LF; NULL is the empty field.';

CREATE FUNCTION liauto.csv_line(p_values text[]) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT string_agg(liauto.csv_field(v), ',' ORDER BY n) || E'\r\n'
    FROM unnest(p_values) WITH ORDINALITY AS f (v, n)
$$;

COMMENT ON FUNCTION liauto.csv_line(text[]) IS
    'One CSV record ending in CRLF (RFC 4180); NULL elements are empty '
    'fields, never dropped.';

-- ------------------------------------------------------------------------
-- Sequences
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.template_error(p_text text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    v_var  text;
BEGIN
    -- What is left once every {{...}} is taken out must not open or close
    -- a placeholder: "{{first_name}" or "name}}" are typos, not text.
    IF regexp_replace(p_text, '\{\{[^{}]*\}\}', '', 'g') ~ '\{\{|\}\}' THEN
        RETURN 'unbalanced braces in template';
    END IF;

    FOR v_var IN
        SELECT btrim(m[1])
        FROM regexp_matches(p_text, '\{\{([^{}|]*)(\|[^{}]*)?\}\}', 'g')
             AS m
    LOOP
        IF v_var = '' THEN
            RETURN 'empty variable in template';
        END IF;
        IF v_var NOT IN ('first_name', 'last_name', 'company', 'title',
                         'email')
           AND v_var !~ '^custom\.\S'
        THEN
            RETURN format('unknown variable "%s" (known: first_name, '
                          'last_name, company, title, email, '
                          'custom.<key>)', v_var);
        END IF;
    END LOOP;

    RETURN NULL;
END
$$;

COMMENT ON FUNCTION liauto.template_error(text) IS
    'Why a step template does not parse ({{var}} or {{var|fallback}}, '
    'balanced braces, known variables), or NULL when it does.';

CREATE FUNCTION liauto.sequence_errors(p_steps jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_errors  jsonb := '{}';
    v_step    jsonb;
    v_index   integer;
    v_at      text;
    v_kind    text;
    v_key     text;
    v_delays  integer;
    v_max     integer;
    v_error   text;
BEGIN
    IF jsonb_typeof(p_steps) IS DISTINCT FROM 'array' THEN
        RETURN jsonb_build_object('steps', 'must be an array of steps');
    END IF;
    IF jsonb_array_length(p_steps) = 0 THEN
        RETURN jsonb_build_object('steps', 'must have at least one step');
    END IF;
    IF jsonb_array_length(p_steps) > 50 THEN
        RETURN jsonb_build_object('steps', 'must have at most 50 steps');
    END IF;

    FOR v_step, v_index IN
        SELECT s, n - 1 FROM jsonb_array_elements(p_steps)
                             WITH ORDINALITY AS e (s, n)
    LOOP
        v_at := format('steps[%s]', v_index);

        IF jsonb_typeof(v_step) <> 'object' THEN
            v_errors := v_errors || jsonb_build_object(v_at,
                                                       'must be an object');
            CONTINUE;
        END IF;

        v_kind := CASE WHEN v_index = 0 THEN 'invite' ELSE 'message' END;
        IF v_step->>'type' IS DISTINCT FROM v_kind
           OR jsonb_typeof(v_step->'type') <> 'string'
        THEN
            v_errors := v_errors || jsonb_build_object(v_at || '.type',
                CASE WHEN v_index = 0
                     THEN 'the first step must be "invite"'
                     ELSE 'steps after the first must be "message"' END);
        END IF;

        FOR v_key IN SELECT jsonb_object_keys(v_step) LOOP
            IF v_key <> ALL (ARRAY['type', 'delay_days', 'delay_minutes',
                                   CASE WHEN v_kind = 'invite' THEN 'note'
                                        ELSE 'text' END])
            THEN
                v_errors := v_errors || jsonb_build_object(
                    v_at || '.' || v_key, 'unknown field');
            END IF;
        END LOOP;

        v_error := NULL;
        IF v_kind = 'invite' THEN
            IF jsonb_typeof(v_step->'note') NOT IN ('string', 'null') THEN
                v_error := 'must be a string or null';
            ELSIF length(v_step->>'note') > 300 THEN
                v_error := 'must be at most 300 characters';
            ELSE
                v_error := liauto.template_error(v_step->>'note');
            END IF;
            IF v_error IS NOT NULL THEN
                v_errors := v_errors || jsonb_build_object(v_at || '.note',
                                                           v_error);
            END IF;
        ELSE
            IF jsonb_typeof(v_step->'text') IS DISTINCT FROM 'string'
               OR btrim(v_step->>'text') = ''
            THEN
                v_error := 'required: a non-empty string';
            ELSIF length(v_step->>'text') > 8000 THEN
                v_error := 'must be at most 8000 characters';
            ELSE
                v_error := liauto.template_error(v_step->>'text');
            END IF;
            IF v_error IS NOT NULL THEN
                v_errors := v_errors || jsonb_build_object(v_at || '.text',
                                                           v_error);
            END IF;
        END IF;

        v_delays := 0;
        FOREACH v_key IN ARRAY ARRAY['delay_days', 'delay_minutes'] LOOP
            CONTINUE WHEN NOT v_step ? v_key;
            v_delays := v_delays + 1;
            v_max := CASE v_key WHEN 'delay_days' THEN 365 ELSE 525600 END;
            IF jsonb_typeof(v_step->v_key) <> 'number'
               OR (v_step->>v_key)::numeric NOT BETWEEN 0 AND v_max
               OR (v_step->>v_key)::numeric
                  <> trunc((v_step->>v_key)::numeric)
            THEN
                v_errors := v_errors || jsonb_build_object(
                    v_at || '.' || v_key,
                    format('must be an integer between 0 and %s', v_max));
            END IF;
        END LOOP;
        IF v_delays <> 1 THEN
            v_errors := v_errors || jsonb_build_object(v_at || '.delay_days',
                'exactly one of delay_days and delay_minutes is required');
        END IF;
    END LOOP;

    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION liauto.sequence_errors(jsonb) IS
    'Field errors of a steps array ({"steps[1].text": "..."}), empty when '
    'it is valid: at least one step, the first an invite whose optional '
    'note is at most 300 characters, the others messages with a '
    'non-empty text, each with exactly one integer delay_days or '
    'delay_minutes >= 0, templates that parse.';

CREATE FUNCTION liauto.reached_steps(p_campaign_id uuid) RETURNS integer[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(DISTINCT s ORDER BY s), '{}')
    FROM (SELECT generate_series(0, max(current_step) - 1) AS s
          FROM liauto.leads
          WHERE campaign_id = p_campaign_id
          UNION ALL
          SELECT step_index
          FROM liauto.actions
          WHERE campaign_id = p_campaign_id
            AND status NOT IN ('failed', 'cancelled')) AS r
$$;

COMMENT ON FUNCTION liauto.reached_steps(uuid) IS
    'Indexes of the steps some lead of the campaign has already reached: '
    'sent (below its current_step) or with a live action in the outbox '
    '(scheduled, claimed, sent, unknown, needs_review).';

-- ------------------------------------------------------------------------
-- CSV import
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.import_header_field(p_name text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE regexp_replace(lower(p_name), '[[:space:]_\-\ufeff]', '',
                               'g')
               WHEN 'firstname' THEN 'first_name'
               WHEN 'lastname' THEN 'last_name'
               WHEN 'company' THEN 'company'
               WHEN 'companyname' THEN 'company'
               WHEN 'organization' THEN 'company'
               WHEN 'organisation' THEN 'company'
               WHEN 'title' THEN 'title'
               WHEN 'jobtitle' THEN 'title'
               WHEN 'position' THEN 'title'
               WHEN 'email' THEN 'email'
               WHEN 'emailaddress' THEN 'email'
               WHEN 'linkedinurl' THEN 'profile_url'
               WHEN 'profileurl' THEN 'profile_url'
               WHEN 'linkedinprofile' THEN 'profile_url'
               WHEN 'linkedinprofileurl' THEN 'profile_url'
               WHEN 'personlinkedinurl' THEN 'profile_url'
               WHEN 'publicidentifier' THEN 'public_identifier'
           END
$$;

COMMENT ON FUNCTION liauto.import_header_field(text) IS
    'The lead field a CSV column maps to, ignoring case, blanks, _ and - '
    'and a UTF-8 BOM ("First Name", first_name, firstname; "Person '
    'Linkedin Url" of Apollo, "LinkedIn URL" of Sales Navigator exports), '
    'or NULL for a custom field.';

CREATE FUNCTION liauto.public_identifier_from_url_key(p_url_key text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT NULLIF(substring(p_url_key FROM '^linkedin\.com/in/([^/]+)'), '')
$$;

COMMENT ON FUNCTION liauto.public_identifier_from_url_key(text) IS
    'The slug of a profile URL already normalised by '
    'liauto.normalize_profile_url (linkedin.com/in/<slug>, lower case as '
    'the dedupe key compares it), NULL for other URLs. Takes the key, not '
    'the URL, because normalising costs ~12 us and an import of 50,000 '
    'rows needs the key anyway.';

-- ------------------------------------------------------------------------
-- Request plumbing shared by the functions below
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.path_id(p_path text[]) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_path[1]::uuid
$$;

COMMENT ON FUNCTION liauto.path_id(text[]) IS
    'The {id} of the route; the module has checked it is a UUID.';

CREATE FUNCTION liauto.clean_strings(p_values jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT coalesce(jsonb_object_agg(k, CASE jsonb_typeof(v)
                                            WHEN 'string'
                                            THEN to_jsonb(NULLIF(
                                                btrim(v #>> '{}'), ''))
                                            ELSE v END),
                    '{}')
    FROM jsonb_each(p_values) AS e (k, v)
$$;

COMMENT ON FUNCTION liauto.clean_strings(jsonb) IS
    'The body with its top-level strings trimmed and blank ones NULL: '
    'values are stored without surrounding blanks (the table CHECKs '
    'insist on it), and an optional blank field means "none". Required '
    'fields are refused blank by their rules before this runs.';

CREATE FUNCTION liauto.insert_json(p_table regclass, p_values jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_columns  text;
    v_row      jsonb;
BEGIN
    SELECT string_agg(quote_ident(k), ', ') INTO v_columns
    FROM jsonb_object_keys(p_values) AS k;

    EXECUTE format('INSERT INTO %1$s AS t (%2$s) SELECT %2$s '
                   'FROM jsonb_populate_record(NULL::%1$s, $1) '
                   'RETURNING to_jsonb(t)', p_table, v_columns)
    INTO v_row USING p_values;
    RETURN v_row;
END
$$;

COMMENT ON FUNCTION liauto.insert_json(regclass, jsonb) IS
    'Inserts one row from the validated fields of a body (keys are '
    'column names); absent columns take their table defaults. Returns '
    'the row as jsonb.';

CREATE FUNCTION liauto.update_json(p_table regclass, p_id uuid,
                                   p_values jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_columns  text;
    v_row      jsonb;
BEGIN
    SELECT string_agg(quote_ident(k), ', ') INTO v_columns
    FROM jsonb_object_keys(p_values) AS k;

    IF v_columns IS NULL THEN
        EXECUTE format('SELECT to_jsonb(t) FROM %s AS t WHERE t.id = $1',
                       p_table)
        INTO v_row USING p_id;
    ELSE
        EXECUTE format('UPDATE %1$s AS t SET (%2$s) = (SELECT %2$s '
                       'FROM jsonb_populate_record(NULL::%1$s, $1)) '
                       'WHERE t.id = $2 RETURNING to_jsonb(t)',
                       p_table, v_columns)
        INTO v_row USING p_values, p_id;
    END IF;
    RETURN v_row;
END
$$;

COMMENT ON FUNCTION liauto.update_json(regclass, uuid, jsonb) IS
    'Sets the columns named by the keys of p_values on row p_id (an empty '
    'object changes nothing) and returns the row as jsonb.';

CREATE FUNCTION liauto.body_client_id(p_caller jsonb, p_body jsonb,
                                      INOUT p_errors jsonb,
                                      OUT client_id uuid)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_errors ? 'client_id' THEN
        RETURN;
    END IF;

    IF p_body ? 'client_id' THEN
        client_id := (p_body ->> 'client_id')::uuid;
    ELSIF p_caller ->> 'role' = 'admin' THEN
        p_errors := p_errors || '{"client_id": "is required"}';
        RETURN;
    ELSE
        client_id := (p_caller ->> 'client_id')::uuid;
    END IF;

    -- Another tenant's client looks exactly like a missing one.
    IF NOT api.caller_sees(p_caller, client_id)
       OR NOT EXISTS (SELECT 1 FROM liauto.clients AS c
                      WHERE c.id = client_id)
    THEN
        p_errors := p_errors || '{"client_id": "unknown client"}';
        client_id := NULL;
    END IF;
END
$$;

COMMENT ON FUNCTION liauto.body_client_id(jsonb, jsonb, jsonb) IS
    'The client a new account or campaign belongs to: the body''s '
    'client_id (required for admins), else the caller''s own. A client '
    'the caller cannot see is the field error "unknown client".';

CREATE FUNCTION liauto.list_filters(p_caller jsonb, p_query jsonb,
                                    p_search_columns text[],
                                    OUT sql text, OUT args jsonb)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    args := jsonb_build_object(
        'caller', p_caller,
        'status', p_query ->> 'filter[status]',
        'search', api.like_pattern(p_query ->> 'filter[search]'),
        'created_from', api.query_timestamp(p_query,
                                            'filter[created_from]'),
        'created_to', api.query_timestamp(p_query, 'filter[created_to]'));

    sql := 'api.caller_sees($1 -> ''caller'', t.client_id)'
        || ' AND ($1 ->> ''status'' IS NULL'
        || '      OR t.status = $1 ->> ''status'')'
        || ' AND ($1 ->> ''created_from'' IS NULL'
        || '      OR t.created_at >= ($1 ->> ''created_from'')::timestamptz)'
        || ' AND ($1 ->> ''created_to'' IS NULL'
        || '      OR t.created_at < ($1 ->> ''created_to'')::timestamptz)';

    IF p_query ? 'filter[search]' THEN
        sql := sql || ' AND ('
            || (SELECT string_agg(format('t.%I ILIKE $1 ->> ''search''', c),
                                  ' OR ')
                FROM unnest(p_search_columns) AS c)
            || ')';
    END IF;
END
$$;

COMMENT ON FUNCTION liauto.list_filters(jsonb, jsonb, text[]) IS
    'WHERE clause and $1 arguments for api.keyset_page shared by the '
    'lists: the tenant rule, filter[status], filter[search] (ILIKE on '
    'p_search_columns) and filter[created_from] (inclusive) / '
    'filter[created_to] (exclusive). Client values only ever travel in '
    'args.';

-- ------------------------------------------------------------------------
-- Representations and lookups
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.account_json(a liauto.linkedin_accounts)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', a.id,
        'client_id', a.client_id,
        'name', a.name,
        'unipile_account_id', a.unipile_account_id,
        'provider_user_id', a.provider_user_id,
        'status', a.status,
        'timezone', a.timezone,
        'daily_invite_limit', a.daily_invite_limit,
        'daily_message_limit', a.daily_message_limit,
        'weekly_invite_limit', a.weekly_invite_limit,
        'cooldown_until', api.ts(a.cooldown_until),
        'created_at', api.ts(a.created_at),
        'updated_at', api.ts(a.updated_at))
$$;

COMMENT ON FUNCTION liauto.account_json(liauto.linkedin_accounts) IS
    'The API representation of a LinkedIn account.';

CREATE FUNCTION liauto.find_account(p_caller jsonb, p_id uuid)
RETURNS liauto.linkedin_accounts
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_account  liauto.linkedin_accounts;
BEGIN
    SELECT * INTO v_account FROM liauto.linkedin_accounts AS a
    WHERE a.id = p_id AND api.caller_sees(p_caller, a.client_id);
    IF NOT FOUND THEN
        PERFORM api.raise_error(404, 'NOT_FOUND',
                                'linkedin account not found');
    END IF;
    RETURN v_account;
END
$$;

COMMENT ON FUNCTION liauto.find_account(jsonb, uuid) IS
    'The account p_id if the caller may see it, else 404 (another '
    'tenant''s account is indistinguishable from a missing one).';

-- ------------------------------------------------------------------------
-- /linkedin-accounts
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.account_rules() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT '{
        "name": {"type": "string", "min": 1, "max": 200, "required": true},
        "unipile_account_id": {"type": "string", "min": 1, "max": 200,
                               "required": true},
        "provider_user_id": {"type": "string", "min": 1, "max": 200,
                             "nullable": true},
        "timezone": {"type": "timezone"},
        "daily_invite_limit": {"type": "int", "min": 0, "max": 100000},
        "daily_message_limit": {"type": "int", "min": 0, "max": 100000},
        "weekly_invite_limit": {"type": "int", "min": 0, "max": 100000},
        "client_id": {"type": "uuid"}
    }'::jsonb
$$;

COMMENT ON FUNCTION liauto.account_rules() IS
    'Body rules (api.validate_body) of POST and PATCH '
    '/linkedin-accounts.';

CREATE FUNCTION liauto.account_write(p_caller jsonb, p_id uuid,
                                     p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_creating  boolean := p_id IS NULL;
    v_errors    jsonb;
    v_values    jsonb;
    v_client    uuid;
    v_row       jsonb;
BEGIN
    IF NOT v_creating THEN
        PERFORM liauto.find_account(p_caller, p_id);
    END IF;
    v_errors := api.validate_body(p_body, liauto.account_rules(),
        NOT v_creating,
        CASE WHEN v_creating
             THEN '{id,created_at,updated_at,status,cooldown_until}'
             ELSE '{id,created_at,updated_at,status,cooldown_until,'
                  'client_id}' END::text[]);
    v_values := liauto.clean_strings(p_body);

    IF v_creating THEN
        SELECT * INTO v_errors, v_client
        FROM liauto.body_client_id(p_caller, p_body, v_errors);
        v_values := v_values || jsonb_build_object('client_id', v_client);
    END IF;
    PERFORM api.raise_invalid(v_errors);

    BEGIN
        IF v_creating THEN
            v_row := liauto.insert_json('liauto.linkedin_accounts',
                                        v_values);
        ELSE
            v_row := liauto.update_json('liauto.linkedin_accounts', p_id,
                                        v_values);
        END IF;
    EXCEPTION WHEN unique_violation THEN
        PERFORM api.raise_error(409, 'DUPLICATE',
            'a linkedin account with this unipile_account_id exists',
            '{"unipile_account_id": "already registered"}');
    END;

    RETURN QUERY SELECT * FROM api.ok(
        CASE WHEN v_creating THEN 201 ELSE 200 END,
        liauto.account_json(jsonb_populate_record(
            NULL::liauto.linkedin_accounts, v_row)));
END
$$;

COMMENT ON FUNCTION liauto.account_write(jsonb, uuid, jsonb) IS
    'POST (p_id NULL) and PATCH of a LinkedIn account: validation, '
    'tenant, unique unipile_account_id (409 DUPLICATE). client_id is '
    'fixed once created: its campaigns and history belong to the client.';

CREATE FUNCTION api.accounts_list(p_caller jsonb, p_path text[],
                                  p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_params    api.list_query;
    v_filter    record;
    v_envelope  text;
BEGIN
    v_params := api.list_params(p_query, '{created_at,name}',
        '{status,search,created_from,created_to}');
    v_filter := liauto.list_filters(p_caller, p_query, '{name}');
    RETURN QUERY SELECT * FROM api.keyset_page(v_params,
        'liauto.linkedin_accounts', 'liauto.account_json(t)',
        v_filter.sql, v_filter.args);
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.accounts_list(jsonb, text[], jsonb, jsonb) IS
    'GET /linkedin-accounts: sort created_at|name, filter[status], '
    'filter[search] (name), filter[created_from|created_to].';

CREATE FUNCTION api.accounts_get(p_caller jsonb, p_path text[],
                                 p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    RETURN QUERY SELECT * FROM api.ok(200, liauto.account_json(
        liauto.find_account(p_caller, liauto.path_id(p_path))));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.accounts_get(jsonb, text[], jsonb, jsonb) IS
    'GET /linkedin-accounts/{id}.';

CREATE FUNCTION api.accounts_create(p_caller jsonb, p_path text[],
                                    p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    RETURN QUERY SELECT * FROM liauto.account_write(p_caller, NULL, p_body);
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.accounts_create(jsonb, text[], jsonb, jsonb) IS
    'POST /linkedin-accounts → 201 account.';

CREATE FUNCTION api.accounts_update(p_caller jsonb, p_path text[],
                                    p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    RETURN QUERY SELECT * FROM liauto.account_write(
        p_caller, liauto.path_id(p_path), p_body);
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.accounts_update(jsonb, text[], jsonb, jsonb) IS
    'PATCH /linkedin-accounts/{id} → 200 account.';

CREATE FUNCTION api.accounts_delete(p_caller jsonb, p_path text[],
                                    p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_account   liauto.linkedin_accounts;
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    v_account := liauto.find_account(p_caller, liauto.path_id(p_path));
    BEGIN
        DELETE FROM liauto.linkedin_accounts AS a WHERE a.id = v_account.id;
    EXCEPTION WHEN foreign_key_violation THEN
        PERFORM api.raise_error(409, 'CONFLICT',
            'the linkedin account is used by campaigns',
            jsonb_build_object('campaigns',
                (SELECT jsonb_agg(c.id ORDER BY c.created_at, c.id)
                 FROM liauto.campaigns AS c
                 WHERE c.linkedin_account_id = v_account.id)));
    END;
    RETURN QUERY SELECT * FROM api.ok(204, NULL);
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.accounts_delete(jsonb, text[], jsonb, jsonb) IS
    'DELETE /linkedin-accounts/{id} → 204; 409 CONFLICT while campaigns '
    'use it (listed in details.campaigns).';

-- ------------------------------------------------------------------------
-- /campaigns
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.campaign_json(c liauto.campaigns) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', c.id,
        'client_id', c.client_id,
        'linkedin_account_id', c.linkedin_account_id,
        'name', c.name,
        'status', c.status,
        'timezone', c.timezone,
        'working_hours_start', to_char(c.working_hours_start, 'HH24:MI'),
        'working_hours_end', to_char(c.working_hours_end, 'HH24:MI'),
        'working_days', to_jsonb(c.working_days),
        'started_at', api.ts(c.started_at),
        'paused_at', api.ts(c.paused_at),
        'created_at', api.ts(c.created_at),
        'updated_at', api.ts(c.updated_at))
$$;

COMMENT ON FUNCTION liauto.campaign_json(liauto.campaigns) IS
    'The API representation of a campaign (its steps are served by '
    'GET /campaigns/{id}/sequence).';

CREATE FUNCTION liauto.find_campaign(p_caller jsonb, p_id uuid,
                                     p_lock boolean DEFAULT false)
RETURNS liauto.campaigns
LANGUAGE plpgsql AS $$
DECLARE
    v_campaign  liauto.campaigns;
BEGIN
    IF p_lock THEN
        SELECT * INTO v_campaign FROM liauto.campaigns AS c
        WHERE c.id = p_id AND api.caller_sees(p_caller, c.client_id)
        FOR UPDATE;
    ELSE
        SELECT * INTO v_campaign FROM liauto.campaigns AS c
        WHERE c.id = p_id AND api.caller_sees(p_caller, c.client_id);
    END IF;
    IF NOT FOUND THEN
        PERFORM api.raise_error(404, 'NOT_FOUND', 'campaign not found');
    END IF;
    RETURN v_campaign;
END
$$;

COMMENT ON FUNCTION liauto.find_campaign(jsonb, uuid, boolean) IS
    'The campaign p_id if the caller may see it, else 404. p_lock takes '
    'the row lock that serialises sequence edits, start and pause.';

CREATE FUNCTION liauto.campaign_rules() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT '{
        "name": {"type": "string", "min": 1, "max": 200, "required": true},
        "client_id": {"type": "uuid"},
        "linkedin_account_id": {"type": "uuid", "nullable": true},
        "timezone": {"type": "timezone"},
        "working_hours_start": {"type": "time"},
        "working_hours_end": {"type": "time"},
        "working_days": {"type": "array"}
    }'::jsonb
$$;

COMMENT ON FUNCTION liauto.campaign_rules() IS
    'Body rules (api.validate_body) of POST and PATCH /campaigns.';

CREATE FUNCTION liauto.campaign_errors(p_errors jsonb, p_client_id uuid,
                                       p_status text, p_merged jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_errors  jsonb := p_errors;
    v_days    jsonb := p_merged -> 'working_days';
BEGIN
    IF NOT v_errors ? 'working_days'
       AND (jsonb_array_length(v_days) = 0
            OR EXISTS (SELECT 1 FROM jsonb_array_elements(v_days) AS d
                       WHERE d::text !~ '^[1-7]$')
            OR (SELECT count(DISTINCT d) <> count(*)
                FROM jsonb_array_elements(v_days) AS d))
    THEN
        v_errors := v_errors || '{"working_days": "must be a non-empty '
                                'list of distinct ISO weekdays 1 (Monday) '
                                'to 7 (Sunday)"}';
    END IF;

    IF NOT v_errors ?| '{working_hours_start,working_hours_end}'
       AND (p_merged ->> 'working_hours_start')::time
           >= (p_merged ->> 'working_hours_end')::time
    THEN
        v_errors := v_errors || '{"working_hours_end": "must be after '
                                'working_hours_start"}';
    END IF;

    IF v_errors ? 'linkedin_account_id' OR p_client_id IS NULL THEN
        RETURN v_errors;
    END IF;
    IF p_merged ->> 'linkedin_account_id' IS NULL THEN
        IF p_status = 'active' THEN
            v_errors := v_errors || '{"linkedin_account_id": "an active '
                                    'campaign needs a linkedin account"}';
        END IF;
    ELSIF NOT EXISTS (
        SELECT 1 FROM liauto.linkedin_accounts AS a
        WHERE a.id = (p_merged ->> 'linkedin_account_id')::uuid
          AND a.client_id = p_client_id)
    THEN
        -- Another client's account is as unknown as a missing one.
        v_errors := v_errors || '{"linkedin_account_id": "unknown linkedin '
                                'account"}';
    END IF;

    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION liauto.campaign_errors(jsonb, uuid, text, jsonb) IS
    'p_errors plus the campaign checks that need more than one field or '
    'the database, on the merged state (stored row overlaid with the '
    'body): working days, start before end, an account of the same '
    'client, an account kept while active.';

CREATE FUNCTION liauto.campaign_write(p_caller jsonb, p_id uuid,
                                      p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_creating  boolean := p_id IS NULL;
    v_stored    liauto.campaigns;
    v_errors    jsonb;
    v_values    jsonb;
    v_client    uuid;
    v_row       jsonb;
BEGIN
    IF NOT v_creating THEN
        v_stored := liauto.find_campaign(p_caller, p_id, true);
        v_client := v_stored.client_id;
    END IF;
    v_errors := api.validate_body(p_body, liauto.campaign_rules(),
        NOT v_creating,
        CASE WHEN v_creating
             THEN '{id,created_at,updated_at,status,started_at,paused_at,'
                  'sequence}'
             ELSE '{id,created_at,updated_at,status,started_at,paused_at,'
                  'sequence,client_id}' END::text[]);
    v_values := liauto.clean_strings(p_body);

    IF v_creating THEN
        SELECT * INTO v_errors, v_client
        FROM liauto.body_client_id(p_caller, p_body, v_errors);
        v_values := v_values || jsonb_build_object('client_id', v_client);
        -- Defaults of the table, for the checks on the merged state.
        v_stored := jsonb_populate_record(NULL::liauto.campaigns,
            '{"working_hours_start": "09:00", "working_hours_end": "17:00",
              "working_days": [1, 2, 3, 4, 5], "status": "draft"}');
    END IF;
    v_errors := liauto.campaign_errors(v_errors, v_client, v_stored.status,
                                       to_jsonb(v_stored) || v_values);
    PERFORM api.raise_invalid(v_errors);

    IF v_creating THEN
        v_row := liauto.insert_json('liauto.campaigns', v_values);
    ELSE
        v_row := liauto.update_json('liauto.campaigns', p_id, v_values);
    END IF;

    RETURN QUERY SELECT * FROM api.ok(
        CASE WHEN v_creating THEN 201 ELSE 200 END,
        liauto.campaign_json(jsonb_populate_record(NULL::liauto.campaigns,
                                                   v_row)));
END
$$;

COMMENT ON FUNCTION liauto.campaign_write(jsonb, uuid, jsonb) IS
    'POST (p_id NULL) and PATCH of a campaign. status, started_at and '
    'paused_at change through the start/pause actions, the steps through '
    'PUT /sequence, and client_id never.';

CREATE FUNCTION api.campaigns_list(p_caller jsonb, p_path text[],
                                   p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_params    api.list_query;
    v_filter    record;
    v_envelope  text;
BEGIN
    v_params := api.list_params(p_query, '{created_at,name,status}',
        '{status,search,created_from,created_to}');
    v_filter := liauto.list_filters(p_caller, p_query, '{name}');
    RETURN QUERY SELECT * FROM api.keyset_page(v_params,
        'liauto.campaigns', 'liauto.campaign_json(t)',
        v_filter.sql, v_filter.args);
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.campaigns_list(jsonb, text[], jsonb, jsonb) IS
    'GET /campaigns: sort created_at|name|status, filter[status], '
    'filter[search] (name), filter[created_from|created_to].';

CREATE FUNCTION api.campaigns_get(p_caller jsonb, p_path text[],
                                  p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    RETURN QUERY SELECT * FROM api.ok(200, liauto.campaign_json(
        liauto.find_campaign(p_caller, liauto.path_id(p_path))));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.campaigns_get(jsonb, text[], jsonb, jsonb) IS
    'GET /campaigns/{id}.';

CREATE FUNCTION api.campaigns_create(p_caller jsonb, p_path text[],
                                     p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    RETURN QUERY SELECT * FROM liauto.campaign_write(p_caller, NULL,
                                                     p_body);
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.campaigns_create(jsonb, text[], jsonb, jsonb) IS
    'POST /campaigns → 201 campaign (draft, no steps yet).';

CREATE FUNCTION api.campaigns_update(p_caller jsonb, p_path text[],
                                     p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    RETURN QUERY SELECT * FROM liauto.campaign_write(
        p_caller, liauto.path_id(p_path), p_body);
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.campaigns_update(jsonb, text[], jsonb, jsonb) IS
    'PATCH /campaigns/{id} → 200 campaign.';

CREATE FUNCTION api.campaigns_delete(p_caller jsonb, p_path text[],
                                     p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_campaign  liauto.campaigns;
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    v_campaign := liauto.find_campaign(p_caller, liauto.path_id(p_path),
                                       true);
    IF v_campaign.status = 'active' THEN
        PERFORM api.raise_error(409, 'CONFLICT',
            'an active campaign cannot be deleted: pause it first',
            '{"status": "active"}');
    END IF;
    DELETE FROM liauto.campaigns AS c WHERE c.id = v_campaign.id;
    RETURN QUERY SELECT * FROM api.ok(204, NULL);
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.campaigns_delete(jsonb, text[], jsonb, jsonb) IS
    'DELETE /campaigns/{id} → 204, with its leads, events and outbox '
    'rows; 409 CONFLICT while it is active (sends may be in flight).';

-- ------------------------------------------------------------------------
-- /campaigns/{id}/sequence, /status, /actions
-- ------------------------------------------------------------------------

CREATE FUNCTION api.campaigns_sequence_get(p_caller jsonb, p_path text[],
                                           p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    RETURN QUERY SELECT * FROM api.ok(200, jsonb_build_object('steps',
        (liauto.find_campaign(p_caller, liauto.path_id(p_path))).sequence));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.campaigns_sequence_get(jsonb, text[], jsonb,
                                               jsonb) IS
    'GET /campaigns/{id}/sequence → {"steps": [...]} ([] until set).';

CREATE FUNCTION api.campaigns_sequence_put(p_caller jsonb, p_path text[],
                                           p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_campaign  liauto.campaigns;
    v_steps     jsonb;
    v_refused   integer[];
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    -- The lock keeps the worker from reaching a step between the check
    -- below and the update.
    v_campaign := liauto.find_campaign(p_caller, liauto.path_id(p_path),
                                       true);
    PERFORM api.raise_invalid(api.validate_body(p_body,
        '{"steps": {"type": "array", "required": true}}'));
    v_steps := p_body -> 'steps';
    PERFORM api.raise_invalid(liauto.sequence_errors(v_steps));

    SELECT array_agg(s ORDER BY s) INTO v_refused
    FROM unnest(liauto.reached_steps(v_campaign.id)) AS s
    WHERE v_steps -> s IS DISTINCT FROM v_campaign.sequence -> s;
    IF v_refused IS NOT NULL THEN
        PERFORM api.raise_error(409, 'SEQUENCE_IN_USE',
            format('leads have already reached step(s) %s: those steps '
                   'cannot be removed, reordered or changed; edit the '
                   'steps no lead has reached or append new ones',
                   array_to_string(v_refused, ', ')),
            jsonb_build_object('steps', to_jsonb(v_refused)));
    END IF;

    UPDATE liauto.campaigns AS c SET sequence = v_steps
    WHERE c.id = v_campaign.id;
    RETURN QUERY SELECT * FROM api.ok(200,
                                      jsonb_build_object('steps', v_steps));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.campaigns_sequence_put(jsonb, text[], jsonb,
                                               jsonb) IS
    'PUT /campaigns/{id}/sequence {"steps": [...]}: 422 with one error '
    'per bad step field (liauto.sequence_errors); 409 SEQUENCE_IN_USE '
    '(details.steps = their indexes) when a step some lead already '
    'reached (liauto.reached_steps) would be removed, moved or changed. '
    'Steps no lead reached may change freely and steps may be appended.';

CREATE FUNCTION api.campaigns_status(p_caller jsonb, p_path text[],
                                     p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_campaign  liauto.campaigns;
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    v_campaign := liauto.find_campaign(p_caller, liauto.path_id(p_path));
    RETURN QUERY SELECT * FROM api.ok(200, jsonb_build_object(
        'id', v_campaign.id,
        'status', v_campaign.status,
        'leads', (SELECT jsonb_object_agg(s.name, coalesce(n.count, 0))
                  FROM unnest('{pending,invite_sent,connected,messaged,'
                              'responded,completed,error,withdrawn,'
                              'skipped}'::text[]) AS s (name)
                  LEFT JOIN (SELECT l.status, count(*)
                             FROM liauto.leads AS l
                             WHERE l.campaign_id = v_campaign.id
                             GROUP BY l.status) AS n
                         ON n.status = s.name),
        'last_activity_at', (SELECT api.ts(max(e.occurred_at))
                             FROM liauto.events AS e
                             WHERE e.campaign_id = v_campaign.id)));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.campaigns_status(jsonb, text[], jsonb, jsonb) IS
    'GET /campaigns/{id}/status → {"id","status","leads": {<every lead '
    'status>: n},"last_activity_at": latest event or null}.';

CREATE FUNCTION liauto.campaign_transition(p_caller jsonb, p_path text[],
                                           p_query jsonb, p_target text)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_campaign  liauto.campaigns;
    v_missing   jsonb := '{}';
BEGIN
    PERFORM api.reject_query(p_query);
    v_campaign := liauto.find_campaign(p_caller, liauto.path_id(p_path),
                                       true);

    IF v_campaign.status <> p_target THEN
        IF p_target = 'active' THEN
            IF v_campaign.status = 'completed' THEN
                PERFORM api.raise_error(409, 'CONFLICT',
                    'a completed campaign cannot be started again',
                    '{"status": "completed"}');
            END IF;
            IF jsonb_array_length(v_campaign.sequence) = 0 THEN
                v_missing := v_missing || '{"sequence": "the campaign has '
                                          'no steps: PUT its sequence"}';
            END IF;
            IF v_campaign.linkedin_account_id IS NULL THEN
                v_missing := v_missing || '{"linkedin_account": "the '
                                          'campaign has no linkedin '
                                          'account"}';
            END IF;
            IF v_missing <> '{}' THEN
                PERFORM api.raise_error(422, 'CAMPAIGN_NOT_READY',
                                        'the campaign is not ready to start',
                                        v_missing);
            END IF;
        ELSIF v_campaign.status <> 'active' THEN
            PERFORM api.raise_error(409, 'CONFLICT',
                'only an active campaign can be paused',
                jsonb_build_object('status', v_campaign.status));
        END IF;

        UPDATE liauto.campaigns AS c
        SET status = p_target,
            started_at = coalesce(c.started_at, liauto.now()),
            paused_at = CASE WHEN p_target = 'paused' THEN liauto.now() END
        WHERE c.id = v_campaign.id
        RETURNING * INTO v_campaign;

        PERFORM pg_notify('liauto_worker', jsonb_build_object(
            'event', 'campaign_' || p_target,
            'campaign_id', v_campaign.id)::text);
    END IF;

    RETURN QUERY SELECT * FROM api.ok(200,
                                      liauto.campaign_json(v_campaign));
END
$$;

COMMENT ON FUNCTION liauto.campaign_transition(jsonb, text[], jsonb, text) IS
    'start (p_target active) and pause (paused): a repeated action is a '
    'no-op 200; start needs steps and an account (422 '
    'CAMPAIGN_NOT_READY naming what is missing) and refuses a completed '
    'campaign, pause only applies to an active one (409). A change '
    'wakes the workers (NOTIFY liauto_worker '
    '{"event":"campaign_active|campaign_paused","campaign_id"}).';

CREATE FUNCTION api.campaigns_start(p_caller jsonb, p_path text[],
                                    p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    RETURN QUERY SELECT * FROM liauto.campaign_transition(
        p_caller, p_path, p_query, 'active');
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.campaigns_start(jsonb, text[], jsonb, jsonb) IS
    'POST /campaigns/{id}/actions/start → 200 campaign.';

CREATE FUNCTION api.campaigns_pause(p_caller jsonb, p_path text[],
                                    p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    RETURN QUERY SELECT * FROM liauto.campaign_transition(
        p_caller, p_path, p_query, 'paused');
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.campaigns_pause(jsonb, text[], jsonb, jsonb) IS
    'POST /campaigns/{id}/actions/pause → 200 campaign.';

-- ------------------------------------------------------------------------
-- /leads, /campaigns/{id}/leads, /leads/{id}/events
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.lead_json(l liauto.leads) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', l.id,
        'client_id', l.client_id,
        'campaign_id', l.campaign_id,
        'first_name', l.first_name,
        'last_name', l.last_name,
        'company', l.company,
        'title', l.title,
        'email', l.email,
        'public_identifier', l.public_identifier,
        'profile_url', l.profile_url,
        'custom_fields', l.custom_fields,
        'status', l.status,
        'error_reason', l.error_reason,
        'current_step', l.current_step,
        'last_step_sent_at', api.ts(l.last_step_sent_at),
        'created_at', api.ts(l.created_at),
        'updated_at', api.ts(l.updated_at))
$$;

COMMENT ON FUNCTION liauto.lead_json(liauto.leads) IS
    'The API representation of a lead.';

CREATE FUNCTION liauto.event_json(e liauto.events) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', e.id,
        'type', e.type,
        'occurred_at', api.ts(e.occurred_at),
        'lead_id', e.lead_id,
        'campaign_id', e.campaign_id,
        'account_id', e.account_id,
        'meta', e.meta,
        'created_at', api.ts(e.created_at))
$$;

COMMENT ON FUNCTION liauto.event_json(liauto.events) IS
    'The API representation of a lead event.';

CREATE FUNCTION liauto.find_lead(p_caller jsonb, p_id uuid)
RETURNS liauto.leads
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_lead  liauto.leads;
BEGIN
    SELECT * INTO v_lead FROM liauto.leads AS l
    WHERE l.id = p_id AND api.caller_sees(p_caller, l.client_id);
    IF NOT FOUND THEN
        PERFORM api.raise_error(404, 'NOT_FOUND', 'lead not found');
    END IF;
    RETURN v_lead;
END
$$;

COMMENT ON FUNCTION liauto.find_lead(jsonb, uuid) IS
    'The lead p_id if the caller may see it, else 404.';

CREATE FUNCTION liauto.existing_lead(p_client_id uuid,
                                     p_public_identifier text,
                                     p_profile_url text,
                                     p_except uuid DEFAULT NULL)
RETURNS uuid
LANGUAGE sql STABLE AS $$
    SELECT l.id
    FROM liauto.leads AS l
    WHERE l.client_id = p_client_id
      AND (lower(l.public_identifier) = lower(p_public_identifier)
           OR liauto.normalize_profile_url(l.profile_url)
              = liauto.normalize_profile_url(p_profile_url))
      AND l.id IS DISTINCT FROM p_except
    ORDER BY l.created_at, l.id
    LIMIT 1
$$;

COMMENT ON FUNCTION liauto.existing_lead(uuid, text, text, uuid) IS
    'The lead of the client (any campaign) that is the same person: same '
    'public identifier (any case) or same normalised profile URL; both '
    'tests use the dedupe unique indexes.';

CREATE FUNCTION liauto.lead_rules() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT '{
        "campaign_id": {"type": "uuid", "required": true},
        "first_name": {"type": "string", "max": 200, "nullable": true},
        "last_name": {"type": "string", "max": 200, "nullable": true},
        "company": {"type": "string", "max": 200, "nullable": true},
        "title": {"type": "string", "max": 200, "nullable": true},
        "email": {"type": "email", "nullable": true},
        "public_identifier": {"type": "string", "min": 1, "max": 200,
                              "nullable": true},
        "profile_url": {"type": "string", "min": 1, "max": 2000,
                        "nullable": true},
        "custom_fields": {"type": "object"},
        "status": {"type": "string", "enum": ["skipped", "pending"]}
    }'::jsonb
$$;

COMMENT ON FUNCTION liauto.lead_rules() IS
    'Body rules (api.validate_body) of the lead routes. status is '
    'writable on PATCH only, and only to skipped or back to pending.';

CREATE FUNCTION liauto.lead_identity(p_lead jsonb, INOUT p_errors jsonb,
                                     OUT public_identifier text)
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    public_identifier := p_lead ->> 'public_identifier';
    IF p_errors ?| '{public_identifier,profile_url}' THEN
        RETURN;
    END IF;

    IF p_lead ->> 'profile_url' IS NOT NULL
       AND coalesce(liauto.normalize_profile_url(p_lead ->> 'profile_url'),
                    '') !~ '^linkedin\.com/'
    THEN
        p_errors := p_errors || '{"profile_url": "must be a linkedin.com '
                                'URL"}';
    ELSIF public_identifier IS NULL AND p_lead ->> 'profile_url' IS NULL
    THEN
        p_errors := p_errors || '{"profile_url": "a lead needs a '
                                'profile_url or a public_identifier"}';
    ELSIF public_identifier IS NULL THEN
        public_identifier := liauto.public_identifier_from_url_key(
            liauto.normalize_profile_url(p_lead ->> 'profile_url'));
    END IF;
END
$$;

COMMENT ON FUNCTION liauto.lead_identity(jsonb, jsonb) IS
    'Checks the LinkedIn identity of a lead (its merged fields): a '
    'linkedin.com profile URL or a public identifier is required; the '
    'identifier is derived from a /in/<slug> URL when not given (NULL '
    'for other LinkedIn URLs such as Sales Navigator ones).';

CREATE FUNCTION liauto.lead_write(p_caller jsonb, p_lead_id uuid,
                                  p_campaign_id uuid, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_creating   boolean := p_lead_id IS NULL;
    v_stored     liauto.leads;
    v_campaign   liauto.campaigns;
    v_rules      jsonb := liauto.lead_rules();
    v_read_only  text[] := '{id,client_id,created_at,updated_at,'
                           'current_step,error_reason,last_step_sent_at}';
    v_errors     jsonb;
    v_values     jsonb;
    v_merged     jsonb;
    v_derived    text;
    v_existing   uuid;
    v_row        jsonb;
BEGIN
    IF v_creating THEN
        v_read_only := v_read_only || '{status}'::text[];
        v_rules := v_rules - 'status';
    ELSE
        v_stored := liauto.find_lead(p_caller, p_lead_id);
    END IF;
    IF p_campaign_id IS NOT NULL THEN
        v_campaign := liauto.find_campaign(p_caller, p_campaign_id);
    END IF;
    IF NOT v_creating OR p_campaign_id IS NOT NULL THEN
        -- The campaign is the path's, or the lead's own: a lead never
        -- moves between campaigns (its steps belong to one sequence).
        v_read_only := v_read_only || '{campaign_id}'::text[];
        v_rules := v_rules - 'campaign_id';
    END IF;

    v_errors := api.validate_body(p_body, v_rules, NOT v_creating,
                                  v_read_only);
    v_values := liauto.clean_strings(p_body);

    IF v_creating AND p_campaign_id IS NULL AND NOT v_errors ? 'campaign_id'
    THEN
        SELECT * INTO v_campaign FROM liauto.campaigns AS c
        WHERE c.id = (p_body ->> 'campaign_id')::uuid
          AND api.caller_sees(p_caller, c.client_id);
        IF NOT FOUND THEN
            v_errors := v_errors || '{"campaign_id": "unknown campaign"}';
        END IF;
    END IF;
    IF v_creating THEN
        v_values := v_values || jsonb_build_object(
            'campaign_id', v_campaign.id, 'client_id', v_campaign.client_id);
    END IF;

    IF p_body ->> 'status' = 'pending' AND NOT v_errors ? 'status'
       AND v_stored.status NOT IN ('pending', 'skipped', 'error')
    THEN
        v_errors := v_errors || '{"status": "only a skipped or failed lead '
                                'can go back to pending"}';
    END IF;
    IF p_body ? 'status' THEN
        v_values := v_values || '{"error_reason": null}';
    END IF;

    v_merged := coalesce(to_jsonb(v_stored), '{}') || v_values;
    SELECT * INTO v_errors, v_derived
    FROM liauto.lead_identity(v_merged, v_errors);
    PERFORM api.raise_invalid(v_errors);
    IF v_merged ->> 'public_identifier' IS NULL AND v_derived IS NOT NULL
    THEN
        v_values := v_values || jsonb_build_object('public_identifier',
                                                   v_derived);
    END IF;

    v_existing := liauto.existing_lead((v_merged ->> 'client_id')::uuid,
                                       v_derived,
                                       v_merged ->> 'profile_url',
                                       p_lead_id);
    IF v_existing IS NOT NULL THEN
        PERFORM api.raise_error(409, 'DUPLICATE',
            'this person is already a lead of the client',
            jsonb_build_object('existing_lead_id', v_existing));
    END IF;

    IF v_creating THEN
        v_row := liauto.insert_json('liauto.leads', v_values);
    ELSE
        v_row := liauto.update_json('liauto.leads', p_lead_id, v_values);
        IF p_body ->> 'status' = 'skipped' THEN
            UPDATE liauto.actions AS a SET status = 'cancelled'
            WHERE a.lead_id = p_lead_id AND a.status = 'scheduled';
        END IF;
    END IF;

    RETURN QUERY SELECT * FROM api.ok(
        CASE WHEN v_creating THEN 201 ELSE 200 END,
        liauto.lead_json(jsonb_populate_record(NULL::liauto.leads, v_row)));
END
$$;

COMMENT ON FUNCTION liauto.lead_write(jsonb, uuid, uuid, jsonb) IS
    'POST /leads (campaign_id in the body), POST /campaigns/{id}/leads '
    '(p_campaign_id) and PATCH /leads/{id} (p_lead_id). The same person '
    'twice in a client is 409 DUPLICATE {"existing_lead_id"}. PATCH '
    'status: skipped (its scheduled sends are cancelled) or back to '
    'pending from skipped or error.';

CREATE FUNCTION liauto.lead_list(p_caller jsonb, p_query jsonb,
                                 p_campaign_id uuid)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_params  api.list_query;
    v_filter  record;
    v_campaign_filter  uuid;
BEGIN
    v_params := api.list_params(p_query,
        '{created_at,last_name,company,status}',
        CASE WHEN p_campaign_id IS NULL
             THEN '{status,search,created_from,created_to,campaign_id}'
             ELSE '{status,search,created_from,created_to}' END::text[]);
    v_filter := liauto.list_filters(p_caller, p_query,
                                    '{first_name,last_name,company}');
    IF p_campaign_id IS NOT NULL THEN
        v_campaign_filter := (liauto.find_campaign(p_caller,
                                                   p_campaign_id)).id;
    ELSE
        v_campaign_filter := api.query_uuid(p_query, 'filter[campaign_id]');
    END IF;
    IF v_campaign_filter IS NOT NULL THEN
        v_filter.sql := v_filter.sql
            || ' AND t.campaign_id = ($1 ->> ''campaign_id'')::uuid';
        v_filter.args := v_filter.args
            || jsonb_build_object('campaign_id', v_campaign_filter);
    END IF;

    RETURN QUERY SELECT * FROM api.keyset_page(v_params, 'liauto.leads',
        'liauto.lead_json(t)', v_filter.sql, v_filter.args);
END
$$;

COMMENT ON FUNCTION liauto.lead_list(jsonb, jsonb, uuid) IS
    'A page of leads: all the caller may see (GET /leads, with '
    'filter[campaign_id]) or one campaign''s (GET /campaigns/{id}/leads, '
    '404 for a campaign the caller cannot see). Sort created_at|'
    'last_name|company|status; filter[status], filter[search] (first '
    'and last name, company), filter[created_from|created_to].';

CREATE FUNCTION api.leads_list(p_caller jsonb, p_path text[],
                               p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    RETURN QUERY SELECT * FROM liauto.lead_list(p_caller, p_query, NULL);
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.leads_list(jsonb, text[], jsonb, jsonb) IS
    'GET /leads: every lead the caller may see (liauto.lead_list).';

CREATE FUNCTION api.campaign_leads_list(p_caller jsonb, p_path text[],
                                        p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    RETURN QUERY SELECT * FROM liauto.lead_list(p_caller, p_query,
                                                liauto.path_id(p_path));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.campaign_leads_list(jsonb, text[], jsonb, jsonb) IS
    'GET /campaigns/{id}/leads (liauto.lead_list).';

CREATE FUNCTION api.leads_get(p_caller jsonb, p_path text[],
                              p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    RETURN QUERY SELECT * FROM api.ok(200, liauto.lead_json(
        liauto.find_lead(p_caller, liauto.path_id(p_path))));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.leads_get(jsonb, text[], jsonb, jsonb) IS
    'GET /leads/{id}.';

CREATE FUNCTION api.leads_create(p_caller jsonb, p_path text[],
                                 p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    RETURN QUERY SELECT * FROM liauto.lead_write(p_caller, NULL, NULL,
                                                 p_body);
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.leads_create(jsonb, text[], jsonb, jsonb) IS
    'POST /leads {campaign_id, ...} → 201 lead.';

CREATE FUNCTION api.campaign_leads_create(p_caller jsonb, p_path text[],
                                          p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    RETURN QUERY SELECT * FROM liauto.lead_write(p_caller, NULL,
        liauto.path_id(p_path), p_body);
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.campaign_leads_create(jsonb, text[], jsonb, jsonb) IS
    'POST /campaigns/{id}/leads → 201 lead of that campaign.';

CREATE FUNCTION api.leads_update(p_caller jsonb, p_path text[],
                                 p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    RETURN QUERY SELECT * FROM liauto.lead_write(p_caller,
        liauto.path_id(p_path), NULL, p_body);
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.leads_update(jsonb, text[], jsonb, jsonb) IS
    'PATCH /leads/{id} → 200 lead.';

CREATE FUNCTION api.leads_delete(p_caller jsonb, p_path text[],
                                 p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    DELETE FROM liauto.leads AS l
    WHERE l.id = (liauto.find_lead(p_caller, liauto.path_id(p_path))).id;
    RETURN QUERY SELECT * FROM api.ok(204, NULL);
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.leads_delete(jsonb, text[], jsonb, jsonb) IS
    'DELETE /leads/{id} → 204, with its events and outbox rows.';

CREATE FUNCTION api.lead_events_list(p_caller jsonb, p_path text[],
                                    p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_params    api.list_query;
    v_lead      liauto.leads;
    v_envelope  text;
BEGIN
    v_lead := liauto.find_lead(p_caller, liauto.path_id(p_path));
    v_params := api.list_params(p_query, '{created_at,occurred_at}',
                                '{type}');
    RETURN QUERY SELECT * FROM api.keyset_page(v_params, 'liauto.events',
        'liauto.event_json(t)',
        't.lead_id = ($1 ->> ''lead_id'')::uuid'
        ' AND api.caller_sees($1 -> ''caller'', t.client_id)'
        ' AND ($1 ->> ''type'' IS NULL OR t.type = $1 ->> ''type'')',
        jsonb_build_object('caller', p_caller, 'lead_id', v_lead.id,
                           'type', p_query ->> 'filter[type]'));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.lead_events_list(jsonb, text[], jsonb, jsonb) IS
    'GET /leads/{id}/events: the lead''s timeline {id, type, occurred_at, '
    'lead_id, campaign_id, account_id, meta, created_at}; sort '
    'created_at|occurred_at, filter[type].';

-- ------------------------------------------------------------------------
-- CSV import and export
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.import_shape_errors(p_body jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'body', CASE WHEN jsonb_typeof(p_body) IS DISTINCT FROM 'object'
                     THEN 'must be {"header": [...], "rows": [[...]]}' END,
        'header', CASE WHEN jsonb_typeof(p_body -> 'header')
                            IS DISTINCT FROM 'array'
                       OR jsonb_array_length(p_body -> 'header') = 0
                       OR EXISTS (SELECT 1
                                  FROM jsonb_array_elements(p_body -> 'header')
                                       AS h
                                  WHERE jsonb_typeof(h) <> 'string')
                       THEN 'must be a non-empty array of column names' END,
        'rows', CASE WHEN jsonb_typeof(p_body -> 'rows')
                          IS DISTINCT FROM 'array'
                     THEN 'must be an array of rows' END))
    || coalesce((SELECT jsonb_object_agg(k, 'unknown field')
                 FROM jsonb_object_keys(CASE jsonb_typeof(p_body)
                                            WHEN 'object' THEN p_body
                                            ELSE '{}' END) AS k
                 WHERE k NOT IN ('header', 'rows')), '{}')
$$;

COMMENT ON FUNCTION liauto.import_shape_errors(jsonb) IS
    'What is wrong with the shape of the parsed CSV the module hands over '
    '({"header": [names], "rows": [[cells]]}); empty when nothing.';

CREATE FUNCTION liauto.import_leads(p_campaign liauto.campaigns,
                                    p_header jsonb, p_rows jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_fields   jsonb;
    v_customs  jsonb;
    v_result   jsonb;
BEGIN
    -- Column name -> 0-based cell index; the first of two columns mapping
    -- to one field wins. Every unmapped named column is a custom field.
    SELECT jsonb_object_agg(field, pos) FILTER (WHERE field IS NOT NULL),
           coalesce(jsonb_agg(jsonb_build_array(name, pos))
                        FILTER (WHERE field IS NULL AND name <> ''),
                    '[]')
    INTO v_fields, v_customs
    FROM (SELECT DISTINCT ON (coalesce(field, name), field IS NULL)
                 field, name, pos
          FROM (SELECT liauto.import_header_field(h) AS field,
                       btrim(replace(h, U&'\FEFF', '')) AS name,
                       n - 1 AS pos
                FROM jsonb_array_elements_text(p_header)
                     WITH ORDINALITY AS c (h, n)) AS named
          ORDER BY coalesce(field, name), field IS NULL, pos) AS cols;

    IF NOT coalesce(v_fields ?| '{profile_url,public_identifier}', false)
    THEN
        PERFORM api.raise_invalid(jsonb_build_object('header',
            'no LinkedIn column: name one "LinkedIn URL", "Profile URL", '
            '"LinkedIn Profile", "Person Linkedin Url" or "Public '
            'Identifier"'));
    END IF;

    WITH cells AS (
        SELECT r.n AS row_number, r.cells,
               jsonb_typeof(r.cells) = 'array' AS is_list
        FROM jsonb_array_elements(p_rows) WITH ORDINALITY AS r (cells, n)
    ), named AS MATERIALIZED (
        -- A cell past the end of a short row, or of a row that is not a
        -- list at all, reads as NULL.
        SELECT c.row_number, c.cells, c.is_list,
               NULLIF(btrim(c.cells ->> (v_fields ->> 'first_name')::integer),
                      '') AS first_name,
               NULLIF(btrim(c.cells ->> (v_fields ->> 'last_name')::integer),
                      '') AS last_name,
               NULLIF(btrim(c.cells ->> (v_fields ->> 'company')::integer),
                      '') AS company,
               NULLIF(btrim(c.cells ->> (v_fields ->> 'title')::integer),
                      '') AS title,
               NULLIF(btrim(c.cells ->> (v_fields ->> 'email')::integer),
                      '') AS email,
               NULLIF(btrim(c.cells
                            ->> (v_fields ->> 'profile_url')::integer),
                      '') AS profile_url,
               NULLIF(btrim(c.cells
                            ->> (v_fields ->> 'public_identifier')::integer),
                      '') AS given_identifier
        FROM cells AS c
    ), keyed AS MATERIALIZED (
        -- MATERIALIZED: computed once per row, not once per later use.
        SELECT n.*, liauto.normalize_profile_url(n.profile_url) AS url_key
        FROM named AS n
    ), fields AS (
        SELECT n.row_number, n.is_list, n.first_name, n.last_name,
               n.company, n.title, n.email, n.profile_url, n.url_key,
               coalesce(n.given_identifier,
                        liauto.public_identifier_from_url_key(n.url_key))
                   AS public_identifier,
               (SELECT coalesce(jsonb_object_agg(k.e ->> 0,
                                    btrim(n.cells ->> (k.e ->> 1)::integer)),
                                '{}')
                FROM jsonb_array_elements(v_customs) AS k (e)
                WHERE btrim(n.cells ->> (k.e ->> 1)::integer) <> '')
                   AS custom_fields
        FROM keyed AS n
    ), checked AS (
        SELECT f.*,
               CASE
                   WHEN NOT f.is_list
                   THEN 'not a list of fields'
                   WHEN f.profile_url IS NOT NULL
                        AND coalesce(f.url_key, '') !~ '^linkedin\.com/'
                   THEN 'profile URL is not a linkedin.com URL'
                   WHEN f.public_identifier IS NULL AND f.profile_url IS NULL
                   THEN 'no LinkedIn profile URL or public identifier'
                   WHEN f.email !~ '^[^@[:space:]]+@[^@[:space:]]+$'
                   THEN 'invalid email address'
               END AS reason,
               lower(f.public_identifier) AS identifier_key,
               gen_random_uuid() AS new_id
        FROM fields AS f
    ), matched AS (
        SELECT c.*, coalesce(by_identifier.id, by_url.id) AS existing_id
        FROM checked AS c
        LEFT JOIN liauto.leads AS by_identifier
               ON by_identifier.client_id = p_campaign.client_id
              AND lower(by_identifier.public_identifier) = c.identifier_key
        LEFT JOIN liauto.leads AS by_url
               ON by_url.client_id = p_campaign.client_id
              AND liauto.normalize_profile_url(by_url.profile_url)
                  = c.url_key
        WHERE c.reason IS NULL
    ), ranked AS (
        -- Window functions, not self-joins: the first row of the file
        -- with an identifier (or URL) and the lead it stands for (already
        -- there, or the one it is about to create).
        SELECT m.*,
               CASE WHEN m.identifier_key IS NOT NULL
                    THEN first_value(m.row_number) OVER by_identifier
               END AS first_by_identifier,
               CASE WHEN m.identifier_key IS NOT NULL
                    THEN first_value(coalesce(m.existing_id, m.new_id))
                         OVER by_identifier
               END AS lead_by_identifier,
               CASE WHEN m.url_key IS NOT NULL
                    THEN first_value(m.row_number) OVER by_url
               END AS first_by_url,
               CASE WHEN m.url_key IS NOT NULL
                    THEN first_value(coalesce(m.existing_id, m.new_id))
                         OVER by_url
               END AS lead_by_url
        FROM matched AS m
        WINDOW by_identifier AS (PARTITION BY m.identifier_key
                                 ORDER BY m.row_number),
               by_url AS (PARTITION BY m.url_key ORDER BY m.row_number)
    ), classified AS (
        SELECT r.*,
               r.existing_id IS NOT NULL
               OR coalesce(r.first_by_identifier < r.row_number, false)
               OR coalesce(r.first_by_url < r.row_number, false)
                   AS is_duplicate,
               CASE
                   WHEN r.existing_id IS NOT NULL THEN r.existing_id
                   WHEN r.first_by_identifier
                        <= coalesce(r.first_by_url, r.row_number)
                        AND r.first_by_identifier < r.row_number
                   THEN r.lead_by_identifier
                   WHEN r.first_by_url < r.row_number THEN r.lead_by_url
               END AS duplicate_of
        FROM ranked AS r
    ), inserted AS (
        INSERT INTO liauto.leads
            (id, client_id, campaign_id, first_name, last_name, company,
             title, email, public_identifier, profile_url, custom_fields)
        SELECT c.new_id, p_campaign.client_id, p_campaign.id, c.first_name,
               c.last_name, c.company, c.title, c.email,
               c.public_identifier, c.profile_url, c.custom_fields
        FROM classified AS c
        WHERE NOT c.is_duplicate
        ORDER BY c.row_number
        ON CONFLICT DO NOTHING
        RETURNING id
    ), duplicates AS (
        SELECT c.row_number, c.duplicate_of
        FROM classified AS c
        WHERE c.is_duplicate
        UNION ALL
        -- Taken by a concurrent import between our read and our insert.
        SELECT c.row_number, NULL
        FROM classified AS c
        WHERE NOT c.is_duplicate
          AND c.new_id NOT IN (SELECT i.id FROM inserted AS i)
    )
    SELECT jsonb_build_object(
        'imported', (SELECT count(*) FROM inserted),
        'duplicates', (SELECT count(*) FROM duplicates),
        'invalid', (SELECT count(*) FROM checked WHERE reason IS NOT NULL),
        'errors', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                       'row', row_number, 'reason', reason)
                                   ORDER BY row_number), '[]')
                   FROM checked WHERE reason IS NOT NULL),
        'duplicate_rows', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                       'row', row_number,
                                       'existing_lead_id', duplicate_of)
                                   ORDER BY row_number), '[]')
                           FROM duplicates))
    INTO v_result;

    RETURN v_result;
END
$$;

COMMENT ON FUNCTION liauto.import_leads(liauto.campaigns, jsonb, jsonb) IS
    'Set-based CSV import into a campaign (one INSERT ... ON CONFLICT DO '
    'NOTHING for the whole file): header names mapped by '
    'liauto.import_header_field, other columns into custom_fields, cells '
    'trimmed (blank = none), public identifier derived from /in/ URLs. '
    'A row is invalid without a LinkedIn identity or with a bad email, a '
    'duplicate when the client already has the person (any campaign) or '
    'an earlier row of the file has it; duplicate_rows name the lead it '
    'duplicates (NULL only when a concurrent import took it).';

CREATE FUNCTION api.leads_import(p_caller jsonb, p_path text[],
                                 p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_campaign  liauto.campaigns;
    v_shape     jsonb;
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    v_campaign := liauto.find_campaign(p_caller, liauto.path_id(p_path));
    v_shape := liauto.import_shape_errors(p_body);
    IF v_shape <> '{}' THEN
        PERFORM api.raise_error(400, 'BAD_REQUEST',
                                'the parsed CSV has the wrong shape',
                                v_shape);
    END IF;
    RETURN QUERY SELECT * FROM api.ok(200, liauto.import_leads(
        v_campaign, p_body -> 'header', p_body -> 'rows'));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.leads_import(jsonb, text[], jsonb, jsonb) IS
    'POST /campaigns/{id}/leads/import: p_body is the CSV parsed by the '
    'module, {"header": [...], "rows": [[...], ...]} → 200 {"imported", '
    '"duplicates", "invalid", "errors": [{"row", "reason"}], '
    '"duplicate_rows": [{"row", "existing_lead_id"}]}, rows numbered from '
    '1 after the header (liauto.import_leads).';

CREATE FUNCTION liauto.check_export_query(p_query jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    PERFORM api.reject_query(p_query - 'format');
    IF coalesce(p_query ->> 'format', 'csv') <> 'csv' THEN
        PERFORM api.raise_error(400, 'BAD_REQUEST',
                                'invalid query parameters',
                                '{"format": "must be csv"}');
    END IF;
END
$$;

COMMENT ON FUNCTION liauto.check_export_query(jsonb) IS
    'The exports take ?format=csv (the default) and nothing else.';

CREATE FUNCTION api.leads_export(p_caller jsonb, p_path text[],
                                 p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_campaign  liauto.campaigns;
    v_keys      text[];
    v_envelope  text;
BEGIN
    PERFORM liauto.check_export_query(p_query);
    v_campaign := liauto.find_campaign(p_caller, liauto.path_id(p_path));

    SELECT coalesce(array_agg(DISTINCT k ORDER BY k), '{}') INTO v_keys
    FROM liauto.leads AS l, jsonb_object_keys(l.custom_fields) AS k
    WHERE l.campaign_id = v_campaign.id;

    RETURN QUERY SELECT 200, liauto.csv_line(
        '{id,first_name,last_name,company,title,email,public_identifier,'
        'profile_url,status,current_step,created_at}'::text[] || v_keys)
        || coalesce(string_agg(liauto.csv_line(ARRAY[
               l.id::text, l.first_name, l.last_name, l.company, l.title,
               l.email, l.public_identifier, l.profile_url, l.status,
               l.current_step::text, api.ts(l.created_at)]
               || ARRAY(SELECT l.custom_fields ->> k
                        FROM unnest(v_keys) WITH ORDINALITY AS u (k, n)
                        ORDER BY u.n)),
               '' ORDER BY l.created_at, l.id), '')
    FROM liauto.leads AS l
    WHERE l.campaign_id = v_campaign.id;
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.leads_export(jsonb, text[], jsonb, jsonb) IS
    'GET /campaigns/{id}/leads/export?format=csv → 200 text/csv (RFC '
    '4180, CRLF, header row): the fixed lead columns, then one column '
    'per custom field key any lead of the campaign has, in key order.';

CREATE FUNCTION api.lead_events_export(p_caller jsonb, p_path text[],
                                       p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_campaign  liauto.campaigns;
    v_envelope  text;
BEGIN
    PERFORM liauto.check_export_query(p_query);
    v_campaign := liauto.find_campaign(p_caller, liauto.path_id(p_path));

    RETURN QUERY SELECT 200, liauto.csv_line(
        '{id,type,occurred_at,lead_id,public_identifier,profile_url,'
        'account_id,external_id,meta}'::text[])
        || coalesce(string_agg(liauto.csv_line(ARRAY[
               e.id::text, e.type, api.ts(e.occurred_at), e.lead_id::text,
               l.public_identifier, l.profile_url, e.account_id::text,
               e.external_id, e.meta::text]),
               '' ORDER BY e.occurred_at, e.id), '')
    FROM liauto.events AS e
    JOIN liauto.leads AS l ON l.id = e.lead_id
    WHERE e.campaign_id = v_campaign.id;
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.lead_events_export(jsonb, text[], jsonb, jsonb) IS
    'GET /campaigns/{id}/events/export?format=csv → 200 text/csv of the '
    'campaign''s lead events, oldest first; meta as JSON text.';

-- ------------------------------------------------------------------------
-- /automation/scheduler
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.scheduler_json(p_caller jsonb) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'paused', coalesce((s.value #>> '{}')::boolean, false),
        'paused_at', CASE WHEN (s.value #>> '{}')::boolean
                          THEN api.ts(s.updated_at) END,
        'workers', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                               'worker_id', h.worker_id,
                               'hostname', h.hostname,
                               'pid', h.pid,
                               'version', h.version,
                               'state', h.state,
                               'started_at', api.ts(h.started_at),
                               'last_seen_at', api.ts(h.last_seen_at),
                               'alive', h.last_seen_at
                                        >= now() - interval '30 seconds'
                                        AND h.state IS DISTINCT FROM
                                            'stopped')
                           ORDER BY h.worker_id), '[]')
                    FROM liauto.worker_heartbeats AS h),
        'due', (SELECT jsonb_build_object(
                           'scheduled', count(*) FILTER (
                               WHERE a.status = 'scheduled'
                                 AND a.due_at <= liauto.now()),
                           'claimed', count(*) FILTER (
                               WHERE a.status = 'claimed'))
                FROM liauto.actions AS a
                WHERE a.status IN ('scheduled', 'claimed')
                  AND api.caller_sees(p_caller, a.client_id)))
    FROM (SELECT NULL) AS one
    LEFT JOIN liauto.settings AS s ON s.key = 'scheduler_paused'
$$;

COMMENT ON FUNCTION liauto.scheduler_json(jsonb) IS
    'Scheduler state: the paused flag (liauto.settings scheduler_paused, '
    'paused_at = when it was set), every worker with alive = seen in the '
    'last 30 s and not stopped (the rule of api.health), and the due work '
    'of the caller''s tenant: scheduled actions whose time has come (by '
    'the engine clock, liauto.now()) and claimed ones.';

CREATE FUNCTION api.scheduler_status(p_caller jsonb, p_path text[],
                                     p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    RETURN QUERY SELECT * FROM api.ok(200, liauto.scheduler_json(p_caller));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.scheduler_status(jsonb, text[], jsonb, jsonb) IS
    'GET /automation/scheduler/status (liauto.scheduler_json).';

CREATE FUNCTION liauto.scheduler_set_paused(p_caller jsonb, p_query jsonb,
                                            p_paused boolean)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM api.reject_query(p_query);
    PERFORM api.require_admin(p_caller);

    INSERT INTO liauto.settings AS s (key, value)
    VALUES ('scheduler_paused', to_jsonb(p_paused))
    ON CONFLICT (key) DO UPDATE SET value = excluded.value
    WHERE s.value IS DISTINCT FROM excluded.value;
    IF FOUND THEN
        PERFORM pg_notify('liauto_worker', jsonb_build_object(
            'event', 'scheduler_paused', 'paused', p_paused)::text);
    END IF;

    RETURN QUERY SELECT * FROM api.ok(200, liauto.scheduler_json(p_caller));
END
$$;

COMMENT ON FUNCTION liauto.scheduler_set_paused(jsonb, jsonb, boolean) IS
    'POST /automation/scheduler/actions/stop (p_paused) and /start: sets '
    'scheduler_paused and, when it changed, wakes every worker with '
    'NOTIFY liauto_worker {"event":"scheduler_paused","paused":bool}.';

CREATE FUNCTION api.scheduler_start(p_caller jsonb, p_path text[],
                                    p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    RETURN QUERY SELECT * FROM liauto.scheduler_set_paused(p_caller,
                                                           p_query, false);
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.scheduler_start(jsonb, text[], jsonb, jsonb) IS
    'POST /automation/scheduler/actions/start → 200 scheduler status.';

CREATE FUNCTION api.scheduler_stop(p_caller jsonb, p_path text[],
                                   p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    RETURN QUERY SELECT * FROM liauto.scheduler_set_paused(p_caller,
                                                           p_query, true);
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.scheduler_stop(jsonb, text[], jsonb, jsonb) IS
    'POST /automation/scheduler/actions/stop → 200 scheduler status; '
    'workers stop claiming new work.';

