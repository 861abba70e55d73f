-- 0027: auto-withdraw of our own pending invitations (issue 8). An
-- invitation this product sent that is still pending N days later
-- (campaigns.auto_withdraw_days, default 21) is withdrawn through
-- Unipile's DELETE /users/invite/sent/{id}, at most daily_withdraw_limit a
-- day per account (its local day), paced like the sends, inside the
-- campaign's working hours; the lead ends 'withdrawn' with an
-- invitation_withdrawn event. Only invitation ids from our own sent
-- invite actions are ever withdrawn. Pending invitations per account are
-- readable from the API (LinkedIn restricts accounts with too many).

ALTER TABLE liauto.events DROP CONSTRAINT events_type_check;
ALTER TABLE liauto.events ADD CONSTRAINT events_type_check
    CHECK (type IN ('connection_request_sent', 'connection_accepted',
                    'connection_accepted_historical', 'message_sent',
                    'message_received', 'invitation_withdrawn'));

CREATE TABLE liauto.withdrawals (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id         uuid NOT NULL,
    lead_id           uuid NOT NULL,
    campaign_id       uuid NOT NULL,
    account_id        uuid NOT NULL,
    invitation_id     text NOT NULL
                      CONSTRAINT withdrawals_invitation_id_check
                      CHECK (length(invitation_id) BETWEEN 1 AND 200),
    status            text NOT NULL DEFAULT 'claimed'
                      CONSTRAINT withdrawals_status_check
                      CHECK (status IN ('claimed', 'scheduled', 'withdrawn',
                                        'not_pending', 'failed')),
    due_at            timestamptz NOT NULL DEFAULT now(),
    attempts          integer NOT NULL DEFAULT 0,
    claim_token       uuid,
    claimed_at        timestamptz,
    lease_expires_at  timestamptz,
    local_day         date NOT NULL,
    last_error        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT withdrawals_lead_key UNIQUE (lead_id),
    CONSTRAINT withdrawals_lead_fkey
        FOREIGN KEY (lead_id, client_id)
        REFERENCES liauto.leads (id, client_id) ON DELETE CASCADE,
    CONSTRAINT withdrawals_account_fkey
        FOREIGN KEY (account_id, client_id)
        REFERENCES liauto.linkedin_accounts (id, client_id)
        ON DELETE CASCADE
);

COMMENT ON TABLE liauto.withdrawals IS
    'One automatic withdrawal per lead: claimed with a lease and a token '
    '(a DELETE of a withdrawn invitation is a harmless 404, so an expired '
    'claim is simply claimed again), then withdrawn, not_pending (no '
    'longer pending at Unipile), failed, or scheduled for a retry. '
    'local_day (the account''s, at the first claim) is what the daily '
    'limit counts.';

CREATE INDEX withdrawals_account_day_idx
    ON liauto.withdrawals (account_id, local_day);
CREATE INDEX withdrawals_live_idx
    ON liauto.withdrawals (due_at) WHERE status IN ('claimed', 'scheduled');

CREATE TRIGGER withdrawals_touch_updated_at
    BEFORE UPDATE ON liauto.withdrawals
    FOR EACH ROW EXECUTE FUNCTION liauto.touch_updated_at();

-- Our pending invitations: leads still invite_sent, with the provider id
-- of the invite we sent (a sent invite action) and when it went.
CREATE FUNCTION liauto.pending_invitations(p_account_id uuid)
RETURNS TABLE (lead_id uuid, campaign_id uuid, invitation_id text,
               sent_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT l.id, l.campaign_id, x.external_id, l.last_step_sent_at
    FROM liauto.actions AS x
    JOIN liauto.leads AS l ON l.id = x.lead_id
    WHERE x.account_id = p_account_id AND x.kind = 'invite'
      AND x.status = 'sent' AND x.external_id IS NOT NULL
      AND l.status = 'invite_sent'
$$;

COMMENT ON FUNCTION liauto.pending_invitations(uuid) IS
    'The account''s invitations sent by this product whose lead has not '
    'accepted, replied or ended: what auto-withdraw may take back.';

-- Withdrawals already counted on the account's local day.
CREATE FUNCTION liauto.withdrawals_on(p_account_id uuid, p_day date)
RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT count(*)::integer FROM liauto.withdrawals AS w
    WHERE w.account_id = p_account_id AND w.local_day = p_day
      AND w.status IN ('claimed', 'withdrawn', 'not_pending', 'failed')
$$;

COMMENT ON FUNCTION liauto.withdrawals_on(uuid, date) IS
    'Withdrawals claimed on the account''s local day, whatever became of '
    'them (a retry waiting for another day is not counted).';

CREATE FUNCTION liauto.claim_withdrawal(p_account_id uuid, p_lease interval)
RETURNS liauto.withdrawals
LANGUAGE plpgsql AS $$
DECLARE
    v_now      timestamptz := liauto.now();
    v_account  liauto.linkedin_accounts;
    v_day      date;
    v_row      liauto.withdrawals;
BEGIN
    -- Same pacing lock as the sends: the account row, skipped when held.
    SELECT * INTO v_account FROM liauto.linkedin_accounts AS a
    WHERE a.id = p_account_id AND a.status = 'ok'
      AND (a.cooldown_until IS NULL OR a.cooldown_until <= v_now)
      AND (a.next_action_at IS NULL OR a.next_action_at <= v_now)
    FOR NO KEY UPDATE SKIP LOCKED;
    IF NOT FOUND OR liauto.scheduler_paused() THEN
        RETURN NULL;
    END IF;
    v_day := (v_now AT TIME ZONE v_account.timezone)::date;

    -- A claim whose lease expired, or a retry that is due, goes first; a
    -- retry counts against the day it is claimed on.
    SELECT * INTO v_row FROM liauto.withdrawals AS w
    WHERE w.account_id = p_account_id
      AND ((w.status = 'claimed' AND w.lease_expires_at <= v_now)
           OR (w.status = 'scheduled' AND w.due_at <= v_now))
    ORDER BY w.due_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED;

    IF liauto.withdrawals_on(p_account_id, v_day)
       - (CASE WHEN v_row.status = 'claimed' AND v_row.local_day = v_day
               THEN 1 ELSE 0 END)
       >= v_account.daily_withdraw_limit
    THEN
        RETURN NULL;
    END IF;

    IF v_row.id IS NOT NULL THEN
        UPDATE liauto.withdrawals
        SET status = 'claimed', claim_token = gen_random_uuid(),
            claimed_at = v_now, lease_expires_at = v_now + p_lease,
            attempts = attempts + 1, local_day = v_day
        WHERE id = v_row.id
        RETURNING * INTO v_row;
    ELSE
        INSERT INTO liauto.withdrawals AS w
            (client_id, lead_id, campaign_id, account_id, invitation_id,
             claim_token, claimed_at, lease_expires_at, attempts, local_day,
             due_at)
        SELECT v_account.client_id, p.lead_id, p.campaign_id, p_account_id,
               p.invitation_id, gen_random_uuid(), v_now, v_now + p_lease,
               1, v_day, v_now
        FROM liauto.pending_invitations(p_account_id) AS p
        JOIN liauto.campaigns AS c ON c.id = p.campaign_id
        WHERE c.status = 'active' AND c.auto_withdraw_days IS NOT NULL
          AND p.sent_at <= v_now - make_interval(days => c.auto_withdraw_days)
          AND liauto.snap_to_working_hours(
                  v_now, c.timezone, c.working_hours_start,
                  c.working_hours_end, c.working_days) <= v_now
          AND NOT EXISTS (SELECT 1 FROM liauto.withdrawals AS o
                          WHERE o.lead_id = p.lead_id)
        ORDER BY p.sent_at, p.lead_id
        LIMIT 1
        ON CONFLICT (lead_id) DO NOTHING
        RETURNING * INTO v_row;
    END IF;

    IF v_row.id IS NOT NULL THEN
        UPDATE liauto.linkedin_accounts
        SET last_action_at = v_now,
            next_action_at = v_now + make_interval(
                secs => spacing_min_seconds
                        + random() * (spacing_max_seconds
                                      - spacing_min_seconds))
        WHERE id = p_account_id;
    END IF;
    RETURN v_row;
END
$$;

COMMENT ON FUNCTION liauto.claim_withdrawal(uuid, interval) IS
    'Claims one withdrawal for the account, or NULL: an expired claim or a '
    'due retry first, else the oldest of its pending invitations past its '
    'campaign''s auto_withdraw_days (active campaigns, inside working '
    'hours), under the daily limit counted on the account''s local day; '
    'holds the account row and paces the account like a send.';

CREATE FUNCTION engine.claim_withdrawals(p_limit integer, p_lease interval)
RETURNS TABLE (id uuid, claim_token uuid, unipile_account_id text,
               invitation_id text, lead_id uuid, who text)
LANGUAGE plpgsql AS $$
DECLARE
    v_account  uuid;
    v_row      liauto.withdrawals;
BEGIN
    FOR v_account IN
        SELECT DISTINCT x.account_id FROM liauto.actions AS x
        JOIN liauto.leads AS l ON l.id = x.lead_id
        WHERE x.kind = 'invite' AND x.status = 'sent'
          AND l.status = 'invite_sent'
        UNION
        SELECT w.account_id FROM liauto.withdrawals AS w
        WHERE w.status IN ('claimed', 'scheduled')
    LOOP
        EXIT WHEN p_limit <= 0;
        v_row := liauto.claim_withdrawal(v_account, p_lease);
        CONTINUE WHEN v_row.id IS NULL;
        p_limit := p_limit - 1;
        RETURN QUERY
            SELECT v_row.id, v_row.claim_token, a.unipile_account_id,
                   v_row.invitation_id, v_row.lead_id,
                   coalesce(l.public_identifier, l.provider_id,
                            l.id::text)
            FROM liauto.linkedin_accounts AS a, liauto.leads AS l
            WHERE a.id = v_row.account_id AND l.id = v_row.lead_id;
    END LOOP;
END
$$;

COMMENT ON FUNCTION engine.claim_withdrawals(integer, interval) IS
    'Up to p_limit withdrawals to make now, at most one per account per '
    'call (pacing), with what the worker needs for the DELETE.';

-- p_outcome: withdrawn (Unipile said so), not_pending (404: accepted or
-- already gone), retry (at p_retry_at), failed (with p_error).
CREATE FUNCTION engine.complete_withdrawal(p_id uuid, p_claim_token uuid,
                                           p_outcome text, p_error text,
                                           p_retry_at timestamptz)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_row  liauto.withdrawals;
BEGIN
    SELECT * INTO v_row FROM liauto.withdrawals
    WHERE id = p_id AND status = 'claimed' AND claim_token = p_claim_token
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'stale';
    END IF;

    IF p_outcome = 'retry' AND v_row.attempts >= 5 THEN
        p_outcome := 'failed';
        p_error := format('gave up after %s attempts: %s', v_row.attempts,
                          p_error);
    END IF;

    UPDATE liauto.withdrawals
    SET status = CASE p_outcome WHEN 'retry' THEN 'scheduled'
                                ELSE p_outcome END,
        due_at = coalesce(p_retry_at, due_at),
        last_error = p_error, claim_token = NULL, lease_expires_at = NULL
    WHERE id = p_id;

    IF p_outcome IN ('withdrawn', 'not_pending') THEN
        UPDATE liauto.leads
        SET status = 'withdrawn',
            error_reason = CASE p_outcome
                WHEN 'withdrawn' THEN 'invitation withdrawn after '
                    || coalesce(c.auto_withdraw_days::text, '?')
                    || ' days without acceptance'
                ELSE 'invitation no longer pending at withdrawal time '
                     '(withdrawn or accepted elsewhere)' END
        FROM liauto.campaigns AS c
        WHERE leads.id = v_row.lead_id AND c.id = leads.campaign_id
          AND leads.status = 'invite_sent';

        INSERT INTO liauto.events (client_id, lead_id, campaign_id,
                                   account_id, type, occurred_at,
                                   external_id, meta)
        VALUES (v_row.client_id, v_row.lead_id, v_row.campaign_id,
                v_row.account_id, 'invitation_withdrawn', liauto.now(),
                v_row.invitation_id,
                jsonb_build_object('outcome', p_outcome))
        ON CONFLICT (lead_id, type, external_id) DO NOTHING;
    END IF;
    RETURN p_outcome;
END
$$;

COMMENT ON FUNCTION engine.complete_withdrawal(uuid, uuid, text, text,
                                               timestamptz) IS
    'Records a withdrawal''s outcome under its claim token (stale: taken '
    'over, nothing done): withdrawn or not_pending end the lead as '
    'withdrawn with an invitation_withdrawn event; retry schedules it '
    '(failed after 5 attempts); failed keeps the reason.';

-- The API: pending invitations of an account ---------------------------------
CREATE FUNCTION api.accounts_invitations(p_caller jsonb, p_path text[],
                                         p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_account   liauto.linkedin_accounts;
    v_day       date;
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    v_account := liauto.find_account(p_caller, liauto.path_id(p_path));
    v_day := (liauto.now() AT TIME ZONE v_account.timezone)::date;
    RETURN QUERY SELECT * FROM api.ok(200, jsonb_build_object(
        'account_id', v_account.id,
        'pending_count', (SELECT count(*)
                          FROM liauto.pending_invitations(v_account.id)),
        'withdraw_limit', v_account.daily_withdraw_limit,
        'withdrawn_today', liauto.withdrawals_on(v_account.id, v_day),
        'oldest', (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'lead_id', p.lead_id,
                       'campaign_id', p.campaign_id,
                       'invitation_id', p.invitation_id,
                       'sent_at', api.ts(p.sent_at),
                       'withdraw_after', api.ts(
                           p.sent_at + make_interval(
                               days => c.auto_withdraw_days)))
                       ORDER BY p.sent_at, p.lead_id), '[]')
            FROM (SELECT * FROM liauto.pending_invitations(v_account.id)
                  ORDER BY sent_at, lead_id LIMIT 100) AS p
            JOIN liauto.campaigns AS c ON c.id = p.campaign_id)));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.accounts_invitations(jsonb, text[], jsonb, jsonb) IS
    'GET /linkedin-accounts/{id}/invitations: how many of our invitations '
    'are pending (LinkedIn restricts accounts past a few hundred), the '
    'oldest 100 with when auto-withdraw takes them back, and today''s '
    'withdrawals against the daily limit.';
