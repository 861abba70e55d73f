-- 0024_notifications: operator emails when leads reply (batched per
-- client), the weekly client report, and the email outbox the worker
-- sends through Resend (worker/src/notify.c, resend.c).
--
-- Exactly once: every email is one row of liauto.emails, rendered once
-- (subject, html, text frozen in the row) and sent under an
-- Idempotency-Key derived from what it is about, so a retry or a crash
-- after Resend accepted it never sends a second copy. A reply is queued
-- once per message_received event (primary key) and batched into exactly
-- one email; a weekly report exists once per (client, ISO week) (unique
-- index). Claims use FOR UPDATE SKIP LOCKED and a lease, like the send
-- outbox of 0011. Every time decision reads liauto.now().

-- ------------------------------------------------------------------------
-- Per-client settings
-- ------------------------------------------------------------------------

CREATE TABLE liauto.notification_settings (
    client_id            uuid PRIMARY KEY
                         REFERENCES liauto.clients (id) ON DELETE CASCADE,
    reply_notifications  boolean NOT NULL DEFAULT true,
    recipients           text[] NOT NULL DEFAULT '{}'
                         CONSTRAINT notification_settings_recipients_check
                         CHECK (cardinality(recipients) <= 50
                                AND array_ndims(recipients) IS DISTINCT
                                    FROM 2),
    batch_seconds        integer NOT NULL DEFAULT 60
                         CONSTRAINT notification_settings_batch_check
                         CHECK (batch_seconds BETWEEN 0 AND 3600),
    weekly_report        boolean NOT NULL DEFAULT true,
    report_weekday       smallint NOT NULL DEFAULT 1
                         CONSTRAINT notification_settings_weekday_check
                         CHECK (report_weekday BETWEEN 1 AND 7),
    report_time          time NOT NULL DEFAULT '08:00',
    weekly_report_since  timestamptz NOT NULL DEFAULT liauto.now(),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE liauto.notification_settings IS
    'Email notifications of one client (GET/PUT /clients/{id}/'
    'notifications). No row = the defaults, with no recipients, so '
    'nothing is sent until someone says to whom.';
COMMENT ON COLUMN liauto.notification_settings.batch_seconds IS
    'A burst of replies is one email: the batch closes batch_seconds after '
    'its first reply (0: one email per worker pass).';
COMMENT ON COLUMN liauto.notification_settings.report_weekday IS
    'ISO weekday (1 = Monday) and report_time: the local wall-clock time, '
    'in clients.timezone, from which the report of the previous ISO week '
    'is sent.';

COMMENT ON COLUMN liauto.notification_settings.weekly_report_since IS
    'When weekly reports were switched on (liauto.now()): only weeks whose '
    'send moment comes after it are reported, so a client who opts in on '
    'a Wednesday gets its first report next Monday, not a late one now; '
    'a worker outage still catches up within the week.';

CREATE FUNCTION liauto.weekly_report_switched_on() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.weekly_report AND NOT OLD.weekly_report THEN
        NEW.weekly_report_since := liauto.now();
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER notification_settings_weekly_report_since
    BEFORE UPDATE OF weekly_report ON liauto.notification_settings
    FOR EACH ROW EXECUTE FUNCTION liauto.weekly_report_switched_on();

CREATE TRIGGER notification_settings_touch_updated_at
    BEFORE UPDATE ON liauto.notification_settings
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION liauto.touch_updated_at();


-- ------------------------------------------------------------------------
-- The email outbox
-- ------------------------------------------------------------------------

CREATE TABLE liauto.emails (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id         uuid NOT NULL
                      REFERENCES liauto.clients (id) ON DELETE CASCADE,
    kind              text NOT NULL
                      CONSTRAINT emails_kind_check
                      CHECK (kind IN ('reply_notification',
                                      'weekly_report')),
    period            text
                      CONSTRAINT emails_period_check
                      CHECK (period ~ '^[0-9]{4}-W[0-9]{2}$'),
    idempotency_key   text NOT NULL
                      CONSTRAINT emails_idempotency_key_check
                      CHECK (length(idempotency_key) BETWEEN 1 AND 256),
    recipients        text[] NOT NULL
                      CONSTRAINT emails_recipients_check
                      CHECK (cardinality(recipients) BETWEEN 1 AND 50),
    subject           text NOT NULL,
    html              text NOT NULL,
    text              text NOT NULL,
    status            text NOT NULL DEFAULT 'pending'
                      CONSTRAINT emails_status_check
                      CHECK (status IN ('pending', 'sending', 'sent',
                                        'failed')),
    due_at            timestamptz NOT NULL,
    attempts          integer NOT NULL DEFAULT 0,
    claim_token       uuid,
    claimed_by        text,
    lease_expires_at  timestamptz,
    resend_id         text,
    last_error        text,
    sent_at           timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT emails_idempotency_key_key UNIQUE (idempotency_key),
    CONSTRAINT emails_period_kind_check
        CHECK ((kind = 'weekly_report') = (period IS NOT NULL)),
    CONSTRAINT emails_sending_check
        CHECK (status <> 'sending'
               OR (claim_token IS NOT NULL
                   AND lease_expires_at IS NOT NULL)),
    CONSTRAINT emails_failed_check
        CHECK (status <> 'failed' OR last_error IS NOT NULL)
);

COMMENT ON TABLE liauto.emails IS
    'Every email the worker sends through Resend: pending -> sending '
    '(claimed with a lease) -> sent | pending again (429, 5xx, timeout: '
    'backoff) | failed (a 4xx, with Resend''s reason, or too many '
    'attempts). The content is rendered once at insert so every retry '
    'sends the same bytes under the same Idempotency-Key.';
COMMENT ON COLUMN liauto.emails.idempotency_key IS
    'Resend''s Idempotency-Key: weekly-report/<client>/<week> or '
    'replies/<client>/<sha256 of the batched event ids>. A claim whose '
    'lease expired is sent again with it: Resend answers with the first '
    'email''s id instead of sending it twice (24 h window).';
COMMENT ON COLUMN liauto.emails.period IS
    'The ISO week (YYYY-Www) a weekly report covers.';

-- One weekly report per client and ISO week, whatever the workers do.
CREATE UNIQUE INDEX emails_weekly_report_key
    ON liauto.emails (client_id, period) WHERE kind = 'weekly_report';
CREATE INDEX emails_due_idx
    ON liauto.emails (due_at, id) WHERE status = 'pending';
CREATE INDEX emails_lease_idx
    ON liauto.emails (lease_expires_at) WHERE status = 'sending';
CREATE INDEX emails_client_created_idx
    ON liauto.emails (client_id, created_at, id);

CREATE TRIGGER emails_touch_updated_at
    BEFORE UPDATE ON liauto.emails
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION liauto.touch_updated_at();


-- ------------------------------------------------------------------------
-- Replies waiting for their notification
-- ------------------------------------------------------------------------

CREATE TABLE liauto.reply_notifications (
    event_id   uuid PRIMARY KEY
               REFERENCES liauto.events (id) ON DELETE CASCADE,
    client_id  uuid NOT NULL
               REFERENCES liauto.clients (id) ON DELETE CASCADE,
    queued_at  timestamptz NOT NULL,
    email_id   uuid REFERENCES liauto.emails (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE liauto.reply_notifications IS
    'One row per reply (message_received event) of a client whose reply '
    'notifications are on: the primary key makes a reply notified at most '
    'once; email_id says in which email.';
COMMENT ON COLUMN liauto.reply_notifications.queued_at IS
    'liauto.now() when the reply was recorded: the batch window counts '
    'from the oldest unbatched one.';

CREATE INDEX reply_notifications_unbatched_idx
    ON liauto.reply_notifications (client_id, queued_at)
    WHERE email_id IS NULL;
CREATE INDEX reply_notifications_email_idx
    ON liauto.reply_notifications (email_id);

CREATE FUNCTION liauto.queue_reply_notification() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO liauto.reply_notifications (event_id, client_id, queued_at)
    SELECT NEW.id, NEW.client_id, liauto.now()
    FROM liauto.notification_settings AS s
    WHERE s.client_id = NEW.client_id
      AND s.reply_notifications
      AND cardinality(s.recipients) > 0
    ON CONFLICT (event_id) DO NOTHING;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION liauto.queue_reply_notification() IS
    'AFTER INSERT trigger on events (message_received only): queues the '
    'reply for its client''s notification email when notifications are '
    'on and have recipients. One indexed lookup per reply.';

CREATE TRIGGER events_queue_reply_notification
    AFTER INSERT ON liauto.events
    FOR EACH ROW WHEN (NEW.type = 'message_received')
    EXECUTE FUNCTION liauto.queue_reply_notification();


-- ------------------------------------------------------------------------
-- Rendering helpers
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.html_escape(p_text text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT replace(replace(replace(replace(replace(
               coalesce(p_text, ''), '&', '&amp;'), '<', '&lt;'),
               '>', '&gt;'), '"', '&quot;'), '''', '&#39;')
$$;

COMMENT ON FUNCTION liauto.html_escape(text) IS
    'Text for HTML element content or a quoted attribute: & < > " '' '
    'escaped (& first). NULL is the empty string.';

CREATE FUNCTION liauto.email_html(p_title text, p_body text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT '<!DOCTYPE html><html><head><meta charset="utf-8"><title>'
           || liauto.html_escape(p_title) || '</title></head>'
           || '<body style="font-family:sans-serif">'
           || '<h1 style="font-size:18px">' || liauto.html_escape(p_title)
           || '</h1>' || p_body || '</body></html>'
$$;

COMMENT ON FUNCTION liauto.email_html(text, text) IS
    'The HTML document of an email: the escaped title, then p_body, which '
    'must already be HTML (every piece escaped by its maker).';

CREATE FUNCTION liauto.person_name(p_first text, p_last text,
                                   p_fallback text)
RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(nullif(btrim(concat_ws(' ', p_first, p_last)), ''),
                    p_fallback, 'a lead')
$$;


-- ------------------------------------------------------------------------
-- Reply notifications: batching
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.reply_items(p_email_id uuid)
RETURNS TABLE (name text, about text, campaign text, at text, message text)
LANGUAGE sql STABLE AS $$
    SELECT liauto.person_name(l.first_name, l.last_name,
                              l.public_identifier),
           concat_ws(', ', l.title, l.company),
           c.name,
           liauto.format_local(e.occurred_at, k.timezone),
           left(coalesce(e.meta ->> 'text',
                         (SELECT m.text FROM liauto.messages AS m
                          WHERE m.client_id = e.client_id
                            AND m.channel = 'linkedin'
                            AND m.external_message_id = e.external_id),
                         ''), 1000)
    FROM liauto.reply_notifications AS r
    JOIN liauto.events AS e ON e.id = r.event_id
    JOIN liauto.leads AS l ON l.id = e.lead_id
    JOIN liauto.campaigns AS c ON c.id = e.campaign_id
    JOIN liauto.clients AS k ON k.id = e.client_id
    WHERE r.email_id = p_email_id
    ORDER BY e.occurred_at, e.id
$$;

COMMENT ON FUNCTION liauto.reply_items(uuid) IS
    'The replies of one notification email, oldest first: who, their '
    'title and company, the campaign, when (client''s local time) and '
    'the text (event meta.text, else the inbox message; 1,000 characters '
    'at most).';

CREATE FUNCTION liauto.render_reply_email(p_email_id uuid,
                                          p_client_name text,
                                          OUT subject text, OUT html text,
                                          OUT text text)
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN count(*) = 1
                THEN 'New reply from ' || min(i.name)
                ELSE count(*) || ' new replies' END
               || ' (' || p_client_name || ')',
           liauto.email_html(
               CASE WHEN count(*) = 1 THEN 'A lead replied'
                    ELSE count(*) || ' leads replied' END
               || ' (' || p_client_name || ')',
               '<ul>' || string_agg(
                   '<li><p><strong>' || liauto.html_escape(i.name)
                   || '</strong>'
                   || CASE WHEN i.about <> ''
                           THEN ' (' || liauto.html_escape(i.about) || ')'
                           ELSE '' END
                   || ' in campaign <em>' || liauto.html_escape(i.campaign)
                   || '</em>, ' || liauto.html_escape(i.at) || '</p>'
                   || '<blockquote style="white-space:pre-wrap">'
                   || liauto.html_escape(i.message) || '</blockquote></li>',
                   '') || '</ul>'),
           string_agg('- ' || i.name
                      || CASE WHEN i.about <> '' THEN ' (' || i.about || ')'
                              ELSE '' END
                      || ' in campaign "' || i.campaign || '", ' || i.at
                      || E':\n  ' || replace(i.message, E'\n', E'\n  '),
                      E'\n\n')
               || E'\n'
    FROM liauto.reply_items(p_email_id) AS i
$$;

COMMENT ON FUNCTION liauto.render_reply_email(uuid, text) IS
    'Subject, HTML and text of a reply notification listing each reply.';

CREATE FUNCTION liauto.batch_client_replies(p_client_id uuid) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_settings  liauto.notification_settings;
    v_client    liauto.clients;
    v_events    uuid[];
    v_email     liauto.emails;
BEGIN
    -- One batcher per client at a time; the others skip it this pass.
    IF NOT pg_try_advisory_xact_lock(
               hashtextextended('liauto.reply_batch:' || p_client_id, 0))
    THEN
        RETURN NULL;
    END IF;

    SELECT array_agg(r.event_id ORDER BY r.event_id) INTO v_events
    FROM liauto.reply_notifications AS r
    WHERE r.client_id = p_client_id AND r.email_id IS NULL;
    IF v_events IS NULL THEN
        RETURN NULL;        -- batched by another worker meanwhile
    END IF;

    SELECT * INTO v_settings FROM liauto.notification_settings AS s
    WHERE s.client_id = p_client_id;
    IF NOT coalesce(v_settings.reply_notifications, false)
       OR cardinality(v_settings.recipients) = 0
    THEN
        -- switched off since they were queued: nobody wants them
        DELETE FROM liauto.reply_notifications AS r
        WHERE r.event_id = ANY (v_events);
        RETURN NULL;
    END IF;

    SELECT * INTO v_client FROM liauto.clients AS c WHERE c.id = p_client_id;

    INSERT INTO liauto.emails AS m (client_id, kind, idempotency_key,
                                    recipients, subject, html, text, due_at)
    VALUES (p_client_id, 'reply_notification',
            'liauto/replies/' || p_client_id || '/'
            || encode(digest(array_to_string(v_events, ','), 'sha256'),
                      'hex'),
            v_settings.recipients, '', '', '', liauto.now())
    RETURNING * INTO v_email;

    UPDATE liauto.reply_notifications AS r SET email_id = v_email.id
    WHERE r.event_id = ANY (v_events);

    UPDATE liauto.emails AS m
    SET subject = x.subject, html = x.html, text = x.text
    FROM liauto.render_reply_email(v_email.id, v_client.name) AS x
    WHERE m.id = v_email.id;

    RETURN v_email.id;
END
$$;

COMMENT ON FUNCTION liauto.batch_client_replies(uuid) IS
    'Puts every unbatched reply of a client into one new email (NULL when '
    'another worker holds the client or there is nothing left). The '
    'Idempotency-Key is the hash of the batched event ids.';

CREATE FUNCTION liauto.batch_replies(p_limit integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_client_id  uuid;
    v_made       integer := 0;
BEGIN
    FOR v_client_id IN
        SELECT r.client_id
        FROM liauto.reply_notifications AS r
        JOIN liauto.notification_settings AS s USING (client_id)
        WHERE r.email_id IS NULL
        GROUP BY r.client_id, s.batch_seconds
        HAVING min(r.queued_at)
               <= liauto.now() - make_interval(secs => s.batch_seconds)
        LIMIT p_limit
    LOOP
        IF liauto.batch_client_replies(v_client_id) IS NOT NULL THEN
            v_made := v_made + 1;
        END IF;
    END LOOP;
    RETURN v_made;
END
$$;

COMMENT ON FUNCTION liauto.batch_replies(integer) IS
    'Closes the reply batches whose window (batch_seconds after their '
    'oldest reply) has passed, one email each; returns how many.';


-- ------------------------------------------------------------------------
-- The weekly report
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.iso_week(p_day date) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT to_char(p_day, 'IYYY-"W"IW')
$$;

CREATE FUNCTION liauto.iso_week_monday(p_week text) RETURNS date
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_monday  date;
BEGIN
    IF p_week !~ '^[0-9]{4}-W[0-9]{2}$' THEN
        RETURN NULL;
    END IF;
    v_monday := to_date(p_week || '-1', 'IYYY-"W"IW-ID');
    -- W00, or W53 of a year with 52 weeks, rolls into another week
    RETURN CASE WHEN liauto.iso_week(v_monday) = p_week THEN v_monday END;
END
$$;

COMMENT ON FUNCTION liauto.iso_week_monday(text) IS
    'The Monday of an ISO week "YYYY-Www", NULL when it is not one.';

CREATE FUNCTION liauto.report_figures(p_invites bigint,
                                      p_acceptances bigint,
                                      p_messages bigint, p_replies bigint)
RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'invites', p_invites, 'acceptances', p_acceptances,
        'messages', p_messages, 'replies', p_replies,
        'acceptance_rate',
        round(100.0 * p_acceptances / nullif(p_invites, 0), 1),
        'reply_rate', round(100.0 * p_replies / nullif(p_messages, 0), 1))
$$;

COMMENT ON FUNCTION liauto.report_figures(bigint, bigint, bigint, bigint) IS
    'The figures of one report row: counts, acceptance rate = '
    'acceptances / invites and reply rate = replies / messages, in percent '
    'with one decimal (null when nothing was sent).';

CREATE FUNCTION liauto.weekly_report_data(p_client_id uuid, p_monday date)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    WITH k AS (
        SELECT c.id, c.name, c.timezone,
               (p_monday::timestamp AT TIME ZONE c.timezone) AS cur_from,
               ((p_monday + 7)::timestamp AT TIME ZONE c.timezone) AS cur_to,
               ((p_monday - 7)::timestamp AT TIME ZONE c.timezone)
                   AS prev_from
        FROM liauto.clients AS c WHERE c.id = p_client_id
    ), ev AS (
        SELECT e.campaign_id, e.account_id,
               e.occurred_at >= k.cur_from AS cur,
               count(*) FILTER (WHERE e.type = 'connection_request_sent')
                   AS invites,
               count(*) FILTER (WHERE e.type IN
                   ('connection_accepted', 'connection_accepted_historical'))
                   AS acceptances,
               count(*) FILTER (WHERE e.type = 'message_sent') AS messages,
               count(*) FILTER (WHERE e.type = 'message_received')
                   AS replies
        FROM k JOIN liauto.events AS e
          ON e.client_id = k.id
         AND e.occurred_at >= k.prev_from AND e.occurred_at < k.cur_to
        GROUP BY 1, 2, 3
    ), grouped AS (
        -- one row per grouping: the totals, each campaign, each account
        SELECT CASE WHEN GROUPING(ev.campaign_id) = 0 THEN 'campaign'
                    WHEN GROUPING(ev.account_id) = 0 THEN 'account'
                    ELSE 'total' END AS level,
               coalesce(ev.campaign_id, ev.account_id) AS id,
               liauto.report_figures(
                   coalesce(sum(invites) FILTER (WHERE cur), 0)::bigint,
                   coalesce(sum(acceptances) FILTER (WHERE cur), 0)::bigint,
                   coalesce(sum(messages) FILTER (WHERE cur), 0)::bigint,
                   coalesce(sum(replies) FILTER (WHERE cur), 0)::bigint)
                   AS this_week,
               liauto.report_figures(
                   coalesce(sum(invites) FILTER (WHERE NOT cur), 0)::bigint,
                   coalesce(sum(acceptances) FILTER (WHERE NOT cur), 0)
                       ::bigint,
                   coalesce(sum(messages) FILTER (WHERE NOT cur), 0)::bigint,
                   coalesce(sum(replies) FILTER (WHERE NOT cur), 0)::bigint)
                   AS last_week
        FROM ev
        GROUP BY GROUPING SETS ((ev.campaign_id), (ev.account_id), ())
    ), named AS (
        SELECT r.*, coalesce(c.name, a.name, '(deleted account)') AS name
        FROM grouped AS r
        LEFT JOIN liauto.campaigns AS c
               ON r.level = 'campaign' AND c.id = r.id
        LEFT JOIN liauto.linkedin_accounts AS a
               ON r.level = 'account' AND a.id = r.id
    )
    SELECT jsonb_build_object(
        'client_id', k.id,
        'client_name', k.name,
        'week', liauto.iso_week(p_monday),
        'timezone', k.timezone,
        'from', api.ts(k.cur_from),
        'to', api.ts(k.cur_to),
        'totals', coalesce(
            (SELECT jsonb_build_object('this_week', n.this_week,
                                       'last_week', n.last_week)
             FROM named AS n WHERE n.level = 'total'),
            jsonb_build_object(
                'this_week', liauto.report_figures(0, 0, 0, 0),
                'last_week', liauto.report_figures(0, 0, 0, 0))),
        'campaigns', coalesce(
            (SELECT jsonb_agg(jsonb_build_object(
                        'id', n.id, 'name', n.name,
                        'this_week', n.this_week, 'last_week', n.last_week)
                    ORDER BY n.name, n.id)
             FROM named AS n WHERE n.level = 'campaign'), '[]'),
        'accounts', coalesce(
            (SELECT jsonb_agg(jsonb_build_object(
                        'id', n.id, 'name', n.name,
                        'this_week', n.this_week, 'last_week', n.last_week)
                    ORDER BY n.name, n.id)
             FROM named AS n WHERE n.level = 'account'), '[]'))
    FROM k
$$;

COMMENT ON FUNCTION liauto.weekly_report_data(uuid, date) IS
    'The figures of a client''s weekly report for the ISO week starting on '
    'p_monday, in the client''s timezone (Monday 00:00 to Monday 00:00 '
    'local, DST included), with the week before it: totals, per campaign '
    'and per LinkedIn account (those with activity in either week). '
    'Acceptances count connection_accepted and '
    'connection_accepted_historical events.';

CREATE FUNCTION liauto.report_metrics()
RETURNS TABLE (key text, label text, is_rate boolean)
LANGUAGE sql IMMUTABLE AS $$
    VALUES ('invites', 'Invites', false),
           ('acceptances', 'Acceptances', false),
           ('messages', 'Messages', false),
           ('replies', 'Replies', false),
           ('acceptance_rate', 'Acceptance rate', true),
           ('reply_rate', 'Reply rate', true)
$$;

CREATE FUNCTION liauto.report_value(p_figures jsonb, p_key text,
                                    p_is_rate boolean)
RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(p_figures -> p_key) IS DISTINCT FROM
                     'number' THEN 'n/a'
                WHEN p_is_rate THEN (p_figures ->> p_key) || '%'
                ELSE p_figures ->> p_key END
$$;

CREATE FUNCTION liauto.report_change(p_this jsonb, p_last jsonb,
                                     p_key text, p_is_rate boolean)
RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(p_this -> p_key) IS DISTINCT FROM 'number'
                  OR jsonb_typeof(p_last -> p_key) IS DISTINCT FROM 'number'
                THEN ''
                ELSE to_char((p_this ->> p_key)::numeric
                             - (p_last ->> p_key)::numeric,
                             CASE WHEN p_is_rate THEN 'FMSG9999990.0'
                                  ELSE 'FMSG999999990' END)
                     || CASE WHEN p_is_rate THEN ' pts' ELSE '' END
           END
$$;

COMMENT ON FUNCTION liauto.report_change(jsonb, jsonb, text, boolean) IS
    'Week over week: "+4", "-2", "+0"; rates in percentage points; empty '
    'when a rate is not defined in one of the weeks.';

-- One block (totals, a campaign, an account) as HTML and as text.
CREATE FUNCTION liauto.report_block(p_title text, p_row jsonb,
                                    OUT html text, OUT text text)
LANGUAGE sql IMMUTABLE AS $$
    SELECT '<h2 style="font-size:15px">' || liauto.html_escape(p_title)
           || '</h2><table cellpadding="4" style="border-collapse:collapse">'
           || '<tr><th align="left">Metric</th><th align="right">This week'
           || '</th><th align="right">Last week</th><th align="right">'
           || 'Change</th></tr>'
           || string_agg('<tr><td>' || m.label || '</td><td align="right">'
                         || v.now_value || '</td><td align="right">'
                         || v.last_value || '</td><td align="right">'
                         || v.change
                         || '</td></tr>', '' ORDER BY m.n)
           || '</table>',
           p_title || E'\n'
           || string_agg(rpad('  ' || m.label, 18) || lpad(v.now_value, 10)
                         || lpad(v.last_value, 12) || lpad(v.change, 12),
                         E'\n' ORDER BY m.n) || E'\n'
    FROM liauto.report_metrics() WITH ORDINALITY AS m (key, label, is_rate,
                                                       n)
    CROSS JOIN LATERAL (
        SELECT liauto.report_value(p_row -> 'this_week', m.key, m.is_rate)
                   AS now_value,
               liauto.report_value(p_row -> 'last_week', m.key, m.is_rate)
                   AS last_value,
               liauto.report_change(p_row -> 'this_week',
                                    p_row -> 'last_week', m.key, m.is_rate)
                   AS change) AS v
$$;

CREATE FUNCTION liauto.render_weekly_report(p_data jsonb,
                                            OUT subject text,
                                            OUT html text, OUT text text)
LANGUAGE sql STABLE AS $$
    WITH blocks AS (
        SELECT 0 AS section, 0::bigint AS n, 'Totals' AS title,
               p_data -> 'totals' AS row
        UNION ALL
        SELECT 1, n, 'Campaign: ' || (r ->> 'name'), r
        FROM jsonb_array_elements(p_data -> 'campaigns')
             WITH ORDINALITY AS c (r, n)
        UNION ALL
        SELECT 2, n, 'LinkedIn account: ' || (r ->> 'name'), r
        FROM jsonb_array_elements(p_data -> 'accounts')
             WITH ORDINALITY AS a (r, n)
    ), period AS (
        SELECT 'Weekly report ' || (p_data ->> 'week') || ' for '
               || (p_data ->> 'client_name') AS title,
               to_char(((p_data ->> 'from')::timestamptz
                        AT TIME ZONE (p_data ->> 'timezone'))::date,
                       'Dy DD Mon YYYY')
               || ' to '
               || to_char(((p_data ->> 'to')::timestamptz
                           AT TIME ZONE (p_data ->> 'timezone'))::date - 1,
                          'Dy DD Mon YYYY')
               || ' (' || (p_data ->> 'timezone') || ')' AS span
    )
    SELECT p.title,
           liauto.email_html(p.title,
               '<p>' || liauto.html_escape(p.span) || '</p>'
               || string_agg(b.html, '' ORDER BY x.section, x.n)
               || '<p style="color:#666">Acceptance rate = acceptances / '
               || 'invites; reply rate = replies / messages sent.</p>'),
           p.title || E'\n' || p.span || E'\n\n'
           || string_agg(b.text, E'\n' ORDER BY x.section, x.n)
           || E'\nAcceptance rate = acceptances / invites; reply rate = '
           || E'replies / messages sent.\n'
    FROM period AS p
    CROSS JOIN blocks AS x
    CROSS JOIN LATERAL liauto.report_block(x.title, x.row) AS b
    GROUP BY p.title, p.span
$$;

COMMENT ON FUNCTION liauto.render_weekly_report(jsonb) IS
    'Subject, HTML (every name escaped) and plain text of a weekly report '
    'from liauto.weekly_report_data: a table of this week, last week and '
    'the change per metric, for the totals, each campaign and account.';

CREATE FUNCTION liauto.report_week_due(p_settings liauto.notification_settings,
                                       p_timezone text)
RETURNS date
LANGUAGE sql STABLE AS $$
    -- this local week's send moment has passed: last week's report is due
    SELECT CASE WHEN liauto.now() >= m.moment
                     AND m.moment >= p_settings.weekly_report_since
                THEN w.monday - 7 END
    FROM (SELECT date_trunc('week', liauto.now() AT TIME ZONE p_timezone)
                     ::date AS monday) AS w,
         LATERAL (SELECT liauto.resolve_local_time(
                             w.monday + (p_settings.report_weekday - 1)
                             + p_settings.report_time, p_timezone)
                         AS moment) AS m
$$;

COMMENT ON FUNCTION liauto.report_week_due(liauto.notification_settings,
                                           text) IS
    'The Monday of the week whose report is due now (the previous ISO '
    'week, once this week''s report_weekday report_time has passed in '
    'p_timezone, and after weekly reports were switched on), else NULL.';

CREATE FUNCTION liauto.plan_weekly_reports(p_limit integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_client  record;
    v_report  record;
    v_made    integer := 0;
    v_n       integer;
BEGIN
    FOR v_client IN
        SELECT c.id, s.recipients, d.monday
        FROM liauto.notification_settings AS s
        JOIN liauto.clients AS c ON c.id = s.client_id
        CROSS JOIN LATERAL (SELECT liauto.report_week_due(s, c.timezone)
                                AS monday) AS d
        WHERE s.weekly_report AND cardinality(s.recipients) > 0
          AND d.monday IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM liauto.emails AS m
                          WHERE m.client_id = c.id
                            AND m.kind = 'weekly_report'
                            AND m.period = liauto.iso_week(d.monday))
        LIMIT p_limit
    LOOP
        SELECT * INTO v_report FROM liauto.render_weekly_report(
            liauto.weekly_report_data(v_client.id, v_client.monday));

        -- several workers may get here: the unique index keeps one
        INSERT INTO liauto.emails AS m (client_id, kind, period,
                                        idempotency_key, recipients,
                                        subject, html, text, due_at)
        VALUES (v_client.id, 'weekly_report',
                liauto.iso_week(v_client.monday),
                'liauto/weekly-report/' || v_client.id || '/'
                || liauto.iso_week(v_client.monday),
                v_client.recipients, v_report.subject, v_report.html,
                v_report.text, liauto.now())
        ON CONFLICT (client_id, period) WHERE kind = 'weekly_report'
        DO NOTHING;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_made := v_made + v_n;
    END LOOP;
    RETURN v_made;
END
$$;

COMMENT ON FUNCTION liauto.plan_weekly_reports(integer) IS
    'Renders and queues the weekly report of every client whose send '
    'moment has passed this week and whose report for last week does not '
    'exist yet (opted-in clients with recipients only); returns how many. '
    'emails_weekly_report_key makes it exactly once per (client, week).';


-- ------------------------------------------------------------------------
-- The worker's side: plan, claim, complete
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.plan_emails(p_limit integer) RETURNS integer
LANGUAGE sql AS $$
    SELECT liauto.batch_replies(p_limit) + liauto.plan_weekly_reports(p_limit)
$$;

COMMENT ON FUNCTION liauto.plan_emails(integer) IS
    'One planning pass of the notifier: closes due reply batches and '
    'queues due weekly reports; returns the emails made.';

CREATE FUNCTION liauto.claim_emails(p_worker text, p_limit integer,
                                    p_lease interval)
RETURNS TABLE (id uuid, claim_token uuid, idempotency_key text,
               recipients text, subject text, html text, text text,
               attempts integer)
LANGUAGE sql AS $$
    UPDATE liauto.emails AS m
    SET status = 'sending', claim_token = gen_random_uuid(),
        claimed_by = p_worker, lease_expires_at = liauto.now() + p_lease,
        attempts = m.attempts + 1
    FROM (SELECT e.id FROM liauto.emails AS e
          WHERE (e.status = 'pending' AND e.due_at <= liauto.now())
             OR (e.status = 'sending' AND e.lease_expires_at <= liauto.now())
          ORDER BY e.due_at, e.id
          LIMIT p_limit
          FOR UPDATE SKIP LOCKED) AS c
    WHERE m.id = c.id
    RETURNING m.id, m.claim_token, m.idempotency_key,
              to_json(m.recipients)::text, m.subject, m.html, m.text,
              m.attempts
$$;

COMMENT ON FUNCTION liauto.claim_emails(text, integer, interval) IS
    'Claims due emails (and those whose sender''s lease expired: it may '
    'have crashed mid-send; the same Idempotency-Key makes Resend answer '
    'without sending again) for p_lease; recipients as a JSON array.';

CREATE FUNCTION liauto.email_max_attempts() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT 8 $$;

CREATE FUNCTION liauto.complete_email(p_id uuid, p_token uuid,
                                      p_outcome text, p_resend_id text,
                                      p_error text,
                                      p_retry_in_s double precision)
RETURNS text
LANGUAGE sql AS $$
    UPDATE liauto.emails AS m
    SET status = CASE
            WHEN p_outcome = 'sent' THEN 'sent'
            WHEN p_outcome = 'retry'
                 AND m.attempts < liauto.email_max_attempts() THEN 'pending'
            ELSE 'failed' END,
        due_at = CASE WHEN p_outcome = 'retry'
                      THEN liauto.now()
                           + make_interval(secs => coalesce(p_retry_in_s, 0))
                      ELSE m.due_at END,
        resend_id = p_resend_id,
        last_error = CASE
            WHEN p_outcome = 'retry'
                 AND m.attempts >= liauto.email_max_attempts()
            THEN 'gave up after ' || m.attempts || ' attempts: ' || p_error
            ELSE p_error END,
        sent_at = CASE WHEN p_outcome = 'sent' THEN liauto.now() END,
        claim_token = NULL, claimed_by = NULL, lease_expires_at = NULL
    WHERE m.id = p_id AND m.claim_token = p_token
      AND p_outcome IN ('sent', 'retry', 'failed')
    RETURNING m.status
$$;

COMMENT ON FUNCTION liauto.complete_email(uuid, uuid, text, text, text,
                                          double precision) IS
    'Records a send''s outcome under its claim token (NULL: the claim was '
    'lost to another worker): sent (Resend''s id), retry (pending again '
    'p_retry_in_s from now, failed after email_max_attempts) or failed '
    '(p_error: Resend''s reason).';


-- ------------------------------------------------------------------------
-- API: GET/PUT /clients/{id}/notifications
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.notification_defaults(p_client_id uuid)
RETURNS liauto.notification_settings
LANGUAGE sql STABLE AS $$
    SELECT ROW(p_client_id, true, '{}', 60, true, 1, '08:00', liauto.now(),
               NULL, NULL)::liauto.notification_settings
$$;

COMMENT ON FUNCTION liauto.notification_defaults(uuid) IS
    'The settings of a client that never set any: the DEFAULTs of '
    'notification_settings (sql/tests/0024 checks that they agree).';

CREATE FUNCTION liauto.notification_settings_json(p_client_id uuid)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'client_id', p_client_id,
        'reply_notifications', s.reply_notifications,
        'recipients', to_jsonb(s.recipients),
        'batch_seconds', s.batch_seconds,
        'weekly_report', s.weekly_report,
        'report_weekday', s.report_weekday,
        'report_time', to_char(s.report_time, 'HH24:MI'),
        'updated_at', api.ts(s.updated_at))
    FROM (SELECT coalesce(
              (SELECT x FROM liauto.notification_settings AS x
               WHERE x.client_id = p_client_id),
              liauto.notification_defaults(p_client_id))) AS d (r),
         LATERAL (SELECT (d.r).*) AS s
$$;

COMMENT ON FUNCTION liauto.notification_settings_json(uuid) IS
    'The settings of a client as the API shows them (updated_at null '
    'until the first PUT).';

CREATE FUNCTION liauto.notification_rules() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT '{"reply_notifications": {"type": "bool"},
             "recipients": {"type": "array"},
             "batch_seconds": {"type": "int", "min": 0, "max": 3600},
             "weekly_report": {"type": "bool"},
             "report_weekday": {"type": "int", "min": 1, "max": 7},
             "report_time": {"type": "time"}}'::jsonb
$$;

CREATE FUNCTION liauto.recipients_error(p_recipients jsonb) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN jsonb_array_length(p_recipients) > 50
        THEN 'must list at most 50 addresses'
        ELSE (SELECT format('item %s %s', n - 1, err)
              FROM jsonb_array_elements(p_recipients)
                   WITH ORDINALITY AS r (v, n),
                   LATERAL (SELECT api.field_error(r.v, '{"type": "email"}')
                                AS err) AS f
              WHERE f.err IS NOT NULL
              ORDER BY n LIMIT 1)
    END
$$;

COMMENT ON FUNCTION liauto.recipients_error(jsonb) IS
    'The error of a recipients array (at most 50 email addresses), naming '
    'the first bad item by its index; NULL when it is fine.';

CREATE FUNCTION api.client_notifications_get(p_caller jsonb, p_path text[],
                                             p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_client    liauto.clients;
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    v_client := liauto.client_found(p_caller, p_path);
    RETURN QUERY SELECT * FROM api.ok(200,
        liauto.notification_settings_json(v_client.id));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.client_notifications_get(jsonb, text[], jsonb,
                                                 jsonb) IS
    'GET /clients/{id}/notifications: the client''s email settings (the '
    'defaults until first PUT); admins and the client''s agents.';

CREATE FUNCTION api.client_notifications_put(p_caller jsonb, p_path text[],
                                             p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_client    liauto.clients;
    v_errors    jsonb;
    v_error     text;
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    v_client := liauto.client_found(p_caller, p_path);
    v_errors := api.validate_body(p_body, liauto.notification_rules(),
                                  false, '{client_id,updated_at}');
    IF jsonb_typeof(p_body -> 'recipients') = 'array' THEN
        v_error := liauto.recipients_error(p_body -> 'recipients');
        IF v_error IS NOT NULL THEN
            v_errors := v_errors || jsonb_build_object('recipients', v_error);
        END IF;
    END IF;
    PERFORM api.raise_invalid(v_errors);

    -- PUT replaces: a field left out takes its default again
    INSERT INTO liauto.notification_settings AS s
        (client_id, reply_notifications, recipients, batch_seconds,
         weekly_report, report_weekday, report_time)
    SELECT v_client.id, n.reply_notifications, n.recipients,
           n.batch_seconds, n.weekly_report, n.report_weekday,
           n.report_time
    FROM jsonb_populate_record(liauto.notification_defaults(v_client.id),
                               p_body) AS n
    ON CONFLICT (client_id) DO UPDATE
    SET reply_notifications = excluded.reply_notifications,
        recipients = excluded.recipients,
        batch_seconds = excluded.batch_seconds,
        weekly_report = excluded.weekly_report,
        report_weekday = excluded.report_weekday,
        report_time = excluded.report_time;

    RETURN QUERY SELECT * FROM api.ok(200,
        liauto.notification_settings_json(v_client.id));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.client_notifications_put(jsonb, text[], jsonb,
                                                 jsonb) IS
    'PUT /clients/{id}/notifications {reply_notifications, recipients, '
    'batch_seconds, weekly_report, report_weekday, report_time}: replaces '
    'the settings (absent fields take their defaults); 422 naming each '
    'bad field.';


-- ------------------------------------------------------------------------
-- API: GET /clients/{id}/reports/weekly/preview?week=YYYY-Www
-- ------------------------------------------------------------------------

CREATE FUNCTION api.client_weekly_report_preview(p_caller jsonb,
                                                 p_path text[],
                                                 p_query jsonb,
                                                 p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_client    liauto.clients;
    v_monday    date;
    v_data      jsonb;
    v_report    record;
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query - 'week');
    v_client := liauto.client_found(p_caller, p_path);

    IF p_query ? 'week' THEN
        v_monday := liauto.iso_week_monday(p_query ->> 'week');
        IF v_monday IS NULL THEN
            PERFORM api.raise_error(400, 'BAD_REQUEST',
                'invalid query parameters',
                '{"week": "must be an ISO week such as 2026-W48"}');
        END IF;
    ELSE
        -- the last complete week in the client's timezone
        v_monday := date_trunc('week', liauto.now()
                                       AT TIME ZONE v_client.timezone)::date
                    - 7;
    END IF;

    v_data := liauto.weekly_report_data(v_client.id, v_monday);
    SELECT * INTO v_report FROM liauto.render_weekly_report(v_data);

    RETURN QUERY SELECT * FROM api.ok(200, jsonb_build_object(
        'week', v_data ->> 'week',
        'subject', v_report.subject,
        'html', v_report.html,
        'text', v_report.text,
        'data', v_data));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.client_weekly_report_preview(jsonb, text[], jsonb,
                                                     jsonb) IS
    'GET /clients/{id}/reports/weekly/preview?week=YYYY-Www: the weekly '
    'report exactly as it would be sent (subject, html, text) and its '
    'figures (data), without sending; default week: the last complete '
    'one in the client''s timezone.';


-- ========================================================================
-- Outbound webhooks for integrators
-- ========================================================================
--
-- A client subscribes URLs to events (lead.replied, lead.connected,
-- lead.status_changed, campaign.completed). Triggers on events, leads and
-- campaigns render each event once (payload frozen, one event id shared
-- by every subscription) into one delivery per subscription; the worker
-- POSTs it signed (Liauto-Signature: t=<unix seconds>,v1=<hex
-- HMAC-SHA256(secret, "<t>.<body>")>), retrying with backoff until a 2xx
-- or webhook_max_attempts. Delivery is at least once: a receiver dedupes
-- on the event id ("id" in the body).

CREATE TABLE liauto.webhook_subscriptions (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id   uuid NOT NULL
                REFERENCES liauto.clients (id) ON DELETE CASCADE,
    url         text NOT NULL
                CONSTRAINT webhook_subscriptions_url_check
                CHECK (url ~ '^https?://[^[:space:]/?#]+[^[:space:]]*$'
                       AND length(url) <= 2048),
    events      text[] NOT NULL
                CONSTRAINT webhook_subscriptions_events_check
                CHECK (cardinality(events) >= 1
                       AND events <@ '{lead.replied,lead.connected,'
                                     'lead.status_changed,'
                                     'campaign.completed}'),
    secret      text NOT NULL
                CONSTRAINT webhook_subscriptions_secret_check
                CHECK (secret ~ '^whsec_[0-9a-f]{64}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE liauto.webhook_subscriptions IS
    'Where a client wants its events POSTed. The secret signs every '
    'delivery; the API shows it only in the answer that created it.';

CREATE INDEX webhook_subscriptions_client_idx
    ON liauto.webhook_subscriptions (client_id, created_at, id);

CREATE TRIGGER webhook_subscriptions_touch_updated_at
    BEFORE UPDATE ON liauto.webhook_subscriptions
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION liauto.touch_updated_at();

CREATE TABLE liauto.webhook_deliveries (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    subscription_id   uuid NOT NULL
                      REFERENCES liauto.webhook_subscriptions (id)
                      ON DELETE CASCADE,
    client_id         uuid NOT NULL,
    event_id          uuid NOT NULL,
    event_type        text NOT NULL,
    payload           text NOT NULL,
    replay_of         uuid REFERENCES liauto.webhook_deliveries (id)
                      ON DELETE SET NULL,
    status            text NOT NULL DEFAULT 'pending'
                      CONSTRAINT webhook_deliveries_status_check
                      CHECK (status IN ('pending', 'sending', 'delivered',
                                        'failed')),
    due_at            timestamptz NOT NULL,
    attempts          integer NOT NULL DEFAULT 0,
    claim_token       uuid,
    claimed_by        text,
    lease_expires_at  timestamptz,
    response_status   integer,
    last_error        text,
    delivered_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT webhook_deliveries_sending_check
        CHECK (status <> 'sending'
               OR (claim_token IS NOT NULL
                   AND lease_expires_at IS NOT NULL)),
    CONSTRAINT webhook_deliveries_failed_check
        CHECK (status <> 'failed' OR last_error IS NOT NULL)
);

COMMENT ON TABLE liauto.webhook_deliveries IS
    'The delivery log and outbox of outbound webhooks: pending -> sending '
    '(claimed with a lease) -> delivered | pending again (backoff) | '
    'failed after webhook_max_attempts. A replay is a new row with the '
    'same event id and payload (replay_of: the original).';
COMMENT ON COLUMN liauto.webhook_deliveries.payload IS
    'The exact body POSTed (and signed), rendered when the event happened.';

CREATE INDEX webhook_deliveries_due_idx
    ON liauto.webhook_deliveries (due_at, id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_lease_idx
    ON liauto.webhook_deliveries (lease_expires_at)
    WHERE status = 'sending';
CREATE INDEX webhook_deliveries_subscription_idx
    ON liauto.webhook_deliveries (subscription_id, created_at, id);

CREATE TRIGGER webhook_deliveries_touch_updated_at
    BEFORE UPDATE ON liauto.webhook_deliveries
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION liauto.touch_updated_at();

CREATE FUNCTION liauto.webhook_max_attempts() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT 6 $$;


-- ------------------------------------------------------------------------
-- Producing events
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.emit_webhook(p_client_id uuid, p_type text,
                                    p_data jsonb)
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO liauto.webhook_deliveries (subscription_id, client_id,
                                           event_id, event_type, payload,
                                           due_at)
    SELECT s.id, p_client_id, e.id, p_type,
           jsonb_build_object('id', e.id, 'type', p_type,
                              'created_at', api.ts(liauto.now()),
                              'client_id', p_client_id,
                              'data', p_data)::text,
           liauto.now()
    FROM (SELECT gen_random_uuid() AS id) AS e
    JOIN liauto.webhook_subscriptions AS s
      ON s.client_id = p_client_id AND p_type = ANY (s.events)
$$;

COMMENT ON FUNCTION liauto.emit_webhook(uuid, text, jsonb) IS
    'One event for every subscription of the client to p_type: one event '
    'id, one frozen body {id, type, created_at, client_id, data}; nothing '
    'when nobody subscribed (one indexed lookup).';

CREATE FUNCTION liauto.webhook_lead_json(p_lead_id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', l.id, 'campaign_id', l.campaign_id,
        'first_name', l.first_name, 'last_name', l.last_name,
        'company', l.company, 'title', l.title,
        'public_identifier', l.public_identifier,
        'profile_url', l.profile_url, 'status', l.status)
    FROM liauto.leads AS l WHERE l.id = p_lead_id
$$;

CREATE FUNCTION liauto.webhook_on_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM liauto.emit_webhook(NEW.client_id,
        CASE NEW.type WHEN 'message_received' THEN 'lead.replied'
                      ELSE 'lead.connected' END,
        jsonb_build_object(
            'lead', liauto.webhook_lead_json(NEW.lead_id),
            'event_id', NEW.id,
            'occurred_at', api.ts(NEW.occurred_at))
        || CASE WHEN NEW.type = 'message_received'
                THEN jsonb_build_object('message', jsonb_build_object(
                         'text', NEW.meta -> 'text',
                         'external_id', NEW.external_id))
                ELSE '{}' END);
    RETURN NULL;
END
$$;

CREATE TRIGGER events_webhook
    AFTER INSERT ON liauto.events
    FOR EACH ROW
    WHEN (NEW.type IN ('message_received', 'connection_accepted'))
    EXECUTE FUNCTION liauto.webhook_on_event();

CREATE FUNCTION liauto.webhook_on_lead_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM liauto.emit_webhook(NEW.client_id, 'lead.status_changed',
        jsonb_build_object('lead', liauto.webhook_lead_json(NEW.id),
                           'from', OLD.status, 'to', NEW.status,
                           'error_reason', NEW.error_reason));
    RETURN NULL;
END
$$;

CREATE TRIGGER leads_webhook_status
    AFTER UPDATE OF status ON liauto.leads
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION liauto.webhook_on_lead_status();

CREATE FUNCTION liauto.webhook_on_campaign_completed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM liauto.emit_webhook(NEW.client_id, 'campaign.completed',
        jsonb_build_object('campaign', jsonb_build_object(
            'id', NEW.id, 'name', NEW.name, 'status', NEW.status)));
    RETURN NULL;
END
$$;

CREATE TRIGGER campaigns_webhook_completed
    AFTER UPDATE OF status ON liauto.campaigns
    FOR EACH ROW
    WHEN (NEW.status = 'completed' AND OLD.status <> 'completed')
    EXECUTE FUNCTION liauto.webhook_on_campaign_completed();


-- ------------------------------------------------------------------------
-- The worker's side
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.claim_webhook_deliveries(p_worker text,
                                                p_limit integer,
                                                p_lease interval)
RETURNS TABLE (id uuid, claim_token uuid, url text, secret text,
               event_type text, payload text, attempts integer)
LANGUAGE sql AS $$
    UPDATE liauto.webhook_deliveries AS d
    SET status = 'sending', claim_token = gen_random_uuid(),
        claimed_by = p_worker, lease_expires_at = liauto.now() + p_lease,
        attempts = d.attempts + 1
    FROM (SELECT w.id FROM liauto.webhook_deliveries AS w
          WHERE (w.status = 'pending' AND w.due_at <= liauto.now())
             OR (w.status = 'sending' AND w.lease_expires_at <= liauto.now())
          ORDER BY w.due_at, w.id
          LIMIT p_limit
          FOR UPDATE SKIP LOCKED) AS c,
         liauto.webhook_subscriptions AS s
    WHERE d.id = c.id AND s.id = d.subscription_id
    RETURNING d.id, d.claim_token, s.url, s.secret, d.event_type,
              d.payload, d.attempts
$$;

COMMENT ON FUNCTION liauto.claim_webhook_deliveries(text, integer,
                                                    interval) IS
    'Claims due deliveries (and those whose sender''s lease expired) with '
    'what the worker needs to POST and sign them.';

CREATE FUNCTION liauto.complete_webhook_delivery(p_id uuid, p_token uuid,
    p_outcome text, p_response_status text, p_error text,
    p_retry_in_s double precision)
RETURNS text
LANGUAGE sql AS $$
    UPDATE liauto.webhook_deliveries AS d
    SET status = CASE
            WHEN p_outcome = 'sent' THEN 'delivered'
            WHEN p_outcome = 'retry'
                 AND d.attempts < liauto.webhook_max_attempts()
            THEN 'pending'
            ELSE 'failed' END,
        due_at = CASE WHEN p_outcome = 'retry'
                      THEN liauto.now()
                           + make_interval(secs => coalesce(p_retry_in_s, 0))
                      ELSE d.due_at END,
        response_status = nullif(p_response_status, '0')::integer,
        last_error = CASE
            WHEN p_outcome = 'retry'
                 AND d.attempts >= liauto.webhook_max_attempts()
            THEN 'gave up after ' || d.attempts || ' attempts: ' || p_error
            ELSE p_error END,
        delivered_at = CASE WHEN p_outcome = 'sent' THEN liauto.now() END,
        claim_token = NULL, claimed_by = NULL, lease_expires_at = NULL
    WHERE d.id = p_id AND d.claim_token = p_token
      AND p_outcome IN ('sent', 'retry', 'failed')
    RETURNING d.status
$$;

COMMENT ON FUNCTION liauto.complete_webhook_delivery(uuid, uuid, text, text,
                                                     text,
                                                     double precision) IS
    'Records an attempt under its claim token, with the same outcomes as '
    'complete_email: sent (delivered), retry (pending again, failed after '
    'webhook_max_attempts), failed; p_response_status is the HTTP status '
    '("0": none).';


-- ------------------------------------------------------------------------
-- API: /webhook-subscriptions
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.webhook_subscription_json(
    s liauto.webhook_subscriptions)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', s.id, 'client_id', s.client_id,
                              'url', s.url, 'events', to_jsonb(s.events),
                              'created_at', api.ts(s.created_at),
                              'updated_at', api.ts(s.updated_at))
$$;

CREATE FUNCTION liauto.webhook_delivery_json(d liauto.webhook_deliveries)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', d.id, 'subscription_id', d.subscription_id,
        'event_id', d.event_id, 'event_type', d.event_type,
        'status', d.status, 'attempts', d.attempts,
        'response_status', d.response_status, 'last_error', d.last_error,
        'replay_of', d.replay_of, 'due_at', api.ts(d.due_at),
        'delivered_at', api.ts(d.delivered_at),
        'created_at', api.ts(d.created_at),
        'payload', d.payload::jsonb)
$$;

CREATE FUNCTION liauto.find_webhook_subscription(p_caller jsonb, p_id uuid)
RETURNS liauto.webhook_subscriptions
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_sub  liauto.webhook_subscriptions;
BEGIN
    SELECT * INTO v_sub FROM liauto.webhook_subscriptions AS s
    WHERE s.id = p_id AND api.caller_sees(p_caller, s.client_id);
    IF NOT FOUND THEN
        PERFORM api.raise_error(404, 'NOT_FOUND',
                                'webhook subscription not found');
    END IF;
    RETURN v_sub;
END
$$;

CREATE FUNCTION liauto.webhook_events_error(p_events jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN jsonb_array_length(p_events) = 0 THEN 'must not be empty'
        WHEN EXISTS (SELECT 1 FROM jsonb_array_elements(p_events) AS e
                     WHERE NOT e <@ '["lead.replied", "lead.connected",
                                      "lead.status_changed",
                                      "campaign.completed"]'
                        OR jsonb_typeof(e) <> 'string')
        THEN 'must list events among: lead.replied, lead.connected, '
             'lead.status_changed, campaign.completed'
    END
$$;

CREATE FUNCTION api.webhook_subscriptions_list(p_caller jsonb,
                                               p_path text[],
                                               p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_params    api.list_query;
    v_envelope  text;
BEGIN
    v_params := api.list_params(p_query, '{created_at}', '{client_id}');
    RETURN QUERY SELECT * FROM api.keyset_page(v_params,
        'liauto.webhook_subscriptions', 'liauto.webhook_subscription_json(t)',
        'api.caller_sees($1 -> ''caller'', t.client_id)
         AND ($1 ->> ''client_id'' IS NULL
              OR t.client_id = ($1 ->> ''client_id'')::uuid)',
        jsonb_build_object('caller', p_caller, 'client_id',
                           api.query_uuid(p_query, 'filter[client_id]')));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.webhook_subscriptions_list(jsonb, text[], jsonb,
                                                   jsonb) IS
    'GET /webhook-subscriptions: the caller''s (every client''s for an '
    'admin, filter[client_id]); never the secrets.';

CREATE FUNCTION api.webhook_subscriptions_create(p_caller jsonb,
                                                 p_path text[],
                                                 p_query jsonb,
                                                 p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_errors    jsonb;
    v_client    record;
    v_sub       liauto.webhook_subscriptions;
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    v_errors := api.validate_body(p_body,
        '{"url": {"type": "string", "required": true, "min": 1,
                  "max": 2048},
          "events": {"type": "array", "required": true},
          "client_id": {"type": "uuid"}}');
    IF jsonb_typeof(p_body -> 'url') = 'string' AND NOT v_errors ? 'url'
       AND p_body ->> 'url' !~ '^https?://[^[:space:]/?#]+[^[:space:]]*$'
    THEN
        v_errors := v_errors || '{"url": "must be an http:// or https:// URL"}';
    END IF;
    IF jsonb_typeof(p_body -> 'events') = 'array'
       AND liauto.webhook_events_error(p_body -> 'events') IS NOT NULL
    THEN
        v_errors := v_errors || jsonb_build_object('events',
            liauto.webhook_events_error(p_body -> 'events'));
    END IF;
    v_client := liauto.body_client_id(p_caller, p_body, v_errors);
    PERFORM api.raise_invalid(v_client.p_errors);

    INSERT INTO liauto.webhook_subscriptions AS s (client_id, url, events,
                                                   secret)
    VALUES (v_client.client_id, p_body ->> 'url',
            (SELECT array_agg(DISTINCT e)
             FROM jsonb_array_elements_text(p_body -> 'events') AS e),
            'whsec_' || encode(gen_random_bytes(32), 'hex'))
    RETURNING * INTO v_sub;

    RETURN QUERY SELECT * FROM api.ok(201,
        liauto.webhook_subscription_json(v_sub)
        || jsonb_build_object('secret', v_sub.secret));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.webhook_subscriptions_create(jsonb, text[], jsonb,
                                                     jsonb) IS
    'POST /webhook-subscriptions {url, events, client_id (admins)}: 201 '
    'with the signing secret, shown this once.';

CREATE FUNCTION api.webhook_subscriptions_delete(p_caller jsonb,
                                                 p_path text[],
                                                 p_query jsonb,
                                                 p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_sub       liauto.webhook_subscriptions;
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    v_sub := liauto.find_webhook_subscription(p_caller,
                                              liauto.path_id(p_path));
    DELETE FROM liauto.webhook_subscriptions AS s WHERE s.id = v_sub.id;
    RETURN QUERY SELECT * FROM api.ok(204, NULL);
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.webhook_subscriptions_delete(jsonb, text[], jsonb,
                                                     jsonb) IS
    'DELETE /webhook-subscriptions/{id}: 204; its delivery log goes too.';

CREATE FUNCTION api.webhook_deliveries_list(p_caller jsonb, p_path text[],
                                            p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_params    api.list_query;
    v_sub       liauto.webhook_subscriptions;
    v_envelope  text;
BEGIN
    v_params := api.list_params(p_query, '{created_at}', '{status}');
    v_sub := liauto.find_webhook_subscription(p_caller,
                                              liauto.path_id(p_path));
    RETURN QUERY SELECT * FROM api.keyset_page(v_params,
        'liauto.webhook_deliveries', 'liauto.webhook_delivery_json(t)',
        't.subscription_id = ($1 ->> ''subscription_id'')::uuid
         AND ($1 ->> ''status'' IS NULL OR t.status = $1 ->> ''status'')',
        jsonb_build_object('subscription_id', v_sub.id,
                           'status', p_query ->> 'filter[status]'));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.webhook_deliveries_list(jsonb, text[], jsonb,
                                                jsonb) IS
    'GET /webhook-subscriptions/{id}/deliveries: the delivery log, newest '
    'first by default, filter[status]; each with its payload.';

CREATE FUNCTION api.webhook_delivery_replay(p_caller jsonb, p_path text[],
                                            p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_sub       liauto.webhook_subscriptions;
    v_replay    liauto.webhook_deliveries;
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    v_sub := liauto.find_webhook_subscription(p_caller,
                                              liauto.path_id(p_path));
    INSERT INTO liauto.webhook_deliveries AS d (subscription_id, client_id,
                                                event_id, event_type,
                                                payload, replay_of, due_at)
    SELECT o.subscription_id, o.client_id, o.event_id, o.event_type,
           o.payload, o.id, liauto.now()
    FROM liauto.webhook_deliveries AS o
    WHERE o.id = p_path[2]::uuid AND o.subscription_id = v_sub.id
    RETURNING * INTO v_replay;
    IF NOT FOUND THEN
        PERFORM api.raise_error(404, 'NOT_FOUND', 'delivery not found');
    END IF;
    PERFORM pg_notify('liauto_worker', 'webhook');
    RETURN QUERY SELECT * FROM api.ok(202,
        liauto.webhook_delivery_json(v_replay));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.webhook_delivery_replay(jsonb, text[], jsonb,
                                                jsonb) IS
    'POST /webhook-subscriptions/{id}/deliveries/{delivery_id}/replay: '
    'queues the same event (same id and body) again as a new delivery, '
    '202 with it.';
