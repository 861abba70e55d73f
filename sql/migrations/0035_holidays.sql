-- 0035_holidays: non-working dates that the working-day arithmetic of
-- 0005 skips (issue 8).
--
-- A campaign has its own list of non-working dates (campaigns.holidays,
-- local dates in the campaign's timezone) and may follow a country
-- calendar (campaigns.holiday_calendar). Both make one set of dates,
-- liauto.campaign_holidays(campaign), which the callers pass to the
-- calendar functions as a date[]: nothing is sent on such a date, and a
-- delay in working days does not count it.
--
-- The country calendars are data: the rules below (a fixed date, a day
-- counted from Easter Sunday, or the n-th / last weekday of a month),
-- expanded by this migration for 2025-2030 into liauto.calendar_holidays.
-- Easter Sunday is computed by the anonymous Gregorian algorithm
-- (Meeus/Jones/Butcher). Only nationwide public holidays are listed, on
-- their own date: a country's "observed" or substitute day when a holiday
-- falls on a weekend (US federal rule, UK bank holidays) is not added —
-- a campaign adds such a date to its own list.
--
-- The calendar functions of 0005 keep their signatures (they now call the
-- versions below with no holiday), so their callers and tests are
-- unchanged; the engine's callers pass the campaign's set.

-- ------------------------------------------------------------------------
-- Country calendars
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.easter_sunday(p_year integer) RETURNS date
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT make_date(p_year, (h + l - 7 * m + 114) / 31,
                     (h + l - 7 * m + 114) % 31 + 1)
    FROM (SELECT p_year % 19 AS a, p_year / 100 AS b,
                 p_year % 100 AS c) AS s1,
         LATERAL (SELECT (19 * a + b - b / 4 - (b - (b + 8) / 25 + 1) / 3
                          + 15) % 30 AS h,
                         b % 4 AS e, c / 4 AS i, c % 4 AS k) AS s2,
         LATERAL (SELECT (32 + 2 * e + 2 * i - h - k) % 7 AS l)
             AS s3,
         LATERAL (SELECT (a + 11 * h + 22 * l) / 451 AS m) AS s4
$$;

COMMENT ON FUNCTION liauto.easter_sunday(integer) IS
    'Easter Sunday of a Gregorian year (anonymous Gregorian algorithm).';

CREATE TABLE liauto.calendar_holidays (
    calendar  text NOT NULL
              CONSTRAINT calendar_holidays_calendar_check
              CHECK (calendar ~ '^[A-Z]{2}$'),
    day       date NOT NULL,
    name      text NOT NULL,

    PRIMARY KEY (calendar, day)
);

COMMENT ON TABLE liauto.calendar_holidays IS
    'Public holidays of the country calendars a campaign may follow '
    '(holiday_calendar = ISO 3166 country code), 2025-2030, from the '
    'rules of migration 0035.';

-- The rules: (calendar, name, month, day) for a fixed date;
-- (calendar, name, NULL, NULL, easter) for Easter Sunday + easter days;
-- (calendar, name, month, NULL, NULL, weekday, nth) for the nth ISO
-- weekday of the month (nth -1: the last one).
INSERT INTO liauto.calendar_holidays (calendar, day, name)
-- two rules on one date (Ascension on 1 or 8 May) make one holiday
SELECT calendar, day, string_agg(name, ', ' ORDER BY name)
FROM (
SELECT r.calendar,
       CASE
           WHEN r.easter IS NOT NULL
               THEN liauto.easter_sunday(y) + r.easter
           WHEN r.nth > 0
               THEN make_date(y, r.month, 1)
                    + (r.weekday - extract(isodow FROM
                                           make_date(y, r.month, 1))::int
                       + 7) % 7
                    + 7 * (r.nth - 1)
           WHEN r.nth = -1
               THEN (make_date(y, r.month, 1) + interval '1 month')::date
                    - 1
                    - (extract(isodow FROM (make_date(y, r.month, 1)
                                            + interval '1 month')::date - 1)
                       ::int - r.weekday + 7) % 7
           ELSE make_date(y, r.month, r.day)
       END,
       r.name
FROM generate_series(2025, 2030) AS y,
     (VALUES
        ('FR', 'Jour de l''an', 1, 1, NULL, NULL, NULL),
        ('FR', 'Lundi de Pâques', NULL, NULL, 1, NULL, NULL),
        ('FR', 'Fête du Travail', 5, 1, NULL, NULL, NULL),
        ('FR', 'Victoire 1945', 5, 8, NULL, NULL, NULL),
        ('FR', 'Ascension', NULL, NULL, 39, NULL, NULL),
        ('FR', 'Lundi de Pentecôte', NULL, NULL, 50, NULL, NULL),
        ('FR', 'Fête nationale', 7, 14, NULL, NULL, NULL),
        ('FR', 'Assomption', 8, 15, NULL, NULL, NULL),
        ('FR', 'Toussaint', 11, 1, NULL, NULL, NULL),
        ('FR', 'Armistice 1918', 11, 11, NULL, NULL, NULL),
        ('FR', 'Noël', 12, 25, NULL, NULL, NULL),
        ('DE', 'Neujahr', 1, 1, NULL, NULL, NULL),
        ('DE', 'Karfreitag', NULL, NULL, -2, NULL, NULL),
        ('DE', 'Ostermontag', NULL, NULL, 1, NULL, NULL),
        ('DE', 'Tag der Arbeit', 5, 1, NULL, NULL, NULL),
        ('DE', 'Christi Himmelfahrt', NULL, NULL, 39, NULL, NULL),
        ('DE', 'Pfingstmontag', NULL, NULL, 50, NULL, NULL),
        ('DE', 'Tag der Deutschen Einheit', 10, 3, NULL, NULL, NULL),
        ('DE', '1. Weihnachtstag', 12, 25, NULL, NULL, NULL),
        ('DE', '2. Weihnachtstag', 12, 26, NULL, NULL, NULL),
        ('ES', 'Año Nuevo', 1, 1, NULL, NULL, NULL),
        ('ES', 'Epifanía del Señor', 1, 6, NULL, NULL, NULL),
        ('ES', 'Viernes Santo', NULL, NULL, -2, NULL, NULL),
        ('ES', 'Fiesta del Trabajo', 5, 1, NULL, NULL, NULL),
        ('ES', 'Asunción de la Virgen', 8, 15, NULL, NULL, NULL),
        ('ES', 'Fiesta Nacional de España', 10, 12, NULL, NULL, NULL),
        ('ES', 'Todos los Santos', 11, 1, NULL, NULL, NULL),
        ('ES', 'Día de la Constitución', 12, 6, NULL, NULL, NULL),
        ('ES', 'Inmaculada Concepción', 12, 8, NULL, NULL, NULL),
        ('ES', 'Navidad', 12, 25, NULL, NULL, NULL),
        ('IT', 'Capodanno', 1, 1, NULL, NULL, NULL),
        ('IT', 'Epifania', 1, 6, NULL, NULL, NULL),
        ('IT', 'Lunedì dell''Angelo', NULL, NULL, 1, NULL, NULL),
        ('IT', 'Festa della Liberazione', 4, 25, NULL, NULL, NULL),
        ('IT', 'Festa del Lavoro', 5, 1, NULL, NULL, NULL),
        ('IT', 'Festa della Repubblica', 6, 2, NULL, NULL, NULL),
        ('IT', 'Ferragosto', 8, 15, NULL, NULL, NULL),
        ('IT', 'Ognissanti', 11, 1, NULL, NULL, NULL),
        ('IT', 'Immacolata Concezione', 12, 8, NULL, NULL, NULL),
        ('IT', 'Natale', 12, 25, NULL, NULL, NULL),
        ('IT', 'Santo Stefano', 12, 26, NULL, NULL, NULL),
        ('BE', 'Nieuwjaar / Nouvel An', 1, 1, NULL, NULL, NULL),
        ('BE', 'Paasmaandag / Lundi de Pâques', NULL, NULL, 1, NULL, NULL),
        ('BE', 'Dag van de Arbeid / Fête du Travail', 5, 1, NULL, NULL,
         NULL),
        ('BE', 'Hemelvaart / Ascension', NULL, NULL, 39, NULL, NULL),
        ('BE', 'Pinkstermaandag / Lundi de Pentecôte', NULL, NULL, 50, NULL,
         NULL),
        ('BE', 'Nationale feestdag / Fête nationale', 7, 21, NULL, NULL,
         NULL),
        ('BE', 'OLV Hemelvaart / Assomption', 8, 15, NULL, NULL, NULL),
        ('BE', 'Allerheiligen / Toussaint', 11, 1, NULL, NULL, NULL),
        ('BE', 'Wapenstilstand / Armistice', 11, 11, NULL, NULL, NULL),
        ('BE', 'Kerstmis / Noël', 12, 25, NULL, NULL, NULL),
        ('US', 'New Year''s Day', 1, 1, NULL, NULL, NULL),
        ('US', 'Martin Luther King Jr. Day', 1, NULL, NULL, 1, 3),
        ('US', 'Washington''s Birthday', 2, NULL, NULL, 1, 3),
        ('US', 'Memorial Day', 5, NULL, NULL, 1, -1),
        ('US', 'Juneteenth', 6, 19, NULL, NULL, NULL),
        ('US', 'Independence Day', 7, 4, NULL, NULL, NULL),
        ('US', 'Labor Day', 9, NULL, NULL, 1, 1),
        ('US', 'Columbus Day', 10, NULL, NULL, 1, 2),
        ('US', 'Veterans Day', 11, 11, NULL, NULL, NULL),
        ('US', 'Thanksgiving Day', 11, NULL, NULL, 4, 4),
        ('US', 'Christmas Day', 12, 25, NULL, NULL, NULL))
     AS r (calendar, name, month, day, easter, weekday, nth)
) AS h (calendar, day, name)
GROUP BY calendar, day;


-- ------------------------------------------------------------------------
-- A campaign's non-working dates
-- ------------------------------------------------------------------------

ALTER TABLE liauto.campaigns
    ADD COLUMN holidays date[] NOT NULL DEFAULT '{}'
        CONSTRAINT campaigns_holidays_check
        CHECK (cardinality(holidays) <= 366
               AND array_position(holidays, NULL) IS NULL),
    ADD COLUMN holiday_calendar text
        CONSTRAINT campaigns_holiday_calendar_check
        CHECK (holiday_calendar ~ '^[A-Z]{2}$');

COMMENT ON COLUMN liauto.campaigns.holidays IS
    'Non-working local dates of the campaign (its timezone): nothing is '
    'sent on them and working-day delays skip them.';
COMMENT ON COLUMN liauto.campaigns.holiday_calendar IS
    'A country calendar of liauto.calendar_holidays whose dates are '
    'non-working too; NULL = none.';

CREATE FUNCTION liauto.campaign_holidays(p_campaign liauto.campaigns)
RETURNS date[]
LANGUAGE sql STABLE AS $$
    SELECT p_campaign.holidays || coalesce(
        (SELECT array_agg(h.day ORDER BY h.day)
         FROM liauto.calendar_holidays AS h
         WHERE h.calendar = p_campaign.holiday_calendar), '{}')
$$;

COMMENT ON FUNCTION liauto.campaign_holidays(liauto.campaigns) IS
    'The campaign''s non-working dates: its own list and its country '
    'calendar''s, for the date[] argument of the calendar functions.';

-- A change of the dates moves every due time of the campaign's leads.
CREATE TRIGGER campaigns_holidays_replan
    AFTER UPDATE OF holidays, holiday_calendar ON liauto.campaigns
    FOR EACH ROW
    WHEN (OLD.holidays IS DISTINCT FROM NEW.holidays
          OR OLD.holiday_calendar IS DISTINCT FROM NEW.holiday_calendar)
    EXECUTE FUNCTION liauto.campaign_replan();


-- ------------------------------------------------------------------------
-- The calendar functions of 0005, with a set of non-working dates
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.is_working_day(p_day date, p_working_days smallint[],
                                      p_holidays date[])
RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT extract(isodow FROM p_day)::smallint = ANY (p_working_days)
           AND p_day <> ALL (p_holidays)
$$;

COMMENT ON FUNCTION liauto.is_working_day(date, smallint[], date[]) IS
    'A local date is a working day: its ISO weekday is one of '
    'p_working_days and it is not in p_holidays.';

CREATE FUNCTION liauto.add_working_days(p_from timestamptz, p_days integer,
                                        p_tz text,
                                        p_working_days smallint[],
                                        p_holidays date[])
RETURNS timestamptz
LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE
    v_local  timestamp := p_from AT TIME ZONE p_tz;
    v_kinds  integer;
    v_off    integer;
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
    -- Each later holiday takes at most one working day away.
    SELECT count(*) INTO v_off FROM unnest(p_holidays) AS h
    WHERE h > v_local::date;

    -- The p_days-th working day strictly after the local date; a week
    -- holds v_kinds weekdays, so the search range is bounded.
    SELECT g.t::date INTO v_day
    FROM generate_series(
             v_local::date + 1,
             v_local::date + 7 * ((p_days + v_off - 1) / v_kinds + 1),
             interval '1 day') AS g(t)
    WHERE liauto.is_working_day(g.t::date, p_working_days, p_holidays)
    ORDER BY g.t
    OFFSET p_days - 1
    LIMIT 1;

    RETURN liauto.resolve_local_time(v_day + v_local::time, p_tz);
END
$$;

COMMENT ON FUNCTION liauto.add_working_days(timestamptz, integer, text,
                                            smallint[], date[]) IS
    'The instant p_days working days after p_from: the p_days-th working '
    'day (ISO weekday in p_working_days, local date not in p_holidays) '
    'after p_from''s local date in p_tz, at the same local time of day '
    '(DST rule of liauto.resolve_local_time). 0 days is p_from.';

CREATE OR REPLACE FUNCTION liauto.add_working_days(
    p_from timestamptz, p_days integer, p_tz text,
    p_working_days smallint[] DEFAULT '{1,2,3,4,5}')
RETURNS timestamptz
LANGUAGE sql STABLE STRICT AS $$
    SELECT liauto.add_working_days(p_from, p_days, p_tz, p_working_days,
                                   '{}'::date[])
$$;

CREATE FUNCTION liauto.working_days_between(p_from timestamptz,
                                            p_to timestamptz, p_tz text,
                                            p_working_days smallint[],
                                            p_holidays date[])
RETURNS integer
LANGUAGE sql STABLE STRICT AS $$
    SELECT sign(extract(epoch FROM p_to - p_from))::integer
           * count(*)::integer
    FROM generate_series(
             (least(p_from, p_to) AT TIME ZONE p_tz)::date + 1,
             (greatest(p_from, p_to) AT TIME ZONE p_tz)::date,
             interval '1 day') AS g(t)
    WHERE liauto.is_working_day(g.t::date, p_working_days, p_holidays)
$$;

COMMENT ON FUNCTION liauto.working_days_between(timestamptz, timestamptz,
                                                text, smallint[], date[]) IS
    'Working days (not in p_holidays) whose local date lies after '
    'p_from''s and up to p_to''s (negative when p_to is earlier): the '
    'inverse of liauto.add_working_days.';

CREATE OR REPLACE FUNCTION liauto.working_days_between(
    p_from timestamptz, p_to timestamptz, p_tz text,
    p_working_days smallint[] DEFAULT '{1,2,3,4,5}')
RETURNS integer
LANGUAGE sql STABLE STRICT AS $$
    SELECT liauto.working_days_between(p_from, p_to, p_tz, p_working_days,
                                       '{}'::date[])
$$;

CREATE FUNCTION liauto.snap_to_working_hours(p_at timestamptz, p_tz text,
                                             p_start time, p_end time,
                                             p_working_days smallint[],
                                             p_holidays date[])
RETURNS timestamptz
LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE
    v_date   date := (p_at AT TIME ZONE p_tz)::date;
    v_off    integer;
    v_open   timestamptz;
    v_close  timestamptz;
BEGIN
    IF p_start >= p_end THEN
        RAISE EXCEPTION 'snap_to_working_hours: window % - % is empty',
                        p_start, p_end
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT count(*) INTO v_off FROM unnest(p_holidays) AS h
    WHERE h >= v_date;

    -- A window never crosses midnight (campaigns_working_hours_check), so
    -- only windows from p_at's local date onwards can contain it; eight
    -- dates reach every weekday once past the current one, and each
    -- holiday ahead may take one more week.
    FOR i IN 0..7 * (1 + v_off) LOOP
        CONTINUE WHEN NOT liauto.is_working_day(v_date + i, p_working_days,
                                                p_holidays);
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
                                                 time, smallint[], date[]) IS
    'The first instant >= p_at inside working hours: local [p_start, '
    'p_end) on a working day (weekday in p_working_days, date not in '
    'p_holidays) in p_tz. Edges follow liauto.resolve_local_time.';

CREATE OR REPLACE FUNCTION liauto.snap_to_working_hours(
    p_at timestamptz, p_tz text, p_start time, p_end time,
    p_working_days smallint[] DEFAULT '{1,2,3,4,5}')
RETURNS timestamptz
LANGUAGE sql STABLE STRICT AS $$
    SELECT liauto.snap_to_working_hours(p_at, p_tz, p_start, p_end,
                                        p_working_days, '{}'::date[])
$$;

CREATE FUNCTION liauto.step_due_at(p_sequence jsonb, p_step integer,
                                   p_after timestamptz, p_tz text,
                                   p_working_days smallint[],
                                   p_holidays date[])
RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT liauto.add_working_days(
               p_after,
               coalesce((s.step ->> 'delay_days')::integer, 0),
               p_tz, p_working_days, coalesce(p_holidays, '{}'))
           + make_interval(
               mins => coalesce((s.step ->> 'delay_minutes')::integer, 0))
    FROM (SELECT p_sequence -> p_step AS step) AS s
    WHERE p_step >= 0 AND s.step IS NOT NULL
$$;

COMMENT ON FUNCTION liauto.step_due_at(jsonb, integer, timestamptz, text,
                                       smallint[], date[]) IS
    'When step p_step''s delay has elapsed: delay_days working days '
    '(holidays skipped) after p_after, then delay_minutes plain minutes. '
    'NULL past the end of the sequence.';

CREATE OR REPLACE FUNCTION liauto.step_due_at(p_sequence jsonb,
                                              p_step integer,
                                              p_after timestamptz,
                                              p_tz text,
                                              p_working_days smallint[])
RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT liauto.step_due_at(p_sequence, p_step, p_after, p_tz,
                              p_working_days, '{}'::date[])
$$;

CREATE FUNCTION liauto.next_send_at(p_sequence jsonb, p_current_step integer,
                                    p_after timestamptz, p_tz text,
                                    p_start time, p_end time,
                                    p_working_days smallint[],
                                    p_holidays date[])
RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT liauto.snap_to_working_hours(
               liauto.step_due_at(p_sequence, p_current_step, p_after, p_tz,
                                  p_working_days, p_holidays),
               p_tz, p_start, p_end, p_working_days, p_holidays)
$$;

COMMENT ON FUNCTION liauto.next_send_at(jsonb, integer, timestamptz, text,
                                        time, time, smallint[], date[]) IS
    'Pure rule: step p_current_step''s delay counted from p_after, '
    'snapped into working hours, holidays skipped by both. NULL when the '
    'sequence is finished.';

CREATE OR REPLACE FUNCTION liauto.next_send_at(p_sequence jsonb,
                                               p_current_step integer,
                                               p_after timestamptz,
                                               p_tz text, p_start time,
                                               p_end time,
                                               p_working_days smallint[])
RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT liauto.next_send_at(p_sequence, p_current_step, p_after, p_tz,
                               p_start, p_end, p_working_days, '{}'::date[])
$$;

CREATE OR REPLACE FUNCTION liauto.next_send_at(p_campaign_id uuid,
                                               p_lead_id uuid)
RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT liauto.next_send_at(c.sequence, l.current_step,
                               liauto.lead_step_after(l, c), c.timezone,
                               c.working_hours_start, c.working_hours_end,
                               c.working_days, liauto.campaign_holidays(c))
    FROM liauto.leads AS l
    JOIN liauto.campaigns AS c ON c.id = l.campaign_id
    WHERE l.id = p_lead_id AND c.id = p_campaign_id
      AND l.status NOT IN ('responded', 'completed', 'error', 'withdrawn',
                           'skipped')
$$;


-- ------------------------------------------------------------------------
-- No send on a holiday, whenever the action was planned
-- ------------------------------------------------------------------------
--
-- An action planned before a date became a holiday, or pushed by a budget
-- to a morning that is one, is held right before the send: the send
-- delays of 0025 (checked by engine.check_before_send) start with the
-- campaign's non-working dates.

ALTER FUNCTION liauto.send_delay(liauto.actions) RENAME TO send_delay_core;

CREATE FUNCTION liauto.send_delay(p_action liauto.actions,
                                  OUT wait_until timestamptz,
                                  OUT reason text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_campaign  liauto.campaigns;
    v_now       timestamptz := liauto.now();
BEGIN
    SELECT * INTO v_campaign FROM liauto.campaigns
    WHERE id = p_action.campaign_id;
    IF (v_now AT TIME ZONE v_campaign.timezone)::date
       = ANY (liauto.campaign_holidays(v_campaign))
    THEN
        wait_until := liauto.snap_to_working_hours(
            v_now, v_campaign.timezone, v_campaign.working_hours_start,
            v_campaign.working_hours_end, v_campaign.working_days,
            liauto.campaign_holidays(v_campaign));
        reason := 'holiday';
        RETURN;
    END IF;

    SELECT * INTO wait_until, reason FROM liauto.send_delay_core(p_action);
END
$$;

COMMENT ON FUNCTION liauto.send_delay(liauto.actions) IS
    'Why a wanted action must wait and until when: holiday (today is a '
    'non-working date of its campaign; until the next opening), then '
    'liauto.send_delay_core''s account_cooling_off and company_daily_cap; '
    'NULLs to send now.';
