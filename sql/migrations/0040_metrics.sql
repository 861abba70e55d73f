-- GET /api/v1/metrics: the product's own numbers in Prometheus text, next
-- to the module's request and query counters (ngx_liauto_metrics.c).
-- Every count reads a partial index or a small table, so a scrape every
-- few seconds costs little at a million leads.

-- unknown outcomes and parked actions: few, and what an operator must see
CREATE INDEX actions_attention_idx
    ON liauto.actions (status) WHERE status IN ('unknown', 'needs_review');

CREATE FUNCTION liauto.metric_family(p_name text, p_type text, p_help text,
                                     p_samples text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT format(E'# HELP %s %s\n# TYPE %s %s\n', p_name, p_help, p_name,
                  p_type) || coalesce(p_samples, '')
$$;

COMMENT ON FUNCTION liauto.metric_family(text, text, text, text) IS
    'One metric family of the Prometheus text format: HELP, TYPE, then its '
    'sample lines (each ending in a newline).';

CREATE FUNCTION liauto.metric_sample(p_name text, p_labels text,
                                     p_value numeric) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT format(E'%s%s %s\n', p_name,
                  CASE WHEN p_labels <> '' THEN '{' || p_labels || '}'
                       ELSE '' END,
                  coalesce(p_value, 0))
$$;

COMMENT ON FUNCTION liauto.metric_sample(text, text, numeric) IS
    'One sample line: name{labels} value (labels already quoted, or '''').';

CREATE FUNCTION api.metrics() RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT concat(
        liauto.metric_family('liauto_database_up', 'gauge',
            'Whether api.metrics() answered.',
            liauto.metric_sample('liauto_database_up', '', 1)),
        liauto.metric_family('liauto_workers_alive', 'gauge',
            'Worker daemons seen in the last 30 s and not stopped.',
            liauto.metric_sample('liauto_workers_alive', '',
                (SELECT count(*) FROM liauto.worker_heartbeats
                 WHERE last_seen_at >= now() - interval '30 seconds'
                   AND state IS DISTINCT FROM 'stopped'))),
        liauto.metric_family('liauto_scheduler_paused', 'gauge',
            '1 while the scheduler is stopped (POST /automation/scheduler/'
            'actions/stop).',
            liauto.metric_sample('liauto_scheduler_paused', '',
                                 liauto.scheduler_paused()::integer)),
        liauto.metric_family('liauto_actions', 'gauge',
            'Actions by state: due (scheduled, time come), claimed (a worker '
            'holds it), unknown (outcome being reconciled), needs_review '
            '(parked, never resent by itself).',
            (SELECT string_agg(liauto.metric_sample('liauto_actions',
                                   format('state="%s"', s.state), s.n), '')
             FROM (SELECT 'due' AS state, count(*) AS n
                   FROM liauto.actions
                   WHERE status = 'scheduled' AND due_at <= liauto.now()
                   UNION ALL
                   SELECT 'claimed', count(*) FROM liauto.actions
                   WHERE status = 'claimed'
                   UNION ALL
                   SELECT x.status, count(a.id)
                   FROM (VALUES ('unknown'), ('needs_review')) AS x (status)
                   LEFT JOIN liauto.actions AS a
                       ON a.status = x.status
                      AND a.status IN ('unknown', 'needs_review')
                   GROUP BY x.status) AS s)),
        liauto.metric_family('liauto_budget_used_today', 'gauge',
            'Budget units used today (each account''s own day), by kind.',
            (SELECT liauto.metric_sample('liauto_budget_used_today',
                                         'kind="invite"', sum(u.invites))
                    || liauto.metric_sample('liauto_budget_used_today',
                                            'kind="message"',
                                            sum(u.messages))
             FROM liauto.linkedin_accounts AS a
             JOIN liauto.rate_usage AS u
                 ON u.account_id = a.id
                AND u.day = (liauto.now() AT TIME ZONE a.timezone)::date)),
        liauto.metric_family('liauto_linkedin_accounts', 'gauge',
            'LinkedIn accounts by status (only ok accounts send).',
            (SELECT string_agg(liauto.metric_sample(
                                   'liauto_linkedin_accounts',
                                   format('status="%s"', s.status), s.n),
                               '' ORDER BY s.status)
             FROM (SELECT a.status, count(*) AS n
                   FROM liauto.linkedin_accounts AS a
                   GROUP BY a.status) AS s)),
        liauto.metric_family('liauto_webhook_backlog', 'gauge',
            'Stored webhook deliveries not processed yet.',
            liauto.metric_sample('liauto_webhook_backlog', '',
                (SELECT count(*) FROM liauto.webhook_events
                 WHERE processed_at IS NULL))),
        liauto.metric_family('liauto_webhook_backlog_age_seconds', 'gauge',
            'Age of the oldest unprocessed webhook delivery (0: none).',
            liauto.metric_sample('liauto_webhook_backlog_age_seconds', '',
                (SELECT coalesce(round(extract(epoch FROM
                                     now() - min(received_at))::numeric,
                                 3), 0)
                 FROM liauto.webhook_events WHERE processed_at IS NULL))),
        liauto.metric_family('liauto_outbox', 'gauge',
            'Emails (Resend) and outbound webhook deliveries waiting to go '
            'or being sent.',
            (SELECT string_agg(liauto.metric_sample('liauto_outbox',
                                                    x.labels, x.n), '')
             FROM (SELECT (SELECT count(*) FROM liauto.emails
                           WHERE status = 'pending') AS email_pending,
                          (SELECT count(*) FROM liauto.emails
                           WHERE status = 'sending') AS email_sending,
                          (SELECT count(*) FROM liauto.webhook_deliveries
                           WHERE status = 'pending') AS webhook_pending,
                          (SELECT count(*) FROM liauto.webhook_deliveries
                           WHERE status = 'sending') AS webhook_sending)
                  AS c,
             LATERAL (VALUES
                 ('kind="email",state="pending"', c.email_pending),
                 ('kind="email",state="sending"', c.email_sending),
                 ('kind="webhook",state="pending"', c.webhook_pending),
                 ('kind="webhook",state="sending"', c.webhook_sending))
                 AS x (labels, n))))
$$;

COMMENT ON FUNCTION api.metrics() IS
    'GET /api/v1/metrics: the product''s gauges in Prometheus text '
    '(workers, scheduler, actions by state, today''s sends, accounts, '
    'webhook backlog and its age, outboxes).';
