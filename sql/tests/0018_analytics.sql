-- Analytics (migration 0018) against a fixed dataset: events across the
-- end of summer time in London (Sun 25 Oct 2026, 01:00Z) and New York
-- (Sun 1 Nov 2026, 06:00Z), over two weekends, for two tenants.  The
-- engine clock stands at Tue 3 Nov 2026 12:00Z.  Expected numbers are
-- written out by hand from the dataset below (the comments show the
-- arithmetic) or computed by a plain query over liauto.events, never from
-- the aggregate tables.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(70);

SET LOCAL timezone = 'UTC';

\ir lib/api_calls.sql

CREATE FUNCTION pg_temp.viewer_b() RETURNS jsonb LANGUAGE sql AS $$
    SELECT '{"sub": "b1000000-0000-0000-0000-000000000002",
             "role": "viewer",
             "client_id": "b0000000-0000-0000-0000-000000000001"}'::jsonb $$;

INSERT INTO liauto.clients (id, name) VALUES
    ('a0000000-0000-0000-0000-000000000001', 'Client A'),
    ('b0000000-0000-0000-0000-000000000001', 'Client B');

INSERT INTO liauto.linkedin_accounts (id, client_id, name, unipile_account_id,
                                      timezone, daily_invite_limit,
                                      daily_message_limit)
VALUES ('a2000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001', 'Ann', 'an-a1',
        'Europe/London', 20, 50),
       ('a2000000-0000-0000-0000-000000000002',
        'a0000000-0000-0000-0000-000000000001', 'Bob', 'an-a2',
        'America/New_York', 25, 0),
       ('a2000000-0000-0000-0000-000000000003',
        'a0000000-0000-0000-0000-000000000001', 'Cid', 'an-a3', 'UTC', 25,
        100),
       ('b2000000-0000-0000-0000-000000000001',
        'b0000000-0000-0000-0000-000000000001', 'Bea', 'an-b1', 'UTC', 25,
        100);

-- CA: London, account Ann (its name is a formula and has a comma);
-- CB: New York, account Bob; XB: the other tenant, UTC.
INSERT INTO liauto.campaigns (id, client_id, linkedin_account_id, name,
                              timezone)
VALUES ('a3000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001',
        'a2000000-0000-0000-0000-000000000001', '=Autumn, push',
        'Europe/London'),
       ('a3000000-0000-0000-0000-000000000002',
        'a0000000-0000-0000-0000-000000000001',
        'a2000000-0000-0000-0000-000000000002', 'Winter',
        'America/New_York'),
       ('b3000000-0000-0000-0000-000000000001',
        'b0000000-0000-0000-0000-000000000001',
        'b2000000-0000-0000-0000-000000000001', 'Other', 'UTC');

INSERT INTO liauto.leads (id, client_id, campaign_id, public_identifier,
                          status)
SELECT l.id::uuid, c.client_id, c.id, l.handle, l.status
FROM (VALUES
    ('a4000000-0000-0000-0000-000000000001', 'l1', 'responded',
     'a3000000-0000-0000-0000-000000000001'),
    ('a4000000-0000-0000-0000-000000000002', 'l2', 'responded',
     'a3000000-0000-0000-0000-000000000001'),
    ('a4000000-0000-0000-0000-000000000003', 'l3', 'invite_sent',
     'a3000000-0000-0000-0000-000000000001'),
    ('a4000000-0000-0000-0000-000000000004', 'l4', 'responded',
     'a3000000-0000-0000-0000-000000000001'),
    ('a4000000-0000-0000-0000-000000000005', 'l5', 'connected',
     'a3000000-0000-0000-0000-000000000001'),
    ('a4000000-0000-0000-0000-000000000006', 'l6', 'pending',
     'a3000000-0000-0000-0000-000000000001'),
    ('a5000000-0000-0000-0000-000000000001', 'm1', 'responded',
     'a3000000-0000-0000-0000-000000000002'),
    ('a5000000-0000-0000-0000-000000000002', 'm2', 'invite_sent',
     'a3000000-0000-0000-0000-000000000002'),
    ('b4000000-0000-0000-0000-000000000001', 'x1', 'responded',
     'b3000000-0000-0000-0000-000000000001'),
    ('b4000000-0000-0000-0000-000000000002', 'x2', 'invite_sent',
     'b3000000-0000-0000-0000-000000000001'))
    AS l (id, handle, status, campaign_id)
JOIN liauto.campaigns AS c ON c.id = l.campaign_id::uuid;

-- One event of a lead (campaign, client and account from its campaign).
CREATE FUNCTION pg_temp.ev(p_lead text, p_type text, p_at timestamptz,
                           p_meta jsonb DEFAULT '{}')
RETURNS void LANGUAGE sql AS $$
    INSERT INTO liauto.events (client_id, lead_id, campaign_id, account_id,
                               type, occurred_at, meta)
    SELECT l.client_id, l.id, l.campaign_id, c.linkedin_account_id,
           p_type, p_at, p_meta
    FROM liauto.leads AS l JOIN liauto.campaigns AS c ON c.id = l.campaign_id
    WHERE l.id = p_lead::uuid
$$;

-- Shorthands: s0 etc. are meta of sent steps.
CREATE FUNCTION pg_temp.s(p_step integer) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('step_index', p_step) $$;

-- CA (London; BST = UTC+1 until 25 Oct 01:00Z, then GMT).
-- L1: invited 20 Oct, accepted 22 Oct (+48 h), message 24 Oct 23:30Z =
-- 25 Oct 00:30 BST, replies 25 Oct 23:30Z (GMT: still 25 Oct) and
-- 26 Oct 00:30Z.
SELECT pg_temp.ev('a4000000-0000-0000-0000-000000000001',
                  'connection_request_sent', '2026-10-20 10:00Z',
                  pg_temp.s(0));
SELECT pg_temp.ev('a4000000-0000-0000-0000-000000000001',
                  'connection_accepted', '2026-10-22 10:00Z');
SELECT pg_temp.ev('a4000000-0000-0000-0000-000000000001',
                  'message_sent', '2026-10-24 23:30Z', pg_temp.s(1));
SELECT pg_temp.ev('a4000000-0000-0000-0000-000000000001',
                  'message_received', '2026-10-25 23:30Z');
SELECT pg_temp.ev('a4000000-0000-0000-0000-000000000001',
                  'message_received', '2026-10-26 00:30Z');
-- L2: invited 21 Oct 09:00Z, accepted 21:00Z (22:00 BST, +12 h),
-- messages 26 Oct (step 1) and Mon 2 Nov (step 2), reply 3 Nov 09:00Z.
-- Inserted in one statement, as a backfill would.
INSERT INTO liauto.events (client_id, lead_id, campaign_id, account_id, type,
                           occurred_at, meta)
SELECT 'a0000000-0000-0000-0000-000000000001',
       'a4000000-0000-0000-0000-000000000002',
       'a3000000-0000-0000-0000-000000000001',
       'a2000000-0000-0000-0000-000000000001', e.type, e.at::timestamptz,
       e.meta::jsonb
FROM (VALUES ('connection_request_sent', '2026-10-21 09:00Z',
              '{"step_index": 0}'),
             ('connection_accepted', '2026-10-21 21:00Z', '{}'),
             ('message_sent', '2026-10-26 10:00Z', '{"step_index": 1}'),
             ('message_sent', '2026-11-02 10:00Z', '{"step_index": 2}'),
             ('message_received', '2026-11-03 09:00Z', '{}'))
     AS e (type, at, meta);
-- L3: invited Sun 25 Oct 12:00Z, nothing since.
SELECT pg_temp.ev('a4000000-0000-0000-0000-000000000003',
                  'connection_request_sent', '2026-10-25 12:00Z',
                  pg_temp.s(0));
-- L4: already connected; a message without step (meta {}), a reply.
SELECT pg_temp.ev('a4000000-0000-0000-0000-000000000004',
                  'connection_accepted_historical', '2026-10-23 08:00Z');
SELECT pg_temp.ev('a4000000-0000-0000-0000-000000000004',
                  'message_sent', '2026-10-23 09:00Z');
SELECT pg_temp.ev('a4000000-0000-0000-0000-000000000004',
                  'message_received', '2026-10-23 10:00Z');
-- L5: invited 1 Sep, accepted 1 Oct (+30 days): outside a 30-day window.
SELECT pg_temp.ev('a4000000-0000-0000-0000-000000000005',
                  'connection_request_sent', '2026-09-01 10:00Z',
                  pg_temp.s(0));
SELECT pg_temp.ev('a4000000-0000-0000-0000-000000000005',
                  'connection_accepted', '2026-10-01 10:00Z');

-- CB (New York; EDT = UTC-4 until 1 Nov 06:00Z, then EST = UTC-5).
-- M1: invite 1 Nov 03:30Z = Sat 31 Oct 23:30 EDT; accepted 04:30Z =
-- 1 Nov 00:30 EDT; message 2 Nov 04:30Z = 1 Nov 23:30 EST; replies 2 Nov
-- 05:30Z = 2 Nov 00:30 EST and 3 Nov 03:00Z = 2 Nov 22:00 EST.
SELECT pg_temp.ev('a5000000-0000-0000-0000-000000000001',
                  'connection_request_sent', '2026-11-01 03:30Z',
                  pg_temp.s(0));
SELECT pg_temp.ev('a5000000-0000-0000-0000-000000000001',
                  'connection_accepted', '2026-11-01 04:30Z');
SELECT pg_temp.ev('a5000000-0000-0000-0000-000000000001',
                  'message_sent', '2026-11-02 04:30Z', pg_temp.s(1));
SELECT pg_temp.ev('a5000000-0000-0000-0000-000000000001',
                  'message_received', '2026-11-02 05:30Z');
SELECT pg_temp.ev('a5000000-0000-0000-0000-000000000001',
                  'message_received', '2026-11-03 03:00Z');
-- M2: invite 3 Nov 11:00Z (in the last hour).
SELECT pg_temp.ev('a5000000-0000-0000-0000-000000000002',
                  'connection_request_sent', '2026-11-03 11:00Z',
                  pg_temp.s(0));

-- XB, the other tenant, on the same days.
SELECT pg_temp.ev('b4000000-0000-0000-0000-000000000001',
                  'connection_request_sent', '2026-10-25 12:00Z',
                  pg_temp.s(0));
SELECT pg_temp.ev('b4000000-0000-0000-0000-000000000001',
                  'connection_accepted', '2026-10-26 12:00Z');
SELECT pg_temp.ev('b4000000-0000-0000-0000-000000000001',
                  'message_sent', '2026-10-27 12:00Z', pg_temp.s(1));
SELECT pg_temp.ev('b4000000-0000-0000-0000-000000000001',
                  'message_received', '2026-10-28 12:00Z');
SELECT pg_temp.ev('b4000000-0000-0000-0000-000000000002',
                  'connection_request_sent', '2026-11-03 11:30Z',
                  pg_temp.s(0));

-- Budget units of Ann (London days) and of the other tenant's account.
INSERT INTO liauto.rate_usage (account_id, day, invites, messages) VALUES
    ('a2000000-0000-0000-0000-000000000001', '2026-10-27', 9, 9),
    ('a2000000-0000-0000-0000-000000000001', '2026-10-28', 20, 50),
    ('a2000000-0000-0000-0000-000000000001', '2026-11-01', 0, 3),
    ('a2000000-0000-0000-0000-000000000001', '2026-11-03', 5, 10),
    ('b2000000-0000-0000-0000-000000000001', '2026-11-03', 7, 7);

SELECT liauto.set_clock('2026-11-03 12:00Z');

-- Answers used below.
CREATE TEMP TABLE answer ON COMMIT DROP AS
SELECT 'summary' AS name,
       pg_temp.call('api.analytics_summary', pg_temp.viewer_a(),
                    '{a3000000-0000-0000-0000-000000000001}') AS a
UNION ALL
SELECT 'funnel', pg_temp.call('api.analytics_funnel', pg_temp.viewer_a(),
                              '{a3000000-0000-0000-0000-000000000001}')
UNION ALL
SELECT 'comparative',
       pg_temp.call('api.analytics_comparative', pg_temp.viewer_a(),
                    '{a0000000-0000-0000-0000-000000000001}')
UNION ALL
SELECT 'realtime', pg_temp.call('api.analytics_real_time',
                                pg_temp.viewer_a());

CREATE FUNCTION pg_temp.got(p_name text, p_path text[]) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT a #> ('{body}' || p_path) FROM answer WHERE name = p_name $$;

-- Per local day of a campaign, straight from liauto.events.
CREATE FUNCTION pg_temp.expected_days(p_campaign text, p_days integer)
RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_agg(to_jsonb(d) ORDER BY d.day)
    FROM (SELECT g.day::date AS day,
                 count(e.id) FILTER (
                     WHERE e.type = 'connection_request_sent') AS invites,
                 count(e.id) FILTER (
                     WHERE e.type = 'connection_accepted') AS acceptances,
                 count(e.id) FILTER (
                     WHERE e.type = 'message_sent') AS messages,
                 count(e.id) FILTER (
                     WHERE e.type = 'message_received') AS replies
          FROM liauto.campaigns AS c
          CROSS JOIN generate_series(
              (liauto.now() AT TIME ZONE c.timezone)::date - (p_days - 1),
              (liauto.now() AT TIME ZONE c.timezone)::date,
              interval '1 day') AS g (day)
          LEFT JOIN liauto.events AS e
                 ON e.campaign_id = c.id
                AND (e.occurred_at AT TIME ZONE c.timezone)::date
                    = g.day::date
          WHERE c.id = p_campaign::uuid
          GROUP BY g.day) AS d
$$;


-- ---------------------------------------------------------------- summary

SELECT is(pg_temp.got('summary', '{leads}'),
          '{"pending": 1, "invite_sent": 1, "connected": 1, "messaged": 0,
            "responded": 3, "completed": 0, "error": 0, "withdrawn": 0,
            "skipped": 0}', 'summary: leads per status');
SELECT is(pg_temp.got('summary', '{last_activity_at}'),
          '"2026-11-03T09:00:00.000Z"', 'summary: last activity');
-- 30 London days 5 Oct .. 3 Nov: invites 20, 21, 25 Oct; acceptances
-- 21, 22 Oct (1 Oct is outside, L4's is historical); messages 23, 25
-- (00:30 BST), 26 Oct, 2 Nov; replies 23, 25, 26 Oct, 3 Nov.
SELECT is(pg_temp.got('summary', '{window}'),
          '{"days": 30, "from": "2026-10-05", "to": "2026-11-03",
            "invites": 3, "acceptances": 2, "messages": 4, "replies": 4,
            "acceptance_rate": 0.6667, "reply_rate": 1.0}',
          'summary: counts and rates over the last 30 London days');
SELECT is(pg_temp.got('summary', '{last_7_days}'),
          '[{"day": "2026-10-28", "invites": 0, "acceptances": 0,
             "messages": 0, "replies": 0},
            {"day": "2026-10-29", "invites": 0, "acceptances": 0,
             "messages": 0, "replies": 0},
            {"day": "2026-10-30", "invites": 0, "acceptances": 0,
             "messages": 0, "replies": 0},
            {"day": "2026-10-31", "invites": 0, "acceptances": 0,
             "messages": 0, "replies": 0},
            {"day": "2026-11-01", "invites": 0, "acceptances": 0,
             "messages": 0, "replies": 0},
            {"day": "2026-11-02", "invites": 0, "acceptances": 0,
             "messages": 1, "replies": 0},
            {"day": "2026-11-03", "invites": 0, "acceptances": 0,
             "messages": 0, "replies": 1}]',
          'summary: the last 7 days, zero-filled, oldest first');
-- invited L1 L2 L3 L5, of which accepted L1 L2 L5
SELECT is(pg_temp.got('summary', '{lead_acceptance_rate}'), '0.75',
          'summary: lead acceptance rate');
SELECT is((pg_temp.call('api.analytics_summary', pg_temp.viewer_a(),
                        '{a3000000-0000-0000-0000-000000000001}',
                        '{"days": "90"}') #> '{body,window}')
          - '{from,acceptance_rate,reply_rate}'::text[],
          '{"days": 90, "to": "2026-11-03", "invites": 4,
            "acceptances": 3, "messages": 4, "replies": 4}',
          'summary: ?days=90 reaches back to L5 (1 Sep, 1 Oct)');

-- ------------------------------------------------------------- timeseries

SELECT is(pg_temp.call('api.analytics_timeseries', pg_temp.viewer_a(),
                       '{a3000000-0000-0000-0000-000000000001}')
          #> '{body,series,20}',
          '{"day": "2026-10-25", "invites": 1, "acceptances": 0,
            "messages": 1, "replies": 1}',
          'timeseries: 25 Oct London holds the 00:30 BST message, the '
          'invite and the 23:30 GMT reply');
SELECT is(pg_temp.call('api.analytics_timeseries', pg_temp.viewer_a(),
                       '{a3000000-0000-0000-0000-000000000002}')
          #> '{body,series}' -> -4,
          '{"day": "2026-10-31", "invites": 1, "acceptances": 0,
            "messages": 0, "replies": 0}',
          'timeseries: 1 Nov 03:30Z is Saturday 31 Oct in New York');
SELECT is(pg_temp.call('api.analytics_timeseries', pg_temp.viewer_a(),
                       '{a3000000-0000-0000-0000-000000000002}',
                       '{"days": "3"}') #> '{body,series}',
          '[{"day": "2026-11-01", "invites": 0, "acceptances": 1,
             "messages": 1, "replies": 0},
            {"day": "2026-11-02", "invites": 0, "acceptances": 0,
             "messages": 0, "replies": 2},
            {"day": "2026-11-03", "invites": 1, "acceptances": 0,
             "messages": 0, "replies": 0}]',
          'timeseries: New York days across its DST change');
SELECT is(pg_temp.call('api.analytics_timeseries', pg_temp.viewer_a(),
                       '{a3000000-0000-0000-0000-000000000001}',
                       '{"days": "365"}') #> '{body,series}',
          pg_temp.expected_days('a3000000-0000-0000-0000-000000000001', 365),
          'timeseries: 365 London days equal a plain count of the events');
SELECT is(jsonb_array_length(pg_temp.call(
              'api.analytics_timeseries', pg_temp.viewer_a(),
              '{a3000000-0000-0000-0000-000000000001}', '{"days": "365"}')
              #> '{body,series}'), 365, 'timeseries: 365 days, zero-filled');
SELECT is(pg_temp.call('api.analytics_timeseries', pg_temp.viewer_a(),
                       '{a3000000-0000-0000-0000-000000000002}',
                       '{"days": "30"}') #> '{body,series}',
          pg_temp.expected_days('a3000000-0000-0000-0000-000000000002', 30),
          'timeseries: 30 New York days equal a plain count');
SELECT is(pg_temp.call('api.analytics_timeseries', pg_temp.viewer_b(),
                       '{b3000000-0000-0000-0000-000000000001}',
                       '{"days": "30"}') #> '{body,series}',
          pg_temp.expected_days('b3000000-0000-0000-0000-000000000001', 30),
          'timeseries: the other tenant sees its own campaign');

-- ------------------------------------------------------------- rate usage

SELECT is(pg_temp.call('api.analytics_rate_usage', pg_temp.viewer_a(),
                       '{a2000000-0000-0000-0000-000000000001}') #> '{body}',
          '{"account_id": "a2000000-0000-0000-0000-000000000001",
            "name": "Ann", "timezone": "Europe/London", "days": 7,
            "from": "2026-10-28", "to": "2026-11-03",
            "limits": {"daily_invite_limit": 20, "daily_message_limit": 50,
                       "weekly_invite_limit": 100},
            "series": [
             {"day": "2026-10-28", "invites": 20, "messages": 50,
              "invite_limit": 20, "message_limit": 50,
              "invite_utilization": 1.0, "message_utilization": 1.0},
             {"day": "2026-10-29", "invites": 0, "messages": 0,
              "invite_limit": 20, "message_limit": 50,
              "invite_utilization": 0, "message_utilization": 0},
             {"day": "2026-10-30", "invites": 0, "messages": 0,
              "invite_limit": 20, "message_limit": 50,
              "invite_utilization": 0, "message_utilization": 0},
             {"day": "2026-10-31", "invites": 0, "messages": 0,
              "invite_limit": 20, "message_limit": 50,
              "invite_utilization": 0, "message_utilization": 0},
             {"day": "2026-11-01", "invites": 0, "messages": 3,
              "invite_limit": 20, "message_limit": 50,
              "invite_utilization": 0, "message_utilization": 0.06},
             {"day": "2026-11-02", "invites": 0, "messages": 0,
              "invite_limit": 20, "message_limit": 50,
              "invite_utilization": 0, "message_utilization": 0},
             {"day": "2026-11-03", "invites": 5, "messages": 10,
              "invite_limit": 20, "message_limit": 50,
              "invite_utilization": 0.25, "message_utilization": 0.2}]}',
          'rate usage: 7 London days vs the limits (27 Oct is outside)');
SELECT is(pg_temp.call('api.analytics_rate_usage', pg_temp.viewer_a(),
                       '{a2000000-0000-0000-0000-000000000002}',
                       '{"days": "1"}') #> '{body,series}',
          '[{"day": "2026-11-03", "invites": 0, "messages": 0,
             "invite_limit": 25, "message_limit": 0,
             "invite_utilization": 0, "message_utilization": null}]',
          'rate usage: a limit of 0 has no utilization (null)');

-- ----------------------------------------------------------------- funnel

-- strict: invited L1 L2 L3 L5; accepted L1 L2 L5; messaged L1 L2;
-- replied L1 L2
SELECT is(pg_temp.got('funnel', '{stages}'),
          '[{"stage": "invited", "leads": 4, "conversion_rate": null},
            {"stage": "accepted", "leads": 3, "conversion_rate": 0.75},
            {"stage": "messaged", "leads": 2, "conversion_rate": 0.6667},
            {"stage": "replied", "leads": 2, "conversion_rate": 1.0}]',
          'funnel: strict stages and conversion rates');
SELECT is(pg_temp.got('funnel', '{overall_conversion_rate}'), '0.5',
          'funnel: replied / invited');
SELECT is(pg_temp.got('funnel', '{milestones}'),
          '{"invited": 4, "accepted": 3, "connected_before": 1,
            "messaged": 3, "replied": 3}',
          'funnel: milestones by any path (L4 was already connected)');
-- L2 12 h = 43200, L1 48 h = 172800, L5 30 days = 2592000;
-- p90 = 172800 + 0.8 * (2592000 - 172800) = 2108160
SELECT is(pg_temp.got('funnel', '{time_to_acceptance}'),
          '{"leads": 3, "median_seconds": 172800, "p90_seconds": 2108160}',
          'funnel: time to acceptance, median and p90');
-- L4 1 h = 3600; L1 20 Oct 10:00 -> 25 Oct 23:30 = 480600;
-- L2 21 Oct 09:00 -> 3 Nov 09:00 = 1123200;
-- p90 = 480600 + 0.8 * (1123200 - 480600) = 994680
SELECT is(pg_temp.got('funnel', '{time_to_first_reply}'),
          '{"leads": 3, "median_seconds": 480600, "p90_seconds": 994680}',
          'funnel: time to first reply from the first outbound touch');
-- L1 replied after step 1, L2 after step 2, L4 after a stepless message
SELECT is(pg_temp.got('funnel', '{replies_by_step}'),
          '[{"step": 1, "leads": 1}, {"step": 2, "leads": 1},
            {"step": null, "leads": 1}]',
          'funnel: replies by the step the lead was at');
SELECT is(pg_temp.call('api.analytics_funnel', pg_temp.viewer_b(),
                       '{b3000000-0000-0000-0000-000000000001}')
          #> '{body,stages}' -> 3 ->> 'leads', '1',
          'funnel: the other tenant''s own campaign');

-- ------------------------------------------------------------ comparative

SELECT is(pg_temp.got('comparative', '{campaigns}'),
          '[{"campaign_id": "a3000000-0000-0000-0000-000000000001",
             "name": "=Autumn, push", "status": "draft",
             "timezone": "Europe/London", "invites": 3, "acceptances": 2,
             "messages": 4, "replies": 4, "acceptance_rate": 0.6667,
             "reply_rate": 1.0},
            {"campaign_id": "a3000000-0000-0000-0000-000000000002",
             "name": "Winter", "status": "draft",
             "timezone": "America/New_York", "invites": 2,
             "acceptances": 1, "messages": 1, "replies": 2,
             "acceptance_rate": 0.5, "reply_rate": 2.0}]',
          'comparative: campaign vs campaign over 30 local days');
SELECT is(pg_temp.got('comparative', '{accounts}'),
          '[{"account_id": "a2000000-0000-0000-0000-000000000001",
             "name": "Ann", "invites": 3, "acceptances": 2, "messages": 4,
             "replies": 4, "acceptance_rate": 0.6667, "reply_rate": 1.0},
            {"account_id": "a2000000-0000-0000-0000-000000000002",
             "name": "Bob", "invites": 2, "acceptances": 1, "messages": 1,
             "replies": 2, "acceptance_rate": 0.5, "reply_rate": 2.0},
            {"account_id": "a2000000-0000-0000-0000-000000000003",
             "name": "Cid", "invites": 0, "acceptances": 0, "messages": 0,
             "replies": 0, "acceptance_rate": null, "reply_rate": null}]',
          'comparative: per-account rates, an idle account with nulls');
SELECT ok(NOT (SELECT a -> 'body' ? 'clients' FROM answer
               WHERE name = 'comparative'),
          'comparative: no client rows without ?clients=');
SELECT is(pg_temp.call('api.analytics_comparative', pg_temp.admin(),
                       '{a0000000-0000-0000-0000-000000000001}',
                       '{"clients": "b0000000-0000-0000-0000-000000000001"}')
          #> '{body,clients}',
          '[{"client_id": "a0000000-0000-0000-0000-000000000001",
             "name": "Client A", "campaigns": 2, "invites": 5,
             "acceptances": 3, "messages": 5, "replies": 6,
             "acceptance_rate": 0.6, "reply_rate": 1.2},
            {"client_id": "b0000000-0000-0000-0000-000000000001",
             "name": "Client B", "campaigns": 1, "invites": 2,
             "acceptances": 1, "messages": 1, "replies": 1,
             "acceptance_rate": 0.5, "reply_rate": 1.0}]',
          'comparative: an admin compares client with client');

-- -------------------------------------------------------------- real time

-- last hour [11:00Z, 12:00Z]: M2's invite (X2's at 11:30Z is client B)
SELECT is(pg_temp.got('realtime', '{last_hour}'),
          '{"connection_request_sent": 1, "connection_accepted": 0,
            "connection_accepted_historical": 0, "message_sent": 0,
            "message_received": 0}',
          'real-time: last hour of the caller''s client');
-- each campaign's local today, 3 Nov: CA (London) L2's reply 09:00Z;
-- CB (New York, from 05:00Z) M2's invite; M1's reply of 03:00Z is still
-- 2 Nov there
SELECT is(pg_temp.got('realtime', '{today}'),
          '{"connection_request_sent": 1, "connection_accepted": 0,
            "connection_accepted_historical": 0, "message_sent": 0,
            "message_received": 1}',
          'real-time: today, in each campaign''s timezone');
SELECT is(pg_temp.call('api.analytics_real_time', pg_temp.admin())
          #> '{body,today}',
          '{"connection_request_sent": 2, "connection_accepted": 0,
            "connection_accepted_historical": 0, "message_sent": 0,
            "message_received": 1}',
          'real-time: an admin''s today adds client B''s 11:30Z invite');
-- CA has 16 events, CB 6
SELECT is(jsonb_array_length(pg_temp.got('realtime', '{recent_events}')), 22,
          'real-time: every recent event of client A');
SELECT is(pg_temp.got('realtime', '{recent_events,0}')
          - '{id,lead_id,account_id}'::text[],
          '{"type": "connection_request_sent",
            "occurred_at": "2026-11-03T11:00:00.000Z",
            "client_id": "a0000000-0000-0000-0000-000000000001",
            "campaign_id": "a3000000-0000-0000-0000-000000000002"}',
          'real-time: newest first');
SELECT is((SELECT count(*)::integer
           FROM jsonb_array_elements(pg_temp.got('realtime',
                                                 '{recent_events}')) AS e
           WHERE e ->> 'client_id' <> 'a0000000-0000-0000-0000-000000000001'),
          0, 'real-time: nothing of client B');
SELECT is(jsonb_array_length(pg_temp.call(
              'api.analytics_real_time', pg_temp.admin())
              #> '{body,recent_events}'), 27,
          'real-time: an admin sees every client (22 + 5)');
SELECT is(pg_temp.call('api.analytics_real_time', pg_temp.admin(), '{}',
                       '{"client_id":
                         "b0000000-0000-0000-0000-000000000001"}')
          #> '{body,last_hour}' -> 'connection_request_sent', '1',
          'real-time: an admin narrows to one client');

-- ------------------------------------------------------ tenancy and errors

SELECT is(pg_temp.err(pg_temp.call(f.fn, pg_temp.viewer_b(), ARRAY[f.id])),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'another tenant''s object is a 404: ' || f.fn)
FROM (VALUES ('api.analytics_summary',
              'a3000000-0000-0000-0000-000000000001'),
             ('api.analytics_timeseries',
              'a3000000-0000-0000-0000-000000000001'),
             ('api.analytics_funnel',
              'a3000000-0000-0000-0000-000000000001'),
             ('api.analytics_rate_usage',
              'a2000000-0000-0000-0000-000000000001'),
             ('api.analytics_comparative',
              'a0000000-0000-0000-0000-000000000001')) AS f (fn, id);
SELECT is(pg_temp.err(pg_temp.call('api.analytics_real_time',
                                   pg_temp.viewer_b(), '{}',
                                   '{"client_id":
                                     "a0000000-0000-0000-0000-000000000001"}'
                                   )),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'real-time: another tenant''s client is a 404');
SELECT is(pg_temp.err(pg_temp.call('api.analytics_timeseries',
                                   pg_temp.viewer_a(),
                                   '{a3000000-0000-0000-0000-000000000001}',
                                   jsonb_build_object('days', d))),
          '{"status": 400, "code": "BAD_REQUEST",
            "details": {"days": "must be an integer between 1 and 365"}}',
          'timeseries: days=' || d || ' is a 400')
FROM unnest('{0,366,abc,-1,1.5,""}'::text[]) AS d;
SELECT is(pg_temp.err(pg_temp.call('api.analytics_funnel',
                                   pg_temp.viewer_a(),
                                   '{a3000000-0000-0000-0000-000000000001}',
                                   '{"days": "7"}')),
          '{"status": 400, "code": "BAD_REQUEST",
            "details": {"days": "unknown parameter"}}',
          'funnel: takes no parameter');
SELECT is(pg_temp.err(pg_temp.call('api.analytics_real_time',
                                   pg_temp.viewer_a(), '{}',
                                   '{"timezone": "UTC"}')),
          '{"status": 400, "code": "BAD_REQUEST",
            "details": {"timezone": "unknown parameter"}}',
          'real-time: an unknown parameter is a 400');
SELECT is(pg_temp.err(pg_temp.call('api.analytics_comparative',
                                   pg_temp.agent_a(),
                                   '{a0000000-0000-0000-0000-000000000001}',
                                   '{"clients":
                                     "b0000000-0000-0000-0000-000000000001"}'
                                   )),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'comparative: only admins compare with another client');
SELECT is(pg_temp.err(pg_temp.call('api.analytics_comparative',
                                   pg_temp.admin(),
                                   '{a0000000-0000-0000-0000-000000000001}',
                                   '{"clients": "nope"}')),
          '{"status": 400, "code": "BAD_REQUEST",
            "details": {"clients": "must be 1 to 20 comma-separated client ids"}}',
          'comparative: clients must be ids');
SELECT is(pg_temp.err(pg_temp.call('api.analytics_comparative',
                                   pg_temp.admin(),
                                   '{a0000000-0000-0000-0000-000000000001}',
                                   '{"clients":
                                     "c0000000-0000-0000-0000-000000000001"}'
                                   )),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'comparative: an unknown client is a 404');

-- ----------------------------------------------------------------- export

SELECT is(pg_temp.call('api.analytics_export', pg_temp.viewer_a(), '{}',
                       '{"format": "csv", "view": "timeseries", "days": "3",
                         "id": "a3000000-0000-0000-0000-000000000002"}')
          -> 'body',
          to_jsonb(E'day,invites,acceptances,messages,replies\r\n' ||
                   E'2026-11-01,0,1,1,0\r\n2026-11-02,0,0,0,2\r\n' ||
                   E'2026-11-03,1,0,0,0\r\n'),
          'export: timeseries as CSV');
SELECT is(pg_temp.call('api.analytics_export', pg_temp.viewer_a(), '{}',
                       '{"view": "comparative",
                         "id": "a0000000-0000-0000-0000-000000000001"}')
          -> 'body',
          to_jsonb(E'kind,id,name,invites,acceptances,messages,replies,' ||
                   E'acceptance_rate,reply_rate\r\n' ||
                   E'campaigns,a3000000-0000-0000-0000-000000000001,' ||
                   E'"''=Autumn, push",3,2,4,4,0.6667,1.0000\r\n' ||
                   E'campaigns,a3000000-0000-0000-0000-000000000002,' ||
                   E'Winter,2,1,1,2,0.5000,2.0000\r\n' ||
                   E'accounts,a2000000-0000-0000-0000-000000000001,' ||
                   E'Ann,3,2,4,4,0.6667,1.0000\r\n' ||
                   E'accounts,a2000000-0000-0000-0000-000000000002,' ||
                   E'Bob,2,1,1,2,0.5000,2.0000\r\n' ||
                   E'accounts,a2000000-0000-0000-0000-000000000003,' ||
                   E'Cid,0,0,0,0,,\r\n'),
          'export: comparative as CSV (rates with 4 decimals), the formula '
          'name neutralised, null rates empty');
SELECT ok(pg_temp.call('api.analytics_export', pg_temp.viewer_a(), '{}',
                       '{"view": "summary",
                         "id": "a3000000-0000-0000-0000-000000000001"}')
          ->> 'body'
          LIKE E'field,value\r\n%name,"''=Autumn, push"\r\n%' ||
               E'window.replies,4\r\n%',
          'export: summary as field,value');
SELECT ok(pg_temp.call('api.analytics_export', pg_temp.viewer_a(), '{}',
                       '{"view": "funnel",
                         "id": "a3000000-0000-0000-0000-000000000001"}')
          ->> 'body'
          LIKE E'%replies_by_step.2.leads,1\r\nreplies_by_step.2.step,\r\n' ||
               E'%stages.3.leads,2\r\n%',
          'export: funnel as field,value with array positions');
SELECT is(liauto.csv_cell(to_jsonb(v)), '''' || v,
          'export: a cell starting with ' || left(v, 1) || ' is quoted')
FROM unnest(ARRAY['=1+1', '+1', '-1', '@SUM(A1)', E'\tx']) AS v;
SELECT is(liauto.csv_cell('-1'::jsonb), '-1', 'export: numbers are kept');
SELECT is(pg_temp.err(pg_temp.call('api.analytics_export', pg_temp.viewer_b(),
                                   '{}', '{"view": "summary",
                                   "id": "a3000000-0000-0000-0000-000000000001"}'
                                   )),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'export: another tenant''s campaign is a 404');
SELECT is(pg_temp.err(pg_temp.call('api.analytics_export', pg_temp.viewer_a(),
                                   '{}', q::jsonb)) -> 'details',
          d::jsonb, 'export: bad parameters are a 400: ' || q)
FROM (VALUES ('{"format": "xlsx", "view": "summary"}',
              '{"format": "must be csv"}'),
             ('{"view": "inbox"}',
              '{"view": "must be one of: summary, timeseries, funnel, '
              'rate-usage, comparative, real-time, variants"}'),
             ('{"view": "funnel"}',
              '{"id": "is required: the campaign (account for rate-usage, '
              'client for comparative)"}')) AS t (q, d);

-- ------------------------------------------------ the aggregates follow

-- deleting L3 takes its 25 Oct invite away
DELETE FROM liauto.leads WHERE id = 'a4000000-0000-0000-0000-000000000003';
SELECT is(pg_temp.call('api.analytics_timeseries', pg_temp.viewer_a(),
                       '{a3000000-0000-0000-0000-000000000001}',
                       '{"days": "365"}') #> '{body,series}',
          pg_temp.expected_days('a3000000-0000-0000-0000-000000000001', 365),
          'a deleted lead''s events leave the daily counts');
SELECT is(pg_temp.call('api.analytics_funnel', pg_temp.viewer_a(),
                       '{a3000000-0000-0000-0000-000000000001}')
          #> '{body,milestones,invited}', '3',
          'and the funnel');

-- a moved event (update) is counted on its new day
UPDATE liauto.events SET occurred_at = '2026-10-30 12:00Z'
WHERE lead_id = 'a4000000-0000-0000-0000-000000000002'
  AND type = 'message_received';
SELECT is(pg_temp.call('api.analytics_timeseries', pg_temp.viewer_a(),
                       '{a3000000-0000-0000-0000-000000000001}',
                       '{"days": "365"}') #> '{body,series}',
          pg_temp.expected_days('a3000000-0000-0000-0000-000000000001', 365),
          'an updated event moves between days');
SELECT is(pg_temp.call('api.analytics_funnel', pg_temp.viewer_a(),
                       '{a3000000-0000-0000-0000-000000000001}')
          #> '{body,replies_by_step}',
          '[{"step": 1, "leads": 2}, {"step": null, "leads": 1}]',
          'its reply step is recomputed (L2 now replied after step 1)');

-- a timezone change moves the day boundaries: L1's message of
-- 24 Oct 23:30Z is 24 Oct in UTC
UPDATE liauto.campaigns SET timezone = 'UTC'
WHERE id = 'a3000000-0000-0000-0000-000000000001';
SELECT is(pg_temp.call('api.analytics_timeseries', pg_temp.viewer_a(),
                       '{a3000000-0000-0000-0000-000000000001}',
                       '{"days": "365"}') #> '{body,series}',
          pg_temp.expected_days('a3000000-0000-0000-0000-000000000001', 365),
          'a timezone change recounts the campaign''s days');

SELECT * FROM finish();
ROLLBACK;
