-- 0032: exports that stream, CSV of every analytics view, the XLSX report.
--
-- 1. The campaign exports (leads, events) become row sets: the first row
--    is (200, the CSV header line), every later row (NULL, one CSV
--    record).  The module reads them in libpq's single-row mode and sends
--    each record as it arrives (ngx_liauto_export.c), so neither nginx nor
--    this function holds a whole export.  A refused request (bad query,
--    another tenant's campaign) raises LIAPI before the first row, which
--    the module answers with the envelope as for any route.
-- 2. The analytics CSV covers every view: real-time and variants join
--    summary, timeseries, funnel, rate-usage and comparative.  The tables
--    behind the CSV are built once (liauto.analytics_table) and shared by
--    the CSV and by the XLSX report.
-- 3. api.analytics_report: every view of one campaign as sheets of rows,
--    the data of GET /campaigns/{id}/analytics/report.xlsx.


-- ------------------------------------------------------------------------
-- 1. Streamed campaign exports
-- ------------------------------------------------------------------------

-- One expression, so that the planner inlines it into the exports' row
-- expressions: the rules of 0020, a few regular expressions per field
-- instead of a function call with a subquery (4x faster at 100,000 rows).
CREATE OR REPLACE FUNCTION liauto.csv_field(p_value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_value ~ '[",\r\n]'
                THEN '"' || CASE WHEN p_value ~ '^[=+@\t\r-]' THEN ''''
                                 ELSE '' END
                     || replace(p_value, '"', '""') || '"'
                ELSE CASE WHEN p_value ~ '^[=+@\t\r-]' THEN '''' ELSE '' END
                     || coalesce(p_value, '')
           END
$$;

COMMENT ON FUNCTION liauto.csv_field(text) IS
    'One RFC 4180 field of an export: a value starting with = + - @, tab '
    'or CR is prefixed with a single quote so spreadsheets show it as text '
    '(OWASP CSV injection), then quoted (quotes doubled) when it holds a '
    'comma, quote, CR or LF; NULL is the empty field.';

CREATE FUNCTION liauto.export_campaign(p_caller jsonb, p_path text[],
                                       p_query jsonb)
RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM liauto.check_export_query(p_query);
    RETURN (liauto.find_campaign(p_caller, liauto.path_id(p_path))).id;
END
$$;

COMMENT ON FUNCTION liauto.export_campaign(jsonb, text[], jsonb) IS
    'The campaign an export reads: its query is ?format=csv and the caller '
    'sees it, else LIAPI 400/404.';

-- LANGUAGE sql and STABLE so that the planner inlines the body into the
-- module's SELECT; the records are built by inlined expressions, one row
-- each.  The header row sorts first (part 0).
CREATE OR REPLACE FUNCTION api.leads_export(p_caller jsonb, p_path text[],
                                            p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE sql STABLE AS $$
    WITH k AS MATERIALIZED (
        SELECT c.id,
               coalesce((SELECT array_agg(DISTINCT f.key ORDER BY f.key)
                         FROM liauto.leads AS l,
                              jsonb_object_keys(l.custom_fields) AS f (key)
                         WHERE l.campaign_id = c.id), '{}') AS keys
        FROM (SELECT liauto.export_campaign(p_caller, p_path, p_query)
                     AS id) AS c
    )
    SELECT r.status, r.body
    FROM (SELECT 0 AS part, NULL::timestamptz AS at, NULL::uuid AS id,
                 200 AS status,
                 liauto.csv_line('{id,first_name,last_name,company,title,'
                                 'email,public_identifier,profile_url,'
                                 'status,current_step,created_at}'::text[]
                                 || k.keys) AS body
          FROM k
          UNION ALL
          SELECT 1, l.created_at, l.id, NULL,
                 l.id::text
                 || ',' || liauto.csv_field(l.first_name)
                 || ',' || liauto.csv_field(l.last_name)
                 || ',' || liauto.csv_field(l.company)
                 || ',' || liauto.csv_field(l.title)
                 || ',' || liauto.csv_field(l.email)
                 || ',' || liauto.csv_field(l.public_identifier)
                 || ',' || liauto.csv_field(l.profile_url)
                 || ',' || liauto.csv_field(l.status)
                 || ',' || liauto.csv_field(l.current_step::text)
                 || ',' || api.ts(l.created_at)
                 || coalesce((SELECT string_agg(',' || liauto.csv_field(
                                                  l.custom_fields ->> u.k),
                                                '' ORDER BY u.n)
                              FROM unnest((SELECT keys FROM k))
                                   WITH ORDINALITY AS u (k, n)), '')
                 || E'\r\n'
          FROM liauto.leads AS l
          WHERE l.campaign_id = (SELECT id FROM k)) AS r
    ORDER BY r.part, r.at, r.id
$$;

COMMENT ON FUNCTION api.leads_export(jsonb, text[], jsonb, jsonb) IS
    'GET /campaigns/{id}/leads/export?format=csv → rows: (200, the header '
    'line), then (NULL, one RFC 4180 record with CRLF) per lead, oldest '
    'first: the fixed lead columns, then one column per custom field key '
    'any lead of the campaign has, in key order.  LIAPI before the first '
    'row when refused.';

CREATE OR REPLACE FUNCTION api.lead_events_export(p_caller jsonb,
                                                  p_path text[],
                                                  p_query jsonb,
                                                  p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE sql STABLE AS $$
    WITH c AS MATERIALIZED (
        SELECT liauto.export_campaign(p_caller, p_path, p_query) AS id
    )
    SELECT r.status, r.body
    FROM (SELECT 0 AS part, NULL::timestamptz AS at, NULL::uuid AS id,
                 200 AS status,
                 liauto.csv_line('{id,type,occurred_at,lead_id,'
                                 'public_identifier,profile_url,account_id,'
                                 'external_id,meta}'::text[]) AS body
          FROM c
          UNION ALL
          SELECT 1, e.occurred_at, e.id, NULL,
                 e.id::text
                 || ',' || liauto.csv_field(e.type)
                 || ',' || api.ts(e.occurred_at)
                 || ',' || liauto.csv_field(e.lead_id::text)
                 || ',' || liauto.csv_field(l.public_identifier)
                 || ',' || liauto.csv_field(l.profile_url)
                 || ',' || liauto.csv_field(e.account_id::text)
                 || ',' || liauto.csv_field(e.external_id)
                 || ',' || liauto.csv_field(e.meta::text)
                 || E'\r\n'
          FROM liauto.events AS e
          JOIN liauto.leads AS l ON l.id = e.lead_id
          WHERE e.campaign_id = (SELECT id FROM c)) AS r
    ORDER BY r.part, r.at, r.id
$$;

COMMENT ON FUNCTION api.lead_events_export(jsonb, text[], jsonb, jsonb) IS
    'GET /campaigns/{id}/events/export?format=csv → rows: (200, the header '
    'line), then (NULL, one record) per lead event of the campaign, oldest '
    'first; meta as JSON text.  LIAPI before the first row when refused.';


-- ------------------------------------------------------------------------
-- 2. The tables of the analytics views (CSV and XLSX)
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.answer_fields(p_answer jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    WITH RECURSIVE f (path, sort, value) AS (
        SELECT k, ARRAY[k], v FROM jsonb_each(p_answer) AS e (k, v)
        UNION ALL
        SELECT f.path || '.' || c.k, f.sort || c.s, c.v
        FROM f
        CROSS JOIN LATERAL (
            SELECT o.k, o.k AS s, o.v
            FROM jsonb_each(CASE jsonb_typeof(f.value)
                            WHEN 'object' THEN f.value END) AS o (k, v)
            UNION ALL
            -- array positions sort as numbers: 10 after 9
            SELECT (a.i - 1)::text, lpad(a.i::text, 10, '0'), a.v
            FROM jsonb_array_elements(CASE jsonb_typeof(f.value)
                                      WHEN 'array' THEN f.value END)
                 WITH ORDINALITY AS a (v, i)) AS c
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object('field', f.path,
                                                 'value', f.value)
                              ORDER BY f.sort), '[]')
    FROM f
    WHERE jsonb_typeof(f.value) NOT IN ('object', 'array')
$$;

COMMENT ON FUNCTION liauto.answer_fields(jsonb) IS
    '[{"field","value"}] of a nested answer, one per scalar: field is its '
    'dotted path with 0-based array positions (last_7_days.6.replies).';

CREATE FUNCTION liauto.variant_rows(p_steps jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object('step_index',
                                                 s.step -> 'step_index')
                              || v.variant
                              ORDER BY s.n, v.n), '[]')
    FROM jsonb_array_elements(coalesce(p_steps, '[]'))
         WITH ORDINALITY AS s (step, n),
         jsonb_array_elements(s.step -> 'variants')
         WITH ORDINALITY AS v (variant, n)
$$;

COMMENT ON FUNCTION liauto.variant_rows(jsonb) IS
    'One flat row per step and variant of liauto.variant_stats.';

CREATE FUNCTION liauto.analytics_table(p_view text, p_answer jsonb,
    OUT columns text[], OUT rows jsonb)
LANGUAGE sql IMMUTABLE AS $$
    SELECT t.columns, coalesce(t.rows, '[]')
    FROM (SELECT CASE p_view
                 WHEN 'timeseries' THEN
                     '{day,invites,acceptances,messages,replies}'::text[]
                 WHEN 'rate-usage' THEN
                     '{day,invites,messages,invite_limit,message_limit,'
                     'invite_utilization,message_utilization}'
                 WHEN 'comparative' THEN
                     '{kind,id,name,invites,acceptances,messages,replies,'
                     'acceptance_rate,reply_rate}'
                 WHEN 'variants' THEN
                     '{step_index,variant,text,sent,accepted,'
                     'acceptance_rate,replied,reply_rate}'
                 ELSE '{field,value}'
                 END AS columns,
                 CASE p_view
                 WHEN 'timeseries' THEN p_answer -> 'series'
                 WHEN 'rate-usage' THEN p_answer -> 'series'
                 WHEN 'comparative' THEN (
                     SELECT jsonb_agg(jsonb_build_object(
                                'kind', k.kind,
                                'id', coalesce(r ->> 'campaign_id',
                                               r ->> 'account_id',
                                               r ->> 'client_id')) || r
                                ORDER BY k.n, i)
                     FROM unnest('{campaigns,accounts,clients}'::text[])
                          WITH ORDINALITY AS k (kind, n),
                          jsonb_array_elements(coalesce(p_answer -> k.kind,
                                                        '[]'))
                          WITH ORDINALITY AS a (r, i))
                 WHEN 'variants' THEN
                     liauto.variant_rows(p_answer -> 'steps')
                 ELSE liauto.answer_fields(p_answer)
                 END AS rows) AS t
$$;

COMMENT ON FUNCTION liauto.analytics_table(text, jsonb) IS
    'A view''s answer as a table: timeseries and rate-usage one row per '
    'day, comparative one per campaign, account and client (kind column), '
    'variants one per step and variant, every other view "field,value" '
    '(liauto.answer_fields).';

CREATE OR REPLACE FUNCTION liauto.analytics_csv(p_view text,
                                                p_answer jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT liauto.csv_table(t.rows, t.columns)
    FROM liauto.analytics_table(p_view, p_answer) AS t
$$;

COMMENT ON FUNCTION liauto.analytics_csv(text, jsonb) IS
    'The CSV of a view''s answer: the header, then one record per row of '
    'liauto.analytics_table.';

-- csv_fields is now the "field,value" table of analytics_csv
DROP FUNCTION liauto.csv_fields(jsonb);

CREATE FUNCTION liauto.analytics_variants(p_caller jsonb, p_id uuid,
                                          p_query jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_campaign  liauto.campaigns;
BEGIN
    PERFORM liauto.analytics_query(p_query, '{}');
    v_campaign := liauto.find_campaign(p_caller, p_id);
    RETURN jsonb_build_object('campaign_id', v_campaign.id,
                              'steps', liauto.variant_stats(v_campaign));
END
$$;

COMMENT ON FUNCTION liauto.analytics_variants(jsonb, uuid, jsonb) IS
    'The answer of GET /campaigns/{id}/analytics/variants as a view, for '
    'the exports.';

CREATE OR REPLACE FUNCTION liauto.analytics_view(p_view text,
                                                 p_caller jsonb,
                                                 p_id uuid, p_query jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    CASE p_view
    WHEN 'summary' THEN
        RETURN liauto.analytics_summary(p_caller, p_id, p_query);
    WHEN 'timeseries' THEN
        RETURN liauto.analytics_timeseries(p_caller, p_id, p_query);
    WHEN 'rate-usage' THEN
        RETURN liauto.analytics_rate_usage(p_caller, p_id, p_query);
    WHEN 'funnel' THEN
        RETURN liauto.analytics_funnel(p_caller, p_id, p_query);
    WHEN 'real-time' THEN
        RETURN liauto.analytics_real_time(p_caller, p_id, p_query);
    WHEN 'comparative' THEN
        RETURN liauto.analytics_comparative(p_caller, p_id, p_query);
    WHEN 'variants' THEN
        RETURN liauto.analytics_variants(p_caller, p_id, p_query);
    END CASE;
END
$$;

CREATE OR REPLACE FUNCTION api.analytics_export(p_caller jsonb,
                                                p_path text[],
                                                p_query jsonb,
                                                p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_view      text := p_query ->> 'view';
    v_query     jsonb := p_query - '{format,view,id}'::text[];
    v_envelope  text;
BEGIN
    IF coalesce(p_query ->> 'format', 'csv') <> 'csv' THEN
        PERFORM api.raise_error(400, 'BAD_REQUEST',
                                'invalid query parameters',
                                '{"format": "must be csv"}');
    ELSIF v_view IS NULL OR v_view NOT IN ('summary', 'timeseries',
                                           'funnel', 'rate-usage',
                                           'comparative', 'real-time',
                                           'variants') THEN
        PERFORM api.raise_error(400, 'BAD_REQUEST',
            'invalid query parameters',
            '{"view": "must be one of: summary, timeseries, funnel, '
            'rate-usage, comparative, real-time, variants"}');
    ELSIF v_view <> 'real-time'
          AND api.query_uuid(p_query, 'id') IS NULL THEN
        PERFORM api.raise_error(400, 'BAD_REQUEST',
            'invalid query parameters',
            '{"id": "is required: the campaign (account for rate-usage, '
            'client for comparative)"}');
    END IF;

    RETURN QUERY SELECT 200, liauto.analytics_csv(v_view,
        liauto.analytics_view(v_view, p_caller,
                              api.query_uuid(p_query, 'id'), v_query));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.analytics_export(jsonb, text[], jsonb, jsonb) IS
    'GET /analytics/export?format=csv&view=<view>&id=<uuid>&<the view''s '
    'parameters> → 200 text/csv (liauto.analytics_csv), or the view''s '
    'error envelope.  Every view: summary, timeseries, funnel, variants '
    '(id: campaign), rate-usage (account), comparative (client), '
    'real-time (no id; its own client_id).  One row: a view''s answer is '
    'small (at most 365 days, 50 events).';


-- ------------------------------------------------------------------------
-- 3. The XLSX report of a campaign
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.report_sheet(p_name text, p_view text,
                                    p_answer jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('name', p_name, 'columns', t.columns,
                              'rows', t.rows)
    FROM liauto.analytics_table(p_view, p_answer) AS t
$$;

COMMENT ON FUNCTION liauto.report_sheet(text, text, jsonb) IS
    'One sheet of the report: {"name","columns","rows":[{column: value}]}.';

CREATE FUNCTION liauto.campaign_report(p_caller jsonb, p_id uuid,
                                       p_query jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_campaign  liauto.campaigns;
    v_funnel    jsonb;
    v_accounts  jsonb;
    v_variants  jsonb;
BEGIN
    PERFORM liauto.analytics_query(p_query, '{days}');
    v_campaign := liauto.find_campaign(p_caller, p_id);
    v_funnel := liauto.analytics_funnel(p_caller, p_id, '{}');

    -- the accounts of the campaign's client, as comparative counts them
    SELECT jsonb_build_object('accounts',
                              c.answer -> 'accounts') INTO v_accounts
    FROM (SELECT liauto.analytics_comparative(p_caller,
                     v_campaign.client_id, p_query) AS answer) AS c;

    v_variants := liauto.analytics_variants(p_caller, p_id, '{}');

    RETURN jsonb_build_array(
        liauto.report_sheet('summary', 'summary',
            liauto.analytics_summary(p_caller, p_id, p_query)),
        liauto.report_sheet('timeseries', 'timeseries',
            liauto.analytics_timeseries(p_caller, p_id, p_query)),
        liauto.report_sheet('funnel', 'funnel',
            v_funnel - '{time_to_acceptance,time_to_first_reply,'
                       'replies_by_step}'::text[]),
        liauto.report_sheet('timings', 'funnel',
            jsonb_build_object(
                'time_to_acceptance', v_funnel -> 'time_to_acceptance',
                'time_to_first_reply', v_funnel -> 'time_to_first_reply')),
        jsonb_build_object('name', 'replies by step',
                           'columns', '{step,leads}'::text[],
                           'rows', v_funnel -> 'replies_by_step'),
        liauto.report_sheet('accounts', 'comparative', v_accounts))
        || CASE WHEN jsonb_array_length(v_variants -> 'steps') > 0
                THEN jsonb_build_array(liauto.report_sheet(
                         'variants', 'variants', v_variants))
                ELSE '[]'
           END;
END
$$;

COMMENT ON FUNCTION liauto.campaign_report(jsonb, uuid, jsonb) IS
    'The sheets of a campaign''s report, each the table of an analytics '
    'view: summary, timeseries (?days=, default 30), funnel, timings (time '
    'to acceptance and first reply), replies by step, accounts (per '
    'account of the client, comparative''s counts over the same days) and '
    'variants when the sequence has any.';

CREATE FUNCTION api.analytics_report(p_caller jsonb, p_path text[],
                                     p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_envelope  text;
BEGIN
    RETURN QUERY SELECT * FROM api.ok(200, jsonb_build_object(
        'sheets', liauto.campaign_report(p_caller, liauto.path_id(p_path),
                                         p_query)));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.analytics_report(jsonb, text[], jsonb, jsonb) IS
    'GET /campaigns/{id}/analytics/report.xlsx?days=N: {"sheets": [...]} '
    '(liauto.campaign_report), which the module writes as an XLSX '
    'workbook (ngx_liauto_xlsx.c).';
