-- Migration 0027: auto-withdraw — which invitations are due (ours, still
-- pending, past the campaign's days, active campaign, working hours), the
-- daily limit per account's local day, pacing, expired claims taken again,
-- every outcome, and the pending-invitations endpoint with tenants.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(22);

\ir lib/api_calls.sql

SET LOCAL timezone = 'UTC';
SELECT liauto.set_clock('2026-12-22 10:00Z');          -- a Tuesday

INSERT INTO liauto.clients (id, name) VALUES
    ('a0000000-0000-0000-0000-000000000001', 'Client A'),
    ('b0000000-0000-0000-0000-000000000001', 'Client B');
INSERT INTO liauto.linkedin_accounts (id, client_id, name, unipile_account_id,
                                      daily_withdraw_limit)
VALUES ('a2000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001', 'A', 'wd-a', 2);
INSERT INTO liauto.campaigns (id, client_id, linkedin_account_id, name,
                              status, sequence, started_at,
                              auto_withdraw_days)
VALUES ('a3000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001',
        'a2000000-0000-0000-0000-000000000001', 'A1', 'active',
        '[{"type": "invite"}]', '2026-11-01Z', 21),
       ('a3000000-0000-0000-0000-000000000002',
        'a0000000-0000-0000-0000-000000000001',
        'a2000000-0000-0000-0000-000000000001', 'never', 'active',
        '[{"type": "invite"}]', '2026-11-01Z', NULL);

-- Leads n = 1..6 of campaign 1 invited n days + 18 ago (19..24 days), lead
-- 7 of the campaign that never withdraws, lead 8 already connected, lead 9
-- invited by hand (no invite action of ours).
CREATE FUNCTION pg_temp.invited(p_n integer, p_campaign integer,
                                p_days integer, p_status text,
                                p_ours boolean) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_lead  uuid := ('e0000000-0000-0000-0000-00000000000' || p_n)::uuid;
BEGIN
    INSERT INTO liauto.leads (id, client_id, campaign_id, public_identifier,
                              status, current_step, last_step_sent_at)
    VALUES (v_lead, 'a0000000-0000-0000-0000-000000000001',
            ('a3000000-0000-0000-0000-00000000000' || p_campaign)::uuid,
            'wd-' || p_n, p_status, 1,
            liauto.now() - make_interval(days => p_days));
    IF p_ours THEN
        INSERT INTO liauto.actions (client_id, lead_id, campaign_id,
                                    account_id, kind, step_index, status,
                                    external_id, attempts)
        VALUES ('a0000000-0000-0000-0000-000000000001', v_lead,
                ('a3000000-0000-0000-0000-00000000000' || p_campaign)::uuid,
                'a2000000-0000-0000-0000-000000000001', 'invite', 0, 'sent',
                'inv-' || p_n, 1);
    END IF;
END
$$;
SELECT pg_temp.invited(n, 1, n + 18, 'invite_sent', true)
FROM generate_series(1, 6) AS n;
SELECT pg_temp.invited(7, 2, 40, 'invite_sent', true);
SELECT pg_temp.invited(8, 1, 40, 'connected', true);
SELECT pg_temp.invited(9, 1, 40, 'invite_sent', false);

SELECT is((SELECT count(*)::int FROM liauto.pending_invitations(
              'a2000000-0000-0000-0000-000000000001')),
          7, 'our pending invitations: six in campaign 1, one in the other');

CREATE TEMP TABLE claimed AS
SELECT * FROM engine.claim_withdrawals(10, '2 minutes');
SELECT is((SELECT array_agg(invitation_id) FROM claimed), '{inv-6}',
          'one claim per account per call: the oldest due first');
SELECT is(engine.complete_withdrawal(id, claim_token, 'withdrawn', NULL,
                                     NULL), 'withdrawn',
          'a withdrawal is recorded')
FROM claimed;
SELECT results_eq(
    $$SELECT l.status, l.error_reason, e.external_id
      FROM liauto.leads AS l
      JOIN liauto.events AS e ON e.lead_id = l.id
                             AND e.type = 'invitation_withdrawn'
      WHERE l.public_identifier = 'wd-6'$$,
    $$VALUES ('withdrawn', 'invitation withdrawn after 21 days without '
              'acceptance', 'inv-6')$$,
    'the lead is withdrawn, with why and an invitation_withdrawn event');

SELECT is((SELECT count(*)::int FROM engine.claim_withdrawals(10, '2 minutes')),
          0, 'the account is paced: nothing more until next_action_at');
UPDATE liauto.linkedin_accounts SET next_action_at = NULL;
DELETE FROM claimed;
INSERT INTO claimed SELECT * FROM engine.claim_withdrawals(10, '2 minutes');
SELECT is((SELECT array_agg(invitation_id) FROM claimed), '{inv-5}',
          'then the next oldest');
UPDATE liauto.linkedin_accounts SET next_action_at = NULL;
SELECT is((SELECT count(*)::int FROM engine.claim_withdrawals(10, '2 minutes')),
          0, 'the daily limit of 2 holds (one done, one in flight)');

SELECT is(engine.complete_withdrawal(id, gen_random_uuid(), 'withdrawn',
                                     NULL, NULL), 'stale',
          'another claim token changes nothing')
FROM claimed;

-- The claim's answer was lost: its lease expires, it is taken again and
-- still counts once against its day.
SELECT liauto.shift_clock('3 minutes');
UPDATE liauto.linkedin_accounts SET next_action_at = NULL;
CREATE TEMP TABLE again AS
SELECT * FROM engine.claim_withdrawals(10, '2 minutes');
SELECT is((SELECT array_agg(invitation_id) FROM again), '{inv-5}',
          'an expired claim is taken again (a second DELETE is a 404)');
SELECT isnt((SELECT claim_token FROM again), (SELECT claim_token FROM claimed),
            'with a new claim token');
SELECT is(engine.complete_withdrawal(id, claim_token, 'not_pending', NULL,
                                     NULL), 'not_pending',
          'a 404 means it is not pending any more')
FROM again;
SELECT is(error_reason, 'invitation no longer pending at withdrawal time '
                        '(withdrawn or accepted elsewhere)',
          'the lead says so')
FROM liauto.leads WHERE public_identifier = 'wd-5';

-- Next day: leads 4, 3 and 2 (23, 22 and 21 days) are due, lead 1 (20)
-- is not yet.
SELECT liauto.set_clock('2026-12-23 10:00Z');
UPDATE liauto.linkedin_accounts SET next_action_at = NULL;
DELETE FROM claimed;
INSERT INTO claimed SELECT * FROM engine.claim_withdrawals(10, '2 minutes');
SELECT is(engine.complete_withdrawal(id, claim_token, 'retry', 'HTTP 503',
                                     liauto.now() + interval '15 minutes'),
          'retry', 'a 5xx is retried later')
FROM claimed;
SELECT results_eq(
    $$SELECT invitation_id, status, due_at, last_error FROM liauto.withdrawals
      WHERE invitation_id = (SELECT invitation_id FROM claimed)$$,
    $$VALUES ('inv-4', 'scheduled', '2026-12-23 10:15Z'::timestamptz,
              'HTTP 503')$$,
    'scheduled for then, with the reason');
CREATE FUNCTION pg_temp.withdraw_next() RETURNS text
LANGUAGE sql AS $$
    UPDATE liauto.linkedin_accounts SET next_action_at = NULL;
    SELECT string_agg(c.invitation_id || ' '
                      || engine.complete_withdrawal(c.id, c.claim_token,
                                                    'withdrawn', NULL, NULL),
                      ',')
    FROM engine.claim_withdrawals(10, '2 minutes') AS c;
$$;
SELECT is(pg_temp.withdraw_next() || ', ' || pg_temp.withdraw_next(),
          'inv-3 withdrawn, inv-2 withdrawn',
          'meanwhile the next two due go');
SELECT liauto.shift_clock('20 minutes');
UPDATE liauto.linkedin_accounts SET next_action_at = NULL;
SELECT is((SELECT count(*)::int FROM engine.claim_withdrawals(10, '2 minutes')),
          0, 'the retry would be the third today: over the limit, it waits');
SELECT is((SELECT count(*)::int FROM liauto.withdrawals
           WHERE lead_id IN (SELECT id FROM liauto.leads WHERE
                             public_identifier IN ('wd-1', 'wd-7', 'wd-8',
                                                   'wd-9'))),
          0, 'never: a younger invitation, a campaign without auto-withdraw, '
             'a connected lead, an invitation we did not send');

-- Outside working hours nothing new is claimed (lead 1 is due by then).
SELECT liauto.set_clock('2026-12-26 10:00Z');          -- a Saturday
UPDATE liauto.linkedin_accounts SET next_action_at = NULL;
SELECT is((SELECT count(*)::int FROM engine.claim_withdrawals(10, '2 minutes')
           AS c WHERE c.invitation_id <> 'inv-4'),
          0, 'no new withdrawal on a weekend');

-- The endpoint.
SELECT liauto.set_clock('2026-12-23 10:30Z');
CREATE TEMP TABLE answer AS
SELECT pg_temp.call('api.accounts_invitations', pg_temp.viewer_a(),
                    '{a2000000-0000-0000-0000-000000000001}') AS a;
SELECT is((SELECT (a -> 'body') - 'oldest' FROM answer),
          '{"account_id": "a2000000-0000-0000-0000-000000000001",
            "pending_count": 3, "withdraw_limit": 2, "withdrawn_today": 2}',
          'pending invitations (wd-1, 4 and 7), today''s withdrawals, '
          'the limit');
SELECT is((SELECT jsonb_path_query_array(a, '$.body.oldest[*].invitation_id')
           FROM answer),
          '["inv-7", "inv-4", "inv-1"]', 'oldest first');
SELECT is((SELECT jsonb_path_query_array(a,
                      '$.body.oldest[*].withdraw_after') FROM answer),
          '[null, "2026-12-21T10:00:00.000Z", "2026-12-24T10:00:00.000Z"]',
          'with when auto-withdraw takes each back (never for campaign 2)');
SELECT is((pg_temp.call('api.accounts_invitations', pg_temp.agent_b(),
                        '{a2000000-0000-0000-0000-000000000001}')
           -> 'status')::int, 404, 'another client''s account is a 404');

SELECT * FROM finish();
ROLLBACK;
