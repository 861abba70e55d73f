-- Migration 0026: A/B variants — their validation, the lead's variant in
-- the payload (seeded, reproducible, near uniform), recorded in the sent
-- event, and the variant analytics against a hand-counted dataset.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(18);

\ir lib/api_calls.sql

SET LOCAL timezone = 'UTC';
SELECT liauto.set_clock('2026-11-24 10:00Z');

-- Validation -----------------------------------------------------------------
SELECT is(liauto.sequence_errors('[
    {"type": "invite", "variants": ["Hi {{first_name}}", "Hello"],
     "delay_days": 0},
    {"type": "message", "variants": ["A", "B", "C"], "delay_days": 1},
    {"type": "message", "text": "plain", "delay_days": 1}]'),
    '{}', 'variants on the invite and on a message are valid');
SELECT is(liauto.sequence_errors('[
    {"type": "invite", "note": "x", "variants": ["a", "b"], "delay_days": 0}]'),
    '{"steps[0].variants": "give either note or variants, not both"}',
    'a note and variants together are refused');
SELECT is(liauto.sequence_errors('[
    {"type": "invite", "delay_days": 0},
    {"type": "message", "variants": ["only one"], "delay_days": 1}]'),
    '{"steps[1].variants": "must be a list of 2 to 5 texts"}',
    'one variant is not an A/B test');
SELECT is(liauto.sequence_errors('[
    {"type": "invite", "delay_days": 0},
    {"type": "message", "variants": ["a", "b", "c", "d", "e", "f"],
     "delay_days": 1}]'),
    '{"steps[1].variants": "must be a list of 2 to 5 texts"}',
    'six variants are too many');
SELECT is(liauto.sequence_errors(jsonb_build_array(
    jsonb_build_object('type', 'invite', 'delay_days', 0,
                       'variants', jsonb_build_array('ok', repeat('x', 301))),
    jsonb_build_object('type', 'message', 'delay_days', 1,
                       'variants', '["{{nope}}", "", "fine"]'::jsonb))),
    '{"steps[0].variants[1]": "must be at most 300 characters",
      "steps[1].variants[0]": "unknown variable \"nope\" (known: '
    'first_name, last_name, company, title, email, custom.<key>)",
      "steps[1].variants[1]": "required: a non-empty string"}',
    'each variant is checked like a single note or text, by position');
SELECT is(liauto.sequence_errors('[
    {"type": "invite", "delay_days": 0},
    {"type": "message", "variants": ["same", "same"], "delay_days": 1}]'),
    '{"steps[1].variants": "variants must differ"}',
    'two equal variants are refused');
SELECT is(liauto.sequence_errors('[
    {"type": "invite", "variants": ["a", "b"]}]'),
    '{"steps[0].delay_days": "exactly one of delay_days and delay_minutes is '
    'required"}',
    'the other step rules still apply to a step with variants');

-- The lead's variant ------------------------------------------------------------
INSERT INTO liauto.clients (id, name) VALUES
    ('a0000000-0000-0000-0000-000000000001', 'Client A'),
    ('b0000000-0000-0000-0000-000000000001', 'Client B');
INSERT INTO liauto.linkedin_accounts (id, client_id, name, unipile_account_id)
VALUES ('a2000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001', 'A', 'ab-a');
INSERT INTO liauto.campaigns (id, client_id, linkedin_account_id, name,
                              sequence, variant_seed)
VALUES ('a3000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001',
        'a2000000-0000-0000-0000-000000000001', 'AB', '[
            {"type": "invite", "variants": ["N0", "N1", "N2"],
             "delay_days": 0},
            {"type": "message", "text": "plain", "delay_days": 1}]', 42);
INSERT INTO liauto.leads (id, client_id, campaign_id, public_identifier)
SELECT ('00000000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid,
       'a0000000-0000-0000-0000-000000000001',
       'a3000000-0000-0000-0000-000000000001', 'ab-' || n
FROM generate_series(1, 3000) AS n;

CREATE TEMP TABLE payloads AS
SELECT l.id, liauto.action_payload(l, c, a, 0) AS p
FROM liauto.leads AS l, liauto.campaigns AS c, liauto.linkedin_accounts AS a
WHERE c.id = l.campaign_id AND a.id = c.linkedin_account_id;

SELECT is(count(*)::int, 0,
          'the template is the variant the payload names')
FROM payloads WHERE p ->> 'template' <> 'N' || (p ->> 'variant');
SELECT ok(bool_and(n BETWEEN 900 AND 1100),
          'three variants over 3,000 leads: each 900-1,100 (near uniform)')
FROM (SELECT count(*) AS n FROM payloads GROUP BY p ->> 'variant') AS x;
SELECT is(count(DISTINCT p ->> 'variant')::int, 3, 'all three are used')
FROM payloads;
SELECT is(count(*)::int, 0, 'the same lead always gets the same variant')
FROM payloads AS x, liauto.leads AS l, liauto.campaigns AS c,
     liauto.linkedin_accounts AS a
WHERE l.id = x.id AND c.id = l.campaign_id AND a.id = c.linkedin_account_id
  AND liauto.action_payload(l, c, a, 0) <> x.p;
SELECT is(liauto.action_payload(l, c, a, 1) ? 'variant', false,
          'a plain step has no variant')
FROM liauto.leads AS l, liauto.campaigns AS c, liauto.linkedin_accounts AS a
WHERE l.public_identifier = 'ab-1' AND c.id = l.campaign_id
  AND a.id = c.linkedin_account_id;

-- Recorded at the send ---------------------------------------------------------
DELETE FROM liauto.leads WHERE public_identifier <> ALL
    (ARRAY['ab-1', 'ab-2', 'ab-3', 'ab-4', 'ab-5', 'ab-6']);
INSERT INTO liauto.actions (id, client_id, lead_id, campaign_id, account_id,
                            kind, step_index, status, payload, attempts,
                            claim_token, claimed_by, claimed_at,
                            lease_expires_at)
SELECT gen_random_uuid(), l.client_id, l.id, l.campaign_id,
       'a2000000-0000-0000-0000-000000000001', 'invite', 0, 'claimed',
       x.p, 1, gen_random_uuid(), 'w', liauto.now(),
       liauto.now() + interval '1 minute'
FROM liauto.leads AS l JOIN payloads AS x ON x.id = l.id;
SELECT liauto.mark_action_sent(x, 'inv-' || l.public_identifier, NULL)
FROM liauto.actions AS x JOIN liauto.leads AS l ON l.id = x.lead_id;
SELECT is(count(*)::int, 6, 'each sent event records the lead''s variant')
FROM liauto.events AS e JOIN payloads AS x ON x.id = e.lead_id
WHERE e.type = 'connection_request_sent'
  AND e.meta -> 'variant' = x.p -> 'variant';

-- Analytics against the dataset: acceptances and replies by hand.
INSERT INTO liauto.events (client_id, lead_id, campaign_id, type, external_id,
                           occurred_at)
SELECT l.client_id, l.id, l.campaign_id, t, t || l.public_identifier,
       liauto.now() + interval '1 hour'
FROM liauto.leads AS l,
     unnest(CASE l.public_identifier
                WHEN 'ab-1' THEN '{connection_accepted,message_received}'
                WHEN 'ab-2' THEN '{connection_accepted}'
                WHEN 'ab-3' THEN '{connection_accepted_historical}'
                WHEN 'ab-4' THEN '{message_received}'
                ELSE '{}' END::text[]) AS t;
-- a reply from before the invite does not count for it
INSERT INTO liauto.events (client_id, lead_id, campaign_id, type, external_id,
                           occurred_at)
SELECT client_id, id, campaign_id, 'message_received', 'old',
       liauto.now() - interval '1 day'
FROM liauto.leads WHERE public_identifier = 'ab-5';

CREATE TEMP TABLE expected AS
SELECT (x.p ->> 'variant')::int AS variant, count(*) AS sent,
       count(*) FILTER (WHERE l.public_identifier IN ('ab-1', 'ab-2', 'ab-3'))
           AS accepted,
       count(*) FILTER (WHERE l.public_identifier IN ('ab-1', 'ab-4'))
           AS replied
FROM payloads AS x JOIN liauto.leads AS l ON l.id = x.id
GROUP BY 1;

CREATE TEMP TABLE answer AS
SELECT pg_temp.call('api.campaigns_variants', pg_temp.viewer_a(),
                    '{a3000000-0000-0000-0000-000000000001}') AS a;
SELECT is((SELECT a -> 'status' FROM answer), '200', 'variants: 200');
SELECT is((SELECT jsonb_agg(s -> 'step_index')
           FROM answer, jsonb_array_elements(a #> '{body,steps}') AS s),
          '[0]', 'only the step with variants is reported');
SELECT results_eq(
    $$SELECT (v ->> 'variant')::int, v ->> 'text', (v ->> 'sent')::bigint,
             (v ->> 'accepted')::bigint, (v ->> 'replied')::bigint
      FROM answer, jsonb_array_elements(a #> '{body,steps,0,variants}') AS v
      ORDER BY 1$$,
    $$SELECT n, 'N' || n, coalesce(e.sent, 0), coalesce(e.accepted, 0),
             coalesce(e.replied, 0)
      FROM generate_series(0, 2) AS n
      LEFT JOIN expected AS e ON e.variant = n
      ORDER BY 1$$,
    'per variant: sent, accepted and replied equal the hand count');
SELECT results_eq(
    $$SELECT (v ->> 'reply_rate')::numeric
      FROM answer, jsonb_array_elements(a #> '{body,steps,0,variants}') AS v
      ORDER BY (v ->> 'variant')::int$$,
    $$SELECT round(e.replied::numeric / nullif(e.sent, 0), 4)
      FROM generate_series(0, 2) AS n
      LEFT JOIN expected AS e ON e.variant = n
      ORDER BY n$$,
    'reply rates are replied / sent, null with nothing sent');
SELECT is((pg_temp.call('api.campaigns_variants', pg_temp.agent_b(),
                        '{a3000000-0000-0000-0000-000000000001}')
           -> 'status')::int,
          404, 'another client''s campaign is a 404');

SELECT * FROM finish();
ROLLBACK;
