-- 0034_engine_perf: the database work of one send made cheaper (issue 9:
-- engine bookkeeping >= 1,000 sends/s with 4 workers), every rule kept.
--
-- t/bench/engine.sh (6,000 invites, 64 accounts, zero-latency simulator)
-- measured ~3.4 ms of Postgres CPU per send with 1 worker. The plpgsql
-- profile (track_functions) showed where:
-- - the analytics triggers: liauto.merge_milestones 0.5 ms and
--   liauto.add_daily_counts 0.23 ms per sent event. Both are multi-
--   statement LANGUAGE sql functions, which Postgres plans again on every
--   call; as plpgsql their statements are prepared once per session.
-- - liauto.lock_claim (LANGUAGE sql, planned per call) twice per send;
--   check_before_send and complete_action now lock the claim with a
--   statement of their own (same query), prepared once.
-- - mark_action_sent inserted the event and then, for a step with a
--   variant or a dropped note, UPDATEd it: a second write of the row and
--   an update trigger that recounts the lead's milestones. The event is
--   now inserted with its whole meta at once.

-- ------------------------------------------------------------------------
-- Analytics aggregates: same statements, plans kept by plpgsql
-- ------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION liauto.add_daily_counts(
    p_deltas liauto.event_delta[])
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
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
        replies = s.replies + excluded.replies;
END
$$;

CREATE OR REPLACE FUNCTION liauto.merge_milestones(
    p_deltas liauto.event_delta[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_leads  uuid[] := ARRAY(SELECT DISTINCT d.lead_id
                             FROM unnest(p_deltas) AS d WHERE d.sign > 0);
BEGIN
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
    -- it from the lead's few events (events_lead_occurred_idx). The leads
    -- touched are looked up by key: IN (SELECT .. unnest(..)) was planned
    -- as a scan of every milestone with replied_at, a cost that grew
    -- with the table (0.5 ms per sent event at 6,000 leads).
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
          WHERE m2.lead_id = ANY (v_leads)
            AND m2.replied_at IS NOT NULL) AS s
    WHERE m.lead_id = s.lead_id
      AND m.reply_step IS DISTINCT FROM s.step;
END
$$;


-- ------------------------------------------------------------------------
-- The sent transition: the event written once, with its whole meta
-- ------------------------------------------------------------------------

DROP FUNCTION liauto.mark_action_sent(liauto.actions, text, text);
DROP FUNCTION liauto.mark_action_sent_event(liauto.actions, text, text);

CREATE FUNCTION liauto.mark_action_sent(p_action liauto.actions,
                                        p_external_id text,
                                        p_conversation_id text)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_now       timestamptz := liauto.now();
    v_sequence  jsonb;
BEGIN
    UPDATE liauto.actions
    SET status = 'sent', external_id = p_external_id,
        lease_expires_at = NULL
    WHERE id = p_action.id;

    SELECT sequence INTO v_sequence FROM liauto.campaigns
    WHERE id = p_action.campaign_id;

    -- A reply that came in during the send keeps the lead responded; the
    -- step itself was sent, so the position still advances.
    UPDATE liauto.leads
    SET status = CASE
            WHEN status IN ('responded', 'completed', 'error', 'withdrawn',
                            'skipped') THEN status
            WHEN p_action.kind = 'invite' THEN 'invite_sent'
            WHEN v_sequence -> (p_action.step_index + 1) IS NULL
                THEN 'completed'
            ELSE 'messaged' END,
        current_step = greatest(current_step, p_action.step_index + 1),
        last_step_sent_at = v_now,
        conversation_id = coalesce(p_conversation_id, conversation_id)
    WHERE id = p_action.lead_id;

    -- what the payload says about the text sent (the variant, the
    -- dropped note) is part of the event from the start
    INSERT INTO liauto.events (client_id, lead_id, campaign_id, account_id,
                               type, occurred_at, external_id, meta)
    VALUES (p_action.client_id, p_action.lead_id, p_action.campaign_id,
            p_action.account_id,
            CASE p_action.kind WHEN 'invite' THEN 'connection_request_sent'
                               ELSE 'message_sent' END,
            v_now, p_external_id,
            jsonb_build_object('action_id', p_action.id,
                               'step_index', p_action.step_index)
            || jsonb_strip_nulls(jsonb_build_object(
                   'variant', p_action.payload -> 'variant',
                   'note_dropped', p_action.payload -> 'note_dropped')))
    ON CONFLICT (lead_id, type, external_id) DO NOTHING;

    RETURN 'sent';
END
$$;

COMMENT ON FUNCTION liauto.mark_action_sent(liauto.actions, text, text) IS
    'The one "it was sent" transition (completion and reconciliation): '
    'action sent with the provider id; lead invite_sent, messaged, or '
    'completed after the last step, current_step past the step, '
    'last_step_sent_at, conversation_id; one connection_request_sent / '
    'message_sent event per provider id, its meta the action, the step '
    'and what the payload says about the text sent: the variant (the '
    'source of the variant analytics) and why an invite went without its '
    'note (note_dropped).';


-- ------------------------------------------------------------------------
-- The fence, prepared once: check_before_send and complete_action lock
-- the claim with their own statement (liauto.lock_claim's query)
-- ------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION engine.check_before_send(p_action_id uuid,
                                                    p_claim_token uuid)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_now     timestamptz := liauto.now();
    v_action  liauto.actions;
    v_reason  text;
    v_delay   record;
BEGIN
    SELECT * INTO v_action FROM liauto.actions
    WHERE id = p_action_id AND status = 'claimed'
      AND claim_token = p_claim_token
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'stale';
    END IF;

    -- The worker asks right before the HTTP call and will not send on
    -- any answer but ok, so whatever is refused here definitely did not
    -- happen: the unit goes back.
    IF v_action.lease_expires_at <= v_now THEN
        PERFORM liauto.release_action_budget(v_action);
        PERFORM liauto.reschedule_action(v_action.id, v_now,
                                         'lease expired before the send',
                                         true);
        RETURN 'lease_expired';
    END IF;

    v_reason := liauto.unwanted_reason(v_action);
    IF v_reason IS NOT NULL THEN
        PERFORM liauto.release_action_budget(v_action);
        PERFORM liauto.finish_action(v_action.id, 'cancelled', v_reason);
        RETURN v_reason;
    END IF;

    -- A rate limit hit since the claim (e.g. by an inbox reply) or the
    -- company's invite cap reached by another campaign holds the send.
    v_delay := liauto.send_delay(v_action);
    IF v_delay.reason IS NOT NULL THEN
        PERFORM liauto.release_action_budget(v_action);
        PERFORM liauto.reschedule_action(v_action.id, v_delay.wait_until,
                                         v_delay.reason, true);
        RETURN v_delay.reason;
    END IF;

    RETURN 'ok';
END
$$;

CREATE OR REPLACE FUNCTION engine.complete_action_outcome(
    p_action_id uuid, p_claim_token uuid, p_outcome text,
    p_external_id text, p_error text, p_retry_at timestamptz,
    p_conversation_id text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_now     timestamptz := liauto.now();
    v_action  liauto.actions;
BEGIN
    IF p_outcome IS NULL OR p_outcome NOT IN (
           'sent', 'retry', 'retry_unsent', 'final_lead', 'final_withdrawn',
           'final_skipped', 'final_limit', 'account_cooloff',
           'account_blocked', 'unknown')
    THEN
        RAISE EXCEPTION 'complete_action: unknown outcome %',
                        coalesce(p_outcome, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_outcome IN ('retry', 'retry_unsent', 'account_cooloff')
       AND p_retry_at IS NULL
    THEN
        RAISE EXCEPTION 'complete_action: % needs a retry time', p_outcome
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT * INTO v_action FROM liauto.actions
    WHERE id = p_action_id AND status = 'claimed'
      AND claim_token = p_claim_token
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'stale';
    END IF;

    CASE p_outcome
    WHEN 'sent' THEN
        RETURN liauto.mark_action_sent(v_action, p_external_id,
                                       p_conversation_id);
    WHEN 'retry' THEN
        -- e.g. a 5xx: the provider may have acted, the unit stays spent.
        RETURN liauto.give_up_or_retry(v_action, p_retry_at, p_error);
    WHEN 'retry_unsent' THEN
        PERFORM liauto.release_action_budget(v_action);
        RETURN liauto.give_up_or_retry(v_action, p_retry_at, p_error);
    WHEN 'final_lead', 'final_withdrawn', 'final_skipped' THEN
        PERFORM liauto.finish_action(v_action.id, 'failed', p_error);
        PERFORM liauto.stop_lead(
            v_action.lead_id,
            CASE p_outcome WHEN 'final_lead' THEN 'error'
                           WHEN 'final_withdrawn' THEN 'withdrawn'
                           ELSE 'skipped' END,
            p_error);
        RETURN 'failed';
    WHEN 'final_limit' THEN
        -- The provider's own count says the day is over: spend what is
        -- left of the kind today so no other claim tries.
        UPDATE liauto.rate_usage AS u
        SET invites = CASE v_action.kind WHEN 'invite'
                           THEN greatest(u.invites, a.daily_invite_limit)
                           ELSE u.invites END,
            messages = CASE v_action.kind WHEN 'message'
                            THEN greatest(u.messages, a.daily_message_limit)
                            ELSE u.messages END
        FROM liauto.linkedin_accounts AS a
        WHERE a.id = v_action.account_id AND u.account_id = a.id
          AND u.day = liauto.account_day(a.id, v_action.claimed_at);
        PERFORM liauto.reschedule_action(
            v_action.id, liauto.next_account_day(v_action.account_id, v_now),
            p_error, true);
        RETURN 'scheduled';
    WHEN 'account_cooloff' THEN
        UPDATE liauto.linkedin_accounts
        SET cooldown_until = greatest(cooldown_until, p_retry_at)
        WHERE id = v_action.account_id;
        PERFORM liauto.release_action_budget(v_action);
        PERFORM liauto.reschedule_action(v_action.id, p_retry_at, p_error,
                                         true);
        RETURN 'scheduled';
    WHEN 'account_blocked' THEN
        UPDATE liauto.linkedin_accounts
        SET status = 'error',
            status_reason = coalesce(p_error, 'blocked by the provider')
        WHERE id = v_action.account_id;
        PERFORM liauto.release_action_budget(v_action);
        PERFORM liauto.reschedule_action(v_action.id, v_now, p_error, true);
        RETURN 'scheduled';
    ELSE
        PERFORM liauto.finish_action(v_action.id, 'unknown', p_error);
        RETURN 'unknown';
    END CASE;
END
$$;


-- ------------------------------------------------------------------------
-- Outcomes recorded in batches
-- ------------------------------------------------------------------------
--
-- The worker has many sends in flight (libcurl multi) and their answers
-- come in together; it records all the outcomes of one loop round in one
-- call, one round trip and one commit instead of one each. Each outcome
-- is engine.complete_action's, unchanged (fence, budget, events). They
-- are taken in (account, campaign, action) order, the order of the rows
-- they lock (rate_usage and linkedin_accounts by account,
-- campaign_daily_stats by campaign and account), so two workers' batches
-- queue on those rows instead of deadlocking; a batch that fails anyway
-- changed nothing, and the worker records its outcomes one by one.

CREATE FUNCTION engine.complete_actions(p_items jsonb)
RETURNS TABLE (item integer, status text)
LANGUAGE plpgsql AS $$
DECLARE
    v_now  timestamptz := liauto.now();
    v_row  record;
BEGIN
    IF jsonb_typeof(p_items) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'complete_actions: need a JSON array of outcomes'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    FOR v_row IN
        SELECT i.n, o.*
        FROM jsonb_array_elements(p_items) WITH ORDINALITY AS i (x, n)
        CROSS JOIN LATERAL jsonb_to_record(i.x) AS o (
            id uuid, claim_token uuid, outcome text, external_id text,
            error text, retry_in_s double precision,
            conversation_id text)
        LEFT JOIN liauto.actions AS a ON a.id = o.id
        ORDER BY a.account_id, a.campaign_id, o.id, i.n
    LOOP
        item := v_row.n;
        status := engine.complete_action(
            v_row.id, v_row.claim_token, v_row.outcome, v_row.external_id,
            v_row.error, v_now + make_interval(secs => v_row.retry_in_s),
            v_row.conversation_id);
        RETURN NEXT;
    END LOOP;
END
$$;

COMMENT ON FUNCTION engine.complete_actions(jsonb) IS
    'engine.complete_action for each element of p_items, an array of '
    '{id, claim_token, outcome, external_id, error, retry_in_s, '
    'conversation_id} (retry_in_s: seconds from the engine clock to the '
    'retry, or null), in one transaction: a row per element, its 1-based '
    'position and complete_action''s answer. All or nothing.';
