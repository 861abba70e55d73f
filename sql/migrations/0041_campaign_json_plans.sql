-- GET /campaigns/{id} fell from 18,800 to 6,700 req/s in ./build.sh bench
-- once 0036 wrapped liauto.campaign_json: a LANGUAGE sql function with
-- sub-selects is not inlined, so its body (and campaign_sender_ids' inside
-- it) was planned again on every call — 170 us of a 240 us call.  PL/pgSQL
-- keeps the plans for the session; same text, same answers.

CREATE OR REPLACE FUNCTION liauto.campaign_sender_ids(p_campaign_id uuid)
RETURNS uuid[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(s.account_id ORDER BY s.position), '{}')
            FROM liauto.campaign_senders AS s
            WHERE s.campaign_id = p_campaign_id AND s.active);
END
$$;

CREATE OR REPLACE FUNCTION liauto.campaign_json(c liauto.campaigns)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN liauto.campaign_policy_json(c) || jsonb_build_object(
        'sender_account_ids', to_jsonb(liauto.campaign_sender_ids(c.id)),
        'holidays', to_jsonb(ARRAY(SELECT d FROM unnest(c.holidays) AS d
                                   ORDER BY d)),
        'holiday_calendar', c.holiday_calendar);
END
$$;
