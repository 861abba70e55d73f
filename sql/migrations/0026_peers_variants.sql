-- 0026: A/B variants (issue 8). A step may carry 2-5 alternative texts
-- ("variants": notes of an invite or texts of a message) instead of one;
-- each lead gets one of them for that step, chosen by a seeded hash of the
-- lead and the step (uniform, reproducible, recorded in the action's
-- payload and in the sent event's meta), and the campaign's variant
-- analytics report acceptance and reply rates per variant.
--
-- The checks and the payload of a plain step are unchanged: the earlier
-- functions are kept under a new name and wrapped, not copied.

ALTER TABLE liauto.campaigns
    ADD COLUMN variant_seed bigint NOT NULL
        DEFAULT (random() * 9007199254740991)::bigint;

COMMENT ON COLUMN liauto.campaigns.variant_seed IS
    'Seed of liauto.step_variant: with it, which lead gets which variant '
    'is fixed and reproducible (tests set it).';

CREATE FUNCTION liauto.step_variant(p_seed bigint, p_lead_id uuid,
                                    p_step integer, p_count integer)
RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT (abs(hashtextextended(p_lead_id::text || ':' || p_step, p_seed))
            % p_count)::integer
$$;

COMMENT ON FUNCTION liauto.step_variant(bigint, uuid, integer, integer) IS
    'The 0-based variant a lead gets at a step with p_count variants: a '
    'seeded 64-bit hash of (lead, step), so uniform and the same on every '
    'call.';

-- The template field of a step kind: the invite's note, a message's text.
CREATE FUNCTION liauto.step_text_field(p_step integer) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN p_step = 0 THEN 'note' ELSE 'text' END
$$;

COMMENT ON FUNCTION liauto.step_text_field(integer) IS
    'Where a step''s template lives: "note" (step 0, the invite) or "text".';

ALTER FUNCTION liauto.sequence_errors(jsonb)
    RENAME TO sequence_single_text_errors;

CREATE FUNCTION liauto.sequence_errors(p_steps jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_errors  jsonb := '{}';
    v_plain   jsonb := '[]';
    v_step    jsonb;
    v_index   integer;
    v_field   text;
    v_at      text;
    v_variant jsonb;
    v_n       integer;
    v_single  jsonb;
BEGIN
    IF jsonb_typeof(p_steps) IS DISTINCT FROM 'array' THEN
        RETURN liauto.sequence_single_text_errors(p_steps);
    END IF;

    -- Each step with variants is checked as the plain step of each of its
    -- variants, its errors named steps[i].variants[j].
    FOR v_step, v_index IN
        SELECT s, n - 1 FROM jsonb_array_elements(p_steps)
                             WITH ORDINALITY AS e (s, n)
    LOOP
        v_field := liauto.step_text_field(v_index);
        v_at := format('steps[%s]', v_index);
        IF jsonb_typeof(v_step) <> 'object' OR NOT v_step ? 'variants' THEN
            v_plain := v_plain || jsonb_build_array(v_step);
            CONTINUE;
        END IF;

        v_plain := v_plain || jsonb_build_array(
            (v_step - 'variants') || jsonb_build_object(v_field, 'x'));
        IF v_step ? v_field THEN
            v_errors := v_errors || jsonb_build_object(v_at || '.variants',
                format('give either %s or variants, not both', v_field));
        ELSIF jsonb_typeof(v_step -> 'variants') IS DISTINCT FROM 'array'
              OR jsonb_array_length(v_step -> 'variants') NOT BETWEEN 2 AND 5
        THEN
            v_errors := v_errors || jsonb_build_object(v_at || '.variants',
                'must be a list of 2 to 5 texts');
        ELSE
            FOR v_variant, v_n IN
                SELECT x, n - 1 FROM jsonb_array_elements(v_step -> 'variants')
                                     WITH ORDINALITY AS e (x, n)
            LOOP
                -- the variant as the only step at this index
                v_single := liauto.sequence_single_text_errors(
                    (SELECT jsonb_agg(CASE WHEN k = v_index
                                           THEN jsonb_build_object(
                                                    'type', v_step -> 'type',
                                                    'delay_days', 0,
                                                    v_field, v_variant)
                                           ELSE jsonb_build_object(
                                                    'type', 'message',
                                                    'delay_days', 0,
                                                    'text', 'x') END
                                      ORDER BY k)
                     FROM generate_series(0, v_index) AS k));
                v_errors := v_errors || coalesce(
                    (SELECT jsonb_object_agg(
                                format('%s.variants[%s]', v_at, v_n),
                                e.value)
                     FROM jsonb_each(v_single) AS e
                     WHERE e.key = v_at || '.' || v_field), '{}');
            END LOOP;
            IF (SELECT count(DISTINCT x) < count(*)
                FROM jsonb_array_elements(v_step -> 'variants') AS x)
            THEN
                v_errors := v_errors || jsonb_build_object(
                    v_at || '.variants', 'variants must differ');
            END IF;
        END IF;
    END LOOP;

    RETURN liauto.sequence_single_text_errors(v_plain) || v_errors;
END
$$;

COMMENT ON FUNCTION liauto.sequence_errors(jsonb) IS
    'Field errors of a steps array, empty when valid: the rules of '
    'liauto.sequence_single_text_errors, and a step may give "variants" '
    '(2 to 5 distinct notes or texts, each checked like the single one, '
    'errors named steps[i].variants[j]) instead of its note or text.';

ALTER FUNCTION liauto.action_payload(liauto.leads, liauto.campaigns,
                                     liauto.linkedin_accounts, integer)
    RENAME TO single_text_payload;

CREATE FUNCTION liauto.action_payload(p_lead liauto.leads,
                                      p_campaign liauto.campaigns,
                                      p_account liauto.linkedin_accounts,
                                      p_step integer)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT liauto.single_text_payload(p_lead, p_campaign, p_account, p_step)
           || coalesce(
               (SELECT jsonb_build_object('template', v.variants ->> v.n,
                                          'variant', v.n)
                FROM (SELECT vs AS variants,
                             liauto.step_variant(p_campaign.variant_seed,
                                                 p_lead.id, p_step,
                                                 jsonb_array_length(vs)) AS n
                      FROM (SELECT p_campaign.sequence -> p_step -> 'variants'
                                   AS vs) AS s
                      WHERE jsonb_typeof(vs) = 'array') AS v),
               '{}')
$$;

COMMENT ON FUNCTION liauto.action_payload(liauto.leads, liauto.campaigns,
                                          liauto.linkedin_accounts, integer)
    IS 'liauto.single_text_payload, and for a step with variants the '
       'lead''s variant (liauto.step_variant) as the template, its index '
       'as "variant".';

ALTER FUNCTION liauto.mark_action_sent(liauto.actions, text, text)
    RENAME TO mark_action_sent_event;

CREATE FUNCTION liauto.mark_action_sent(p_action liauto.actions,
                                        p_external_id text,
                                        p_conversation_id text)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_result  text := liauto.mark_action_sent_event(p_action, p_external_id,
                                                    p_conversation_id);
BEGIN
    -- what the payload says about the text sent (variant here,
    -- note_dropped from 0028) goes into the event
    IF p_action.payload ?| '{variant,note_dropped}' THEN
        UPDATE liauto.events AS e
        SET meta = e.meta || jsonb_strip_nulls(jsonb_build_object(
                       'variant', p_action.payload -> 'variant',
                       'note_dropped', p_action.payload -> 'note_dropped'))
        WHERE e.lead_id = p_action.lead_id
          AND e.type IN ('connection_request_sent', 'message_sent')
          AND e.external_id = p_external_id
          AND e.meta ->> 'action_id' = p_action.id::text;
    END IF;
    RETURN v_result;
END
$$;

COMMENT ON FUNCTION liauto.mark_action_sent(liauto.actions, text, text) IS
    'liauto.mark_action_sent_event, and what the payload says about the '
    'text that was sent recorded in the event''s meta: the variant (the '
    'source of the variant analytics) and, from 0028, why an invite went '
    'without its note.';

-- Per step with variants and per variant: leads sent it, how many of them
-- accepted (an invite's variants) and replied afterwards.
CREATE FUNCTION liauto.variant_stats(p_campaign liauto.campaigns)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    WITH steps AS (
        SELECT s.n - 1 AS step, s.x -> 'variants' AS variants
        FROM jsonb_array_elements(p_campaign.sequence)
             WITH ORDINALITY AS s (x, n)
        WHERE jsonb_typeof(s.x -> 'variants') = 'array'
    ), sent AS (
        SELECT (e.meta ->> 'step_index')::integer AS step,
               (e.meta ->> 'variant')::integer AS variant,
               e.lead_id, min(e.occurred_at) AS at
        FROM liauto.events AS e
        WHERE e.campaign_id = p_campaign.id
          AND e.type IN ('connection_request_sent', 'message_sent')
          AND e.meta ? 'variant'
        GROUP BY 1, 2, 3
    ), counted AS (
        SELECT s.step, s.variant, count(*) AS sent,
               count(*) FILTER (WHERE EXISTS (
                   SELECT 1 FROM liauto.events AS a
                   WHERE a.lead_id = s.lead_id
                     AND a.type IN ('connection_accepted',
                                    'connection_accepted_historical')))
                   AS accepted,
               count(*) FILTER (WHERE EXISTS (
                   SELECT 1 FROM liauto.events AS r
                   WHERE r.lead_id = s.lead_id
                     AND r.type = 'message_received'
                     AND r.occurred_at >= s.at)) AS replied
        FROM sent AS s
        GROUP BY 1, 2
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'step_index', st.step,
               'variants', (
                   SELECT jsonb_agg(jsonb_build_object(
                              'variant', v.n - 1,
                              'text', v.t,
                              'sent', coalesce(c.sent, 0),
                              'accepted', CASE WHEN st.step = 0
                                               THEN coalesce(c.accepted, 0)
                                          END,
                              'acceptance_rate', CASE WHEN st.step = 0 THEN
                                  round(c.accepted::numeric
                                        / nullif(c.sent, 0), 4) END,
                              'replied', coalesce(c.replied, 0),
                              'reply_rate', round(c.replied::numeric
                                                  / nullif(c.sent, 0), 4))
                          ORDER BY v.n)
                   FROM jsonb_array_elements_text(st.variants)
                        WITH ORDINALITY AS v (t, n)
                   LEFT JOIN counted AS c
                          ON c.step = st.step AND c.variant = v.n - 1))
               ORDER BY st.step), '[]')
    FROM steps AS st
$$;

COMMENT ON FUNCTION liauto.variant_stats(liauto.campaigns) IS
    'Variant analytics of a campaign: for each step with variants, per '
    'variant the leads it was sent to, of those how many accepted (invite '
    'step) and replied after it, and the rates (4 decimals; null with '
    'nothing sent).';

CREATE FUNCTION api.campaigns_variants(p_caller jsonb, p_path text[],
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
        'campaign_id', v_campaign.id,
        'steps', liauto.variant_stats(v_campaign)));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.campaigns_variants(jsonb, text[], jsonb, jsonb) IS
    'GET /campaigns/{id}/analytics/variants: liauto.variant_stats.';
