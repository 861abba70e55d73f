-- Migration 0024: notification settings (API), reply batching, the weekly
-- report (figures, rendering, when it is due), the email outbox.
-- Client A lives in America/New_York, whose DST ended on Sunday
-- 1 Nov 2026 02:00 local; client B is another tenant whose events must
-- never count for A.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(49);

SET LOCAL timezone = 'UTC';

\ir lib/api_calls.sql

INSERT INTO liauto.clients (id, name, timezone) VALUES
    ('a0000000-0000-0000-0000-000000000001', 'Client <A> & Co',
     'America/New_York'),
    ('b0000000-0000-0000-0000-000000000001', 'Client B', 'Asia/Tokyo');
INSERT INTO liauto.linkedin_accounts (id, client_id, name,
                                      unipile_account_id)
VALUES ('a2000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001', 'Ann', 'n-a1'),
       ('a2000000-0000-0000-0000-000000000002',
        'a0000000-0000-0000-0000-000000000001', 'Bob', 'n-a2'),
       ('b2000000-0000-0000-0000-000000000001',
        'b0000000-0000-0000-0000-000000000001', 'Bea', 'n-b1');
INSERT INTO liauto.campaigns (id, client_id, linkedin_account_id, name)
VALUES ('a3000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001',
        'a2000000-0000-0000-0000-000000000001', 'Q4 <b>CTOs</b>'),
       ('a3000000-0000-0000-0000-000000000002',
        'a0000000-0000-0000-0000-000000000001',
        'a2000000-0000-0000-0000-000000000002', 'Founders'),
       ('b3000000-0000-0000-0000-000000000001',
        'b0000000-0000-0000-0000-000000000001',
        'b2000000-0000-0000-0000-000000000001', 'B campaign');
INSERT INTO liauto.leads (id, client_id, campaign_id, first_name, last_name,
                          company, public_identifier)
SELECT ('a4000000-0000-0000-0000-00000000000' || n)::uuid,
       'a0000000-0000-0000-0000-000000000001',
       ('a3000000-0000-0000-0000-00000000000' || (1 + n % 2))::uuid,
       CASE WHEN n = 1 THEN '<script>x</script>' ELSE 'Lead' || n END,
       'Doe', 'Acme', 'lead-' || n
FROM generate_series(1, 6) AS n;
INSERT INTO liauto.leads (id, client_id, campaign_id, first_name,
                          public_identifier)
VALUES ('b4000000-0000-0000-0000-000000000001',
        'b0000000-0000-0000-0000-000000000001',
        'b3000000-0000-0000-0000-000000000001', 'Other', 'other');

-- ---------------------------------------------------------------- API

INSERT INTO liauto.notification_settings (client_id)
VALUES ('a0000000-0000-0000-0000-000000000001');
SELECT is(
    (SELECT to_jsonb(liauto.notification_defaults(
                'a0000000-0000-0000-0000-000000000001'))
            - '{created_at,updated_at}'::text[]),
    (SELECT to_jsonb(s) - '{created_at,updated_at}'::text[]
     FROM liauto.notification_settings AS s),
    'notification_defaults() agrees with the table''s DEFAULTs');
DELETE FROM liauto.notification_settings;

SELECT is(pg_temp.call('api.client_notifications_get', pg_temp.agent_a(),
                       '{a0000000-0000-0000-0000-000000000001}') -> 'body',
          '{"client_id": "a0000000-0000-0000-0000-000000000001",
            "reply_notifications": true, "recipients": [],
            "batch_seconds": 60, "weekly_report": true,
            "report_weekday": 1, "report_time": "08:00",
            "updated_at": null}'::jsonb,
          'GET: the defaults before any PUT, no recipients');

SELECT is((pg_temp.call('api.client_notifications_put', pg_temp.agent_a(),
                       '{a0000000-0000-0000-0000-000000000001}', '{}',
                       '{"recipients": ["ops@agency.test", "b@x.test"],
                         "batch_seconds": 30, "report_time": "09:30"}')
          #> '{body}') - 'updated_at',
          '{"client_id": "a0000000-0000-0000-0000-000000000001",
            "reply_notifications": true,
            "recipients": ["ops@agency.test", "b@x.test"],
            "batch_seconds": 30, "weekly_report": true,
            "report_weekday": 1, "report_time": "09:30"}'::jsonb,
          'PUT stores the settings, absent fields at their defaults');
SELECT is(pg_temp.call('api.client_notifications_get', pg_temp.admin(),
                       '{a0000000-0000-0000-0000-000000000001}')
          #>> '{body,report_time}', '09:30', 'GET reads them back (admin)');

SELECT is(pg_temp.err(pg_temp.call('api.client_notifications_put',
              pg_temp.agent_a(), '{a0000000-0000-0000-0000-000000000001}',
              '{}', '{"recipients": ["ok@x.test", "not an address"],
                      "batch_seconds": 7200, "report_weekday": 0,
                      "report_time": "25:00", "weekly_report": "yes",
                      "colour": "red"}')),
          pg_temp.invalid('{"recipients": "item 1 must be an email address",
                            "batch_seconds": "must be between 0 and 3600",
                            "report_weekday": "must be between 1 and 7",
                            "report_time": "must be a time \"HH:MM\"",
                            "weekly_report": "must be a boolean",
                            "colour": "unknown field"}'),
          'PUT: 422 naming each bad field');
SELECT is(pg_temp.err(pg_temp.call('api.client_notifications_put',
              pg_temp.agent_a(), '{a0000000-0000-0000-0000-000000000001}',
              '{}', jsonb_build_object('recipients',
                  (SELECT jsonb_agg('r' || n || '@x.test')
                   FROM generate_series(1, 51) AS n)))),
          pg_temp.invalid('{"recipients": "must list at most 50 addresses"}'),
          'PUT: more than 50 recipients is a 422');
SELECT is(pg_temp.call('api.client_notifications_get', pg_temp.agent_a(),
                       '{a0000000-0000-0000-0000-000000000001}')
          #>> '{body,batch_seconds}', '30',
          '... and a refused PUT changed nothing');
SELECT is(pg_temp.err(pg_temp.call('api.client_notifications_put',
              pg_temp.agent_b(), '{a0000000-0000-0000-0000-000000000001}',
              '{}', '{"recipients": []}')) ->> 'status', '404',
          'another tenant''s agent: 404 on PUT');
SELECT is(pg_temp.err(pg_temp.call('api.client_notifications_get',
              pg_temp.agent_b(), '{a0000000-0000-0000-0000-000000000001}'))
          ->> 'status', '404', '... and on GET');

-- ------------------------------------------------- replies and batches

UPDATE liauto.notification_settings SET batch_seconds = 60;
SELECT liauto.set_clock('2026-11-10 15:00Z');

INSERT INTO liauto.events (client_id, lead_id, campaign_id, type,
                           occurred_at, external_id, meta)
SELECT client_id, id, campaign_id, 'message_received',
       '2026-11-10 14:59Z', 'reply-' || public_identifier,
       jsonb_build_object('text', 'Sure <b>' || public_identifier
                                  || '</b>, call me & we talk')
FROM liauto.leads
WHERE public_identifier IN ('lead-1', 'lead-2', 'lead-3', 'other');
-- not replies
INSERT INTO liauto.events (client_id, lead_id, campaign_id, type)
SELECT client_id, id, campaign_id, 'message_sent'
FROM liauto.leads WHERE public_identifier = 'lead-4';

SELECT is((SELECT count(*)::integer FROM liauto.reply_notifications),
          3, 'each reply of a client with notifications on is queued once; '
             'a client without recipients queues nothing');

SELECT liauto.shift_clock('30 seconds');
INSERT INTO liauto.events (client_id, lead_id, campaign_id, type,
                           external_id)
SELECT client_id, id, campaign_id, 'message_received',
       'reply-' || public_identifier
FROM liauto.leads WHERE public_identifier IN ('lead-4', 'lead-5');

SELECT is(liauto.batch_replies(10), 0,
          'inside the window (30 s after the first reply) nothing is sent');
SELECT liauto.shift_clock('31 seconds');
SELECT is(liauto.batch_replies(10), 1,
          'once the window has passed: one email');
SELECT is(liauto.batch_replies(10), 0, '... and only one');

SELECT is((SELECT array_agg(r.event_id ORDER BY r.event_id)
           FROM liauto.reply_notifications AS r
           WHERE r.email_id = (SELECT id FROM liauto.emails)),
          (SELECT array_agg(e.id ORDER BY e.id) FROM liauto.events AS e
           WHERE e.type = 'message_received'
             AND e.client_id = 'a0000000-0000-0000-0000-000000000001'),
          'the email holds all 5 replies of the burst');
SELECT is((SELECT subject FROM liauto.emails),
          '5 new replies (Client <A> & Co)', 'its subject counts them');
SELECT is((SELECT (SELECT count(*) FROM regexp_matches(text, '^- ', 'gn'))
           FROM liauto.emails), 5::bigint, 'the text lists 5 replies');
SELECT ok((SELECT text LIKE '%Lead2 Doe (Acme) in campaign "Q4 <b>CTOs</b>",'
                            ' Tue 2026-11-10 09:59 America/New_York:%'
                  AND text LIKE '%Sure <b>lead-2</b>, call me & we talk%'
           FROM liauto.emails),
          'each with who, campaign, local time and the text');
SELECT ok((SELECT html LIKE '%&lt;script&gt;x&lt;/script&gt; Doe%'
                  AND html LIKE '%Q4 &lt;b&gt;CTOs&lt;/b&gt;%'
                  AND html LIKE '%Sure &lt;b&gt;lead-1&lt;/b&gt;, call me '
                                '&amp; we talk%'
                  AND html LIKE '%Client &lt;A&gt; &amp; Co%'
                  AND html NOT LIKE '%<script>%'
           FROM liauto.emails),
          'the HTML escapes names, campaign, client and the message');
SELECT is((SELECT idempotency_key FROM liauto.emails),
          'liauto/replies/a0000000-0000-0000-0000-000000000001/'
          || (SELECT encode(digest(string_agg(e.id::text, ',' ORDER BY e.id),
                                   'sha256'), 'hex')
              FROM liauto.events AS e
              WHERE e.type = 'message_received'
                AND e.client_id = 'a0000000-0000-0000-0000-000000000001'),
          'the Idempotency-Key is derived from the replies it reports');
SELECT is((SELECT recipients FROM liauto.emails),
          '{ops@agency.test,b@x.test}', 'to the client''s recipients');

-- a duplicate of a recorded reply is never queued again
INSERT INTO liauto.events (client_id, lead_id, campaign_id, type,
                           external_id)
SELECT client_id, id, campaign_id, 'message_received', 'reply-lead-1'
FROM liauto.leads WHERE public_identifier = 'lead-1'
ON CONFLICT DO NOTHING;
SELECT is((SELECT count(*)::integer FROM liauto.reply_notifications
           WHERE email_id IS NULL), 0,
          'a reply recorded twice is not queued twice');

-- switched off while a reply waits: dropped, nothing sent
INSERT INTO liauto.events (client_id, lead_id, campaign_id, type,
                           external_id)
SELECT client_id, id, campaign_id, 'message_received', 'reply-2-lead-6'
FROM liauto.leads WHERE public_identifier = 'lead-6';
UPDATE liauto.notification_settings SET reply_notifications = false;
SELECT liauto.shift_clock('2 minutes');
SELECT is(liauto.batch_replies(10), 0,
          'notifications switched off: the waiting reply is not sent');
SELECT is((SELECT count(*)::integer FROM liauto.reply_notifications
           WHERE email_id IS NULL), 0, '... and no longer waits');
INSERT INTO liauto.events (client_id, lead_id, campaign_id, type,
                           external_id)
SELECT client_id, id, campaign_id, 'message_received', 'reply-3-lead-6'
FROM liauto.leads WHERE public_identifier = 'lead-6';
SELECT is((SELECT count(*)::integer FROM liauto.reply_notifications
           WHERE email_id IS NULL), 0, 'while off, replies are not queued');
UPDATE liauto.notification_settings SET reply_notifications = true;

-- ------------------------------------------------------- the outbox

SELECT is((SELECT count(*)::integer
           FROM liauto.claim_emails('w1', 10, '2 minutes')), 1,
          'a worker claims the due email');
SELECT is((SELECT count(*)::integer
           FROM liauto.claim_emails('w2', 10, '2 minutes')), 0,
          'a second worker finds nothing to claim');
SELECT is(liauto.complete_email(id, gen_random_uuid(), 'sent', 'x', NULL,
                                NULL), NULL::text,
          'an outcome under another claim token changes nothing')
FROM liauto.emails;
SELECT is(liauto.complete_email(id, claim_token, 'retry', NULL,
                                'Resend failed (HTTP 503)', 90), 'pending',
          'a 5xx: pending again')
FROM liauto.emails;
SELECT is((SELECT due_at FROM liauto.emails), liauto.now() + interval '90 s',
          '... after the backoff');
SELECT is((SELECT count(*)::integer
           FROM liauto.claim_emails('w1', 10, '2 minutes')), 0,
          'not claimed before it');
SELECT liauto.shift_clock('91 seconds');
SELECT is((SELECT attempts FROM liauto.claim_emails('w1', 10, '2 minutes')),
          2, 'claimed again after it');
SELECT liauto.shift_clock('3 minutes');
SELECT is((SELECT attempts FROM liauto.claim_emails('w2', 10, '2 minutes')),
          3, 'a claim whose lease expired (the worker died) is taken over');
SELECT is(liauto.complete_email(id, claim_token, 'failed', NULL,
                                'validation_error: Invalid `to` field '
                                '(HTTP 422)', NULL), 'failed',
          'a 4xx: failed')
FROM liauto.emails;
SELECT is((SELECT last_error FROM liauto.emails),
          'validation_error: Invalid `to` field (HTTP 422)',
          '... with Resend''s reason');

-- ------------------------------------------------------ weekly report

-- W45 = Mon 2 Nov .. Sun 8 Nov 2026 (EST, UTC-5), W44 = Mon 26 Oct ..
-- Sun 1 Nov (EDT until 1 Nov 02:00). Events at the edges of both weeks.
DELETE FROM liauto.events;
INSERT INTO liauto.events (client_id, lead_id, campaign_id, account_id,
                           type, occurred_at)
SELECT l.client_id, l.id, l.campaign_id, c.linkedin_account_id, x.type,
       x.at::timestamptz
FROM (VALUES
    -- this week (W45)
    ('lead-1', 'connection_request_sent', '2026-11-02 05:00Z'), -- Mon 00:00
    ('lead-3', 'connection_request_sent', '2026-11-04 12:00Z'),
    ('lead-5', 'connection_request_sent', '2026-11-09 04:59Z'), -- Sun 23:59
    ('lead-1', 'connection_accepted', '2026-11-05 12:00Z'),
    ('lead-3', 'connection_accepted_historical', '2026-11-05 13:00Z'),
    ('lead-1', 'message_sent', '2026-11-06 12:00Z'),
    ('lead-3', 'message_sent', '2026-11-06 12:00Z'),
    ('lead-1', 'message_received', '2026-11-07 12:00Z'),   -- Saturday
    ('lead-2', 'connection_request_sent', '2026-11-03 12:00Z'),
    ('lead-2', 'connection_accepted', '2026-11-04 12:00Z'),
    -- last week (W44)
    ('lead-1', 'connection_request_sent', '2026-10-26 04:00Z'), -- Mon 00:00
    ('lead-2', 'connection_request_sent', '2026-11-02 04:59Z'), -- Sun 23:59
    ('lead-4', 'connection_request_sent', '2026-11-01 06:30Z'), -- 01:30 EST
    ('lead-4', 'connection_accepted', '2026-11-01 05:30Z'),     -- 01:30 EDT
    ('lead-4', 'message_sent', '2026-10-30 12:00Z'),
    -- outside both weeks
    ('lead-3', 'connection_request_sent', '2026-10-26 03:59Z'), -- Sun 25 Oct
    ('lead-6', 'connection_request_sent', '2026-11-09 05:00Z'), -- Mon 9 Nov
    ('other', 'connection_request_sent', '2026-11-04 12:00Z'),  -- client B
    ('other', 'message_received', '2026-11-04 12:00Z')
) AS x (slug, type, at)
JOIN liauto.leads AS l ON l.public_identifier = x.slug
JOIN liauto.campaigns AS c ON c.id = l.campaign_id;

-- Campaign 1 (Q4, Ann) holds lead-2/4/6, campaign 2 (Founders, Bob)
-- lead-1/3/5: counted by hand from the rows above.
SELECT is(liauto.weekly_report_data('a0000000-0000-0000-0000-000000000001',
                                    '2026-11-02') - 'campaigns' - 'accounts',
          '{"client_id": "a0000000-0000-0000-0000-000000000001",
            "client_name": "Client <A> & Co", "week": "2026-W45",
            "timezone": "America/New_York",
            "from": "2026-11-02T05:00:00.000Z",
            "to": "2026-11-09T05:00:00.000Z",
            "totals": {
              "this_week": {"invites": 4, "acceptances": 3, "messages": 2,
                            "replies": 1, "acceptance_rate": 75.0,
                            "reply_rate": 50.0},
              "last_week": {"invites": 3, "acceptances": 1, "messages": 1,
                            "replies": 0, "acceptance_rate": 33.3,
                            "reply_rate": 0.0}}}'::jsonb,
          'totals of W45 and W44 in New York time, across the DST change, '
          'without the other tenant');
SELECT is(liauto.weekly_report_data('a0000000-0000-0000-0000-000000000001',
                                    '2026-11-02') -> 'campaigns',
          '[{"id": "a3000000-0000-0000-0000-000000000002", "name": "Founders",
             "this_week": {"invites": 3, "acceptances": 2, "messages": 2,
                           "replies": 1, "acceptance_rate": 66.7,
                           "reply_rate": 50.0},
             "last_week": {"invites": 1, "acceptances": 0, "messages": 0,
                           "replies": 0, "acceptance_rate": 0.0,
                           "reply_rate": null}},
            {"id": "a3000000-0000-0000-0000-000000000001",
             "name": "Q4 <b>CTOs</b>",
             "this_week": {"invites": 1, "acceptances": 1, "messages": 0,
                           "replies": 0, "acceptance_rate": 100.0,
                           "reply_rate": null},
             "last_week": {"invites": 2, "acceptances": 1, "messages": 1,
                           "replies": 0, "acceptance_rate": 50.0,
                           "reply_rate": 0.0}}]'::jsonb,
          'per campaign');
SELECT is(liauto.weekly_report_data('a0000000-0000-0000-0000-000000000001',
                                    '2026-11-02') #> '{accounts,0}',
          '{"id": "a2000000-0000-0000-0000-000000000001", "name": "Ann",
            "this_week": {"invites": 1, "acceptances": 1, "messages": 0,
                          "replies": 0, "acceptance_rate": 100.0,
                          "reply_rate": null},
            "last_week": {"invites": 2, "acceptances": 1, "messages": 1,
                          "replies": 0, "acceptance_rate": 50.0,
                          "reply_rate": 0.0}}'::jsonb,
          'per LinkedIn account');

SELECT ok((SELECT r.text ~ E'Totals\n  Invites +4 +3 +\\+1\n'
                  AND r.text ~ E'\n  Acceptance rate +75\\.0% +33\\.3% '
                               '+\\+41\\.7 pts\n'
                  AND r.text ~ E'\n  Reply rate +50\\.0% +0\\.0% '
                               '+\\+50\\.0 pts\n'
                  AND r.subject = 'Weekly report 2026-W45 for Client <A> '
                                  '& Co'
           FROM liauto.render_weekly_report(liauto.weekly_report_data(
                    'a0000000-0000-0000-0000-000000000001', '2026-11-02'))
                AS r),
          'the text report: this week, last week, change; n/a rates');
SELECT ok((SELECT r.html LIKE '%Campaign: Q4 &lt;b&gt;CTOs&lt;/b&gt;%'
                  AND r.html LIKE '%Client &lt;A&gt; &amp; Co%'
                  AND r.html NOT LIKE '%<b>CTOs%'
           FROM liauto.render_weekly_report(liauto.weekly_report_data(
                    'a0000000-0000-0000-0000-000000000001', '2026-11-02'))
                AS r),
          'the HTML report escapes the names');

-- the preview route
SELECT is((SELECT a #> '{body,data}' FROM pg_temp.call(
               'api.client_weekly_report_preview', pg_temp.viewer_a(),
               '{a0000000-0000-0000-0000-000000000001}',
               '{"week": "2026-W45"}') AS a),
          liauto.weekly_report_data('a0000000-0000-0000-0000-000000000001',
                                    '2026-11-02'),
          'preview: the figures of the week asked for');
SELECT is((SELECT a #>> '{body,html}' FROM pg_temp.call(
               'api.client_weekly_report_preview', pg_temp.viewer_a(),
               '{a0000000-0000-0000-0000-000000000001}',
               '{"week": "2026-W45"}') AS a),
          (SELECT html FROM liauto.render_weekly_report(
               liauto.weekly_report_data(
                   'a0000000-0000-0000-0000-000000000001', '2026-11-02'))),
          '... rendered as it would be sent');
SELECT is(pg_temp.err(pg_temp.call('api.client_weekly_report_preview',
              pg_temp.agent_a(), '{a0000000-0000-0000-0000-000000000001}',
              '{"week": "2026-W54"}')),
          '{"status": 400, "code": "BAD_REQUEST",
            "details": {"week": "must be an ISO week such as 2026-W48"}}',
          'preview: a week that does not exist is a 400');
SELECT is(pg_temp.err(pg_temp.call('api.client_weekly_report_preview',
              pg_temp.agent_b(), '{a0000000-0000-0000-0000-000000000001}',
              '{"week": "2026-W45"}')) ->> 'status', '404',
          'preview: another tenant''s client is a 404');
SELECT liauto.set_clock('2026-11-10 15:00Z');
SELECT is(pg_temp.call('api.client_weekly_report_preview', pg_temp.agent_a(),
                       '{a0000000-0000-0000-0000-000000000001}')
          #>> '{body,week}', '2026-W45',
          'preview without a week: the last complete one');

-- when it is sent: Monday 9 Nov, 09:30 in New York (report_time above)
DELETE FROM liauto.emails;
UPDATE liauto.notification_settings SET weekly_report_since = '2026-11-01Z';
INSERT INTO liauto.notification_settings (client_id, recipients,
                                          weekly_report)
VALUES ('b0000000-0000-0000-0000-000000000001', '{b@b.test}', false);
SELECT liauto.set_clock('2026-11-09 14:29Z');
SELECT is(liauto.plan_weekly_reports(10), 0,
          'Monday 09:29 in New York: not yet');
SELECT liauto.set_clock('2026-11-09 14:30Z');
SELECT is(liauto.plan_weekly_reports(10), 1,
          'Monday 09:30 in New York: last week''s report is queued');
SELECT is(liauto.plan_weekly_reports(10), 0, '... once');
SELECT liauto.shift_clock('2 days');
SELECT is(liauto.plan_weekly_reports(10), 0, '... for the whole week');
SELECT is((SELECT period || ' ' || idempotency_key || ' ' || subject
           FROM liauto.emails),
          '2026-W45 liauto/weekly-report/a0000000-0000-0000-0000-000000000001'
          '/2026-W45 Weekly report 2026-W45 for Client <A> & Co',
          'the report of W45, keyed by client and week; client B opted out');

SELECT * FROM finish();
ROLLBACK;
