-- Migration 0028: the note fallback — which errors are refusals of the
-- note, send_without_note (lead records why, the invite is rescheduled
-- now without a template, unit and attempt back, the event says so when
-- it goes), stop (lead error saying why), and everything else unchanged.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(14);

SET LOCAL timezone = 'UTC';
SELECT liauto.set_clock('2026-11-24 10:00Z');

SELECT ok(liauto.note_refusal('the note or message is longer than LinkedIn '
                              'allows: too_many_characters (HTTP 400)'),
          'too_many_characters is a note refusal');
SELECT ok(liauto.note_refusal('limit: limit_exceeded: You reached the '
                              'monthly limit of personalized invitations '
                              '(HTTP 422)'),
          'the spent allowance of personalised invitations is one');
SELECT ok(NOT liauto.note_refusal('limit: limit_exceeded: weekly limit '
                                  '(HTTP 422)'),
          'a plain limit is not');

INSERT INTO liauto.clients (id, name)
VALUES ('a0000000-0000-0000-0000-000000000001', 'A');
INSERT INTO liauto.linkedin_accounts (id, client_id, name, unipile_account_id)
VALUES ('a2000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001', 'A', 'nf-a');
INSERT INTO liauto.campaigns (id, client_id, linkedin_account_id, name,
                              status, sequence, started_at, note_fallback)
VALUES ('a3000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001',
        'a2000000-0000-0000-0000-000000000001', 'lenient', 'active',
        '[{"type": "invite", "note": "Hi {{first_name}}"}]', '2026-11-01Z',
        'send_without_note'),
       ('a3000000-0000-0000-0000-000000000002',
        'a0000000-0000-0000-0000-000000000001',
        'a2000000-0000-0000-0000-000000000001', 'strict', 'active',
        '[{"type": "invite", "note": "Hi {{first_name}}"}]', '2026-11-01Z',
        'stop');
INSERT INTO liauto.leads (id, client_id, campaign_id, public_identifier,
                          first_name)
VALUES ('e0000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000001', 'nf-1', 'Ann'),
       ('e0000000-0000-0000-0000-000000000002',
        'a0000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000002', 'nf-2', 'Bob');

-- Claimed invites with their payload and a reserved unit.
SELECT liauto.reserve_budget('a2000000-0000-0000-0000-000000000001', 'invite',
                             liauto.now())
FROM generate_series(1, 2);
INSERT INTO liauto.actions (id, client_id, lead_id, campaign_id, account_id,
                            kind, step_index, status, payload, attempts,
                            claim_token, claimed_by, claimed_at,
                            lease_expires_at)
SELECT ('a9000000-0000-0000-0000-00000000000' || n)::uuid, l.client_id, l.id,
       l.campaign_id, c.linkedin_account_id, 'invite', 0, 'claimed',
       liauto.action_payload(l, c, a, 0), 1,
       ('a8000000-0000-0000-0000-00000000000' || n)::uuid, 'w', liauto.now(),
       liauto.now() + interval '2 minutes'
FROM generate_series(1, 2) AS n
JOIN liauto.leads AS l
  ON l.id = ('e0000000-0000-0000-0000-00000000000' || n)::uuid
JOIN liauto.campaigns AS c ON c.id = l.campaign_id
JOIN liauto.linkedin_accounts AS a ON a.id = c.linkedin_account_id;

SELECT is(engine.complete_action(
              'a9000000-0000-0000-0000-000000000001',
              'a8000000-0000-0000-0000-000000000001', 'final_lead', NULL,
              'too_many_characters (HTTP 400)', NULL),
          'scheduled', 'send_without_note: the invite is scheduled again');
SELECT results_eq(
    $$SELECT status, due_at, attempts FROM liauto.actions
      WHERE id = 'a9000000-0000-0000-0000-000000000001'$$,
    $$VALUES ('scheduled', '2026-11-24 10:00Z'::timestamptz, 0)$$,
    'now, with its attempt given back');
SELECT is(invites, 1, 'and its unit')
FROM liauto.rate_usage
WHERE account_id = 'a2000000-0000-0000-0000-000000000001';
SELECT is(status || ': ' || invite_note_dropped,
          'pending: too_many_characters (HTTP 400)',
          'the lead stays pending and records why its note is dropped')
FROM liauto.leads WHERE public_identifier = 'nf-1';
SELECT is(liauto.action_payload(l, c, a, 0) -> 'template', 'null',
          'the next payload has no note')
FROM liauto.leads AS l, liauto.campaigns AS c, liauto.linkedin_accounts AS a
WHERE l.public_identifier = 'nf-1' AND c.id = l.campaign_id
  AND a.id = c.linkedin_account_id;

-- The invite without its note goes: its event says the note was dropped.
UPDATE liauto.actions
SET status = 'claimed', claim_token = 'a8000000-0000-0000-0000-000000000009',
    claimed_by = 'w', claimed_at = liauto.now(), attempts = 1,
    lease_expires_at = liauto.now() + interval '2 minutes',
    payload = (SELECT liauto.action_payload(l, c, a, 0)
               FROM liauto.leads AS l, liauto.campaigns AS c,
                    liauto.linkedin_accounts AS a
               WHERE l.public_identifier = 'nf-1' AND c.id = l.campaign_id
                 AND a.id = c.linkedin_account_id)
WHERE id = 'a9000000-0000-0000-0000-000000000001';
SELECT is(engine.complete_action(
              'a9000000-0000-0000-0000-000000000001',
              'a8000000-0000-0000-0000-000000000009', 'sent', 'inv-1', NULL,
              NULL),
          'sent', 'the invite without the note is sent');
SELECT is(meta ->> 'note_dropped', 'too_many_characters (HTTP 400)',
          'its event says the note was dropped and why')
FROM liauto.events
WHERE lead_id = 'e0000000-0000-0000-0000-000000000001'
  AND type = 'connection_request_sent';

-- A second refusal of an invite already without a note is an ordinary
-- final answer (no loop).
SELECT is(liauto.action_payload(l, c, a, 0) ->> 'note_dropped',
          'too_many_characters (HTTP 400)', 'the payload keeps saying why')
FROM liauto.leads AS l, liauto.campaigns AS c, liauto.linkedin_accounts AS a
WHERE l.public_identifier = 'nf-1' AND c.id = l.campaign_id
  AND a.id = c.linkedin_account_id;

-- stop: the lead ends in error saying the note was refused.
SELECT is(engine.complete_action(
              'a9000000-0000-0000-0000-000000000002',
              'a8000000-0000-0000-0000-000000000002', 'final_lead', NULL,
              'too_many_characters (HTTP 400)', NULL),
          'failed', 'stop: the invite fails');
SELECT is(status || ': ' || error_reason,
          'error: the invite''s note was refused and the campaign stops '
          'rather than send without it: too_many_characters (HTTP 400)',
          'and the lead says why')
FROM liauto.leads WHERE public_identifier = 'nf-2';
SELECT is(invite_note_dropped, NULL, 'its note was not dropped')
FROM liauto.leads WHERE public_identifier = 'nf-2';

SELECT * FROM finish();
ROLLBACK;
