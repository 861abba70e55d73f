-- 0018_analytics: incrementally maintained aggregates of liauto.events and
-- the analytics routes of DESIGN §4 (summary, timeseries, rate usage,
-- funnel, real-time, comparative, CSV export).
--
-- Two aggregates, both written only by liauto.count_events():
--
--   campaign_daily_stats  event counts per (campaign, local day of the
--                         campaign's timezone, account).  Counters are
--                         deltas added with INSERT .. ON CONFLICT DO UPDATE,
--                         so concurrent writers never lose a count: the
--                         upsert re-reads the committed row under its lock.
--   lead_milestones       per lead the first time of each milestone
--                         (invited, accepted, messaged, replied), merged
--                         with least(), which is order independent too.
--
-- Concurrency choice: a plain per-row upsert.  Two transactions adding
-- events of one campaign on one day queue on that row until the first
-- commits.  Event rates are bounded by LinkedIn's limits (an account sends
-- ~25 invites and ~100 messages a day; replies arrive at human speed), and
-- the writing transactions (mark_action_sent, webhook processing) are
-- short, so the queue is a few ms at worst.  A delta table with a periodic
-- roll-up would remove the queue but make every read sum the unrolled
-- tail and add a job that must never stop; not worth it at these rates.
-- The statement trigger aggregates a whole INSERT first, so a bulk backfill
-- is one upsert per (campaign, day, account), taken in key order (no
-- deadlock between two bulk writers).  A transaction that inserts events
-- in several statements holds the day rows of the first until it commits;
-- two such transactions crossing the same rows in opposite orders
-- deadlock (Postgres aborts one with 40P01).  The engine records one send
-- per transaction; webhook processing should too, or retry on 40P01.
--
-- Conventions of every analytics answer (openapi/openapi.yaml):
--   * days are local calendar days: a campaign's in its timezone, an
--     account's (rate usage) in the account's; "the last N days" are today
--     and the N-1 days before it, by liauto.now();
--   * rates are numbers rounded to 4 decimals, null when the denominator
--     is 0 (liauto.rate); window rates are ratios of event counts in the
--     same window (replies / messages sent, acceptances / invites sent) and
--     can exceed 1 when earlier invites are accepted in the window; funnel
--     rates are lead-level (a lead counts once) over all time;
--   * timestamps via api.ts, durations in whole seconds.


-- ------------------------------------------------------------------------
-- Aggregates
-- ------------------------------------------------------------------------

CREATE TABLE liauto.campaign_daily_stats (
    campaign_id             uuid NOT NULL
                            REFERENCES liauto.campaigns (id)
                            ON DELETE CASCADE,
    day                     date NOT NULL,
    account_id              uuid,
    client_id               uuid NOT NULL,
    invites                 integer NOT NULL DEFAULT 0,
    acceptances             integer NOT NULL DEFAULT 0,
    acceptances_historical  integer NOT NULL DEFAULT 0,
    messages                integer NOT NULL DEFAULT 0,
    replies                 integer NOT NULL DEFAULT 0,

    CONSTRAINT campaign_daily_stats_key
        UNIQUE NULLS NOT DISTINCT (campaign_id, day, account_id)
);

COMMENT ON TABLE liauto.campaign_daily_stats IS
    'Events per campaign, local day (campaign timezone) and account, kept '
    'by the events_count trigger: invites = connection_request_sent, '
    'acceptances = connection_accepted, acceptances_historical = '
    'connection_accepted_historical, messages = message_sent, replies = '
    'message_received.  Rebuilt for a campaign when its timezone changes. '
    'No CHECK (>= 0) on the counters on purpose: a drift bug must never '
    'block deleting a lead.';
COMMENT ON COLUMN liauto.campaign_daily_stats.account_id IS
    'events.account_id (NULL once the account is deleted); no foreign key: '
    'the events trigger moves the counts when events lose their account.';


CREATE TABLE liauto.lead_milestones (
    lead_id              uuid PRIMARY KEY
                         REFERENCES liauto.leads (id) ON DELETE CASCADE,
    campaign_id          uuid NOT NULL
                         REFERENCES liauto.campaigns (id) ON DELETE CASCADE,
    client_id            uuid NOT NULL,
    invited_at           timestamptz,
    accepted_at          timestamptz,
    connected_before_at  timestamptz,
    messaged_at          timestamptz,
    replied_at           timestamptz,
    reply_step           integer
);

COMMENT ON TABLE liauto.lead_milestones IS
    'First event of each kind per lead (events_count trigger): invited_at '
    '= first connection_request_sent, accepted_at = first '
    'connection_accepted, connected_before_at = first '
    'connection_accepted_historical, messaged_at = first message_sent, '
    'replied_at = first message_received.  The funnel reads it.';
COMMENT ON COLUMN liauto.lead_milestones.reply_step IS
    'meta.step_index of the latest step sent to the lead at or before its '
    'first reply (0 = the invite); NULL when no sent step precedes the '
    'reply.';

-- The funnel reads ~10,000 rows per campaign: covering, so it is an
-- index-only scan; replies by step read only the leads that replied.
CREATE INDEX lead_milestones_campaign_idx
    ON liauto.lead_milestones (campaign_id)
    INCLUDE (invited_at, accepted_at, connected_before_at, messaged_at,
             replied_at);
CREATE INDEX lead_milestones_reply_step_idx
    ON liauto.lead_milestones (campaign_id, reply_step)
    WHERE replied_at IS NOT NULL;


CREATE TYPE liauto.event_delta AS (
    campaign_id  uuid,
    client_id    uuid,
    account_id   uuid,
    lead_id      uuid,
    type         text,
    occurred_at  timestamptz,
    sign         integer
);

COMMENT ON TYPE liauto.event_delta IS
    'One event added (sign 1) or taken away (sign -1), the input of '
    'liauto.count_events.';


-- ------------------------------------------------------------------------
-- Maintenance
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.add_daily_counts(p_deltas liauto.event_delta[])
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO liauto.campaign_daily_stats AS s
        (campaign_id, day, account_id, client_id, invites, acceptances,
         acceptances_historical, messages, replies)
    SELECT d.campaign_id,
           (d.occurred_at AT TIME ZONE c.timezone)::date,
           d.account_id, c.client_id,
           coalesce(sum(d.sign) FILTER (
               WHERE d.type = 'connection_request_sent'), 0),
           coalesce(sum(d.sign) FILTER (
               WHERE d.type = 'connection_accepted'), 0),
           coalesce(sum(d.sign) FILTER (
               WHERE d.type = 'connection_accepted_historical'), 0),
           coalesce(sum(d.sign) FILTER (WHERE d.type = 'message_sent'), 0),
           coalesce(sum(d.sign) FILTER (
               WHERE d.type = 'message_received'), 0)
    FROM unnest(p_deltas) AS d
    -- a campaign deleted in this statement has no row to count into
    JOIN liauto.campaigns AS c ON c.id = d.campaign_id
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3
    ON CONFLICT ON CONSTRAINT campaign_daily_stats_key DO UPDATE
    SET invites = s.invites + excluded.invites,
        acceptances = s.acceptances + excluded.acceptances,
        acceptances_historical = s.acceptances_historical
                                 + excluded.acceptances_historical,
        messages = s.messages + excluded.messages,
        replies = s.replies + excluded.replies
$$;

COMMENT ON FUNCTION liauto.add_daily_counts(liauto.event_delta[]) IS
    'Adds the signed deltas to campaign_daily_stats, one upsert per '
    '(campaign, local day, account), in key order.';

CREATE FUNCTION liauto.event_step(p_meta jsonb) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN p_meta ->> 'step_index' ~ '^[0-9]{1,6}$'
                THEN (p_meta ->> 'step_index')::integer END
$$;

COMMENT ON FUNCTION liauto.event_step(jsonb) IS
    'meta.step_index of a sent event (liauto.mark_action_sent writes it), '
    'NULL when absent or not a small integer: a malformed meta must never '
    'make an event insert fail in the analytics trigger.';

CREATE FUNCTION liauto.merge_milestones(p_deltas liauto.event_delta[])
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO liauto.lead_milestones AS m
        (lead_id, campaign_id, client_id, invited_at, accepted_at,
         connected_before_at, messaged_at, replied_at)
    SELECT d.lead_id,
           (array_agg(d.campaign_id ORDER BY d.occurred_at DESC))[1],
           (array_agg(d.client_id))[1],
           min(d.occurred_at) FILTER (
               WHERE d.type = 'connection_request_sent'),
           min(d.occurred_at) FILTER (WHERE d.type = 'connection_accepted'),
           min(d.occurred_at) FILTER (
               WHERE d.type = 'connection_accepted_historical'),
           min(d.occurred_at) FILTER (WHERE d.type = 'message_sent'),
           min(d.occurred_at) FILTER (WHERE d.type = 'message_received')
    FROM unnest(p_deltas) AS d
    WHERE d.sign > 0
    GROUP BY d.lead_id
    ORDER BY d.lead_id
    ON CONFLICT (lead_id) DO UPDATE
    SET campaign_id = excluded.campaign_id,
        invited_at = least(m.invited_at, excluded.invited_at),
        accepted_at = least(m.accepted_at, excluded.accepted_at),
        connected_before_at = least(m.connected_before_at,
                                    excluded.connected_before_at),
        messaged_at = least(m.messaged_at, excluded.messaged_at),
        replied_at = least(m.replied_at, excluded.replied_at);

    -- The step at the first reply is not mergeable like a minimum; read
    -- it from the lead's few events (events_lead_occurred_idx).
    UPDATE liauto.lead_milestones AS m
    SET reply_step = s.step
    FROM (SELECT m2.lead_id,
                 (SELECT max(liauto.event_step(e.meta))
                  FROM liauto.events AS e
                  WHERE e.lead_id = m2.lead_id
                    AND e.occurred_at <= m2.replied_at
                    AND e.type IN ('connection_request_sent',
                                   'message_sent')) AS step
          FROM liauto.lead_milestones AS m2
          WHERE m2.lead_id IN (SELECT d.lead_id FROM unnest(p_deltas) AS d
                               WHERE d.sign > 0)
            AND m2.replied_at IS NOT NULL) AS s
    WHERE m.lead_id = s.lead_id
      AND m.reply_step IS DISTINCT FROM s.step;
$$;

COMMENT ON FUNCTION liauto.merge_milestones(liauto.event_delta[]) IS
    'Merges added events (sign > 0) into lead_milestones: earliest time '
    'per milestone, then reply_step of the leads touched that replied.';

CREATE FUNCTION liauto.recount_milestones(p_lead_ids uuid[]) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM liauto.lead_milestones WHERE lead_id = ANY (p_lead_ids);

    SELECT liauto.merge_milestones(array_agg(
               (e.campaign_id, e.client_id, e.account_id, e.lead_id, e.type,
                e.occurred_at, 1)::liauto.event_delta))
    FROM liauto.events AS e
    WHERE e.lead_id = ANY (p_lead_ids)
    HAVING count(*) > 0;
$$;

COMMENT ON FUNCTION liauto.recount_milestones(uuid[]) IS
    'Recomputes the milestones of these leads from their events: a '
    'deleted or changed event can move a minimum, which a merge cannot '
    'undo.';

CREATE FUNCTION liauto.count_events(p_deltas liauto.event_delta[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_removed  uuid[];
BEGIN
    IF p_deltas IS NULL THEN
        RETURN;
    END IF;

    PERFORM liauto.add_daily_counts(p_deltas);
    PERFORM liauto.merge_milestones(p_deltas);

    SELECT array_agg(DISTINCT d.lead_id) INTO v_removed
    FROM unnest(p_deltas) AS d WHERE d.sign < 0;
    IF v_removed IS NOT NULL THEN
        PERFORM liauto.recount_milestones(v_removed);
    END IF;
END
$$;

COMMENT ON FUNCTION liauto.count_events(liauto.event_delta[]) IS
    'The one writer of the analytics aggregates: adds event deltas to '
    'campaign_daily_stats and lead_milestones.';

CREATE FUNCTION liauto.events_count() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_added    liauto.event_delta[];
    v_removed  liauto.event_delta[];
BEGIN
    -- Each transition table exists only for its operations; a statement
    -- is planned when it runs, so the other branch never touches it.
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT array_agg((e.campaign_id, e.client_id, e.account_id,
                          e.lead_id, e.type, e.occurred_at,
                          1)::liauto.event_delta)
        INTO v_added FROM added AS e;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT array_agg((e.campaign_id, e.client_id, e.account_id,
                          e.lead_id, e.type, e.occurred_at,
                          -1)::liauto.event_delta)
        INTO v_removed FROM removed AS e;
    END IF;

    PERFORM liauto.count_events(v_added || v_removed);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION liauto.events_count() IS
    'AFTER ... FOR EACH STATEMENT trigger of liauto.events: counts a whole '
    'statement''s rows at once (an update is the old row taken away and '
    'the new one added).';

CREATE TRIGGER events_count_insert AFTER INSERT ON liauto.events
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION liauto.events_count();
CREATE TRIGGER events_count_update AFTER UPDATE ON liauto.events
    REFERENCING OLD TABLE AS removed NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION liauto.events_count();
CREATE TRIGGER events_count_delete AFTER DELETE ON liauto.events
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION liauto.events_count();

CREATE FUNCTION liauto.rebuild_campaign_analytics(p_campaign_id uuid)
RETURNS void
LANGUAGE sql AS $$
    DELETE FROM liauto.campaign_daily_stats WHERE campaign_id = p_campaign_id;
    DELETE FROM liauto.lead_milestones WHERE campaign_id = p_campaign_id;

    SELECT liauto.count_events(array_agg(
               (e.campaign_id, e.client_id, e.account_id, e.lead_id, e.type,
                e.occurred_at, 1)::liauto.event_delta))
    FROM liauto.events AS e
    WHERE e.campaign_id = p_campaign_id;
$$;

COMMENT ON FUNCTION liauto.rebuild_campaign_analytics(uuid) IS
    'Recounts one campaign''s aggregates from its events: the backfill of '
    'this migration, and after a timezone change moves its day '
    'boundaries.  Takes the campaign''s rows lock by lock like any writer.';

CREATE FUNCTION liauto.campaigns_recount() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM liauto.rebuild_campaign_analytics(NEW.id);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION liauto.campaigns_recount() IS
    'AFTER UPDATE OF timezone trigger of liauto.campaigns: the local days '
    'of its daily counts moved.';

CREATE TRIGGER campaigns_analytics_timezone
    AFTER UPDATE OF timezone ON liauto.campaigns
    FOR EACH ROW WHEN (OLD.timezone IS DISTINCT FROM NEW.timezone)
    EXECUTE FUNCTION liauto.campaigns_recount();

SELECT liauto.rebuild_campaign_analytics(c.id) FROM liauto.campaigns AS c;


-- ------------------------------------------------------------------------
-- Shared pieces of the answers
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.rate(p_part numeric, p_whole numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_whole > 0 THEN round(p_part / p_whole, 4) END
$$;

COMMENT ON FUNCTION liauto.rate(numeric, numeric) IS
    'p_part / p_whole rounded to 4 decimals; NULL (JSON null) when the '
    'denominator is 0 or NULL: "no data" is not a rate of 0.';

CREATE FUNCTION liauto.local_today(p_timezone text) RETURNS date
LANGUAGE sql STABLE AS $$
    SELECT (liauto.now() AT TIME ZONE p_timezone)::date
$$;

COMMENT ON FUNCTION liauto.local_today(text) IS
    'Today''s calendar date in p_timezone by the engine clock.';

CREATE FUNCTION liauto.analytics_query(p_query jsonb, p_allowed text[])
RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM jsonb_object_keys(coalesce(p_query, '{}')) AS k
               WHERE k <> ALL (p_allowed))
    THEN
        PERFORM api.raise_error(400, 'BAD_REQUEST',
            'invalid query parameters',
            (SELECT jsonb_object_agg(k, 'unknown parameter')
             FROM jsonb_object_keys(p_query) AS k
             WHERE k <> ALL (p_allowed)));
    END IF;
END
$$;

COMMENT ON FUNCTION liauto.analytics_query(jsonb, text[]) IS
    '400 naming every query parameter not in p_allowed.';

CREATE FUNCTION liauto.query_days(p_query jsonb, p_default integer)
RETURNS integer
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF NOT p_query ? 'days' THEN
        RETURN p_default;
    ELSIF p_query ->> 'days' ~ '^[0-9]{1,3}$'
          AND (p_query ->> 'days')::integer BETWEEN 1 AND 365 THEN
        RETURN (p_query ->> 'days')::integer;
    END IF;
    PERFORM api.raise_error(400, 'BAD_REQUEST', 'invalid query parameters',
        '{"days": "must be an integer between 1 and 365"}');
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION liauto.query_days(jsonb, integer) IS
    'The ?days= window (1..365), p_default when absent, else 400.';

CREATE FUNCTION liauto.campaign_lead_counts(p_campaign_id uuid)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_object_agg(s.name, coalesce(n.count, 0))
    FROM unnest('{pending,invite_sent,connected,messaged,responded,'
                'completed,error,withdrawn,skipped}'::text[]) AS s (name)
    LEFT JOIN (SELECT l.status, count(*)
               FROM liauto.leads AS l
               WHERE l.campaign_id = p_campaign_id
               GROUP BY l.status) AS n
           ON n.status = s.name
$$;

COMMENT ON FUNCTION liauto.campaign_lead_counts(uuid) IS
    '{<every lead status>: n} of a campaign (leads_campaign_status_idx).';

CREATE FUNCTION liauto.campaign_last_activity(p_campaign_id uuid)
RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    -- One backward probe of events_campaign_type_occurred_idx per type
    -- instead of reading every event of the campaign.
    SELECT max(m.at)
    FROM unnest('{connection_request_sent,connection_accepted,'
                'connection_accepted_historical,message_sent,'
                'message_received}'::text[]) AS t (type),
         LATERAL (SELECT max(e.occurred_at) AS at
                  FROM liauto.events AS e
                  WHERE e.campaign_id = p_campaign_id
                    AND e.type = t.type) AS m
$$;

COMMENT ON FUNCTION liauto.campaign_last_activity(uuid) IS
    'Time of the campaign''s latest event, NULL when it has none.';

-- campaigns_status (0006) answers from the same two helpers now.
CREATE OR REPLACE FUNCTION api.campaigns_status(p_caller jsonb,
                                                p_path text[],
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
        'id', v_campaign.id,
        'status', v_campaign.status,
        'leads', liauto.campaign_lead_counts(v_campaign.id),
        'last_activity_at',
        api.ts(liauto.campaign_last_activity(v_campaign.id))));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

CREATE FUNCTION liauto.campaign_days(p_campaign_id uuid, p_from date,
                                     p_to date)
RETURNS TABLE (day date, invites bigint, acceptances bigint,
               messages bigint, replies bigint)
LANGUAGE sql STABLE AS $$
    SELECT g.day::date,
           coalesce(sum(s.invites), 0), coalesce(sum(s.acceptances), 0),
           coalesce(sum(s.messages), 0), coalesce(sum(s.replies), 0)
    FROM generate_series(p_from, p_to, interval '1 day') AS g (day)
    LEFT JOIN liauto.campaign_daily_stats AS s
           ON s.campaign_id = p_campaign_id AND s.day = g.day::date
    GROUP BY g.day
    ORDER BY g.day
$$;

COMMENT ON FUNCTION liauto.campaign_days(uuid, date, date) IS
    'Per local day from p_from to p_to (every day, zero-filled): the '
    'campaign''s invites, acceptances (not historical), messages, replies.';

CREATE FUNCTION liauto.days_json(p_campaign_id uuid, p_from date,
                                 p_to date)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_agg(jsonb_build_object(
               'day', d.day, 'invites', d.invites,
               'acceptances', d.acceptances, 'messages', d.messages,
               'replies', d.replies) ORDER BY d.day)
    FROM liauto.campaign_days(p_campaign_id, p_from, p_to) AS d
$$;

COMMENT ON FUNCTION liauto.days_json(uuid, date, date) IS
    'liauto.campaign_days as a JSON array, oldest day first.';

CREATE FUNCTION liauto.window_json(p_invites numeric, p_acceptances numeric,
                                   p_messages numeric, p_replies numeric)
RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'invites', coalesce(p_invites, 0),
        'acceptances', coalesce(p_acceptances, 0),
        'messages', coalesce(p_messages, 0),
        'replies', coalesce(p_replies, 0),
        'acceptance_rate', liauto.rate(p_acceptances, p_invites),
        'reply_rate', liauto.rate(p_replies, p_messages))
$$;

COMMENT ON FUNCTION liauto.window_json(numeric, numeric, numeric, numeric)
    IS 'Counts of a window and its event-ratio rates (acceptances / '
       'invites, replies / messages).';


-- ------------------------------------------------------------------------
-- The views (each a jsonb answer; the api functions and the export wrap
-- them)
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.duration_json(p_leads bigint,
                                     p_percentiles double precision[])
RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'leads', p_leads,
        'median_seconds', round(p_percentiles[1])::bigint,
        'p90_seconds', round(p_percentiles[2])::bigint)
$$;

COMMENT ON FUNCTION liauto.duration_json(bigint, double precision[]) IS
    '{"leads","median_seconds","p90_seconds"} from the count and the '
    '{0.5, 0.9} percentile_cont of durations (whole seconds; null when '
    'there is none).';

CREATE FUNCTION liauto.funnel_counts(p_campaign_id uuid,
    OUT invited bigint, OUT accepted bigint, OUT messaged bigint,
    OUT replied bigint, OUT milestones jsonb)
LANGUAGE sql STABLE AS $$
    SELECT count(*) FILTER (WHERE m.invited_at IS NOT NULL),
           count(*) FILTER (WHERE m.invited_at IS NOT NULL
                              AND m.accepted_at IS NOT NULL),
           count(*) FILTER (WHERE m.invited_at IS NOT NULL
                              AND m.accepted_at IS NOT NULL
                              AND m.messaged_at IS NOT NULL),
           count(*) FILTER (WHERE m.invited_at IS NOT NULL
                              AND m.accepted_at IS NOT NULL
                              AND m.messaged_at IS NOT NULL
                              AND m.replied_at IS NOT NULL),
           jsonb_build_object(
               'invited', count(m.invited_at),
               'accepted', count(m.accepted_at),
               'connected_before', count(m.connected_before_at),
               'messaged', count(m.messaged_at),
               'replied', count(m.replied_at))
    FROM liauto.lead_milestones AS m
    WHERE m.campaign_id = p_campaign_id
$$;

COMMENT ON FUNCTION liauto.funnel_counts(uuid) IS
    'Strict funnel stages of a campaign''s leads (invited; invited and '
    'accepted; ... and messaged; ... and replied) and the milestones '
    'reached by any path; an index-only scan of '
    'lead_milestones_campaign_idx.';

CREATE FUNCTION liauto.funnel_durations(p_campaign_id uuid,
    OUT to_acceptance jsonb, OUT to_first_reply jsonb)
LANGUAGE sql STABLE AS $$
    SELECT liauto.duration_json(
               count(*) FILTER (WHERE m.accepted_at >= m.invited_at),
               percentile_cont('{0.5,0.9}'::float8[]) WITHIN GROUP (
                   ORDER BY extract(epoch FROM m.accepted_at
                                               - m.invited_at))
               FILTER (WHERE m.accepted_at >= m.invited_at)),
           liauto.duration_json(
               count(*) FILTER (WHERE m.replied_at >= least(m.invited_at,
                                                            m.messaged_at)),
               percentile_cont('{0.5,0.9}'::float8[]) WITHIN GROUP (
                   ORDER BY extract(epoch FROM m.replied_at
                                               - least(m.invited_at,
                                                       m.messaged_at)))
               FILTER (WHERE m.replied_at >= least(m.invited_at,
                                                   m.messaged_at)))
    FROM liauto.lead_milestones AS m
    WHERE m.campaign_id = p_campaign_id
$$;

COMMENT ON FUNCTION liauto.funnel_durations(uuid) IS
    'Time to acceptance (accepted_at - invited_at) and to first reply '
    '(replied_at - first outbound touch) of a campaign''s leads: a second '
    'index-only pass, apart from funnel_counts so that the summary does '
    'not pay for the percentile sorts.';

CREATE FUNCTION liauto.analytics_summary(p_caller jsonb, p_id uuid,
                                         p_query jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_campaign  liauto.campaigns;
    v_days      integer;
    v_today     date;
    v_funnel    record;
    v_window    jsonb;
BEGIN
    PERFORM liauto.analytics_query(p_query, '{days}');
    v_days := liauto.query_days(p_query, 30);
    v_campaign := liauto.find_campaign(p_caller, p_id);
    v_today := liauto.local_today(v_campaign.timezone);
    v_funnel := liauto.funnel_counts(v_campaign.id);

    SELECT liauto.window_json(sum(s.invites), sum(s.acceptances),
                              sum(s.messages), sum(s.replies))
    INTO v_window
    FROM liauto.campaign_daily_stats AS s
    WHERE s.campaign_id = v_campaign.id
      AND s.day BETWEEN v_today - (v_days - 1) AND v_today;

    RETURN jsonb_build_object(
        'campaign_id', v_campaign.id,
        'name', v_campaign.name,
        'status', v_campaign.status,
        'timezone', v_campaign.timezone,
        'leads', liauto.campaign_lead_counts(v_campaign.id),
        'last_activity_at',
        api.ts(liauto.campaign_last_activity(v_campaign.id)),
        'last_7_days', liauto.days_json(v_campaign.id, v_today - 6, v_today),
        'window', v_window || jsonb_build_object(
            'days', v_days, 'from', v_today - (v_days - 1), 'to', v_today),
        'lead_acceptance_rate', liauto.rate(v_funnel.accepted,
                                            v_funnel.invited));
END
$$;

COMMENT ON FUNCTION liauto.analytics_summary(jsonb, uuid, jsonb) IS
    'GET /campaigns/{id}/analytics/summary?days=N (default 30).';

CREATE FUNCTION liauto.analytics_timeseries(p_caller jsonb, p_id uuid,
                                            p_query jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_campaign  liauto.campaigns;
    v_days      integer;
    v_today     date;
BEGIN
    PERFORM liauto.analytics_query(p_query, '{days}');
    v_days := liauto.query_days(p_query, 30);
    v_campaign := liauto.find_campaign(p_caller, p_id);
    v_today := liauto.local_today(v_campaign.timezone);

    RETURN jsonb_build_object(
        'campaign_id', v_campaign.id,
        'timezone', v_campaign.timezone,
        'days', v_days,
        'from', v_today - (v_days - 1),
        'to', v_today,
        'series', liauto.days_json(v_campaign.id, v_today - (v_days - 1),
                                   v_today));
END
$$;

COMMENT ON FUNCTION liauto.analytics_timeseries(jsonb, uuid, jsonb) IS
    'GET /campaigns/{id}/analytics/timeseries?days=N (1..365, default '
    '30).';

CREATE FUNCTION liauto.analytics_rate_usage(p_caller jsonb, p_id uuid,
                                            p_query jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_account  liauto.linkedin_accounts;
    v_days     integer;
    v_today    date;
BEGIN
    PERFORM liauto.analytics_query(p_query, '{days}');
    v_days := liauto.query_days(p_query, 7);
    v_account := liauto.find_account(p_caller, p_id);
    v_today := liauto.local_today(v_account.timezone);

    RETURN jsonb_build_object(
        'account_id', v_account.id,
        'name', v_account.name,
        'timezone', v_account.timezone,
        'days', v_days,
        'from', v_today - (v_days - 1),
        'to', v_today,
        'limits', jsonb_build_object(
            'daily_invite_limit', v_account.daily_invite_limit,
            'daily_message_limit', v_account.daily_message_limit,
            'weekly_invite_limit', v_account.weekly_invite_limit),
        'series', (
            SELECT jsonb_agg(jsonb_build_object(
                       'day', g.day::date,
                       'invites', coalesce(u.invites, 0),
                       'messages', coalesce(u.messages, 0),
                       'invite_limit', v_account.daily_invite_limit,
                       'message_limit', v_account.daily_message_limit,
                       'invite_utilization',
                       liauto.rate(coalesce(u.invites, 0),
                                   v_account.daily_invite_limit),
                       'message_utilization',
                       liauto.rate(coalesce(u.messages, 0),
                                   v_account.daily_message_limit))
                       ORDER BY g.day)
            FROM generate_series(v_today - (v_days - 1), v_today,
                                 interval '1 day') AS g (day)
            LEFT JOIN liauto.rate_usage AS u
                   ON u.account_id = v_account.id
                  AND u.day = g.day::date));
END
$$;

COMMENT ON FUNCTION liauto.analytics_rate_usage(jsonb, uuid, jsonb) IS
    'GET /analytics/accounts/{id}/rate-usage?days=N (1..365, default 7): '
    'budget units used per local day of the account (liauto.rate_usage) '
    'against its current daily limits (limits keep no history).';

CREATE FUNCTION liauto.analytics_funnel(p_caller jsonb, p_id uuid,
                                        p_query jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_campaign  liauto.campaigns;
    v_f         record;
    v_times     record;
    v_by_step   jsonb;
BEGIN
    PERFORM liauto.analytics_query(p_query, '{}');
    v_campaign := liauto.find_campaign(p_caller, p_id);
    v_f := liauto.funnel_counts(v_campaign.id);
    v_times := liauto.funnel_durations(v_campaign.id);

    SELECT coalesce(jsonb_agg(jsonb_build_object('step', r.step,
                                                 'leads', r.leads)
                              ORDER BY r.step NULLS LAST), '[]')
    INTO v_by_step
    FROM (SELECT m.reply_step AS step, count(*) AS leads
          FROM liauto.lead_milestones AS m
          WHERE m.campaign_id = v_campaign.id
            AND m.replied_at IS NOT NULL
          GROUP BY m.reply_step) AS r;

    RETURN jsonb_build_object(
        'campaign_id', v_campaign.id,
        'stages', jsonb_build_array(
            jsonb_build_object('stage', 'invited', 'leads', v_f.invited,
                               'conversion_rate', NULL),
            jsonb_build_object('stage', 'accepted', 'leads', v_f.accepted,
                               'conversion_rate',
                               liauto.rate(v_f.accepted, v_f.invited)),
            jsonb_build_object('stage', 'messaged', 'leads', v_f.messaged,
                               'conversion_rate',
                               liauto.rate(v_f.messaged, v_f.accepted)),
            jsonb_build_object('stage', 'replied', 'leads', v_f.replied,
                               'conversion_rate',
                               liauto.rate(v_f.replied, v_f.messaged))),
        'overall_conversion_rate', liauto.rate(v_f.replied, v_f.invited),
        'milestones', v_f.milestones,
        'time_to_acceptance', v_times.to_acceptance,
        'time_to_first_reply', v_times.to_first_reply,
        'replies_by_step', v_by_step);
END
$$;

COMMENT ON FUNCTION liauto.analytics_funnel(jsonb, uuid, jsonb) IS
    'GET /analytics/campaigns/{id}/funnel: lead-level, all time, from '
    'lead_milestones.  Stages are strict (a stage counts the leads of the '
    'previous one that reached it), conversion_rate is stage / previous '
    'stage.  time_to_acceptance: accepted_at - invited_at; '
    'time_to_first_reply: replied_at - first outbound touch (invite or '
    'message).  replies_by_step: replied leads per reply_step.';

CREATE FUNCTION liauto.realtime_clients(p_caller jsonb, p_query jsonb)
RETURNS uuid[]
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_asked  uuid := api.query_uuid(p_query, 'client_id');
    v_ids    uuid[];
BEGIN
    SELECT array_agg(c.id) INTO v_ids
    FROM liauto.clients AS c
    WHERE api.caller_sees(p_caller, c.id)
      AND (v_asked IS NULL OR c.id = v_asked);
    IF v_asked IS NOT NULL AND v_ids IS NULL THEN
        PERFORM api.raise_error(404, 'NOT_FOUND', 'client not found');
    END IF;
    RETURN coalesce(v_ids, '{}');
END
$$;

COMMENT ON FUNCTION liauto.realtime_clients(jsonb, jsonb) IS
    'The clients a real-time answer covers: ?client_id= if the caller may '
    'see it (else 404), otherwise every client the caller sees (its own; '
    'all of them for an admin).';

CREATE FUNCTION liauto.type_counts(p_client_ids uuid[], p_from timestamptz,
                                   p_to timestamptz)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_object_agg(t.type, coalesce(n.count, 0))
    FROM unnest('{connection_request_sent,connection_accepted,'
                'connection_accepted_historical,message_sent,'
                'message_received}'::text[]) AS t (type)
    LEFT JOIN (SELECT e.type, count(*)
               FROM unnest(p_client_ids) AS c (id)
               JOIN liauto.events AS e
                 ON e.client_id = c.id
                AND e.occurred_at >= p_from AND e.occurred_at <= p_to
               GROUP BY e.type) AS n
           ON n.type = t.type
$$;

COMMENT ON FUNCTION liauto.type_counts(uuid[], timestamptz, timestamptz) IS
    '{<every event type>: n} of these clients'' events in [p_from, p_to] '
    '(events_client_occurred_idx, one range per client).';

CREATE FUNCTION liauto.today_counts(p_client_ids uuid[]) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'connection_request_sent', coalesce(sum(s.invites), 0),
        'connection_accepted', coalesce(sum(s.acceptances), 0),
        'connection_accepted_historical',
        coalesce(sum(s.acceptances_historical), 0),
        'message_sent', coalesce(sum(s.messages), 0),
        'message_received', coalesce(sum(s.replies), 0))
    FROM liauto.campaigns AS c
    JOIN liauto.campaign_daily_stats AS s
      ON s.campaign_id = c.id AND s.day = liauto.local_today(c.timezone)
    WHERE c.client_id = ANY (p_client_ids)
$$;

COMMENT ON FUNCTION liauto.today_counts(uuid[]) IS
    '{<every event type>: n} of these clients'' campaigns on each '
    'campaign''s local today (campaign_daily_stats: one row per campaign '
    'and account, however busy the day).';

CREATE FUNCTION liauto.analytics_real_time(p_caller jsonb, p_id uuid,
                                           p_query jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_clients  uuid[];
    v_now      timestamptz := liauto.now();
BEGIN
    PERFORM liauto.analytics_query(p_query, '{client_id}');
    v_clients := liauto.realtime_clients(p_caller, p_query);

    RETURN jsonb_build_object(
        'client_id', api.query_uuid(p_query, 'client_id'),
        'now', api.ts(v_now),
        'last_hour', liauto.type_counts(v_clients,
                                        v_now - interval '1 hour', v_now),
        'today', liauto.today_counts(v_clients),
        'recent_events', (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'id', r.id, 'type', r.type,
                       'occurred_at', api.ts(r.occurred_at),
                       'client_id', r.client_id,
                       'campaign_id', r.campaign_id,
                       'lead_id', r.lead_id,
                       'account_id', r.account_id)
                       ORDER BY r.occurred_at DESC, r.id DESC), '[]')
            FROM (SELECT e.*
                  FROM unnest(v_clients) AS c (id)
                  -- the latest 50 of each client, then of them all: one
                  -- short backward index scan per client
                  CROSS JOIN LATERAL (
                      SELECT * FROM liauto.events AS e
                      WHERE e.client_id = c.id AND e.occurred_at <= v_now
                      ORDER BY e.occurred_at DESC, e.id DESC
                      LIMIT 50) AS e
                  ORDER BY e.occurred_at DESC, e.id DESC
                  LIMIT 50) AS r));
END
$$;

COMMENT ON FUNCTION liauto.analytics_real_time(jsonb, uuid, jsonb) IS
    'GET /analytics/real-time?client_id=: event counts per type in the '
    'last hour and on today''s local day of each campaign, and the 50 '
    'latest events (not after now), of the clients of '
    'liauto.realtime_clients.';

CREATE FUNCTION liauto.query_clients(p_caller jsonb, p_query jsonb)
RETURNS uuid[]
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_items  text[];
    v_ids    uuid[];
BEGIN
    IF NOT p_query ? 'clients' THEN
        RETURN '{}';
    END IF;

    v_items := string_to_array(p_query ->> 'clients', ',');
    IF cardinality(v_items) NOT BETWEEN 1 AND 20
       OR EXISTS (SELECT 1 FROM unnest(v_items) AS i
                  WHERE i !~* '^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$')
    THEN
        PERFORM api.raise_error(400, 'BAD_REQUEST',
            'invalid query parameters',
            '{"clients": "must be 1 to 20 comma-separated client ids"}');
    END IF;

    SELECT array_agg(c.id) INTO v_ids
    FROM liauto.clients AS c
    WHERE c.id = ANY (v_items::uuid[]) AND api.caller_sees(p_caller, c.id);
    IF coalesce(cardinality(v_ids), 0)
       < (SELECT count(DISTINCT i) FROM unnest(v_items::uuid[]) AS i)
    THEN
        PERFORM api.raise_error(404, 'NOT_FOUND', 'client not found');
    END IF;
    RETURN v_ids;
END
$$;

COMMENT ON FUNCTION liauto.query_clients(jsonb, jsonb) IS
    'The ?clients=<id>,<id> of a client-vs-client comparison: 1 to 20 ids '
    '(400), every one a client the caller sees (404; so only admins can '
    'compare with another client).';

CREATE FUNCTION liauto.campaign_windows(p_client_ids uuid[], p_days integer)
RETURNS TABLE (client_id uuid, campaign_id uuid, account_id uuid,
               invites bigint, acceptances bigint, messages bigint,
               replies bigint)
LANGUAGE sql STABLE AS $$
    SELECT c.client_id, c.id, s.account_id, sum(s.invites),
           sum(s.acceptances), sum(s.messages), sum(s.replies)
    FROM liauto.campaigns AS c
    CROSS JOIN LATERAL liauto.local_today(c.timezone) AS t (today)
    JOIN liauto.campaign_daily_stats AS s
      ON s.campaign_id = c.id
     AND s.day BETWEEN t.today - (p_days - 1) AND t.today
    WHERE c.client_id = ANY (p_client_ids)
    GROUP BY c.client_id, c.id, s.account_id
$$;

COMMENT ON FUNCTION liauto.campaign_windows(uuid[], integer) IS
    'Event counts of the last p_days local days of each campaign of these '
    'clients, per campaign and account (only pairs with counts).';

CREATE FUNCTION liauto.analytics_comparative(p_caller jsonb, p_id uuid,
                                             p_query jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_client  liauto.clients;
    v_days    integer;
    v_others  uuid[];
    v_answer  jsonb;
BEGIN
    PERFORM liauto.analytics_query(p_query, '{days,clients}');
    v_days := liauto.query_days(p_query, 30);
    v_client := liauto.client_found(p_caller, ARRAY[p_id::text]);
    v_others := liauto.query_clients(p_caller, p_query);

    WITH w AS (
        SELECT * FROM liauto.campaign_windows(ARRAY[v_client.id], v_days)
    )
    SELECT jsonb_build_object(
        'client_id', v_client.id,
        'days', v_days,
        'campaigns', (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'campaign_id', c.id, 'name', c.name,
                       'status', c.status, 'timezone', c.timezone)
                       || liauto.window_json(n.invites, n.acceptances,
                                             n.messages, n.replies)
                       ORDER BY c.name, c.id), '[]')
            FROM liauto.campaigns AS c
            LEFT JOIN (SELECT w.campaign_id, sum(w.invites) AS invites,
                              sum(w.acceptances) AS acceptances,
                              sum(w.messages) AS messages,
                              sum(w.replies) AS replies
                       FROM w GROUP BY w.campaign_id) AS n
                   ON n.campaign_id = c.id
            WHERE c.client_id = v_client.id),
        'accounts', (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'account_id', a.id, 'name', a.name)
                       || liauto.window_json(n.invites, n.acceptances,
                                             n.messages, n.replies)
                       ORDER BY a.name, a.id), '[]')
            FROM liauto.linkedin_accounts AS a
            LEFT JOIN (SELECT w.account_id, sum(w.invites) AS invites,
                              sum(w.acceptances) AS acceptances,
                              sum(w.messages) AS messages,
                              sum(w.replies) AS replies
                       FROM w GROUP BY w.account_id) AS n
                   ON n.account_id = a.id
            WHERE a.client_id = v_client.id))
    INTO v_answer;

    -- "clients" only answers a client-vs-client question
    IF cardinality(v_others) > 0 THEN
        v_others := array_append(v_others, v_client.id);
        SELECT v_answer || jsonb_build_object('clients', jsonb_agg(
                   jsonb_build_object(
                       'client_id', k.id, 'name', k.name,
                       'campaigns', (SELECT count(*)
                                     FROM liauto.campaigns AS c
                                     WHERE c.client_id = k.id))
                   || liauto.window_json(n.invites, n.acceptances,
                                         n.messages, n.replies)
                   ORDER BY k.name, k.id))
        INTO v_answer
        FROM liauto.clients AS k
        LEFT JOIN (SELECT w.client_id, sum(w.invites) AS invites,
                          sum(w.acceptances) AS acceptances,
                          sum(w.messages) AS messages,
                          sum(w.replies) AS replies
                   FROM liauto.campaign_windows(v_others, v_days) AS w
                   GROUP BY w.client_id) AS n
               ON n.client_id = k.id
        WHERE k.id = ANY (v_others);
    END IF;
    RETURN v_answer;
END
$$;

COMMENT ON FUNCTION liauto.analytics_comparative(jsonb, uuid, jsonb) IS
    'GET /analytics/clients/{id}/comparative?days=N&clients=: per '
    'campaign and per account of the client, event counts and window '
    'rates over the last N local days of each campaign (default 30). '
    '?clients=<id>,<id> (admins: any clients) adds "clients": one total '
    'row per client (this one and those listed).';


-- ------------------------------------------------------------------------
-- Routes
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.analytics_view(p_view text, p_caller jsonb,
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
    END CASE;
END
$$;

COMMENT ON FUNCTION liauto.analytics_view(text, jsonb, uuid, jsonb) IS
    'The JSON answer of one analytics view; raises LIAPI for bad '
    'requests.';

CREATE FUNCTION liauto.analytics_answer(p_view text, p_caller jsonb,
                                        p_id uuid, p_query jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_envelope  text;
BEGIN
    RETURN QUERY SELECT * FROM api.ok(200, liauto.analytics_view(
                                          p_view, p_caller, p_id, p_query));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION liauto.analytics_answer(text, jsonb, uuid, jsonb) IS
    'The (status, body) row of a view: 200 and its JSON, or the error '
    'envelope.';

CREATE FUNCTION api.analytics_summary(p_caller jsonb, p_path text[],
                                      p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE sql STABLE AS $$
    SELECT * FROM liauto.analytics_answer('summary', p_caller,
                                          liauto.path_id(p_path), p_query)
$$;

CREATE FUNCTION api.analytics_timeseries(p_caller jsonb, p_path text[],
                                         p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE sql STABLE AS $$
    SELECT * FROM liauto.analytics_answer('timeseries', p_caller,
                                          liauto.path_id(p_path), p_query)
$$;

CREATE FUNCTION api.analytics_rate_usage(p_caller jsonb, p_path text[],
                                         p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE sql STABLE AS $$
    SELECT * FROM liauto.analytics_answer('rate-usage', p_caller,
                                          liauto.path_id(p_path), p_query)
$$;

CREATE FUNCTION api.analytics_funnel(p_caller jsonb, p_path text[],
                                     p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE sql STABLE AS $$
    SELECT * FROM liauto.analytics_answer('funnel', p_caller,
                                          liauto.path_id(p_path), p_query)
$$;

CREATE FUNCTION api.analytics_real_time(p_caller jsonb, p_path text[],
                                        p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE sql STABLE AS $$
    SELECT * FROM liauto.analytics_answer('real-time', p_caller, NULL,
                                          p_query)
$$;

CREATE FUNCTION api.analytics_comparative(p_caller jsonb, p_path text[],
                                          p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE sql STABLE AS $$
    SELECT * FROM liauto.analytics_answer('comparative', p_caller,
                                          liauto.path_id(p_path), p_query)
$$;


-- ------------------------------------------------------------------------
-- CSV export
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.csv_cell(p_value jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
               WHEN jsonb_typeof(p_value) = 'string'
                    AND p_value #>> '{}' ~ '^[-=+@\t\r]'
               THEN '''' || (p_value #>> '{}')
               ELSE p_value #>> '{}'
           END
$$;

COMMENT ON FUNCTION liauto.csv_cell(jsonb) IS
    'The text of one exported cell. A string starting with = + - @ tab or '
    'CR gets a leading single quote so a spreadsheet shows it instead of '
    'running it as a formula (CSV injection); numbers are never touched '
    '(nothing exported is negative). JSON null is the empty cell.';

CREATE FUNCTION liauto.csv_table(p_rows jsonb, p_columns text[])
RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT liauto.csv_line(p_columns)
           || coalesce(string_agg(liauto.csv_line(ARRAY(
                  SELECT liauto.csv_cell(r.obj -> c.name)
                  FROM unnest(p_columns) WITH ORDINALITY AS c (name, i)
                  ORDER BY c.i)), '' ORDER BY r.n), '')
    FROM jsonb_array_elements(coalesce(p_rows, '[]'))
         WITH ORDINALITY AS r (obj, n)
$$;

COMMENT ON FUNCTION liauto.csv_table(jsonb, text[]) IS
    'CSV of an array of flat objects: the header p_columns, then one '
    'record per object in order.';

CREATE FUNCTION liauto.csv_fields(p_answer jsonb) RETURNS text
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
    SELECT liauto.csv_line('{field,value}')
           || string_agg(liauto.csv_line(ARRAY[f.path,
                                               liauto.csv_cell(f.value)]),
                         '' ORDER BY f.sort)
    FROM f
    WHERE jsonb_typeof(f.value) NOT IN ('object', 'array')
$$;

COMMENT ON FUNCTION liauto.csv_fields(jsonb) IS
    'CSV "field,value" of a nested answer, one record per scalar: field is '
    'its dotted path with 0-based array positions (last_7_days.6.replies).';

CREATE FUNCTION liauto.analytics_csv(p_view text, p_answer jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_view
        WHEN 'timeseries' THEN liauto.csv_table(
            p_answer -> 'series',
            '{day,invites,acceptances,messages,replies}')
        WHEN 'rate-usage' THEN liauto.csv_table(
            p_answer -> 'series',
            '{day,invites,messages,invite_limit,message_limit,'
            'invite_utilization,message_utilization}')
        WHEN 'comparative' THEN liauto.csv_table(
            (SELECT coalesce(jsonb_agg(jsonb_build_object(
                        'kind', k.kind,
                        'id', coalesce(r ->> 'campaign_id',
                                       r ->> 'account_id',
                                       r ->> 'client_id')) || r
                        ORDER BY k.n, i), '[]')
             FROM unnest('{campaigns,accounts,clients}'::text[])
                  WITH ORDINALITY AS k (kind, n),
                  jsonb_array_elements(coalesce(p_answer -> k.kind, '[]'))
                  WITH ORDINALITY AS a (r, i)),
            '{kind,id,name,invites,acceptances,messages,replies,'
            'acceptance_rate,reply_rate}')
        ELSE liauto.csv_fields(p_answer)
    END
$$;

COMMENT ON FUNCTION liauto.analytics_csv(text, jsonb) IS
    'The CSV of a view''s answer: timeseries and rate-usage one record per '
    'day, comparative one per campaign, account and client (kind column), '
    'summary and funnel "field,value".';

CREATE FUNCTION api.analytics_export(p_caller jsonb, p_path text[],
                                     p_query jsonb, p_body jsonb)
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
                                           'comparative') THEN
        PERFORM api.raise_error(400, 'BAD_REQUEST',
            'invalid query parameters',
            '{"view": "must be one of: summary, timeseries, funnel, '
            'rate-usage, comparative"}');
    ELSIF api.query_uuid(p_query, 'id') IS NULL THEN
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
    'error envelope.';
