-- 0003_api_auth_users_clients: the auth routes (login with throttling,
-- refresh rotation with reuse detection, logout, me), users (admin only)
-- and clients, built on the framework of 0002 (see sql/README.md).

-- ------------------------------------------------------------------------
-- Schema additions
-- ------------------------------------------------------------------------

-- The contract's client fields beyond 0001's name.
ALTER TABLE liauto.clients
    ADD COLUMN email text
        CONSTRAINT clients_email_check
        CHECK (length(email) <= 320
               AND email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    ADD COLUMN timezone text NOT NULL DEFAULT 'UTC',
    ADD COLUMN settings jsonb NOT NULL DEFAULT '{}'
        CONSTRAINT clients_settings_check
        CHECK (jsonb_typeof(settings) = 'object');

COMMENT ON COLUMN liauto.clients.email IS
    'Recipient of the client''s reports, or NULL.';
COMMENT ON COLUMN liauto.clients.settings IS
    'Free-form client preferences; a PATCH replaces the whole object.';

CREATE TRIGGER clients_timezone_check
    BEFORE INSERT OR UPDATE OF timezone ON liauto.clients
    FOR EACH ROW EXECUTE FUNCTION liauto.check_timezone();

-- Keyset pages sorted by name.
CREATE INDEX clients_name_idx ON liauto.clients (name, id);
CREATE INDEX users_email_idx ON liauto.users (email, id);
CREATE INDEX users_created_idx ON liauto.users (created_at, id);


CREATE TABLE liauto.login_attempts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email       text NOT NULL
                CONSTRAINT login_attempts_email_check
                CHECK (email = lower(email) AND length(email) <= 320),
    ip          text
                CONSTRAINT login_attempts_ip_check
                CHECK (length(ip) <= 64),
    created_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE liauto.login_attempts IS
    'Failed logins of the last 15 minutes drive the throttle: 5 per email '
    'or 20 per address and the next attempt is a 429. Only failures are '
    'kept; a success deletes the email''s rows, and rows past the window '
    'are pruned as new failures arrive.';
COMMENT ON COLUMN liauto.login_attempts.email IS
    'lower(btrim()) of the email as typed, whether a user has it or not, '
    'so guessing unknown accounts is throttled too.';

CREATE INDEX login_attempts_email_created_idx
    ON liauto.login_attempts (email, created_at);
CREATE INDEX login_attempts_ip_created_idx
    ON liauto.login_attempts (ip, created_at);
CREATE INDEX login_attempts_created_idx
    ON liauto.login_attempts (created_at);


-- ------------------------------------------------------------------------
-- Shared helpers (used by later api migrations too)
-- ------------------------------------------------------------------------

CREATE FUNCTION api.require_admin(p_caller jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- The module enforces the role floor before SQL runs; this is the
    -- second lock on the door for admin-only functions.
    IF p_caller ->> 'role' IS DISTINCT FROM 'admin' THEN
        PERFORM api.raise_error(403, 'FORBIDDEN', 'admin role required');
    END IF;
END
$$;

COMMENT ON FUNCTION api.require_admin(jsonb) IS
    '403 FORBIDDEN unless the caller is an admin.';

CREATE FUNCTION api.reject_query(p_query jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF coalesce(p_query, '{}') <> '{}' THEN
        PERFORM api.raise_error(400, 'BAD_REQUEST', 'invalid query parameters',
            (SELECT jsonb_object_agg(k, 'unknown parameter')
             FROM jsonb_object_keys(p_query) AS k));
    END IF;
END
$$;

COMMENT ON FUNCTION api.reject_query(jsonb) IS
    '400 naming every parameter, for routes that take none (all but '
    'lists).';

CREATE FUNCTION api.query_uuid(p_query jsonb, p_param text) RETURNS uuid
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_query ->> p_param IS NULL THEN
        RETURN NULL;
    ELSIF p_query ->> p_param
          ~* '^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$' THEN
        RETURN (p_query ->> p_param)::uuid;
    END IF;
    PERFORM api.raise_error(400, 'BAD_REQUEST', 'invalid query parameters',
                            jsonb_build_object(p_param, 'must be a UUID'));
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION api.query_uuid(jsonb, text) IS
    'A filter[client_id]-style uuid parameter, NULL when absent, 400 when '
    'not a UUID.';


-- ------------------------------------------------------------------------
-- Representations
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.user_json(p_user liauto.users) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', p_user.id, 'email', p_user.email,
                              'role', p_user.role,
                              'client_id', p_user.client_id,
                              'created_at', api.ts(p_user.created_at),
                              'updated_at', api.ts(p_user.updated_at))
$$;

COMMENT ON FUNCTION liauto.user_json(liauto.users) IS
    'A user as the API shows it: never the password hash.';

CREATE FUNCTION liauto.client_json(p_client liauto.clients) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', p_client.id, 'name', p_client.name,
                              'email', p_client.email,
                              'timezone', p_client.timezone,
                              'settings', p_client.settings,
                              'created_at', api.ts(p_client.created_at),
                              'updated_at', api.ts(p_client.updated_at))
$$;


-- ------------------------------------------------------------------------
-- Auth
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.refresh_token_hash(p_token text) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT sha256(convert_to(p_token, 'UTF8'))
$$;

COMMENT ON FUNCTION liauto.refresh_token_hash(text) IS
    'What refresh_tokens.token_hash stores for a token as the client '
    'holds it.';

CREATE FUNCTION liauto.session_json(p_user liauto.users, p_family_id uuid)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_id       uuid := gen_random_uuid();
    v_token    text := translate(encode(gen_random_bytes(32), 'base64'),
                                 '+/=', '-_');
    v_expires  timestamptz := now() + interval '30 days';
BEGIN
    -- The first token of a login names its family (family_id = id).
    INSERT INTO liauto.refresh_tokens (id, user_id, family_id, token_hash,
                                       expires_at)
    VALUES (v_id, p_user.id, coalesce(p_family_id, v_id),
            liauto.refresh_token_hash(v_token), v_expires);

    RETURN jsonb_build_object(
        'user', jsonb_build_object('id', p_user.id, 'email', p_user.email,
                                   'role', p_user.role,
                                   'client_id', p_user.client_id),
        'refresh_token', v_token,
        'refresh_expires_at', api.ts(v_expires));
END
$$;

COMMENT ON FUNCTION liauto.session_json(liauto.users, uuid) IS
    'Issues a refresh token (32 random bytes, base64url, stored only as '
    'its sha256, 30 days) in family p_family_id or a new one, and returns '
    'the body of login/refresh: the module signs the access JWT from '
    '"user", so SQL never sees the signing key.';

CREATE FUNCTION liauto.login_retry_after(p_email text, p_ip text)
RETURNS integer
LANGUAGE sql STABLE AS $$
    -- Throttled while the 5th most recent failure of the email (20th of
    -- the address) is inside the window; it leaves the window at t + 15
    -- min, and with it the count drops below the limit.
    SELECT greatest(1, ceil(extract(epoch FROM
               max(t) + interval '15 minutes' - now())))::integer
    FROM ((SELECT created_at FROM liauto.login_attempts
           WHERE email = p_email
             AND created_at > now() - interval '15 minutes'
           ORDER BY created_at DESC OFFSET 4 LIMIT 1)
          UNION ALL
          (SELECT created_at FROM liauto.login_attempts
           WHERE ip = p_ip
             AND created_at > now() - interval '15 minutes'
           ORDER BY created_at DESC OFFSET 19 LIMIT 1)) AS f(t)
    HAVING max(t) IS NOT NULL
$$;

COMMENT ON FUNCTION liauto.login_retry_after(text, text) IS
    'Seconds until a login for p_email from p_ip is allowed again, NULL '
    'when it is allowed now.';

CREATE FUNCTION liauto.record_login_failure(p_email text, p_ip text)
RETURNS void
LANGUAGE sql AS $$
    DELETE FROM liauto.login_attempts
    WHERE created_at < now() - interval '15 minutes';
    INSERT INTO liauto.login_attempts (email, ip) VALUES (p_email, p_ip);
$$;

COMMENT ON FUNCTION liauto.record_login_failure(text, text) IS
    'Counts a failed login; prunes attempts that left the window so the '
    'table stays as small as the attack in progress.';

CREATE FUNCTION api.auth_login(p_caller jsonb, p_path text[],
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
    'address in 15 minutes.';

CREATE FUNCTION liauto.refresh_token_body(p_body jsonb) RETURNS bytea
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM api.raise_invalid(api.validate_body(p_body,
        '{"refresh_token": {"type": "string", "required": true,
                            "max": 200}}'));
    RETURN liauto.refresh_token_hash(p_body ->> 'refresh_token');
END
$$;

COMMENT ON FUNCTION liauto.refresh_token_body(jsonb) IS
    'Validates a {refresh_token} body (refresh, logout) and returns the '
    'token''s hash.';

CREATE FUNCTION api.auth_refresh(p_caller jsonb, p_path text[],
                                 p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_token     liauto.refresh_tokens;
    v_user      liauto.users;
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    -- FOR UPDATE: two refreshes racing with one token are one rotation
    -- and one reuse, never two successors.
    SELECT * INTO v_token FROM liauto.refresh_tokens AS t
    WHERE t.token_hash = liauto.refresh_token_body(p_body)
    FOR UPDATE;

    IF FOUND AND v_token.rotated_at IS NOT NULL
       AND v_token.revoked_at IS NULL
    THEN
        -- Reuse of a rotated token: someone else may hold its successor.
        UPDATE liauto.refresh_tokens AS t SET revoked_at = now()
        WHERE t.family_id = v_token.family_id AND t.revoked_at IS NULL;
    END IF;

    IF v_token.id IS NULL OR v_token.rotated_at IS NOT NULL
       OR v_token.revoked_at IS NOT NULL OR v_token.expires_at <= now()
    THEN
        RETURN QUERY SELECT * FROM api.error(401, 'UNAUTHORIZED',
                                             'invalid refresh token');
        RETURN;
    END IF;

    UPDATE liauto.refresh_tokens AS t SET rotated_at = now()
    WHERE t.id = v_token.id;
    SELECT * INTO v_user FROM liauto.users AS u WHERE u.id = v_token.user_id;
    RETURN QUERY SELECT * FROM api.ok(200,
        liauto.session_json(v_user, v_token.family_id));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.auth_refresh(jsonb, text[], jsonb, jsonb) IS
    'POST /auth/refresh {refresh_token}: rotates it (same family, new 30 '
    'days) and answers like login; unknown, expired, revoked or rotated '
    'tokens are 401, and a rotated one also revokes its whole family.';

CREATE FUNCTION api.auth_logout(p_caller jsonb, p_path text[],
                                p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_family    uuid;
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    -- Only the caller's own sessions: a token of another user is unknown.
    SELECT t.family_id INTO v_family FROM liauto.refresh_tokens AS t
    WHERE t.token_hash = liauto.refresh_token_body(p_body)
      AND t.user_id = (p_caller ->> 'sub')::uuid;
    IF NOT FOUND THEN
        RETURN QUERY SELECT * FROM api.error(401, 'UNAUTHORIZED',
                                             'invalid refresh token');
        RETURN;
    END IF;

    UPDATE liauto.refresh_tokens AS t SET revoked_at = now()
    WHERE t.family_id = v_family AND t.revoked_at IS NULL;
    RETURN QUERY SELECT * FROM api.ok(204, NULL);
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.auth_logout(jsonb, text[], jsonb, jsonb) IS
    'POST /auth/logout {refresh_token}: revokes the token''s family (the '
    'whole login session) and answers 204; logging out twice is fine, a '
    'token the caller never had is 401.';

CREATE FUNCTION api.auth_me(p_caller jsonb, p_path text[], p_query jsonb,
                            p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_user      liauto.users;
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    SELECT * INTO v_user FROM liauto.users AS u
    WHERE u.id = (p_caller ->> 'sub')::uuid;
    IF NOT FOUND THEN
        -- A valid access token of a user deleted since it was issued.
        RETURN QUERY SELECT * FROM api.error(401, 'UNAUTHORIZED',
                                             'user no longer exists');
        RETURN;
    END IF;
    RETURN QUERY SELECT * FROM api.ok(200, jsonb_build_object(
        'id', v_user.id, 'email', v_user.email, 'role', v_user.role,
        'client_id', v_user.client_id,
        'created_at', api.ts(v_user.created_at)));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.auth_me(jsonb, text[], jsonb, jsonb) IS
    'GET /auth/me: {id, email, role, client_id, created_at} of the caller.';


-- ------------------------------------------------------------------------
-- Users (admin only)
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.user_errors(p_body jsonb, p_current liauto.users)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_partial    boolean := p_current.id IS NOT NULL;
    v_errors     jsonb;
    v_role       text;
    v_client_id  uuid;
BEGIN
    v_errors := api.validate_body(p_body,
        '{"email": {"type": "email", "required": true},
          "password": {"type": "string", "required": true},
          "role": {"type": "string", "required": true,
                   "enum": ["admin", "agent", "viewer"]},
          "client_id": {"type": "uuid", "nullable": true}}', v_partial);

    -- bcrypt reads 72 bytes: a longer password would be silently cut.
    IF jsonb_typeof(p_body -> 'password') = 'string'
       AND length(p_body ->> 'password') < 12 THEN
        v_errors := v_errors
                    || '{"password": "must be at least 12 characters"}';
    ELSIF jsonb_typeof(p_body -> 'password') = 'string'
          AND octet_length(p_body ->> 'password') > 72 THEN
        v_errors := v_errors || '{"password": "must be at most 72 bytes"}';
    END IF;

    IF v_errors ? 'role' OR v_errors ? 'client_id' THEN
        RETURN v_errors;
    END IF;
    -- The row as it will be: a PATCH may change role or client_id alone.
    v_role := CASE WHEN p_body ? 'role' THEN p_body ->> 'role'
                   ELSE p_current.role END;
    v_client_id := CASE WHEN p_body ? 'client_id'
                        THEN (p_body ->> 'client_id')::uuid
                        ELSE p_current.client_id END;
    IF v_client_id IS NULL AND v_role IN ('agent', 'viewer') THEN
        v_errors := v_errors || jsonb_build_object('client_id',
            'is required unless role is admin');
    ELSIF v_client_id IS NOT NULL AND NOT EXISTS (
              SELECT 1 FROM liauto.clients AS c WHERE c.id = v_client_id)
    THEN
        v_errors := v_errors || '{"client_id": "unknown client"}';
    END IF;
    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION liauto.user_errors(jsonb, liauto.users) IS
    'Field errors of a user body: a create when p_current is NULL, else a '
    'PATCH of p_current (cross-field rules see the merged row).';

CREATE FUNCTION api.users_list(p_caller jsonb, p_path text[], p_query jsonb,
                               p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_list      api.list_query;
    v_envelope  text;
BEGIN
    PERFORM api.require_admin(p_caller);
    v_list := api.list_params(p_query, '{created_at,email}',
                              '{role,client_id,search}');
    RETURN QUERY SELECT * FROM api.keyset_page(v_list, 'liauto.users',
        'liauto.user_json(t)',
        '($1->>''role'' IS NULL OR t.role = $1->>''role'')
         AND ($1->>''client_id'' IS NULL
              OR t.client_id = ($1->>''client_id'')::uuid)
         AND ($1->>''search'' IS NULL
              OR t.email ILIKE api.like_pattern($1->>''search''))',
        jsonb_build_object(
            'role', p_query ->> 'filter[role]',
            'client_id', api.query_uuid(p_query, 'filter[client_id]'),
            'search', p_query ->> 'filter[search]'));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.users_list(jsonb, text[], jsonb, jsonb) IS
    'GET /users: sort created_at|email; filter[role], filter[client_id], '
    'filter[search] (email contains).';

CREATE FUNCTION liauto.user_found(p_path text[]) RETURNS liauto.users
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_user  liauto.users;
BEGIN
    SELECT * INTO v_user FROM liauto.users AS u WHERE u.id = p_path[1]::uuid;
    IF NOT FOUND THEN
        PERFORM api.raise_error(404, 'NOT_FOUND', 'user not found');
    END IF;
    RETURN v_user;
END
$$;

CREATE FUNCTION api.users_get(p_caller jsonb, p_path text[], p_query jsonb,
                              p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    PERFORM api.require_admin(p_caller);
    PERFORM api.reject_query(p_query);
    RETURN QUERY SELECT * FROM api.ok(200,
                                      liauto.user_json(liauto.user_found(p_path)));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

CREATE FUNCTION api.users_create(p_caller jsonb, p_path text[],
                                 p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_user      liauto.users;
    v_envelope  text;
BEGIN
    PERFORM api.require_admin(p_caller);
    PERFORM api.reject_query(p_query);
    PERFORM api.raise_invalid(liauto.user_errors(p_body, NULL));

    INSERT INTO liauto.users AS u (email, password_hash, role, client_id)
    VALUES (p_body ->> 'email',
            liauto.hash_password(p_body ->> 'password'),
            p_body ->> 'role', (p_body ->> 'client_id')::uuid)
    RETURNING u.* INTO v_user;
    RETURN QUERY SELECT * FROM api.ok(201, liauto.user_json(v_user));
EXCEPTION
    WHEN unique_violation THEN   -- users_email_key, case-insensitive
        RETURN QUERY SELECT * FROM api.error(409, 'DUPLICATE',
            'a user with this email exists', '{"email": "already in use"}');
    WHEN SQLSTATE 'LIAPI' THEN
        GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
        RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.users_create(jsonb, text[], jsonb, jsonb) IS
    'POST /users {email, password (12+ characters, at most 72 bytes, '
    'write-only), role, client_id (required unless admin)}: 201 user; 409 '
    'DUPLICATE for an email in use in any case.';

CREATE FUNCTION api.users_update(p_caller jsonb, p_path text[],
                                 p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_user      liauto.users;
    v_envelope  text;
BEGIN
    PERFORM api.require_admin(p_caller);
    PERFORM api.reject_query(p_query);
    v_user := liauto.user_found(p_path);
    PERFORM api.raise_invalid(liauto.user_errors(p_body, v_user));

    UPDATE liauto.users AS u
    SET email = CASE WHEN p_body ? 'email' THEN p_body ->> 'email'
                     ELSE u.email END,
        password_hash = CASE WHEN p_body ? 'password'
                             THEN liauto.hash_password(p_body ->> 'password')
                             ELSE u.password_hash END,
        role = CASE WHEN p_body ? 'role' THEN p_body ->> 'role'
                    ELSE u.role END,
        client_id = CASE WHEN p_body ? 'client_id'
                         THEN (p_body ->> 'client_id')::uuid
                         ELSE u.client_id END
    WHERE u.id = v_user.id
    RETURNING u.* INTO v_user;

    -- New password, new role or new tenant: sessions issued under the old
    -- ones must not live on through their refresh tokens.
    IF p_body ?| ARRAY['password', 'role', 'client_id'] THEN
        UPDATE liauto.refresh_tokens AS t SET revoked_at = now()
        WHERE t.user_id = v_user.id AND t.revoked_at IS NULL;
    END IF;
    RETURN QUERY SELECT * FROM api.ok(200, liauto.user_json(v_user));
EXCEPTION
    WHEN unique_violation THEN
        RETURN QUERY SELECT * FROM api.error(409, 'DUPLICATE',
            'a user with this email exists', '{"email": "already in use"}');
    WHEN SQLSTATE 'LIAPI' THEN
        GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
        RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.users_update(jsonb, text[], jsonb, jsonb) IS
    'PATCH /users/{id}: any of email, password, role, client_id; changing '
    'password, role or client_id revokes the user''s refresh tokens.';

CREATE FUNCTION api.users_delete(p_caller jsonb, p_path text[],
                                 p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_user      liauto.users;
    v_envelope  text;
BEGIN
    PERFORM api.require_admin(p_caller);
    PERFORM api.reject_query(p_query);
    v_user := liauto.user_found(p_path);
    IF v_user.id = (p_caller ->> 'sub')::uuid THEN
        -- The last admin deleting itself would lock everyone out.
        RETURN QUERY SELECT * FROM api.error(409, 'CONFLICT',
                                             'you cannot delete yourself');
        RETURN;
    END IF;
    DELETE FROM liauto.users AS u WHERE u.id = v_user.id;
    RETURN QUERY SELECT * FROM api.ok(204, NULL);
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.users_delete(jsonb, text[], jsonb, jsonb) IS
    'DELETE /users/{id}: 204; its refresh tokens go with it; deleting '
    'yourself is 409.';


-- ------------------------------------------------------------------------
-- Clients
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.client_rules() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT '{"name": {"type": "string", "required": true,
                      "min": 1, "max": 200},
             "email": {"type": "email", "nullable": true},
             "timezone": {"type": "timezone"},
             "settings": {"type": "object"}}'::jsonb
$$;

CREATE FUNCTION liauto.client_found(p_caller jsonb, p_path text[])
RETURNS liauto.clients
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_client  liauto.clients;
BEGIN
    SELECT * INTO v_client FROM liauto.clients AS c
    WHERE c.id = p_path[1]::uuid AND api.caller_sees(p_caller, c.id);
    IF NOT FOUND THEN
        -- Absent and another tenant's look the same.
        PERFORM api.raise_error(404, 'NOT_FOUND', 'client not found');
    END IF;
    RETURN v_client;
END
$$;

CREATE FUNCTION api.clients_list(p_caller jsonb, p_path text[],
                                 p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_list      api.list_query;
    v_envelope  text;
BEGIN
    v_list := api.list_params(p_query, '{created_at,name}',
                              '{search,created_from,created_to}');
    RETURN QUERY SELECT * FROM api.keyset_page(v_list, 'liauto.clients',
        'liauto.client_json(t)',
        'api.caller_sees($1->''caller'', t.id)
         AND ($1->>''search'' IS NULL
              OR t.name ILIKE api.like_pattern($1->>''search''))
         AND ($1->>''from'' IS NULL
              OR t.created_at >= ($1->>''from'')::timestamptz)
         AND ($1->>''to'' IS NULL
              OR t.created_at < ($1->>''to'')::timestamptz)',
        jsonb_build_object(
            'caller', p_caller,
            'search', p_query ->> 'filter[search]',
            'from', api.query_timestamp(p_query, 'filter[created_from]'),
            'to', api.query_timestamp(p_query, 'filter[created_to]')));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.clients_list(jsonb, text[], jsonb, jsonb) IS
    'GET /clients: every client for an admin, only its own for others; '
    'sort created_at|name; filter[search] (name contains), '
    'filter[created_from] (inclusive), filter[created_to] (exclusive).';

CREATE FUNCTION api.clients_get(p_caller jsonb, p_path text[],
                                p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    RETURN QUERY SELECT * FROM api.ok(200, liauto.client_json(
                                      liauto.client_found(p_caller, p_path)));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

CREATE FUNCTION api.clients_create(p_caller jsonb, p_path text[],
                                   p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_client    liauto.clients;
    v_envelope  text;
BEGIN
    PERFORM api.require_admin(p_caller);
    PERFORM api.reject_query(p_query);
    PERFORM api.raise_invalid(api.validate_body(p_body,
                                                liauto.client_rules()));

    INSERT INTO liauto.clients AS c (name, email, timezone, settings)
    VALUES (btrim(p_body ->> 'name'), p_body ->> 'email',
            coalesce(p_body ->> 'timezone', 'UTC'),
            coalesce(p_body -> 'settings', '{}'))
    RETURNING c.* INTO v_client;
    RETURN QUERY SELECT * FROM api.ok(201, liauto.client_json(v_client));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.clients_create(jsonb, text[], jsonb, jsonb) IS
    'POST /clients {name, email?, timezone? (UTC), settings? ({})}: 201.';

CREATE FUNCTION api.clients_update(p_caller jsonb, p_path text[],
                                   p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_client    liauto.clients;
    v_envelope  text;
BEGIN
    PERFORM api.require_admin(p_caller);
    PERFORM api.reject_query(p_query);
    v_client := liauto.client_found(p_caller, p_path);
    PERFORM api.raise_invalid(api.validate_body(p_body,
                                                liauto.client_rules(), true));

    UPDATE liauto.clients AS c
    SET name = CASE WHEN p_body ? 'name' THEN btrim(p_body ->> 'name')
                    ELSE c.name END,
        email = CASE WHEN p_body ? 'email' THEN p_body ->> 'email'
                     ELSE c.email END,
        timezone = CASE WHEN p_body ? 'timezone' THEN p_body ->> 'timezone'
                        ELSE c.timezone END,
        settings = CASE WHEN p_body ? 'settings' THEN p_body -> 'settings'
                        ELSE c.settings END
    WHERE c.id = v_client.id
    RETURNING c.* INTO v_client;
    RETURN QUERY SELECT * FROM api.ok(200, liauto.client_json(v_client));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.clients_update(jsonb, text[], jsonb, jsonb) IS
    'PATCH /clients/{id}: any of name, email, timezone, settings (the '
    'object is replaced, not merged).';

CREATE FUNCTION api.clients_delete(p_caller jsonb, p_path text[],
                                   p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_client    liauto.clients;
    v_owned     jsonb;
    v_envelope  text;
BEGIN
    PERFORM api.require_admin(p_caller);
    PERFORM api.reject_query(p_query);
    v_client := liauto.client_found(p_caller, p_path);

    SELECT jsonb_strip_nulls(jsonb_build_object(
               'linkedin_accounts', nullif(
                   (SELECT count(*) FROM liauto.linkedin_accounts AS a
                    WHERE a.client_id = v_client.id), 0),
               'campaigns', nullif(
                   (SELECT count(*) FROM liauto.campaigns AS m
                    WHERE m.client_id = v_client.id), 0)))
    INTO v_owned;
    IF v_owned <> '{}' THEN
        RETURN QUERY SELECT * FROM api.error(409, 'CONFLICT',
            'the client still has linkedin accounts or campaigns', v_owned);
        RETURN;
    END IF;

    DELETE FROM liauto.clients AS c WHERE c.id = v_client.id;
    RETURN QUERY SELECT * FROM api.ok(204, NULL);
EXCEPTION
    WHEN foreign_key_violation THEN
        -- An account or campaign created since the count (RESTRICT).
        RETURN QUERY SELECT * FROM api.error(409, 'CONFLICT',
            'the client still has linkedin accounts or campaigns');
    WHEN SQLSTATE 'LIAPI' THEN
        GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
        RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.clients_delete(jsonb, text[], jsonb, jsonb) IS
    'DELETE /clients/{id}: 204, its users going with it; 409 CONFLICT with '
    'the counts while it owns linkedin accounts or campaigns.';
