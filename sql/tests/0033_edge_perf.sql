-- 0033: api.keyset_page writes a page's text itself (string_agg of the
-- rows' jsonb text) instead of aggregating jsonb; the answer must stay
-- byte for byte what jsonb_build_object('data', jsonb_agg(..),
-- 'next_cursor', ..)::text wrote: escapes, control characters, non-ASCII
-- text, nested custom fields, NULLs, an empty page and a cursor page.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(5);

\ir lib/api_calls.sql

INSERT INTO liauto.clients (id, name) VALUES
    ('a0000000-0000-0000-0000-000000000001', 'Client A');
INSERT INTO liauto.campaigns (id, client_id, name) VALUES
    ('a3000000-0000-0000-0000-000000000001',
     'a0000000-0000-0000-0000-000000000001', 'A1');
INSERT INTO liauto.leads (client_id, campaign_id, first_name, last_name,
                          company, email, public_identifier, custom_fields,
                          created_at)
SELECT 'a0000000-0000-0000-0000-000000000001',
       'a3000000-0000-0000-0000-000000000001',
       E'Jo"hn\\ \n\t\u0001 ☃', 'Ünïcødé 😀 ' || g,
       CASE WHEN g % 2 = 0 THEN 'Acme "Q" Ltd' END,
       'p' || g || '@example.test', 'page-text-' || g,
       jsonb_build_object('n', g, 'list', jsonb_build_array(1.5, 'x"y',
                          NULL, jsonb_build_object('k', E'\u00e9\\'))),
       '2026-01-01 00:00Z'::timestamptz + g * interval '1 minute'
FROM generate_series(1, 5) AS g;

-- what 0010's jsonb aggregation answered for the same rows
CREATE FUNCTION pg_temp.expected(p_limit integer, p_before timestamptz)
RETURNS text LANGUAGE sql AS $$
    SELECT jsonb_build_object(
        'data', coalesce((SELECT jsonb_agg(liauto.lead_json(l)
                                           ORDER BY l.created_at DESC)
                          FROM (SELECT * FROM liauto.leads AS x
                                WHERE x.created_at < p_before
                                ORDER BY x.created_at DESC
                                LIMIT p_limit) AS l), '[]'),
        'next_cursor', (SELECT CASE WHEN count(*) > p_limit
                                    THEN api.encode_cursor(
                                        to_jsonb((array_agg(l.created_at
                                                  ORDER BY l.n))[p_limit]),
                                        (array_agg(l.id ORDER BY l.n))[p_limit],
                                        'created_at', 'desc') END
                        FROM (SELECT x.*, row_number() OVER (
                                  ORDER BY x.created_at DESC) AS n
                              FROM liauto.leads AS x
                              WHERE x.created_at < p_before
                              ORDER BY x.created_at DESC
                              LIMIT p_limit + 1) AS l))::text
$$;

CREATE FUNCTION pg_temp.page(p_query jsonb) RETURNS text
LANGUAGE sql AS $$
    SELECT body FROM api.leads_list(pg_temp.agent_a(), '{}', p_query, NULL)
$$;

SELECT is(pg_temp.page('{"limit": "2"}'),
          pg_temp.expected(2, 'infinity'),
          'a first page with a cursor: the bytes jsonb wrote');
SELECT is(pg_temp.page('{"limit": "5"}'),
          pg_temp.expected(5, 'infinity'),
          'the whole list, next_cursor null: the bytes jsonb wrote');
SELECT is(pg_temp.page(jsonb_build_object('limit', '2', 'cursor',
              pg_temp.page('{"limit": "2"}')::jsonb ->> 'next_cursor')),
          pg_temp.expected(2, '2026-01-01 00:04Z'),
          'the page after the cursor: the bytes jsonb wrote');
SELECT is(pg_temp.page('{"filter[status]": "completed"}'),
          '{"data": [], "next_cursor": null}',
          'an empty page');
SELECT ok(pg_temp.page('{"limit": "5"}')::jsonb -> 'data' -> 0
              ->> 'first_name' = E'Jo"hn\\ \n\t\u0001 ☃',
          'the text is JSON that reads back to the stored name');

SELECT * FROM finish();
ROLLBACK;
