-- 0020_leftovers: what issues 3 and 4 left open (session 1 closing note).
--
-- 1. Login throttling without a race: failed logins for one email (or
--    from one address) are serialised, so concurrent attempts cannot all
--    pass the check before any of them is counted.
-- 2. CSV exports neutralise spreadsheet formulas (OWASP "CSV injection").
-- 3. A campaign's working_hours_end may be "24:00" (the end of the day),
--    which the engine's calendar already understands; a start may not.
-- 4. The worker stores a lead's resolved provider id and member id, so
--    later steps send without looking the profile up again.

-- ------------------------------------------------------------------------
-- 1. Login throttle: one attempt at a time per email and per address
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.lock_login(p_email text, p_ip text) RETURNS void
LANGUAGE sql AS $$
    -- Always the email first, then the address: a transaction that holds
    -- an address lock never waits for an email lock, so two logins cannot
    -- wait on each other.
    SELECT pg_advisory_xact_lock(
               hashtextextended('liauto.login_email:' || p_email, 0));
    SELECT pg_advisory_xact_lock(
               hashtextextended('liauto.login_ip:' || p_ip, 0))
    WHERE p_ip IS NOT NULL;
$$;

COMMENT ON FUNCTION liauto.lock_login(text, text) IS
    'Serialises logins of one email and of one address until the end of '
    'the transaction (advisory locks on hashes of the lower-cased email '
    'and of the address), so the throttle check and the recording of a '
    'failure are one step. Logins behind one address wait for each other '
    '(one bcrypt each, ~50 ms); the address limit is 20 per 15 minutes '
    'anyway.';

CREATE OR REPLACE FUNCTION api.auth_login(p_caller jsonb, p_path text[],
                                          p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    -- bcrypt (cost 10, like liauto.hash_password) of a random string
    -- nobody knows: an unknown email costs the same bcrypt run as a known
    -- one, so response times do not tell which emails exist.
    c_dummy_hash  CONSTANT text :=
        '$2a$10$wPkdg8ZccodlA0710xgmJewcMA1mTtv.VndgfieTTsHBq5rqV1od.';
    v_email       text;
    v_ip          text := left(p_caller ->> 'ip', 64);
    v_retry       integer;
    v_user        liauto.users;
    v_envelope    text;
BEGIN
    PERFORM api.reject_query(p_query);
    PERFORM api.raise_invalid(api.validate_body(p_body,
        '{"email": {"type": "string", "required": true, "max": 320},
          "password": {"type": "string", "required": true, "max": 1024}}'));

    v_email := lower(btrim(p_body ->> 'email'));
    -- Held until the failure below is committed: the next attempt for
    -- this email or address checks with it counted.
    PERFORM liauto.lock_login(v_email, v_ip);
    v_retry := liauto.login_retry_after(v_email, v_ip);
    IF v_retry IS NOT NULL THEN
        RETURN QUERY SELECT * FROM api.error(429, 'RATE_LIMITED',
            'too many failed login attempts; try again later',
            jsonb_build_object('retry_after', v_retry));
        RETURN;
    END IF;

    SELECT * INTO v_user FROM liauto.users AS u WHERE lower(u.email) = v_email;
    IF NOT liauto.verify_password(coalesce(v_user.password_hash, c_dummy_hash),
                                  p_body ->> 'password')
       OR v_user.id IS NULL
    THEN
        PERFORM liauto.record_login_failure(v_email, v_ip);
        RETURN QUERY SELECT * FROM api.error(401, 'UNAUTHORIZED',
                                             'invalid email or password');
        RETURN;
    END IF;

    DELETE FROM liauto.login_attempts AS a WHERE a.email = v_email;
    RETURN QUERY SELECT * FROM api.ok(200, liauto.session_json(v_user, NULL));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.auth_login(jsonb, text[], jsonb, jsonb) IS
    'POST /auth/login {email, password}: 200 session (liauto.session_json), '
    '401 "invalid email or password" for a wrong email or password alike, '
    '429 with details.retry_after after 5 failures per email or 20 per '
    'address in 15 minutes. Concurrent attempts for one email or address '
    'run one after the other (liauto.lock_login), so the limits hold under '
    'a parallel attack too.';


-- ------------------------------------------------------------------------
-- 2. CSV exports: no cell is read as a formula by a spreadsheet
-- ------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION liauto.csv_field(p_value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- OWASP's recipe: a cell a spreadsheet would evaluate (it starts with
    -- = + - @, tab or CR) gets a leading single quote, then the usual RFC
    -- 4180 quoting. Lead fields come from imported files and API callers,
    -- so "=HYPERLINK(...)" in a company name must stay text.
    SELECT CASE
               WHEN f.v ~ '[",\r\n]'
               THEN '"' || replace(f.v, '"', '""') || '"'
               ELSE coalesce(f.v, '')
           END
    FROM (SELECT CASE WHEN p_value ~ '^[=+@\t\r-]' THEN '''' || p_value
                      ELSE p_value END AS v) AS f
$$;

COMMENT ON FUNCTION liauto.csv_field(text) IS
    'One RFC 4180 field of an export: a value starting with = + - @, tab '
    'or CR is prefixed with a single quote so spreadsheets show it as text '
    '(OWASP CSV injection), then quoted (quotes doubled) when it holds a '
    'comma, quote, CR or LF; NULL is the empty field.';


-- ------------------------------------------------------------------------
-- 3. working_hours_end "24:00"
-- ------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION api.field_error(p_value jsonb, p_rule jsonb)
RETURNS text
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
        -- "24:00" is the end of a day, never a start: only a rule with
        -- "end_of_day" takes it (Postgres' time type holds 24:00:00).
        IF (p_rule ->> 'end_of_day')::boolean
           AND v_type = 'string' AND v_text = '24:00'
        THEN
            RETURN NULL;
        ELSIF v_type <> 'string'
              OR v_text !~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'
        THEN
            RETURN CASE WHEN (p_rule ->> 'end_of_day')::boolean
                        THEN 'must be a time "HH:MM" or "24:00" (the end '
                             'of the day)'
                        ELSE 'must be a time "HH:MM"' END;
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
    'integer range, "enum": [allowed strings], "end_of_day": true (a '
    'time may be "24:00")}. Strict JSON types: "5" is not an integer.';

CREATE OR REPLACE FUNCTION liauto.campaign_rules() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT '{
        "name": {"type": "string", "min": 1, "max": 200, "required": true},
        "client_id": {"type": "uuid"},
        "linkedin_account_id": {"type": "uuid", "nullable": true},
        "timezone": {"type": "timezone"},
        "working_hours_start": {"type": "time"},
        "working_hours_end": {"type": "time", "end_of_day": true},
        "working_days": {"type": "array"}
    }'::jsonb
$$;

COMMENT ON FUNCTION liauto.campaign_rules() IS
    'Body rules (api.validate_body) of POST and PATCH /campaigns; '
    'working_hours_end may be "24:00" (a window up to midnight, '
    'liauto.snap_to_working_hours).';


-- ------------------------------------------------------------------------
-- 4. A resolved profile is kept on the lead
-- ------------------------------------------------------------------------

CREATE FUNCTION engine.save_lead_profile(p_lead_id uuid, p_provider_id text,
                                         p_member_id text)
RETURNS boolean
LANGUAGE sql AS $$
    -- Fills only what is missing: an id the lead already has (given at
    -- import or by a webhook) is never replaced by a lookup's. Neither
    -- column is unique (leads_provider_id_idx, leads_member_id_idx): one
    -- person imported once by profile URL and once by public identifier
    -- into two campaigns legitimately shares them.
    UPDATE liauto.leads
    SET provider_id = coalesce(provider_id,
                               nullif(btrim(p_provider_id), '')),
        member_id = coalesce(member_id, nullif(btrim(p_member_id), ''))
    WHERE id = p_lead_id
      AND (provider_id IS NULL AND nullif(btrim(p_provider_id), '') IS NOT NULL
           OR member_id IS NULL AND nullif(btrim(p_member_id), '') IS NOT NULL)
    RETURNING true
$$;

COMMENT ON FUNCTION engine.save_lead_profile(uuid, text, text) IS
    'Keeps what a profile lookup resolved on the lead: provider_id and '
    'member_id (Unipile''s member_urn), each only where the lead has none. '
    'The next claim''s payload (liauto.action_payload) carries them, so the '
    'worker sends the later steps without another lookup. true when '
    'something was stored, NULL otherwise.';
