-- The API framework of migration 0002: envelopes, timestamps, cursors,
-- list parameters, keyset pages, body validation, tenancy, idempotent
-- dispatch and settings.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT plan(115);

-- The envelope a statement raises through api.raise_error, NULL when it
-- raises nothing: lets the tests look inside details.
CREATE FUNCTION pg_temp.envelope(p_sql text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_detail  text;
BEGIN
    EXECUTE p_sql;
    RETURN NULL;
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL;
    RETURN v_detail::jsonb;
END
$$;

-- error / ok / ts --------------------------------------------------------
SELECT is((SELECT status FROM api.error(404, 'NOT_FOUND', 'client not found')),
          404, 'api.error: status');
SELECT is((SELECT body::jsonb FROM api.error(404, 'NOT_FOUND', 'no')),
          '{"code":"NOT_FOUND","message":"no","details":{}}'::jsonb,
          'api.error: envelope with empty details by default');
SELECT is((SELECT body::jsonb FROM api.error(422, 'VALIDATION_FAILED', 'bad',
                                             '{"name":"is required"}')),
          '{"code":"VALIDATION_FAILED","message":"bad",
            "details":{"name":"is required"}}'::jsonb,
          'api.error: details carried');
SELECT is((SELECT row(status, body)::text FROM api.ok(201, '{"a":1}')),
          row(201, '{"a": 1}')::text, 'api.ok: status and jsonb text');
SELECT is((SELECT body FROM api.ok(204, NULL)), '', 'api.ok: NULL is empty');

SET LOCAL TimeZone = 'America/New_York';
SELECT is(api.ts('2026-11-24 15:41:25.123456-05'),
          '2026-11-24T20:41:25.123Z', 'api.ts: UTC, milliseconds, Z');
SELECT is(api.ts('2026-01-02 03:04:05+00'), '2026-01-02T03:04:05.000Z',
          'api.ts: zero milliseconds are written');
RESET TimeZone;
SELECT is(api.ts(NULL), NULL, 'api.ts: NULL stays NULL');

-- raise_error / error_from ------------------------------------------------
SELECT throws_ok($$SELECT api.raise_error(409, 'CONFLICT', 'busy')$$,
                 'LIAPI', 'busy', 'raise_error: SQLSTATE LIAPI, message');
SELECT is(pg_temp.envelope($$SELECT api.raise_error(409, 'CONFLICT', 'busy',
                                                    '{"x":"y"}')$$),
          '{"status":409,"code":"CONFLICT","message":"busy",
            "details":{"x":"y"}}'::jsonb,
          'raise_error: envelope in DETAIL');
SELECT is((SELECT row(status, body::jsonb)::text FROM api.error_from(
              '{"status":409,"code":"CONFLICT","message":"busy",'
              '"details":{"x":"y"}}')),
          row(409, '{"code":"CONFLICT","message":"busy",
                     "details":{"x":"y"}}'::jsonb)::text,
          'error_from: the envelope as a response row');
SELECT is(pg_temp.envelope($$SELECT api.raise_invalid('{}')$$), NULL,
          'raise_invalid: no errors, no exception');
SELECT is(pg_temp.envelope($$SELECT api.raise_invalid(
                                 '{"a":"is required","b":"unknown field"}')$$),
          '{"status":422,"code":"VALIDATION_FAILED",
            "message":"validation failed",
            "details":{"a":"is required","b":"unknown field"}}'::jsonb,
          'raise_invalid: 422 with every field error');

-- caller_sees -------------------------------------------------------------
SELECT ok(api.caller_sees('{"role":"admin"}', gen_random_uuid()),
          'an admin sees any client');
SELECT ok(api.caller_sees(
              '{"role":"agent",
                "client_id":"00000000-0000-0000-0000-00000000000a"}',
              '00000000-0000-0000-0000-00000000000a'),
          'an agent sees its client');
SELECT ok(NOT api.caller_sees(
              '{"role":"viewer",
                "client_id":"00000000-0000-0000-0000-00000000000a"}',
              '00000000-0000-0000-0000-00000000000b'),
          'a viewer does not see another client');
SELECT ok(NOT api.caller_sees('{"role":"agent"}',
                              '00000000-0000-0000-0000-00000000000a'),
          'an agent without client_id sees nothing');

-- cursors -----------------------------------------------------------------
SELECT is(api.decode_cursor(
              api.encode_cursor('"2026-11-24T20:41:25.123456+00:00"',
                                '00000000-0000-0000-0000-00000000000a',
                                'created_at', 'desc'),
              'created_at', 'desc'),
          '["2026-11-24T20:41:25.123456+00:00",
            "00000000-0000-0000-0000-00000000000a", "created_at",
            "desc"]'::jsonb,
          'cursor round trip');
SELECT ok(api.encode_cursor(to_jsonb(repeat('é?>', 40)), gen_random_uuid(),
                            'name', 'asc') ~ '^[A-Za-z0-9_-]+$',
          'a cursor is unpadded base64url on one line');
SELECT is(pg_temp.envelope($$SELECT api.decode_cursor('%%%garbage', 'name',
                                                      'asc')$$),
          '{"status":400,"code":"BAD_REQUEST","message":"invalid cursor",
            "details":{"cursor":"invalid cursor"}}'::jsonb,
          'garbage cursor: 400 invalid cursor');
SELECT is(pg_temp.envelope(format(
              'SELECT api.decode_cursor(%L, ''name'', ''asc'')',
              translate(encode('{"a":1}', 'base64'), '+/=', '-_')))->>'message',
          'invalid cursor', 'base64 of a non-array: invalid cursor');
SELECT is(pg_temp.envelope(format(
              'SELECT api.decode_cursor(%L, ''name'', ''desc'')',
              api.encode_cursor('"x"', gen_random_uuid(), 'name', 'asc')))
              ->>'message',
          'invalid cursor', 'a cursor of another order: invalid cursor');
SELECT is(pg_temp.envelope(format(
              'SELECT api.decode_cursor(%L, ''created_at'', ''asc'')',
              api.encode_cursor('"x"', gen_random_uuid(), 'name', 'asc')))
              ->>'message',
          'invalid cursor', 'a cursor of another sort: invalid cursor');

-- list_params -------------------------------------------------------------
SELECT is(api.list_params('{}', '{created_at,name}', '{search}'),
          row(50, NULL, 'created_at', 'desc')::api.list_query,
          'list_params: defaults');
SELECT is(api.list_params(NULL, '{created_at,name}', '{search}'),
          row(50, NULL, 'created_at', 'desc')::api.list_query,
          'list_params: no query string at all');
SELECT is(api.list_params('{"limit":"200","sort":"name","order":"asc",
                            "filter[search]":"acme"}',
                          '{created_at,name}', '{search}'),
          row(200, NULL, 'name', 'asc')::api.list_query,
          'list_params: explicit values and a known filter');
SELECT is((api.list_params(
              jsonb_build_object('cursor', api.encode_cursor(
                  '"b"', '00000000-0000-0000-0000-00000000000a', 'name',
                  'asc'), 'sort', 'name', 'order', 'asc'),
              '{created_at,name}', '{}')).cursor,
          '["b", "00000000-0000-0000-0000-00000000000a", "name", "asc"]',
          'list_params: decodes the cursor');
SELECT is(pg_temp.envelope($$SELECT api.list_params('{"limit":"0"}',
                                                    '{created_at}', '{}')$$),
          '{"status":400,"code":"BAD_REQUEST",
            "message":"invalid query parameters",
            "details":{"limit":"must be an integer between 1 and 200"}}',
          'limit 0: 400');
SELECT is(pg_temp.envelope($$SELECT api.list_params('{"limit":"201"}',
                                                    '{created_at}', '{}')$$)
              -> 'details' ->> 'limit',
          'must be an integer between 1 and 200', 'limit 201: 400');
SELECT is(pg_temp.envelope($$SELECT api.list_params('{"limit":"1.5"}',
                                                    '{created_at}', '{}')$$)
              -> 'details' ->> 'limit',
          'must be an integer between 1 and 200', 'limit 1.5: 400');
SELECT is(pg_temp.envelope($$SELECT api.list_params('{"limit":"-1"}',
                                                    '{created_at}', '{}')$$)
              -> 'details' ->> 'limit',
          'must be an integer between 1 and 200', 'limit -1: 400');
SELECT is(pg_temp.envelope($$SELECT api.list_params(
                                 '{"limit":"1; DROP TABLE x"}',
                                 '{created_at}', '{}')$$)
              -> 'details' ->> 'limit',
          'must be an integer between 1 and 200', 'limit with SQL: 400');
SELECT is(pg_temp.envelope($$SELECT api.list_params('{"sort":"password_hash"}',
                                                    '{created_at,name}',
                                                    '{}')$$)
              -> 'details' ->> 'sort',
          'must be one of: created_at, name', 'unknown sort field: 400');
SELECT is(pg_temp.envelope($$SELECT api.list_params('{"order":"DESC"}',
                                                    '{created_at}', '{}')$$)
              -> 'details' ->> 'order',
          'must be asc or desc', 'order is lower case asc|desc');
SELECT is(pg_temp.envelope($$SELECT api.list_params('{"page":"2"}',
                                                    '{created_at}', '{}')$$)
              -> 'details',
          '{"page":"unknown parameter"}', 'unknown parameter: 400');
SELECT is(pg_temp.envelope($$SELECT api.list_params(
                                 '{"filter[password_hash]":"x"}',
                                 '{created_at}', '{search}')$$) -> 'details',
          '{"filter[password_hash]":"unknown parameter"}',
          'unknown filter: 400');
SELECT is(pg_temp.envelope($$SELECT api.list_params(
                                 '{"limit":"x","sort":"y","order":"z",
                                   "offset":"5"}',
                                 '{created_at}', '{}')$$) -> 'details',
          '{"limit":"must be an integer between 1 and 200",
            "sort":"must be one of: created_at","order":"must be asc or desc",
            "offset":"unknown parameter"}',
          'every bad parameter is named at once');
SELECT is(pg_temp.envelope($$SELECT api.list_params('{"cursor":"nope"}',
                                                    '{created_at}', '{}')$$)
              ->> 'message',
          'invalid cursor', 'list_params: bad cursor is 400 invalid cursor');

-- query_timestamp ---------------------------------------------------------
SELECT is(api.query_timestamp('{"filter[created_from]":"2026-11-24T10:00:00Z"}',
                              'filter[created_from]'),
          '2026-11-24 10:00:00+00'::timestamptz, 'ISO timestamp with Z');
SELECT is(api.query_timestamp('{"f":"2026-11-24"}', 'f'),
          '2026-11-24'::timestamptz, 'ISO date');
SELECT is(api.query_timestamp('{}', 'f'), NULL, 'absent is NULL');
SELECT is(pg_temp.envelope($$SELECT api.query_timestamp('{"f":"now"}', 'f')$$)
              -> 'details',
          '{"f":"must be an ISO 8601 timestamp"}', '"now" is refused');
SELECT is(pg_temp.envelope($$SELECT api.query_timestamp('{"f":"2026-02-30"}',
                                                        'f')$$) ->> 'status',
          '400', 'an impossible date is a 400, not a 500');

-- like_pattern ------------------------------------------------------------
SELECT ok('50% off' ILIKE api.like_pattern('0% O'), 'like_pattern: contains');
SELECT ok(NOT '50 percent' ILIKE api.like_pattern('0%'),
          'like_pattern: % is a literal');
SELECT ok(NOT 'ab' ILIKE api.like_pattern('_'), 'like_pattern: _ is a literal');
SELECT ok('a\b' ILIKE api.like_pattern('a\b'),
          'like_pattern: a backslash is a literal');

-- keyset_page -------------------------------------------------------------
INSERT INTO liauto.clients (name, created_at) VALUES
    ('kp-d', '2026-01-01 01:00+00'), ('kp-a', '2026-01-01 02:00+00'),
    ('kp-c', '2026-01-01 03:00+00'), ('kp-e', '2026-01-01 04:00+00'),
    ('kp-b', '2026-01-01 05:00:00.000001+00');
SELECT is((SELECT count(DISTINCT name)::int FROM liauto.clients
           WHERE name LIKE 'kp-%'), 5, 'keyset fixture: five names');

CREATE FUNCTION pg_temp.page(p_query jsonb) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT body::jsonb FROM api.keyset_page(
        api.list_params(p_query, '{created_at,name}', '{prefix}'),
        'liauto.clients', 'jsonb_build_object(''name'', t.name)',
        't.name LIKE ($1->>''prefix'') || ''%''',
        jsonb_build_object('prefix', p_query->>'filter[prefix]'))
$$;

CREATE FUNCTION pg_temp.names(p_page jsonb) RETURNS text
LANGUAGE sql AS $$
    SELECT string_agg(d->>'name', ',' ORDER BY i)
    FROM jsonb_array_elements(p_page->'data') WITH ORDINALITY AS e(d, i)
$$;

-- walks every page and returns the names in order, pages separated by |
CREATE FUNCTION pg_temp.walk(p_query jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_page   jsonb := pg_temp.page(p_query);
    v_pages  text[] := ARRAY[pg_temp.names(v_page)];
BEGIN
    WHILE v_page->>'next_cursor' IS NOT NULL LOOP
        v_page := pg_temp.page(p_query || jsonb_build_object(
                      'cursor', v_page->>'next_cursor'));
        v_pages := v_pages || pg_temp.names(v_page);
    END LOOP;
    RETURN array_to_string(v_pages, '|');
END
$$;

SELECT is(pg_temp.walk('{"limit":"2","filter[prefix]":"kp-","sort":"name",
                         "order":"asc"}'),
          'kp-a,kp-b|kp-c,kp-d|kp-e', 'pages by name ascending');
SELECT is(pg_temp.walk('{"limit":"2","filter[prefix]":"kp-","sort":"name"}'),
          'kp-e,kp-d|kp-c,kp-b|kp-a', 'pages by name descending');
SELECT is(pg_temp.walk('{"limit":"3","filter[prefix]":"kp-",
                         "order":"asc"}'),
          'kp-d,kp-a,kp-c|kp-e,kp-b',
          'pages by created_at ascending');
SELECT is(pg_temp.page('{"limit":"5","filter[prefix]":"kp-"}')
              -> 'next_cursor',
          'null', 'an exactly full last page has no next_cursor');
SELECT is(pg_temp.page('{"filter[prefix]":"nobody-"}'),
          '{"data":[],"next_cursor":null}', 'an empty list');
SELECT is(pg_temp.page('{"filter[prefix]":"kp-'' OR ''1''=''1"}'),
          '{"data":[],"next_cursor":null}',
          'a filter value with SQL in it is plain data');

-- Microsecond-equal timestamps: the id breaks the tie, nothing is lost.
UPDATE liauto.clients SET created_at = '2026-01-01 00:00:00.000001+00'
WHERE name LIKE 'kp-%';
SELECT is(pg_temp.walk('{"limit":"2","filter[prefix]":"kp-"}'),
          (SELECT string_agg(name, ',' ORDER BY id DESC) FILTER (WHERE rn <= 2)
                  || '|' ||
                  string_agg(name, ',' ORDER BY id DESC)
                  FILTER (WHERE rn BETWEEN 3 AND 4) || '|' ||
                  string_agg(name, ',' ORDER BY id DESC) FILTER (WHERE rn = 5)
           FROM (SELECT name, id, row_number() OVER (ORDER BY id DESC) AS rn
                 FROM liauto.clients WHERE name LIKE 'kp-%') AS s),
          'equal sort values page by id');
SELECT is(pg_temp.envelope(format(
              'SELECT pg_temp.page(%L)',
              jsonb_build_object('cursor', api.encode_cursor(
                  '"yesterday-ish"', gen_random_uuid(), 'created_at',
                  'desc'))))->>'message',
          'invalid cursor', 'a forged cursor value of the wrong type: 400');

-- field_error / validate_body ---------------------------------------------
SELECT is(api.field_error('"x"', '{"type":"string","min":1,"max":3}'), NULL,
          'string: fine');
SELECT is(api.field_error('5', '{"type":"string"}'), 'must be a string',
          'string: a number is not');
SELECT is(api.field_error('"   "', '{"type":"string","min":1}'),
          'must not be blank', 'string: blank');
SELECT is(api.field_error('"abcd"', '{"type":"string","max":3}'),
          'must be at most 3 characters', 'string: too long');
SELECT is(api.field_error('"ab"', '{"type":"string","min":3}'),
          'must be at least 3 characters', 'string: too short');
SELECT is(api.field_error('"x"', '{"type":"string","enum":["a","b"]}'),
          'must be one of: a, b', 'string: enum');
SELECT is(api.field_error('null', '{"type":"string"}'), 'must not be null',
          'null is refused unless nullable');
SELECT is(api.field_error('null', '{"type":"string","nullable":true}'), NULL,
          'null is fine when nullable');
SELECT is(api.field_error('7', '{"type":"int","min":0,"max":10}'), NULL,
          'int: fine');
SELECT is(api.field_error('"7"', '{"type":"int"}'), 'must be an integer',
          'int: a string is not');
SELECT is(api.field_error('7.5', '{"type":"int"}'), 'must be an integer',
          'int: a fraction is not');
SELECT is(api.field_error('1e20', '{"type":"int"}'), 'must be an integer',
          'int: out of int4 range');
SELECT is(api.field_error('11', '{"type":"int","min":0,"max":10}'),
          'must be between 0 and 10', 'int: range');
SELECT is(api.field_error('true', '{"type":"bool"}'), NULL, 'bool: fine');
SELECT is(api.field_error('"true"', '{"type":"bool"}'), 'must be a boolean',
          'bool: a string is not');
SELECT is(api.field_error('"00000000-0000-0000-0000-00000000000A"',
                          '{"type":"uuid"}'), NULL, 'uuid: fine');
SELECT is(api.field_error('"1234"', '{"type":"uuid"}'), 'must be a UUID',
          'uuid: bad');
SELECT is(api.field_error('"a@b.example"', '{"type":"email"}'), NULL,
          'email: fine');
SELECT is(api.field_error('"a b@c"', '{"type":"email"}'),
          'must be an email address', 'email: blank inside');
SELECT is(api.field_error('"nobody"', '{"type":"email"}'),
          'must be an email address', 'email: no @');
SELECT is(api.field_error('"Europe/London"', '{"type":"timezone"}'), NULL,
          'timezone: fine');
SELECT is(api.field_error('"UTC+3"', '{"type":"timezone"}'),
          'must be an IANA timezone name such as Europe/London',
          'timezone: POSIX string refused');
SELECT is(api.field_error('"09:30"', '{"type":"time"}'), NULL, 'time: fine');
SELECT is(api.field_error('"24:00"', '{"type":"time"}'),
          'must be a time "HH:MM"', 'time: 24:00 refused');
SELECT is(api.field_error('"9:30"', '{"type":"time"}'),
          'must be a time "HH:MM"', 'time: two-digit hours');
SELECT is(api.field_error('{}', '{"type":"object"}'), NULL, 'object: fine');
SELECT is(api.field_error('[]', '{"type":"object"}'), 'must be an object',
          'object: an array is not');
SELECT is(api.field_error('[]', '{"type":"array"}'), NULL, 'array: fine');
SELECT throws_ok($$SELECT api.field_error('1', '{"type":"float"}')$$,
                 '20000', NULL,
                 'an unknown rule type is a programming error');

SELECT is(pg_temp.envelope($$SELECT api.validate_body('[1]', '{}')$$),
          '{"status":400,"code":"BAD_REQUEST",
            "message":"request body must be a JSON object","details":{}}',
          'a body that is not an object: 400');
SELECT is(pg_temp.envelope($$SELECT api.validate_body(NULL, '{}')$$)
              ->> 'status',
          '400', 'a missing body: 400');
SELECT is(api.validate_body(
              '{"name":"", "id":"x", "created_at":"y", "colour":"red",
                "limit":"5", "tz":"Mars/Base"}',
              '{"name":{"type":"string","min":1,"required":true},
                "limit":{"type":"int"}, "tz":{"type":"timezone"},
                "email":{"type":"email","required":true}}'),
          '{"name":"must not be blank","id":"read-only field",
            "created_at":"read-only field","colour":"unknown field",
            "limit":"must be an integer",
            "tz":"must be an IANA timezone name such as Europe/London",
            "email":"is required"}',
          'validate_body: one message per bad field, all at once');
SELECT is(api.validate_body('{"limit":3}',
                            '{"name":{"type":"string","required":true},
                              "limit":{"type":"int"}}', true),
          '{}', 'validate_body: a partial body skips required fields');
SELECT is(api.validate_body('{"status":"active"}',
                            '{"status":{"type":"string"}}', true,
                            '{id,created_at,updated_at,status}'),
          '{"status":"read-only field"}',
          'validate_body: extra read-only fields per resource');
SELECT is(api.validate_body('{"name":"Robert''); DROP TABLE liauto.users;--"}',
                            '{"name":{"type":"string","max":200}}'),
          '{}', 'validate_body: SQL in a value is just a string');

-- dispatch_idempotent -----------------------------------------------------
INSERT INTO liauto.clients (id, name)
VALUES ('00000000-0000-0000-0000-0000000000c1', 'idem client');
INSERT INTO liauto.users (id, client_id, email, password_hash, role)
VALUES ('00000000-0000-0000-0000-0000000000e1',
        '00000000-0000-0000-0000-0000000000c1', 'idem@example.com',
        liauto.hash_password('correct horse battery'), 'agent');

-- A route function that writes, answers with a per-call random value so a
-- replay can be told from a re-run, and fails the way the body asks.
CREATE FUNCTION api.test_create(p_caller jsonb, p_path text[],
                                p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO liauto.clients (name) VALUES (p_body->>'name');
    IF p_body ? 'fail' THEN
        PERFORM api.raise_error((p_body->>'fail')::integer, 'CONFLICT',
                                'asked to fail');
    END IF;
    RETURN QUERY SELECT * FROM api.ok(201, jsonb_build_object(
        'name', p_body->>'name', 'nonce', gen_random_uuid()));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    RETURN QUERY SELECT * FROM api.error(
        (p_body->>'fail')::integer, 'CONFLICT', 'asked to fail');
END
$$;

CREATE FUNCTION pg_temp.dispatch(p_key text, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE sql AS $$
    SELECT * FROM api.dispatch_idempotent(
        'api.test_create',
        '{"sub":"00000000-0000-0000-0000-0000000000e1","role":"agent",
          "client_id":"00000000-0000-0000-0000-0000000000c1"}',
        '{}', '{}', p_body, p_key, sha256(convert_to(p_body::text, 'UTF8')))
$$;

CREATE TEMP TABLE first_answer AS
SELECT * FROM pg_temp.dispatch('k1', '{"name":"idem-1"}');
SELECT is((SELECT status FROM first_answer), 201,
          'dispatch: the function runs');
SELECT is((SELECT row(status, body)::text
           FROM pg_temp.dispatch('k1', '{"name":"idem-1"}')),
          (SELECT row(status, body)::text FROM first_answer),
          'dispatch: a replay is byte-identical');
SELECT is((SELECT count(*)::int FROM liauto.clients WHERE name = 'idem-1'), 1,
          'dispatch: a replay does not run the function again');
SELECT is((SELECT row(status, body::jsonb->>'code')::text
           FROM pg_temp.dispatch('k1', '{"name":"idem-2"}')),
          row(422, 'IDEMPOTENCY_KEY_REUSED')::text,
          'dispatch: same key, another body: 422');
SELECT is((SELECT count(*)::int FROM liauto.clients WHERE name = 'idem-2'), 0,
          'dispatch: the 422 ran nothing');
SELECT is((SELECT row(status, body::jsonb->'details')::text
           FROM pg_temp.dispatch(repeat('k', 256), '{"name":"idem-3"}')),
          row(400, '{"Idempotency-Key": "must be 1 to 255 characters"}'
                   ::jsonb)::text,
          'dispatch: a key over 255 characters: 400');
SELECT is((SELECT status FROM pg_temp.dispatch(repeat('k', 255),
                                               '{"name":"idem-3"}')),
          201, 'dispatch: 255 characters are fine');

SELECT is((SELECT status FROM pg_temp.dispatch('k4',
                                               '{"name":"idem-4","fail":409}')),
          409, 'dispatch: a 4xx answer');
SELECT is((SELECT count(*)::int FROM liauto.clients WHERE name = 'idem-4'), 0,
          'dispatch: the failed function''s write is rolled back');
SELECT is((SELECT response_status FROM liauto.idempotency_keys
           WHERE key = 'k4'), 409, 'dispatch: a 4xx answer is stored');
SELECT is((SELECT status FROM pg_temp.dispatch('k5',
                                               '{"name":"idem-5","fail":503}')),
          503, 'dispatch: a 5xx answer is passed on');
SELECT is((SELECT count(*)::int FROM liauto.idempotency_keys
           WHERE key = 'k5'), 0, 'dispatch: a 5xx answer is not stored');

UPDATE liauto.idempotency_keys
SET created_at = now() - interval '25 hours',
    expires_at = now() - interval '1 hour'
WHERE key = 'k1';
SELECT is((SELECT status FROM pg_temp.dispatch('k1', '{"name":"idem-6"}')),
          201, 'dispatch: an expired key is free again, whatever its body');
SELECT is((SELECT count(*)::int FROM liauto.clients WHERE name = 'idem-6'), 1,
          'dispatch: ... and the function ran');
SELECT ok((SELECT expires_at > now() + interval '23 hours'
           FROM liauto.idempotency_keys WHERE key = 'k1'),
          'dispatch: the replaced row lives 24 h again');

SELECT throws_ok($$SELECT * FROM api.dispatch_idempotent(
                     'liauto.hash_password', '{}', '{}', '{}', '{}', 'k',
                     '\x00')$$,
                 'P0001', 'dispatch_idempotent: no route function '
                          'liauto.hash_password',
                 'dispatch: only api route functions');

-- Another connection holds the key's lock, as a concurrent request would.
SELECT dblink_connect('other', format(
    'host=%s port=%s dbname=%s user=%s',
    split_part(current_setting('unix_socket_directories'), ',', 1),
    current_setting('port'), current_database(), current_user));
SELECT is((SELECT l FROM dblink('other', format(
              'SELECT pg_advisory_lock(%s)::text',
              liauto.idempotency_lock_key(
                  '00000000-0000-0000-0000-0000000000e1', 'k7'))) AS t(l text)),
          '', 'dblink: the other connection holds the key');
SELECT is((SELECT row(status, body::jsonb->>'code')::text
           FROM pg_temp.dispatch('k7', '{"name":"idem-7"}')),
          row(409, 'IDEMPOTENCY_KEY_IN_USE')::text,
          'dispatch: a key in use elsewhere: 409');
SELECT is((SELECT count(*)::int FROM liauto.clients WHERE name = 'idem-7'), 0,
          'dispatch: the 409 ran nothing');
SELECT is((SELECT l FROM dblink('other',
                                 'SELECT pg_advisory_unlock_all()::text')
                         AS t(l text)),
          '', 'dblink: the other connection lets go');
SELECT dblink_disconnect('other');
SELECT is((SELECT status FROM pg_temp.dispatch('k7', '{"name":"idem-7"}')),
          201, 'dispatch: free again once the other side let go');

-- settings ----------------------------------------------------------------
SELECT columns_are('liauto', 'settings', ARRAY['key', 'value', 'updated_at']);
SELECT is((SELECT value FROM liauto.settings WHERE key = 'scheduler_paused'),
          'false'::jsonb, 'settings: the scheduler starts unpaused');
SELECT throws_ok($$INSERT INTO liauto.settings VALUES ('Bad Key', '1')$$,
                 '23514', NULL, 'settings: keys are snake_case');

SELECT * FROM finish();
ROLLBACK;
