-- 0005_engine_time: the time and budget rules of the sequence engine (DESIGN §5).
--
-- Everything here that needs "now" reads liauto.now(), the controllable
-- clock, or takes the instant as a parameter, so tests and the simulator can
-- walk a campaign across days, weekends and DST changes without sleeping.
-- All calendar arithmetic is done by Postgres with its IANA tz database:
-- no timezone code lives in C.
--
-- Local times that do not map to exactly one instant (the rule everywhere,
-- implemented once in liauto.resolve_local_time):
-- - a local time skipped by a spring-forward change (01:30 on 29 Mar 2026 in
--   Europe/London) is read with the offset in force before the change, i.e.
--   it moves later by the length of the gap: 01:30 -> 02:30 BST (01:30 UTC).
--   This is PostgreSQL's and java.time's rule; a send is never earlier than
--   the wall clock said.
-- - a local time that occurs twice on a fall-back day (01:30 on 1 Nov 2026
--   in America/New_York) means its first occurrence, 01:30 EDT (05:30 UTC):
--   a window opens, and a delay ends, the first time the wall clock shows
--   that time (PostgreSQL alone would pick the second one).
--
-- Only tables of 0001 are used; liauto.settings (scheduler_paused) is read
-- when it exists.

-- ------------------------------------------------------------------------
-- The controllable clock
-- ------------------------------------------------------------------------

CREATE TABLE liauto.engine_clock (
    singleton     boolean PRIMARY KEY DEFAULT true
                  CONSTRAINT engine_clock_singleton_check CHECK (singleton),
    clock_offset  interval NOT NULL DEFAULT '0',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE liauto.engine_clock IS
    'One row: how far the engine''s clock (liauto.now()) runs ahead of the '
    'database clock. Zero in production; tests and the simulator move it '
    'with liauto.set_clock / liauto.shift_clock.';

CREATE TRIGGER engine_clock_touch_updated_at
    BEFORE UPDATE ON liauto.engine_clock
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION liauto.touch_updated_at();

INSERT INTO liauto.engine_clock DEFAULT VALUES;

CREATE FUNCTION liauto.now() RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT pg_catalog.now()
           + coalesce((SELECT clock_offset FROM liauto.engine_clock),
                      interval '0')
$$;

COMMENT ON FUNCTION liauto.now() IS
    'The engine''s "now": transaction start time plus the clock offset. '
    'Every due / working-hours / budget-day decision reads this, never '
    'now() directly. Call it schema-qualified (pg_catalog comes first in '
    'search_path).';

CREATE FUNCTION liauto.shift_clock(p_by interval) RETURNS timestamptz
LANGUAGE sql AS $$
    UPDATE liauto.engine_clock
    SET clock_offset = clock_offset + p_by
    RETURNING pg_catalog.now() + clock_offset
$$;

COMMENT ON FUNCTION liauto.shift_clock(interval) IS
    'Moves the engine clock by p_by (may be negative); returns the new '
    'liauto.now(). For tests and the simulator.';

CREATE FUNCTION liauto.set_clock(p_at timestamptz) RETURNS timestamptz
LANGUAGE sql AS $$
    UPDATE liauto.engine_clock
    SET clock_offset = p_at - pg_catalog.now()
    RETURNING pg_catalog.now() + clock_offset
$$;

COMMENT ON FUNCTION liauto.set_clock(timestamptz) IS
    'Makes liauto.now() equal p_at at this transaction''s start; the clock '
    'then runs on with the real one. liauto.set_clock(now()) resets it.';


-- ------------------------------------------------------------------------
-- Local calendar arithmetic
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.resolve_local_time(p_local timestamp, p_tz text)
RETURNS timestamptz
LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE
    v_instant  timestamptz := p_local AT TIME ZONE p_tz;
    v_earlier  timestamptz;
BEGIN
    -- Postgres reads an ambiguous local time with the offset after the
    -- change (the second occurrence). Read it again with the offset of a
    -- day before: if that also shows p_local, it is the first occurrence.
    v_earlier := (p_local - ((v_instant - interval '1 day') AT TIME ZONE p_tz
                             - (v_instant - interval '1 day')
                               AT TIME ZONE 'UTC'))
                 AT TIME ZONE 'UTC';

    IF v_earlier < v_instant AND v_earlier AT TIME ZONE p_tz = p_local THEN
        RETURN v_earlier;
    END IF;

    RETURN v_instant;
END
$$;

COMMENT ON FUNCTION liauto.resolve_local_time(timestamp, text) IS
    'The instant of wall-clock time p_local in zone p_tz. A time skipped '
    'by a spring-forward change moves later by the gap (London 01:30 on '
    '2026-03-29 -> 02:30 BST); a time that occurs twice on a fall-back '
    'day is its first occurrence (New York 01:30 on 2026-11-01 -> 01:30 '
    'EDT).';

CREATE FUNCTION liauto.add_working_days(p_from timestamptz, p_days integer,
                                        p_tz text,
                                        p_working_days smallint[]
                                            DEFAULT '{1,2,3,4,5}')
RETURNS timestamptz
LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE
    v_local  timestamp := p_from AT TIME ZONE p_tz;
    v_kinds  integer;
    v_day    date;
BEGIN
    IF p_days < 0 THEN
        RAISE EXCEPTION 'add_working_days: negative day count %', p_days
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_days = 0 THEN
        RETURN p_from;
    END IF;

    SELECT count(DISTINCT d) INTO v_kinds
    FROM unnest(p_working_days) AS d
    WHERE d BETWEEN 1 AND 7;
    IF v_kinds = 0 THEN
        RAISE EXCEPTION 'add_working_days: no working day in %',
                        p_working_days
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- The p_days-th working day strictly after the local date; a week
    -- holds v_kinds of them, so the search range is bounded.
    SELECT d INTO v_day
    FROM generate_series(v_local::date + 1,
                         v_local::date + 7 * ((p_days - 1) / v_kinds + 1),
                         interval '1 day') AS g(t),
         LATERAL (SELECT g.t::date AS d) AS x
    WHERE extract(isodow FROM d)::smallint = ANY (p_working_days)
    ORDER BY d
    OFFSET p_days - 1
    LIMIT 1;

    RETURN liauto.resolve_local_time(v_day + v_local::time, p_tz);
END
$$;

COMMENT ON FUNCTION liauto.add_working_days(timestamptz, integer, text,
                                            smallint[]) IS
    'The instant p_days working days after p_from: the p_days-th working '
    'day (ISO weekday in p_working_days) after p_from''s local date in '
    'p_tz, at the same local time of day (DST rule of '
    'liauto.resolve_local_time). Non-working days are skipped, so Friday '
    '+ 1 is Monday and Saturday + 1 is Monday too. 0 days is p_from.';

CREATE FUNCTION liauto.working_days_between(p_from timestamptz,
                                            p_to timestamptz, p_tz text,
                                            p_working_days smallint[]
                                                DEFAULT '{1,2,3,4,5}')
RETURNS integer
LANGUAGE sql STABLE STRICT AS $$
    SELECT sign(extract(epoch FROM p_to - p_from))::integer
           * count(*)::integer
    FROM generate_series(
             (least(p_from, p_to) AT TIME ZONE p_tz)::date + 1,
             (greatest(p_from, p_to) AT TIME ZONE p_tz)::date,
             interval '1 day') AS g(t)
    WHERE extract(isodow FROM g.t)::smallint = ANY (p_working_days)
$$;

COMMENT ON FUNCTION liauto.working_days_between(timestamptz, timestamptz,
                                                text, smallint[]) IS
    'Working days whose local date lies after p_from''s and up to '
    'p_to''s (negative when p_to is earlier): the inverse of '
    'liauto.add_working_days, which the schedule endpoint uses to say how '
    'much of a delay is left.';

CREATE FUNCTION liauto.snap_to_working_hours(p_at timestamptz, p_tz text,
                                             p_start time, p_end time,
                                             p_working_days smallint[]
                                                 DEFAULT '{1,2,3,4,5}')
RETURNS timestamptz
LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE
    v_date   date := (p_at AT TIME ZONE p_tz)::date;
    v_open   timestamptz;
    v_close  timestamptz;
BEGIN
    IF p_start >= p_end THEN
        RAISE EXCEPTION 'snap_to_working_hours: window % - % is empty',
                        p_start, p_end
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- A window never crosses midnight (campaigns_working_hours_check), so
    -- only windows from p_at's local date onwards can contain it; eight
    -- dates reach every weekday once past the current one.
    FOR i IN 0..7 LOOP
        CONTINUE WHEN NOT extract(isodow FROM v_date + i)::smallint
                          = ANY (p_working_days);
        v_open := liauto.resolve_local_time(v_date + i + p_start, p_tz);
        v_close := liauto.resolve_local_time(v_date + i + p_end, p_tz);
        IF p_at < v_close THEN
            RETURN greatest(p_at, v_open);
        END IF;
    END LOOP;

    RAISE EXCEPTION 'snap_to_working_hours: no working day in %',
                    p_working_days
        USING ERRCODE = 'invalid_parameter_value';
END
$$;

COMMENT ON FUNCTION liauto.snap_to_working_hours(timestamptz, text, time,
                                                 time, smallint[]) IS
    'The first instant >= p_at inside working hours: local [p_start, '
    'p_end) on a working day in p_tz. p_end may be 24:00 (a window up to '
    'midnight). Window edges use liauto.resolve_local_time: an edge in a '
    'spring-forward gap moves later by the gap, an edge in a repeated '
    'fall-back hour is its first occurrence.';


-- ------------------------------------------------------------------------
-- When a lead's next step may run
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.step_due_at(p_sequence jsonb, p_step integer,
                                   p_after timestamptz, p_tz text,
                                   p_working_days smallint[])
RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT liauto.add_working_days(
               p_after,
               coalesce((s.step ->> 'delay_days')::integer, 0),
               p_tz, p_working_days)
           + make_interval(
               mins => coalesce((s.step ->> 'delay_minutes')::integer, 0))
    FROM (SELECT p_sequence -> p_step AS step) AS s
    WHERE p_step >= 0 AND s.step IS NOT NULL
$$;

COMMENT ON FUNCTION liauto.step_due_at(jsonb, integer, timestamptz, text,
                                       smallint[]) IS
    'When step p_step''s delay has elapsed: delay_days working days after '
    'p_after (same local time), then delay_minutes plain minutes. NULL '
    'past the end of the sequence.';

CREATE FUNCTION liauto.next_send_at(p_sequence jsonb, p_current_step integer,
                                    p_after timestamptz, p_tz text,
                                    p_start time, p_end time,
                                    p_working_days smallint[])
RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT liauto.snap_to_working_hours(
               liauto.step_due_at(p_sequence, p_current_step, p_after, p_tz,
                                  p_working_days),
               p_tz, p_start, p_end, p_working_days)
$$;

COMMENT ON FUNCTION liauto.next_send_at(jsonb, integer, timestamptz, text,
                                        time, time, smallint[]) IS
    'Pure rule: step p_current_step''s delay counted from p_after (the '
    'previous step''s send, or the start for step 0), snapped into working '
    'hours. NULL when the sequence is finished.';

CREATE FUNCTION liauto.lead_step_after(p_lead liauto.leads,
                                       p_campaign liauto.campaigns)
RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT coalesce(p_lead.last_step_sent_at,
                    greatest(p_campaign.started_at, p_lead.created_at))
$$;

COMMENT ON FUNCTION liauto.lead_step_after(liauto.leads, liauto.campaigns)
    IS 'Where the current step''s delay counts from: the previous step''s '
       'send, or for the first step the later of the campaign''s start and '
       'the lead''s creation.';

CREATE FUNCTION liauto.next_send_at(p_campaign_id uuid, p_lead_id uuid)
RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT liauto.next_send_at(c.sequence, l.current_step,
                               liauto.lead_step_after(l, c), c.timezone,
                               c.working_hours_start, c.working_hours_end,
                               c.working_days)
    FROM liauto.leads AS l
    JOIN liauto.campaigns AS c ON c.id = l.campaign_id
    WHERE l.id = p_lead_id AND c.id = p_campaign_id
      AND l.status NOT IN ('responded', 'completed', 'error', 'withdrawn',
                           'skipped')
$$;

COMMENT ON FUNCTION liauto.next_send_at(uuid, uuid) IS
    'The earliest instant the time rules allow the lead''s next step '
    '(liauto.next_send_at on the stored campaign and lead). NULL when the '
    'sequence is finished or the lead will get no further step '
    '(responded, completed, error, withdrawn, skipped). Pauses, caps, '
    'cool-offs and acceptance are not time rules: liauto.explain_wait '
    'adds them.';


-- ------------------------------------------------------------------------
-- Daily and weekly budgets per account
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.account_day(p_account_id uuid, p_at timestamptz)
RETURNS date
LANGUAGE sql STABLE STRICT AS $$
    SELECT (p_at AT TIME ZONE a.timezone)::date
    FROM liauto.linkedin_accounts AS a
    WHERE a.id = p_account_id
$$;

COMMENT ON FUNCTION liauto.account_day(uuid, timestamptz) IS
    'The calendar day of p_at in the account''s timezone: the rate_usage '
    'day a send at p_at counts against.';

CREATE FUNCTION liauto.check_budget_kind(p_kind text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_kind IS NULL OR p_kind NOT IN ('invite', 'message') THEN
        RAISE EXCEPTION 'budget kind must be invite or message, not %',
                        coalesce(p_kind, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;

COMMENT ON FUNCTION liauto.check_budget_kind(text) IS
    'Refuses a budget kind other than invite or message.';

CREATE FUNCTION liauto.weekly_invites_used(p_account_id uuid, p_day date)
RETURNS integer
LANGUAGE sql STABLE STRICT AS $$
    SELECT max(w.used)::integer
    FROM generate_series(0, 6) AS k,
         LATERAL (SELECT coalesce(sum(u.invites), 0) AS used
                  FROM liauto.rate_usage AS u
                  WHERE u.account_id = p_account_id
                    AND u.day BETWEEN p_day + k - 6 AND p_day + k) AS w
$$;

COMMENT ON FUNCTION liauto.weekly_invites_used(uuid, date) IS
    'Invites counted against the weekly limit by one more invite on p_day: '
    'the fullest 7-day window containing p_day. Windows ending after '
    'p_day matter only when a reservation for a day lands after one for '
    'the next (two workers either side of local midnight).';

CREATE FUNCTION liauto.reserve_budget(p_account_id uuid, p_kind text,
                                      p_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_account  liauto.linkedin_accounts;
    v_day      date;
    v_limit    integer;
    v_done     boolean;
BEGIN
    PERFORM liauto.check_budget_kind(p_kind);

    -- Invites are also capped over the last 7 days, a sum over other rows
    -- than the one the upsert locks: two reservations for different days
    -- (around midnight) could both pass it. Serialise invite reservations
    -- per account; NO KEY UPDATE leaves foreign-key checks unblocked.
    IF p_kind = 'invite' THEN
        SELECT * INTO v_account FROM liauto.linkedin_accounts
        WHERE id = p_account_id FOR NO KEY UPDATE;
    ELSE
        SELECT * INTO v_account FROM liauto.linkedin_accounts
        WHERE id = p_account_id;
    END IF;
    IF NOT FOUND THEN
        RETURN false;
    END IF;

    v_day := (p_at AT TIME ZONE v_account.timezone)::date;
    v_limit := CASE p_kind WHEN 'invite' THEN v_account.daily_invite_limit
                           ELSE v_account.daily_message_limit END;

    -- One statement: the first unit of the day inserts the row, later
    -- ones update it under its row lock, and the daily test is evaluated
    -- on the locked, latest row, so concurrent callers never pass the
    -- limit together.
    INSERT INTO liauto.rate_usage AS u (account_id, day, invites, messages)
    SELECT p_account_id, v_day, (p_kind = 'invite')::integer,
           (p_kind = 'message')::integer
    WHERE v_limit > 0
      AND (p_kind = 'message'
           OR liauto.weekly_invites_used(p_account_id, v_day)
              < v_account.weekly_invite_limit)
    ON CONFLICT (account_id, day) DO UPDATE
    SET invites = u.invites + excluded.invites,
        messages = u.messages + excluded.messages
    WHERE CASE p_kind WHEN 'invite' THEN u.invites ELSE u.messages END
          < v_limit
    RETURNING true INTO v_done;

    RETURN coalesce(v_done, false);
END
$$;

COMMENT ON FUNCTION liauto.reserve_budget(uuid, text, timestamptz) IS
    'Takes one invite or message unit of the account''s budget for the '
    'local day of p_at (call it with liauto.now() in the transaction that '
    'claims the action). True when taken; false when the daily limit (or '
    'for invites the 7-local-day weekly_invite_limit) is reached or the '
    'account does not exist. Race-free in READ COMMITTED: an upsert whose '
    'WHERE sees the locked row, and invites serialised per account.';

CREATE FUNCTION liauto.release_budget(p_account_id uuid, p_kind text,
                                      p_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_done  boolean;
BEGIN
    PERFORM liauto.check_budget_kind(p_kind);

    UPDATE liauto.rate_usage AS u
    SET invites = u.invites - (p_kind = 'invite')::integer,
        messages = u.messages - (p_kind = 'message')::integer
    WHERE u.account_id = p_account_id
      AND u.day = liauto.account_day(p_account_id, p_at)
      AND CASE p_kind WHEN 'invite' THEN u.invites ELSE u.messages END > 0
    RETURNING true INTO v_done;

    RETURN coalesce(v_done, false);
END
$$;

COMMENT ON FUNCTION liauto.release_budget(uuid, text, timestamptz) IS
    'Gives back one unit reserved at p_at (the claim time, so the same '
    'local day) for a send that DEFINITELY did not happen: the claim was '
    'abandoned before the HTTP call, or the provider refused it outright. '
    'Never for a timeout, 5xx, crash or any unknown outcome: the invite may '
    'have gone out, and the slot stays spent. False when nothing was '
    'reserved that day.';

CREATE FUNCTION liauto.budget_remaining(p_account_id uuid, p_kind text,
                                        p_at timestamptz)
RETURNS TABLE (remaining integer, resets_at timestamptz, limited_by text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_account      liauto.linkedin_accounts;
    v_day          date;
    v_used         integer;
    v_daily_left   integer;
    v_weekly_left  integer;
    v_weekly_day   date;
BEGIN
    PERFORM liauto.check_budget_kind(p_kind);

    SELECT * INTO v_account FROM liauto.linkedin_accounts
    WHERE id = p_account_id;
    IF NOT FOUND THEN
        RETURN;
    END IF;

    v_day := (p_at AT TIME ZONE v_account.timezone)::date;
    SELECT CASE p_kind WHEN 'invite' THEN u.invites ELSE u.messages END
    INTO v_used
    FROM liauto.rate_usage AS u
    WHERE u.account_id = p_account_id AND u.day = v_day;

    v_daily_left := greatest(
        CASE p_kind WHEN 'invite' THEN v_account.daily_invite_limit
                    ELSE v_account.daily_message_limit END
        - coalesce(v_used, 0), 0);
    remaining := v_daily_left;
    limited_by := 'daily';
    resets_at := liauto.resolve_local_time((v_day + 1)::timestamp,
                                           v_account.timezone);

    IF p_kind = 'invite' THEN
        v_weekly_left := greatest(
            v_account.weekly_invite_limit
            - liauto.weekly_invites_used(p_account_id, v_day), 0);

        IF v_weekly_left < v_daily_left
           OR (v_weekly_left = 0 AND v_daily_left = 0)
        THEN
            remaining := v_weekly_left;
            limited_by := 'weekly';
        END IF;

        IF v_weekly_left = 0 THEN
            -- The first later local day on which one more invite fits.
            SELECT v_day + k INTO v_weekly_day
            FROM generate_series(1, 7) AS k
            WHERE liauto.weekly_invites_used(p_account_id, v_day + k)
                  < v_account.weekly_invite_limit
            ORDER BY k
            LIMIT 1;
            resets_at := greatest(
                resets_at,
                liauto.resolve_local_time(v_weekly_day::timestamp,
                                          v_account.timezone));
            IF v_weekly_day IS NULL THEN
                resets_at := NULL;
            END IF;
        END IF;
    END IF;

    IF (CASE p_kind WHEN 'invite' THEN v_account.daily_invite_limit
                    ELSE v_account.daily_message_limit END) = 0
    THEN
        resets_at := NULL;
    END IF;

    RETURN NEXT;
END
$$;

COMMENT ON FUNCTION liauto.budget_remaining(uuid, text, timestamptz) IS
    'Units of p_kind the account may still send on p_at''s local day, '
    'when more become available (resets_at: the next local midnight, or '
    'for an exhausted weekly invite cap the first local day whose 7-day '
    'window has room; NULL when a limit is 0) and which cap binds '
    '(daily|weekly). For the API and liauto.explain_wait.';


-- ------------------------------------------------------------------------
-- Why a lead is waiting
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.scheduler_paused() RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_paused  boolean;
BEGIN
    -- liauto.settings belongs to another migration; without it there is
    -- no global pause.
    IF to_regclass('liauto.settings') IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE $q$SELECT value = 'true' FROM liauto.settings
               WHERE key = 'scheduler_paused'$q$ INTO v_paused;
    RETURN coalesce(v_paused, false);
END
$$;

COMMENT ON FUNCTION liauto.scheduler_paused() IS
    'True when liauto.settings exists and its scheduler_paused is true.';

CREATE FUNCTION liauto.format_local(p_at timestamptz, p_tz text) RETURNS text
LANGUAGE sql STABLE STRICT AS $$
    SELECT to_char(p_at AT TIME ZONE p_tz, 'Dy YYYY-MM-DD HH24:MI')
           || ' ' || p_tz
$$;

COMMENT ON FUNCTION liauto.format_local(timestamptz, text) IS
    'p_at as the wall-clock time of p_tz, for human sentences.';

CREATE FUNCTION liauto.explain_wait(p_lead_id uuid) RETURNS jsonb
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
BEGIN
    SELECT * INTO v_lead FROM liauto.leads WHERE id = p_lead_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT * INTO v_campaign FROM liauto.campaigns
    WHERE id = v_lead.campaign_id;
    SELECT * INTO v_account FROM liauto.linkedin_accounts
    WHERE id = v_campaign.linkedin_account_id;

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
                                v_campaign.working_days);
    v_at := liauto.snap_to_working_hours(
        greatest(v_now, v_due, v_account.cooldown_until),
        v_campaign.timezone, v_campaign.working_hours_start,
        v_campaign.working_hours_end, v_campaign.working_days);
    SELECT * INTO v_budget
    FROM liauto.budget_remaining(v_account.id, v_kind, v_at);
    IF v_budget.remaining = 0 THEN
        -- A limit of 0 never resets: no expected time (STRICT snap gives
        -- NULL).
        v_at := liauto.snap_to_working_hours(
            CASE WHEN v_budget.resets_at IS NOT NULL
                 THEN greatest(v_at, v_budget.resets_at) END,
            v_campaign.timezone, v_campaign.working_hours_start,
            v_campaign.working_hours_end, v_campaign.working_days);
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
    ELSIF liauto.snap_to_working_hours(
              v_now, v_campaign.timezone, v_campaign.working_hours_start,
              v_campaign.working_hours_end, v_campaign.working_days)
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
    '/leads/{id}/schedule. reason is the first rule that stops the step '
    'now, in this order: responded, error, finished, campaign_paused, '
    'scheduler_paused, account_disconnected, waiting_for_acceptance '
    '(expected_at null for these), delay, account_cooling_off, weekend, '
    'outside_working_hours, daily_cap, weekly_cap, or due when nothing '
    'does. expected_at is the first instant all time and budget rules '
    'allow (the next local reset of a binding cap included).';
