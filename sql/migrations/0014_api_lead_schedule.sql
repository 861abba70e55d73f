-- 0014_api_lead_schedule: GET /leads/{id}/schedule — the lead's next step,
-- when it is expected to run and why it is waiting (liauto.explain_wait
-- of 0005), tenant-scoped like every lead read.

CREATE FUNCTION api.leads_schedule(p_caller jsonb, p_path text[],
                                   p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF coalesce(p_query, '{}') <> '{}' THEN
        RETURN QUERY SELECT * FROM liauto.query_refused(p_query);
        RETURN;
    END IF;
    RETURN QUERY
        SELECT 200, (jsonb_build_object('lead_id', l.id::text,
                                        'status', l.status,
                                        'current_step', l.current_step)
                     || liauto.explain_wait(l.id))::text
        FROM liauto.leads AS l
        WHERE l.id = liauto.path_id(p_path)
          AND api.caller_sees(p_caller, l.client_id);
    IF NOT FOUND THEN
        RETURN QUERY SELECT * FROM api.error(404, 'NOT_FOUND',
                                             'lead not found');
    END IF;
END
$$;

COMMENT ON FUNCTION api.leads_schedule(jsonb, text[], jsonb, jsonb) IS
    'GET /leads/{id}/schedule: {lead_id, status, current_step, next_step, '
    'expected_at, reason, detail} — reason is one of explain_wait''s '
    '(delay, outside_working_hours, weekend, daily_cap, weekly_cap, '
    'account_cooling_off, account_disconnected, waiting_for_acceptance, '
    'campaign_paused, scheduler_paused, finished, responded, error, due).';
