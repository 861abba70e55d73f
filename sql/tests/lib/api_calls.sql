-- Helpers of the API tests (sql/tests/0009–0011), included with \ir inside
-- their transaction: pg_temp functions to call a route function and read
-- its answer, follow a list's cursors, and the callers of two tenants.

-- Calls a route function: {"status": n, "body": JSON body or its text}.
-- A streamed export answers in rows (the status on the first, the body in
-- pieces) and refuses with a LIAPI raise: both as the module sees them.
CREATE FUNCTION pg_temp.call(p_fn text, p_caller jsonb,
                             p_path text[] DEFAULT '{}',
                             p_query jsonb DEFAULT '{}',
                             p_body jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_status    integer;
    v_body      text;
    v_envelope  text;
BEGIN
    BEGIN
        EXECUTE format('SELECT min(status), string_agg(body, '''' ORDER BY n)'
                       ' FROM %s($1, $2, $3, $4) WITH ORDINALITY'
                       ' AS f (status, body, n)', p_fn)
        INTO v_status, v_body USING p_caller, p_path, p_query, p_body;
    EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
        GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
        SELECT e.status, e.body INTO v_status, v_body
        FROM api.error_from(v_envelope) AS e;
    END;
    RETURN jsonb_build_object('status', v_status, 'body',
        CASE WHEN v_body ~ '^[\[{]' THEN v_body::jsonb
             ELSE to_jsonb(v_body) END);
END
$$;

-- {"status", "code", "details"} of an answer, to compare errors whole.
CREATE FUNCTION pg_temp.err(p_answer jsonb) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT jsonb_build_object('status', p_answer -> 'status',
                              'code', p_answer #> '{body,code}',
                              'details', p_answer #> '{body,details}')
$$;

-- The 422 answer with these field errors.
CREATE FUNCTION pg_temp.invalid(p_details jsonb) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT jsonb_build_object('status', 422, 'code', 'VALIDATION_FAILED',
                              'details', p_details)
$$;

-- The ids of a list answer, in order.
CREATE FUNCTION pg_temp.ids(p_answer jsonb) RETURNS text[]
LANGUAGE sql AS $$
    SELECT coalesce(array_agg(d ->> 'id' ORDER BY n), '{}')
    FROM jsonb_array_elements(p_answer #> '{body,data}')
         WITH ORDINALITY AS e (d, n)
$$;

-- Every id of a list, following next_cursor page by page.
CREATE FUNCTION pg_temp.walk(p_fn text, p_caller jsonb, p_query jsonb,
                             p_path text[] DEFAULT '{}')
RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    v_ids     text[] := '{}';
    v_answer  jsonb;
    v_query   jsonb := p_query;
BEGIN
    LOOP
        v_answer := pg_temp.call(p_fn, p_caller, p_path, v_query);
        v_ids := v_ids || pg_temp.ids(v_answer);
        EXIT WHEN v_answer #>> '{body,next_cursor}' IS NULL
                  OR cardinality(v_ids) > 100;
        v_query := p_query || jsonb_build_object(
                                  'cursor', v_answer #>> '{body,next_cursor}');
    END LOOP;
    RETURN v_ids;
END
$$;

CREATE FUNCTION pg_temp.admin() RETURNS jsonb LANGUAGE sql AS $$
    SELECT '{"sub": "00000000-0000-0000-0000-0000000000ad",
             "role": "admin", "client_id": null}'::jsonb $$;
CREATE FUNCTION pg_temp.agent_a() RETURNS jsonb LANGUAGE sql AS $$
    SELECT '{"sub": "a1000000-0000-0000-0000-000000000001",
             "role": "agent",
             "client_id": "a0000000-0000-0000-0000-000000000001"}'::jsonb $$;
CREATE FUNCTION pg_temp.viewer_a() RETURNS jsonb LANGUAGE sql AS $$
    SELECT '{"sub": "a1000000-0000-0000-0000-000000000002",
             "role": "viewer",
             "client_id": "a0000000-0000-0000-0000-000000000001"}'::jsonb $$;
CREATE FUNCTION pg_temp.agent_b() RETURNS jsonb LANGUAGE sql AS $$
    SELECT '{"sub": "b1000000-0000-0000-0000-000000000001",
             "role": "agent",
             "client_id": "b0000000-0000-0000-0000-000000000001"}'::jsonb $$;
