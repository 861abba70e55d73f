-- Cursor decoding under hostile input (issue 9): about 10,000 cursors —
-- random base64url, random text, mutations of valid cursors (one
-- character replaced, deleted or inserted, truncated, doubled) and
-- well-formed cursors holding hostile values (wrong types, overflowing
-- numbers and dates, another sort or order, another tenant's position) —
-- each sent to GET /leads as client A's agent.  Every answer is a page of
-- client A's rows or the 400 "invalid cursor" envelope: never another
-- error, another status or client B's row.  setseed() makes a run
-- repeatable; a failure lists the first cursors that broke the rule.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(8);

\ir lib/api_calls.sql

SELECT setseed(0.26);

-- Fixtures: clients A and B, 12 leads each with distinct created_at, some
-- without last name or company, statuses mixed.
INSERT INTO liauto.clients (id, name) VALUES
    ('a0000000-0000-0000-0000-000000000001', 'Client A'),
    ('b0000000-0000-0000-0000-000000000001', 'Client B');
INSERT INTO liauto.campaigns (id, client_id, name) VALUES
    ('a3000000-0000-0000-0000-000000000001',
     'a0000000-0000-0000-0000-000000000001', 'A1'),
    ('b3000000-0000-0000-0000-000000000001',
     'b0000000-0000-0000-0000-000000000001', 'B1');
INSERT INTO liauto.leads (client_id, campaign_id, first_name, last_name,
                          company, public_identifier, status, created_at)
SELECT c.client_id, c.id, 'Lead', CASE WHEN i % 4 <> 0 THEN 'Name ' || i END,
       CASE WHEN i % 3 <> 0 THEN 'Company ' || (i % 5) END,
       'lead-' || c.name || '-' || i,
       (ARRAY['pending', 'invite_sent', 'connected'])[1 + i % 3],
       '2026-01-01 00:00Z'::timestamptz + i * interval '1 hour'
FROM liauto.campaigns AS c, generate_series(1, 12) AS i;

-- An answer of GET /leads as client A's agent, or the error it raised.
CREATE FUNCTION pg_temp.try_list(p_query jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN pg_temp.call('api.leads_list', pg_temp.agent_a(), '{}', p_query);
EXCEPTION WHEN OTHERS THEN
    RETURN jsonb_build_object('raised', SQLSTATE || ' ' || SQLERRM);
END
$$;

CREATE FUNCTION pg_temp.b64url(p_bytes bytea) RETURNS text
LANGUAGE sql AS $$
    SELECT translate(encode(p_bytes, 'base64'), E'+/=\n', '-_')
$$;

CREATE FUNCTION pg_temp.random_bytes(p_len integer) RETURNS bytea
LANGUAGE sql VOLATILE AS $$
    SELECT decode(string_agg(lpad(to_hex(floor(random() * 256)::integer), 2,
                                  '0'), ''), 'hex')
    FROM generate_series(1, p_len)
$$;

CREATE FUNCTION pg_temp.pick(p_items text[]) RETURNS text
LANGUAGE sql VOLATILE AS $$
    SELECT p_items[1 + floor(random() * cardinality(p_items))::integer]
$$;

CREATE FUNCTION pg_temp.mutate(p_cursor text) RETURNS text
LANGUAGE sql VOLATILE AS $$
    SELECT CASE floor(random() * 6)::integer
        WHEN 0 THEN overlay(p_cursor PLACING pg_temp.pick(ARRAY['A', 'z', '0', '9', '-', '_',
                        '=', '+', '/', '!', 'é', '%', '.']) FROM pos FOR 1)
        WHEN 1 THEN overlay(p_cursor PLACING '' FROM pos FOR 1)
        WHEN 2 THEN overlay(p_cursor PLACING pg_temp.pick(ARRAY['A', 'z', '0', '-', '_', '=',
                        ' ', 'é']) FROM pos FOR 0)
        WHEN 3 THEN left(p_cursor, pos - 1)
        WHEN 4 THEN p_cursor || p_cursor
        ELSE reverse(p_cursor)
    END
    FROM (SELECT 1 + floor(random() * length(p_cursor))::integer AS pos) AS p
$$;

-- The valid cursors: one per sort and order, for each client's admin view
-- (client B's positions included) and for the agent itself.
CREATE TEMP TABLE valid (cursor text, sort text, "order" text);
INSERT INTO valid
SELECT pg_temp.call('api.leads_list', who.caller,
                    '{}', jsonb_build_object('limit', lim::text,
                                             'sort', s, 'order', o))
           #>> '{body,next_cursor}', s, o
FROM unnest('{created_at,last_name,company,status}'::text[]) AS s,
     unnest('{asc,desc}'::text[]) AS o,
     (VALUES (pg_temp.admin()), (pg_temp.agent_a()),
             (pg_temp.agent_b())) AS who (caller),
     generate_series(1, 3) AS lim;
SELECT cmp_ok((SELECT count(*) FROM valid WHERE cursor IS NOT NULL), '>=',
              70::bigint, 'the valid cursors to mutate are there');

-- The cursors, each with the sort and order of the request that sends it.
CREATE TEMP TABLE cursors (kind text, cursor text, sort text,
                           "order" text);

INSERT INTO cursors
SELECT 'random base64url',
       pg_temp.b64url(pg_temp.random_bytes(1 + floor(random() * 80)::integer)),
       pg_temp.pick('{created_at,last_name,company,status}'),
       pg_temp.pick('{asc,desc}')
FROM generate_series(1, 2500);

INSERT INTO cursors
SELECT 'random text',
       (SELECT string_agg(pg_temp.pick(ARRAY['a', 'Z', '0', '-', '_', '=',
                          '+', '/', ' ', '%', 'é', '€', '😀', '"', '\',
                          '[', ']']), '')
        FROM generate_series(1, 1 + (i % 60))),
       'created_at', 'desc'
FROM generate_series(1, 2000) AS i;

-- as they are: client B's and the admin's positions given to client A
INSERT INTO cursors
SELECT 'valid', cursor, sort, "order" FROM valid WHERE cursor IS NOT NULL;

INSERT INTO cursors
SELECT 'mutated', pg_temp.mutate(v.cursor), v.sort, v."order"
FROM (SELECT * FROM valid WHERE cursor IS NOT NULL) AS v,
     generate_series(1, 40);

-- well-formed [value, id, sort, order] with hostile parts
INSERT INTO cursors
SELECT 'hostile values',
       pg_temp.b64url(convert_to(format('[%s,%s,%s,%s]',
           pg_temp.pick(ARRAY['"x"', '""', '0', '-1', '1e300', '-1e-300',
                '12345678901234567890123456789', '"2026-01-01T00:00:00Z"',
                '"2026-13-45"', '"infinity"', '"-infinity"', '"epoch"',
                'null', 'true', '[]', '{}', '"pending"', '"\u00e9"',
                '"' || repeat('a', 3000) || '"', '"294277-01-01"',
                '"1 hour"', '"Name 3"', '"Company 1"']),
           pg_temp.pick(ARRAY['"' || gen_random_uuid() || '"',
                '"' || (SELECT id FROM liauto.leads ORDER BY random()
                        LIMIT 1) || '"',
                '"00000000-0000-0000-0000-000000000000"',
                '"not-a-uuid"', 'null', '1', '"A0000000-0000-0000-0000-0000000000FF"']),
           pg_temp.pick(ARRAY['"created_at"', '"last_name"', '"company"',
                '"status"', '"id"', '"client_id"', 'null']),
           pg_temp.pick(ARRAY['"asc"', '"desc"', '"ASC"', 'null'])), 'UTF8')),
       pg_temp.pick('{created_at,last_name,company,status}'),
       pg_temp.pick('{asc,desc}')
FROM generate_series(1, 3000);

SELECT cmp_ok((SELECT count(*) FROM cursors), '>=', 10000::bigint,
              'about 10,000 cursors');

CREATE TEMP TABLE answers AS
SELECT c.*, pg_temp.try_list(jsonb_build_object(
           'cursor', c.cursor, 'sort', c.sort, 'order', c."order",
           'limit', '5')) AS a
FROM cursors AS c;

SELECT is((SELECT array_agg(format('%s %s: %s', kind, cursor, a ->> 'raised'))
           FROM (SELECT * FROM answers WHERE a ? 'raised' LIMIT 5) AS x),
          NULL, 'no cursor raises an error');
SELECT is((SELECT array_agg(format('%s %s: %s', kind, cursor, a))
           FROM (SELECT * FROM answers
                 WHERE NOT a ? 'raised'
                   AND (a ->> 'status' NOT IN ('200', '400')
                        OR (a ->> 'status' = '400'
                            AND pg_temp.err(a) <> '{"status": 400,
                                "code": "BAD_REQUEST",
                                "details": {"cursor": "invalid cursor"}}'))
                 LIMIT 5) AS x),
          NULL, 'every answer is a page or the 400 "invalid cursor"');
SELECT is((SELECT array_agg(format('%s %s: %s', kind, cursor, l.client_id))
           FROM (SELECT * FROM answers WHERE a ->> 'status' = '200') AS x,
                unnest(pg_temp.ids(x.a)) AS u (id)
                JOIN liauto.leads AS l ON l.id = u.id::uuid
           WHERE l.client_id <> 'a0000000-0000-0000-0000-000000000001'),
          NULL, 'no page holds another tenant''s row');

SELECT is((SELECT array_agg(format('%s %s: %s', kind, cursor, a))
           FROM answers WHERE kind = 'valid' AND a ->> 'status' <> '200'),
          NULL, 'a valid cursor of any caller gives client A a page');

-- the run means something: both outcomes happened, for each kind that can
SELECT cmp_ok((SELECT count(*) FROM answers WHERE a ->> 'status' = '200'
               AND kind IN ('mutated', 'hostile values')), '>', 20::bigint,
              'mutated and hostile cursors gave pages too');
SELECT cmp_ok((SELECT count(*) FROM answers WHERE a ->> 'status' = '400'),
              '>', 5000::bigint, 'most garbage is the 400');

SELECT * FROM finish();
ROLLBACK;
