-- 0036_senders: sender rotation (issue 8). A campaign may send from several
-- LinkedIn accounts of its client; each lead is bound to exactly one of
-- them for its whole sequence, so the same person never hears from two of
-- our accounts.
--
-- - campaign_senders lists a campaign's accounts. linkedin_account_id stays
--   the single-sender field: it is the first active sender; setting it
--   (POST/PATCH) makes that account the only active sender, PUT
--   /campaigns/{id}/senders sets the list and it.
-- - leads.sender_account_id is bound when the lead's first action is
--   planned and never changes (leads_keep_sender). A removed sender is
--   retired, not deleted: it takes no new lead but still serves its bound
--   leads. A sender that disconnects keeps its leads waiting for it: the
--   person has seen (or is about to see) an invitation from that account,
--   a message from another one would be a second stranger writing, and the
--   new account is not even connected with them.
-- - The binding goes to the active, ok, not cooling-off sender with the
--   most remaining capacity: today's remaining invite budget
--   (liauto.budget_remaining: daily, weekly and warm-up limits) minus the
--   invites already queued for it (bound leads whose invite is not
--   claimed yet); ties go to the earlier sender of the list. When every
--   sender is at capacity the lead stays unbound and unplanned until the
--   earliest budget reset: no queue grows past what the accounts may send.

-- ------------------------------------------------------------------------
-- A campaign's senders
-- ------------------------------------------------------------------------

CREATE TABLE liauto.campaign_senders (
    campaign_id  uuid NOT NULL,
    client_id    uuid NOT NULL,
    account_id   uuid NOT NULL,
    position     integer NOT NULL
                 CONSTRAINT campaign_senders_position_check
                 CHECK (position >= 0),
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),

    PRIMARY KEY (campaign_id, account_id),
    FOREIGN KEY (campaign_id, client_id)
        REFERENCES liauto.campaigns (id, client_id) ON DELETE CASCADE,
    -- another client's account cannot be a sender, whatever the caller
    FOREIGN KEY (account_id, client_id)
        REFERENCES liauto.linkedin_accounts (id, client_id)
        ON DELETE CASCADE
);

CREATE INDEX campaign_senders_account_idx
    ON liauto.campaign_senders (account_id);

COMMENT ON TABLE liauto.campaign_senders IS
    'The LinkedIn accounts a campaign sends from. Active ones (by '
    'position) take new leads; retired ones (active false) only serve '
    'the leads already bound to them.';

INSERT INTO liauto.campaign_senders (campaign_id, client_id, account_id,
                                     position)
SELECT id, client_id, linkedin_account_id, 0
FROM liauto.campaigns
WHERE linkedin_account_id IS NOT NULL;

CREATE FUNCTION liauto.sync_single_sender() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.linkedin_account_id IS NULL
       OR NOT EXISTS (SELECT 1 FROM liauto.campaign_senders AS s
                      WHERE s.campaign_id = NEW.id
                        AND s.account_id = NEW.linkedin_account_id
                        AND s.active AND s.position = 0)
    THEN
        UPDATE liauto.campaign_senders SET active = false
        WHERE campaign_id = NEW.id AND active;
        INSERT INTO liauto.campaign_senders AS s
            (campaign_id, client_id, account_id, position)
        SELECT NEW.id, NEW.client_id, NEW.linkedin_account_id, 0
        WHERE NEW.linkedin_account_id IS NOT NULL
        ON CONFLICT (campaign_id, account_id)
            DO UPDATE SET active = true, position = 0;
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION liauto.sync_single_sender() IS
    'AFTER INSERT/UPDATE OF linkedin_account_id trigger of campaigns: an '
    'account set there that is not already the first active sender '
    'becomes the only active one (the single-sender case; NULL retires '
    'them all). PUT /senders sets it to its first, which is a no-op.';

CREATE TRIGGER campaigns_sync_single_sender
    AFTER INSERT OR UPDATE OF linkedin_account_id ON liauto.campaigns
    FOR EACH ROW EXECUTE FUNCTION liauto.sync_single_sender();

CREATE FUNCTION liauto.campaign_sender_ids(p_campaign_id uuid)
RETURNS uuid[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(s.account_id ORDER BY s.position), '{}')
    FROM liauto.campaign_senders AS s
    WHERE s.campaign_id = p_campaign_id AND s.active
$$;

COMMENT ON FUNCTION liauto.campaign_sender_ids(uuid) IS
    'The campaign''s active senders in their order.';


-- ------------------------------------------------------------------------
-- The binding of a lead
-- ------------------------------------------------------------------------

ALTER TABLE liauto.leads
    ADD COLUMN sender_account_id uuid,
    ADD CONSTRAINT leads_sender_account_fkey
        FOREIGN KEY (sender_account_id, client_id)
        REFERENCES liauto.linkedin_accounts (id, client_id)
        ON DELETE SET NULL (sender_account_id);

COMMENT ON COLUMN liauto.leads.sender_account_id IS
    'The account that sends every step to this lead, bound when its first '
    'action is planned and never changed to another account; NULL until '
    'then, and again if the account is deleted (its outbox goes with it).';

-- Leads contacted before this migration keep the account that did it.
UPDATE liauto.leads AS l
SET sender_account_id = coalesce(
        (SELECT x.account_id FROM liauto.actions AS x
         WHERE x.lead_id = l.id
         ORDER BY x.created_at DESC LIMIT 1),
        c.linkedin_account_id)
FROM liauto.campaigns AS c
WHERE c.id = l.campaign_id
  AND (l.status <> 'pending'
       OR EXISTS (SELECT 1 FROM liauto.actions AS x
                  WHERE x.lead_id = l.id))
  AND c.linkedin_account_id IS NOT NULL;

-- The planner's lookups: unbound leads, and bound leads per sender.
CREATE INDEX leads_campaign_sender_next_due_idx
    ON liauto.leads (campaign_id, sender_account_id, next_due_at)
    WHERE status IN ('pending', 'connected', 'messaged');
-- Invites queued per sender (liauto.sender_queue).
CREATE INDEX leads_sender_pending_idx
    ON liauto.leads (sender_account_id)
    WHERE status = 'pending' AND sender_account_id IS NOT NULL;

CREATE FUNCTION liauto.keep_lead_sender() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'lead %: its sender % is bound for the whole sequence',
                    NEW.id, OLD.sender_account_id
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;

COMMENT ON FUNCTION liauto.keep_lead_sender() IS
    'BEFORE UPDATE trigger of leads: a bound sender is never replaced by '
    'another account (the same person never hears from two of ours).';

CREATE TRIGGER leads_keep_sender
    BEFORE UPDATE OF sender_account_id ON liauto.leads
    FOR EACH ROW
    WHEN (OLD.sender_account_id IS NOT NULL
          AND NEW.sender_account_id IS NOT NULL
          AND NEW.sender_account_id <> OLD.sender_account_id)
    EXECUTE FUNCTION liauto.keep_lead_sender();

-- Binding is the engine's bookkeeping, like next_due_at: not a change
-- of the lead for updated_at.
DROP TRIGGER leads_touch_updated_at ON liauto.leads;
CREATE TRIGGER leads_touch_updated_at BEFORE UPDATE ON liauto.leads
    FOR EACH ROW
    WHEN (to_jsonb(OLD) - '{next_due_at,sender_account_id}'::text[]
          IS DISTINCT FROM
          to_jsonb(NEW) - '{next_due_at,sender_account_id}'::text[])
    EXECUTE FUNCTION liauto.touch_updated_at();

CREATE FUNCTION liauto.bind_lead_to_action() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE liauto.leads SET sender_account_id = NEW.account_id
    WHERE id = NEW.lead_id AND sender_account_id IS NULL;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION liauto.bind_lead_to_action() IS
    'AFTER INSERT trigger of actions: whatever planned the first action '
    'of an unbound lead (the planner binds before it plans), its account '
    'becomes the lead''s sender.';

CREATE TRIGGER actions_bind_lead
    AFTER INSERT ON liauto.actions
    FOR EACH ROW WHEN (NEW.lead_id IS NOT NULL)
    EXECUTE FUNCTION liauto.bind_lead_to_action();

CREATE FUNCTION liauto.sender_queue(p_account_id uuid) RETURNS integer
LANGUAGE sql STABLE STRICT AS $$
    SELECT count(*)::integer
    FROM liauto.leads AS l
    WHERE l.sender_account_id = p_account_id AND l.status = 'pending'
      AND NOT EXISTS (SELECT 1 FROM liauto.actions AS x
                      WHERE x.lead_id = l.id AND x.kind = 'invite'
                        AND x.status IN ('claimed', 'sent', 'unknown',
                                         'needs_review'))
$$;

COMMENT ON FUNCTION liauto.sender_queue(uuid) IS
    'Invites queued for the account: leads bound to it whose invite has '
    'not taken a budget unit yet (not claimed, not sent).';

CREATE FUNCTION liauto.sender_capacity(p_account liauto.linkedin_accounts,
                                       p_now timestamptz,
                                       OUT capacity integer,
                                       OUT resets_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_account.status = 'ok'
                     AND (p_account.cooldown_until IS NULL
                          OR p_account.cooldown_until <= p_now)
                THEN b.remaining - liauto.sender_queue(p_account.id)
                ELSE 0 END,
           b.resets_at
    FROM liauto.budget_remaining(p_account.id, 'invite', p_now) AS b
$$;

COMMENT ON FUNCTION liauto.sender_capacity(liauto.linkedin_accounts,
                                           timestamptz) IS
    'How many more leads the account may be bound to now: its remaining '
    'invite budget of the local day minus its queue (0 while it is not '
    'ok or cools off), and when its budget resets.';

CREATE FUNCTION liauto.bind_senders(p_limit integer, p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_look     integer := least(p_limit, 100000) * 4;
    v_cap      jsonb := '{}';  -- account id -> capacity left, resets_at
    v_bound    integer := 0;
    r          record;
    v_sender   uuid;
    v_pick     uuid;
    v_best     integer;
    v_left     integer;
    v_wait     timestamptz;
    v_account  liauto.linkedin_accounts;
    v_c        record;
BEGIN
    FOR r IN
        SELECT l.id, l.campaign_id, x.due,
               liauto.lead_ready_for(l.status, l.current_step)
                   AND c.sequence -> l.current_step IS NOT NULL
                   AND NOT x.live AS wanted,
               liauto.step_kind(l.current_step) = 'invite' AS invite
        FROM liauto.campaigns AS c
        CROSS JOIN LATERAL (SELECT liauto.campaign_holidays(c) AS days) AS h
        -- leads_campaign_sender_next_due_idx; a lead another planner
        -- holds is that planner's
        CROSS JOIN LATERAL (
            SELECT l.* FROM liauto.leads AS l
            WHERE l.campaign_id = c.id AND l.sender_account_id IS NULL
              AND l.status IN ('pending', 'connected', 'messaged')
              AND l.next_due_at <= p_now
            ORDER BY l.next_due_at
            LIMIT v_look
            FOR NO KEY UPDATE OF l SKIP LOCKED) AS l
        CROSS JOIN LATERAL (
            SELECT liauto.step_due_at(c.sequence, l.current_step,
                                      liauto.lead_step_after(l, c),
                                      c.timezone, c.working_days, h.days)
                       AS due,
                   EXISTS (SELECT 1 FROM liauto.actions AS a
                           WHERE a.lead_id = l.id
                             AND a.step_index = l.current_step
                             AND a.status NOT IN ('failed', 'cancelled'))
                       AS live) AS x
        -- as before senders: a campaign none of whose senders may send is
        -- not looked at, its leads are found again once one may
        WHERE c.status = 'active'
          AND EXISTS (SELECT 1 FROM liauto.campaign_senders AS s
                      JOIN liauto.linkedin_accounts AS a
                          ON a.id = s.account_id
                      WHERE s.campaign_id = c.id AND s.active
                        AND a.status = 'ok'
                        AND (a.cooldown_until IS NULL
                             OR a.cooldown_until <= p_now))
        ORDER BY c.id, l.next_due_at, l.id
        LIMIT v_look
    LOOP
        IF NOT r.wanted OR r.due IS NULL THEN
            UPDATE liauto.leads SET next_due_at = 'infinity'
            WHERE id = r.id;
            CONTINUE;
        ELSIF r.due > p_now THEN
            UPDATE liauto.leads SET next_due_at = r.due WHERE id = r.id;
            CONTINUE;
        ELSIF v_bound >= p_limit THEN
            CONTINUE;  -- due: looked at again on the next call
        END IF;

        -- The active sender with the most capacity left (the first of
        -- equals); a message step (a lead connected before it was
        -- bound) takes the first that may send.
        v_pick := NULL;
        v_best := 0;
        v_wait := NULL;
        FOREACH v_sender IN ARRAY liauto.campaign_sender_ids(r.campaign_id)
        LOOP
            IF NOT v_cap ? v_sender::text THEN
                SELECT * INTO v_account FROM liauto.linkedin_accounts
                WHERE id = v_sender;
                SELECT * INTO v_c FROM liauto.sender_capacity(v_account,
                                                              p_now);
                v_cap := v_cap || jsonb_build_object(
                    v_sender::text, jsonb_build_object(
                        'left', greatest(v_c.capacity, 0),
                        'ok', v_account.status = 'ok'
                              AND (v_account.cooldown_until IS NULL
                                   OR v_account.cooldown_until <= p_now),
                        -- room comes back with the budget or the end of
                        -- a cool-off (reconnection: liauto.sender_back)
                        'resets', least(v_c.resets_at,
                                        CASE WHEN v_account.cooldown_until
                                                  > p_now
                                             THEN v_account.cooldown_until
                                        END)));
            END IF;
            v_left := (v_cap #>> ARRAY[v_sender::text, 'left'])::integer;
            IF NOT r.invite
               AND (v_cap #>> ARRAY[v_sender::text, 'ok'])::boolean
            THEN
                v_pick := v_sender;
                EXIT;
            ELSIF r.invite AND v_left > v_best THEN
                v_pick := v_sender;
                v_best := v_left;
            END IF;
            v_wait := least(v_wait, (v_cap #>> ARRAY[v_sender::text,
                                                     'resets'])::timestamptz);
        END LOOP;

        IF v_pick IS NULL THEN
            -- Every sender at capacity: wait for the first budget reset.
            UPDATE liauto.leads
            SET next_due_at = coalesce(v_wait, p_now + interval '1 hour')
            WHERE id = r.id;
            CONTINUE;
        END IF;

        UPDATE liauto.leads SET sender_account_id = v_pick WHERE id = r.id;
        IF r.invite THEN
            v_cap := jsonb_set(v_cap, ARRAY[v_pick::text, 'left'],
                               to_jsonb(v_best - 1));
        END IF;
        v_bound := v_bound + 1;
    END LOOP;

    RETURN v_bound;
END
$$;

COMMENT ON FUNCTION liauto.bind_senders(integer, timestamptz) IS
    'The first half of engine.plan_due: looks at unbound leads whose '
    'next_due_at has come in active campaigns with a sender that may send '
    '(at most 4 x p_limit) and binds up to p_limit of those due to the '
    'active sender with the most capacity (liauto.sender_capacity; ties to '
    'the earlier sender). A due lead no sender has room for waits until '
    'the earliest budget reset; a lead not due yet waits for its due '
    'time, one with nothing to plan for infinity. Returns how many were '
    'bound.';

CREATE FUNCTION liauto.sender_back() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE liauto.leads AS l SET next_due_at = '-infinity'
    FROM liauto.campaign_senders AS s
    WHERE s.account_id = NEW.id AND s.active
      AND l.campaign_id = s.campaign_id AND l.sender_account_id IS NULL
      AND l.status IN ('pending', 'connected', 'messaged')
      AND l.next_due_at > liauto.now() AND l.next_due_at < 'infinity';
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION liauto.sender_back() IS
    'AFTER UPDATE OF status trigger of linkedin_accounts: an account back '
    'to ok may take the unbound leads that wait for room in the campaigns '
    'it is an active sender of, so they are looked at again now.';

CREATE TRIGGER linkedin_accounts_sender_back
    AFTER UPDATE OF status ON liauto.linkedin_accounts
    FOR EACH ROW WHEN (NEW.status = 'ok' AND OLD.status <> 'ok')
    EXECUTE FUNCTION liauto.sender_back();

CREATE OR REPLACE FUNCTION engine.plan_due(p_limit integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_now      timestamptz := liauto.now();
    v_look     integer;
    v_planned  integer;
BEGIN
    IF p_limit IS NULL OR p_limit < 1 THEN
        RAISE EXCEPTION 'plan_due: limit must be positive, not %', p_limit
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF liauto.scheduler_paused() THEN
        RETURN 0;
    END IF;
    v_look := least(p_limit, 100000) * 4;

    PERFORM liauto.bind_senders(p_limit, v_now);

    -- Bound leads, per sender that may send now: leads of a sender that
    -- cannot wait for it untouched, as leads of a disconnected account
    -- always did.
    WITH looked AS MATERIALIZED (
        SELECT f.*,
               f.ready AND f.step IS NOT NULL AND NOT f.live AS wanted
        FROM (
            SELECT l.lead, c AS campaign, a AS account, h.days,
                   (l.lead).id AS lead_id, (l.lead).current_step AS step_no,
                   liauto.lead_ready_for((l.lead).status,
                                         (l.lead).current_step) AS ready,
                   c.sequence -> (l.lead).current_step AS step,
                   liauto.step_due_at(c.sequence, (l.lead).current_step,
                                      liauto.lead_step_after(l.lead, c),
                                      c.timezone, c.working_days, h.days)
                       AS due,
                   EXISTS (SELECT 1 FROM liauto.actions AS x
                           WHERE x.lead_id = (l.lead).id
                             AND x.step_index = (l.lead).current_step
                             AND x.status NOT IN ('failed', 'cancelled'))
                       AS live
            FROM liauto.campaigns AS c
            CROSS JOIN LATERAL (SELECT liauto.campaign_holidays(c) AS days)
                AS h
            JOIN liauto.campaign_senders AS s ON s.campaign_id = c.id
            JOIN liauto.linkedin_accounts AS a ON a.id = s.account_id
            -- leads_campaign_sender_next_due_idx
            CROSS JOIN LATERAL (
                SELECT l AS lead FROM liauto.leads AS l
                WHERE l.campaign_id = c.id
                  AND l.sender_account_id = s.account_id
                  AND l.status IN ('pending', 'connected', 'messaged')
                  AND l.next_due_at <= v_now
                ORDER BY l.next_due_at
                LIMIT v_look
                FOR NO KEY UPDATE OF l SKIP LOCKED) AS l
            WHERE c.status = 'active'
              AND a.status = 'ok'
              AND (a.cooldown_until IS NULL OR a.cooldown_until <= v_now)
            LIMIT v_look) AS f),
    planned AS (
        INSERT INTO liauto.actions (client_id, lead_id, campaign_id,
                                    account_id, kind, step_index, due_at,
                                    payload)
        SELECT (p.lead).client_id, p.lead_id, (p.campaign).id,
               (p.account).id, liauto.step_kind(p.step_no), p.step_no,
               liauto.snap_to_working_hours(
                   greatest(p.due, v_now), (p.campaign).timezone,
                   (p.campaign).working_hours_start,
                   (p.campaign).working_hours_end,
                   (p.campaign).working_days, p.days),
               liauto.action_payload(p.lead, p.campaign, p.account,
                                     p.step_no)
        FROM looked AS p
        WHERE p.wanted AND p.due <= v_now
        ORDER BY p.due
        LIMIT p_limit
        ON CONFLICT (lead_id, step_index)
            WHERE status NOT IN ('failed', 'cancelled') DO NOTHING
        RETURNING lead_id),
    placed AS (
        -- Due but over the limit: looked at again on the next call.
        UPDATE liauto.leads AS l
        SET next_due_at = CASE
                WHEN p.wanted AND p.due > v_now THEN p.due
                ELSE 'infinity' END
        FROM looked AS p
        WHERE l.id = p.lead_id
          AND NOT (p.wanted AND p.due <= v_now
                   AND p.lead_id NOT IN (SELECT lead_id FROM planned)))
    SELECT count(*) INTO v_planned FROM planned;

    RETURN v_planned;
END
$$;

COMMENT ON FUNCTION engine.plan_due(integer) IS
    'Schedules up to p_limit actions. First binds due unbound leads to a '
    'sender (liauto.bind_senders: most capacity first; all at capacity = '
    'the lead waits, nothing planned). Then plans the current step of '
    'each bound lead whose step delay has elapsed (working days without '
    'the campaign''s holidays, DESIGN §5) in an active campaign, from the '
    'lead''s own sender while it is ok and not cooling off, the lead '
    'pending (invite) or connected / messaged (messages wait for '
    'acceptance). due_at is the first instant inside working hours, '
    'holidays skipped, from now. Returns how many were planned; 0 while '
    'the scheduler is paused. Idempotent (actions_live_step_key). Looks '
    'only at leads whose next_due_at has come (at most 4 x p_limit per '
    'call) and moves it to the step''s due time, or to infinity while '
    'nothing can be planned for the lead.';

-- An action is sent by its lead's sender only.
CREATE OR REPLACE FUNCTION liauto.unwanted_reason(p_action liauto.actions)
RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN l.status = 'responded' THEN 'lead_responded'
        WHEN NOT liauto.lead_ready_for(l.status, p_action.step_index)
            THEN 'lead_' || l.status
        WHEN c.status <> 'active' THEN 'campaign_' || c.status
        WHEN l.sender_account_id IS DISTINCT FROM p_action.account_id
            THEN 'not_the_lead_sender'
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
    'Why the action must not be sent any more (lead_responded, '
    'lead_<status>, campaign_<status>, not_the_lead_sender, step_removed, '
    'scheduler_paused, account_<status>), or NULL while it is still '
    'wanted. An account cooling off is only a delay, not a reason.';


-- ------------------------------------------------------------------------
-- The API: campaign and lead fields
-- ------------------------------------------------------------------------

-- The representations and rules of 0025 are kept under a new name and
-- extended, not copied.
ALTER FUNCTION liauto.campaign_json(liauto.campaigns)
    RENAME TO campaign_policy_json;
ALTER FUNCTION liauto.campaign_rules() RENAME TO campaign_policy_rules;
ALTER FUNCTION liauto.campaign_errors(jsonb, uuid, text, jsonb)
    RENAME TO campaign_core_errors;

CREATE FUNCTION liauto.campaign_json(c liauto.campaigns) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT liauto.campaign_policy_json(c) || jsonb_build_object(
        'sender_account_ids', to_jsonb(liauto.campaign_sender_ids(c.id)),
        'holidays', to_jsonb(ARRAY(SELECT d FROM unnest(c.holidays) AS d
                                   ORDER BY d)),
        'holiday_calendar', c.holiday_calendar)
$$;

COMMENT ON FUNCTION liauto.campaign_json(liauto.campaigns) IS
    'The API representation of a campaign: the core fields, its policies, '
    'its active senders (PUT /campaigns/{id}/senders) and its '
    'non-working dates.';

CREATE FUNCTION liauto.campaign_rules() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT liauto.campaign_policy_rules() || '{
        "holidays": {"type": "array"},
        "holiday_calendar": {"type": "string", "nullable": true}
    }'::jsonb
$$;

COMMENT ON FUNCTION liauto.campaign_rules() IS
    'Body rules (api.validate_body) of POST and PATCH /campaigns.';

CREATE FUNCTION liauto.is_iso_date(p_text text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN p_text ~ '^\d{4}-\d{2}-\d{2}$'
           AND to_char(p_text::date, 'YYYY-MM-DD') = p_text;
EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
    RETURN false;
END
$$;

COMMENT ON FUNCTION liauto.is_iso_date(text) IS
    'p_text is a calendar date written YYYY-MM-DD (2026-02-30 is not).';

CREATE FUNCTION liauto.holiday_errors(p_errors jsonb, p_merged jsonb)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT p_errors
        || CASE WHEN p_errors ? 'holidays'
                     OR jsonb_typeof(p_merged -> 'holidays')
                        IS DISTINCT FROM 'array'
                THEN '{}'::jsonb
                WHEN jsonb_array_length(p_merged -> 'holidays') > 366
                THEN '{"holidays": "at most 366 dates"}'
                ELSE coalesce((
                    SELECT jsonb_object_agg(
                               format('holidays[%s]', e.n - 1),
                               CASE WHEN NOT liauto.is_iso_date(e.v #>> '{}')
                                         OR jsonb_typeof(e.v) <> 'string'
                                    THEN 'must be a date "YYYY-MM-DD"'
                                    ELSE 'duplicate date' END)
                    FROM jsonb_array_elements(p_merged -> 'holidays')
                         WITH ORDINALITY AS e (v, n)
                    WHERE jsonb_typeof(e.v) <> 'string'
                       OR NOT liauto.is_iso_date(e.v #>> '{}')
                       OR EXISTS (
                           SELECT 1 FROM jsonb_array_elements(
                                             p_merged -> 'holidays')
                                         WITH ORDINALITY AS o (v, n)
                           WHERE o.n < e.n AND o.v = e.v)), '{}') END
        || CASE WHEN p_errors ? 'holiday_calendar'
                     OR p_merged ->> 'holiday_calendar' IS NULL
                     OR EXISTS (SELECT 1 FROM liauto.calendar_holidays AS h
                                WHERE h.calendar
                                      = p_merged ->> 'holiday_calendar')
                THEN '{}'::jsonb
                ELSE jsonb_build_object('holiday_calendar',
                         'unknown calendar; one of: ' || (
                             SELECT string_agg(DISTINCT h.calendar, ', ')
                             FROM liauto.calendar_holidays AS h)) END
$$;

COMMENT ON FUNCTION liauto.holiday_errors(jsonb, jsonb) IS
    'p_errors plus the holiday checks on the merged campaign: each date '
    'YYYY-MM-DD and distinct (errors named holidays[i]), at most 366, and '
    'a known country calendar.';

CREATE FUNCTION liauto.campaign_errors(p_errors jsonb, p_client_id uuid,
                                       p_status text, p_merged jsonb)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT liauto.holiday_errors(
        liauto.campaign_core_errors(p_errors, p_client_id, p_status,
                                    p_merged),
        p_merged)
$$;

COMMENT ON FUNCTION liauto.campaign_errors(jsonb, uuid, text, jsonb) IS
    'p_errors plus the campaign checks on the merged state: those of '
    'liauto.campaign_core_errors and liauto.holiday_errors.';

CREATE OR REPLACE FUNCTION liauto.lead_json(l liauto.leads) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', l.id,
        'client_id', l.client_id,
        'campaign_id', l.campaign_id,
        'first_name', l.first_name,
        'last_name', l.last_name,
        'company', l.company,
        'title', l.title,
        'email', l.email,
        'public_identifier', l.public_identifier,
        'profile_url', l.profile_url,
        'custom_fields', l.custom_fields,
        'status', l.status,
        'error_reason', l.error_reason,
        'current_step', l.current_step,
        'sender_account_id', l.sender_account_id,
        'last_step_sent_at', api.ts(l.last_step_sent_at),
        'created_at', api.ts(l.created_at),
        'updated_at', api.ts(l.updated_at))
$$;

COMMENT ON FUNCTION liauto.lead_json(liauto.leads) IS
    'The API representation of a lead; sender_account_id is the account '
    'bound to send it every step (null until its first step is planned).';


-- ------------------------------------------------------------------------
-- GET/PUT /campaigns/{id}/senders
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.senders_json(p_campaign liauto.campaigns)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'campaign_id', p_campaign.id,
        'account_ids', to_jsonb(liauto.campaign_sender_ids(p_campaign.id)),
        'senders', coalesce(jsonb_agg(jsonb_build_object(
            'account_id', a.id,
            'name', a.name,
            'status', a.status,
            'active', s.active,
            'position', CASE WHEN s.active THEN s.position END,
            'leads_bound', (SELECT count(*) FROM liauto.leads AS l
                            WHERE l.campaign_id = p_campaign.id
                              AND l.sender_account_id = a.id),
            'invite_capacity', greatest(c.capacity, 0),
            'capacity_resets_at', api.ts(c.resets_at))
            ORDER BY NOT s.active, s.position, a.id), '[]'))
    FROM liauto.campaign_senders AS s
    JOIN liauto.linkedin_accounts AS a ON a.id = s.account_id
    CROSS JOIN LATERAL liauto.sender_capacity(a, liauto.now()) AS c
    WHERE s.campaign_id = p_campaign.id
$$;

COMMENT ON FUNCTION liauto.senders_json(liauto.campaigns) IS
    'A campaign''s senders for GET/PUT /campaigns/{id}/senders: the '
    'active list, then per sender (active first, then retired) its '
    'account, how many leads are bound to it and how many more it may '
    'take today (invite_capacity) until capacity_resets_at.';

CREATE FUNCTION api.campaigns_senders_get(p_caller jsonb, p_path text[],
                                          p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    RETURN QUERY SELECT * FROM api.ok(200, liauto.senders_json(
        liauto.find_campaign(p_caller, liauto.path_id(p_path))));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.campaigns_senders_get(jsonb, text[], jsonb, jsonb)
    IS 'GET /campaigns/{id}/senders: liauto.senders_json.';

CREATE FUNCTION liauto.sender_list_errors(p_campaign liauto.campaigns,
                                          p_ids jsonb)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN jsonb_array_length(p_ids) > 20
            THEN '{"account_ids": "at most 20 accounts"}'::jsonb
        WHEN jsonb_array_length(p_ids) = 0 AND p_campaign.status = 'active'
            THEN '{"account_ids": "an active campaign needs at least one '
                 'sender"}'::jsonb
        ELSE coalesce((
            SELECT jsonb_object_agg(format('account_ids[%s]', e.n - 1),
                                    e.error)
            FROM (SELECT x.n, CASE
                      WHEN api.field_error(x.v, '{"type": "uuid"}')
                           IS NOT NULL
                          THEN 'must be a UUID'
                      -- another client's account is as unknown as a
                      -- missing one
                      WHEN NOT EXISTS (
                          SELECT 1 FROM liauto.linkedin_accounts AS a
                          WHERE a.id = (x.v #>> '{}')::uuid
                            AND a.client_id = p_campaign.client_id)
                          THEN 'unknown linkedin account'
                      WHEN EXISTS (SELECT 1 FROM jsonb_array_elements(p_ids)
                                       WITH ORDINALITY AS o (v, n)
                                   WHERE o.n < x.n
                                     AND lower(o.v #>> '{}')
                                         = lower(x.v #>> '{}'))
                          THEN 'listed twice'
                  END AS error
                  FROM jsonb_array_elements(p_ids)
                       WITH ORDINALITY AS x (v, n)) AS e
            WHERE e.error IS NOT NULL), '{}')
    END
$$;

COMMENT ON FUNCTION liauto.sender_list_errors(liauto.campaigns, jsonb) IS
    'Errors of a sender list: one per bad entry (account_ids[i]: not a '
    'UUID, not an account of the campaign''s client, listed twice), at '
    'most 20, at least one while the campaign is active.';

CREATE FUNCTION api.campaigns_senders_put(p_caller jsonb, p_path text[],
                                          p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_campaign  liauto.campaigns;
    v_errors    jsonb;
    v_ids       uuid[];
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    -- the row lock serialises sender edits with start and pause
    v_campaign := liauto.find_campaign(p_caller, liauto.path_id(p_path),
                                       true);
    v_errors := api.validate_body(p_body,
                                  '{"account_ids": {"type": "array",
                                                    "required": true}}');
    IF NOT v_errors ? 'account_ids' THEN
        v_errors := v_errors || liauto.sender_list_errors(
                                    v_campaign, p_body -> 'account_ids');
    END IF;
    PERFORM api.raise_invalid(v_errors);

    SELECT coalesce(array_agg((e.v #>> '{}')::uuid ORDER BY e.n), '{}')
    INTO v_ids
    FROM jsonb_array_elements(p_body -> 'account_ids')
         WITH ORDINALITY AS e (v, n);

    -- Removed senders are retired: their bound leads stay theirs.
    UPDATE liauto.campaign_senders AS s SET active = false
    WHERE s.campaign_id = v_campaign.id AND s.active
      AND NOT s.account_id = ANY (v_ids);
    INSERT INTO liauto.campaign_senders AS s
        (campaign_id, client_id, account_id, position)
    SELECT v_campaign.id, v_campaign.client_id, i.id, i.n - 1
    FROM unnest(v_ids) WITH ORDINALITY AS i (id, n)
    ON CONFLICT (campaign_id, account_id)
        DO UPDATE SET active = true, position = excluded.position;
    -- the first sender is the single-sender field (already active: the
    -- sync trigger leaves the list alone)
    UPDATE liauto.campaigns AS c SET linkedin_account_id = v_ids[1]
    WHERE c.id = v_campaign.id
      AND c.linkedin_account_id IS DISTINCT FROM v_ids[1]
    RETURNING * INTO v_campaign;
    -- unbound leads that waited for a sender look again
    UPDATE liauto.leads AS l SET next_due_at = '-infinity'
    WHERE l.campaign_id = v_campaign.id AND l.sender_account_id IS NULL
      AND l.status IN ('pending', 'connected', 'messaged')
      AND l.next_due_at <> '-infinity';

    RETURN QUERY SELECT * FROM api.ok(200, liauto.senders_json(v_campaign));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.campaigns_senders_put(jsonb, text[], jsonb, jsonb)
    IS 'PUT /campaigns/{id}/senders {"account_ids": [...]}: the campaign''s '
       'active senders in order (accounts of its client, at most 20, at '
       'least one while active; 422 with one error per bad entry). '
       'linkedin_account_id becomes the first; a removed sender is retired '
       '(keeps its bound leads). 200 with liauto.senders_json.';


-- ------------------------------------------------------------------------
-- GET /campaigns/{id}/analytics/senders
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.sender_stats(p_campaign liauto.campaigns)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    WITH per_lead AS (
        SELECT l.sender_account_id AS account_id,
               count(e.id) FILTER (
                   WHERE e.type = 'connection_request_sent') AS invites,
               count(e.id) FILTER (WHERE e.type = 'message_sent')
                   AS messages,
               coalesce(bool_or(e.type IN ('connection_accepted',
                                           'connection_accepted_historical')),
                        false) AS accepted,
               coalesce(bool_or(e.type = 'message_received'), false)
                   AS replied
        FROM liauto.leads AS l
        LEFT JOIN liauto.events AS e ON e.lead_id = l.id
        WHERE l.campaign_id = p_campaign.id
          AND l.sender_account_id IS NOT NULL
        GROUP BY l.id, l.sender_account_id
    ), per_sender AS (
        SELECT p.account_id, count(*) AS leads, sum(p.invites) AS invites,
               count(*) FILTER (WHERE p.accepted) AS accepted,
               sum(p.messages) AS messages,
               count(*) FILTER (WHERE p.replied) AS replied,
               count(*) FILTER (WHERE p.invites > 0) AS invited
        FROM per_lead AS p
        GROUP BY p.account_id
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'account_id', a.id,
               'name', a.name,
               'active', s.active,
               'leads_bound', coalesce(x.leads, 0),
               'invites', coalesce(x.invites, 0),
               'acceptances', coalesce(x.accepted, 0),
               'messages', coalesce(x.messages, 0),
               'replies', coalesce(x.replied, 0),
               'acceptance_rate', liauto.rate(x.accepted, x.invited),
               'reply_rate', liauto.rate(x.replied, x.leads))
               ORDER BY NOT s.active, s.position, a.id), '[]')
    FROM liauto.campaign_senders AS s
    JOIN liauto.linkedin_accounts AS a ON a.id = s.account_id
    LEFT JOIN per_sender AS x ON x.account_id = s.account_id
    WHERE s.campaign_id = p_campaign.id
$$;

COMMENT ON FUNCTION liauto.sender_stats(liauto.campaigns) IS
    'Per sender of the campaign (active first, then retired): leads bound '
    'to it, invites and messages it sent them, leads that accepted and '
    'that replied; acceptance_rate = accepted / leads invited, reply_rate '
    '= replied / leads bound (4 decimals, null without data).';

CREATE FUNCTION api.campaigns_sender_analytics(p_caller jsonb,
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
        'campaign_id', v_campaign.id,
        'senders', liauto.sender_stats(v_campaign)));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.campaigns_sender_analytics(jsonb, text[], jsonb,
                                                   jsonb) IS
    'GET /campaigns/{id}/analytics/senders: liauto.sender_stats.';


-- ------------------------------------------------------------------------
-- Why a lead waits: its own sender and its campaign's holidays
-- ------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION liauto.explain_wait(p_lead_id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_lead      liauto.leads;
    v_campaign  liauto.campaigns;
    v_account   liauto.linkedin_accounts;
    v_now       timestamptz := liauto.now();
    v_step      jsonb;
    v_kind      text;
    v_due       timestamptz;
    v_at        timestamptz;
    v_budget    record;
    v_reason    text;
    v_detail    text;
    v_days      date[];
BEGIN
    SELECT * INTO v_lead FROM liauto.leads WHERE id = p_lead_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT * INTO v_campaign FROM liauto.campaigns
    WHERE id = v_lead.campaign_id;
    -- the lead's own sender; before it is bound, the campaign's first
    SELECT * INTO v_account FROM liauto.linkedin_accounts
    WHERE id = coalesce(v_lead.sender_account_id,
                        v_campaign.linkedin_account_id);
    v_days := liauto.campaign_holidays(v_campaign);

    v_step := v_campaign.sequence -> v_lead.current_step;
    v_kind := CASE WHEN v_lead.current_step = 0 THEN 'invite'
                   ELSE 'message' END;

    -- States in which nothing is expected: no time is computed.
    IF v_lead.status = 'responded' THEN
        v_reason := 'responded';
        v_detail := 'The lead replied; no further step is sent.';
    ELSIF v_lead.status = 'error' THEN
        v_reason := 'error';
        v_detail := 'Stopped after an error: ' || v_lead.error_reason;
    ELSIF v_step IS NULL
          OR v_lead.status IN ('completed', 'withdrawn', 'skipped')
          OR v_campaign.status = 'completed'
    THEN
        v_reason := 'finished';
        v_detail := format('The sequence is over for this lead (lead %s, '
                           'campaign %s).', v_lead.status,
                           v_campaign.status);
    ELSIF v_campaign.status <> 'active' THEN
        v_reason := 'campaign_paused';
        v_detail := format('The campaign is %s; start it to send.',
                           v_campaign.status);
    ELSIF liauto.scheduler_paused() THEN
        v_reason := 'scheduler_paused';
        v_detail := 'Sending is paused for every campaign (scheduler '
                    'stopped).';
    ELSIF v_account.status <> 'ok' THEN
        v_reason := 'account_disconnected';
        v_detail := format('LinkedIn account "%s" is %s; sending resumes '
                           'when it is ok again.', v_account.name,
                           v_account.status);
    ELSIF v_kind = 'message' AND v_lead.status = 'invite_sent' THEN
        v_reason := 'waiting_for_acceptance';
        v_detail := 'Step ' || v_lead.current_step || ' is a message: it '
                    || 'waits until the invitation is accepted.';
    END IF;

    IF v_reason IS NOT NULL THEN
        RETURN jsonb_build_object(
            'next_step', CASE WHEN v_reason = 'finished' THEN NULL
                              ELSE v_lead.current_step END,
            'expected_at', NULL, 'reason', v_reason, 'detail', v_detail);
    END IF;

    -- Time and budget: expected_at is the first instant every rule
    -- allows; reason names the first rule that blocks sending right now.
    v_due := liauto.step_due_at(v_campaign.sequence, v_lead.current_step,
                                liauto.lead_step_after(v_lead, v_campaign),
                                v_campaign.timezone,
                                v_campaign.working_days, v_days);
    v_at := liauto.snap_to_working_hours(
        greatest(v_now, v_due, v_account.cooldown_until),
        v_campaign.timezone, v_campaign.working_hours_start,
        v_campaign.working_hours_end, v_campaign.working_days, v_days);
    SELECT * INTO v_budget
    FROM liauto.budget_remaining(v_account.id, v_kind, v_at);
    IF v_budget.remaining = 0 THEN
        -- A limit of 0 never resets: no expected time (STRICT snap gives
        -- NULL).
        v_at := liauto.snap_to_working_hours(
            CASE WHEN v_budget.resets_at IS NOT NULL
                 THEN greatest(v_at, v_budget.resets_at) END,
            v_campaign.timezone, v_campaign.working_hours_start,
            v_campaign.working_hours_end, v_campaign.working_days, v_days);
    END IF;
    SELECT * INTO v_budget
    FROM liauto.budget_remaining(v_account.id, v_kind, v_now);

    IF v_due > v_now THEN
        v_reason := 'delay';
        v_detail := format('Step %s waits %s working day(s) and %s '
                           'minute(s) after the previous step; the delay '
                           'ends %s.', v_lead.current_step,
                           coalesce(v_step ->> 'delay_days', '0'),
                           coalesce(v_step ->> 'delay_minutes', '0'),
                           liauto.format_local(v_due, v_campaign.timezone));
    ELSIF v_account.cooldown_until > v_now THEN
        v_reason := 'account_cooling_off';
        v_detail := format('LinkedIn account "%s" is cooling off after a '
                           'rate limit until %s.', v_account.name,
                           liauto.format_local(v_account.cooldown_until,
                                               v_campaign.timezone));
    ELSIF NOT extract(isodow FROM v_now AT TIME ZONE v_campaign.timezone)
              ::smallint = ANY (v_campaign.working_days)
    THEN
        v_reason := 'weekend';
        v_detail := format('%s is not a working day of the campaign.',
                           to_char(v_now AT TIME ZONE v_campaign.timezone,
                                   'FMDay'));
    ELSIF (v_now AT TIME ZONE v_campaign.timezone)::date = ANY (v_days) THEN
        v_reason := 'holiday';
        v_detail := format('%s is a holiday of the campaign.',
                           to_char(v_now AT TIME ZONE v_campaign.timezone,
                                   'FMDay YYYY-MM-DD'));
    ELSIF liauto.snap_to_working_hours(
              v_now, v_campaign.timezone, v_campaign.working_hours_start,
              v_campaign.working_hours_end, v_campaign.working_days, v_days)
          > v_now
    THEN
        v_reason := 'outside_working_hours';
        v_detail := format('It is %s, outside working hours %s-%s.',
                           liauto.format_local(v_now, v_campaign.timezone),
                           to_char(v_campaign.working_hours_start, 'HH24:MI'),
                           to_char(v_campaign.working_hours_end, 'HH24:MI'));
    ELSIF v_budget.remaining = 0 THEN
        v_reason := v_budget.limited_by || '_cap';
        v_detail := format('LinkedIn account "%s" reached its %s %s limit.',
                           v_account.name, v_budget.limited_by, v_kind);
    ELSE
        v_reason := 'due';
        v_detail := 'Due now; it goes out with the account''s next send.';
    END IF;

    RETURN jsonb_build_object(
        'next_step', v_lead.current_step,
        'expected_at', to_char(v_at AT TIME ZONE 'UTC',
                               'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'reason', v_reason,
        'detail', v_detail || coalesce(
                      ' Expected ' ||
                      liauto.format_local(v_at, v_campaign.timezone) || '.',
                      ' Nothing is sent until the limit is raised.'));
END
$$;

COMMENT ON FUNCTION liauto.explain_wait(uuid) IS
    '{"next_step","expected_at","reason","detail"} for GET '
    '/leads/{id}/schedule, for the lead''s own sender (the campaign''s '
    'first before it is bound) and with the campaign''s holidays. reason '
    'is the first rule that stops the step now, in this order: '
    'responded, error, finished, campaign_paused, scheduler_paused, '
    'account_disconnected, waiting_for_acceptance (expected_at null for '
    'these), delay, account_cooling_off, weekend, holiday, '
    'outside_working_hours, daily_cap, weekly_cap, or due when nothing '
    'does. expected_at is the first instant all time and budget rules '
    'allow.';
