-- 0033_edge_perf: the page and GET paths of the API, cheaper in Postgres
-- with byte-identical answers.
--
-- A 50-lead page (GET /leads?limit=50) cost ~1,100 us of backend CPU
-- against ~25 us for GET /leads/{id} (bench fixtures, 10,000 leads).
-- Measured per 10,000 leads: lead_json 5.1 us a row, its jsonb -> text
-- 1.7 us, and jsonb_agg 7 us a row more on top (it re-reads every
-- element token by token into a new jsonb), against 0.1 us for
-- string_agg of the elements' text. A jsonb array's text is its
-- elements' text joined by ', ' between brackets, and a jsonb object
-- {"data": .., "next_cursor": ..} is written key by key the same way, so
-- api.keyset_page now builds the page's text from the rows' text: same
-- bytes, without the array and envelope ever being jsonb.

CREATE OR REPLACE FUNCTION api.keyset_page(p_params api.list_query,
                                           p_table regclass, p_json text,
                                           p_where text, p_args jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_type   text;
    v_key    text;
    v_after  text := '';
    v_cmp    text := CASE p_params."order" WHEN 'asc' THEN '>' ELSE '<' END;
    v_order  text;
    v_page   record;
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
            EXECUTE format('SELECT $1::%s', v_type)
            USING p_params.cursor ->> 0;
        EXCEPTION WHEN data_exception THEN
            PERFORM api.raise_error(400, 'BAD_REQUEST', 'invalid cursor',
                                    '{"cursor": "invalid cursor"}');
        END;
        v_after := format('AND (%s, t.id) %s ($2::%s, $3::uuid)',
                          v_key, v_cmp, v_type);
    END IF;

    -- Only identifiers and keywords chosen by this function and SQL text
    -- written by the calling api function are spliced in; every value the
    -- client sent travels as $1 (p_args), $2 and $3. The window orders
    -- like the page, so the index that gives the order still stops the
    -- scan after limit + 1 rows. Each row's representation is cast to
    -- jsonb (a no-op for the jsonb ones) so its text is jsonb's.
    v_order := format('%s %s, t.id %s', v_key, p_params."order",
                      p_params."order");
    EXECUTE format(
        'SELECT ''['' || coalesce(string_agg(p.obj, '', '' ORDER BY p.n)'
        '                   FILTER (WHERE p.n <= %1$s), '''') || '']'''
        '           AS data,'
        '       count(*) > %1$s AS more,'
        '       (array_agg(p.sort_value) FILTER (WHERE p.n = %1$s))[1]'
        '           AS last_value,'
        '       (array_agg(p.id) FILTER (WHERE p.n = %1$s))[1] AS last_id '
        'FROM (SELECT (%2$s)::jsonb::text AS obj,'
        '             to_jsonb(%3$s) AS sort_value, t.id,'
        '             row_number() OVER (ORDER BY %4$s) AS n'
        '      FROM %5$s AS t WHERE (%6$s) %7$s'
        '      ORDER BY %4$s LIMIT %1$s + 1) AS p',
        p_params."limit", p_json, v_key, v_order, p_table, p_where, v_after)
    INTO v_page
    USING p_args, p_params.cursor ->> 0, p_params.cursor ->> 1;

    -- the text of jsonb_build_object('data', .., 'next_cursor', ..)
    RETURN QUERY SELECT 200, '{"data": ' || v_page.data
        || ', "next_cursor": '
        || coalesce(to_jsonb(CASE WHEN v_page.more
                                  THEN api.encode_cursor(v_page.last_value,
                                                         v_page.last_id,
                                                         p_params.sort,
                                                         p_params."order")
                             END)::text, 'null')
        || '}';
END
$$;
