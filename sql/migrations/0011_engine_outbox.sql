-- 0011_engine_outbox: the sequence engine's outbox (DESIGN §5).
--
-- Functions the worker calls live in schema engine; tables and internal
-- helpers stay in liauto. Every decision reads the engine clock
-- (liauto.now(), migration 0005), leases included, so tests move time by
-- shifting the clock.
--
-- The life of an action:
--   engine.plan_due          lead's step due       -> scheduled
--   engine.claim_actions     scheduled, due        -> claimed (+1 budget unit,
--                                                     new claim_token, lease)
--   engine.check_before_send claimed, not wanted   -> cancelled (unit back)
--   engine.complete_action   claimed               -> sent | scheduled |
--                                                     failed | unknown
--   engine.expired_claims    claimed, lease over   -> unknown
--   engine.resolve_unknown   unknown               -> sent | scheduled |
--                                                     needs_review
-- Every transition out of claimed is fenced by the claim token: a worker
-- whose claim was taken over changes nothing.

CREATE SCHEMA engine;

COMMENT ON SCHEMA engine IS
    'Functions the worker calls (the outbox protocol); no tables.';


-- ------------------------------------------------------------------------
-- Pacing columns and the periodic-job ledger
-- ------------------------------------------------------------------------

ALTER TABLE liauto.linkedin_accounts
    ADD COLUMN spacing_min_seconds integer NOT NULL DEFAULT 30
        CONSTRAINT linkedin_accounts_spacing_min_seconds_check
        CHECK (spacing_min_seconds BETWEEN 0 AND 86400),
    ADD COLUMN spacing_max_seconds integer NOT NULL DEFAULT 180
        CONSTRAINT linkedin_accounts_spacing_max_seconds_check
        CHECK (spacing_max_seconds BETWEEN 0 AND 86400),
    ADD COLUMN last_action_at timestamptz,
    ADD COLUMN next_action_at timestamptz,
    ADD COLUMN status_reason text,
    ADD CONSTRAINT linkedin_accounts_spacing_check
        CHECK (spacing_min_seconds <= spacing_max_seconds);

COMMENT ON COLUMN liauto.linkedin_accounts.spacing_min_seconds IS
    'Human pacing: after a claim the account''s next action waits a random '
    'delay between spacing_min_seconds and spacing_max_seconds.';
COMMENT ON COLUMN liauto.linkedin_accounts.last_action_at IS
    'Engine time of the account''s last claim.';
COMMENT ON COLUMN liauto.linkedin_accounts.next_action_at IS
    'No claim for this account before it (last claim + random spacing).';
COMMENT ON COLUMN liauto.linkedin_accounts.status_reason IS
    'Why the engine took the account out of ok (the provider''s words).';

INSERT INTO liauto.settings (key, value)
VALUES ('engine_max_attempts', '5')
ON CONFLICT (key) DO NOTHING;

-- Reconciliation work list: unknown outcomes by when to look at them.
CREATE INDEX actions_unknown_idx
    ON liauto.actions (lease_expires_at) WHERE status = 'unknown';

CREATE TABLE liauto.lead_jobs (
    job           text NOT NULL
                  CONSTRAINT lead_jobs_job_check
                  CHECK (job ~ '^[a-z][a-z0-9_]*$'),
    period_start  timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),

    PRIMARY KEY (job, period_start)
);

COMMENT ON TABLE liauto.lead_jobs IS
    'One row per periodic job run (weekly report, nightly backfill): the '
    'primary key makes each (job, period) run exactly once whichever '
    'worker leads.';


-- ------------------------------------------------------------------------
-- Internal helpers
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.engine_max_attempts() RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT (value #>> '{}')::integer FROM liauto.settings
                     WHERE key = 'engine_max_attempts'), 5)
$$;

COMMENT ON FUNCTION liauto.engine_max_attempts() IS
    'Claims an action may use before its lead goes to error '
    '(settings engine_max_attempts, default 5).';

CREATE FUNCTION liauto.step_kind(p_step integer) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE WHEN p_step = 0 THEN 'invite' ELSE 'message' END
$$;

COMMENT ON FUNCTION liauto.step_kind(integer) IS
    'Step 0 is the invite, every later step a message '
    '(actions_kind_step_check).';

CREATE FUNCTION liauto.lead_ready_for(p_status text, p_step integer)
RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE WHEN p_step = 0 THEN p_status = 'pending'
                ELSE p_status IN ('connected', 'messaged') END
$$;

COMMENT ON FUNCTION liauto.lead_ready_for(text, integer) IS
    'A lead may get step p_step in status p_status: the invite while '
    'pending, messages only once the invite was accepted.';

CREATE FUNCTION liauto.action_payload(p_lead liauto.leads,
                                      p_campaign liauto.campaigns,
                                      p_account liauto.linkedin_accounts,
                                      p_step integer)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'template', coalesce(p_campaign.sequence -> p_step ->> 'note',
                             p_campaign.sequence -> p_step ->> 'text'),
        'unipile_account_id', p_account.unipile_account_id,
        'public_identifier', p_lead.public_identifier,
        'profile_url', p_lead.profile_url,
        'provider_id', p_lead.provider_id,
        'member_id', p_lead.member_id,
        'conversation_id', p_lead.conversation_id,
        'vars', p_lead.custom_fields || jsonb_strip_nulls(jsonb_build_object(
            'first_name', p_lead.first_name,
            'last_name', p_lead.last_name,
            'company', p_lead.company,
            'title', p_lead.title)))
$$;

COMMENT ON FUNCTION liauto.action_payload(liauto.leads, liauto.campaigns,
                                          liauto.linkedin_accounts, integer)
    IS 'What the worker needs to send step p_step: the template (invite '
       'note or message text, unrendered), who to send it to and from, and '
       'the template variables (custom fields, overridden by the lead''s '
       'own first_name/last_name/company/title; a missing variable is '
       'absent, so the worker applies fallbacks or refuses). Written at '
       'plan time and refreshed at claim time.';

CREATE FUNCTION liauto.unwanted_reason(p_action liauto.actions)
RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN l.status = 'responded' THEN 'lead_responded'
        WHEN NOT liauto.lead_ready_for(l.status, p_action.step_index)
            THEN 'lead_' || l.status
        WHEN c.status <> 'active' THEN 'campaign_' || c.status
        WHEN c.linkedin_account_id IS DISTINCT FROM p_action.account_id
            THEN 'campaign_account_changed'
        WHEN c.sequence -> p_action.step_index IS NULL THEN 'step_removed'
        WHEN liauto.scheduler_paused() THEN 'scheduler_paused'
        WHEN a.status <> 'ok' THEN 'account_' || a.status
    END
    FROM liauto.leads AS l, liauto.campaigns AS c,
         liauto.linkedin_accounts AS a
    WHERE l.id = p_action.lead_id AND c.id = p_action.campaign_id
      AND a.id = p_action.account_id
$$;

COMMENT ON FUNCTION liauto.unwanted_reason(liauto.actions) IS
    'Why the action must not be sent any more (lead_responded, lead_<status>, '
    'campaign_<status>, step_removed, scheduler_paused, account_<status>), '
    'or NULL while it is still wanted. An account cooling off is only a '
    'delay, not a reason.';

CREATE FUNCTION liauto.next_account_day(p_account_id uuid, p_at timestamptz)
RETURNS timestamptz
LANGUAGE sql STABLE STRICT AS $$
    SELECT liauto.resolve_local_time(
               (liauto.account_day(a.id, p_at) + 1)::timestamp, a.timezone)
    FROM liauto.linkedin_accounts AS a
    WHERE a.id = p_account_id
$$;

COMMENT ON FUNCTION liauto.next_account_day(uuid, timestamptz) IS
    'The next local midnight of the account after p_at: where its daily '
    'budget starts again.';

CREATE FUNCTION liauto.release_action_budget(p_action liauto.actions)
RETURNS void
LANGUAGE sql AS $$
    SELECT liauto.release_budget(p_action.account_id, p_action.kind,
                                 p_action.claimed_at)
$$;

COMMENT ON FUNCTION liauto.release_action_budget(liauto.actions) IS
    'Gives back the unit the action''s claim reserved (on the local day of '
    'claimed_at). Only for sends that definitely did not happen.';

CREATE FUNCTION liauto.reschedule_action(p_action_id uuid, p_due timestamptz,
                                         p_error text,
                                         p_attempt_back boolean)
RETURNS void
LANGUAGE sql AS $$
    UPDATE liauto.actions
    SET status = 'scheduled', due_at = p_due,
        last_error = coalesce(p_error, last_error),
        attempts = attempts - p_attempt_back::integer,
        claim_token = NULL, lease_expires_at = NULL, claimed_by = NULL
    WHERE id = p_action_id
$$;

COMMENT ON FUNCTION liauto.reschedule_action(uuid, timestamptz, text,
                                             boolean) IS
    'Back to scheduled at p_due; p_attempt_back gives the attempt back when '
    'the provider never processed the send (limits, cool-off).';

CREATE FUNCTION liauto.finish_action(p_action_id uuid, p_status text,
                                     p_error text)
RETURNS void
LANGUAGE sql AS $$
    UPDATE liauto.actions
    SET status = p_status, last_error = coalesce(p_error, last_error),
        lease_expires_at = CASE p_status WHEN 'unknown'
                                THEN liauto.now() END
    WHERE id = p_action_id
$$;

COMMENT ON FUNCTION liauto.finish_action(uuid, text, text) IS
    'Moves an action to a state without a lease: failed, cancelled, '
    'needs_review, or unknown (lease_expires_at then says when the '
    'reconciler may look at it: now).';

CREATE FUNCTION liauto.stop_lead(p_lead_id uuid, p_status text,
                                 p_reason text)
RETURNS void
LANGUAGE sql AS $$
    UPDATE liauto.leads
    SET status = p_status,
        error_reason = CASE p_status WHEN 'error'
                            THEN coalesce(p_reason, 'unknown error')
                            ELSE p_reason END
    WHERE id = p_lead_id
      AND status NOT IN ('responded', 'completed', 'withdrawn', 'skipped')
$$;

COMMENT ON FUNCTION liauto.stop_lead(uuid, text, text) IS
    'Ends a lead''s sequence (error with its reason, withdrawn, skipped). A '
    'lead that replied or already ended keeps its status.';

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

    INSERT INTO liauto.events (client_id, lead_id, campaign_id, account_id,
                               type, occurred_at, external_id, meta)
    VALUES (p_action.client_id, p_action.lead_id, p_action.campaign_id,
            p_action.account_id,
            CASE p_action.kind WHEN 'invite' THEN 'connection_request_sent'
                               ELSE 'message_sent' END,
            v_now, p_external_id,
            jsonb_build_object('action_id', p_action.id,
                               'step_index', p_action.step_index))
    ON CONFLICT (lead_id, type, external_id) DO NOTHING;

    RETURN 'sent';
END
$$;

COMMENT ON FUNCTION liauto.mark_action_sent(liauto.actions, text, text) IS
    'The one "it was sent" transition (completion and reconciliation): '
    'action sent with the provider id; lead invite_sent, messaged, or '
    'completed after the last step, current_step past the step, '
    'last_step_sent_at, conversation_id; one connection_request_sent / '
    'message_sent event per provider id.';

CREATE FUNCTION liauto.give_up_or_retry(p_action liauto.actions,
                                        p_due timestamptz, p_error text)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF p_action.attempts >= liauto.engine_max_attempts() THEN
        PERFORM liauto.finish_action(p_action.id, 'failed', p_error);
        PERFORM liauto.stop_lead(
            p_action.lead_id, 'error',
            format('gave up after %s attempts: %s', p_action.attempts,
                   coalesce(p_error, 'unknown error')));
        RETURN 'failed';
    END IF;

    PERFORM liauto.reschedule_action(p_action.id, p_due, p_error, false);
    RETURN 'scheduled';
END
$$;

COMMENT ON FUNCTION liauto.give_up_or_retry(liauto.actions, timestamptz,
                                            text) IS
    'Retry at p_due, or, once the action used engine_max_attempts claims, '
    'fail it and put the lead in error with the last reason.';


-- ------------------------------------------------------------------------
-- Planning
-- ------------------------------------------------------------------------

CREATE FUNCTION engine.plan_due(p_limit integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_now      timestamptz := liauto.now();
    v_planned  integer;
BEGIN
    IF p_limit IS NULL OR p_limit < 1 THEN
        RAISE EXCEPTION 'plan_due: limit must be positive, not %', p_limit
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF liauto.scheduler_paused() THEN
        RETURN 0;
    END IF;

    INSERT INTO liauto.actions (client_id, lead_id, campaign_id, account_id,
                                kind, step_index, due_at, payload)
    SELECT (p.lead).client_id, (p.lead).id, (p.campaign).id, (p.account).id,
           liauto.step_kind(p.step), p.step,
           liauto.snap_to_working_hours(
               greatest(p.due, v_now), (p.campaign).timezone,
               (p.campaign).working_hours_start,
               (p.campaign).working_hours_end, (p.campaign).working_days),
           liauto.action_payload(p.lead, p.campaign, p.account, p.step)
    FROM (
        SELECT f.*,
               liauto.step_due_at((f.campaign).sequence, f.step, f.after,
                                  (f.campaign).timezone,
                                  (f.campaign).working_days) AS due
        FROM (
            -- The cheap tests first; the working-day rule (plpgsql) runs
            -- only on what passes them (OFFSET 0 keeps the levels apart).
            SELECT l AS lead, c AS campaign, a AS account,
                   l.current_step AS step, s.after
            FROM liauto.campaigns AS c
            JOIN liauto.linkedin_accounts AS a
                ON a.id = c.linkedin_account_id
            JOIN liauto.leads AS l ON l.campaign_id = c.id
            CROSS JOIN LATERAL (
                SELECT c.sequence -> l.current_step AS step,
                       liauto.lead_step_after(l, c) AS after) AS s
            WHERE c.status = 'active'
              AND a.status = 'ok'
              AND (a.cooldown_until IS NULL OR a.cooldown_until <= v_now)
              AND l.status IN ('pending', 'connected', 'messaged')
              AND liauto.lead_ready_for(l.status, l.current_step)
              AND s.step IS NOT NULL
              -- n working days are at least n calendar days, less an
              -- hour of DST
              AND s.after + make_interval(
                      days => coalesce((s.step ->> 'delay_days')::integer,
                                       0),
                      mins => coalesce((s.step ->> 'delay_minutes')::integer,
                                       0))
                  - interval '1 hour' <= v_now
              AND NOT EXISTS (SELECT 1 FROM liauto.actions AS x
                              WHERE x.lead_id = l.id
                                AND x.step_index = l.current_step
                                AND x.status NOT IN ('failed', 'cancelled'))
            OFFSET 0) AS f) AS p
    WHERE p.due <= v_now
    LIMIT p_limit
    ON CONFLICT (lead_id, step_index)
        WHERE status NOT IN ('failed', 'cancelled') DO NOTHING;

    GET DIAGNOSTICS v_planned = ROW_COUNT;
    RETURN v_planned;
END
$$;

COMMENT ON FUNCTION engine.plan_due(integer) IS
    'Schedules up to p_limit actions: the current step of each lead whose '
    'step delay has elapsed (working days, DESIGN §5) in an active '
    'campaign whose account is ok, the lead pending (invite) or connected '
    '/ messaged (messages wait for acceptance). due_at is the first '
    'instant inside working hours from now. Returns how many were '
    'planned; 0 while the scheduler is paused. Idempotent: a lead with a '
    'live action for the step is skipped (actions_live_step_key). Leads '
    'of an account cooling off are planned once it is over.';


-- ------------------------------------------------------------------------
-- Claiming
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.claim_for_account(p_account_id uuid, p_worker text,
                                         p_lease interval)
RETURNS liauto.actions
LANGUAGE plpgsql AS $$
DECLARE
    v_now       timestamptz := liauto.now();
    v_account   liauto.linkedin_accounts;
    v_action    liauto.actions;
    v_campaign  liauto.campaigns;
    v_lead      liauto.leads;
    v_reason    text;
    v_open      timestamptz;
BEGIN
    -- The account row is the pacing lock: whoever holds it claims for the
    -- account; a concurrent claimer skips the account instead of waiting.
    -- The conditions are re-evaluated on the latest row version.
    SELECT * INTO v_account FROM liauto.linkedin_accounts AS a
    WHERE a.id = p_account_id AND a.status = 'ok'
      AND (a.cooldown_until IS NULL OR a.cooldown_until <= v_now)
      AND (a.next_action_at IS NULL OR a.next_action_at <= v_now)
    FOR NO KEY UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    -- One send at a time per account: an action in flight blocks it.
    PERFORM FROM liauto.actions AS x
    WHERE x.account_id = p_account_id AND x.status = 'claimed';
    IF FOUND THEN
        RETURN NULL;
    END IF;

    -- Every pass either claims or moves a due action out of the way
    -- (cancelled or pushed later); the bound keeps one tick short.
    FOR i IN 1..50 LOOP
        SELECT * INTO v_action FROM liauto.actions AS x
        WHERE x.account_id = p_account_id AND x.status = 'scheduled'
          AND x.due_at <= v_now
        ORDER BY x.due_at, x.id
        LIMIT 1
        FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;

        v_reason := liauto.unwanted_reason(v_action);
        IF v_reason IS NOT NULL THEN
            PERFORM liauto.finish_action(v_action.id, 'cancelled', v_reason);
            CONTINUE;
        END IF;

        SELECT * INTO v_campaign FROM liauto.campaigns
        WHERE id = v_action.campaign_id;
        v_open := liauto.snap_to_working_hours(
            v_now, v_campaign.timezone, v_campaign.working_hours_start,
            v_campaign.working_hours_end, v_campaign.working_days);
        IF v_open > v_now THEN
            UPDATE liauto.actions SET due_at = v_open
            WHERE id = v_action.id;
            CONTINUE;
        END IF;

        IF NOT liauto.reserve_budget(p_account_id, v_action.kind, v_now)
        THEN
            -- Out of budget for this kind today: move every due action of
            -- the kind to when a unit may exist again, so they are not
            -- scanned on every tick; the other kind may still go.
            UPDATE liauto.actions AS x
            SET due_at = greatest(
                    coalesce(b.resets_at,
                             liauto.next_account_day(p_account_id, v_now)),
                    liauto.next_account_day(p_account_id, v_now))
            FROM liauto.budget_remaining(p_account_id, v_action.kind,
                                         v_now) AS b
            WHERE x.account_id = p_account_id AND x.status = 'scheduled'
              AND x.kind = v_action.kind AND x.due_at <= v_now;
            CONTINUE;
        END IF;

        SELECT * INTO v_lead FROM liauto.leads WHERE id = v_action.lead_id;
        UPDATE liauto.actions
        SET status = 'claimed', claim_token = gen_random_uuid(),
            lease_expires_at = v_now + p_lease, claimed_by = p_worker,
            claimed_at = v_now, attempts = attempts + 1,
            payload = liauto.action_payload(v_lead, v_campaign, v_account,
                                            v_action.step_index)
        WHERE id = v_action.id
        RETURNING * INTO v_action;

        UPDATE liauto.linkedin_accounts
        SET last_action_at = v_now,
            next_action_at = v_now + make_interval(
                secs => spacing_min_seconds
                        + random() * (spacing_max_seconds
                                      - spacing_min_seconds))
        WHERE id = p_account_id;

        RETURN v_action;
    END LOOP;

    RETURN NULL;
END
$$;

COMMENT ON FUNCTION liauto.claim_for_account(uuid, text, interval) IS
    'Claims the account''s earliest due action, or NULL. Holds the '
    'account row (FOR NO KEY UPDATE SKIP LOCKED) while it looks; cancels '
    'actions no longer wanted, pushes those outside their campaign''s '
    'working hours to the next opening and, when the budget of a kind is '
    'spent, every due action of that kind to the next local day; reserves '
    'the budget unit and sets the account''s next_action_at = now + random '
    'spacing in the same transaction as the claim.';

CREATE FUNCTION engine.claim_actions(p_worker text, p_limit integer,
                                     p_lease interval)
RETURNS SETOF liauto.actions
LANGUAGE plpgsql AS $$
DECLARE
    v_now      timestamptz := liauto.now();
    v_account  uuid;
    v_action   liauto.actions;
    v_claimed  integer := 0;
BEGIN
    IF p_worker IS NULL OR p_worker = '' OR p_limit IS NULL OR p_limit < 1
       OR p_lease IS NULL OR p_lease <= interval '0'
    THEN
        RAISE EXCEPTION 'claim_actions: need a worker id, a positive limit '
                        'and a positive lease'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF liauto.scheduler_paused() THEN
        RETURN;
    END IF;

    -- Accounts that may act now, oldest due action first: one index probe
    -- per account (actions_account_due_idx) instead of a scan of every
    -- due action, since spacing allows one claim per account anyway.
    FOR v_account IN
        SELECT a.id
        FROM liauto.linkedin_accounts AS a
        CROSS JOIN LATERAL (
            SELECT x.due_at FROM liauto.actions AS x
            WHERE x.account_id = a.id AND x.status = 'scheduled'
              AND x.due_at <= v_now
            ORDER BY x.due_at
            LIMIT 1) AS head
        WHERE a.status = 'ok'
          AND (a.cooldown_until IS NULL OR a.cooldown_until <= v_now)
          AND (a.next_action_at IS NULL OR a.next_action_at <= v_now)
        ORDER BY head.due_at, a.id
    LOOP
        v_action := liauto.claim_for_account(v_account, p_worker, p_lease);
        CONTINUE WHEN v_action.id IS NULL;
        RETURN NEXT v_action;
        v_claimed := v_claimed + 1;
        EXIT WHEN v_claimed >= p_limit;
    END LOOP;
END
$$;

COMMENT ON FUNCTION engine.claim_actions(text, integer, interval) IS
    'Claims up to p_limit due actions, at most one per account, in one '
    'transaction: each claim reserves its budget unit (liauto.'
    'reserve_budget), gets a new claim_token, lease_expires_at = now + '
    'p_lease, claimed_by, attempts + 1, a fresh payload, and moves the '
    'account''s next_action_at by a random spacing. Rows and accounts held '
    'by another claimer are skipped (SKIP LOCKED), so concurrent workers '
    'never claim the same action nor exceed a limit. Returns nothing while '
    'the scheduler is paused.';


-- ------------------------------------------------------------------------
-- Sending and completing
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.lock_claim(p_action_id uuid, p_claim_token uuid)
RETURNS liauto.actions
LANGUAGE sql AS $$
    SELECT * FROM liauto.actions
    WHERE id = p_action_id AND status = 'claimed'
      AND claim_token = p_claim_token
    FOR UPDATE
$$;

COMMENT ON FUNCTION liauto.lock_claim(uuid, uuid) IS
    'The fence: the claimed action if p_claim_token is still its token, '
    'locked; else a row of NULLs.';

CREATE FUNCTION engine.check_before_send(p_action_id uuid,
                                         p_claim_token uuid)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_action    liauto.actions := liauto.lock_claim(p_action_id,
                                                    p_claim_token);
    v_reason    text;
    v_cooldown  timestamptz;
BEGIN
    IF v_action.id IS NULL THEN
        RETURN 'stale';
    END IF;

    -- The worker asks right before the HTTP call and will not send on
    -- any answer but ok, so whatever is refused here definitely did not
    -- happen: the unit goes back.
    IF v_action.lease_expires_at <= liauto.now() THEN
        PERFORM liauto.release_action_budget(v_action);
        PERFORM liauto.reschedule_action(v_action.id, liauto.now(),
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

    -- A rate limit hit since the claim (e.g. by an inbox reply) holds
    -- every send of the account, this one too.
    SELECT cooldown_until INTO v_cooldown FROM liauto.linkedin_accounts
    WHERE id = v_action.account_id AND cooldown_until > liauto.now();
    IF FOUND THEN
        PERFORM liauto.release_action_budget(v_action);
        PERFORM liauto.reschedule_action(v_action.id, v_cooldown,
                                         'account_cooling_off', true);
        RETURN 'account_cooling_off';
    END IF;

    RETURN 'ok';
END
$$;

COMMENT ON FUNCTION engine.check_before_send(uuid, uuid) IS
    'Called right before the HTTP call: ok means send now. stale: the '
    'claim is no longer this token''s (do nothing). lease_expired: back to '
    'scheduled, unit released. account_cooling_off: rescheduled to the '
    'end of the cool-off, unit released. Any other answer is why the '
    'action is not wanted any more (lead_responded, campaign_paused, '
    'scheduler_paused, account_<status>, ...): it is cancelled and its '
    'unit released.';

CREATE FUNCTION engine.complete_action(p_action_id uuid, p_claim_token uuid,
                                       p_outcome text, p_external_id text,
                                       p_error text, p_retry_at timestamptz,
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

    v_action := liauto.lock_claim(p_action_id, p_claim_token);
    IF v_action.id IS NULL THEN
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

COMMENT ON FUNCTION engine.complete_action(uuid, uuid, text, text, text,
                                           timestamptz, text) IS
    'Records a claim''s outcome, fenced by p_claim_token (a stale token '
    'changes nothing and returns stale); returns the action''s new status. '
    'sent: lead advances, event once (liauto.mark_action_sent). retry '
    '(provider may have acted, unit kept) / retry_unsent (it definitely did '
    'not, unit released): scheduled at p_retry_at, or after '
    'engine_max_attempts claims failed and lead error. final_lead / '
    'final_withdrawn / final_skipped: failed, lead error (p_error) / '
    'withdrawn / skipped. final_limit: the day''s budget of the kind is '
    'marked spent and the action waits for the account''s next local day. '
    'account_cooloff: account cooldown_until = p_retry_at, action '
    'rescheduled there, unit released. account_blocked: account status '
    'error with status_reason, action rescheduled, unit released. unknown: '
    'unknown, unit kept, for reconciliation. Limits, cool-offs and blocks '
    'give the attempt back.';


-- ------------------------------------------------------------------------
-- Reconciliation
-- ------------------------------------------------------------------------

CREATE FUNCTION engine.expired_claims(p_limit integer)
RETURNS SETOF liauto.actions
LANGUAGE plpgsql AS $$
DECLARE
    v_now  timestamptz := liauto.now();
BEGIN
    IF p_limit IS NULL OR p_limit < 1 THEN
        RAISE EXCEPTION 'expired_claims: limit must be positive, not %',
                        p_limit
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Turning an expired claim into unknown fences its worker (its token
    -- no longer matches a claimed row). Each returned row gets five
    -- minutes to be resolved before it is handed out again.
    RETURN QUERY
    UPDATE liauto.actions AS x
    SET status = 'unknown',
        last_error = CASE x.status WHEN 'claimed'
                          THEN 'lease expired during the send'
                          ELSE x.last_error END,
        lease_expires_at = v_now + interval '5 minutes'
    FROM (SELECT id FROM (
              (SELECT id, lease_expires_at FROM liauto.actions
               WHERE status = 'claimed' AND lease_expires_at <= v_now
               ORDER BY lease_expires_at LIMIT p_limit)
              UNION ALL
              (SELECT id, lease_expires_at FROM liauto.actions
               WHERE status = 'unknown' AND lease_expires_at <= v_now
               ORDER BY lease_expires_at LIMIT p_limit)) AS due
          ORDER BY lease_expires_at
          LIMIT p_limit) AS pick
    WHERE x.id = pick.id
      AND x.status IN ('claimed', 'unknown') AND x.lease_expires_at <= v_now
    RETURNING x.*;
END
$$;

COMMENT ON FUNCTION engine.expired_claims(integer) IS
    'The reconciler''s work: up to p_limit claims whose lease expired (now '
    'unknown: the worker may have died mid-send) and unknown outcomes '
    'due for a look, oldest first. Each is handed out again after 5 '
    'minutes if engine.resolve_unknown was not called for it.';

CREATE FUNCTION engine.resolve_unknown(p_action_id uuid, p_found boolean,
                                       p_external_id text,
                                       p_can_tell boolean)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_action  liauto.actions;
BEGIN
    SELECT * INTO v_action FROM liauto.actions
    WHERE id = p_action_id AND status = 'unknown'
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'stale';
    END IF;

    IF NOT coalesce(p_can_tell, false) THEN
        PERFORM liauto.finish_action(
            v_action.id, 'needs_review',
            'the provider cannot tell whether it was sent');
        RETURN 'needs_review';
    END IF;
    IF p_found THEN
        RETURN liauto.mark_action_sent(v_action, p_external_id, NULL);
    END IF;

    PERFORM liauto.release_action_budget(v_action);
    RETURN liauto.give_up_or_retry(v_action, liauto.now(),
                                   'not found at the provider');
END
$$;

COMMENT ON FUNCTION engine.resolve_unknown(uuid, boolean, text, boolean) IS
    'The reconciler''s verdict on an unknown action: found at the provider '
    '-> sent (as engine.complete_action sent); provably not there -> unit '
    'released and scheduled now (or failed with the lead in error once '
    'engine_max_attempts claims were used); the provider cannot tell -> '
    'needs_review, never resent automatically. stale when the action is '
    'not unknown (already resolved).';


-- ------------------------------------------------------------------------
-- Periodic singleton jobs
-- ------------------------------------------------------------------------

CREATE FUNCTION engine.try_lead_job(p_job text, p_period_start timestamptz)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_taken  boolean;
BEGIN
    -- The lock makes a concurrent caller answer false at once instead of
    -- waiting on the insert; the primary key makes it exactly once.
    IF NOT pg_try_advisory_xact_lock(
               hashtextextended('liauto.lead_jobs:' || p_job, 0))
    THEN
        RETURN false;
    END IF;

    INSERT INTO liauto.lead_jobs (job, period_start)
    VALUES (p_job, p_period_start)
    ON CONFLICT DO NOTHING
    RETURNING true INTO v_taken;

    RETURN coalesce(v_taken, false);
END
$$;

COMMENT ON FUNCTION engine.try_lead_job(text, timestamptz) IS
    'True for exactly one caller per (p_job, p_period_start): that caller '
    'runs the periodic job (weekly report, nightly backfill). Call it in '
    'the transaction that does the job''s work, so a failed run frees the '
    'period.';
