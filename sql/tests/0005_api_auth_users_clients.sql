-- The auth, users and clients routes of migration 0003: success paths,
-- every validation error, tenant isolation, keyset pages, hostile strings,
-- refresh rotation and reuse, login throttling, idempotent dispatch.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS dblink;
SET LOCAL TimeZone = 'UTC';
-- Before any call: plpgsql keeps an expression's state for the whole
-- transaction, and whether it counts calls is fixed when it is built.
SET LOCAL track_functions = 'all';
SELECT plan(124);

-- One request: {"status": s, "body": parsed body or null when empty}.
CREATE FUNCTION pg_temp.req(p_fn text, p_caller jsonb,
                            p_path text[] DEFAULT '{}',
                            p_query jsonb DEFAULT '{}',
                            p_body jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_status  integer;
    v_body    text;
BEGIN
    EXECUTE format('SELECT * FROM api.%I($1, $2, $3, $4)', p_fn)
    INTO v_status, v_body USING p_caller, p_path, p_query, p_body;
    RETURN jsonb_build_object('status', v_status,
                              'body', nullif(v_body, '')::jsonb);
END
$$;

-- Callers as the module builds them from verified JWTs.
CREATE FUNCTION pg_temp.admin() RETURNS jsonb LANGUAGE sql AS $$
    SELECT '{"sub":"00000000-0000-0000-0000-0000000000ad","role":"admin",
             "client_id":null,"ip":"198.51.100.1"}'::jsonb $$;
CREATE FUNCTION pg_temp.agent_a() RETURNS jsonb LANGUAGE sql AS $$
    SELECT '{"sub":"00000000-0000-0000-0000-00000000a001","role":"agent",
             "client_id":"00000000-0000-0000-0000-00000000a000",
             "ip":"198.51.100.2"}'::jsonb $$;
CREATE FUNCTION pg_temp.viewer_a() RETURNS jsonb LANGUAGE sql AS $$
    SELECT '{"sub":"00000000-0000-0000-0000-00000000a002","role":"viewer",
             "client_id":"00000000-0000-0000-0000-00000000a000",
             "ip":"198.51.100.3"}'::jsonb $$;
CREATE FUNCTION pg_temp.agent_b() RETURNS jsonb LANGUAGE sql AS $$
    SELECT '{"sub":"00000000-0000-0000-0000-00000000b001","role":"agent",
             "client_id":"00000000-0000-0000-0000-00000000b000",
             "ip":"198.51.100.4"}'::jsonb $$;
CREATE FUNCTION pg_temp.anon(p_ip text DEFAULT '192.0.2.1') RETURNS jsonb
LANGUAGE sql AS $$
    SELECT jsonb_build_object('ip', p_ip, 'method', 'POST',
                              'uri', '/api/v1/auth/login') $$;

CREATE FUNCTION pg_temp.login(p_email text, p_password text,
                              p_ip text DEFAULT '192.0.2.1')
RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.req('auth_login', pg_temp.anon(p_ip), '{}', '{}',
                       jsonb_build_object('email', p_email,
                                          'password', p_password)) $$;

INSERT INTO liauto.clients (id, name, created_at) VALUES
    ('00000000-0000-0000-0000-00000000a000', 't5 Alpha', '2026-01-01'),
    ('00000000-0000-0000-0000-00000000b000', 't5 Bravo', '2026-01-02');
INSERT INTO liauto.users (id, client_id, email, password_hash, role,
                          created_at) VALUES
    ('00000000-0000-0000-0000-0000000000ad', NULL, 'admin@t5.example',
     liauto.hash_password('admin password 1'), 'admin', '2026-01-01'),
    ('00000000-0000-0000-0000-00000000a001',
     '00000000-0000-0000-0000-00000000a000', 'Agent.A@t5.example',
     liauto.hash_password('agent a password'), 'agent', '2026-01-02'),
    ('00000000-0000-0000-0000-00000000a002',
     '00000000-0000-0000-0000-00000000a000', 'viewer.a@t5.example',
     liauto.hash_password('viewer a password'), 'viewer', '2026-01-03'),
    ('00000000-0000-0000-0000-00000000b001',
     '00000000-0000-0000-0000-00000000b000', 'agent.b@t5.example',
     liauto.hash_password('agent b password'), 'agent', '2026-01-04');

-- auth_login --------------------------------------------------------------
CREATE TEMP TABLE s1 AS SELECT pg_temp.login('agent.a@t5.example',
                                             'agent a password') AS r;
SELECT is((SELECT r->'status' FROM s1), '200', 'login: 200');
SELECT is((SELECT r->'body'->'user' FROM s1),
          '{"id":"00000000-0000-0000-0000-00000000a001",
            "email":"Agent.A@t5.example","role":"agent",
            "client_id":"00000000-0000-0000-0000-00000000a000"}',
          'login: the user the module signs the JWT for');
SELECT ok((SELECT r->'body'->>'refresh_token' ~ '^[A-Za-z0-9_-]{43}$'
           FROM s1), 'login: refresh token is 32 bytes of base64url');
SELECT is((SELECT (r->'body'->>'refresh_expires_at')::timestamptz FROM s1),
          date_trunc('milliseconds', now() + interval '30 days'),
          'login: refresh token expires in 30 days');
SELECT is((SELECT row(t.family_id = t.id, t.user_id)::text
           FROM liauto.refresh_tokens AS t, s1
           WHERE t.token_hash = sha256(convert_to(r->'body'->>'refresh_token',
                                                  'UTF8'))),
          row(true, '00000000-0000-0000-0000-00000000a001'::uuid)::text,
          'login: only the sha256 is stored, as the first of a new family');
SELECT is((SELECT count(*)::int FROM liauto.refresh_tokens AS t, s1
           WHERE t::text LIKE '%' || (r->'body'->>'refresh_token') || '%'),
          0, 'login: the token itself is stored nowhere');
SELECT is(pg_temp.login('  AGENT.a@T5.example ', 'agent a password')->'status',
          '200', 'login: email in any case and with blanks');

SELECT is(pg_temp.login('agent.a@t5.example', 'wrong password'),
          '{"status":401,"body":{"code":"UNAUTHORIZED",
            "message":"invalid email or password","details":{}}}',
          'login: wrong password: 401');
SELECT is(pg_temp.login('nobody@t5.example', 'agent a password'),
          pg_temp.login('agent.a@t5.example', 'wrong password'),
          'login: unknown email: the very same answer');

-- An unknown email still costs one bcrypt run (pgcrypto's crypt) against
-- the dummy hash, so its timing does not tell it apart.
CREATE TEMP TABLE crypt_calls AS
SELECT coalesce((SELECT calls FROM pg_stat_xact_user_functions
                 WHERE schemaname = 'public' AND funcname = 'crypt'), 0)
       AS before;
SELECT is(pg_temp.login('ghost@t5.example', 'whatever it is')->'status',
          '401', 'login: a ghost');
SELECT is((SELECT calls - before FROM pg_stat_xact_user_functions, crypt_calls
           WHERE schemaname = 'public' AND funcname = 'crypt'),
          1::bigint, 'login: an unknown email is verified against a dummy hash');

SELECT is(pg_temp.req('auth_login', pg_temp.anon(), '{}', '{}', '{}'),
          '{"status":422,"body":{"code":"VALIDATION_FAILED",
            "message":"validation failed",
            "details":{"email":"is required","password":"is required"}}}',
          'login: missing fields, one entry each');
SELECT is(pg_temp.req('auth_login', pg_temp.anon(), '{}', '{}',
                      '{"email":5,"password":null,"remember":true}')
              ->'body'->'details',
          '{"email":"must be a string","password":"must not be null",
            "remember":"unknown field"}',
          'login: wrong types and unknown fields');
SELECT is(pg_temp.req('auth_login', pg_temp.anon(), '{}', '{}', '"x"')
              ->'body'->>'code',
          'BAD_REQUEST', 'login: a body that is not an object: 400');
SELECT is(pg_temp.req('auth_login', pg_temp.anon(), '{}', '{"debug":"1"}',
                      '{"email":"a","password":"b"}')->'body',
          '{"code":"BAD_REQUEST","message":"invalid query parameters",
            "details":{"debug":"unknown parameter"}}',
          'login: an unknown query parameter: 400');
SELECT is(pg_temp.login('x''); DELETE FROM liauto.users; --', 'p')->'status',
          '401', 'login: SQL in the email is just a wrong email');
SELECT is((SELECT count(*)::int FROM liauto.login_attempts
           WHERE email = 'x''); delete from liauto.users; --'), 1,
          'login: ... counted as typed (lower case)');

-- throttling --------------------------------------------------------------
DELETE FROM liauto.login_attempts;
SELECT pg_temp.login('viewer.a@t5.example', 'wrong ' || n)
FROM generate_series(1, 4) AS n;
SELECT is(pg_temp.login('viewer.a@t5.example', 'wrong 5')->'status', '401',
          'throttle: the 5th failure is still a 401');
SELECT is(pg_temp.login('viewer.a@t5.example', 'viewer a password',
                        '192.0.2.77'),
          '{"status":429,"body":{"code":"RATE_LIMITED",
            "message":"too many failed login attempts; try again later",
            "details":{"retry_after":900}}}',
          'throttle: then even the right password from elsewhere is a 429');
SELECT is((SELECT count(*)::int FROM liauto.login_attempts
           WHERE email = 'viewer.a@t5.example'), 5,
          'throttle: refused attempts are not counted');
UPDATE liauto.login_attempts
SET created_at = now() - interval '10 minutes'
                 - (id - (SELECT min(id) FROM liauto.login_attempts))
                   * interval '1 minute'
WHERE email = 'viewer.a@t5.example';
SELECT is(pg_temp.login('viewer.a@t5.example', 'x')->'body'->'details',
          '{"retry_after":60}',
          'throttle: retry_after is when the 5th latest failure ages out');
UPDATE liauto.login_attempts
SET created_at = created_at - interval '61 seconds'
WHERE email = 'viewer.a@t5.example';
SELECT is(pg_temp.login('viewer.a@t5.example', 'viewer a password')
              ->'status',
          '200', 'throttle: a failure older than 15 minutes no longer counts');
SELECT is((SELECT count(*)::int FROM liauto.login_attempts
           WHERE email = 'viewer.a@t5.example'), 0,
          'throttle: a success clears the email''s failures');

INSERT INTO liauto.login_attempts (email, ip)
SELECT 'spray' || n || '@t5.example', '203.0.113.9'
FROM generate_series(1, 19) AS n;
SELECT is(pg_temp.login('spray20@t5.example', 'x', '203.0.113.9')->'status',
          '401', 'throttle: the 20th failure from an address is a 401');
SELECT is(pg_temp.login('agent.b@t5.example', 'agent b password',
                        '203.0.113.9')->'status',
          '429', 'throttle: the address is then refused for any email');
SELECT is(pg_temp.login('agent.b@t5.example', 'agent b password',
                        '203.0.113.10')->'status',
          '200', 'throttle: another address is not');

-- auth_refresh ------------------------------------------------------------
CREATE FUNCTION pg_temp.refresh(p_token text) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT pg_temp.req('auth_refresh', pg_temp.anon(), '{}', '{}',
                       jsonb_build_object('refresh_token', p_token)) $$;
CREATE FUNCTION pg_temp.family(p_token text) RETURNS uuid
LANGUAGE sql AS $$
    SELECT family_id FROM liauto.refresh_tokens
    WHERE token_hash = liauto.refresh_token_hash(p_token) $$;

CREATE TEMP TABLE t0 AS
SELECT pg_temp.login('agent.a@t5.example', 'agent a password')
           ->'body'->>'refresh_token' AS tok;
CREATE TEMP TABLE other_session AS
SELECT pg_temp.login('agent.a@t5.example', 'agent a password')
           ->'body'->>'refresh_token' AS tok;
CREATE TEMP TABLE t1 AS SELECT pg_temp.refresh(tok) AS r FROM t0;
SELECT is((SELECT r->'status' FROM t1), '200', 'refresh: 200');
SELECT is((SELECT r->'body'->'user'->>'id' FROM t1),
          '00000000-0000-0000-0000-00000000a001', 'refresh: same user');
SELECT ok((SELECT r->'body'->>'refresh_token' <> tok FROM t1, t0),
          'refresh: a new token');
SELECT is((SELECT pg_temp.family(r->'body'->>'refresh_token') FROM t1),
          (SELECT pg_temp.family(tok) FROM t0),
          'refresh: in the same family');
SELECT isnt((SELECT rotated_at FROM liauto.refresh_tokens, t0
             WHERE token_hash = liauto.refresh_token_hash(tok)), NULL,
            'refresh: the old token is marked rotated');
CREATE TEMP TABLE t2 AS
SELECT pg_temp.refresh(r->'body'->>'refresh_token') AS r FROM t1;
SELECT is((SELECT r->'status' FROM t2), '200', 'refresh: the successor works');

SELECT is((SELECT pg_temp.refresh(tok) FROM t0),
          '{"status":401,"body":{"code":"UNAUTHORIZED",
            "message":"invalid refresh token","details":{}}}',
          'refresh: reusing a rotated token: 401');
SELECT is((SELECT count(*)::int FROM liauto.refresh_tokens, t0
           WHERE family_id = pg_temp.family(tok) AND revoked_at IS NULL),
          0, 'refresh: reuse revokes the whole family');
SELECT is((SELECT pg_temp.refresh(r->'body'->>'refresh_token')->'status'
           FROM t2),
          '401', 'refresh: the newest token of a revoked family is dead too');
SELECT is((SELECT pg_temp.refresh(tok)->'status' FROM other_session), '200',
          'refresh: another session of the same user lives on');
SELECT is(pg_temp.refresh('bm90IGEgdG9rZW4')->'status', '401',
          'refresh: an unknown token: 401');
CREATE TEMP TABLE t3 AS
SELECT pg_temp.login('agent.a@t5.example', 'agent a password')
           ->'body'->>'refresh_token' AS tok;
UPDATE liauto.refresh_tokens
SET created_at = now() - interval '31 days',
    expires_at = now() - interval '1 day'
WHERE token_hash = (SELECT liauto.refresh_token_hash(tok) FROM t3);
SELECT is((SELECT pg_temp.refresh(tok)->'status' FROM t3), '401',
          'refresh: an expired token: 401');
SELECT is(pg_temp.req('auth_refresh', pg_temp.anon(), '{}', '{}',
                      '{"refresh_token":42,"user":"x"}')->'body'->'details',
          '{"refresh_token":"must be a string","user":"unknown field"}',
          'refresh: body validation');
SELECT is(pg_temp.req('auth_refresh', pg_temp.anon(), '{}', '{}', '{}')
              ->'body'->'details',
          '{"refresh_token":"is required"}', 'refresh: token required');

-- auth_logout -------------------------------------------------------------
CREATE TEMP TABLE t4 AS
SELECT pg_temp.login('agent.a@t5.example', 'agent a password')
           ->'body'->>'refresh_token' AS tok;
SELECT is((SELECT pg_temp.req('auth_logout', pg_temp.agent_b(), '{}', '{}',
                              jsonb_build_object('refresh_token', tok))
           FROM t4)->'status',
          '401', 'logout: another user''s token is unknown');
SELECT is((SELECT pg_temp.req('auth_logout', pg_temp.agent_a(), '{}', '{}',
                              jsonb_build_object('refresh_token', tok))
           FROM t4),
          '{"status":204,"body":null}', 'logout: 204 with an empty body');
SELECT is((SELECT pg_temp.refresh(tok)->'status' FROM t4), '401',
          'logout: the session is gone');
SELECT is((SELECT pg_temp.req('auth_logout', pg_temp.agent_a(), '{}', '{}',
                              jsonb_build_object('refresh_token', tok))
           FROM t4)->'status',
          '204', 'logout: twice is fine');
SELECT is(pg_temp.req('auth_logout', pg_temp.agent_a(), '{}', '{}', NULL)
              ->'status',
          '400', 'logout: no body: 400');

-- auth_me -----------------------------------------------------------------
SELECT is(pg_temp.req('auth_me', pg_temp.viewer_a()),
          '{"status":200,"body":{"id":"00000000-0000-0000-0000-00000000a002",
            "email":"viewer.a@t5.example","role":"viewer",
            "client_id":"00000000-0000-0000-0000-00000000a000",
            "created_at":"2026-01-03T00:00:00.000Z"}}',
          'me: the caller');
SELECT is(pg_temp.req('auth_me', '{"sub":"00000000-0000-0000-0000-00000000dead",
                                  "role":"admin"}')->'status',
          '401', 'me: a user deleted since the token was issued: 401');

-- users -------------------------------------------------------------------
SELECT is(pg_temp.req('users_list', pg_temp.agent_a())->'body'->>'code',
          'FORBIDDEN', 'users: not for agents, even if the module slipped');
SELECT is((SELECT string_agg(u->>'email', ',')
           FROM jsonb_array_elements(pg_temp.req('users_list', pg_temp.admin(),
               '{}', '{"filter[search]":"@t5.example","sort":"email",
                      "order":"asc"}')->'body'->'data') AS u),
          (SELECT string_agg(email, ',' ORDER BY email, id)
           FROM liauto.users WHERE email LIKE '%@t5.example'),
          'users_list: sorted by email');
CREATE FUNCTION pg_temp.user_pages(p_query jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_page   jsonb := pg_temp.req('users_list', pg_temp.admin(), '{}',
                                  p_query)->'body';
    v_out    text[] := '{}';
BEGIN
    LOOP
        v_out := v_out || (SELECT string_agg(u->>'email', ',')
                           FROM jsonb_array_elements(v_page->'data') AS u);
        EXIT WHEN v_page->>'next_cursor' IS NULL;
        v_page := pg_temp.req('users_list', pg_temp.admin(), '{}',
                              p_query || jsonb_build_object('cursor',
                                  v_page->>'next_cursor'))->'body';
    END LOOP;
    RETURN array_to_string(v_out, '|');
END
$$;
SELECT is(pg_temp.user_pages('{"filter[search]":"@t5.example","limit":"3"}'),
          'agent.b@t5.example,viewer.a@t5.example,Agent.A@t5.example|'
          'admin@t5.example',
          'users_list: pages by created_at descending');
SELECT is(pg_temp.user_pages('{"filter[search]":"@t5.example","limit":"1",
                               "filter[role]":"agent","sort":"email",
                               "order":"asc"}'),
          (SELECT string_agg(email, '|' ORDER BY email, id)
           FROM liauto.users
           WHERE email LIKE '%@t5.example' AND role = 'agent'),
          'users_list: filter[role], one per page');
SELECT is(pg_temp.user_pages('{"filter[client_id]":
                                 "00000000-0000-0000-0000-00000000a000"}'),
          'viewer.a@t5.example,Agent.A@t5.example',
          'users_list: filter[client_id]');
SELECT is(pg_temp.req('users_list', pg_temp.admin(), '{}',
                      '{"filter[client_id]":"a000''--"}')->'body'->'details',
          '{"filter[client_id]":"must be a UUID"}',
          'users_list: a bad client_id filter: 400');
SELECT is(pg_temp.req('users_list', pg_temp.admin(), '{}',
                      '{"filter[search]":"'' OR 1=1 --"}')->'body'->'data',
          '[]', 'users_list: SQL in the search matches nothing');
SELECT is(pg_temp.req('users_list', pg_temp.admin(), '{}',
                      '{"sort":"password_hash"}')->'status',
          '400', 'users_list: no sorting by the hash');

SELECT is(pg_temp.req('users_get', pg_temp.admin(),
                      '{00000000-0000-0000-0000-00000000b001}') #- '{body,updated_at}',
          '{"status":200,"body":{"id":"00000000-0000-0000-0000-00000000b001",
            "email":"agent.b@t5.example","role":"agent",
            "client_id":"00000000-0000-0000-0000-00000000b000",
            "created_at":"2026-01-04T00:00:00.000Z"}}',
          'users_get: the user');
SELECT ok(NOT pg_temp.req('users_get', pg_temp.admin(),
                          '{00000000-0000-0000-0000-00000000b001}')->'body'
              ?| ARRAY['password', 'password_hash'],
          'users_get: never the password or its hash');
SELECT is(pg_temp.req('users_get', pg_temp.admin(),
                      '{00000000-0000-0000-0000-00000000dead}'),
          '{"status":404,"body":{"code":"NOT_FOUND","message":"user not found",
            "details":{}}}', 'users_get: absent: 404');

CREATE TEMP TABLE u1 AS
SELECT pg_temp.req('users_create', pg_temp.admin(), '{}', '{}',
    '{"email":"new.agent@t5.example","password":"a long enough secret",
      "role":"agent","client_id":"00000000-0000-0000-0000-00000000b000"}')
    AS r;
SELECT is((SELECT r->'status' FROM u1), '201', 'users_create: 201');
SELECT is((SELECT (r->'body') - '{id,created_at,updated_at}'::text[] FROM u1),
          '{"email":"new.agent@t5.example","role":"agent",
            "client_id":"00000000-0000-0000-0000-00000000b000"}',
          'users_create: the new user, no password');
SELECT ok((SELECT liauto.verify_password(password_hash,
                                         'a long enough secret')
           FROM liauto.users, u1 WHERE id = (r->'body'->>'id')::uuid),
          'users_create: the password is stored as bcrypt');
SELECT is(pg_temp.login('new.agent@t5.example', 'a long enough secret')
              ->'status', '200', 'users_create: the new user can log in');
SELECT is(pg_temp.req('users_create', pg_temp.admin(), '{}', '{}', '{}')
              ->'body'->'details',
          '{"email":"is required","password":"is required",
            "role":"is required"}',
          'users_create: missing fields');
SELECT is(pg_temp.req('users_create', pg_temp.admin(), '{}', '{}',
    '{"email":"no-at-sign","password":"short","role":"root",
      "client_id":"x","id":"00000000-0000-0000-0000-000000000001",
      "password_hash":"$2a$10$x","is_admin":true}')->'body'->'details',
          '{"email":"must be an email address",
            "password":"must be at least 12 characters",
            "role":"must be one of: admin, agent, viewer",
            "client_id":"must be a UUID","id":"read-only field",
            "password_hash":"unknown field","is_admin":"unknown field"}',
          'users_create: one message per bad field');
SELECT is(pg_temp.req('users_create', pg_temp.admin(), '{}', '{}',
    jsonb_build_object('email', 'long@t5.example',
                       'password', repeat('é', 37), 'role', 'admin'))
              ->'body'->'details',
          '{"password":"must be at most 72 bytes"}',
          'users_create: bcrypt would cut a password over 72 bytes');
SELECT is(pg_temp.req('users_create', pg_temp.admin(), '{}', '{}',
    '{"email":"v@t5.example","password":"a long enough secret",
      "role":"viewer"}')->'body'->'details',
          '{"client_id":"is required unless role is admin"}',
          'users_create: agents and viewers need a client');
SELECT is(pg_temp.req('users_create', pg_temp.admin(), '{}', '{}',
    '{"email":"v@t5.example","password":"a long enough secret",
      "role":"viewer","client_id":"00000000-0000-0000-0000-00000000dead"}')
              ->'body'->'details',
          '{"client_id":"unknown client"}', 'users_create: unknown client');
SELECT is(pg_temp.req('users_create', pg_temp.admin(), '{}', '{}',
    '{"email":"AGENT.B@T5.EXAMPLE","password":"a long enough secret",
      "role":"admin"}')->'body',
          '{"code":"DUPLICATE","message":"a user with this email exists",
            "details":{"email":"already in use"}}',
          'users_create: an email in use, in any case: 409');
SELECT is(pg_temp.req('users_create', pg_temp.admin(), '{}', '{}',
    '{"email":"x''--@t5.example","password":"''; DROP TABLE x; --",
      "role":"admin"}')->'body'->>'email',
          'x''--@t5.example', 'users_create: SQL in fields is stored as data');
SELECT is(pg_temp.req('users_create', pg_temp.agent_a(), '{}', '{}',
    '{"email":"sneaky@t5.example","password":"a long enough secret",
      "role":"admin"}')->'status',
          '403', 'users_create: agents cannot');

CREATE TEMP TABLE u2 AS
SELECT pg_temp.login('viewer.a@t5.example', 'viewer a password')
           ->'body'->>'refresh_token' AS tok;
SELECT is(pg_temp.req('users_update', pg_temp.admin(),
                      '{00000000-0000-0000-0000-00000000a002}', '{}',
                      '{"role":"agent"}')->'body'->>'role',
          'agent', 'users_update: a partial update');
SELECT is((SELECT pg_temp.refresh(tok)->'status' FROM u2), '401',
          'users_update: a role change ends the user''s sessions');
SELECT is(pg_temp.req('users_update', pg_temp.admin(),
                      '{00000000-0000-0000-0000-00000000a002}', '{}',
                      '{"password":"a brand new secret"}')->'status',
          '200', 'users_update: a new password');
SELECT is(pg_temp.login('viewer.a@t5.example', 'a brand new secret')
              ->'status', '200', 'users_update: ... works for login');
SELECT is(pg_temp.req('users_update', pg_temp.admin(),
                      '{00000000-0000-0000-0000-00000000a002}', '{}',
                      '{"email":null,"role":"admin","client_id":null,
                        "created_at":"2020-01-01T00:00:00Z"}')
              ->'body'->'details',
          '{"email":"must not be null","created_at":"read-only field"}',
          'users_update: null and read-only fields');
SELECT is(pg_temp.req('users_update', pg_temp.admin(),
                      '{00000000-0000-0000-0000-00000000a002}', '{}',
                      '{"client_id":null}')->'body'->'details',
          '{"client_id":"is required unless role is admin"}',
          'users_update: cross-field rules see the merged row');
SELECT is(pg_temp.req('users_update', pg_temp.admin(),
                      '{00000000-0000-0000-0000-00000000a002}', '{}',
                      '{"email":"Admin@t5.example"}')->'status',
          '409', 'users_update: an email in use: 409');
SELECT is(pg_temp.req('users_update', pg_temp.admin(),
                      '{00000000-0000-0000-0000-00000000dead}', '{}',
                      '{"role":"agent"}')->'status',
          '404', 'users_update: absent: 404');

SELECT is(pg_temp.req('users_delete', pg_temp.admin(),
                      '{00000000-0000-0000-0000-0000000000ad}')->'body',
          '{"code":"CONFLICT","message":"you cannot delete yourself",
            "details":{}}', 'users_delete: not yourself');
SELECT is(pg_temp.req('users_delete', pg_temp.admin(),
                      (SELECT ARRAY[r->'body'->>'id'] FROM u1)),
          '{"status":204,"body":null}', 'users_delete: 204');
SELECT is((SELECT count(*)::int FROM liauto.users, u1
           WHERE id = (r->'body'->>'id')::uuid), 0,
          'users_delete: gone');
SELECT is(pg_temp.req('users_delete', pg_temp.admin(),
                      (SELECT ARRAY[r->'body'->>'id'] FROM u1))->'status',
          '404', 'users_delete: twice: 404');

-- clients -----------------------------------------------------------------
CREATE FUNCTION pg_temp.client_names(p_caller jsonb, p_query jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_page  jsonb := pg_temp.req('clients_list', p_caller, '{}',
                                 p_query)->'body';
    v_out   text[] := '{}';
BEGIN
    LOOP
        v_out := v_out || coalesce((SELECT string_agg(c->>'name', ',')
                                    FROM jsonb_array_elements(v_page->'data')
                                         AS c), '');
        EXIT WHEN v_page->>'next_cursor' IS NULL;
        v_page := pg_temp.req('clients_list', p_caller, '{}',
                              p_query || jsonb_build_object('cursor',
                                  v_page->>'next_cursor'))->'body';
    END LOOP;
    RETURN array_to_string(v_out, '|');
END
$$;
INSERT INTO liauto.clients (name, created_at) VALUES
    ('t5 Charlie', '2026-01-03'), ('t5 Delta', '2026-01-04'),
    ('t5 Echo', '2026-01-05');

SELECT is(pg_temp.client_names(pg_temp.admin(),
                               '{"filter[search]":"t5 ","limit":"2"}'),
          't5 Echo,t5 Delta|t5 Charlie,t5 Bravo|t5 Alpha',
          'clients_list: an admin pages through every client');
SELECT is(pg_temp.client_names(pg_temp.admin(),
                               '{"filter[search]":"t5 ","limit":"3",
                                 "sort":"name","order":"asc"}'),
          't5 Alpha,t5 Bravo,t5 Charlie|t5 Delta,t5 Echo',
          'clients_list: sorted by name');
SELECT is(pg_temp.client_names(pg_temp.admin(),
                               '{"filter[search]":"t5 ",
                                 "filter[created_from]":"2026-01-02",
                                 "filter[created_to]":"2026-01-04T00:00:00Z",
                                 "order":"asc"}'),
          't5 Bravo,t5 Charlie', 'clients_list: created range [from, to)');
SELECT is(pg_temp.client_names(pg_temp.agent_a(), '{}'), 't5 Alpha',
          'clients_list: an agent sees only its own client');
SELECT is(pg_temp.client_names(pg_temp.viewer_a(),
                               '{"filter[search]":"Bravo"}'), '',
          'clients_list: filtering for another client finds nothing');
SELECT is(pg_temp.client_names(pg_temp.agent_a(),
              jsonb_build_object('sort', 'name', 'order', 'asc',
                  'cursor', (pg_temp.req('clients_list', pg_temp.admin(), '{}',
                      '{"filter[search]":"t5 ","limit":"1","sort":"name",
                        "order":"asc"}')->'body'->>'next_cursor'))),
          '', 'clients_list: an admin''s cursor after Alpha shows an agent '
              'nothing of Bravo');
SELECT is(pg_temp.req('clients_list', pg_temp.admin(), '{}',
                      '{"filter[search]":"x'' OR ''1''=''1"}')->'body',
          '{"data":[],"next_cursor":null}',
          'clients_list: SQL in the search is plain text');
SELECT is(pg_temp.req('clients_list', pg_temp.admin(), '{}',
                      '{"filter[status]":"active","filter[created_from]":
                        "yesterday"}')->'body'->'details',
          '{"filter[status]":"unknown parameter"}',
          'clients_list: unknown filters first, one 400');
SELECT is(pg_temp.req('clients_list', pg_temp.admin(), '{}',
                      '{"filter[created_from]":"yesterday"}')->'body'->'details',
          '{"filter[created_from]":"must be an ISO 8601 timestamp"}',
          'clients_list: a bad timestamp filter: 400');

SELECT is(pg_temp.req('clients_get', pg_temp.agent_a(),
                      '{00000000-0000-0000-0000-00000000a000}') #- '{body,updated_at}',
          '{"status":200,"body":{"id":"00000000-0000-0000-0000-00000000a000",
            "name":"t5 Alpha","email":null,"timezone":"UTC","settings":{},
            "created_at":"2026-01-01T00:00:00.000Z"}}',
          'clients_get: an agent gets its own client');
SELECT is(pg_temp.req('clients_get', pg_temp.agent_a(),
                      '{00000000-0000-0000-0000-00000000b000}'),
          '{"status":404,"body":{"code":"NOT_FOUND",
            "message":"client not found","details":{}}}',
          'clients_get: another tenant''s client is a 404');
SELECT is(pg_temp.req('clients_get', pg_temp.admin(),
                      '{00000000-0000-0000-0000-00000000b000}')->'status',
          '200', 'clients_get: an admin gets any client');
SELECT is(pg_temp.req('clients_get', pg_temp.admin(),
                      '{00000000-0000-0000-0000-00000000dead}')->'status',
          '404', 'clients_get: absent: 404');
SELECT is(pg_temp.req('clients_get', pg_temp.admin(),
                      '{00000000-0000-0000-0000-00000000b000}',
                      '{"limit":"5"}')->'status',
          '400', 'clients_get: takes no query parameters');

CREATE TEMP TABLE c1 AS
SELECT pg_temp.req('clients_create', pg_temp.admin(), '{}', '{}',
    '{"name":"  t5 Foxtrot  ","email":"reports@foxtrot.example",
      "timezone":"Europe/London","settings":{"lang":"en"}}') AS r;
SELECT is((SELECT r->'status' FROM c1), '201', 'clients_create: 201');
SELECT is((SELECT (r->'body') - '{id,created_at,updated_at}'::text[] FROM c1),
          '{"name":"t5 Foxtrot","email":"reports@foxtrot.example",
            "timezone":"Europe/London","settings":{"lang":"en"}}',
          'clients_create: the client, name trimmed');
SELECT is((SELECT r->'body'->>'created_at' FROM c1), api.ts(now()),
          'clients_create: timestamps in API format');
SELECT is((pg_temp.req('clients_create', pg_temp.admin(), '{}', '{}',
                      '{"name":"t5 Golf"}')->'body')
              - '{id,created_at,updated_at}'::text[],
          '{"name":"t5 Golf","email":null,"timezone":"UTC","settings":{}}',
          'clients_create: defaults');
SELECT is(pg_temp.req('clients_create', pg_temp.admin(), '{}', '{}',
    jsonb_build_object('name', repeat('x', 201), 'email', 'nope',
                       'timezone', 'Mars/Base', 'settings', '[]'::jsonb,
                       'updated_at', '2026-01-01', 'owner', 'me')),
          '{"status":422,"body":{"code":"VALIDATION_FAILED",
            "message":"validation failed",
            "details":{"name":"must be at most 200 characters",
              "email":"must be an email address",
              "timezone":"must be an IANA timezone name such as Europe/London",
              "settings":"must be an object",
              "updated_at":"read-only field","owner":"unknown field"}}}',
          'clients_create: every bad field at once');
SELECT is(pg_temp.req('clients_create', pg_temp.admin(), '{}', '{}',
                      '{"name":"   "}')->'body'->'details',
          '{"name":"must not be blank"}', 'clients_create: a blank name');
SELECT is(pg_temp.req('clients_create', pg_temp.admin(), '{}', '{}',
                      '{"email":null}')->'body'->'details',
          '{"name":"is required"}', 'clients_create: name required');
SELECT is(pg_temp.req('clients_create', pg_temp.admin(), '{}', '{}',
                      '{"name":"Robert''); DROP TABLE liauto.clients;--"}')
              ->'body'->>'name',
          'Robert''); DROP TABLE liauto.clients;--',
          'clients_create: SQL in a name is just a name');
SELECT is(pg_temp.req('clients_create', pg_temp.agent_a(), '{}', '{}',
                      '{"name":"t5 Mine"}')->'status',
          '403', 'clients_create: admin only');

SELECT is((SELECT (pg_temp.req('clients_update', pg_temp.admin(),
                              ARRAY[r->'body'->>'id'], '{}',
                              '{"settings":{"tone":"formal"},"email":null}')
                      ->'body') - '{id,created_at,updated_at}'::text[]
           FROM c1),
          '{"name":"t5 Foxtrot","email":null,"timezone":"Europe/London",
            "settings":{"tone":"formal"}}',
          'clients_update: partial, settings replaced, email cleared');
SELECT is((SELECT pg_temp.req('clients_update', pg_temp.admin(),
                              ARRAY[r->'body'->>'id'], '{}',
                              '{"name":null,"timezone":"UTC+3","id":"x"}')
                      ->'body'->'details'
           FROM c1),
          '{"name":"must not be null",
            "timezone":"must be an IANA timezone name such as Europe/London",
            "id":"read-only field"}',
          'clients_update: validation');
SELECT is(pg_temp.req('clients_update', pg_temp.agent_a(),
                      '{00000000-0000-0000-0000-00000000a000}', '{}',
                      '{"name":"t5 Renamed"}')->'status',
          '403', 'clients_update: admin only');
SELECT is(pg_temp.req('clients_update', pg_temp.admin(),
                      '{00000000-0000-0000-0000-00000000dead}', '{}',
                      '{"name":"t5 Ghost"}')->'status',
          '404', 'clients_update: absent: 404');

INSERT INTO liauto.linkedin_accounts (client_id, name, unipile_account_id)
VALUES ('00000000-0000-0000-0000-00000000a000', 't5 account', 't5-acc-1');
INSERT INTO liauto.campaigns (client_id, name)
VALUES ('00000000-0000-0000-0000-00000000a000', 't5 campaign 1'),
       ('00000000-0000-0000-0000-00000000a000', 't5 campaign 2');
SELECT is(pg_temp.req('clients_delete', pg_temp.admin(),
                      '{00000000-0000-0000-0000-00000000a000}'),
          '{"status":409,"body":{"code":"CONFLICT",
            "message":"the client still has linkedin accounts or campaigns",
            "details":{"linkedin_accounts":1,"campaigns":2}}}',
          'clients_delete: refused while it owns accounts and campaigns');
SELECT is(pg_temp.req('clients_delete', pg_temp.admin(),
                      '{00000000-0000-0000-0000-00000000b000}'),
          '{"status":204,"body":null}', 'clients_delete: 204');
SELECT is((SELECT count(*)::int FROM liauto.users
           WHERE client_id = '00000000-0000-0000-0000-00000000b000'), 0,
          'clients_delete: its users went with it');
SELECT is(pg_temp.req('clients_delete', pg_temp.admin(),
                      '{00000000-0000-0000-0000-00000000b000}')->'status',
          '404', 'clients_delete: twice: 404');
SELECT is(pg_temp.req('clients_delete', pg_temp.agent_a(),
                      '{00000000-0000-0000-0000-00000000a000}')->'status',
          '403', 'clients_delete: admin only');

-- idempotent dispatch of a route function ---------------------------------
CREATE FUNCTION pg_temp.create_once(p_key text, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE sql AS $$
    SELECT * FROM api.dispatch_idempotent('api.clients_create',
        pg_temp.admin(), '{}', '{}', p_body, p_key,
        sha256(convert_to('POST /api/v1/clients ' || p_body::text, 'UTF8')))
$$;
CREATE TEMP TABLE i1 AS
SELECT * FROM pg_temp.create_once('t5-key', '{"name":"t5 Idem"}');
SELECT is((SELECT status FROM i1), 201, 'idempotent create: 201');
SELECT is((SELECT row(status, body)::text
           FROM pg_temp.create_once('t5-key', '{"name":"t5 Idem"}')),
          (SELECT row(status, body)::text FROM i1),
          'idempotent create: the replay is byte-identical');
SELECT is((SELECT count(*)::int FROM liauto.clients WHERE name = 't5 Idem'),
          1, 'idempotent create: one client');
SELECT is((SELECT row(status, body::jsonb->>'code')::text
           FROM pg_temp.create_once('t5-key', '{"name":"t5 Other"}')),
          row(422, 'IDEMPOTENCY_KEY_REUSED')::text,
          'idempotent create: another body: 422');
SELECT is((SELECT status FROM pg_temp.create_once('t5-key-2',
                                                  '{"name":""}')),
          422, 'idempotent create: a validation failure');
SELECT is((SELECT row(status, body)::text
           FROM pg_temp.create_once('t5-key-2', '{"name":""}')),
          (SELECT row(response_status, response_body)::text
           FROM liauto.idempotency_keys WHERE key = 't5-key-2'),
          'idempotent create: ... is stored and replayed');
SELECT dblink_connect('other', format(
    'host=%s port=%s dbname=%s user=%s',
    split_part(current_setting('unix_socket_directories'), ',', 1),
    current_setting('port'), current_database(), current_user));
SELECT is((SELECT l FROM dblink('other', format(
              'SELECT pg_try_advisory_lock(%s)::text',
              liauto.idempotency_lock_key(
                  '00000000-0000-0000-0000-0000000000ad', 't5-key-3')))
                   AS t(l text)),
          'true', 'idempotent create: another connection takes the key');
SELECT is((SELECT row(status, body::jsonb->>'code')::text
           FROM pg_temp.create_once('t5-key-3', '{"name":"t5 Busy"}')),
          row(409, 'IDEMPOTENCY_KEY_IN_USE')::text,
          'idempotent create: the key is in use: 409');
SELECT is((SELECT count(*)::int FROM liauto.clients WHERE name = 't5 Busy'),
          0, 'idempotent create: nothing created meanwhile');
SELECT is((SELECT l FROM dblink('other',
                                'SELECT pg_advisory_unlock_all()::text')
                         AS t(l text)),
          '', 'idempotent create: the other connection lets go');
SELECT dblink_disconnect('other');

SELECT * FROM finish();
ROLLBACK;
